"""``reram-d2d-joint``: the d2d law of ``reram_cmo`` fitted jointly to Fig. 2e and Fig. 5c of Falcone et al.

Falcone et al., "All-in-One Analog AI Hardware: On-Chip Training and Inference with CMO/HfOx ReRAM Devices":
Fig. 2e gives the device-to-device read spreads (sigma/mu of R_LRS and R_HRS = 0.25), Fig. 5c the open-loop
N_states of the 32 devices (mean 22, range 16-33). The study fits the lognormal d2d sigmas of ``n_lrs`` and
``gam_rst`` and the correlation ``rho`` of their draws to both at once (lmfit ``least_squares``):

- reads through the SPICE read map shipped by the extraction ``reram-d2d``;
- N_states through a surrogate: Eq. 1 on a grid of ln(n_lrs/nominal) x ln(gam_rst/nominal) from the pulse map
  of each grid cell (:class:`~testbenches.reram.pulse.PulseMap`), ln N_states interpolated (PCHIP), plus the
  measured per-device scatter of ln N_states from the c2c noise;
- N_states targets: the mean (22) and the quantiles ``1 - 0.5**(1/32)`` and ``0.5**(1/32)`` (16, 33), the
  medians of the smallest and largest of 32 devices, so the paper's one array is compared with what an
  array of 32 typically spans.

Held out: a second draw of devices (another stream) through the same maps, and ``arrays`` arrays of ``--n``
devices simulated with the full open-loop protocol (``reram-pulse-response``'s :func:`device_response`).
The fitted law is reported, not shipped (docs/reram.md section 6 says why).
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, get_extraction, register_study
from testbenches.reram import cell
from testbenches.reram.pulse import PulseMap, device_response, figures_of_merit, pulse_train
from testbenches.reram.studies import map_reads

#: d2d parameters of the law (both lognormal, relative sigma).
PARAMS = ("n_lrs", "gam_rst")
#: Grids of ln(value/nominal) of both parameters for the N_states surrogate (ngspice finds no operating point
#: of the pulse map at ln(n_lrs/nominal) = +-2, so the grid stops at +-1.5: about 4 sigma of the fitted law).
GRIDS = {"fine": (-1.5, -1.0, -0.75, -0.5, -0.35, -0.2, -0.1, 0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5),
         "coarse": (-1.5, 0.0, 1.5)}
#: Falcone et al. Fig. 2e (read sigma/mu) and section 2.3.1 / Fig. 5c (N_states over 32 devices).
PAPER = {"rel_sigma": 0.25, "n_states_mean": 22.0, "n_states_low": 16.0, "n_states_high": 33.0}
PAPER_DEVICES = 32
#: Quantile whose value is the median of the smallest of 32 devices (1 - it: of the largest).
EXTREME_QUANTILE = 1.0 - 0.5 ** (1.0 / PAPER_DEVICES)
#: Range 16-33 widened by 30 % both ways: the acceptance band of one 32-device array.
BAND = (PAPER["n_states_low"] / 1.3, PAPER["n_states_high"] * 1.3)


def coordinates(z: np.ndarray, sigma: Mapping[str, float], rho: float) -> np.ndarray:
    """ln(value/nominal) (n x 2) of devices with independent standard normals ``z`` (n x 3: common factor,
    own draw of ``n_lrs``, own draw of ``gam_rst``), mixed as the Monte Carlo engine mixes a correlated group
    whose two members both have correlation sqrt(rho) with the factor (pair correlation ``rho`` >= 0), then
    mapped by the lognormal law with mean = nominal."""
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho = {rho!r}: the pair correlation must lie in [0, 1] (members share sqrt(rho)).")
    c = math.sqrt(rho)
    out = []
    for j, name in enumerate(PARAMS):
        normal = c * z[:, 0] + math.sqrt(1.0 - rho) * z[:, 1 + j]
        s = math.sqrt(math.log1p(sigma[name] ** 2))
        out.append(s * normal - 0.5 * s * s)
    return np.column_stack(out)


def n_states_grid(axis: Sequence[float], streams: int, rng: Callable[..., np.random.Generator],
                  bar: Callable[[Iterable[Any], int], Iterable[Any]] = lambda items, total: items) -> dict[str, Any]:
    """Eqs. 1-3 of the open-loop protocol on the grid ``axis`` x ``axis`` of ln(n_lrs/nominal),
    ln(gam_rst/nominal); ``streams`` c2c streams per cell, ``rng(i, j, k)`` the generator of stream k of cell (i, j).

    Returns
    -------
    dict
        ``axis`` and, per figure of merit, a nested list ``[i][j][k]``.
    """
    nominal = cell.device_model().defaults
    keys = ("n_states", "sp_skew", "nsr")
    table: dict[str, list] = {k: [] for k in keys}
    for i, a in bar(list(enumerate(axis)), len(axis)):
        pmap = PulseMap.build({"n_lrs": nominal["n_lrs"] * math.exp(a)})
        rows: dict[str, list] = {k: [] for k in keys}
        for j, b in enumerate(axis):
            kin = pmap.with_kinetics({"gam_rst": nominal["gam_rst"] * math.exp(b)})
            foms = [figures_of_merit(pulse_train(kin, 0.0, rng(i, j, k))) for k in range(streams)]
            for key in keys:
                rows[key].append([f[key] for f in foms])
        for key in keys:
            table[key].append(rows[key])
    return {"axis": list(map(float, axis)), **table}


class Surrogate:
    """ln N_states of a device from its coordinates: PCHIP of the grid mean, plus ``scatter`` times a
    standard normal (the c2c part, one per device). Devices beyond the grid take the edge value
    (counted by :meth:`outside`)."""

    def __init__(self, grid: Mapping[str, Any]) -> None:
        from scipy.interpolate import RegularGridInterpolator

        ln_n = np.log(np.asarray(grid["n_states"], float))
        self.axis = np.asarray(grid["axis"], float)
        self.scatter = float(np.sqrt(np.mean(ln_n.var(axis=-1, ddof=1)))) if ln_n.shape[-1] > 1 else 0.0
        self._interp = RegularGridInterpolator((self.axis, self.axis), ln_n.mean(axis=-1),
                                               method="pchip" if len(self.axis) > 3 else "linear")

    def outside(self, coords: np.ndarray) -> float:
        """Share of devices beyond the grid."""
        return float(np.mean(np.any((coords < self.axis[0]) | (coords > self.axis[-1]), axis=1)))

    def n_states(self, coords: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """N_states of the devices at ``coords`` with c2c draws ``eps``."""
        return np.exp(self._interp(np.clip(coords, self.axis[0], self.axis[-1])) + self.scatter * eps)


def statistics(table: Mapping[str, Any], surrogate: Surrogate, coords: np.ndarray, eps: np.ndarray) -> dict[str, float]:
    """Read spreads (SPICE map) and N_states statistics (surrogate) of the devices at ``coords``."""
    reads = map_reads(table, coords)
    n = surrogate.n_states(coords, eps)
    above, below = float(np.mean(n > BAND[1])), float(np.mean(n < BAND[0]))
    return {**{f"{m}_rel_std": float(np.std(r, ddof=1) / np.mean(r)) for m, r in reads.items()},
            **{f"{m}_mean": float(np.mean(r)) for m, r in reads.items()},
            "ln_R_correlation": float(np.corrcoef(np.log(reads["R_LRS"]), np.log(reads["R_HRS"]))[0, 1]),
            "n_states_mean": float(np.mean(n)), "n_states_low": float(np.quantile(n, EXTREME_QUANTILE)),
            "n_states_high": float(np.quantile(n, 1.0 - EXTREME_QUANTILE)),
            "arrays_inside": (1.0 - above - below) ** PAPER_DEVICES, "outside_grid": surrogate.outside(coords)}


def uncertainties(rng: np.random.Generator) -> dict[str, float]:
    """Uncertainties (ln units for N_states) of the paper's 32-device numbers: sigma/mu of a spread, the mean of
    ln N_states, and its smallest / largest value (extremes of 32 normals of the width that spans 16-33)."""
    from scipy.stats import norm

    width = math.log(PAPER["n_states_high"] / PAPER["n_states_low"]) / (2.0 * norm.ppf(1.0 - EXTREME_QUANTILE))
    extremes = np.sort(rng.standard_normal((20_000, PAPER_DEVICES)), axis=1)[:, 0]
    return {"rel_sigma": PAPER["rel_sigma"] * math.sqrt(1.0 / (2 * (PAPER_DEVICES - 1))),
            "ln_mean": width / math.sqrt(PAPER_DEVICES), "ln_extreme": width * float(np.std(extremes))}


def fit_joint(table: Mapping[str, Any], surrogate: Surrogate, z: np.ndarray, eps: np.ndarray,
              u: Mapping[str, float], start: Mapping[str, float]) -> dict[str, Any]:
    """lmfit of sigma(n_lrs), sigma(gam_rst), rho on the five targets of :data:`PAPER` (common random numbers
    ``z``, ``eps``); covariance not rescaled, so the stderr propagates the paper's 32-device uncertainties."""
    import lmfit

    params = lmfit.Parameters()
    for name in PARAMS:
        params.add(name, start[name], min=0.02, max=0.6)
    params.add("rho", start["rho"], min=0.0, max=1.0)

    def stats_of(p: lmfit.Parameters) -> dict[str, float]:
        return statistics(table, surrogate, coordinates(z, {n: p[n].value for n in PARAMS}, p["rho"].value), eps)

    def residual(p: lmfit.Parameters) -> np.ndarray:
        s = stats_of(p)
        return np.array([(s["R_LRS_rel_std"] - PAPER["rel_sigma"]) / u["rel_sigma"],
                         (s["R_HRS_rel_std"] - PAPER["rel_sigma"]) / u["rel_sigma"],
                         math.log(s["n_states_mean"] / PAPER["n_states_mean"]) / u["ln_mean"],
                         math.log(s["n_states_low"] / PAPER["n_states_low"]) / u["ln_extreme"],
                         math.log(s["n_states_high"] / PAPER["n_states_high"]) / u["ln_extreme"]])

    result = lmfit.minimize(residual, params, method="least_squares", diff_step=0.02, scale_covar=False)
    names = (*PARAMS, "rho")
    return {"value": {n: float(result.params[n].value) for n in names},
            "stderr": {n: (float(result.params[n].stderr) if result.params[n].stderr is not None else math.nan)
                       for n in names},
            "residual": result.residual.tolist(), "chisqr": float(result.chisqr), "nfev": int(result.nfev),
            "calibration": stats_of(result.params)}


