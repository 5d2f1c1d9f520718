"""Statistical extraction of behavioural functions from Monte Carlo results.

From a study (``pandas.DataFrame``, ``xarray.Dataset``, a study folder or a CSV file) take an
input column ``x`` and an output column ``y``, reduce the samples at each x to one statistic —
the mean curve, the standard deviation σ(x) (absolute or relative to the mean), a quantile, or
the worst-case lower / upper envelope — fit a form to it with lmfit, and return the fitted
:class:`~fitting.surrogate.Surrogate` with RMSE, R² and parameter confidence intervals.

Samples are grouped by their exact x when x repeats (a swept input), else into ``bins``
equal-count bins. The mean may also be fitted to the raw samples when x never repeats.
Points are weighted by the standard errors of their statistic where those exist
(mean: s/√n; σ: s/√(2(n−1)); quantiles: a seeded bootstrap).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = np.repeat(np.linspace(0, 1, 11), 200)
>>> df = pd.DataFrame({"x": x, "y": 0.9 * np.tanh(2 * x) + rng.normal(0, 0.02, x.size)})
>>> e = extract(df, "x", "y", "tanh")
>>> round(e.surrogate.params["rate"], 1), e.surrogate.stats.r2 > 0.999
(2.0, True)
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, get_args

import numpy as np
from lmfit import Model, Parameters
from lmfit.model import ModelResult

from spicegen.figures import pyplot
from spicegen.files import write_bytes, write_text

from .forms import format_expression, format_spec, guess, parse_form
from .surrogate import FitStats, ParamStat, Provenance, Surrogate

Statistic = Literal["mean", "std", "relstd", "lower", "upper", "quantile"]
"""What is fitted at each x: mean, σ, σ/|mean|, minimum, maximum, or a quantile (``quantile=q``)."""
NanPolicy = Literal["raise", "omit"]
"""NaN in a used column: raise naming the rows, or drop those rows."""
CONFIDENCE = 0.95
"""Level of the reported parameter intervals."""
BOOTSTRAP = 200
"""Bootstrap resamples for the standard error of a quantile."""
INTERPOLATE = "interpolate"
"""Candidate form (of the statistic or of its variation): the piecewise-linear interpolant through the
per-x points (:func:`interpolant`). In a candidate list it is the fallback, used when the best smooth
candidate fails the χ² test (:func:`goodness_of_fit` below :data:`GOF_LEVEL`); see :func:`choose_form`."""
GOF_LEVEL = 0.05
"""Smallest χ² p-value at which a smooth form is accepted over the interpolant."""
DOMAIN_MARGIN = 0.1
"""How far a given domain may reach beyond the data's x range, as a fraction of its width."""


class FitError(ValueError):
    """A fit did not converge, or its parameters are not determined by the data."""


@dataclass(frozen=True)
class Points:
    """The statistic at each group of samples: what the form is fitted to.

    Attributes
    ----------
    x, value
        Group position and the statistic there.
    stderr
        Standard error of each value, or None when it is not defined (then the fit is unweighted).
    count
        Samples in each group.
    statistic
        ``mean``, ``std``, ``relstd``, ``lower``, ``upper`` or ``quantile:q``.
    """

    x: np.ndarray
    value: np.ndarray
    stderr: np.ndarray | None
    count: np.ndarray
    statistic: str


@dataclass(frozen=True)
class Extraction:
    """A fitted statistic: the surrogate, the points it was fitted to, the lmfit result, the samples.

    Attributes
    ----------
    surrogate
        The fitted surrogate (with its variation when asked for).
    points
        Fitted points.
    result
        lmfit ``ModelResult`` of the main fit; None when the statistic is the interpolant
        (:data:`INTERPOLATE`), which involves no fit.
    x, y
        All samples used.
    selection
        Every candidate form of the statistic and why the kept one was kept (:func:`select_form`).
    variation_selection
        The same for the variation σ(x), when one was fitted.
    """

    surrogate: Surrogate
    points: Points
    result: ModelResult | None
    x: np.ndarray
    y: np.ndarray
    selection: Selection | None = None
    variation_selection: Selection | None = None

    def citing(self, study: Mapping[str, Any]) -> Extraction:
        """This extraction with its surrogate citing the study run ``study`` (:meth:`Surrogate.citing`)."""
        return replace(self, surrogate=self.surrogate.citing(study))

    def summary(self) -> dict[str, Any]:
        """JSON-able report: statistics, parameters with intervals, the points and the residuals."""
        s = self.surrogate
        fitted = s(self.points.x, out_of_domain="clip")
        return {
            "surrogate": s.name, "expression": s.expression, "stats": s.to_dict()["stats"],
            "quality": s.stats.describe() if s.stats else None,
            "candidates": self.selection.table() if self.selection else None,
            "kept_because": self.selection.reason if self.selection else None,
            "variation_candidates": self.variation_selection.table() if self.variation_selection else None,
            "variation_kept_because": self.variation_selection.reason if self.variation_selection else None,
            "provenance": s.to_dict()["provenance"],
            "lmfit_message": self.result.message if self.result is not None else None,
            "nfev": int(self.result.nfev) if self.result is not None else 0,
            "points": {"x": self.points.x.tolist(), "value": self.points.value.tolist(),
                       "stderr": None if self.points.stderr is None else self.points.stderr.tolist(),
                       "count": self.points.count.tolist(), "residual": (self.points.value - fitted).tolist()},
            "variation": s.variation.to_dict()["stats"] if s.variation else None,
        }

    def format_text(self) -> str:
        """What ``spicegen fit`` prints: lmfit's fit report of the kept form, the table of every candidate
        form, why the kept one was kept, and the fit's quality and parameters."""
        s = self.surrogate
        lines = [f"{s.name}: {s.output} = {s.expression}"]
        if self.result is not None:
            lines += ["", self.result.fit_report(), ""]
        for label, selection in (("", self.selection), ("variation ", self.variation_selection)):
            if selection is not None:
                lines += [f"{label}candidates:", selection.format_table(), f"kept {selection.kept}: {selection.reason}"]
        if s.stats is not None:
            lines.append(f"  {s.stats.points} points, {s.stats.describe()}")
            lines += [f"  {name:>20s} = {p.value:.6g}   {100 * s.stats.confidence:g} % CI [{p.low:.6g}, {p.high:.6g}]"
                      for name, p in s.stats.params.items()]
        return "\n".join(lines)

    def write_report(self, folder: str | os.PathLike[str], stem: str | None = None) -> list[Path]:
        """Write ``<stem>.json`` (the surrogate), ``<stem>_report.json`` and ``<stem>_residuals.png``.

        Every file is written atomically, after all of them have been rendered in memory.
        """
        stem = stem or self.surrogate.name
        folder = Path(folder)
        png = format_residual_plot(self)
        report = json.dumps(_finite(self.summary()), indent=2, allow_nan=False) + "\n"
        return [write_text(folder / f"{stem}.json", self.surrogate.to_json()),
                write_text(folder / f"{stem}_report.json", report),
                write_bytes(folder / f"{stem}_residuals.png", png)]


