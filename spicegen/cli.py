"""The ``spicegen`` command line.

Upper layers (``veriloga``, ``testbenches``, ``fitting``) are imported inside the commands
that need them, so ``spicegen`` itself never depends on them at import time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

FORMATS = ("veriloga", "spice", "numpy")
LIBRARY_DIR = Path(__file__).resolve().parent.parent / "veriloga" / "library"


def render(name: str, fmt: str) -> str:
    """Text of device ``name`` in format ``fmt`` (one of :data:`FORMATS`)."""
    from .device import get_device

    model = get_device(name)
    if fmt == "veriloga":
        from veriloga import format_module

        return format_module(model)
    if fmt == "spice":
        from .netlist import format_subckt

        return format_subckt(model)
    if fmt == "numpy":
        from .numpy_code import format_numpy_module

        return format_numpy_module(model)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def write_library(directory: Path = LIBRARY_DIR) -> list[Path]:
    """Write every registered device as ``<name>.va`` and its SPICE twin ``<name>.cir``."""
    from .device import registry

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in registry():
        for fmt, suffix in (("veriloga", ".va"), ("spice", ".cir")):
            path = directory / f"{name}{suffix}"
            path.write_text(render(name, fmt))
            written.append(path)
    return written


def cmd_list(args: argparse.Namespace) -> int:
    from .device import registry

    print("devices:")
    for name, model in registry().items():
        states = ", ".join(st.name for st in model.states) or "-"
        print(f"  {name:20s} ports={','.join(model.ports):12s} states={states:8s} {model.doc}")
    from testbenches import testbench_names

    print("testbenches:")
    for name, doc in testbench_names().items():
        print(f"  {name:20s} {doc}")
    return 0


def cmd_emit(args: argparse.Namespace) -> int:
    if args.all:
        for path in write_library(Path(args.output) if args.output else LIBRARY_DIR):
            print(path)
        return 0
    if not args.device:
        raise SystemExit("spicegen emit: name a DEVICE or pass --all (see 'spicegen list').")
    text = render(args.device, args.format)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from testbenches.equivalence import check_device

    from .device import get_device, registry

    names = list(registry()) if args.all else [args.device]
    if not names or names == [None]:
        raise SystemExit("spicegen check: name a DEVICE or pass --all.")
    failed = 0
    for name in names:
        report = check_device(get_device(name), points=args.points, seed=args.seed)
        print(report.format_table())
        failed += not report.passed
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_main(args: argparse.Namespace) -> int:
    from testbenches.library_report import run_library_report

    return 0 if run_library_report(Path(args.out)) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spicegen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list devices and testbenches").set_defaults(func=cmd_list)

    emit = sub.add_parser("emit", help="print a device as Verilog-A, SPICE twin or numpy code")
    emit.add_argument("device", nargs="?")
    emit.add_argument("--format", choices=FORMATS, default="veriloga")
    emit.add_argument("--all", action="store_true", help="write the whole library (.va + .cir) into veriloga/library")
    emit.add_argument("-o", "--output", help="file (or, with --all, directory) to write instead of stdout")
    emit.set_defaults(func=cmd_emit)

    check = sub.add_parser("check", help="prove numpy == ngspice twin == ngspice OSDI for a device")
    check.add_argument("device", nargs="?")
    check.add_argument("--all", action="store_true")
    check.add_argument("--points", type=int, default=16, help="random DC bias points (default 16)")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(func=cmd_check)

    main_job = sub.add_parser("library-report", help="emit, compile and check the whole library; write a report")
    main_job.add_argument("--out", default="results", help="output folder (default: results)")
    main_job.set_defaults(func=cmd_main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spicegen`` console script."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (KeyError, ValueError) as exc:
        print(f"spicegen {args.command}: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
