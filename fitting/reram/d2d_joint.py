"""``reram-d2d``: the d2d law of ``reram_cmo`` fitted jointly to Fig. 2e and Fig. 5c of Falcone et al.

Falcone et al., "All-in-One Analog AI Hardware: On-Chip Training and Inference with CMO/HfOx ReRAM Devices":
Fig. 2e gives the device-to-device read spreads (sigma/mu of R_LRS and R_HRS = 0.25), Fig. 5c the open-loop
N_states of the 32 devices (mean 22, range 16-33). The law: ``n_lrs`` and ``gam_rst`` lognormal, drawn in the
Monte Carlo engine's correlated group ``filament`` (both members with correlation sqrt(rho) to the common factor,
so the pair has correlation ``rho``). The study fits the two relative sigmas and ``rho`` to both figures at once
(lmfit ``least_squares``):

- reads through a SPICE read map taken by the study (``reram-cycling`` on a grid of both coordinates,
  :func:`testbenches.reram.studies.read_map`);
- N_states through a surrogate: Eq. 1 on a grid of ln(n_lrs/nominal) x ln(gam_rst/nominal) from the pulse map
  of each grid cell (:class:`~testbenches.reram.pulse.PulseMap`), ln N_states interpolated (PCHIP), plus the
  measured per-device scatter of ln N_states from the c2c noise;
- N_states targets: the mean (22) and the quantiles ``1 - 0.5**(1/32)`` and ``0.5**(1/32)`` (16, 33), the
  medians of the smallest and largest of 32 devices, so the paper's one array is compared with what an
  array of 32 typically spans.

The map devices are the engine's devices (the standard normals of the factor and of each member, recovered
once, mapped with whatever sigma and rho lmfit tries: common random numbers). Held out (``held_out_seed``):
10^4 other devices through the same maps, ``--n`` SPICE devices of ``reram-cycling`` drawn by the engine with
the fitted law (and as many on the calibration seed), and ``arrays`` arrays of ``array_size`` devices simulated
with the full open-loop protocol (``reram-pulse-response``'s :func:`device_response`). The fitted law goes into
``calibration_reram_cmo.json`` of the run (``--set ship=yes``: into the package). Results: docs/reram.md §6 and
docs/reram_studies.md §3.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from spicegen import calibration
from spicegen.calibration import significant
from spicegen.devices.reram_cmo import D2D_GROUP
from spicegen.montecarlo import simulated
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study
from testbenches.reram import cell
from testbenches.reram.pulse import PulseMap, device_response, figures_of_merit, pulse_train
from testbenches.reram.studies import (CELL_DEVICE, MAP_GRIDS, N_SPICE, READS, SEED_BOUNDS, held_out_seed, map_reads,
                                       on_seed, parse_sigmas, plot_d2d, read_map, spice_vs_map, tensor_pchip)
from testbenches.reram.studies import PAPER as READ_PAPER

#: d2d parameters of the law (both lognormal, relative sigma, one correlated group).
PARAMS = ("n_lrs", "gam_rst")
#: The engine's correlated group of the pair (declared by ``reram_cmo``).
GROUP = D2D_GROUP
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
#: Held-out read spreads must stay within the 32-device sampling uncertainty of Fig. 2e's sigma/mu,
#: 0.25*(2*31)**-0.5 = 0.032, i.e. 13 %.
SPREAD_SPEC = (PAPER["rel_sigma"] * (1 - 0.13), PAPER["rel_sigma"] * (1 + 0.13))
#: The fit starts rho inside these: from a start at a bound (a shipped rho of 0) the trust-region steps in rho
#: shrink with the distance to the bound, and the fit crawls for hundreds of evaluations.
RHO_START = (0.05, 0.95)
#: Most evaluations of the joint fit (it converges in 40-50 from the shipped law).
MAX_NFEV = 300


def pair_correlation() -> float:
    """rho of the device's declared law: the product of the members' correlations with the group factor
    (0 when they are not in one group)."""
    model = cell.device_model()
    v = [model.param(name).variation for name in PARAMS]
    if any(x.group is None for x in v) or v[0].group != v[1].group:
        return 0.0
    return v[0].correlation * v[1].correlation


def device_law() -> dict[str, float]:
    """The device's declared d2d law: relative sigma of each member and ``rho``."""
    model = cell.device_model()
    return {**{name: model.param(name).variation.sigma for name in PARAMS}, "rho": pair_correlation()}