# ----------------------------------------------------------------------------- data

def load_table(data: Any, columns: Sequence[str], *, where: Mapping[str, Any] | None = None,
               melt: Mapping[str, float] | None = None,
               nan_policy: NanPolicy = "raise") -> tuple[Any, dict[str, Any]]:
    """The rows of ``data`` to fit, and what is known about their origin.

    Parameters
    ----------
    data
        ``pandas.DataFrame``, ``xarray.Dataset``, a Monte Carlo study folder or a ``.csv`` file.
    columns
        Columns that must exist and be finite.
    where
        Keep only rows whose column equals the value (``{"config": "cmos"}``).
    melt
        Wide → long: column → x value (``{"dq0": 1/9, "dq1": 2/9, …}``). Each row becomes one row
        per named column, with the x value in ``columns[0]`` and the column's value in ``columns[1]``.
    nan_policy
        ``"raise"`` or ``"omit"`` (see :data:`NanPolicy`).

    Returns
    -------
    (pandas.DataFrame, dict)
        Rows of successful samples, and ``{"testbench", "seed", "source", "failed"}``.

    Raises
    ------
    KeyError
        If a column is missing (the message lists the available ones).
    ValueError
        If a used column holds NaN and ``nan_policy="raise"``, or no row is left.
    """
    import pandas as pd

    if nan_policy not in get_args(NanPolicy):
        raise ValueError(f"nan_policy must be one of {get_args(NanPolicy)}, got {nan_policy!r}.")
    frame, meta = _as_frame(data)
    if melt:
        frame = _melt(frame, melt, columns[0], columns[1])
    failed = 0
    if "status" in frame.columns:
        ok = frame["status"] == "ok"
        failed = int((~ok).sum())
        frame = frame[ok]
    for column in [*columns, *(where or {})]:
        if column not in frame.columns:
            raise KeyError(f"column {column!r} is not in the dataset; available columns: "
                           f"{', '.join(map(str, frame.columns))}. Name one of them (--x/--y/--where).")
    stored = len(frame)
    for column, value in (where or {}).items():
        frame = frame[frame[column].astype(str) == str(value)]
    frame = frame.reset_index(drop=True)
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[list(columns)].isna().any(axis=1) | ~np.isfinite(frame[list(columns)].to_numpy(float)).all(axis=1)
    if bad.any() and nan_policy == "raise":
        rows = np.flatnonzero(bad.to_numpy())
        counts = {c: int((~np.isfinite(frame[c].to_numpy(float))).sum()) for c in columns}
        raise ValueError(f"NaN/inf values in {({c: n for c, n in counts.items() if n})} (rows {rows[:5].tolist()}"
                         f"{' …' if rows.size > 5 else ''} of {len(frame)}); drop them with nan_policy='omit' "
                         "(--nan omit) or fix the data.")
    frame = frame[~bad].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"no usable rows left: {_row_losses(failed, stored, len(bad), int(bad.sum()), where, columns)}.")
    return frame, {**meta, "failed": failed, "omitted": int(bad.sum())}


def _row_losses(failed: int, stored: int, kept: int, non_finite: int, where: Mapping[str, Any] | None,
                columns: Sequence[str]) -> str:
    """Where the rows went, in the order they were dropped, each step with its fix."""
    steps = [f"{failed} failed sample(s) dropped (re-run them with 'spicegen mc ... --retry-failed')"] if failed else []
    if where:
        steps.append(f"the filter {dict(where)} kept {kept} of {stored} (check the filter values)")
    if non_finite:
        steps.append(f"{non_finite} row(s) with NaN/inf in {list(columns)} omitted (check that the columns hold "
                     "numbers)")
    return "; ".join(steps) or "the dataset holds no rows"


