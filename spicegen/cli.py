"""The ``spicegen`` command line.

The core commands live here; ``veriloga``, ``testbenches`` and ``fitting`` add theirs through the
``spicegen.commands`` entry points (:func:`spicegen.plugins.commands`), so this module imports
nothing above ``spicegen``. ``--plugin FILE`` (repeatable) loads a user's devices, testbenches,
studies and extractions before any command runs.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from . import __version__, plugins
from .parsing import parse_float, parse_int

QUOTED_LIMIT = 400
"""Characters of one quoted value in a command's error line: a file path shows whole, a 100 kB name does not."""
SCHEDULER_TIMEOUT = 5.0
"""Seconds ``spicegen mc --dask ADDRESS`` waits for the scheduler to accept a connection."""


def cmd_list(args: argparse.Namespace) -> int:
    from .catalog import listing

    for kind in ("devices", "testbenches", "studies", "extractions"):
        print(f"{kind}:")
        for texts in listing(kind).values():
            print(f"  {texts['line']}")
    return 0


def pairs(items: Sequence[str] | None, what: str, number: bool = True) -> dict[str, object]:
    """``["a=1", "b=2"]`` → ``{"a": 1.0, "b": 2.0}`` (values kept as text when not ``number``)."""
    out: dict[str, object] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} expects NAME=VALUE, got {item!r}.")
        out[key] = parse_float(value, f"{what} {key}") if number else value
    return out


def whole(minimum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: ASCII digits only (:func:`~spicegen.parsing.parse_int`), at least ``minimum``."""
    def convert(text: str) -> int:
        try:
            return parse_int(text, "the value", minimum)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


def number(text: str) -> float:
    """An argparse ``type``: an ASCII decimal number (:func:`~spicegen.parsing.parse_float`)."""
    try:
        return parse_float(text, "the value")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _study_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of the study definition given on the command line (values stay text:
    the testbench converts and checks them)."""
    sweep = {name: str(values).split(",") for name, values in pairs(args.sweep, "--sweep", number=False).items()}
    if args.corners:
        sweep["corner"] = args.corners.split(",")
    kinds = args.kinds.split(",") if args.kinds else None
    return {"settings": pairs(args.set, "--set", number=False), "sweep": sweep,
            "sigmas": pairs(args.sigma, "--sigma", number=False), **({"kinds": kinds} if kinds else {}),
            **({"correlations": pairs(args.correlation, "--correlation", number=False)}
               if getattr(args, "correlation", None) else {})}


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def cmd_sim(args: argparse.Namespace) -> int:
    from .montecarlo import make_plan, simulate
    from .ngspice import SimError
    from .testbench import get_testbench

    plan = make_plan(get_testbench(args.testbench), seed=0, settings=pairs(args.set, "--set", number=False))
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
    from .montecarlo import run_study
    from .testbench import get_testbench

    testbench = get_testbench(args.testbench)
    _check_folder(args.out, "--out")
    if args.dask and args.dask != "local":
        _check_scheduler(args.dask)
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

    _check_folder(args.dir, "DIR")
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


def _check_folder(path: str, what: str) -> None:
    """Refuse a study folder path that names an existing file."""
    if Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"{what} {path!r} is a file; name a study folder (a new one, or one to resume).")


def _check_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Refuse a Dask scheduler address that does not accept a connection within ``timeout`` seconds."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise ValueError(f"--dask {address!r} is not a scheduler address; write tcp://HOST:PORT (or 'local').")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ValueError(f"no Dask scheduler answers at {address!r} within {timeout:g} s ({exc.strerror or exc}); "
                         "start one (dask scheduler) or pass --dask local.") from None


def _default_specs(name: str) -> dict[str, Any]:
    from .testbench import get_testbench

    try:
        return dict(get_testbench(name).specs)
    except KeyError:  # a testbench registered outside the library: no default specs
        return {}


