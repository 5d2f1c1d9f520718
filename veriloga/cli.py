"""``spicegen emit`` and ``spicegen compile``: a device as Verilog-A, SPICE twin or numpy code, or
compiled to an ``.osdi`` file (added to the CLI by entry point)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spicegen.device import get_device, registry
from spicegen.files import write_bytes, write_text

from .compile import CompileError, compile_model
from .emit import FORMATS, LIBRARY_DIR, render, write_library


def cmd_emit(args: argparse.Namespace) -> int:
    if args.all:
        if not args.output and not args.update_package:
            raise ValueError("--all writes a whole library: name the folder with -o DIR "
                             f"(or pass --update-package to rewrite the shipped one in {LIBRARY_DIR}).")
        for path in write_library(Path(args.output) if args.output else LIBRARY_DIR):
            print(path)
        return 0
    if not args.device:
        raise ValueError("name a DEVICE or pass --all (see 'spicegen list').")
    text = render(args.device, args.format)
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    if args.all == bool(args.device):
        raise ValueError("name one DEVICE or pass --all (see 'spicegen list').")
    names = list(registry()) if args.all else [args.device]
    folder = Path(args.output)
    for name in names:
        model = get_device(name)  # an unknown name is refused before anything is compiled
        try:
            cached = compile_model(model)
        except CompileError as exc:
            print(f"spicegen compile: {exc}", file=sys.stderr)
            return 1
        print(write_bytes(folder / f"{model.name}.osdi", cached.read_bytes()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``emit`` and ``compile`` to the ``spicegen`` sub-commands."""
    emit = sub.add_parser("emit", help="print a device as Verilog-A, SPICE twin or numpy code")
    emit.add_argument("device", nargs="?")
    emit.add_argument("--format", choices=FORMATS, default="veriloga")
    emit.add_argument("--all", action="store_true", help="write the whole library (.va + .cir) into -o DIR")
    emit.add_argument("--update-package", action="store_true",
                      help="with --all and no -o: rewrite the library shipped in the package (veriloga/library)")
    emit.add_argument("-o", "--output", help="file (or, with --all, directory) to write instead of stdout")
    emit.set_defaults(func=cmd_emit)

    comp = sub.add_parser("compile", help="compile a device's Verilog-A with openvaf-r and write DEVICE.osdi")
    comp.add_argument("device", nargs="?")
    comp.add_argument("--all", action="store_true", help="compile every registered device")
    comp.add_argument("-o", "--output", default=".", help="folder for the .osdi files (default: the current folder)")
    comp.set_defaults(func=cmd_compile)