def _melt(frame: Any, melt: Mapping[str, float], x: str, y: str) -> Any:
    import pandas as pd

    missing = [c for c in melt if c not in frame.columns]
    if missing:
        raise KeyError(f"column(s) {missing} to melt are not in the dataset; available columns: "
                       f"{', '.join(map(str, frame.columns))}.")
    keep = [c for c in frame.columns if c not in melt and c not in (x, y)]
    parts = [frame[keep].assign(**{x: float(value), y: frame[column]}) for column, value in melt.items()]
    return pd.concat(parts, ignore_index=True)


def _as_frame(data: Any) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data, {"testbench": data.attrs.get("testbench"), "seed": data.attrs.get("seed"),
                      "source": data.attrs.get("source")}
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.suffix == ".csv":
            return pd.read_csv(path), {"testbench": None, "seed": None, "source": str(path)}
        from spicegen.montecarlo import Store, load_dataframe

        with Store.open(path) as store:
            definition = store.meta("definition") or {}
        return load_dataframe(path), {"testbench": definition.get("testbench"), "seed": definition.get("seed"),
                                      "source": str(path)}
    if hasattr(data, "data_vars") and hasattr(data, "to_dataframe"):
        variables = [v for v in data.data_vars if "event" not in data[v].dims]
        frame = data[variables].reset_coords(drop=False)
        frame = frame[[v for v in frame.data_vars if "event" not in frame[v].dims]].to_dataframe().reset_index()
        return frame, {"testbench": data.attrs.get("testbench"), "seed": data.attrs.get("seed"),
                       "source": data.attrs.get("source")}
    raise TypeError(f"cannot read a dataset from {type(data).__name__}; pass a pandas.DataFrame, an "
                    "xarray.Dataset, a study folder or a .csv file.")


def dataset_hash(columns: Mapping[str, np.ndarray]) -> str:
    """First 16 hex digits of the SHA-256 of the column names and their float64 values, in order."""
    digest = hashlib.sha256()
    for name, values in columns.items():
        digest.update(name.encode() + b"\0")
        digest.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- statistics

def statistic_points(x: np.ndarray, y: np.ndarray, statistic: Statistic, *, quantile: float | None = None,
                     bins: int | None = None, seed: int = 0) -> Points:
    """Reduce samples ``(x, y)`` to one statistic per group.

    Parameters
    ----------
    statistic
        See :data:`Statistic`.
    quantile
        Level q in (0, 1) for ``statistic="quantile"``.
    bins
        Group into this many equal-count bins of x instead of by exact x.
    seed
        Seed of the bootstrap for quantile standard errors.

    Raises
    ------
    ValueError
        For a bad option, or when x never repeats, no ``bins`` is given and the statistic needs groups.
    """
    if statistic not in get_args(Statistic):
        raise ValueError(f"statistic must be one of {get_args(Statistic)}, got {statistic!r}.")
    if (statistic == "quantile") != (quantile is not None):
        raise ValueError("give quantile=q (0 < q < 1) exactly when statistic='quantile'.")
    if quantile is not None and not 0 < quantile < 1:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {quantile!r}; use "
                         "statistic='lower'/'upper' for the minimum/maximum.")
    groups = _groups(x, bins)
    if groups is None:
        if statistic != "mean":
            raise ValueError(f"x never repeats, so there is no sample set per x for the {statistic!r}; "
                             "pass bins=N (--bins N) to group x into N equal-count bins.")
        return Points(x.copy(), y.copy(), None, np.ones(x.size, int), "mean")
    rng = np.random.default_rng(seed)
    rows = [_reduce(x[g], y[g], statistic, quantile, rng, bins is not None) for g in groups]
    xs, values, errors = (np.array(c, dtype=float) for c in zip(*rows))
    counts = np.array([g.size for g in groups])
    usable = bool(np.all(np.isfinite(errors)) and np.all(errors > 0))
    name = f"quantile:{quantile:g}" if statistic == "quantile" else statistic
    return Points(xs, values, errors if usable else None, counts, name)


def _groups(x: np.ndarray, bins: int | None) -> list[np.ndarray] | None:
    if bins is not None:
        if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= x.size // 2:
            raise ValueError(f"bins must be a whole number from 2 to {x.size // 2} (two samples per bin), "
                             f"got {bins!r}.")
        order = np.argsort(x, kind="stable")
        return [np.sort(part) for part in np.array_split(order, bins)]
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if np.median(counts) < 2:
        return None
    return [np.flatnonzero(inverse == k) for k in range(values.size) if counts[k] >= 2]


def _reduce(x: np.ndarray, y: np.ndarray, statistic: str, q: float | None, rng: np.random.Generator,
            binned: bool) -> tuple[float, float, float]:
    """(x, statistic, standard error) of one group."""
    n = y.size
    at = float(np.mean(x)) if binned else float(x[0])
    if statistic == "mean":
        return at, float(np.mean(y)), float(np.std(y, ddof=1) / math.sqrt(n))
    if statistic == "std":
        s = float(np.std(y, ddof=1))
        return at, s, s / math.sqrt(2 * (n - 1))
    if statistic == "relstd":
        r = float(np.std(y, ddof=1) / abs(np.mean(y)))
        return at, r, r * math.sqrt(1 / (2 * (n - 1)) + r * r / n)
    if statistic in ("lower", "upper"):
        k = int(np.argmin(y) if statistic == "lower" else np.argmax(y))
        return float(x[k]) if binned else at, float(y[k]), math.nan
    boot = np.quantile(y[rng.integers(0, n, (BOOTSTRAP, n))], q, axis=1)
    return at, float(np.quantile(y, q)), float(np.std(boot, ddof=1))


