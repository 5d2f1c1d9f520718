"""Studies of the P²M MAC [Kaiser et al. 2024, §3–4, Figs. 4–6]: f1 and f2 Monte Carlo datasets, their
spreads, the Fig. 4c sense margin, the CMOS+X programmable range and the Fig. 4/5 waveforms.

``spicegen study run NAME [--n N] [--set OPTION=VALUE ...] --out DIR`` runs (resumably, through the
Monte Carlo engine :func:`spicegen.montecarlo.run_study`) one sub-folder per dataset:

- ``p2m-f1``: the ``p2m-f1`` testbench per weight configuration (option ``configs``, sub-folders
  ``f1_<config>``) with every variation of the circuit: MDWMTJ rp (d2d; ``rp_reading`` picks how
  "20 % resistance variation" is read: ``3sigma`` → σ = 20 %/3, the default, or ``1sigma`` → σ = 20 %),
  Pelgrom Vt mismatch (A_VT = 10 mV·µm) and width mismatch (σ = 5 nm) of every transistor, 10 % Gaussian
  jitter of every write pulse's flat top (``jitter_reading``: ``1sigma`` → σ = 10 %, the default, or
  ``3sigma`` → σ = 10 %/3). Each sample gives the displacement per event at nine weight magnitudes
  x = 1/9 … 1. ``vary`` keeps one source alone (jitter, vt, w, rp), the others at nominal with the same
  draws: the variance decomposition one source at a time. Each worst 3σ spread comes with its 95 %
  percentile bootstrap interval (1000 resamples), and each pair of configurations with the interval of
  their difference (``data["intervals"]``).
- ``p2m-f2``: the ``p2m-f2`` testbench over the combinations of the two accumulator positions (uniform
  over [0, l_FL]², sub-folder ``f2``), without resistance variation (the paper attributes f2's spread
  to the non-linear, voltage-dependent resistance) or, with ``rp=yes``, with the rp variation of both
  accumulators. The normalized pre-activation V_PRE/V_RD vs d_DIFF = d_POS − d_NEG. Options ``v_rd``,
  ``rhmr``, ``vh``, ``kn`` set the read law (read bias, heavy-metal read resistance, TMR roll-off, wall
  weight) for the readings compared in docs/mdwmtj.md §5.
- ``p2m-mac-margin``: the ``p2m-mac`` testbench, the full channel with every variation, per configuration
  (``mac_<config>``): V_PRE vs V_TH after the 1 ms window (the Fig. 4c sense margin).
- ``p2m-range``: ``p2m-f1`` cmosx with every weight MDWMTJ at R_P and at R_AP (``range_p``, ``range_ap``),
  the programmable range of each width under variation.
- ``p2m-waveforms``: nominal waveforms of the default MAC per configuration (Fig. 4 style) and of the
  reprogramming scenario (Fig. 5 style).

Definitions (the paper does not give them; docs/mdwmtj.md §5):

- f1: d_NORM = (Δq − Δq_nom(x_min)) / (Δq_nom(1) − Δq_nom(x_min)): the nominal curve spans the full
  dynamic range [0, 1]. Worst-case spread = max over x of 3σ of d_NORM (the sample range and 6σ beside).
- f2: V_NORM = V_PRE/V_RD binned in d_DIFF (bins of 0.01, :data:`F2_BIN`); spread = max over bins of
  (max − min) of V_NORM divided by the full range of V_NORM (beside it: in units of V_RD, relative to the
  per-bin minimum, 3σ per bin, and bins of 0.05); the lower bound drawn is the per-bin minimum.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from spicegen import get_device
from spicegen.devices.mdwmtj import RP_SIGMA_1SIGMA, RP_SIGMA_3SIGMA
from spicegen.figures import pyplot, save_figure
from spicegen.montecarlo import load_dataframe, simulated
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, Subset, register_study
from spicegen.testbench import Testbench

from .mac import (CONFIG_LABELS, CONFIGS, F1_X, F2_DEVICE_OPTIONS, JITTER, P2M_F1, P2M_F2, V_RD, MacSpec, fig5_spec,
                  plot_run, run_mac)

RP_READINGS = {"3sigma": RP_SIGMA_3SIGMA, "1sigma": RP_SIGMA_1SIGMA}
"""Readings of the paper's "20 % MDWMTJ resistance variation" → relative σ of rp."""
JITTER_READINGS = {"1sigma": JITTER.sigma, "3sigma": JITTER.sigma / 3.0}
"""Readings of the paper's "10 % Gaussian jitter in the write pulse" → relative σ of each flat top."""
PAPER_F1 = {"mdwmtj": 39.39, "cmos": 10.94, "cmosx": 8.03}
"""Worst-case f1 variation per weight configuration (%, normalized to the full dynamic range), paper §4."""
F1_GOAL = 0.30
"""Relative tolerance of the CMOS and CMOS+X spreads against the paper's."""
PAPER_F2 = 11.38
"""Largest f2 variation (%) the paper reports (§4: "up to 11.38 %")."""
F2_GOAL_POINTS = 3.0
"""Tolerance of the f2 spread against the paper's, in percentage points."""
PAPER_TMR = 2.0
"""The MTJ's TMR ratio (R_AP - R_P)/R_P of the paper (200 %)."""
SOURCES = {"jitter": ("vev{k}_",), "transistor_vt": ("mw{k}__delvto", "ms{k}__delvto"),
           "transistor_w": ("mw{k}__w", "ms{k}__w"), "weight_mdwmtj_rp": ("xw{k}__rp",),
           "accumulator": ("accp__", "accn__", "men_")}
"""Variation sources of pixel k's displacement: column-name prefixes of the stored draws."""


