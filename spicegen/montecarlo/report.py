"""``spicegen mc-report``: histograms, sensitivity plots and a summary table of a study.

For every sweep point and measurement the summary gives the unit, the number of measured samples, of
samples with nothing to measure (NaN, e.g. a threshold never crossed) and of failed samples, mean,
σ, min, max, the worst case and, against a spec ``(lower, upper)``, the yield: the fraction of
*all* samples (failed ones count as fails) that measured inside the spec, with its 95 % Wilson
score interval (``yield_low``, ``yield_high``). The worst case is the sample closest to (or
furthest beyond) a spec limit, or without a spec the one furthest from the mean.

Figures, per measurement: a histogram (bins by numpy's ``"auto"`` rule, at most :data:`MAX_BINS`)
with the spec limits and each point's yield; the measurement against the drawn parameter it
correlates with most, one panel per sweep point; and the rank correlation of every drawn parameter
with it, grouped by sweep point. Axes carry units (engineering prefixes) and parameters are named in
words (``"i0 of sinh_memristor m1 (µA)"``) where the study recorded them.
"""
from __future__ import annotations

import math
import os
import re
import textwrap
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from ..figures import DIMENSIONLESS, axis_label, pyplot, save_figure
from ..files import write_text
from ..testbench import Spec
from .results import load_dataframe, load_dataset, simulated
from .store import Store

SUMMARY_COLUMNS = ("point", "measurement", "unit", "n_ok", "n_nan", "n_failed", "mean", "std", "min", "max", "worst",
                   "spec", "yield", "yield_low", "yield_high")
MAX_BINS = 60
"""Most histogram bins (numpy's ``"auto"`` rule asks for thousands on heavy-tailed data)."""
CONFIDENCE = 0.95
"""Level of the yield interval."""
MAX_PANELS = 12
"""Most sweep points drawn as panels of their own (the rest are left out of the per-point figures)."""
TOP_PARAMETERS = 8
"""Parameters shown in a sensitivity figure (largest rank correlation at any point)."""


def parse_spec(text: str) -> tuple[str, Spec]:
    """Parse ``NAME=LO:HI`` (either side may be empty) into ``(name, (lo, hi))``.

    Raises
    ------
    ValueError
        If the text has no ``=`` or ``:``, a bound is not a finite number, or ``LO > HI``.
    """
    name, sep, limits = text.partition("=")
    lo_text, colon, hi_text = limits.partition(":")
    if not sep or not colon or not name:
        raise ValueError(f"spec {text!r} must look like NAME=LO:HI (either side may be empty, e.g. vout=:1.2).")
    lo, hi = (_bound(t, text) for t in (lo_text, hi_text))
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"spec {text!r}: the lower limit {lo!r} is above the upper {hi!r}.")
    return name, (lo, hi)