# ----------------------------------------------------------------------------- fitting

def fit_points(model: Model, points: Points, *, params: Mapping[str, float] | Parameters | None = None,
               fixed: Mapping[str, float] | None = None, max_nfev: int | None = None,
               what: str = "") -> tuple[ModelResult, FitStats]:
    """Fit ``model`` to ``points`` and compute RMSE, R² and the parameter intervals.

    Parameters
    ----------
    model
        A form or compound (from :func:`fitting.forms.parse_form`, or a ``SympyForm``).
    points
        From :func:`statistic_points`.
    params
        Starting values overriding the guess (name → value), or complete lmfit ``Parameters``.
    fixed
        Parameters held at a value (name → value), e.g. the redundant offset of a compound.
    max_nfev
        Limit on model evaluations (lmfit's default if None).
    what
        Description used in error messages.

    Raises
    ------
    FitError
        If the fit fails, stops without converging, or cannot estimate parameter uncertainties.
    """
    x, y = points.x, points.value
    label = what or f"{format_spec(model)} to the {points.statistic}"
    free = len(model.param_names) - len(fixed or {})
    if x.size <= free:
        raise FitError(f"fit of {label}: {x.size} points cannot determine {free} parameters "
                       f"{model.param_names}; use more x values/bins or a form with fewer parameters.")
    start = params if isinstance(params, Parameters) else _start(model, y, x, params or {}, fixed or {})
    weights = None if points.stderr is None else 1.0 / points.stderr
    try:
        result = model.fit(y, start, x=x, weights=weights, max_nfev=max_nfev, nan_policy="raise")
    except ValueError as exc:
        raise FitError(f"fit of {label} failed: {exc}. Give starting values (params=..., --start name=value) "
                       "or restrict the x range to where the form is defined.") from None
    if not result.success or result.nfev >= (max_nfev or math.inf):
        raise FitError(f"fit of {label} did not converge: {result.message} after {result.nfev} evaluations; "
                       f"parameters at stop: {_values(result.params)}. Give starting values (--start), "
                       "allow more evaluations (max_nfev), or choose a simpler form.")
    if not result.errorbars:
        raise FitError(f"fit of {label}: parameter uncertainties could not be estimated (singular covariance "
                       f"at {_values(result.params)}); the data do not determine every parameter — fix one "
                       "(params=Parameters with vary=False) or choose a form with fewer parameters.")
    pair = _degenerate_pair(result)
    if pair:
        raise FitError(f"fit of {label}: parameters {pair[0]!r} and {pair[1]!r} are fully correlated "
                       f"(ρ = {pair[2]:+.6f}), so the data determine only a combination of them; hold one "
                       f"(fixed={{{pair[1]!r}: value}}, --fix {pair[1]}=VALUE) or choose a form with fewer parameters.")
    return result, fit_stats(result, y, weights is not None)


def _degenerate_pair(result: ModelResult, limit: float = 1 - 1e-6) -> tuple[str, str, float] | None:
    """The first pair of free parameters whose fitted correlation is ±1 within ``1 − limit``."""
    names = result.var_names
    std = np.sqrt(np.diag(result.covar))
    with np.errstate(all="ignore"):
        corr = result.covar / np.outer(std, std)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if not abs(corr[i, j]) < limit:
                return names[i], names[j], float(corr[i, j])
    return None


@dataclass(frozen=True)
class Candidate:
    """One candidate form of a fit: its result, or why it failed.

    Attributes
    ----------
    form
        Form text (:func:`~fitting.forms.format_spec`), or :data:`INTERPOLATE`.
    model, result, stats
        The lmfit model, its ``ModelResult`` and :class:`FitStats`; None for a failed candidate
        (and ``model``/``result`` None for the interpolant).
    error
        Why the fit failed (empty if it did not).
    """

    form: str
    model: Model | None = None
    result: ModelResult | None = None
    stats: FitStats | None = None
    error: str = ""

    def row(self) -> dict[str, Any]:
        """χ², reduced χ², AIC, BIC, χ² p-value and leave-one-out RMSE (None where undefined)."""
        r = self.result
        held_out = self.stats.loo_rmse if self.stats is not None else None
        if r is None:
            return {"form": self.form, "chisqr": None, "redchi": None, "aic": None, "bic": None, "p_chisqr": None,
                    "loo_rmse": held_out, "error": self.error}
        return {"form": self.form, "chisqr": float(r.chisqr), "redchi": float(r.redchi), "aic": float(r.aic),
                "bic": float(r.bic), "p_chisqr": goodness_of_fit(r) if r.weights is not None else None,
                "loo_rmse": held_out, "error": ""}