def cmd_study(args: argparse.Namespace) -> int:
    from .catalog import listing
    from .naming import did_you_mean
    from .study import family_rank

    if args.action == "list":
        studies = sorted(listing("studies").items(), key=lambda item: (family_rank(item[1]["family"]), item[0]))
        for _, texts in studies:
            print(texts["line"])
        return 0
    if not args.name and not (args.action == "run" and args.from_provenance):
        raise ValueError(f"'spicegen study {args.action}' needs a study NAME (see 'spicegen study list').")
    if args.action == "describe":
        known = listing("studies")
        if args.name not in known:
            raise KeyError(f"unknown study {args.name!r}{did_you_mean(args.name, known)}; "
                           f"known: {', '.join(known) or '(none)'} "
                           "(see 'spicegen study list').")
        print(known[args.name]["describe"])
        return 0
    from . import study as studies_

    out = Path(args.out) if args.out else Path("results") / (args.name or "rerun")
    common = dict(workers=args.workers, dask=args.dask, progress=not args.no_progress)
    try:
        if args.from_provenance:
            run = studies_.rerun(_citation(Path(args.from_provenance)), out, force=args.force, **common)
        else:
            study = studies_.get_study(args.name)
            seed = study.seed_default if args.seed is None else args.seed
            print(f"{study.name}: seed {seed}{' (default)' if args.seed is None else ''} -> {out}", flush=True,
                  file=sys.stderr if args.json else sys.stdout)
            run = studies_.run(study, out, settings=pairs(args.set, "--set", number=False), seed=seed, n=args.n,
                               force=args.force, **common)
    except KeyboardInterrupt:
        print(f"\nspicegen study: interrupted; finished steps and samples are kept in {out}. "
              "Re-run the same command to resume.", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(measurements_json(run), indent=2))
        return 0
    print(format_measurements(run))
    print(f"result: {run.folder / 'result.json'}")
    return 0


def measurements_json(run: Any) -> dict[str, Any]:
    """A finished run's measurements as JSON: value, unit, the goal (pass range) and whether it is met where
    the study states one, and, where the paper gives a value, that value, its role and the deviation from it."""
    from .study import Measure, judged, paper_comparison

    result = run.result or {}
    units, paper, roles, goals = (result.get(k, {}) for k in ("units", "paper", "roles", "goals"))
    rows = {}
    for name, value in run.measurements.items():
        rows[name] = {"value": _json_number(value), "unit": units.get(name, "")}
        goal = goals.get(name)
        measure = Measure(units.get(name, ""), paper=paper.get(name), role=roles.get(name, ""),
                          spec=None if goal is None else (goal[0], goal[1]))
        if measure.paper is not None:
            row = paper_comparison(name, measure, value)
            rows[name] |= {k: row[k] for k in ("paper", "role", "deviation")}
        if measure.paper is not None or measure.spec is not None:
            rows[name] |= judged(measure, value)
    return {"study": run.study, "key": run.key, "result": str(run.folder / "result.json"), "measurements": rows}


def format_measurements(run: Any) -> str:
    """A table of a finished run's measurements: value and unit, the paper's value with the deviation and its
    role where the paper gives one, and the pass range with its verdict where the study states one."""
    from .study import goal_span, pass_tally

    lines = []
    rows = measurements_json(run)["measurements"]
    width = max((len(name) for name in rows), default=0)
    for name, value in run.measurements.items():
        row = rows[name]
        notes = []
        if "paper" in row:
            deviation = "" if row["deviation"] is None else f", {100 * row['deviation']:+.1f} %"
            notes.append(f"paper {row['paper']:g}{deviation}{', ' + row['role'] if row['role'] else ''}")
        if row.get("goal") is not None:
            verdict = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
            notes.append(f"pass range {goal_span(row['goal'], lambda v: f'{v:g}')}: {verdict}")
        line = f"  {name:{width}s} {value:12.6g} {row['unit']:3s}" + (f"   ({'; '.join(notes)})" if notes else "")
        lines.append(line.rstrip())
    tally = pass_tally(row.get("met") for row in rows.values())
    return "\n".join([f"{run.study} ({run.key}):", *lines, *([tally] if tally else [])])


