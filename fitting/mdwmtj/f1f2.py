"""The shipped f1 / f2 extractions of the P²M MAC [Kaiser et al. 2024, §2.4, Fig. 6] from the ngspice Monte Carlo.

``spicegen extract p2m-f1 --from RUN --out OUT`` reads a finished run of the study ``p2m-f1``
(:mod:`testbenches.mdwmtj.studies`; one Monte Carlo folder ``f1_<config>`` per weight configuration)
and writes, per configuration, the surrogate JSON ``f1_<config>.json``, a report JSON, a residual plot,
and ``summary.json`` + ``report.md`` with the held-out checks (shipped in ``fitting/extractions/p2m``).
``spicegen extract p2m-f2 --from RUN`` does the same for a run of ``p2m-f2`` (``f2_lower``, ``f2_mean``;
shipped in ``fitting/extractions/p2m_f2``). Every surrogate cites its run (``provenance.study``).

- **f1** (per weight configuration): d_NORM = (Δq − Δq_nom(x_min)) / (Δq_nom(1) − Δq_nom(x_min)), the
  definition of ``testbenches.mdwmtj.studies`` (the nominal curve spans [0, 1]; its full scale is 1),
  at the nine weights x = k/9 (the domain is the measured [1/9, 1]). The mean and σ(x) follow one
  rule (:func:`fitting.extract.choose_form`): the smooth candidate of lowest BIC (:data:`F1_FORM`,
  :data:`SIGMA_FORM`) if it passes the χ² test at 5 %, else the piecewise-linear interpolant through
  the per-x values. Both are fitted on the even-numbered samples.
- **f2**: V_PRE / V_RD against d_DIFF = (q_POS − q_NEG) / l_FL; the worst-case lower bound is a
  piecewise-linear quantile regression at :data:`F2_TAU` (pinball loss, a linear programme) on the samples
  numbered 0 mod 4, lowered by a split-conformal shift calibrated on those numbered 2 mod 4
  (:func:`conformal_rank`): with probability ≥ 1 − :data:`F2_DELTA` over the calibration draw, at most
  :data:`F2_ALPHA` of new samples fall below it (training-conditional split conformal, Vovk 2012).

Held-out check (odd-numbered samples, the targets of the f1/f2 extraction): f1's mean within 2 % of full
scale and its σ within 10 % relative at every x, next to the 95 % sampling resolution of that σ
comparison (:func:`sigma_rel_stderr`); for the f2 bound, the fraction of held-out samples below it with
its one-sided 95 % Clopper–Pearson upper limit, against the stated :data:`F2_ALPHA` (and the largest
shortfall, in % of V_NORM's full range). :func:`layer_f1` converts f1 into the units of the P²M layer.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from spicegen.files import write_json, write_text
from spicegen.study import Extraction, StudyRun, register_extraction

from fitting.extract import INTERPOLATE, Extraction as Fitted, FitError, extract, load_table
from fitting.surrogate import Surrogate


F1_FORM = ("polynomial:2", "polynomial:3", "polynomial:4", "saturating_exponential", "tanh", "piecewise_linear:2",
           INTERPOLATE)
"""Candidate forms of the f1 mean: the smooth form of lowest BIC on the fitted half if it passes the χ² test
at 5 %, else the per-x interpolant (the weights are quantised to k/9, so the mean is only needed at the nine
measured x)."""
SIGMA_FORM = ("polynomial:1", "polynomial:2", "polynomial:3", "polynomial:4", "piecewise_linear:1",
              "piecewise_linear:2", "piecewise_linear:3", INTERPOLATE)
"""Candidate forms of σ(x) of f1: the smooth form of lowest BIC if it passes the χ² test at 5 %, else the
per-x interpolant (the weights are quantised to k/9, so σ is only needed at the nine measured x)."""
F2_TAU = 0.0005
"""Quantile level of the f2 lower-bound regression. Below the 0.1 % the bound is for, but not what makes
it hold: the conformal shift (:func:`conformal_rank`) does that, whatever the regression's quality."""
F2_KNOTS = 21
"""Knots of the piecewise-linear quantile regression of the f2 bound: equal-count in d_DIFF over the fitted
split (the middle one at the median, d_DIFF ≈ 0, where the divider balances), the outer two moved to ±1.
Evenly spaced knots were tried on the shipped run: its thin end segments (|d_DIFF| > 0.9, ~50 samples each)
gathered the calibration misses, which made the conformal shift 8× larger (0.0013 vs 0.00015) everywhere;
equal-count knots spread the misses over d_DIFF and leave the ends a little loose instead."""
F2_MIN_PER_SEGMENT = 20
"""Fewer knots when the fitted split is small: at least this many samples between two knots."""
F2_ALPHA = 0.001
"""Stated miscoverage of the f2 bound: at most 0.1 % of samples below it."""
F2_DELTA = 0.05
"""The f2 bound's miscoverage is at most :data:`F2_ALPHA` with probability 1 − δ over the calibration draw."""
F2_BINS = 40
"""Equal-count bins of d_DIFF for the f2 mean (and the per-bin minima drawn beside the f2 bound)."""
F2_MEAN_FORM = ("tanh", "polynomial:3", "polynomial:5", "piecewise_linear:3", "piecewise_linear:4")
"""Candidate forms of the f2 mean curve."""
F2_SIGMA_FORM = ("polynomial:2", "polynomial:4", "piecewise_linear:2", "piecewise_linear:3", INTERPOLATE)
"""Candidate forms of σ(d_DIFF) of f2: the spread of V_PRE about the fitted mean curve."""
F2_SIGMA_BINS = 16
"""Equal-count bins of d_DIFF for σ of f2 (≈ 300 samples per bin and half; 8 and 10 bins: docs/fitting.md)."""
Z95 = 1.959963984540054
"""Two-sided 95 % normal quantile."""
MEAN_TARGET, SIGMA_TARGET = 0.02, 0.10
"""Held-out targets: mean within 2 % of full scale, spread within 10 % relative."""