@dataclass(frozen=True)
class Selection:
    """Every candidate form of a statistic, which one was kept and why.

    Attributes
    ----------
    candidates
        In the order given.
    kept
        Form text of the kept candidate.
    reason
        Why it was kept, in words (``"lowest BIC of 3 fitted forms"``).
    """

    candidates: tuple[Candidate, ...]
    kept: str
    reason: str

    @property
    def fit(self) -> tuple[Model, ModelResult, FitStats] | None:
        """``(model, result, stats)`` of the kept smooth form; None when the interpolant was kept."""
        kept = next(c for c in self.candidates if c.form == self.kept)
        return None if kept.result is None else (kept.model, kept.result, kept.stats)

    def table(self) -> list[dict[str, Any]]:
        """One :meth:`Candidate.row` per candidate (JSON-able)."""
        return [_finite(c.row()) for c in self.candidates]

    def format_table(self) -> str:
        """The candidates as a fixed-width text table (``—`` where a number is undefined)."""
        head = f"  {'form':<28s} {'χ²':>11s} {'red. χ²':>11s} {'AIC':>11s} {'BIC':>11s} {'p(χ²)':>8s} {'LOO RMSE':>11s}"
        lines = [head]
        for c in self.candidates:
            row = c.row()
            cells = [_cell(row[k], 11) for k in ("chisqr", "redchi", "aic", "bic")]
            cells += [_cell(row["p_chisqr"], 8, ".3g"), _cell(row["loo_rmse"], 11)]
            mark = "*" if c.form == self.kept else " "
            lines.append(f"{mark} {c.form:<28s} " + " ".join(cells) + (f"  failed: {c.error}" if c.error else ""))
        return "\n".join(lines)


def _cell(value: float | None, width: int, spec: str = ".5g") -> str:
    return f"{'—':>{width}s}" if value is None or not math.isfinite(value) else f"{value:>{width}{spec}}"


def compare_forms(forms: str | Model | Sequence[str | Model], points: Points, *, what: str,
                  **options: Any) -> list[Candidate]:
    """Fit each smooth candidate form to ``points`` (:func:`fit_points`); a failure is kept with its message.

    Raises
    ------
    ValueError
        Without any form.
    """
    candidates = [forms] if isinstance(forms, (str, Model)) else list(forms)
    if not candidates:
        raise ValueError("give at least one form.")
    out = []
    for form in candidates:
        model = parse_form(form) if isinstance(form, str) else form
        try:
            result, stats = fit_points(model, points, what=f"{format_spec(model)} to {what}", **options)
        except FitError as exc:
            if len(candidates) == 1:
                raise
            out.append(Candidate(format_spec(model), model, error=str(exc)))
            continue
        out.append(Candidate(format_spec(model), model, result, stats))
    return out


def fit_best(forms: str | Model | Sequence[str | Model], points: Points, *, what: str,
             **options: Any) -> tuple[Model, ModelResult, FitStats]:
    """Fit one form, or each of several candidates and keep the lowest BIC (Bayesian information criterion).

    Candidates that fail (:class:`FitError`) are skipped; if all fail, the last error is raised
    with the list of failures.
    """
    best = _lowest_bic(compare_forms(forms, points, what=what, **options), what)
    return best.model, best.result, best.stats


def _lowest_bic(candidates: Sequence[Candidate], what: str) -> Candidate:
    fitted = [c for c in candidates if c.result is not None]
    if not fitted:
        raise FitError(f"no candidate form fits {what}: " + " | ".join(c.error for c in candidates))
    return min(fitted, key=lambda c: c.result.bic)


def choose_form(forms: str | Model | Sequence[str | Model], points: Points, *, what: str,
                **options: Any) -> tuple[Model, ModelResult, FitStats] | None:
    """The smooth candidate of lowest BIC, or None for the interpolant through the points.

    :data:`INTERPOLATE` among ``forms`` is the fallback: chosen when it is the only candidate, or
    when the best smooth candidate (:func:`fit_best`) fails the χ² test (:func:`goodness_of_fit`
    below :data:`GOF_LEVEL`). Without it the best smooth candidate is returned whatever its χ².
    :func:`select_form` makes the same choice and also keeps every candidate and the reason.

    Parameters
    ----------
    forms
        Candidate forms (see :func:`fit_best`), possibly including :data:`INTERPOLATE`.
    points
        From :func:`statistic_points`.
    what
        Description used in error messages.
    **options
        Passed to :func:`fit_points` (``params``, ``fixed``, ``max_nfev``).

    Returns
    -------
    (Model, ModelResult, FitStats) or None
        The chosen smooth fit, or None when the interpolant is chosen.

    Raises
    ------
    ValueError
        If :data:`INTERPOLATE` is a candidate but the points are single samples (x never repeats
        and no ``bins``): there is no per-x statistic to interpolate.
    FitError
        If every smooth candidate fails to fit.
    """
    return select_form(forms, points, what=what, **options).fit


def select_form(forms: str | Model | Sequence[str | Model], points: Points, *, what: str,
                **options: Any) -> Selection:
    """Fit every candidate form and keep one by the rule of :func:`choose_form`; see :class:`Selection`.

    Raises
    ------
    ValueError, FitError
        As :func:`choose_form`.
    """
    candidates = [forms] if isinstance(forms, (str, Model)) else list(forms)
    smooth = [c for c in candidates if not (isinstance(c, str) and c == INTERPOLATE)]
    if len(smooth) < len(candidates) and np.all(points.count < 2):
        raise ValueError(f"the {INTERPOLATE!r} form needs a sample set per x, but x never repeats in {what}; "
                         "pass bins=N (--bins N) or drop it from the candidates.")
    fallback = (Candidate(INTERPOLATE, stats=_interpolant_stats(points)),) if len(smooth) < len(candidates) else ()
    if not smooth:
        return Selection(fallback, INTERPOLATE, "the only candidate")
    fitted = tuple(compare_forms(smooth, points, what=what, **options))
    best = _lowest_bic(fitted, what)
    count = sum(c.result is not None for c in fitted)
    reason = "the only candidate" if len(candidates) == 1 else \
        f"lowest BIC ({best.result.bic:.4g}) of the {count} smooth form{'s' if count > 1 else ''} that fitted"
    if not fallback:
        return Selection(fitted, best.form, reason)
    p_value = goodness_of_fit(best.result)
    if p_value >= GOF_LEVEL:
        return Selection(fitted + fallback, best.form, f"{reason}, and it passes the χ² test "
                                                       f"(p = {p_value:.3g} ≥ {GOF_LEVEL:g})")
    return Selection(fitted + fallback, INTERPOLATE, f"the smooth form of lowest BIC, {best.form}, fails the χ² test "
                                                     f"(p = {p_value:.3g} < {GOF_LEVEL:g})")