CONFIGS_OPTION = Subset("configs", ",".join(CONFIGS), "weight configurations (paper Fig. 3), one Monte Carlo each",
                        choices=CONFIGS)
RP_OPTION = Setting("rp_reading", "3sigma", "reading of the paper's '20 % MDWMTJ resistance variation': "
                    "3sigma (sigma = 20 %/3) or 1sigma (sigma = 20 %)", choices=tuple(RP_READINGS))
JITTER_OPTION = Setting("jitter_reading", "1sigma", "reading of the paper's '10 % Gaussian jitter in the write "
                        "pulse': 1sigma (sigma = 10 % of the flat top) or 3sigma (sigma = 10 %/3)",
                        choices=tuple(JITTER_READINGS))
VARY = {"jitter": ("vev", "__width"), "vt": ("", "__delvto"), "w": ("", "__w"), "rp": ("", "__rp")}
"""Variation sources of ``p2m-f1`` that option ``vary`` can keep alone: (prefix, suffix) of their slot names."""
HELD = 1e-9
"""Factor on the sigma of every source that ``vary`` holds at nominal (the engine refuses a zero sigma; its common
random numbers keep the kept source's draws identical to those of the full run)."""
VARY_OPTION = Setting("vary", "all", "variation sources drawn: all, or one alone (jitter, vt, w, rp), the others "
                                     "held at nominal: the variance decomposition one source at a time",
                      choices=("all", *VARY))
BOOTSTRAP_RESAMPLES = 1000
"""Bootstrap resamples of each f1 spread's 95 % percentile interval."""


# ----------------------------------------------------------------------------- spreads

def f1_spread(samples: np.ndarray, nominal: np.ndarray) -> dict[str, float]:
    """Spreads of the normalized displacement (see the module docstring).

    Parameters
    ----------
    samples
        Displacements per event, shape (n, 9), m.
    nominal
        Nominal displacements at the nine weights, m.

    Returns
    -------
    dict
        ``worst_3sigma`` (the headline), ``worst_6sigma``, ``worst_range`` (max − min of the
        samples), ``worst_x`` (the weight of the worst 3σ), ``dynamic_range_ratio`` and
        ``worst_range_of_median``.
    """
    lo, hi = nominal[0], nominal[-1]
    d = (samples - lo) / (hi - lo)
    sigma = np.std(d, axis=0, ddof=1)
    return {
        "dynamic_range_ratio": float(hi / lo),
        "worst_range": float(np.max(np.ptp(d, axis=0))),
        "worst_6sigma": float(np.max(6.0 * sigma)),
        "worst_3sigma": float(np.max(3.0 * sigma)),
        "worst_x": float(F1_X[int(np.argmax(sigma))]),
        "worst_range_of_median": float(np.max(np.ptp(samples, axis=0) / np.median(samples, axis=0))),
    }


def worst_3sigma(samples: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """Worst-case f1 spread: max over the weights of 3σ of d_NORM, for one sample set (n, 9) or a stack of
    them (..., n, 9); the normalisation uses the nominal curve, which resampling leaves fixed."""
    d = (samples - nominal[0]) / (nominal[-1] - nominal[0])
    return np.max(3.0 * np.std(d, axis=-2, ddof=1), axis=-1)


def bootstrap_values(samples: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], *,
                     resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> np.ndarray:
    """``statistic`` of ``resamples`` bootstrap resamples of the rows of ``samples`` (shape (n, ...)).

    ``statistic`` maps a stack of resampled sets, shape (resamples, n, ...), to one value per set.

    Raises
    ------
    ValueError
        With fewer than two samples.
    """
    samples = np.asarray(samples, float)
    if len(samples) < 2:
        raise ValueError(f"a bootstrap needs at least 2 samples, got {len(samples)}.")
    rows = np.random.default_rng(seed).integers(0, len(samples), size=(resamples, len(samples)))
    return np.asarray(statistic(samples[rows]), float)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Percentile interval of bootstrap ``values``.

    Returns
    -------
    dict
        ``low`` and ``high`` (the (1 ∓ level)/2 percentiles), ``sigma`` (standard deviation of the values),
        ``level`` and ``resamples`` (how many values).

    Raises
    ------
    ValueError
        If ``level`` is not inside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"the interval's level must lie inside (0, 1), got {level!r}.")
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return {"low": float(low), "high": float(high), "sigma": float(np.std(values, ddof=1)), "level": level,
            "resamples": len(values)}