def sigma_rel_stderr(samples: np.ndarray) -> np.ndarray:
    """Relative standard error of the sample σ of each column, kurtosis included.

    ``½·√(2/(n−1) + κ/n)`` with κ the sample excess kurtosis: the sampling noise of a σ estimated from
    ``n`` samples, which bounds how well any σ(x) can agree with a held-out σ of the same size.
    """
    from scipy import stats

    n = samples.shape[0]
    kurtosis = stats.kurtosis(samples, axis=0)
    return 0.5 * np.sqrt(np.maximum(2 / (n - 1) + kurtosis / n, 0.0))


def _halves(frame: Any) -> tuple[Any, Any]:
    even = frame["sample"].to_numpy() % 2 == 0
    return frame[even], frame[~even]


def f1_extraction(frame: Any, nominal: np.ndarray, config: str) -> tuple[Fitted, dict[str, Any]]:
    """Fit f1 of one configuration on half the samples; check it on the other half.

    Parameters
    ----------
    frame
        One row per sample: ``sample`` and the displacements ``dq0`` … ``dq8`` (m) at the weights
        ``F1_X`` (its ``attrs`` name the testbench, seed and source for the provenance).
    nominal
        Nominal displacements (m) at those weights.
    config
        Weight configuration (names the surrogate ``f1_<config>``).
    """
    from testbenches.mdwmtj.mac import F1_X

    frame = frame.copy()
    for k in range(len(F1_X)):
        frame[f"dq{k}"] = (frame[f"dq{k}"] - nominal[0]) / (nominal[-1] - nominal[0])
    fit, held = _halves(frame)
    melt = {f"dq{k}": float(x) for k, x in enumerate(F1_X)}
    e = extract(fit, "x", "d_norm", F1_FORM, melt=melt, variation=SIGMA_FORM,
                name=f"f1_{config}", device="mdwmtj", note=f"P2M f1, {config} weights; fitted on even samples")
    samples = held[list(melt)].to_numpy(float)
    x = np.asarray(F1_X)
    mean_error = np.abs(e.surrogate(x) - samples.mean(axis=0))
    sigma_held = samples.std(axis=0, ddof=1)
    sigma_error = np.abs(e.surrogate.sigma(x) - sigma_held) / sigma_held
    resolution = Z95 * np.hypot(sigma_rel_stderr(fit[list(melt)].to_numpy(float)), sigma_rel_stderr(samples))
    check = {"fit_samples": int(len(fit)), "held_out_samples": int(len(samples)),
             **_held_out(mean_error, sigma_error, resolution), "sigma_held_out": sigma_held.tolist(),
             "nominal_m": nominal.tolist(), "worst_range_fs": float(np.max(np.ptp(samples, axis=0))),
             "worst_6sigma_fs": float(np.max(6 * sigma_held))}
    return e, check