def _start(model: Model, y: np.ndarray, x: np.ndarray, values: Mapping[str, float],
           fixed: Mapping[str, float]) -> Parameters:
    unknown = sorted((set(values) | set(fixed)) - set(model.param_names))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {format_spec(model)}; its parameters are "
                         f"{model.param_names}.")
    start = guess(model, y, x=x)
    for name, value in values.items():
        start[name].set(value=float(value))
    for name, value in fixed.items():
        start[name].set(value=float(value), vary=False)
    return start


def _values(params: Parameters) -> dict[str, float]:
    return {k: float(f"{p.value:.6g}") for k, p in params.items()}


def fit_stats(result: ModelResult, y: np.ndarray, weighted: bool) -> FitStats:
    """RMSE, NRMSE, R², the largest residual and the 95 % parameter intervals of an lmfit result."""
    from scipy import stats

    residual = y - result.best_fit
    dof = int(result.nfree)
    t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof))
    params = {}
    for name, p in result.params.items():
        err = float(p.stderr) if p.stderr is not None and (p.vary or p.expr) else None
        half = t * err if err is not None else 0.0
        params[name] = ParamStat(float(p.value), err, float(p.value) - half, float(p.value) + half)
    rmse = float(np.sqrt(np.mean(residual ** 2)))
    scale = float(np.ptp(y))
    total = float(np.sum((y - y.mean()) ** 2))
    return FitStats(points=int(y.size), dof=dof, rmse=rmse, nrmse=rmse / scale if scale > 0 else math.nan,
                    r2=1.0 - float(np.sum(residual ** 2)) / total if total > 0 else math.nan,
                    max_error=float(np.max(np.abs(residual))), confidence=CONFIDENCE, weighted=weighted,
                    params=params)


# ----------------------------------------------------------------------------- extraction

def extract(data: Any, x: str, y: str, form: str | Model | Sequence[str | Model], *, statistic: Statistic = "mean",
            quantile: float | None = None, bins: int | None = None, where: Mapping[str, Any] | None = None,
            melt: Mapping[str, float] | None = None,
            params: Mapping[str, float] | Parameters | None = None, fixed: Mapping[str, float] | None = None,
            variation: str | Model | Sequence[str | Model] | None = None,
            domain: tuple[float, float] | None = None, name: str | None = None,
            nan_policy: NanPolicy = "raise", max_nfev: int | None = None, seed: int = 0,
            device: str | None = None, note: str = "", study: Mapping[str, Any] | None = None) -> Extraction:
    """Fit a form to a statistic of ``y`` versus ``x`` and return it as a surrogate.

    Parameters
    ----------
    data
        DataFrame, Dataset, study folder or CSV (see :func:`load_table`).
    x, y
        Input and output columns.
    form
        Form text for :func:`~fitting.forms.parse_form` (``"tanh"``, ``"polynomial:3"``,
        ``"tanh + polynomial:1"``) or an lmfit model built from forms; a list of them picks the
        lowest BIC (:func:`fit_best`). :data:`INTERPOLATE` in the list is the fallback when the best
        smooth form fails the χ² test (:func:`choose_form`).
    statistic, quantile, bins
        What to fit (see :func:`statistic_points`).
    where
        Row filter, column → value.
    melt
        Stack wide columns into ``x``/``y`` (see :func:`load_table`).
    params
        Starting values overriding the guess, or complete lmfit ``Parameters``.
    fixed
        Parameters held at a value (name → value).
    variation
        Also fit σ(x) with this form (or the best of a list, chosen as for ``form``) and attach it as
        the surrogate's variation.
    domain
        Validity interval of x (default: the range of the samples). It must contain the samples' range
        and reach at most :data:`DOMAIN_MARGIN` of its width beyond it: a surrogate never extrapolates
        further than that from its data.
    name
        Surrogate name (default ``<y>_<statistic>``).
    nan_policy
        See :data:`NanPolicy`.
    max_nfev
        Limit on model evaluations per fit.
    seed
        Bootstrap seed (quantile standard errors).
    device, note
        Recorded in the provenance.
    study
        The study run the data came from (:meth:`spicegen.study.StudyRun.citation`), recorded in the
        provenance.

    Returns
    -------
    Extraction

    Raises
    ------
    KeyError, ValueError
        For missing columns, NaN, bad options.
    FitError
        When a fit does not converge or leaves parameters undetermined.
    """
    frame, meta = load_table(data, [x, y], where=where, melt=melt, nan_policy=nan_policy)
    xs, ys = frame[x].to_numpy(float), frame[y].to_numpy(float)
    lo, hi = _checked_domain(domain, xs, x)
    points = statistic_points(xs, ys, statistic, quantile=quantile, bins=bins, seed=seed)
    selection = select_form(form, points, what=f"the {points.statistic} of {y!r} vs {x!r}", params=params,
                            fixed=fixed, max_nfev=max_nfev)
    choice = selection.fit
    input_name = _input_name(x, choice[0].param_names if choice else _knot_names(points))
    base = name or _identifier(f"{y}_{points.statistic}")
    provenance = Provenance(version=_version(), dataset_hash=dataset_hash({x: xs, y: ys}),
                            statistic=points.statistic, form="", columns={"x": x, "y": y},
                            device=device, testbench=meta.get("testbench"), seed=meta.get("seed"),
                            source=meta.get("source"), note=note, study=study)
    surrogate = _chosen_surrogate(choice, points, base, input_name, (lo, hi), y, provenance)
    if statistic in ("lower", "upper"):
        side = ys >= surrogate(xs, out_of_domain="clip") if statistic == "lower" else \
            ys <= surrogate(xs, out_of_domain="clip")
        surrogate = replace(surrogate, stats=replace(surrogate.stats, coverage=float(np.mean(side))))
    sigma_selection = None
    if variation is not None:
        sigma = statistic_points(xs, ys, "std", bins=bins, seed=seed)
        sigma_selection = select_form(variation, sigma, what=f"the std of {y!r} (variation)", max_nfev=max_nfev)
        surrogate = replace(surrogate, variation=_chosen_surrogate(
            sigma_selection.fit, sigma, f"{base}_sigma", input_name, (lo, hi), f"std of {y}",
            replace(provenance, statistic="std")))
    return Extraction(surrogate, points, choice[1] if choice else None, xs, ys, selection, sigma_selection)