def spread_intervals(samples: Mapping[str, np.ndarray], nominal: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """95 % percentile bootstrap intervals (:data:`BOOTSTRAP_RESAMPLES`) of each configuration's worst 3σ
    spread and of the difference of each pair of configurations.

    Parameters
    ----------
    samples, nominal
        Per configuration: the displacements (n, 9) and the nominal displacements (9,), m.

    Returns
    -------
    dict
        ``<config>`` → :func:`percentile_interval` of the worst 3σ; ``<a>-<b>`` → the interval of
        worst(a) − worst(b) (the two runs resampled independently) and ``p_greater``, the share of resamples
        in which a's spread exceeds b's.
    """
    draws = {config: bootstrap_values(values, lambda stack, c=config: worst_3sigma(stack, nominal[c]), seed=i)
             for i, (config, values) in enumerate(samples.items())}
    out: dict[str, Any] = {config: percentile_interval(values) for config, values in draws.items()}
    names = list(draws)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            diff = draws[a] - draws[b]
            out[f"{a}-{b}"] = {**percentile_interval(diff), "p_greater": float(np.mean(diff > 0))}
    return out


def variance_shares(frame: Any, k: int) -> dict[str, float]:
    """Share of the variance of pixel ``k``'s displacement per variation source (linear regression).

    Parameters
    ----------
    frame
        A Monte Carlo folder's ``load_dataframe(folder, meta=True)`` (measurements and the drawn parameters).
    k
        Pixel (weight index) 0…8.

    Returns
    -------
    dict
        Source (:data:`SOURCES`) → fraction of var(dq_k) its draws explain linearly; ``residual``
        is the rest (non-linear terms and interactions).
    """
    y = frame[f"dq{k}"].to_numpy(float)
    groups = {name: [c for c in frame.columns if c.startswith(tuple(p.format(k=k) for p in prefixes))]
              for name, prefixes in SOURCES.items()}
    groups = {name: cols for name, cols in groups.items() if cols}
    cols = [c for cols in groups.values() for c in cols]
    x = frame[cols].to_numpy(float)
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    beta, *_ = np.linalg.lstsq(np.column_stack([x, np.ones(len(y))]), y - y.mean(), rcond=None)
    shares, start = {}, 0
    for name, members in groups.items():
        part = x[:, start:start + len(members)] @ beta[start:start + len(members)]
        shares[name] = float(np.var(part) / np.var(y))
        start += len(members)
    shares["residual"] = float(np.var(y - y.mean() - x @ beta[:-1]) / np.var(y))
    return shares


F2_BIN = 0.01
"""Bin width in d_DIFF of the f2 spread. "Identical differences" of the paper are one d_DIFF; a bin adds the
curve's rise across it (about 2 points of the full range at 0.05, 0.4 at 0.01: docs/mdwmtj.md §5)."""
F2_BIN_COARSE = 0.05
"""The former bin width, reported beside for comparison."""


def f2_spread(d_diff: np.ndarray, v: np.ndarray, width: float = F2_BIN) -> dict[str, Any]:
    """Per-bin lower bound and the worst per-bin spread of V_NORM, in the three normalisations.

    Parameters
    ----------
    d_diff, v
        d_POS − d_NEG and V_PRE/V_RD per sample.
    width
        Bin width in d_DIFF; bins with fewer than five samples are skipped.

    Returns
    -------
    dict
        ``worst_spread`` (max over bins of (max − min) / full range of V_NORM), ``worst_spread_vrd``
        (max over bins of max − min, i.e. in units of V_RD), ``worst_spread_bound`` (max over bins of
        (max − min) / min), ``worst_3sigma`` (max over bins of 3σ / full range), ``worst_d_diff`` (the
        bin of ``worst_spread``), ``full_range``, ``width``, and per bin ``d_diff``, ``lower_bound``,
        ``upper_bound``.

    Raises
    ------
    ValueError
        If no bin holds five samples.
    """
    edges = np.arange(-1.0, 1.0 + width / 2, width)
    centers, low, high, sigma = [], [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (d_diff >= a) & (d_diff < b)
        if sel.sum() >= 5:
            centers.append(0.5 * (a + b))
            low.append(float(v[sel].min()))
            high.append(float(v[sel].max()))
            sigma.append(float(np.std(v[sel], ddof=1)))
    if not centers:
        raise ValueError(f"no d_DIFF bin of width {width} holds five samples: run more f2 samples.")
    full = float(v.max() - v.min())
    lo, hi = np.array(low), np.array(high)
    spread = hi - lo
    return {"worst_spread": float(spread.max() / full), "worst_spread_vrd": float(spread.max()),
            "worst_spread_bound": float(np.max(spread / lo)), "worst_3sigma": float(3.0 * max(sigma) / full),
            "worst_d_diff": float(centers[int(np.argmax(spread))]), "full_range": full, "width": width,
            "d_diff": centers, "lower_bound": low, "upper_bound": high}


def sigma_overrides(testbench: Testbench, options: Mapping[str, object], rp_sigma: float,
                    jitter_sigma: float = JITTER.sigma, vary: str = "all") -> dict[str, float] | None:
    """Sigma overrides for the Monte Carlo engine: rp of every MDWMTJ and the width jitter of every event
    pulse, each only where it differs from the declared default (None when nothing does); with ``vary``
    one source of :data:`VARY` alone, every other varied slot's sigma scaled by :data:`HELD`."""
    if vary != "all" and vary not in VARY:
        raise ValueError(f"vary {vary!r} is not 'all' or one of {', '.join(VARY)}.")
    circuit = testbench.circuit(options)
    names: dict[str, float] = {}
    for slot in circuit.slots:
        if slot.variation is None:
            continue
        sigma = slot.variation.sigma
        if slot.name.endswith("__rp"):
            sigma = rp_sigma
        elif slot.name.startswith("vev") and slot.name.endswith("__width"):
            sigma = jitter_sigma
        if vary != "all" and not (slot.name.startswith(VARY[vary][0]) and slot.name.endswith(VARY[vary][1])):
            sigma *= HELD
        if sigma != slot.variation.sigma:
            names[slot.name] = sigma
    return names or None



def per_config(data: Mapping[str, Any], headline: Callable[[Any], dict[str, float]]) -> dict[str, float]:
    """``<name>_<config>`` → value for every configuration: ``headline(data[config])``, NaN where the
    configuration was not run."""
    keys = list(headline(None))
    out = {}
    for config in CONFIGS:
        values = headline(data[config]) if config in data else dict.fromkeys(keys, math.nan)
        out.update({f"{key}_{config}": value for key, value in values.items()})
    return out


def _f1_nominal(ctx: StudyContext, settings: Mapping[str, object]) -> np.ndarray:
    """Nominal displacement per event (m) at the nine weights F1_X."""
    values = ctx.simulate("p2m-f1", settings)
    return np.array([values[f"dq{k}"] for k in range(len(F1_X))])


# ----------------------------------------------------------------------------- p2m-f1

MAC_CODE = (__name__, "testbenches.mdwmtj.mac")
"""Modules whose source the P²M studies' definitions hold (:attr:`spicegen.study.Study.code`)."""


@register_study
class P2mF1(Study):
    """f1 Monte Carlo of the P²M MAC per weight configuration: displacement per event vs weight (paper Fig. 6a-c)."""

    name = "p2m-f1"
    code = MAC_CODE
    family = "mdwmtj"
    options = (CONFIGS_OPTION, RP_OPTION, JITTER_OPTION, VARY_OPTION)
    measures = {
        # the rp reading (3 sigma) follows the paper's wording (docs/mdwmtj.md §5), but it was first picked
        # partly because it gives the MDWMTJ value, so that value counts as a calibration, not as held out
        **{f"worst_3sigma_{c}": Measure("%", f"{c}: largest over the nine weights of 3 sigma of d_NORM (normalized "
                                             "to the full dynamic range)", paper=PAPER_F1[c],
                                        role="calibration" if c == "mdwmtj" else "held out",
                                        goal=None if c == "mdwmtj" else F1_GOAL) for c in CONFIGS},
        **{f"worst_3sigma_{end}_{c}": Measure("%", f"{c}: {end} end of the 95 % percentile bootstrap interval of "
                                                  f"worst_3sigma_{c} ({BOOTSTRAP_RESAMPLES} resamples)")
           for c in CONFIGS for end in ("low", "high")},
        **{f"worst_range_{c}": Measure("%", f"{c}: largest sample range (max - min) of d_NORM") for c in CONFIGS},
        **{f"dynamic_range_{c}": Measure("", f"{c}: nominal dq(1)/dq(1/9)") for c in CONFIGS},
        **{f"failed_{c}": Measure("", f"{c}: samples that failed to simulate", spec=(0.0, 0.0)) for c in CONFIGS},
        "cmos_minus_cmosx": Measure("%", "worst_3sigma of CMOS minus that of CMOS+X (percentage points; the paper "
                                         "has CMOS above CMOS+X)", paper=PAPER_F1["cmos"] - PAPER_F1["cmosx"],
                                    role="held out"),
        "cmos_minus_cmosx_low": Measure("%", "low end of its 95 % bootstrap interval: above 0 when the paper's "
                                             "ordering is shown with confidence", spec=(0.0, None)),
        "cmos_minus_cmosx_high": Measure("%", "high end of its 95 % bootstrap interval"),
        "p_cmos_above_cmosx": Measure("", "share of the bootstrap resamples with CMOS above CMOS+X"),
    }
    devices = ("mdwmtj",)
    n_default = 1000
    n_min = 2
    n_desc = "Monte Carlo samples per configuration (nine weights each)"
    seed_default = 1

    def run(self, ctx: StudyContext) -> StudyResult:
        rp_sigma = RP_READINGS[ctx.options["rp_reading"]]
        jitter_sigma = JITTER_READINGS[ctx.options["jitter_reading"]]
        configs = ctx.options["configs"].split(",")
        vary = ctx.options["vary"]
        data: dict[str, Any] = {"configs": configs, "rp_sigma": rp_sigma, "jitter_sigma": jitter_sigma, "vary": vary,
                                "f1": {}}
        samples = {}
        for config in configs:
            data["f1"][config], samples[config] = self._config(ctx, config, rp_sigma, jitter_sigma, vary)
        nominal = {config: np.asarray(data["f1"][config]["nominal_m"]) for config in configs}
        data["intervals"] = spread_intervals(samples, nominal)
        for config in configs:
            data["f1"][config]["worst_3sigma_ci95"] = data["intervals"][config]
        plot_f1(ctx.out / "f1.png", data["f1"], samples)
        return StudyResult({**per_config(data["f1"], self._headline), **self._ordering(data)}, data, files=["f1.png"])

    @staticmethod
    def _ordering(data: Mapping[str, Any]) -> dict[str, float]:
        """CMOS minus CMOS+X worst 3σ (points) with its bootstrap interval; NaN unless both were run."""
        f1, intervals = data["f1"], data["intervals"]
        if "cmos" not in f1 or "cmosx" not in f1:
            return dict.fromkeys(("cmos_minus_cmosx", "cmos_minus_cmosx_low", "cmos_minus_cmosx_high",
                                  "p_cmos_above_cmosx"), math.nan)
        pair, sign = (intervals["cmos-cmosx"], 1) if "cmos-cmosx" in intervals else (intervals["cmosx-cmos"], -1)
        ends = sorted((sign * pair["low"], sign * pair["high"]))
        p_greater = pair["p_greater"] if sign > 0 else 1.0 - pair["p_greater"]
        return {"cmos_minus_cmosx": 100 * (f1["cmos"]["worst_3sigma"] - f1["cmosx"]["worst_3sigma"]),
                "cmos_minus_cmosx_low": 100 * ends[0], "cmos_minus_cmosx_high": 100 * ends[1],
                "p_cmos_above_cmosx": p_greater}

    @staticmethod
    def _headline(info: Mapping[str, Any] | None) -> dict[str, float]:
        """The declared measurements of one configuration (names without the configuration; NaN without ``info``)."""
        if info is None:
            return dict.fromkeys(("worst_3sigma", "worst_3sigma_low", "worst_3sigma_high", "worst_range",
                                  "dynamic_range", "failed"), math.nan)
        ci = info["worst_3sigma_ci95"]
        return {"worst_3sigma": 100 * info["worst_3sigma"], "worst_3sigma_low": 100 * ci["low"],
                "worst_3sigma_high": 100 * ci["high"], "worst_range": 100 * info["worst_range"],
                "dynamic_range": info["dynamic_range_ratio"], "failed": float(info["failed"])}

    @staticmethod
    def _config(ctx: StudyContext, config: str, rp_sigma: float, jitter_sigma: float,
                vary: str) -> tuple[dict[str, Any], np.ndarray]:
        """Monte Carlo of one configuration in ``f1_<config>``: its spreads and variance shares, and the samples."""
        settings = {"config": config}
        folder = f"f1_{config}"
        ctx.monte_carlo("p2m-f1", ctx.n, folder=folder, settings=settings,
                        sigmas=sigma_overrides(P2M_F1, settings, rp_sigma, jitter_sigma, vary))
        frame = load_dataframe(ctx.out / folder, meta=True)
        ok = simulated(frame)
        samples = ok[[f"dq{k}" for k in range(len(F1_X))]].to_numpy(float)
        nominal = _f1_nominal(ctx, settings)
        spread = f1_spread(samples, nominal)
        worst = F1_X.index(spread["worst_x"])
        return {"samples": int(len(ok)), "failed": int(len(frame) - len(ok)), "nominal_m": nominal.tolist(), **spread,
                "paper_worst": PAPER_F1[config] / 100, "variance_shares_at_worst_x": variance_shares(ok, worst)}, samples


def plot_f1(path: Path, f1: Mapping[str, Mapping[str, Any]], samples: Mapping[str, np.ndarray]) -> Path:
    """Fig. 6 style (a–c): d_NORM vs x per configuration, every sample and the nominal curve."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(samples), figsize=(4 * len(samples), 4), squeeze=False)
    x = np.asarray(F1_X)
    for ax, (config, values) in zip(axes[0], samples.items()):
        info = f1[config]
        nominal = np.asarray(info["nominal_m"])
        d = (values - nominal[0]) / (nominal[-1] - nominal[0])
        ax.plot(np.repeat(x[None, :], len(d), axis=0).ravel(), d.ravel(), ".", ms=1, alpha=0.3, label="samples")
        d_nominal = (nominal - nominal[0]) / (nominal[-1] - nominal[0])
        ax.plot(x, d_nominal, "k-", lw=1, label="nominal")
        worst = F1_X.index(info["worst_x"])
        for spread, shift, color, label in ((info["worst_3sigma"], -0.02, "C1", "ours"),
                                            (info["paper_worst"], 0.02, "k", "paper")):
            ax.errorbar([info["worst_x"] + shift], [d_nominal[worst]], yerr=[[spread / 2], [spread / 2]], fmt="none",
                        color=color, capsize=4, lw=1.5, label=f"worst 3σ spread (bar length), {label}: {spread:.1%}")
        ax.set_title(f"{CONFIG_LABELS[config]} weights", fontsize=9)
        ax.set_xlabel("normalized input × weight")
        ax.set_ylabel("normalized displacement d_NORM")
        ax.legend(fontsize=7)
    fig.suptitle("f1: displacement per event vs weight under variation (sim., cf. Kaiser et al. Fig. 6a-c)",
                 fontsize=9)
    return save_figure(fig, path, dpi=130)


# ----------------------------------------------------------------------------- p2m-f2

F2_READ_LAW = ("v_rd", *F2_DEVICE_OPTIONS)
"""Options of ``p2m-f2`` that set the read law of the divider (the readings of docs/mdwmtj.md §5)."""


@register_study
class P2mF2(Study):
    """f2 Monte Carlo of the P²M read divider: normalized pre-activation vs accumulator difference (paper Fig. 6d)."""

    name = "p2m-f2"
    code = MAC_CODE
    family = "mdwmtj"
    options = (Setting("rp", False, "also vary rp of both accumulators (d2d); without it only the combinations of "
                                    "the two wall positions spread f2, as the paper attributes it"),
               RP_OPTION,
               Setting("v_rd", V_RD, "read bias of the divider", unit="V", bounds=(1e-3, 3.3)),
               *(Setting(p.name, p.default, f"{p.desc} (both accumulators)", unit=p.unit, bounds=p.bounds)
                 for p in get_device("mdwmtj").params if p.name in F2_DEVICE_OPTIONS))
    measures = {
        "worst_spread": Measure("%", f"largest per-bin (max - min) of V_PRE/V_RD over its full range (bins of {F2_BIN} "
                                     "in d_DIFF); the paper reports up to 11.38 %", paper=PAPER_F2,
                                role="held out", spec=(PAPER_F2 - F2_GOAL_POINTS, PAPER_F2 + F2_GOAL_POINTS)),
        "worst_spread_coarse": Measure("%", f"the same in bins of {F2_BIN_COARSE} (the former definition)"),
        "worst_spread_vrd": Measure("%", "largest per-bin (max - min) of V_PRE/V_RD, in % of V_RD"),
        "worst_spread_bound": Measure("%", "largest per-bin (max - min) of V_PRE/V_RD, in % of the per-bin minimum"),
        "worst_3sigma": Measure("%", "largest per-bin 3 sigma of V_PRE/V_RD over its full range"),
        "full_range": Measure("", "full range of V_PRE/V_RD over the samples"),
        "failed": Measure("", "samples that failed to simulate", spec=(0.0, 0.0)),
    }
    devices = ("mdwmtj",)
    n_default = 40000
    n_min = 200
    n_desc = ("accumulator-position pairs (50 per netlist); 40 000 give the f2 bound's conformal calibration and "
              "held-out check the samples a 0.1 % coverage claim needs (docs/mdwmtj.md §5)")
    seed_default = 1

    def run(self, ctx: StudyContext) -> StudyResult:
        rp_sigma = RP_READINGS[ctx.options["rp_reading"]] if ctx.options["rp"] else None
        kinds = ("local", "d2d") if rp_sigma is not None else ("local",)
        sigmas = sigma_overrides(P2M_F2, {}, rp_sigma) if rp_sigma is not None else None
        defaults = {o.name: o.default for o in P2M_F2.options}
        settings = {k: ctx.options[k] for k in F2_READ_LAW if ctx.options[k] != defaults[k]} or None
        frame = ctx.monte_carlo("p2m-f2", ctx.n, folder="f2", pack=50, kinds=kinds, sigmas=sigmas, settings=settings)
        ok = simulated(frame)
        d_diff = (ok["d_pos"] - ok["d_neg"]).to_numpy(float)
        v = ok["v_pre"].to_numpy(float)
        spread = f2_spread(d_diff, v)
        coarse = f2_spread(d_diff, v, F2_BIN_COARSE)
        plot_f2(ctx.out / "f2.png", spread, d_diff, v)
        data = {"samples": int(len(ok)), "failed": int(len(frame) - len(ok)), "rp_varied": rp_sigma is not None,
                "rp_sigma": rp_sigma, "read_law": {k: ctx.options[k] for k in F2_READ_LAW},
                "paper_worst": PAPER_F2 / 100, **spread,
                "coarse": {k: coarse[k] for k in ("worst_spread", "worst_spread_vrd", "worst_spread_bound", "width")}}
        measured = {k: 100 * spread[k] for k in ("worst_spread", "worst_spread_vrd", "worst_spread_bound", "worst_3sigma")}
        return StudyResult({**measured, "worst_spread_coarse": 100 * coarse["worst_spread"],
                            "full_range": spread["full_range"], "failed": float(data["failed"])}, data, files=["f2.png"])


def plot_f2(path: Path, spread: Mapping[str, Any], d_diff: np.ndarray, v: np.ndarray) -> Path:
    """Fig. 6 style (d): V_NORM vs d_DIFF with its per-bin lower bound."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(d_diff, v, ".", ms=1, alpha=0.3)
    ax.plot(spread["d_diff"], spread["lower_bound"], "r-", label="lower bound (f2)")
    ax.plot(spread["d_diff"], np.asarray(spread["lower_bound"]) + PAPER_F2 / 100 * spread["full_range"], "k--", lw=1,
            label=f"lower bound + paper's largest spread ({PAPER_F2:.2f} % of the full range)")
    ax.set_title(f"f2: worst spread {spread['worst_spread']:.1%} of the full range (bins of {spread['width']:g}; "
                 "sim., cf. Kaiser et al. Fig. 6d)", fontsize=9)
    ax.set_xlabel("accumulator difference d_NORM,DIFF")
    ax.set_ylabel("V_ACT,PRE / V_RD")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=130)


# ----------------------------------------------------------------------------- p2m-mac-margin

@register_study
class P2mMacMargin(Study):
    """Fig. 4c sense margin: V_PRE vs V_TH of the full P²M channel under every variation, per configuration."""

    name = "p2m-mac-margin"
    code = MAC_CODE
    family = "mdwmtj"
    options = (CONFIGS_OPTION,)
    measures = {
        **{f"nominal_margin_{c}": Measure("mV", f"{c}: nominal V_PRE - V_TH at evaluation") for c in CONFIGS},
        **{f"margin_mean_{c}": Measure("mV", f"{c}: mean of V_PRE - V_TH over the samples") for c in CONFIGS},
        **{f"margin_sigma_{c}": Measure("mV", f"{c}: its standard deviation") for c in CONFIGS},
        **{f"same_decision_{c}": Measure("%", f"{c}: samples whose spike decision equals the nominal one")
           for c in CONFIGS},
        **{f"failed_{c}": Measure("", f"{c}: samples that failed to simulate", spec=(0.0, 0.0)) for c in CONFIGS},
    }
    devices = ("mdwmtj",)
    n_default = 200
    n_min = 2
    n_desc = "Monte Carlo samples per configuration (one 1 ms MAC window each)"
    seed_default = 1

    def run(self, ctx: StudyContext) -> StudyResult:
        data = {config: self._config(ctx, config) for config in ctx.options["configs"].split(",")}
        return StudyResult(per_config(data, self._headline), data, files=[f"mac_margin_{c}.png" for c in data])

    @staticmethod
    def _headline(info: Mapping[str, Any] | None) -> dict[str, float]:
        """The declared measurements of one configuration (names without the configuration; NaN without ``info``)."""
        if info is None:
            return dict.fromkeys(("nominal_margin", "margin_mean", "margin_sigma", "same_decision", "failed"), math.nan)
        return {"nominal_margin": 1e3 * (info["nominal"]["v_pre"] - info["nominal"]["v_th"]),
                "margin_mean": 1e3 * info["margin_mean"], "margin_sigma": 1e3 * info["margin_sigma"],
                "same_decision": 100 * info["same_decision"], "failed": float(info["failed"])}

    @staticmethod
    def _config(ctx: StudyContext, config: str) -> dict[str, Any]:
        """Monte Carlo of one configuration in ``mac_<config>`` and its figure ``mac_margin_<config>.png``."""
        settings = {"config": config}
        frame = ctx.monte_carlo("p2m-mac", ctx.n, folder=f"mac_{config}", settings=settings)
        ok = simulated(frame)
        nominal = ctx.simulate("p2m-mac", settings)
        margin = (ok["v_pre"] - ok["v_th"]).to_numpy(float)
        info = {"samples": int(len(ok)), "failed": int(len(frame) - len(ok)),
                "nominal": {k: float(nominal[k]) for k in ("v_pre", "v_th", "spike", "q_pos", "q_neg")},
                "v_pre_sigma": float(ok["v_pre"].std(ddof=1)), "v_th_sigma": float(ok["v_th"].std(ddof=1)),
                "margin_mean": float(margin.mean()), "margin_sigma": float(margin.std(ddof=1)),
                "margin_min": float(margin.min()), "margin_max": float(margin.max()),
                "same_decision": float(np.mean(ok["spike"].to_numpy(float) == nominal["spike"]))}
        plot_margin(ctx.out / f"mac_margin_{config}.png", config, ok, info)
        return info


def plot_margin(path: Path, config: str, ok: Any, info: Mapping[str, Any]) -> Path:
    """Fig. 4c style: final pre-activation and threshold of every sample."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    idx = np.arange(len(ok))
    ax.plot(idx, ok["v_pre"].to_numpy(float) * 1e3, ".", ms=3, label="V_ACT,PRE")
    ax.plot(idx, ok["v_th"].to_numpy(float) * 1e3, ".", ms=3, label="V_TH")
    ax.set_xlabel("Monte Carlo sample")
    ax.set_ylabel("V_ACT,PRE and V_TH at evaluation (mV)")
    ax.set_title(f"{CONFIG_LABELS[config]}: margin {info['margin_mean'] * 1e3:+.2f} ± {info['margin_sigma'] * 1e3:.2f} mV (1σ), "
                 f"same decision {info['same_decision']:.0%} (sim., cf. Kaiser et al. Fig. 4c)", fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=130)


# ----------------------------------------------------------------------------- p2m-range

@register_study
class P2mRange(Study):
    """CMOS+X programmable range under variation: each width with every weight MDWMTJ at R_P and at R_AP."""

    name = "p2m-range"
    code = MAC_CODE
    family = "mdwmtj"
    measures = {
        "range_mean_min": Measure("%", "smallest over the nine widths of the mean (dq(R_P) - dq(R_AP))/their mean; "
                                       "the paper: 30-40 % for most weight values", spec=(30.0, 40.0)),
        "range_mean_max": Measure("%", "largest over the nine widths of that mean", spec=(30.0, 40.0)),
        "fraction_30pct_min": Measure("%", "smallest over the widths of the share of samples with a range >= 30 %"),
        "failed": Measure("", "samples missing at either end (failed to simulate)", spec=(0.0, 0.0)),
    }
    devices = ("mdwmtj",)
    n_default = 300
    n_min = 2
    n_desc = "Monte Carlo samples (each simulated at both ends, same draws)"
    seed_default = 1

    def run(self, ctx: StudyContext) -> StudyResult:
        """The two Monte Carlo folders ``range_p``, ``range_ap`` share their draws sample by sample (same seed
        and slots), so each sample's range at each width is (Δq(R_P) − Δq(R_AP)) / their mean, the paper's
        "programmability range ... from its median value" per device."""
        ends, nominal = {}, {}
        for tune in ("p", "ap"):
            settings = {"config": "cmosx", "tune": tune}
            frame = ctx.monte_carlo("p2m-f1", ctx.n, folder=f"range_{tune}", settings=settings)
            ends[tune] = simulated(frame).set_index("sample")[[f"dq{k}" for k in range(len(F1_X))]]
            nominal[tune] = _f1_nominal(ctx, settings)
        common = ends["p"].index.intersection(ends["ap"].index)
        high, low = (ends[t].loc[common].to_numpy(float) for t in ("p", "ap"))
        ratio = (high - low) / (0.5 * (high + low))
        at_least = np.mean(ratio >= 0.30, axis=0)
        data = {"samples": int(len(common)), "x": list(F1_X),
                "nominal": ((nominal["p"] - nominal["ap"]) / (0.5 * (nominal["p"] + nominal["ap"]))).tolist(),
                "mean": ratio.mean(axis=0).tolist(), "sigma": ratio.std(axis=0, ddof=1).tolist(),
                "low_3sigma": np.quantile(ratio, 0.00135, axis=0).tolist(),
                "high_3sigma": np.quantile(ratio, 0.99865, axis=0).tolist(),
                "fraction_at_least_30pct": at_least.tolist()}
        mean = ratio.mean(axis=0)
        return StudyResult({"range_mean_min": 100 * float(mean.min()), "range_mean_max": 100 * float(mean.max()),
                            "fraction_30pct_min": 100 * float(at_least.min()),
                            "failed": float(ctx.n - len(common))}, data)


# ----------------------------------------------------------------------------- p2m-waveforms

REPROGRAM = ("cmosx", "mdwmtj")
"""Configurations with programmable weights (the Fig. 5 scenario)."""


@register_study
class P2mWaveforms(Study):
    """Nominal waveforms of the P²M channel: the default MAC per configuration (Fig. 4) and reprogramming (Fig. 5)."""

    name = "p2m-waveforms"
    code = MAC_CODE
    family = "mdwmtj"
    options = (Setting("flavor", "osdi", "MDWMTJ as compiled Verilog-A (osdi) or ngspice twin", choices=("osdi", "twin")),)
    measures = {
        **{f"v_pre_{c}": Measure("mV", f"{c}: pre-activation at evaluation, default MAC") for c in CONFIGS},
        **{f"v_th_{c}": Measure("mV", f"{c}: threshold at evaluation, default MAC") for c in CONFIGS},
        **{f"spike_{c}": Measure("", f"{c}: output spike of the default MAC (1/0)") for c in CONFIGS},
        **{f"reprogram_spike_app1_{c}": Measure("", f"{c}: spike in application 1 of Fig. 5 (expected none)",
                                                spec=(0.0, 0.0)) for c in REPROGRAM},
        **{f"reprogram_spike_app2_{c}": Measure("", f"{c}: spike after reprogramming weights and threshold "
                                                    "(expected one)", spec=(1.0, 1.0)) for c in REPROGRAM},
    }
    devices = ("mdwmtj",)

    def run(self, ctx: StudyContext) -> StudyResult:
        flavor = ctx.options["flavor"]
        data: dict[str, dict[str, float]] = {}
        files = []
        for config in ctx.bar(CONFIGS, desc="Fig. 4 MAC"):
            run = run_mac(MacSpec(config=config), flavor)
            data[f"mac_{config}"] = run.measurements
            files.append(self._plot(run, ctx.out, f"mac_{config}.png", f"P²M 3×3 MAC, {CONFIG_LABELS[config]} weights (sim., cf. Kaiser et al. Fig. 4)"))
        for config in ctx.bar(REPROGRAM, desc="Fig. 5 reprogramming"):
            run = run_mac(fig5_spec(config), flavor)
            data[f"reprogram_{config}"] = run.measurements
            files.append(self._plot(run, ctx.out, f"reprogram_{config}.png",
                                    f"weight / threshold reprogramming, {CONFIG_LABELS[config]} weights (sim., cf. Kaiser et al. Fig. 5)"))
        measurements = {}
        for config in CONFIGS:
            m = data[f"mac_{config}"]
            measurements.update({f"v_pre_{config}": 1e3 * m["v_pre_0"], f"v_th_{config}": 1e3 * m["v_th_0"],
                                 f"spike_{config}": m["spike_0"]})
        for config in REPROGRAM:
            m = data[f"reprogram_{config}"]
            measurements.update({f"reprogram_spike_app1_{config}": m["spike_0"],
                                 f"reprogram_spike_app2_{config}": m["spike_1"]})
        return StudyResult(measurements, data, files=files)

    @staticmethod
    def _plot(run: Any, out: Path, name: str, title: str) -> str:
        plot_run(run, out / name, title)
        return name


# ----------------------------------------------------------------------------- the device alone


@register_study
class MdwmtjDevice(Study):
    """The MDWMTJ alone: read resistance vs wall position and bias, wall displacement per write pulse vs current."""

    name = "mdwmtj-device"
    code = (__name__, "testbenches.mdwmtj.device")
    family = "mdwmtj"
    options = (Setting("flavor", "osdi", "compiled Verilog-A or the ngspice twin", choices=("osdi", "twin")),
               Setting("positions", 41, "wall positions over [0, l_FL]", bounds=(3, 201)),
               Setting("i_max", 300.0, "largest write current of the pulse sweep", unit="µA", bounds=(10.0, 1000.0)),
               Setting("currents", 31, "write currents of the pulse sweep, 0 … i_max", bounds=(3, 201)),
               Setting("width", 0.5, "write pulse width", unit="ns", bounds=(0.01, 100.0)))
    measures = {
        "r_p": Measure("Ohm", "MTJ read resistance at q = 0 (10 mV)"),
        "r_ap": Measure("Ohm", "MTJ read resistance at q = l_FL (10 mV)"),
        # the device's zero-bias TMR (tmr0) is the paper's 200 %
        "tmr_10mv": Measure("", "TMR at 10 mV read bias", paper=PAPER_TMR, role="calibration"),
        "tmr_800mv": Measure("", "TMR at 800 mV read bias (roll-off)"),
        "i_threshold": Measure("µA", "smallest swept write current that moves the wall"),
        "velocity_max": Measure("m/s", "wall velocity at i_max (Δq / pulse width)"),
    }
    devices = ("mdwmtj",)

    def run(self, ctx: StudyContext) -> StudyResult:
        from spicegen.devices.mdwmtj import L_FL

        from .device import run_pulse, run_rq

        o = ctx.options
        ctx.say(f"{self.name}: read resistance at {o['positions']} positions x 6 biases ({o['flavor']})")
        rq = run_rq(np.linspace(0.0, L_FL, o["positions"]), flavor=o["flavor"])
        currents = np.linspace(0.0, o["i_max"], o["currents"])[1:] * 1e-6
        ctx.say(f"{self.name}: {len(currents)} write pulses of {o['width']} ns")
        pulse = run_pulse(currents, o["width"] * 1e-9, flavor=o["flavor"])
        moved = np.flatnonzero(pulse["dq"] > 1e-3 * L_FL)
        save_figure(self._figure(rq, pulse), ctx.out / "mdwmtj_device.png", dpi=130)
        return StudyResult(
            {"r_p": float(rq["r_mtj"][0, 0]), "r_ap": float(rq["r_mtj"][0, -1]), "tmr_10mv": float(rq["tmr"][0]),
             "tmr_800mv": float(rq["tmr"][-1]),
             "i_threshold": float(currents[moved[0]] * 1e6) if moved.size else math.nan,
             "velocity_max": float(pulse["velocity"][-1])},
            data={"q_m": rq["q"], "bias_v": rq["bias"], "r_mtj_ohm": rq["r_mtj"], "tmr": rq["tmr"],
                  "current_a": pulse["current"], "dq_m": pulse["dq"]},
            files=["mdwmtj_device.png"])

    @staticmethod
    def _figure(rq: Mapping[str, Any], pulse: Mapping[str, Any]) -> Any:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        for k, v in enumerate(rq["bias"]):
            left.plot(rq["q"] * 1e9, rq["r_mtj"][k] / 1e3, label=f"{v * 1e3:.0f} mV")
        left.plot([rq["q"][-1] * 1e9], [rq["r_mtj"][0, 0] * (1 + PAPER_TMR) / 1e3], "*", color="k", ms=10,
                  label=f"paper: R_AP = (1 + TMR) R_P, TMR {PAPER_TMR:.0%}")
        left.set_xlabel("wall position q (nm)")
        left.set_ylabel("MTJ read resistance (kΩ)")
        left.legend(fontsize=7, title="read bias", title_fontsize=7)
        right.plot(pulse["current"] * 1e6, pulse["velocity"], "o-", ms=3)
        right.set_xlabel("write current (µA)")
        right.set_ylabel("wall velocity Δq/t_pulse (m/s)")
        fig.suptitle("MDWMTJ alone (sim., cf. Kaiser et al. Fig. 1)", fontsize=9)
        return fig
