"""``report.html`` of a pipeline run: one self-contained page (figures embedded, no network) built from
``results.json`` and the stage folders — every number on it comes from the study data."""
from __future__ import annotations

import base64
import html
import json
import math
import time
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

from spicegen.files import write_text
from spicegen.study import goal_span, pass_tally


class Family(NamedTuple):
    """A device family of the package: its section title, the paper it reproduces (authors and title, empty
    for the package's own demonstrations), what of the paper it covers, and its guides in the repository's
    ``docs/`` (every paper number with its role and, where one is missed, the reading and the measured
    reason)."""

    title: str
    paper: str
    scope: str
    guides: tuple[str, ...]


FAMILIES = {
    "core": Family("Device library and Monte Carlo engine", "", "", ("core.md", "montecarlo.md")),
    "mdwmtj": Family("MDWMTJ and the P²M in-pixel MAC",
                     'Kaiser, Datta, Beerel and Jaiswal, "Toward high performance, programmable extreme-edge '
                     'intelligence for neuromorphic vision sensors utilizing magnetic domain wall motion-based MTJ"',
                     "3-terminal SOT domain-wall MTJ, the 3×3 MAC, f1/f2 and the spiking first layer",
                     ("mdwmtj.md",)),
    "reram": Family("CMO/HfOx ReRAM",
                    'Falcone et al., "All-in-One Analog AI Hardware: On-Chip Training and Inference with '
                    'Conductive-Metal-Oxide/HfOx ReRAM Devices"',
                    "trap-to-trap tunnelling, 1T1R cell, forming, cycling, closed-loop programming, relaxation and "
                    "crossbar MVM",
                    ("reram.md", "reram_studies.md", "reram_crossbar.md", "reram_inference.md")),
    "lif": Family("LDO + attenuator + DPI LIF neuron",
                  'Garg et al., "Versatile CMOS Analog LIF Neuron for Memristor-Integrated Neuromorphic Circuits"',
                  "the LDO + current attenuator + DPI leaky integrate-and-fire neuron with bi-directional leak and "
                  "the adaptive pair",
                  ("lif_neuron.md",)),
}
"""Family name → :class:`Family`, in the report's order."""

GUIDE_OF_STUDY = {"mc-demo": "montecarlo.md", "reram-forming": "reram_studies.md", "reram-d2d": "reram_studies.md",
                  "reram-relaxation": "reram_studies.md", "crossbar-mvm": "reram_crossbar.md",
                  "crossbar-presets": "reram_crossbar.md", "snn-nonideal": "reram_inference.md"}
"""The guide of a study whose family has several, where it is not the family's first."""

PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"),
            (1e-12, "p"), (1e-15, "f"), (1e-18, "a"))