def _chosen_surrogate(choice: tuple[Model, ModelResult, FitStats] | None, points: Points, name: str,
                      input_name: str, domain: tuple[float, float], output: str, provenance: Provenance) -> Surrogate:
    """The surrogate of a :func:`choose_form` result: the fitted form, or the interpolant through ``points``."""
    if choice is None:
        return interpolant(points, name, input_name, domain, output, replace(provenance, form=INTERPOLATE))
    model, result, stats = choice
    return _surrogate(name, model, result, input_name, domain, output, stats,
                      replace(provenance, form=format_spec(model)))


def _knot_names(points: Points) -> list[str]:
    """Parameter names of :func:`interpolant` through ``points``: the value at each knot."""
    return [f"s{k}" for k in range(points.x.size)]


def goodness_of_fit(result: ModelResult) -> float:
    """p-value of the weighted fit's χ² (the probability of a χ² this large if the form were right).

    Only meaningful for a weighted fit (points with standard errors); 1.0 for an unweighted one.
    """
    from scipy import stats

    if result.weights is None or result.nfree < 1:
        return 1.0
    return float(stats.chi2.sf(result.chisqr, result.nfree))


def _checked_domain(domain: tuple[float, float] | None, xs: np.ndarray, column: str) -> tuple[float, float]:
    """``domain``, or the data's x range when None; refused unless it contains the data and extends beyond
    it by at most :data:`DOMAIN_MARGIN` of its width on each side."""
    first, last = float(xs.min()), float(xs.max())
    if domain is None:
        return first, last
    lo, hi = (float(v) for v in domain)
    slack = DOMAIN_MARGIN * (last - first)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= first and last <= hi
            and first - lo <= slack and hi - last <= slack):
        raise ValueError(f"domain [{lo:g}, {hi:g}] does not fit the data: {column!r} spans [{first:.6g}, {last:.6g}]. "
                         f"The domain must contain that range and reach at most {DOMAIN_MARGIN:.0%} of its width "
                         f"beyond it, i.e. lie within [{first - slack:.6g}, {last + slack:.6g}]; omit it to use the "
                         "data range.")
    return lo, hi


def interpolant(points: Points, name: str, input_name: str, domain: tuple[float, float], output: str,
                provenance: Provenance | None = None) -> Surrogate:
    """The piecewise-linear interpolant through the points (knots at their x), as a surrogate.

    Its parameters ``s0``, ``s1``, … are the point values, with their standard errors and 95 %
    intervals (normal approximation). The expression is the hinge form
    ``s0 + m0·(x − x0) + Σ_k (m_k − m_{k−1})·max(x − x_k, 0)`` with the slopes ``m_k`` written in
    terms of the values, so every rendering (numpy, torch, ONNX) evaluates it. Use it for a
    statistic needed only at discrete x (a quantised input) that no smooth form describes within
    its errors.

    Raises
    ------
    ValueError
        With fewer than two points or repeated x.
    """
    order = np.argsort(points.x)
    knots, value = [float(v) for v in points.x[order]], points.value[order]
    if len(knots) < 2 or np.any(np.diff(knots) <= 0):
        raise ValueError(f"an interpolant needs at least two distinct x, got {points.x.tolist()}.")
    names = _knot_names(points)
    slopes = [f"({names[k + 1]} - {names[k]})/{knots[k + 1] - knots[k]!r}" for k in range(len(knots) - 1)]
    terms = [f"{names[0]} + {slopes[0]}*({input_name} - {knots[0]!r})"]
    terms += [f"({slopes[k]} - {slopes[k - 1]})*numpy.maximum({input_name} - {knots[k]!r}, 0.0)"
              for k in range(1, len(slopes))]
    stats = _interpolant_stats(points)
    params = {n: float(v) for n, v in zip(names, value)}
    inside = knots[0] <= domain[0] and domain[1] <= knots[-1]  # numpy.interp holds the end values outside
    return Surrogate(name, " + ".join(terms), (input_name,), params, {input_name: domain}, output, stats, provenance,
                     knots=tuple(knots) if inside else None)