def cmd_extract(args: argparse.Namespace) -> int:
    from . import study as studies_

    table = studies_.extractions()
    if args.list:
        for name, e in table.items():
            print(f"{name:24s} from {e.source:24s} {e.statistic or '-':14s} {e.doc}")
            print(f"{'':24s} shipped: {studies_.shipped_currency(e)}")
        return 0
    names = list(table) if args.all else args.names
    if not names:
        raise ValueError("no extractions are registered" if args.all else
                         "name extractions or pass --all (see 'spicegen extract --list').")
    out_root = Path(args.out)
    failed = []
    for name in names:
        extraction = studies_.get_extraction(name)
        source = Path(args.source) if args.source and not args.all else Path(args.studies) / extraction.source
        try:
            files = studies_.extract(extraction, source, out_root / name)
            if args.ship:
                files = studies_.ship(extraction, out_root / name)
        except (FileNotFoundError, ValueError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"{name}: {len(files)} files -> {extraction.shipped() if args.ship else out_root / name}")
    if failed:
        print(f"failed: {', '.join(failed)} (shipped artefacts unchanged)", file=sys.stderr)
    return 1 if failed else 0


def _citation(path: Path) -> dict[str, Any]:
    """The study citation inside a surrogate (or any JSON with ``provenance.study``)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {str(path)!r} as JSON: {exc}") from None
    citation = (data.get("provenance") or {}).get("study")
    if not isinstance(citation, dict) or "definition" not in citation:
        raise ValueError(f"{str(path)!r} records no study (provenance.study); it was not made by an extraction "
                         "from a study run.")
    return citation


def cmd_provenance(args: argparse.Namespace) -> int:
    from .study import StudyRun, changes_since, definition_key

    citation = _citation(Path(args.file))
    print(json.dumps(citation, indent=2))
    recomputed = definition_key(citation["definition"])
    ok = recomputed == citation["key"]
    print(f"definition hash: {recomputed} ({'matches' if ok else 'DOES NOT MATCH'} the recorded key {citation['key']})")
    today, changed = changes_since(citation)
    print(f"today: {today} " + (f"(differs in {', '.join(changed)}: re-run it from the cited commit)" if changed else
                                f"(the same definition: spicegen study run --from-provenance {args.file} re-runs it)"))
    if args.study:
        run = StudyRun.open(args.study)
        same = run.key == citation["key"]
        print(f"study folder {args.study}: key {run.key} ({'the cited run' if same else 'NOT the cited run'})")
        ok = ok and same
    return 0 if ok else 1


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: core commands plus those of the ``spicegen.commands`` plug-ins.

    With ``chosen`` (the sub-command about to run, or ``""`` for none, as for ``--help``) only the
    plug-in that adds ``chosen`` is imported; the others get stand-ins with their names and help.
    """
    parser = argparse.ArgumentParser(prog="spicegen", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"spicegen {__version__}")
    parser.add_argument("--plugin", action="append", metavar="FILE", default=[],
                        help="a Python file defining devices, testbenches, studies or extractions (repeatable; "
                             f"also ${plugins.ENV})")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list devices, testbenches, studies and extractions").set_defaults(func=cmd_list)

    sim = sub.add_parser("sim", help="run a testbench once at nominal values and print its measurements")
    sim.add_argument("testbench")
    sim.add_argument("--set", action="append", metavar="NAME=VALUE", help="option or parameter value (repeatable)")
    sim.add_argument("--json", action="store_true", help="print the measurements as JSON (NaN as null)")
    sim.set_defaults(func=cmd_sim)

    mc = sub.add_parser("mc", help="run (or resume) a Monte Carlo study of a testbench into a folder")
    mc.add_argument("testbench")
    mc.add_argument("--n", type=whole(), required=True, help="samples per sweep point")
    mc.add_argument("--seed", type=whole(), required=True, help="study seed (sample k uses SeedSequence(seed).spawn child k)")
    mc.add_argument("--out", required=True, help="study folder (re-run the same command there to resume)")
    _parallel(mc)
    mc.add_argument("--set", action="append", metavar="NAME=VALUE", help="option or nominal parameter value (repeatable)")
    mc.add_argument("--sweep", action="append", metavar="NAME=V1,V2", help="sweep axis over an option or parameter (repeatable)")
    mc.add_argument("--corners", metavar="C1,C2", help="shorthand for --sweep corner=C1,C2 (tt, ff, ss, fs, sf)")
    mc.add_argument("--sigma", action="append", metavar="NAME=S", help="replace a parameter's sigma (> 0; repeatable)")
    mc.add_argument("--correlation", action="append", metavar="NAME=C",
                    help="replace a grouped parameter's correlation with its group's common factor (-1 … 1; "
                         "repeatable)")
    mc.add_argument("--kinds", metavar="K1,K2", help="variation kinds to apply (default all: global,local,d2d,c2c)")
    mc.add_argument("--pack", type=whole(), default=1, help="samples per netlist, for op/dc/shared-stimulus tran (default 1)")
    mc.add_argument("--batch", type=whole(), help="samples per batch sent to a worker (default: automatic)")
    mc.add_argument("--timeout", type=number, help="seconds per ngspice run before the sample counts as failed")
    mc.add_argument("--retry-failed", action="store_true", help="also re-run samples stored as failed")
    mc.set_defaults(func=cmd_mc)

    report = sub.add_parser("mc-report", help="histograms, scatter plots and a summary table of a study folder")
    report.add_argument("dir")
    report.add_argument("--spec", action="append", metavar="NAME=LO:HI", help="pass range for yield (repeatable)")
    report.add_argument("--out", help="output folder (default DIR/report)")
    report.set_defaults(func=cmd_mc_report)

    study = sub.add_parser("study", help="list, describe or run a study (every study of the package and plug-ins)")
    study.add_argument("action", choices=("list", "describe", "run"))
    study.add_argument("name", nargs="?")
    study.add_argument("--set", action="append", metavar="NAME=VALUE", help="option value (repeatable)")
    study.add_argument("--n", type=whole(), help="sample count (default: the study's; see describe)")
    study.add_argument("--seed", type=whole(), help="seed (default: the study's, printed and stored)")
    study.add_argument("--out", help="output folder (default results/NAME); re-running resumes it")
    study.add_argument("--force", action="store_true", help="run again even if the folder holds the finished run")
    study.add_argument("--json", action="store_true", help="with run: print the measurements as JSON (value, unit, "
                       "the paper's value and its role; NaN as null)")
    study.add_argument("--from-provenance", metavar="FILE",
                       help="re-run the study a surrogate JSON cites, with its exact definition")
    _parallel(study)
    study.set_defaults(func=cmd_study)

    extract = sub.add_parser("extract", help="fit shipped surrogates from finished study runs")
    extract.add_argument("names", nargs="*", help="extractions (see --list)")
    extract.add_argument("--all", action="store_true", help="every registered extraction")
    extract.add_argument("--list", action="store_true", help="list the extractions and their source studies")
    extract.add_argument("--from", dest="source", metavar="DIR", help="the source study folder (one extraction)")
    extract.add_argument("--studies", default="results", metavar="ROOT",
                         help="folder holding one run per source study, named after it (default: results)")
    extract.add_argument("--out", default="extractions", help="output root, one folder per extraction (default: extractions)")
    extract.add_argument("--ship", action="store_true",
                         help="also replace the artefacts shipped in the package, unless the new build lacks any")
    extract.set_defaults(func=cmd_extract)

    prov = sub.add_parser("provenance", help="print the study a surrogate came from and verify its hash")
    prov.add_argument("file", help="surrogate JSON")
    prov.add_argument("--study", metavar="DIR", help="also check that this study folder is the cited run")
    prov.set_defaults(func=cmd_provenance)

    _plugin_commands(sub, chosen)
    return parser