def _held_out(mean_error: np.ndarray, sigma_error: np.ndarray, resolution: np.ndarray) -> dict[str, Any]:
    """The held-out check: largest mean error (fraction of full scale) and relative σ error, per-point σ
    errors with their 95 % sampling resolution, and whether both meet the targets."""
    return {"mean_max_error_fs": float(mean_error.max()), "sigma_max_rel_error": float(sigma_error.max()),
            "sigma_rel_error": sigma_error.tolist(), "sigma_resolution_95": resolution.tolist(),
            "sigma_within_resolution": int(np.sum(sigma_error <= resolution)),
            "mean_within_target": bool(mean_error.max() <= MEAN_TARGET),
            "sigma_within_target": bool(sigma_error.max() <= SIGMA_TARGET)}


def layer_f1(f1: Surrogate, nominal: Sequence[float]) -> tuple[Surrogate, float]:
    """The shipped f1 in the units of :class:`fitting.mdwmtj.layer.P2MLayer`, and the layer's ``capacity``.

    d_NORM of the extraction has its offset removed (the nominal Δq at the smallest weight). The
    layer needs the whole displacement of one event in units of the nominal span
    ``S = Δq_nom(1) − Δq_nom(x_min)``: ``d_NORM(x) + Δq_nom(x_min)/S``; then ``capacity = l_FL/S``
    events of weight 1 fill the track. Below the smallest measured weight x_min (1/9) no data exist;
    there the displacement and its σ are assumed to fall linearly to 0 at x = 0 (no event, no write).
    The domain becomes [0, 1]; the variation is carried over the same way.
    """
    from spicegen.devices.mdwmtj import L_FL

    from fitting.expression import substitute

    name = f1.inputs[0]
    lo, hi = f1.domain[name]
    span = float(nominal[-1] - nominal[0])
    ramp = f"numpy.minimum({name}/{lo!r}, 1.0)"
    inner = f"numpy.maximum({name}, {lo!r})"

    def rewrite(s: Surrogate, offset: float) -> Surrogate:
        body = substitute(s.expression, name, inner, {name, *s.params})
        return Surrogate(s.name, f"{ramp}*({body} + {offset!r})", s.inputs, s.params, {name: (0.0, hi)}, s.output,
                         s.stats, s.provenance)

    variation = rewrite(f1.variation, 0.0) if f1.variation is not None else None
    layer = replace(rewrite(f1, float(nominal[0]) / span), name=f"{f1.name}_layer", variation=variation)
    return layer, L_FL / span


def hat_basis(x: np.ndarray, knots: np.ndarray) -> Any:
    """Sparse ``(len(x), len(knots))`` matrix of the piecewise-linear interpolation weights of ``x`` between
    ``knots`` (each row: two weights summing to 1), so that ``basis @ values`` interpolates knot values."""
    from scipy import sparse

    j = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, knots.size - 2)
    t = np.clip((x - knots[j]) / (knots[j + 1] - knots[j]), 0.0, 1.0)
    rows = np.repeat(np.arange(x.size), 2)
    cols = np.column_stack([j, j + 1]).ravel()
    return sparse.csr_matrix((np.column_stack([1 - t, t]).ravel(), (rows, cols)), shape=(x.size, knots.size))