def _bound(text: str, spec: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"spec {spec!r}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise ValueError(f"spec {spec!r}: limits must be finite, got {text!r}.")
    return value


def summarize(values: np.ndarray, n_failed: int, spec: Spec | None = None) -> dict[str, float]:
    """Statistics of one measurement.

    Parameters
    ----------
    values
        The measurement of every sample that simulated (NaN where there was nothing to measure).
    n_failed
        Samples that failed to simulate; they count as fails in the yield.
    spec
        Pass range.
    """
    x = np.asarray(values, dtype=float)
    n_total = x.size + n_failed
    x = x[np.isfinite(x)]
    out = {"n_ok": float(x.size), "n_nan": float(n_total - n_failed - x.size), "n_failed": float(n_failed),
           "yield_low": math.nan, "yield_high": math.nan}
    if not x.size:
        return {**out, **{k: math.nan for k in ("mean", "std", "min", "max", "worst", "yield")}}
    out.update(mean=float(x.mean()), std=float(x.std(ddof=1)) if x.size > 1 else math.nan,
               min=float(x.min()), max=float(x.max()))
    lo, hi = spec or (None, None)
    if lo is None and hi is None:
        out["worst"] = float(x[np.argmax(np.abs(x - x.mean()))])
        out["yield"] = math.nan
        return out
    margin = np.minimum(x - lo if lo is not None else np.inf, hi - x if hi is not None else np.inf)
    passed = int(np.count_nonzero(margin >= 0))
    out["worst"] = float(x[np.argmin(margin)])
    out["yield"] = passed / n_total
    out["yield_low"], out["yield_high"] = wilson_interval(passed, n_total)
    return out


def wilson_interval(passed: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a yield ``passed / total`` at ``confidence``.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 % or 100 %:
    500 of 500 samples passing gives [99.2 %, 100 %].

    >>> [round(v, 4) for v in wilson_interval(500, 500)]
    [0.9924, 1.0]

    Raises
    ------
    ValueError
        If ``total`` < 1 or ``passed`` is outside [0, total].
    """
    from scipy.stats import norm

    if total < 1 or not 0 <= passed <= total:
        raise ValueError(f"a yield needs 0 <= passed <= total and total >= 1, got {passed} of {total}.")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = passed / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    # at 0 % and 100 % the bounds are exactly 0 and 1; rounding would leave 0.9999999999999999
    return (0.0 if passed == 0 else centre - half), (1.0 if passed == total else centre + half)


def summary_table(ds: Any, specs: Mapping[str, Spec] | None = None) -> Any:
    """The summary of a study's dataset (:func:`load_dataset`) as a DataFrame, one row per point
    and measurement.

    Raises
    ------
    KeyError
        If a spec names a measurement the study does not have.
    """
    import pandas as pd

    measurements = [m for m in ds.data_vars if m not in ("status", "error")]
    units = {m: ds[m].attrs.get("units") for m in measurements}
    for name in specs or {}:
        if name not in measurements:
            raise KeyError(f"spec for unknown measurement {name!r}; the study measures {measurements}.")
    rows = []
    for point, sub in _points(ds):
        status = sub["status"].values
        for m in measurements:
            spec = (specs or {}).get(m)
            stats = summarize(sub[m].values[status == "ok"], int(np.count_nonzero(status == "failed")), spec)
            rows.append({"point": point, "measurement": m, "unit": _unit_text(units[m]), **stats,
                         "spec": _spec_text(spec)})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _points(ds: Any) -> list[tuple[str, Any]]:
    """(label, dataset at that sweep point) for every point (one, labelled 'all', without a sweep)."""
    axes = [d for d in ds["status"].dims if d != "sample"]
    if not axes:
        return [("all", ds)]
    stacked = ds.stack(point=axes)
    out = []
    for i in range(stacked.sizes["point"]):
        sub = stacked.isel(point=i)
        label = ",".join(f"{a}={sub[a].item()}" for a in axes)
        out.append((label, sub))
    return out


def _unit_text(unit: str | None) -> str:
    return "(not declared)" if unit is None else unit or DIMENSIONLESS


def _spec_text(spec: Spec | None) -> str:
    if spec is None:
        return ""
    lo, hi = spec
    return f"{'' if lo is None else f'{lo:g}'}:{'' if hi is None else f'{hi:g}'}"


def write_report(folder: str | os.PathLike[str], specs: Mapping[str, Spec] | None = None,
                 out: str | os.PathLike[str] | None = None) -> Path:
    """Write ``summary.csv``, ``summary.md`` and per measurement ``hist_<m>.png``, ``scatter_<m>.png``
    and (when parameters vary) ``sensitivity_<m>.png``.

    Parameters
    ----------
    folder
        Study folder.
    specs
        Measurement → pass range, for yields.
    out
        Output folder (default ``<folder>/report``).

    Returns
    -------
    pathlib.Path
        The output folder.
    """
    target = Path(out) if out is not None else Path(folder) / "report"
    target.mkdir(parents=True, exist_ok=True)
    table = summary_table(load_dataset(folder), specs)
    write_text(target / "summary.csv", table.to_csv(index=False))
    write_text(target / "summary.md", format_markdown(table))
    for name, fig in report_figures(folder, specs, table):
        save_figure(fig, target / name, dpi=100, check_labels=True)
    return target


def report_figures(folder: str | os.PathLike[str], specs: Mapping[str, Spec] | None = None,
                   table: Any = None) -> Iterator[tuple[str, Any]]:
    """The report's figures as ``(file name, matplotlib figure)``, one at a time: the caller saves or
    closes each before asking for the next.

    Parameters
    ----------
    folder
        Study folder.
    specs
        Measurement → pass range.
    table
        Its :func:`summary_table` (computed when None).
    """
    ds = load_dataset(folder)
    table = summary_table(ds, specs) if table is None else table
    frame = load_dataframe(folder)
    with Store.open(folder) as store:
        names = _Names(store.meta("quantities") or {}, ds.attrs["testbench"])
    good = simulated(frame)
    axes = [d for d in ds["status"].dims if d != "sample"]
    per_event = [c for c in frame.columns if re.fullmatch(r".+\[\d+\]", str(c))]
    params = [c for c in frame.columns if c in ds.coords and c not in ("sample", *axes)] + per_event
    varied = [p for p in params if good[p].nunique() > 1]
    for m in table["measurement"].unique():
        rows = table[table["measurement"] == m]
        yield f"hist_{m}.png", histogram_figure(good, m, names, axes, (specs or {}).get(m), rows)
        yield f"scatter_{m}.png", scatter_figure(good, m, names, varied, axes)
        if varied:
            yield f"sensitivity_{m}.png", sensitivity_figure(good, m, names, varied, axes)


class _Names:
    """Labels of a study's columns from what the study recorded (:func:`~spicegen.montecarlo.plan.quantities`)."""

    def __init__(self, quantities: Mapping[str, Any], testbench: str) -> None:
        self.testbench = testbench
        self._measurements = quantities.get("measurements", {})
        self._params = quantities.get("params", {})

    def measurement(self, name: str, values: Any = None) -> tuple[str, float]:
        """``(axis label, factor)`` of a measurement."""
        return axis_label(name, self._measurements.get(name, {}).get("unit"), values)

    def param(self, column: str, values: Any = None) -> tuple[str, float]:
        """``(axis label, factor)`` of a parameter column (``m1__i0``, ``m1__i0_drawn``, ``m1__k[2]``)."""
        about = self._about(column)
        return axis_label(self.words(column), about["unit"] if about else None, values)

    def words(self, column: str) -> str:
        """A parameter in words, without its unit (tick labels); a per-event draw names its event."""
        about = self._about(column)
        event = re.fullmatch(r"(.+)\[(\d+)\]", column)
        if about is None:
            return column
        return f"{about['label']}, event {int(event.group(2)) + 1}" if event else about["label"]

    def _about(self, column: str) -> Mapping[str, Any] | None:
        name = re.sub(r"\[\d+\]$", "", column).removesuffix("_drawn")
        return self._params.get(name)


def _finite(values: Any) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[np.isfinite(x)]


def bin_edges(values: Any, max_bins: int = MAX_BINS) -> np.ndarray:
    """Histogram bin edges by numpy's ``"auto"`` rule (the more bins of Sturges' and Freedman–Diaconis'
    rules), at most ``max_bins`` bins.

    >>> len(bin_edges(np.random.default_rng(0).normal(size=500))) - 1
    20
    """
    x = _finite(values)
    edges = np.histogram_bin_edges(x, bins="auto") if x.size else np.array([0.0, 1.0])
    return edges if edges.size - 1 <= max_bins else np.linspace(edges[0], edges[-1], max_bins + 1)


def histogram_figure(frame: Any, measurement: str, names: _Names, axes: list[str], spec: Spec | None,
                     rows: Any) -> Any:
    """Histogram of one measurement, one step outline per sweep point (bins of its own, :func:`bin_edges`),
    with the spec limits and the yield with its 95 % interval per point in the legend."""
    plt = pyplot()
    xlabel, factor = names.measurement(measurement, frame[measurement])
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    yields = dict(zip(rows["point"], zip(rows["yield"], rows["yield_low"], rows["yield_high"])))
    for point, sub in _groups(frame, axes):
        values = _finite(sub[measurement]) * factor
        if values.size:
            ax.hist(values, bins=bin_edges(values), histtype="step", lw=1.2, label=_legend(point, spec, yields.get(point)))
    for side, limit in zip(("lower", "upper"), spec or ()):
        if limit is not None:
            ax.axvline(limit * factor, color="k", ls="--", lw=1)
            ax.annotate(f"{side} spec {_number(limit * factor)}", (limit * factor, 1.0), xycoords=("data", "axes fraction"),
                        rotation=90, ha="right", va="top", fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("samples (count)")
    ax.set_title(f"{measurement}: {len(frame)} simulated samples ({names.testbench})", fontsize=10)
    if ax.get_legend_handles_labels()[0] and (axes or spec):
        ax.legend(fontsize=7)
    return fig


def _legend(point: str, spec: Spec | None, yield_row: tuple[float, float, float] | None) -> str:
    label = "all samples" if point == "all" else point.replace(",", ", ").replace("=", " = ")
    if spec is None or yield_row is None or not math.isfinite(yield_row[0]):
        return label
    value, low, high = (100 * v for v in yield_row)
    return f"{label}: yield {value:.1f} % (95 % CI {low:.1f}–{high:.1f} %)"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _groups(frame: Any, axes: list[str]) -> list[tuple[str, Any]]:
    """(label such as ``corner=tt``, rows) per sweep point."""
    if not axes:
        return [("all", frame)]
    keys = frame.groupby(axes, sort=False)
    return [(",".join(f"{a}={v}" for a, v in zip(axes, key if isinstance(key, tuple) else (key,))), sub)
            for key, sub in keys]


def _rank_correlation(x: Any, y: Any) -> float:
    """Spearman rank correlation of the finite pairs (NaN when either side is constant)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return math.nan
    return float(spearmanr(x[keep], y[keep]).statistic)


def scatter_figure(frame: Any, measurement: str, names: _Names, params: list[str], axes: list[str]) -> Any:
    """The measurement against the parameter it correlates with most, one panel per sweep point."""
    plt = pyplot()
    groups = _groups(frame, axes)[:MAX_PANELS]
    columns = min(3, len(groups))
    rows = math.ceil(len(groups) / columns)
    ylabel, yfactor = names.measurement(measurement, frame[measurement])
    fig, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows), squeeze=False, sharey=True)
    for ax, (point, sub) in zip(grid.flat, groups):
        r = {p: _rank_correlation(sub[p], sub[measurement]) for p in params}
        best = max((p for p in r if math.isfinite(r[p])), key=lambda p: abs(r[p]), default=None)
        if best is None:
            ax.plot(sub["sample"], sub[measurement] * yfactor, ".", ms=3)
            ax.set_xlabel("sample index (count)")
            finite = np.asarray(sub[measurement], dtype=float)
            finite = finite[np.isfinite(finite)]
            constant = finite.size > 0 and np.ptp(finite) == 0
            heading = "the same in every sample" if constant else "no drawn parameter varies"
        else:
            xlabel, xfactor = names.param(best, sub[best])
            ax.plot(sub[best] * xfactor, sub[measurement] * yfactor, ".", ms=3)
            ax.set_xlabel(xlabel, fontsize=8)
            heading = f"rank correlation {r[best]:+.2f}"
        ax.set_title(heading if point == "all" else f"{point.replace(',', ', ')}: {heading}", fontsize=9)
        ax.set_ylabel(ylabel)
    for ax in list(grid.flat)[len(groups):]:
        ax.set_axis_off()
    title = f"{measurement} against its most influential drawn parameter ({names.testbench})"
    fig.suptitle(textwrap.fill(title, width=int(11 * 4.2 * columns), break_on_hyphens=False), fontsize=10)
    fig.tight_layout()
    return fig


def sensitivity_figure(frame: Any, measurement: str, names: _Names, params: list[str], axes: list[str]) -> Any:
    """Rank correlation of each drawn parameter with the measurement, bars grouped by sweep point
    (the :data:`TOP_PARAMETERS` largest at any point)."""
    plt = pyplot()
    groups = _groups(frame, axes)[:MAX_PANELS]
    r = np.array([[_rank_correlation(sub[p], sub[measurement]) for p in params] for _, sub in groups])
    strength = np.nan_to_num(np.abs(r)).max(axis=0)
    chosen = [i for i in np.argsort(-strength, kind="stable")[:TOP_PARAMETERS]][::-1]
    fig, ax = plt.subplots(figsize=(7.0, 1.2 + 0.45 * len(chosen) * max(1, len(groups)) ** 0.5))
    height = 0.8 / len(groups)
    for k, (point, _) in enumerate(groups):
        offsets = np.arange(len(chosen)) + (k - (len(groups) - 1) / 2) * height
        label = "all samples" if point == "all" else point.replace(",", ", ").replace("=", " = ")
        ax.barh(offsets, np.nan_to_num(r[k, chosen]), height=height, label=label)
    ax.set_yticks(np.arange(len(chosen)), [names.words(params[i]) for i in chosen], fontsize=7)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlim(-1, 1)
    ax.set_xlabel(f"rank correlation with {measurement} (dimensionless)")
    ax.set_ylabel("drawn parameter (by name)")
    ax.set_title(f"Sensitivity of {measurement} ({names.testbench})", fontsize=10)
    if axes:
        ax.legend(fontsize=7)
    return fig


def format_markdown(table: Any) -> str:
    """The summary table as a Markdown table (4 significant digits)."""
    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    lines = [head, rule]
    for _, row in table.iterrows():
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
