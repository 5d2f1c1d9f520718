"""``spicegen check`` and ``spicegen library-report`` (added to the CLI by entry point)."""
from __future__ import annotations

import argparse
from pathlib import Path

from spicegen.cli import whole
from spicegen.device import get_device, registry


def cmd_check(args: argparse.Namespace) -> int:
    from .core.equivalence import check_device

    names = list(registry()) if args.all else [args.device]
    if not names or names == [None]:
        raise ValueError("name a DEVICE or pass --all.")
    failed = 0
    for name in names:
        report = check_device(get_device(name), points=args.points, seed=args.seed)
        print(report.format_table())
        failed += not report.passed
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_library_report(args: argparse.Namespace) -> int:
    from .core.library_report import run_library_report

    return 0 if all(r.passed for r in run_library_report(Path(args.out))) else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``check`` and ``library-report`` to the ``spicegen`` sub-commands."""
    check = sub.add_parser("check", help="prove numpy == ngspice twin == ngspice OSDI for a device")
    check.add_argument("device", nargs="?")
    check.add_argument("--all", action="store_true")
    check.add_argument("--points", type=whole(1), default=16, help="random DC bias points (default 16)")
    check.add_argument("--seed", type=whole(0), default=0)
    check.set_defaults(func=cmd_check)

    report = sub.add_parser("library-report", help="emit, compile and check the whole library; write a report")
    report.add_argument("--out", default="results", help="output folder (default: results)")
    report.set_defaults(func=cmd_library_report)