def _plugin_commands(sub: argparse._SubParsersAction, chosen: str | None) -> None:
    """Add the ``spicegen.commands`` plug-ins' sub-commands: for ``chosen`` (a command name, or
    ``None`` for all) the real ones; for the others a stand-in with the name and help the catalog
    recorded, so ``spicegen --help`` and the core commands import no plug-in."""
    if chosen is None:
        for add_commands in plugins.commands():
            add_commands(sub)
        return
    from importlib.metadata import EntryPoint

    from .catalog import catalog

    for name, entry in catalog()["commands"].items():
        if chosen in entry["commands"]:
            EntryPoint(name, entry["module"], "spicegen.commands").load()(sub)
            continue
        for command, text in entry["commands"].items():
            sub.add_parser(command, help=text)


def _parallel(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workers", type=whole(), default=1, help="worker processes (default 1: in this process)")
    command.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler address, or 'local' for a LocalCluster of --workers")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spicegen`` console script."""
    # numpy's OpenBLAS starts its threads busy-waiting for work (about 0.1 s of CPU per process, measured:
    # `import numpy` 0.17 s user time against 0.08 s), and the commands here do little BLAS; a short
    # spin before they sleep costs nothing measurable on repeated matrix products. A user's value wins.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        for path in _early_plugins(argv):
            plugins.load_file(path)
    except (FileNotFoundError, ImportError) as exc:
        print(f"spicegen: {exc}", file=sys.stderr)
        return 2
    try:
        args = _parse(build_parser(_chosen_command(argv)), argv)
    except SystemExit as exc:  # argparse printed the usage error (or --help); its code is ours
        return exc.code if isinstance(exc.code, int) else 2
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print(f"\nspicegen {args.command}: interrupted.", file=sys.stderr)
        return 130
    except (KeyError, ValueError) as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
    except OSError as exc:
        message = _os_error_text(exc)
    except sqlite3.DatabaseError as exc:
        message = f"cannot read a study database ({exc}); it is damaged or not a study database."
    print(f"spicegen {args.command}: {shorten_quoted(message)}", file=sys.stderr)
    return 2


def _os_error_text(exc: OSError) -> str:
    """What went wrong with which path, in words (no traceback)."""
    if exc.filename is None:
        return str(exc.strerror or exc)
    where = repr(str(exc.filename)) + (f" -> {str(exc.filename2)!r}" if exc.filename2 else "")
    hint = {IsADirectoryError: "name a file inside it",
            NotADirectoryError: "a part of the path is a file, not a folder",
            PermissionError: "choose a path you may write to (or read, for an input)",
            FileExistsError: "a part of the path is a file, not a folder"}.get(type(exc), "")
    return f"cannot use {where}: {(exc.strerror or str(exc)).lower()}{'; ' + hint if hint else ''}."


def shorten_quoted(message: str, limit: int = QUOTED_LIMIT) -> str:
    """``message`` with every quoted value longer than ``limit`` characters cut, its length noted
    (a 100 kB name is not echoed whole)."""
    def cut(found: re.Match[str]) -> str:
        text = found.group(0)
        return text if len(text) - 2 < limit else f"{text[:limit]}...{text[0]} ({len(text) - 2} characters)"
    # Every quoted value is matched, short ones too, so that quotes pair up left to right: the text between
    # two short quoted values is not itself a quoted value.
    return re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", cut, message)


def _command_index(argv: Sequence[str]) -> int | None:
    """Index in ``argv`` of the sub-command (its first word that is neither an option nor ``--plugin``'s value)."""
    skip = False
    for i, arg in enumerate(argv):
        if skip or arg == "--plugin":
            skip = not skip
            continue
        if not arg.startswith("-"):
            return i
    return None


def _chosen_command(argv: Sequence[str]) -> str:
    """The sub-command named in ``argv``, or ``""``."""
    at = _command_index(argv)
    return "" if at is None else argv[at]


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, except that a sub-command's positionals may also follow its options
    (``study run --json NAME``): argparse alone gives an optional positional nothing when an option comes
    first and then refuses the name as unrecognized."""
    args, extras = parser.parse_known_args(argv)
    if not extras:
        return args
    at = _command_index(argv)
    if at is None or set(extras) & set(argv[:at]):
        return parser.parse_args(argv)  # an unknown word before the sub-command: argparse's own error
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    top = {a.dest for a in parser._actions if a is not commands}
    fresh = argparse.Namespace(command=args.command, **{k: v for k, v in vars(args).items() if k in top})
    return commands.choices[argv[at]].parse_intermixed_args(argv[at + 1:], namespace=fresh)


def _early_plugins(argv: Sequence[str]) -> list[str]:
    """``--plugin FILE`` values, read before the parser is built (plug-ins may add nothing to it,
    but their studies must be registered before a command looks them up)."""
    found = []
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            found.append(arg.split("=", 1)[1])
    return found


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