def array_response(sigma: Mapping[str, float], rho: float, z: np.ndarray,
                   c2c: Callable[[int], np.random.Generator]) -> list[dict[str, Any]]:
    """Open-loop figures of merit of the devices with normals ``z`` (n x 3) under the law, each device ``k``
    with c2c stream ``c2c(k)`` (the protocol of ``reram-pulse-response``)."""
    nominal = cell.device_model().defaults
    out = []
    for k, (a, b) in enumerate(coordinates(z, sigma, rho)):
        params = {"n_lrs": nominal["n_lrs"] * math.exp(a), "gam_rst": nominal["gam_rst"] * math.exp(b)}
        response = device_response(params, c2c(k))
        response.pop("trace")
        out.append({"params": params, **response})
    return out


@register_study
class ReramD2dJoint(Study):
    """reram_cmo d2d law (sigma of n_lrs, gam_rst and their correlation) fitted to Fig. 2e and Fig. 5c together."""

    name = "reram-d2d-joint"
    family = "reram"
    options = (Setting("grid", "fine", "N_states surrogate grid: fine (15 x 15) or coarse (3 x 3, quick checks only)",
                       choices=tuple(GRIDS)),
               Setting("streams", 4, "c2c streams per grid cell", bounds=(1, 64)),
               Setting("map_devices", 10_000, "devices per draw through the maps (fit and held-out draw)",
                       bounds=(100, 1_000_000)),
               Setting("arrays", 4, "held-out arrays of --n devices simulated with the full protocol",
                       bounds=(0, 100)))
    measures = {
        "sigma_n_lrs": Measure("", "fitted relative d2d sigma of n_lrs (lognormal)"),
        "sigma_gam_rst": Measure("", "fitted relative d2d sigma of gam_rst (lognormal)"),
        "rho": Measure("", "fitted correlation of the n_lrs and gam_rst draws"),
        **{f"{m}_rel_std": Measure("", f"sigma/mu of {m}, held-out draw (SPICE map)", paper=PAPER["rel_sigma"],
                                   role="held out") for m in ("R_LRS", "R_HRS")},
        "n_states_mean": Measure("", "N_states mean, held-out draw (surrogate)", paper=PAPER["n_states_mean"],
                                 role="held out"),
        "n_states_low": Measure("", "N_states quantile of the smallest of 32, held-out draw",
                                paper=PAPER["n_states_low"], role="held out"),
        "n_states_high": Measure("", "N_states quantile of the largest of 32, held-out draw",
                                 paper=PAPER["n_states_high"], role="held out"),
        "arrays_inside": Measure("", "share of 32-device arrays with every N_states in 16-33 +- 30 %, held-out draw"),
        "array_min": Measure("", "smallest N_states of the simulated held-out arrays", paper=PAPER["n_states_low"],
                             role="held out"),
        "array_max": Measure("", "largest N_states of the simulated held-out arrays", paper=PAPER["n_states_high"],
                             role="held out"),
        "sp_skew": Measure("", "SP_skew (Eq. 2), mean over the simulated held-out arrays", paper=0.61,
                           role="held out"),
        "nsr": Measure("", "NSR (Eq. 3), mean over the simulated held-out arrays", paper=0.90,
                       role="calibration"),
    }
    devices = (cell.DEVICE,)
    n_default = PAPER_DEVICES
    n_min = 2
    n_desc = "devices per simulated held-out array (paper: 32)"
    seed_default = 1

    def run(self, ctx: StudyContext) -> StudyResult:
        table = json.loads((get_extraction("reram-d2d").shipped() / "d2d_summary.json").read_text())["map"]
        if tuple(table["params"]) != PARAMS:
            raise ValueError(f"the shipped reram-d2d read map is over {table['params']}, this study needs {PARAMS}.")
        axis, streams = GRIDS[ctx.options["grid"]], ctx.options["streams"]
        grid = ctx.step("n_states_grid", lambda: n_states_grid(
            axis, streams, lambda i, j, k: ctx.rng("grid", i, j, k),
            lambda items, total: ctx.bar(items, total=total, desc="N_states grid")))
        surrogate = Surrogate(grid)
        m = ctx.options["map_devices"]
        draws = {label: (ctx.rng(label).standard_normal((m, 3)), ctx.rng(label, 1).standard_normal(m))
                 for label in ("calibration", "held-out")}
        start = {name: cell.device_model().param(name).variation.sigma for name in PARAMS} | {"rho": 0.5}
        fit = fit_joint(table, surrogate, *draws["calibration"], uncertainties(ctx.rng("targets")), start)
        sigma, rho = {n: fit["value"][n] for n in PARAMS}, fit["value"]["rho"]
        device_sigma = {n: cell.device_model().param(n).variation.sigma for n in PARAMS}
        held = {"fitted law": statistics(table, surrogate, coordinates(draws["held-out"][0], sigma, rho),
                                         draws["held-out"][1]),
                "device law": statistics(table, surrogate, coordinates(draws["held-out"][0], device_sigma, 0.0),
                                         draws["held-out"][1])}
        arrays = [ctx.step(f"array_{a}", lambda a=a: array_response(
            sigma, rho, ctx.rng("array", a).standard_normal((ctx.n, 3)), lambda k: ctx.rng("c2c", a, k)))
            for a in ctx.bar(range(ctx.options["arrays"]), desc="held-out arrays")]
        measurements = {"sigma_n_lrs": sigma["n_lrs"], "sigma_gam_rst": sigma["gam_rst"], "rho": rho,
                        **{k: held["fitted law"][k] for k in ("R_LRS_rel_std", "R_HRS_rel_std", "n_states_mean",
                                                              "n_states_low", "n_states_high", "arrays_inside")}}
        if arrays:
            n_states = [d["n_states"] for arr in arrays for d in arr]
            measurements |= {"array_min": min(n_states), "array_max": max(n_states),
                             "sp_skew": float(np.mean([d["sp_skew"] for arr in arrays for d in arr])),
                             "nsr": float(np.mean([d["nsr"] for arr in arrays for d in arr]))}
        summary = {"paper": PAPER, "fit": fit, "held_out_draw": held, "surrogate_scatter": surrogate.scatter,
                   "arrays": [{"n_states": [d["n_states"] for d in arr], "sp_skew": [d["sp_skew"] for d in arr],
                               "nsr": [d["nsr"] for d in arr], "params": [d["params"] for d in arr],
                               "surrogate": surrogate.n_states(np.log(np.array(
                                   [[d["params"][n] / cell.device_model().defaults[n] for n in PARAMS]
                                    for d in arr])), np.zeros(len(arr))).tolist()} for arr in arrays]}
        return StudyResult(measurements, data=summary)
