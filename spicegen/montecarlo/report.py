"""``spicegen mc-report``: histograms, scatter plots and a summary table of a study.

For every sweep point and measurement the summary gives the number of measured samples, of
samples with nothing to measure (NaN, e.g. a threshold never crossed) and of failed samples, mean, σ, min, max, the worst case and, against a spec ``(lower, upper)``, the yield:
the fraction of *all* samples (failed ones count as fails) that measured inside the spec.
The worst case is the sample closest to (or furthest beyond) a spec limit, or without a spec
the one furthest from the mean.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..figures import pyplot
from ..testbench import Spec
from .results import load_dataframe, load_dataset

SUMMARY_COLUMNS = ("point", "measurement", "n_ok", "n_nan", "n_failed", "mean", "std", "min", "max", "worst", "spec", "yield")


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
    out = {"n_ok": float(x.size), "n_nan": float(n_total - n_failed - x.size), "n_failed": float(n_failed)}
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
    out["worst"] = float(x[np.argmin(margin)])
    out["yield"] = float(np.count_nonzero(margin >= 0) / n_total)
    return out


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
    for name in specs or {}:
        if name not in measurements:
            raise KeyError(f"spec for unknown measurement {name!r}; the study measures {measurements}.")
    rows = []
    for point, sub in _points(ds):
        status = sub["status"].values
        for m in measurements:
            spec = (specs or {}).get(m)
            stats = summarize(sub[m].values[status == "ok"], int(np.count_nonzero(status == "failed")), spec)
            rows.append({"point": point, "measurement": m, **stats, "spec": _spec_text(spec)})
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


def _spec_text(spec: Spec | None) -> str:
    if spec is None:
        return ""
    lo, hi = spec
    return f"{'' if lo is None else f'{lo:g}'}:{'' if hi is None else f'{hi:g}'}"


def write_report(folder: str | os.PathLike[str], specs: Mapping[str, Spec] | None = None,
                 out: str | os.PathLike[str] | None = None) -> Path:
    """Write ``summary.csv``, ``summary.md``, one histogram and one scatter plot per measurement.

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
    plt = pyplot()

    target = Path(out) if out is not None else Path(folder) / "report"
    target.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(folder)
    table = summary_table(ds, specs)
    table.to_csv(target / "summary.csv", index=False)
    (target / "summary.md").write_text(format_markdown(table))
    frame = load_dataframe(folder)
    good = frame[frame["status"] == "ok"]
    axes = [d for d in ds["status"].dims if d != "sample"]
    params = [c for c in frame.columns if c in ds.coords and c not in ("sample", *axes)]
    for m in table["measurement"].unique():
        _histogram(plt, good, m, axes, (specs or {}).get(m), target / f"hist_{m}.png")
        _scatter(plt, good, m, params, axes, target / f"scatter_{m}.png")
    return target


def _histogram(plt: Any, frame: Any, measurement: str, axes: list[str], spec: Spec | None, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for label, sub in _groups(frame, axes):
        values = sub[measurement].dropna()
        if len(values):
            ax.hist(values, bins="auto", histtype="step", label=label)
    for limit in spec or ():
        if limit is not None:
            ax.axvline(limit, color="k", ls="--", lw=1)
    ax.set_xlabel(measurement)
    ax.set_ylabel("samples")
    if axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _groups(frame: Any, axes: list[str]) -> list[tuple[str, Any]]:
    """(label such as ``corner=tt``, rows) per sweep point."""
    if not axes:
        return [("all", frame)]
    return [(",".join(f"{a}={v}" for a, v in zip(axes, key)), sub) for key, sub in frame.groupby(axes)]


def _scatter(plt: Any, frame: Any, measurement: str, params: list[str], axes: list[str], path: Path) -> None:
    """Measurement against the parameter it correlates with most."""
    y = frame[measurement]
    best, best_r = None, 0.0
    for p in params:
        x = frame[p]
        if x.nunique() > 1 and y.nunique() > 1:
            r = abs(float(np.corrcoef(x, y)[0, 1]))
            if np.isfinite(r) and r >= best_r:
                best, best_r = p, r
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for label, sub in _groups(frame, axes):
        ax.plot(sub[best] if best is not None else sub["sample"], sub[measurement], ".", ms=3, label=label)
    ax.set_xlabel(f"{best}  (|r| = {best_r:.2f})" if best is not None else "sample")
    ax.set_ylabel(measurement)
    if axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_markdown(table: Any) -> str:
    """The summary table as a Markdown table (4 significant digits)."""
    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    lines = [head, rule]
    for _, row in table.iterrows():
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