def engine_normals(ctx: StudyContext, n: int, stream: str = "map") -> np.ndarray:
    """The independent standard normals (n x 3: the group factor, the own draw of ``n_lrs``, of ``gam_rst``)
    behind the engine's devices 0 .. n-1 of ``stream``: the members' normals at correlation 1 are the factor,
    at correlation 0 their own draws. :func:`coordinates` maps them as the engine does, at any sigma and rho."""
    def normals(c: float) -> np.ndarray:
        drawn = ctx.sample_devices(CELL_DEVICE, n, stream=stream, normals=True, correlations={p: c for p in PARAMS})
        return np.array([[d[p] for p in PARAMS] for d in drawn])

    factor, own = normals(1.0), normals(0.0)
    if not np.array_equal(factor[:, 0], factor[:, 1]):
        raise ValueError(f"{PARAMS} of {CELL_DEVICE!r} do not share one correlated group; the d2d law needs both "
                         f"in the group {GROUP!r}.")
    return np.column_stack([factor[:, 0], own])


def sigma_bound(axis: Sequence[float], z: np.ndarray) -> float:
    """Largest relative lognormal sigma whose devices (normals ``z``: factor and own draws, any rho) stay inside
    the map ``axis``: a mixed normal c*f + sqrt(1 - c^2)*o never exceeds sqrt(f^2 + o^2)."""
    z_max = float(np.max(np.hypot(z[:, :1], z[:, 1:])))
    edge = min(-axis[0], axis[-1])
    s_max = 0.98 * (math.sqrt(z_max ** 2 + 2 * edge) - z_max)  # s*|z| + s^2/2 inside the map
    return math.sqrt(math.expm1(s_max ** 2))


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
        mean = ln_n.mean(axis=-1)
        if len(self.axis) > 3:
            self._interp = lambda coords: tensor_pchip((self.axis, self.axis), mean, coords)
        else:  # the coarse 3 x 3 grid interpolates linearly
            self._interp = RegularGridInterpolator((self.axis, self.axis), mean, method="linear")

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
    ``z``, ``eps``); covariance not rescaled, so the stderr propagates the paper's 32-device uncertainties.
    Each sigma is bounded so that every device stays inside the read map."""
    import lmfit

    params = lmfit.Parameters()
    for name, axis in zip(PARAMS, table["axes"]):
        hi = min(0.6, sigma_bound(axis, z[:, [0, 1 + PARAMS.index(name)]]))
        params.add(name, min(start[name], 0.9 * hi), min=0.02, max=hi)
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

    result = lmfit.minimize(residual, params, method="least_squares", diff_step=0.02, scale_covar=False,
                            max_nfev=MAX_NFEV)
    names = (*PARAMS, "rho")
    return {"value": {n: float(result.params[n].value) for n in names},
            "stderr": {n: (float(result.params[n].stderr) if result.params[n].stderr is not None else math.nan)
                       for n in names},
            "residual": result.residual.tolist(), "chisqr": float(result.chisqr), "nfev": int(result.nfev),
            "success": bool(result.success), "message": str(result.message),
            "calibration": stats_of(result.params)}


def figures(params: Mapping[str, float], rng: np.random.Generator) -> dict[str, float]:
    """Open-loop figures of merit of one device (the protocol of ``reram-pulse-response``, trace dropped)."""
    response = device_response(params, rng)
    response.pop("trace")
    return response


@register_study
class D2dStudy(Study):
    """reram_cmo's d2d law (sigma of n_lrs and gam_rst, the correlation of their draws) fitted jointly to the read
    spreads of Fig. 2e (SPICE read map) and the N_states range of Fig. 5c (pulse-map surrogate), checked with SPICE
    devices and full open-loop arrays of a held-out seed."""

    name = "reram-d2d"
    code = (__name__, "testbenches.reram.studies", "testbenches.reram.cell", "testbenches.reram.pulse")
    family = "reram"
    options = (
        Setting("held_out_seed", 2, "seed of the held-out devices and arrays (--seed is the calibration seed)",
                bounds=SEED_BOUNDS),
        Setting("map_devices", 10_000, "devices per seed through the maps (lmfit and held-out check)",
                bounds=(100, 1_000_000)),
        Setting("start", "", "lmfit start NAME=VALUE,... of n_lrs, gam_rst (relative sigma) and rho (empty: the "
                             "device's law, rho 0.5 when the device's is 0)"),
        Setting("grid", "fine", "read map (17 x 17 transients) and N_states grid (15 x 15): fine, or coarse "
                                "(4 x 4 and 3 x 3, quick checks only)", choices=tuple(MAP_GRIDS)),
        Setting("streams", 4, "c2c streams per N_states grid cell", bounds=(1, 64)),
        Setting("arrays", 4, "held-out arrays simulated with the full open-loop protocol", bounds=(0, 100)),
        Setting("array_size", PAPER_DEVICES, "devices per held-out array (paper: 32)", bounds=(2, 1000)),
        Setting("ship", False, "also update the package's calibration file (reram_cmo.json)"),
    )
    measures = {
        "sigma_n_lrs": Measure("", "fitted relative d2d sigma of n_lrs (lognormal)"),
        "sigma_gam_rst": Measure("", "fitted relative d2d sigma of gam_rst (lognormal)"),
        "rho": Measure("", "fitted correlation of the n_lrs and gam_rst draws (as shipped: the square of the "
                           "members' rounded factor correlation)"),
        **{f"{m}_rel_std": Measure("", f"sigma/mu of {m}, SPICE devices of the held-out seed", spec=SPREAD_SPEC,
                                   paper=PAPER["rel_sigma"], role="held out") for m in READS},
        **{f"{m}_rel_std_cal": Measure("", f"sigma/mu of {m}, SPICE devices of the calibration seed",
                                       paper=PAPER["rel_sigma"], role="calibration") for m in READS},
        # the kinetics were fitted to these reads on the nominal cell (reram-calibration)
        **{f"{m}_mean": Measure("Ohm", f"mean {m}, SPICE devices of the held-out seed",
                                spec=(0.9 * READ_PAPER[m], 1.1 * READ_PAPER[m]), paper=READ_PAPER[m],
                                role="calibration") for m in READS},
        "ln_R_correlation": Measure("", "correlation of ln R_LRS and ln R_HRS, SPICE devices of the held-out seed"),
        "map_error_max": Measure("", "largest |map/SPICE - 1| of a read, SPICE devices of both seeds", spec=(0, 0.01)),
        "n_states_mean": Measure("", "N_states mean, held-out map devices (surrogate)", paper=PAPER["n_states_mean"],
                                 role="held out"),
        "n_states_low": Measure("", "N_states quantile of the smallest of 32, held-out map devices",
                                paper=PAPER["n_states_low"], role="held out"),
        "n_states_high": Measure("", "N_states quantile of the largest of 32, held-out map devices",
                                 paper=PAPER["n_states_high"], role="held out"),
        "arrays_inside": Measure("", "share of 32-device arrays with every N_states in 16-33 +- 30 % (surrogate, "
                                     "held-out map devices)", spec=(0.8, 1.0)),
        "arrays_in_band": Measure("", "share of the simulated held-out arrays with every N_states in 16-33 +- 30 %",
                                  spec=(0.75, 1.0)),
        "array_min": Measure("", "smallest N_states of the simulated held-out arrays", paper=PAPER["n_states_low"],
                             role="held out"),
        "array_max": Measure("", "largest N_states of the simulated held-out arrays", paper=PAPER["n_states_high"],
                             role="held out"),
        "sp_skew": Measure("", "SP_skew (Eq. 2), mean over the simulated held-out arrays", paper=0.61,
                           role="held out"),
        "nsr": Measure("", "NSR (Eq. 3), mean over the simulated held-out arrays", paper=0.90,
                       role="calibration"),
    }
    devices = (CELL_DEVICE,)
    n_default = N_SPICE
    n_min = 2
    n_desc = "SPICE devices of reram-cycling per seed (calibration and held-out)"
    seed_default = 1

    def run(self, ctx: StudyContext) -> StudyResult:
        held_out = held_out_seed(ctx)
        device = device_law()
        rho = min(max(device["rho"], RHO_START[0]), RHO_START[1])
        start = {**device, "rho": rho, **_start(ctx.options["start"])}
        table = ctx.step("map", lambda: read_map(lambda s: ctx.simulate("reram-cycling", s), ctx.options["grid"],
                                                 lambda items, total: ctx.bar(items, total=total, desc="read map")))
        if tuple(table["params"]) != PARAMS:
            raise ValueError(f"the read map is over {table['params']}, the d2d law needs {PARAMS}.")
        axis, streams = GRIDS[ctx.options["grid"]], ctx.options["streams"]
        grid = ctx.step("n_states_grid", lambda: n_states_grid(
            axis, streams, lambda i, j, k: ctx.rng("grid", i, j, k),
            lambda items, total: ctx.bar(items, total=total, desc="N_states grid")))
        surrogate = Surrogate(grid)
        seeds = {"calibration": ctx.seed, "held-out": held_out}
        m = ctx.options["map_devices"]
        draws = {label: (engine_normals(on_seed(ctx, seed), m), on_seed(ctx, seed).rng("scatter").standard_normal(m))
                 for label, seed in seeds.items()}
        fit = fit_joint(table, surrogate, *draws["calibration"], uncertainties(ctx.rng("targets")), start)
        # as written into reram_cmo: 3 significant digits of each sigma and of the members' factor correlation
        sigma = {name: significant(fit["value"][name], 3) for name in PARAMS}
        factor = significant(math.sqrt(fit["value"]["rho"]), 3)
        law = {**sigma, "rho": factor * factor}
        laws = {"fitted law": law, "device law": device}
        held = {label: {k: statistics(table, surrogate, coordinates(draws[k][0], sigma_of(l), l["rho"]), draws[k][1])
                        for k in seeds} | {"law": l} for label, l in laws.items()}
        overrides = {"sigmas": {f"c__{n}": s for n, s in sigma.items()},
                     "correlations": {f"c__{n}": factor for n in PARAMS}}
        spice = {}
        for label, seed in seeds.items():
            frame = simulated(on_seed(ctx, seed).monte_carlo("reram-cycling", ctx.n, folder=f"mc/{label}", **overrides))
            spice[label] = {"seed": seed, "frame": frame, **spice_vs_map(table, frame, seed),
                            "ln_R_correlation": float(np.corrcoef(np.log(frame["R_LRS"]), np.log(frame["R_HRS"]))[0, 1])}
        arrays = self._arrays(on_seed(ctx, held_out), ctx, sigma, factor, surrogate)
        plot_d2d(sigma, spice, map_reads(table, coordinates(draws["held-out"][0], sigma, law["rho"])), held_out,
                  ctx.out / "d2d_cdf.png")
        written = calibration.update(CELL_DEVICE, ctx.out, variations={n: {"sigma": s, "correlation": factor}
                                                                       for n, s in sigma.items()},
                                     source=ctx.citation(), ship=ctx.options["ship"])
        summary = {"d2d_params": list(PARAMS), "group": GROUP, "paper": PAPER, "map": table, "n_states_grid": grid,
                   "surrogate_scatter": surrogate.scatter, "lmfit": fit, "sigma_fitted": sigma,
                   "factor_correlation": factor, "rho_fitted": law["rho"], "device_law": device, "held_out_draw": held,
                   "spice": {label: {k: v for k, v in run.items() if k != "frame"} for label, run in spice.items()},
                   "arrays": arrays}
        return StudyResult(_measurements(law, spice, held["fitted law"]["held-out"], arrays), data=summary,
                           files=["d2d_cdf.png", written[0].name])

    @staticmethod
    def _arrays(held: StudyContext, ctx: StudyContext, sigma: Mapping[str, float], factor: float,
                surrogate: Surrogate) -> list[dict[str, Any]]:
        """The held-out arrays: devices of the stream ``array`` of the held-out seed drawn by the engine with the
        fitted law, device k of array a with the c2c stream (a, k)."""
        count, size = ctx.options["arrays"], ctx.options["array_size"]
        if not count:
            return []
        drawn = held.sample_devices(CELL_DEVICE, count * size, stream="array", sigmas=sigma,
                                    correlations={n: factor for n in PARAMS})
        params = [{n: d[n] for n in PARAMS} for d in drawn]
        done = ctx.steps({f"array_{k // size}_{k % size:03d}": (figures, {"params": p, "rng": held.rng("c2c", k // size,
                                                                                                       k % size)})
                          for k, p in enumerate(params)}, desc="held-out arrays")
        nominal = cell.device_model().defaults
        out = []
        for a in range(count):
            devices = [(params[a * size + k], done[f"array_{a}_{k:03d}"]) for k in range(size)]
            coords = np.log(np.array([[p[n] / nominal[n] for n in PARAMS] for p, _ in devices]))
            n_states = [f["n_states"] for _, f in devices]
            out.append({"n_states": n_states, "sp_skew": [f["sp_skew"] for _, f in devices],
                        "nsr": [f["nsr"] for _, f in devices], "params": [p for p, _ in devices],
                        "surrogate": surrogate.n_states(coords, np.zeros(size)).tolist(),
                        "inside": bool(BAND[0] <= min(n_states) and max(n_states) <= BAND[1])})
        return out


def sigma_of(law: Mapping[str, float]) -> dict[str, float]:
    """The members' sigmas of a law (``rho`` left out)."""
    return {n: law[n] for n in PARAMS}