def _interpolant_stats(points: Points) -> FitStats:
    """Statistics of the interpolant through ``points``: no R² (it passes through every point), the
    leave-one-out RMSE of the inner knots, and each knot value with its normal-approximation interval."""
    order = np.argsort(points.x)
    x, value = points.x[order], points.value[order]
    err = points.stderr[order] if points.stderr is not None else np.full(x.size, np.nan)
    half = np.nan_to_num(1.959963984540054 * err)
    stat = {n: ParamStat(float(v), None if math.isnan(e) else float(e), float(v - h), float(v + h))
            for n, v, e, h in zip(_knot_names(points), value, err, half)}
    return FitStats(points=int(x.size), dof=0, rmse=0.0, nrmse=0.0, r2=math.nan, max_error=0.0,
                    confidence=CONFIDENCE, weighted=False, params=stat, loo_rmse=leave_one_out_rmse(x, value))


def leave_one_out_rmse(x: np.ndarray, value: np.ndarray) -> float | None:
    """RMS error of the piecewise-linear interpolant at each inner knot when that knot is left out
    (predicted from its two neighbours); None with fewer than three distinct knots.

    >>> leave_one_out_rmse(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 1.0, 4.0, 9.0]))
    1.0
    """
    order = np.argsort(x)
    x, value = np.asarray(x, float)[order], np.asarray(value, float)[order]
    if x.size < 3 or np.any(np.diff(x) <= 0):
        return None
    weight = (x[1:-1] - x[:-2]) / (x[2:] - x[:-2])
    predicted = value[:-2] + weight * (value[2:] - value[:-2])
    return float(np.sqrt(np.mean((value[1:-1] - predicted) ** 2)))


def _surrogate(name: str, model: Model, result: ModelResult, input_name: str, domain: tuple[float, float],
               output: str, stats: FitStats, provenance: Provenance) -> Surrogate:
    expression = format_expression(model, {model.independent_vars[0]: input_name})
    return Surrogate(name, expression, (input_name,), {k: p.value for k, p in result.params.items()},
                     {input_name: domain}, output, stats, provenance)


def _input_name(column: str, param_names: Sequence[str]) -> str:
    """The column name as the surrogate's input when it is a clean identifier, else ``x``."""
    ok = re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", column) and column not in param_names \
        and column not in ("numpy", "torch", "math", "self")
    return column if ok else "x"


def _identifier(text: str) -> str:
    clean = re.sub(r"\W+", "_", text).strip("_")
    return clean if clean and clean[0].isalpha() else f"s_{clean}"


def _version() -> str:
    import spicegen

    return spicegen.__version__


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# ----------------------------------------------------------------------------- figures

def format_residual_plot(extraction: Extraction) -> bytes:
    """PNG bytes: samples, fitted points and curve (top) and residuals of the points (bottom)."""
    plt = pyplot()

    s, p = extraction.surrogate, extraction.points
    lo, hi = s.domain[s.inputs[0]]
    grid = np.linspace(lo, hi, 400)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 6.0), sharex=True, height_ratios=(2, 1))
    keep = np.random.default_rng(0).permutation(extraction.x.size)[:5000]
    if p.statistic in ("mean", "lower", "upper") or p.statistic.startswith("quantile"):
        top.plot(extraction.x[keep], extraction.y[keep], ".", ms=2, color="0.75", label="samples")
    top.errorbar(p.x, p.value, yerr=p.stderr, fmt="o", ms=3, color="C0", label=p.statistic)
    top.plot(grid, s(grid), "-", color="C1", label=f"fit: {s.provenance.form if s.provenance else ''}")
    if s.variation is not None and p.statistic == "mean":
        mean, sigma = s(grid), s.sigma(grid)
        top.fill_between(grid, mean - 3 * sigma, mean + 3 * sigma, color="C1", alpha=0.2, label="±3σ (fitted)")
    top.set_ylabel(s.output)
    stats = s.stats
    title = textwrap.fill(f"{s.name}: {stats.describe()}", 80) if stats else s.name
    top.set_title(title, fontsize=9)
    top.legend(fontsize=8)
    residual = p.value - s(p.x, out_of_domain="clip")
    bottom.errorbar(p.x, residual, yerr=p.stderr, fmt="o", ms=3, color="C0")
    bottom.axhline(0.0, color="k", lw=0.8)
    bottom.set_xlabel(s.provenance.columns.get("x", s.inputs[0]) if s.provenance else s.inputs[0])
    bottom.set_ylabel("residual")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


__all__ = ["CONFIDENCE", "DOMAIN_MARGIN", "GOF_LEVEL", "INTERPOLATE", "Candidate", "Extraction", "FitError", "NanPolicy", "Points",
           "Selection", "Statistic", "choose_form", "compare_forms", "dataset_hash", "extract", "fit_best", "fit_points",
           "fit_stats", "format_residual_plot", "goodness_of_fit", "interpolant", "leave_one_out_rmse", "load_table",
           "select_form", "statistic_points"]