SI_UNITS = {"A", "V", "s", "Hz", "W", "J", "Ohm", "Ω", "F", "m", "m/s", "C"}

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2a44;color:#fff;padding:1.2em 2em}header h1{margin:0 0 .3em;font-size:1.6em}
header p{margin:.2em 0;color:#c9d3e6}main{max-width:1200px;margin:0 auto;padding:1em 2em 3em}
nav{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:.6em 1em;margin:1em 0}
nav a{margin-right:1.2em;color:#1d4ed8;text-decoration:none}
section.family{margin-top:2em}h2{border-bottom:2px solid #1d2a44;padding-bottom:.2em}
article.stage{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:.8em 1.2em;margin:1em 0}
article.stage h3{margin:.2em 0}.meta{color:#5b6475;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #dde1e8;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#eef1f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#166534}.warn{color:#a16207}.bad{color:#b91c1c;font-weight:600}
.role{display:inline-block;border-radius:3px;padding:0 .4em;font-size:.85em}
.role.calibration{background:#e0e7ff;color:#3730a3}.role.held{background:#dcfce7;color:#166534}
div.figures{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:.5em 0;flex:1 1 420px;max-width:560px}figure img{width:100%;border:1px solid #eee}
figcaption{font-size:.8em;color:#5b6475}
details{margin:.4em 0}summary{cursor:pointer;color:#1d4ed8}
"""


def write_report(out: Path, results: Mapping[str, Any]) -> Path:
    """Write ``out/report.html`` for ``results`` (the content of ``results.json``) and return its path."""
    timings = _read_json(out / "timings.json") or {}
    body = [_header(results, timings), _navigation(results), _overview(results, timings)]
    for name, family in FAMILIES.items():
        stages = [s for s in results["stages"] if s["family"] == name]
        if stages:
            body.append(f'<section class="family" id="{name}"><h2>{_e(family.title)}</h2>'
                        + (f"<p>{_e(family.paper)}: {_e(family.scope)}.</p>" if family.paper else "")
                        + f"<p class=meta>Guide: {_guides(family.guides)}.</p>"
                        + _comparison_table(stages)
                        + "".join(_stage(out, s) for s in stages) + "</section>")
    body.append(_surrogates(out, results))
    body.append(_provenance(results))
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>spicegen report ({_e(results['scale'])})</title><style>{STYLE}</style></head><body>"
            + "".join(body) + "</body></html>")
    return write_text(out / "report.html", page)


# ---------------------------------------------------------------- sections


def _header(results: Mapping[str, Any], timings: Mapping[str, Any]) -> str:
    prov = results["provenance"]
    return ("<header><h1>spicegen: from one sympy model to circuit studies against the papers</h1>"
            f"<p>scale <b>{_e(results['scale'])}</b>, {len(results['stages'])} stages{_took(timings)}; spicegen "
            f"{_e(prov['version'])}, commit {_e(str(prov.get('commit')))}, {_e(str(prov.get('ngspice')))}, "
            f"report written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}</p></header><main>")


def _took(timings: Mapping[str, Any]) -> str:
    """The stages' computing time, and how long the last run took when it read most stages back."""
    stage_seconds = sum(s for s in timings.get("stages", {}).values() if s)
    last_run = timings.get("pipeline_seconds")
    if not stage_seconds:
        return f", {last_run / 60:.1f} min" if last_run else ""
    took = f", {stage_seconds / 60:.1f} min of computation"
    if last_run is not None and last_run < 0.9 * stage_seconds:
        took += f" ({last_run / 60:.1f} min in the last run, which read the other stages back from earlier runs)"
    return took


def _navigation(results: Mapping[str, Any]) -> str:
    families = {s["family"] for s in results["stages"]}
    links = [f'<a href="#{f}">{_e(family.title)}</a>' for f, family in FAMILIES.items() if f in families]
    links += ['<a href="#surrogates">Surrogates</a>', '<a href="#provenance">Provenance</a>']
    return "<nav>" + "".join(links) + "</nav>"


def _overview(results: Mapping[str, Any], timings: Mapping[str, Any]) -> str:
    rows = []
    seconds = timings.get("stages", {})
    for s in results["stages"]:
        size = "" if s.get("n") is None else f"{s['n']} {_e(s.get('n_desc', 'samples'))}"
        took = seconds.get(s["name"])
        rows.append(f"<tr><td><a href=\"#stage-{_e(s['name'])}\">{_e(s['name'])}</a></td><td>{_e(s['title'])}</td>"
                    f"<td>{size}</td><td class=num>{'' if took is None else f'{took:.1f}'}</td></tr>")
    comparisons = [c for s in results["stages"] for c in s.get("comparisons", [])]
    return ("<h2>What ran</h2><p>Every stage is a study (or an extraction of one) in its own folder; re-running "
            "the same command resumes it. Wall time is that of the run that finished the stage.</p>"
            f"<p>{len(comparisons)} numbers compared with the papers: {_within(comparisons)}.</p>"
            + _missed(results)
            + "<table><tr><th>stage</th><th>what</th><th>size</th><th>wall time (s)</th></tr>"
            + "".join(rows) + "</table>")


def judged_measurements(results: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str, Mapping[str, Any]]]:
    """Every measurement of a pipeline's ``results`` that has a pass range: (stage, name, measurement) with
    ``measurement["met"]`` telling whether it lies inside."""
    return [(s, name, m) for s in results["stages"] for name, m in s.get("measurements", {}).items()
            if m.get("met") is not None]


def _missed(results: Mapping[str, Any]) -> str:
    """How many measurements with a pass range lie inside it, and a table of those that do not."""
    judged = judged_measurements(results)
    missed = [(s, name, m) for s, name, m in judged if not m["met"]]
    if not judged:
        return ""
    text = f"<p>{pass_tally(m['met'] for *_, m in judged)}"
    if not missed:
        return text + ".</p>"
    rows = "".join(f"<tr><td><a href=\"#stage-{_e(s['name'])}\">{_e(s['name'])}</a></td><td><code>{_e(name)}</code>"
                   f"</td><td>{_e(m['desc'])}</td><td class=num>{_fmt(m['value'], m['unit'])}</td><td>{_goal(m)}</td>"
                   f"<td>{_guides([guide_of(s)])}</td></tr>" for s, name, m in missed)
    return (text + "; missed:</p>" + _scale_note(results["scale"])
            + "<table><tr><th>stage</th><th>measurement</th><th>meaning</th><th>value</th><th>pass range</th>"
            "<th>why: the guide</th></tr>" + rows + "</table>")


def _scale_note(scale: str) -> str:
    """What a miss means at ``scale``: at smoke the samples are too few for the statistics the ranges judge."""
    if scale == "smoke":
        return ("<p class=warn>Scale smoke checks that every stage runs: its samples are too few for the statistics "
                "the pass ranges judge, so a miss at this scale says nothing about the models. Run scale quick or "
                "paper for the comparison with the papers.</p>")
    return ("<p>Each family's guide gives every paper number with its role and, for each miss, the reading of the "
            "paper and the measured reason.</p>")


def guide_of(stage: Mapping[str, Any]) -> str:
    """The page of the repository's ``docs/`` that documents ``stage``'s study."""
    study = stage.get("study") or stage["name"]
    return GUIDE_OF_STUDY.get(study, FAMILIES[stage["family"]].guides[0])


def _guides(pages: Sequence[str]) -> str:
    return ", ".join(f"<code>docs/{_e(page)}</code>" for page in pages)


def _within(comparisons: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for role in ("calibration", "held out"):
        rows = [c for c in comparisons if c["role"] == role]
        judged = [c["met"] for c in rows if c.get("met") is not None]
        devs = [abs(c["deviation"]) for c in rows if c.get("goal") is None and c["deviation"] is not None]
        text = [f"{sum(judged)} of {len(judged)} within their goal"] if judged else []
        if devs:
            text.append(f"of {len(devs)} without a stated goal {sum(d <= 0.15 for d in devs)} within 15 %, "
                        f"{sum(d <= 0.30 for d in devs)} within 30 %")
        if text:
            parts.append(f"{role}: " + "; ".join(text))
    return "; ".join(parts) or "none"


def _comparison_table(stages: Sequence[Mapping[str, Any]]) -> str:
    rows = [(s, c) for s in stages for c in s.get("comparisons", [])]
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{_e(s['name'])}</td><td>{_e(c['desc'] or c['measure'])}</td>"
        f"<td class=num>{_fmt(c['paper'], c['unit'])}</td><td class=num>{_fmt(c['ours'], c['unit'])}</td>"
        f"<td class=num>{_deviation(c['deviation'], c.get('met'))}</td><td>{_goal(c)}</td>"
        f"<td>{_role(c['role'])}</td></tr>" for s, c in rows)
    return ("<h3>Paper vs simulation</h3><p>Goal: the pass range the study holds a number to; a row without "
            "one is coloured by its deviation alone (green within 15 %, amber within 30 %).</p><table><tr>"
            "<th>stage</th><th>quantity</th><th>paper</th><th>ours</th><th>deviation</th><th>goal</th><th>role</th>"
            "</tr>" + body + "</table>")


def _stage(out: Path, stage: Mapping[str, Any]) -> str:
    parts = [f"<article class=\"stage\" id=\"stage-{_e(stage['name'])}\"><h3>{_e(stage['title'])}</h3>",
             f"<p class=meta>{_e(stage['doc'])}<br>{_definition(stage)}</p>"]
    if stage["kind"] == "study":
        if stage["study"] == "library-check":
            parts.append(_library_table(out, stage))
        parts.append(_measurement_table(stage))
    else:
        parts.append(_surrogate_table(out, [stage]))
    parts.append(_figures(out, stage["figures"]))
    return "".join(parts) + "</article>"


def _definition(stage: Mapping[str, Any]) -> str:
    if stage["kind"] == "extraction":
        return (f"extraction <code>{_e(stage['extraction'])}</code> of stage <code>{_e(stage['source'])}</code> "
                f"(source run key {_e(stage['source_key'])}); folder <code>{_e(stage['folder'])}/</code>")
    options = ", ".join(f"{k} = {v}" for k, v in stage["options"].items()) or "defaults"
    size = "" if stage["n"] is None else f"n = {stage['n']} {_e(stage.get('n_desc', ''))}, "
    return (f"study <code>{_e(stage['study'])}</code>: {size}seed {stage['seed']}, {_e(options)}; key "
            f"{_e(stage['key'])}; folder <code>{_e(stage['folder'])}/</code>")


def _measurement_table(stage: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><td><code>{_e(name)}</code></td><td>{_e(m['desc'])}</td>"
                   f"<td class=num>{_fmt(m['value'], m['unit'])}</td><td>{_goal(m)}</td></tr>"
                   for name, m in stage["measurements"].items())
    return ("<details open><summary>measurements</summary><table><tr><th>name</th><th>meaning</th><th>value</th>"
            "<th>pass range</th></tr>" + rows + "</table></details>")


def _library_table(out: Path, stage: Mapping[str, Any]) -> str:
    data = (_read_json(out / stage["folder"] / "result.json") or {}).get("data", {})
    rows = "".join(
        f"<tr><td>{_e(r['device'])}</td><td>{_e(r['analysis'])}</td><td>{_e(r['pair'])}</td>"
        f"<td>{_e(r['quantity'])}</td><td class=num>{r['error']:.2e}</td><td class=num>{r['tolerance']:.0e}</td>"
        f"<td class={'ok' if r['passed'] else 'bad'}>{'pass' if r['passed'] else 'FAIL'}</td></tr>"
        for r in data.get("rows", []))
    return ("<table><tr><th>device</th><th>analysis</th><th>pair</th><th>worst quantity</th><th>error</th>"
            "<th>tolerance</th><th>verdict</th></tr>" + rows + "</table>")


def _surrogates(out: Path, results: Mapping[str, Any]) -> str:
    stages = [s for s in results["stages"] if s["kind"] == "extraction"]
    if not stages:
        return ""
    speed = _speed(out, results)
    return ("<section class=\"family\" id=\"surrogates\"><h2>Surrogates: accuracy and speed</h2>"
            "<p>Each surrogate is an lmfit fit of a Monte Carlo statistic, exported to numpy, PyTorch, ONNX and "
            "JSON (files under each extraction's <code>export/</code>).</p>"
            + _surrogate_table(out, stages) + speed + "</section>")


def _surrogate_table(out: Path, stages: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for stage in stages:
        for name, s in stage["surrogates"].items():
            stats = s["stats"]
            dof = stats.get("dof")
            quality = (f"interpolant through {stats.get('points')} points" if dof == 0
                       else f"NRMSE {stats['nrmse']:.2e}" if stats.get("r2") is None  # a bound: R² undefined
                       else f"R² {stats['r2']:.4f}, NRMSE {stats['nrmse']:.2e}")
            domain = ", ".join(f"{k} ∈ [{lo:.3g}, {hi:.3g}]" for k, (lo, hi) in s["domain"].items())
            rows.append(f"<tr><td><code>{_e(name)}</code></td><td>{_e(s['output'])}({_e(', '.join(s['inputs']))})"
                        f"</td><td>{_e(str(s['form']))}</td><td>{_e(domain)}</td><td>{_e(quality)}</td>"
                        f"<td>{_held_out(stage.get('summary'), name)}</td></tr>")
    return ("<table><tr><th>surrogate</th><th>function</th><th>form</th><th>domain</th><th>fit</th>"
            "<th>held-out check</th></tr>" + "".join(rows) + "</table>")


def _held_out(summary: Mapping[str, Any] | None, name: str) -> str:
    """The held-out errors the extraction's summary records for surrogate ``name``: the entry whose label
    (``f1_cmos``, ``f2_mean``, ``f2``) is the longest prefix of the name."""
    entries: dict[str, Mapping[str, Any]] = {}
    for key, entry in (summary or {}).items():
        if isinstance(entry, Mapping):
            entries[key] = entry
            entries.update({f"{key}_{k}": v for k, v in entry.items() if isinstance(v, Mapping)})
    labels = [k for k in entries if name == k or name.startswith(k + "_")]
    if not labels:
        return ""
    values = entries[max(labels, key=len)]
    picks = {k: v for k, v in values.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and ("max" in k or "coverage" in k)}
    return "; ".join(f"{HELD_OUT_WORDS.get(k, k.replace('_', ' '))} {v:.3g}" for k, v in picks.items())


HELD_OUT_WORDS = {"mean_max_error_fs": "max error of the mean / full scale",
                  "sigma_max_rel_error": "max relative error of σ",
                  "coverage_fit_half": "share of fitted samples above the bound",
                  "held_out_coverage": "share of held-out samples above the bound"}


def _speed(out: Path, results: Mapping[str, Any]) -> str:
    """Time per call of each numpy surrogate against the ngspice time per Monte Carlo sample of its source."""
    from .surrogate import Surrogate

    rows = []
    for stage in (s for s in results["stages"] if s["kind"] == "extraction"):
        per_sample = _sample_seconds(out / stage["source"])
        for name, s in stage["surrogates"].items():
            surrogate = Surrogate.load(out / s["file"])
            call = _call_seconds(surrogate)
            ratio = f"{per_sample / call:,.0f}×" if per_sample else "n/a"
            rows.append(f"<tr><td><code>{_e(name)}</code></td><td class=num>{call * 1e6:.2f}</td>"
                        f"<td class=num>{'' if per_sample is None else f'{per_sample * 1e3:.1f}'}</td>"
                        f"<td class=num>{ratio}</td></tr>")
    return ("<h3>Speed-up</h3><p>One scalar call of the numpy surrogate against the median ngspice time of one "
            "Monte Carlo sample of its source study (measured when this report was written).</p>"
            "<table><tr><th>surrogate</th><th>one call (µs)</th><th>one ngspice sample (ms)</th><th>speed-up</th>"
            "</tr>" + "".join(rows) + "</table>")


def _sample_seconds(folder: Path) -> float | None:
    """Median simulation time of one sample over the Monte Carlo stores under ``folder``."""
    import numpy as np

    from spicegen.montecarlo import load_dataframe

    elapsed = []
    for store in folder.rglob("study.sqlite"):
        frame = load_dataframe(store.parent, meta=True)
        if "elapsed" in frame:
            elapsed += list(frame["elapsed"].dropna())
    return float(np.median(elapsed)) if elapsed else None


def _call_seconds(surrogate: Any) -> float:
    """Best of five timings of 200 scalar calls at the middle of the domain."""
    x = {k: 0.5 * (lo + hi) for k, (lo, hi) in surrogate.domain.items()}
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            surrogate(**x)
        best = min(best, (time.perf_counter() - start) / 200)
    return best


def _provenance(results: Mapping[str, Any]) -> str:
    prov = results["provenance"]
    packages = "".join(f"<tr><td>{_e(k)}</td><td>{_e(str(v))}</td></tr>" for k, v in prov["packages"].items())
    stages = "".join(
        f"<tr><td>{_e(s['name'])}</td><td>{_e(s.get('study') or s.get('extraction'))}</td>"
        f"<td><code>{_e(s.get('key') or s.get('source_key'))}</code></td><td>{_e(str(s.get('seed', '')))}</td>"
        f"<td>{_e(str(s.get('n') if s.get('n') is not None else ''))}</td>"
        f"<td><code>{_e(s.get('command', ''))}</code></td></tr>" for s in results["stages"])
    return ("<section class=\"family\" id=\"provenance\"><h2>Provenance</h2>"
            f"<p>spicegen {_e(prov['version'])}, commit {_e(str(prov.get('commit')))}, Python {_e(prov['python'])}, "
            f"{_e(str(prov.get('ngspice')))}. The command beside each stage runs it again on its own (a study "
            "with the same definition key, so the same numbers; an extraction from that run).</p>"
            "<table><tr><th>package</th><th>version</th></tr>" + packages + "</table>"
            "<table><tr><th>stage</th><th>study / extraction</th><th>definition key</th><th>seed</th><th>n</th>"
            "<th>command</th></tr>"
            + stages + "</table></section></main>")


# ---------------------------------------------------------------- pieces


def _figures(out: Path, figures: Sequence[str]) -> str:
    parts = ['<div class="figures">']
    for rel in figures:
        path = out / rel
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f'<figure><img alt="{_e(rel)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{_e(rel)}</figcaption></figure>")
    return "".join(parts) + "</div>"


def _fmt(value: float | None, unit: str) -> str:
    """``value`` with an engineering prefix for SI units (``1.23 kΩ``), 4 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    shown = "Ω" if unit == "Ohm" else unit
    if unit in SI_UNITS and value != 0:
        scale, prefix = next(((f, p) for f, p in PREFIXES if abs(value) >= f), PREFIXES[-1])
        return f"{value / scale:.4g} {prefix}{shown}"
    return f"{value:.4g}{' ' + _e(shown) if shown else ''}"


def _deviation(value: float | None, met: bool | None = None) -> str:
    if value is None:
        return "—"
    if met is None:
        cls = "ok" if abs(value) <= 0.15 else ("warn" if abs(value) <= 0.30 else "bad")
    else:
        cls = "ok" if met else "bad"
    return f'<span class="{cls}">{value * 100:+.1f} %</span>'


def _goal(comparison: Mapping[str, Any]) -> str:
    """The pass range of a paper row or a measurement and whether ours lies in it (``—`` without one)."""
    goal = comparison.get("goal")
    if goal is None:
        return "—"
    span = goal_span(goal, lambda v: _fmt(v, comparison["unit"]))
    met = comparison.get("met")
    verdict = "" if met is None else (' <span class="ok">met</span>' if met else ' <span class="bad">missed</span>')
    return f"{span}{verdict}"


def _role(role: str) -> str:
    return f'<span class="role {"calibration" if role == "calibration" else "held"}">{_e(role)}</span>'


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
