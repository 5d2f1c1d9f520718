"""The ``spicegen`` command line.

Upper layers (``veriloga``, ``testbenches``, ``fitting``) are imported inside the commands
that need them, so ``spicegen`` itself never depends on them at import time.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

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
    from testbenches.core.equivalence import check_device

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
    from testbenches.core.library_report import run_library_report

    return 0 if run_library_report(Path(args.out)) else 1


def _pairs(items: Sequence[str] | None, what: str, number: bool = True) -> dict[str, object]:
    """``["a=1", "b=2"]`` → ``{"a": 1.0, "b": 2.0}`` (values kept as text when not ``number``)."""
    out: dict[str, object] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} expects NAME=VALUE, got {item!r}.")
        try:
            out[key] = float(value) if number else value
        except ValueError:
            raise ValueError(f"{what} {key}: {value!r} is not a number.") from None
    return out


def cmd_fit(args: argparse.Namespace) -> int:
    from fitting.extract import extract

    domain = None
    if args.domain:
        lo, sep, hi = args.domain.partition(":")
        try:
            domain = (float(lo), float(hi)) if sep else None
        except ValueError:
            domain = None
        if domain is None:
            raise ValueError(f"--domain expects LOW:HIGH, got {args.domain!r}.")
    try:
        extraction = extract(args.study, args.x, args.y, args.form.split(","), statistic=args.stat, quantile=args.quantile,
                             bins=args.bins, where=_pairs(args.where, "--where", number=False),
                             melt=_pairs(args.melt, "--melt"),
                             params=_pairs(args.start, "--start"), fixed=_pairs(args.fix, "--fix"),
                             variation=args.variation.split(",") if args.variation else None, domain=domain, name=args.name, nan_policy=args.nan,
                             device=args.device)
    except FileNotFoundError as exc:
        raise SystemExit(f"spicegen fit: {exc}") from None
    surrogate = extraction.surrogate
    if args.report:
        for path in extraction.write_report(args.report):
            print(path)
    surrogate.save(args.output)
    stats = surrogate.stats
    print(f"{surrogate.name}: {surrogate.output} = {surrogate.expression}")
    print(f"  {stats.points} points, RMSE {stats.rmse:.4g} ({stats.nrmse:.3%} of full scale), R² {stats.r2:.6f}")
    for name, p in stats.params.items():
        print(f"  {name:>20s} = {p.value:.6g}   95 % CI [{p.low:.6g}, {p.high:.6g}]")
    print(f"wrote {args.output}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from fitting.export import write_export
    from fitting.surrogate import Surrogate

    try:
        surrogate = Surrogate.load(args.surrogate)
        path = write_export(surrogate, args.to, args.output)
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise SystemExit(f"spicegen export: {exc}") from None
    print(f"wrote {path}")
    return 0


def _study_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of the study definition given on the command line (values stay text:
    the testbench converts and checks them)."""
    sweep = {name: str(values).split(",") for name, values in _pairs(args.sweep, "--sweep", number=False).items()}
    if args.corners:
        sweep["corner"] = args.corners.split(",")
    kinds = args.kinds.split(",") if args.kinds else None
    return {"settings": _pairs(args.set, "--set", number=False), "sweep": sweep,
            "sigmas": _pairs(args.sigma, "--sigma", number=False), **({"kinds": kinds} if kinds else {})}


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def cmd_sim(args: argparse.Namespace) -> int:
    from testbenches import get_testbench

    from .montecarlo import make_plan, simulate
    from .ngspice import SimError

    plan = make_plan(get_testbench(args.testbench), seed=0, settings=_pairs(args.set, "--set", number=False))
    try:
        results = simulate(plan)
    except SimError as exc:
        print(f"spicegen sim {args.testbench}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({k: _json_number(v) for k, v in results.items()}, indent=2))
    else:
        for name, value in results.items():
            print(f"{name:20s} {value:.6g}")
    return 0


def cmd_mc(args: argparse.Namespace) -> int:
    from testbenches import get_testbench

    from .montecarlo import run_study

    testbench = get_testbench(args.testbench)
    try:
        summary = run_study(testbench, args.out, n=args.n, seed=args.seed, workers=args.workers, dask=args.dask,
                            pack=args.pack, batch=args.batch, retry_failed=args.retry_failed,
                            timeout=args.timeout, progress=not args.no_progress, **_study_arguments(args))
    except KeyboardInterrupt:
        print(f"\nspicegen mc: interrupted; every finished sample is stored in {args.out}. "
              "Re-run the same command to resume.", file=sys.stderr)
        return 130
    speed = f", {summary.rate:.1f} samples/s" if summary.computed else ""
    print(f"{testbench.name}: {summary.computed} samples computed ({summary.failed} failed), "
          f"{summary.skipped} already stored{speed} -> {args.out}")
    print(f"next: spicegen mc-report {args.out}")
    return 0


def cmd_mc_report(args: argparse.Namespace) -> int:
    from .montecarlo.report import format_markdown, parse_spec, summary_table, write_report
    from .montecarlo.results import load_dataset
    from .testbench import Spec

    try:
        dataset = load_dataset(args.dir)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    specs: dict[str, Spec] = dict(_default_specs(dataset.attrs["testbench"]))
    specs.update(parse_spec(text) for text in args.spec or ())
    out = write_report(args.dir, specs, args.out)
    print(format_markdown(summary_table(dataset, specs)), end="")
    print(f"figures and summary.csv in {out}")
    return 0


def _default_specs(name: str) -> dict[str, Any]:
    from testbenches import get_testbench

    try:
        return dict(get_testbench(name).specs)
    except KeyError:  # a testbench registered outside the library: no default specs
        return {}


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
    fit = sub.add_parser("fit", help="fit a form to a Monte Carlo study (mean, sigma, envelope) -> surrogate JSON")
    fit.add_argument("study", help="study folder (spicegen mc --out) or a .csv file")
    fit.add_argument("--form", required=True, help="form: tanh, polynomial:3, 'tanh + polynomial:1', ... "
                     "(fitting.forms.FORMS); comma-separated candidates pick the lowest BIC")
    fit.add_argument("--x", required=True, help="input column")
    fit.add_argument("--y", required=True, help="output column")
    fit.add_argument("--stat", default="mean", choices=("mean", "std", "relstd", "lower", "upper", "quantile"),
                     help="statistic fitted at each x (default mean; lower/upper = worst-case envelope)")
    fit.add_argument("--quantile", type=float, help="level q for --stat quantile")
    fit.add_argument("--bins", type=int, help="group a continuous x into N equal-count bins")
    fit.add_argument("--where", action="append", metavar="COL=VALUE", help="keep only these rows (repeatable)")
    fit.add_argument("--melt", action="append", metavar="COL=X", help="stack wide column COL into --y at x = X "
                     "(repeatable; --x/--y then name the stacked columns)")
    fit.add_argument("--start", action="append", metavar="NAME=VALUE", help="starting value (repeatable)")
    fit.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter (repeatable)")
    fit.add_argument("--variation", metavar="FORM",
                     help="also fit sigma(x) with this form (or candidates a,b; a last 'interpolate' is the per-x "
                          "fallback when no smooth form passes the chi-square test)")
    fit.add_argument("--domain", metavar="LOW:HIGH", help="validity domain of x (default: the data range)")
    fit.add_argument("--name", help="surrogate name (default <y>_<stat>)")
    fit.add_argument("--nan", default="raise", choices=("raise", "omit"), help="NaN in used columns")
    fit.add_argument("--device", help="device name recorded in the provenance")
    fit.add_argument("--report", metavar="DIR", help="also write a report JSON and a residual plot there")
    fit.add_argument("-o", "--output", required=True, help="surrogate JSON to write")
    fit.set_defaults(func=cmd_fit)

    export = sub.add_parser("export", help="render a surrogate JSON as a numpy/torch module, JSON or ONNX")
    export.add_argument("surrogate", help="surrogate JSON (from spicegen fit)")
    export.add_argument("--to", required=True, choices=("numpy", "torch", "json", "onnx"))
    export.add_argument("-o", "--output", required=True, help="file to write (.py for numpy/torch)")
    export.set_defaults(func=cmd_export)

    sim = sub.add_parser("sim", help="run a testbench once at nominal values and print its measurements")
    sim.add_argument("testbench")
    sim.add_argument("--set", action="append", metavar="NAME=VALUE", help="option or parameter value (repeatable)")
    sim.add_argument("--json", action="store_true", help="print the measurements as JSON (NaN as null)")
    sim.set_defaults(func=cmd_sim)

    mc = sub.add_parser("mc", help="run (or resume) a Monte Carlo study of a testbench into a folder")
    mc.add_argument("testbench")
    mc.add_argument("--n", type=int, required=True, help="samples per sweep point")
    mc.add_argument("--seed", type=int, required=True, help="study seed (sample k uses SeedSequence(seed).spawn child k)")
    mc.add_argument("--out", required=True, help="study folder (re-run the same command there to resume)")
    mc.add_argument("--workers", type=int, default=1, help="worker processes (default 1: in this process)")
    mc.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler address, or 'local' for a LocalCluster of --workers")
    mc.add_argument("--set", action="append", metavar="NAME=VALUE", help="option or nominal parameter value (repeatable)")
    mc.add_argument("--sweep", action="append", metavar="NAME=V1,V2", help="sweep axis over an option or parameter (repeatable)")
    mc.add_argument("--corners", metavar="C1,C2", help="shorthand for --sweep corner=C1,C2 (tt, ff, ss, fs, sf)")
    mc.add_argument("--sigma", action="append", metavar="NAME=S", help="replace a parameter's sigma (> 0; repeatable)")
    mc.add_argument("--kinds", metavar="K1,K2", help="variation kinds to apply (default all: global,local,d2d,c2c)")
    mc.add_argument("--pack", type=int, default=1, help="samples per netlist, for op/dc/shared-stimulus tran (default 1)")
    mc.add_argument("--batch", type=int, help="samples per batch sent to a worker (default: automatic)")
    mc.add_argument("--timeout", type=float, help="seconds per ngspice run before the sample counts as failed")
    mc.add_argument("--retry-failed", action="store_true", help="also re-run samples stored as failed")
    mc.add_argument("--no-progress", action="store_true", help="no progress bar")
    mc.set_defaults(func=cmd_mc)

    report = sub.add_parser("mc-report", help="histograms, scatter plots and a summary table of a study folder")
    report.add_argument("dir")
    report.add_argument("--spec", action="append", metavar="NAME=LO:HI", help="pass range for yield (repeatable)")
    report.add_argument("--out", help="output folder (default DIR/report)")
    report.set_defaults(func=cmd_mc_report)
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