def _start(text: str) -> dict[str, float]:
    values = parse_sigmas(text)
    unknown = set(values) - {*PARAMS, "rho"}
    if unknown:
        raise ValueError(f"start values of {sorted(unknown)}: the d2d law has {list(PARAMS)} and rho.")
    return values


def _measurements(law: Mapping[str, float], spice: Mapping[str, Any], held: Mapping[str, float],
                  arrays: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The headline numbers of :class:`D2dStudy`."""
    stats = {label: next(v for k, v in run.items() if k.startswith("spice_")) for label, run in spice.items()}
    out = {f"sigma_{n}": law[n] for n in PARAMS} | {"rho": law["rho"]}
    for m in READS:
        out[f"{m}_rel_std"] = stats["held-out"][m]["rel_std"]
        out[f"{m}_rel_std_cal"] = stats["calibration"][m]["rel_std"]
        out[f"{m}_mean"] = stats["held-out"][m]["mean"]
    out["ln_R_correlation"] = spice["held-out"]["ln_R_correlation"]
    out["map_error_max"] = max(e for run in spice.values() for e in run["map_vs_spice_max_rel_error"].values())
    out |= {k: held[k] for k in ("n_states_mean", "n_states_low", "n_states_high", "arrays_inside")}
    if arrays:
        n_states = [n for a in arrays for n in a["n_states"]]
        out |= {"arrays_in_band": float(np.mean([a["inside"] for a in arrays])), "array_min": min(n_states),
                "array_max": max(n_states), "sp_skew": float(np.mean([x for a in arrays for x in a["sp_skew"]])),
                "nsr": float(np.mean([x for a in arrays for x in a["nsr"]]))}
    return out
