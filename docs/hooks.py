"""MkDocs hooks of the spicegen site.

* The page ``paper_vs_simulation.md`` is generated at build time from ``docs/results.json``, a copy of the
  ``results.json`` that ``spicegen run`` writes: one table per device family comparing each paper's value
  with the simulated one. Without that file the page says how to produce it.
* :class:`SphinxRoles` is a Griffe extension (loaded by mkdocstrings from this file) that renders the
  Sphinx roles of the package's docstrings (``:func:`run```) as inline code, which Markdown understands.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

import griffe
from mkdocs.structure.files import File, Files

from fitting.html_report import FAMILIES
from spicegen.study import family_rank, goal_span

PAGE = "paper_vs_simulation.md"
RESULTS = "results.json"

MISSING = """# Paper vs simulation

This page compares every number the papers report with what spicegen's simulations give. It is
generated from `docs/results.json`, which this copy of the documentation does not have yet.

To produce it, run the whole pipeline, `spicegen run --scale quick --out results` (about 12 minutes on
two cores; `--scale paper` runs the sample counts of the papers), copy `results/results.json` to
`docs/results.json` and build the site again (`mkdocs build`). `results/report.html` shows the same
comparison with the figures of every stage.
"""

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`~?\.?([^`]+)`")


class SphinxRoles(griffe.Extension):
    """Render ``:role:`target``` in docstrings as ```target``` (inline code)."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(r"`\1`", obj.docstring.value)


def on_files(files: Files, config: Any) -> Files:
    """Add the generated comparison page."""
    files.append(File.generated(config, PAGE, content=results_page(Path(config.docs_dir))))
    return files


def results_page(docs_dir: Path) -> str:
    """The Markdown of the comparison page from ``docs_dir/results.json`` (or how to produce it)."""
    path = docs_dir / RESULTS
    if not path.exists():
        return MISSING
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); copy it again from 'spicegen run --out DIR'.") from error
    return format_results(results)


def format_results(results: Mapping[str, Any]) -> str:
    """Markdown: a provenance line, then one table per device family of every comparison."""
    stages = [stage for stage in results.get("stages", ()) if stage.get("comparisons")]
    lines = ["# Paper vs simulation", "", _produced_by(results, stages), ""]
    by_family: dict[str, list[Mapping[str, Any]]] = {}
    for stage in stages:
        by_family.setdefault(stage.get("family", "core"), []).append(stage)
    if not by_family:
        lines += ["No stage of this run compares with a paper.", ""]
    for family in sorted(by_family, key=family_rank):
        known = FAMILIES.get(family)
        lines += [f"## {known.title if known else family}", ""]
        if known and known.paper:
            lines += [f"Paper values from {known.paper}.", ""]
        if known:
            guides = ", ".join(f"[{page.removesuffix('.md').replace('_', ' ')}]({page})" for page in known.guides)
            lines += [f"The reading of each number and, for each miss, the measured reason: {guides}.", ""]
        lines += ["| study | quantity | unit | paper | ours | deviation (%) | goal | role |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [_row(stage, comparison) for stage in by_family[family] for comparison in stage["comparisons"]]
        lines.append("")
    lines += ["Deviation is (ours − paper)/|paper|. The goal is the range a study holds the number to, and "
              "whether ours lies in it (– where the study states none). *Calibration* quantities were fitted to "
              "the paper, so a small deviation there is by construction; *held out* quantities were not fitted "
              "and test the model.", ""]
    return "\n".join(lines)


def _produced_by(results: Mapping[str, Any], stages: list[Mapping[str, Any]]) -> str:
    scale = results.get("scale", "?")
    sizes = sorted({stage["n"] for stage in stages if stage.get("n") is not None})
    if len(sizes) == 1:
        samples = f"n = {sizes[0]} samples per Monte Carlo study"
    elif sizes:
        samples = "sample counts " + ", ".join(f"{stage['name']} n = {stage['n']}" for stage in stages
                                               if stage.get("n") is not None)
    else:
        samples = "no Monte Carlo sample counts recorded"
    provenance = dict(results.get("provenance", {}))
    if provenance.get("commit"):
        provenance["commit"] = _short_commit(provenance["commit"])
    made_with = ", ".join(_labelled(key, str(provenance[key])) for key in ("version", "commit", "python", "ngspice")
                          if provenance.get(key))
    line = f"Produced by `spicegen run --scale {scale}` ({samples})"
    return f"{line}; {made_with}." if made_with else f"{line}."


def _short_commit(commit: str) -> str:
    """The first 12 hex digits of a commit, keeping a suffix such as ``+dirty``."""
    digits, plus, suffix = commit.partition("+")
    return digits[:12] + plus + suffix


def _labelled(key: str, value: str) -> str:
    return value if value.lower().startswith(key) else f"{key} {value}"


def _row(stage: Mapping[str, Any], comparison: Mapping[str, Any]) -> str:
    cells = [f"`{stage.get('study') or stage['name']}`", _cell(comparison.get("desc") or comparison["measure"]),
             _cell(comparison.get("unit") or "–"), _number(comparison.get("paper")), _number(comparison.get("ours")),
             _percent(comparison.get("deviation")), _goal(comparison), comparison.get("role") or "–"]
    return "| " + " | ".join(cells) + " |"


def _goal(comparison: Mapping[str, Any]) -> str:
    goal = comparison.get("goal")
    if goal is None:
        return "–"
    span = goal_span(goal, lambda v: f"{v:.4g}")
    met = comparison.get("met")
    return span if met is None else f"{span}, {'met' if met else '**missed**'}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _percent(deviation: float | None) -> str:
    return "–" if deviation is None else f"{100 * deviation:+.1f}"