def quantile_knots(x: np.ndarray, y: np.ndarray, knots: np.ndarray, tau: float) -> np.ndarray:
    """Knot values of the piecewise-linear ``tau``-quantile regression of ``y`` on ``x``.

    Minimises the pinball loss Σ τ·max(r, 0) + (1 − τ)·max(−r, 0), r = y − f(x), as the linear programme
    ``B·s + u − w = y``, u, w ≥ 0 (HiGHS). With ``tau`` → 0 the curve settles under the lower envelope.

    Raises
    ------
    FitError
        If the solver does not find the optimum.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    basis = hat_basis(x, knots)
    n, k = basis.shape
    cost = np.concatenate([np.zeros(k), np.full(n, tau), np.full(n, 1.0 - tau)])
    equality = sparse.hstack([basis, sparse.eye(n), -sparse.eye(n)], format="csr")
    bounds = [(None, None)] * k + [(0.0, None)] * (2 * n)
    result = linprog(cost, A_eq=equality, b_eq=y, bounds=bounds, method="highs")
    if not result.success:
        raise FitError(f"the {tau:g}-quantile regression of the f2 bound failed on {n} samples: {result.message}")
    return result.x[:k]


def f2_knots(d: np.ndarray, count: int = F2_KNOTS, minimum: int = F2_MIN_PER_SEGMENT) -> np.ndarray:
    """Knots at equal-count quantiles of the samples ``d`` (at most ``count``, at least ``minimum`` samples per
    segment), the outer two moved to the domain's ends ±1."""
    knots = np.quantile(d, np.linspace(0.0, 1.0, int(min(count, max(2, d.size // minimum + 1)))))
    knots[0], knots[-1] = -1.0, 1.0
    return knots


def conformal_rank(n: int, alpha: float, delta: float) -> tuple[int, float]:
    """Which calibration score lowers a bound by how much, and the miscoverage it guarantees.

    With scores s = bound(x) − y of ``n`` exchangeable calibration samples and the bound lowered by the
    j-th largest score, the miscoverage P(y_new below) of a new sample is Beta(j, n + 1 − j) distributed
    over the calibration draw (continuous scores). The largest j with P(miscoverage > ``alpha``) ≤ ``delta``
    gives the tightest bound that holds at ``alpha`` with probability ≥ 1 − ``delta``; its expected
    miscoverage is j/(n + 1) < ``alpha``.

    Returns
    -------
    tuple
        (j, stated miscoverage): ``alpha``; or, when ``n`` is too small for any j (below about
        3/``alpha``), j = 1 (the largest score) and the miscoverage it does guarantee at 1 − ``delta``.

    >>> conformal_rank(10000, 0.001, 0.05)
    (5, 0.001)
    """
    from scipy.stats import beta

    j = np.arange(1, n + 1)
    ok = np.flatnonzero(beta.sf(alpha, j, n + 1 - j) <= delta)
    if ok.size:
        return int(j[ok[-1]]), alpha
    return 1, float(beta.isf(delta, 1, n))


def _f2_splits(frame: Any) -> tuple[Any, Any, Any]:
    """(fitted, calibration, held-out) samples of f2: numbers 0 mod 4, 2 mod 4, odd."""
    number = frame["sample"].to_numpy() % 4
    return frame[number == 0], frame[number == 2], frame[number % 2 == 1]


def f2_extraction(frame: Any, *, tau: float = F2_TAU, alpha: float = F2_ALPHA,
                  delta: float = F2_DELTA) -> tuple[Fitted, dict[str, Any]]:
    """The f2 lower bound: quantile regression, split-conformal shift, held-out check.

    Parameters
    ----------
    frame
        One row per sample with ``sample``, ``d_diff`` (units of l_FL) and ``v_pre`` (V_PRE/V_RD); its
        ``attrs`` name the testbench, seed and source for the provenance.
    tau, alpha, delta
        See :data:`F2_TAU`, :data:`F2_ALPHA`, :data:`F2_DELTA`.

    Returns
    -------
    tuple
        The extraction (surrogate ``f2_lower``: the piecewise-linear bound through its knots) and the
        check: split sizes, the conformal rank and shift, the stated and expected miscoverage, and on
        the held-out samples the count and fraction below with its one-sided 95 % upper limit.
    """
    import spicegen
    from scipy.stats import beta

    from fitting.extract import dataset_hash, interpolant, statistic_points
    from fitting.surrogate import FitStats, ParamStat, Provenance

    fit, cal, held = _f2_splits(frame)
    d, v = fit["d_diff"].to_numpy(float), fit["v_pre"].to_numpy(float)
    knots = f2_knots(d)
    count = knots.size
    values = quantile_knots(d, v, knots, tau)
    scores = hat_basis(cal["d_diff"].to_numpy(float), knots) @ values - cal["v_pre"].to_numpy(float)
    rank, stated = conformal_rank(scores.size, alpha, delta)
    shift = float(np.sort(scores)[-rank])
    form = f"quantile {tau:g}, piecewise linear ({count} knots) + split-conformal shift"
    provenance = Provenance(version=spicegen.__version__, dataset_hash=dataset_hash({"d_diff": d, "v_pre": v}),
                            statistic="lower", form=form, columns={"x": "d_diff", "y": "v_pre"}, device="mdwmtj",
                            testbench=frame.attrs.get("testbench"), seed=frame.attrs.get("seed"),
                            source=frame.attrs.get("source"),
                            note=f"P2M f2 worst-case lower bound: quantile regression on samples 0 mod 4, conformal "
                                 f"shift on 2 mod 4; at most {stated:g} below with probability {1 - delta:g}")
    minima = statistic_points(d, v, "lower", bins=F2_BINS)
    bound = interpolant(replace(minima, x=knots, value=values - shift, stderr=None), "f2_lower", "d_diff",
                        (-1.0, 1.0), "v_pre", provenance)
    used = np.concatenate([v, cal["v_pre"].to_numpy(float)])
    residual = v - bound(d)
    stats = FitStats(points=int(d.size), dof=int(d.size - count), rmse=float(np.sqrt(np.mean(residual ** 2))),
                     nrmse=float(np.sqrt(np.mean(residual ** 2)) / np.ptp(v)), r2=math.nan,
                     max_error=float(np.abs(residual).max()), confidence=0.95, weighted=False,
                     params={k: ParamStat(float(x), None, float(x), float(x)) for k, x in bound.params.items()},
                     coverage=float(np.mean(used >= bound(np.concatenate([d, cal["d_diff"].to_numpy(float)])))))
    bound = replace(bound, stats=stats)
    below = bound(held["d_diff"].to_numpy(float)) - held["v_pre"].to_numpy(float)
    n_held, n_below = int(below.size), int(np.sum(below > 0))
    full = float(np.ptp(frame["v_pre"].to_numpy(float)))
    check = {"form": form, "tau": tau, "knots": count, "fit_samples": int(d.size), "calibration_samples": int(scores.size),
             "alpha": alpha, "delta": delta, "rank": rank, "shift": shift, "stated_miscoverage": stated,
             "expected_miscoverage": rank / (scores.size + 1), "coverage_fit": stats.coverage,
             "held_out_samples": n_held, "held_out_below": n_below, "held_out_below_fraction": n_below / n_held,
             "held_out_below_upper95": float(beta.ppf(0.95, n_below + 1, n_held - n_below)),
             "held_out_coverage": 1.0 - n_below / n_held, "holds": bool(n_below / n_held <= stated),
             "largest_shortfall_fs": float(max(below.max(), 0.0) / full), "v_norm_full_range": full}
    return Fitted(bound, minima, None, d, v), check


def f2_mean_extraction(frame: Any, bins: int = F2_SIGMA_BINS) -> tuple[Fitted, dict[str, Any]]:
    """Fit the f2 mean curve and σ about it on half the samples; check both on the other half.

    σ(d_DIFF) is the standard deviation of the residuals V_PRE − mean(d_DIFF) in ``bins`` equal-count
    bins, so the mean's slope across a bin does not count as spread. Held-out errors are taken per bin
    (the fitted half's bin edges) against the held-out bin mean and residual σ, with the sampling
    resolution of the σ comparison as for f1.
    """
    fit, held, full = _f2_halves(frame)
    mean = extract(fit, "d_diff", "v_pre", F2_MEAN_FORM, statistic="mean", bins=F2_BINS, domain=(-1.0, 1.0),
                   name="f2_mean", device="mdwmtj", note="P2M f2 mean curve; fitted on even samples")
    residual = fit.assign(resid=fit["v_pre"] - mean.surrogate(fit["d_diff"].to_numpy(float), out_of_domain="clip"))
    sigma = extract(residual, "d_diff", "resid", F2_SIGMA_FORM, statistic="std", bins=bins, domain=(-1.0, 1.0),
                    name="f2_sigma", device="mdwmtj", note="P2M f2 spread about the mean curve; fitted on even samples")
    e = replace(mean, surrogate=replace(mean.surrogate, variation=sigma.surrogate))
    edges = np.quantile(fit["d_diff"].to_numpy(float), np.linspace(0, 1, bins + 1))

    def bin_of(d: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(edges, d, side="right") - 1, 0, bins - 1)

    r_fit, b_fit = residual["resid"].to_numpy(float), bin_of(residual["d_diff"].to_numpy(float))
    d, v = held["d_diff"].to_numpy(float), held["v_pre"].to_numpy(float)
    r, b = v - mean.surrogate(d, out_of_domain="clip"), bin_of(d)
    counts = np.bincount(b, minlength=bins)
    if counts.min() < 2:
        raise ValueError(f"f2: a held-out bin of d_DIFF holds {counts.min()} sample(s) of {len(d)}; the σ check needs "
                         f"two per bin ({bins} bins): run p2m-f2 with more samples.")
    centre = np.array([d[b == k].mean() for k in range(bins)])
    mean_error = np.abs(e.surrogate(centre, out_of_domain="clip") - [v[b == k].mean() for k in range(bins)]) / full
    sigma_held = np.array([r[b == k].std(ddof=1) for k in range(bins)])
    sigma_error = np.abs(e.surrogate.sigma(centre, out_of_domain="clip") - sigma_held) / sigma_held
    resolution = np.array([Z95 * np.hypot(sigma_rel_stderr(r_fit[b_fit == k, None])[0], sigma_rel_stderr(r[b == k, None])[0])
                           for k in range(bins)])
    check = {"fit_samples": int(len(r_fit)), "held_out_samples": int(len(r)), "sigma_bins": bins,
             **_held_out(mean_error, sigma_error, resolution)}
    return e, check


def _f2_halves(frame: Any) -> tuple[Any, Any, float]:
    """The f2 samples as (fitted half, held-out half, full range of V_PRE)."""
    fit, held = _halves(frame)
    return fit, held, float(np.ptp(frame["v_pre"].to_numpy(float)))


def f2_frame(folder: Path) -> Any:
    """The samples of a ``p2m-f2`` Monte Carlo folder with ``d_diff`` = d_POS − d_NEG (units of l_FL)."""
    frame, meta = load_table(folder, ["d_pos", "d_neg", "v_pre"])
    frame["d_diff"] = frame["d_pos"] - frame["d_neg"]
    frame.attrs.update({k: meta[k] for k in ("testbench", "seed", "source")})
    return frame


@register_extraction
class P2mF1Extraction(Extraction):
    """f1 per weight configuration: mean d_NORM(x) and σ(x) of the displacement per event, with held-out checks."""

    name = "p2m-f1"
    source = "p2m-f1"
    statistic = "mean, std"
    form = "lowest BIC of F1_FORM / SIGMA_FORM passing the chi-square test, else interpolate"
    folder = "extractions/p2m"

    def fit(self, run: StudyRun, out: Path) -> list[Path]:
        """``f1_<config>.json`` (+ report, residual plot) per configuration of ``run``, ``summary.json``
        (with the nominal Δq per configuration, which :func:`layer_f1` needs) and ``report.md``."""
        from testbenches.mdwmtj.mac import F1_X

        data = run.result["data"]
        summary: dict[str, Any] = {"study": run.citation(brief=True), "forms": {"f1": F1_FORM, "sigma": SIGMA_FORM},
                                   "f1": {}}
        files: list[Path] = []
        for config in data["configs"]:
            frame, meta = load_table(run.folder / f"f1_{config}", [f"dq{k}" for k in range(len(F1_X))])
            frame.attrs.update({k: meta[k] for k in ("testbench", "seed")}, source=f"{run.folder.name}/f1_{config}")
            e, check = f1_extraction(frame, np.asarray(data["f1"][config]["nominal_m"]), config)
            e = e.citing(run.citation())
            files += e.write_report(out)
            summary["f1"][config] = {"form": e.surrogate.provenance.form,
                                     "sigma_form": e.surrogate.variation.provenance.form,
                                     "r2": e.surrogate.stats.r2, "nrmse": e.surrogate.stats.nrmse, **check}
        return [*files, write_json(out / "summary.json", summary), write_text(out / "report.md", f1_report(summary))]


@register_extraction
class P2mF2Extraction(Extraction):
    """f2: worst-case lower bound and mean curve (with σ about it) of V_PRE/V_RD vs d_DIFF, with held-out checks."""

    name = "p2m-f2"
    source = "p2m-f2"
    statistic = "lower; mean, std"
    form = "quantile regression + split-conformal shift (lower), lowest BIC of F2_MEAN_FORM (mean), F2_SIGMA_FORM (std)"
    folder = "extractions/p2m_f2"

    def fit(self, run: StudyRun, out: Path) -> list[Path]:
        """``f2_lower.json`` and ``f2_mean.json`` (+ reports, residual plots), ``summary.json`` and ``report.md``."""
        frame = f2_frame(run.folder / "f2")
        frame.attrs["source"] = f"{run.folder.name}/f2"  # the run folder's name, not where it lay
        lower, check = f2_extraction(frame)
        mean, mean_check = f2_mean_extraction(frame)
        lower, mean = lower.citing(run.citation()), mean.citing(run.citation())
        summary = {"study": run.citation(brief=True),
                   "forms": {"f2": check["form"], "f2_mean": F2_MEAN_FORM, "f2_sigma": F2_SIGMA_FORM},
                   "f2": check,
                   "f2_mean": {"form": mean.surrogate.provenance.form,
                               "sigma_form": mean.surrogate.variation.provenance.form,
                               "r2": mean.surrogate.stats.r2, **mean_check}}
        return [*lower.write_report(out), *mean.write_report(out), write_json(out / "summary.json", summary),
                write_text(out / "report.md", f2_report(summary))]


def _source(summary: dict[str, Any], name: str) -> list[str]:
    """The report's lines naming the source run and how to regenerate the files."""
    study = summary["study"]
    options = " ".join(f"--set {k}={v}" for k, v in study["options"].items())
    return [f"Source run: study `{study['study']}`, key `{study['key'] or 'none'}`, n = {study['n']}, seed {study['seed']}, "
            f"options {options or 'default'}{'; ' + study['note'] if study.get('note') else ''}.", "",
            f"Regenerate: `spicegen study run {study['study']} --n {study['n']} --seed {study['seed']} {options} "
            f"--out RUN`, then `spicegen extract {name} --from RUN --out OUT`.", ""]


def _r2_text(r2: float | None) -> str:
    """R² to five decimals, or "interpolant" for a mean through every point (no R²: NaN, ``null`` in JSON)."""
    return "interpolant" if r2 is None or math.isnan(r2) else f"{r2:.5f}"


def f1_report(summary: dict[str, Any]) -> str:
    """``report.md`` of the f1 extraction: a table of the held-out checks."""
    lines = ["# P²M f1 extraction", "", *_source(summary, "p2m-f1"),
             "Forms chosen by the lowest BIC among candidates, fitted on even-numbered samples, checked on "
             "odd-numbered ones.", "",
             "Samples per f1 configuration (fitted + held out): "
             + ", ".join(f"{c} {s['fit_samples']} + {s['held_out_samples']}" for c, s in summary["f1"].items())
             + ".", "",
             "| f1 config | mean form | σ form | R² | held-out mean error (% FS) | held-out σ error (max rel.) "
             "| resolution: 95 % sampling noise of that check (max) | x within resolution | worst range (% FS) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for config, s in summary["f1"].items():
        lines.append(f"| {config} | `{s['form']}` | `{s['sigma_form']}` | {_r2_text(s['r2'])} | {100 * s['mean_max_error_fs']:.2f} "
                     f"({'≤' if s['mean_within_target'] else '>'} 2) | {100 * s['sigma_max_rel_error']:.1f} % "
                     f"({'≤' if s['sigma_within_target'] else '>'} 10 %) | {100 * max(s['sigma_resolution_95']):.1f} % "
                     f"| {s['sigma_within_resolution']}/{len(s['sigma_rel_error'])} | {100 * s['worst_range_fs']:.1f} |")
    lines += ["", "Mean and σ(x): the smooth candidate of lowest BIC when it passes the χ² test at 5 % on the fitted "
                  "half, else `interpolate`, the piecewise-linear interpolant through the per-x values (x is quantised "
                  "to k/9, so f1 is needed only there). The held-out σ check compares two σ estimates of the same size; "
                  "its 95 % sampling resolution (½·√(2/(n−1) + κ/n) per half, combined, × 1.96) is the error a "
                  "perfect σ(x) would still show (column 'resolution'); where it approaches 10 %, the target is at the "
                  "noise floor of the check, and only more samples (≈ 800 per half for ≤ 10 % at all nine x with "
                  "Gaussian samples) can show it."]
    return "\n".join(lines) + "\n"


def f2_report(summary: dict[str, Any]) -> str:
    """``report.md`` of the f2 extraction: the lower bound's guarantee and held-out check, the mean's checks."""
    f2, m = summary["f2"], summary["f2_mean"]
    lines = ["# P²M f2 extraction", "", *_source(summary, "p2m-f2"),
             f"f2 lower bound (`{f2['form']}`): the {f2['tau']:g}-quantile regression on {f2['fit_samples']} samples "
             f"(numbers 0 mod 4), lowered by the {f2['rank']}th largest of {f2['calibration_samples']} calibration "
             f"scores (numbers 2 mod 4; shift {f2['shift']:.4g}). Guarantee (split conformal, training-conditional): "
             f"at most {100 * f2['stated_miscoverage']:.3g} % of new samples below it, with probability "
             f"≥ {100 * (1 - f2['delta']):.3g} % over the calibration draw (expected "
             f"{100 * f2['expected_miscoverage']:.3g} %).", "",
             f"Held out (odd numbers): {f2['held_out_below']} of {f2['held_out_samples']} samples below the bound, "
             f"{100 * f2['held_out_below_fraction']:.3f} % (one-sided 95 % upper limit "
             f"{100 * f2['held_out_below_upper95']:.3f} %; stated {100 * f2['stated_miscoverage']:.3g} %: "
             f"{'holds' if f2['holds'] else 'DOES NOT HOLD'}); largest shortfall "
             f"{100 * f2['largest_shortfall_fs']:.3f} % of V_NORM's full range.", "",
             f"f2 mean (`{m['form']}`, R² {m['r2']:.5f}) with σ about it (`{m['sigma_form']}`, "
             f"{m['sigma_bins']} equal-count bins), fitted on {m['fit_samples']} (even numbers), checked on "
             f"{m['held_out_samples']} held-out samples: mean error {100 * m['mean_max_error_fs']:.2f} % FS "
             f"({'≤' if m['mean_within_target'] else '>'} 2), σ error {100 * m['sigma_max_rel_error']:.1f} % "
             f"({'≤' if m['sigma_within_target'] else '>'} 10 %), resolution {100 * max(m['sigma_resolution_95']):.1f} %, "
             f"{m['sigma_within_resolution']}/{m['sigma_bins']} bins within it."]
    return "\n".join(lines) + "\n"
