"""Open-loop identical-pulse response of the CMO/HfOx 1T1R cell (Falcone et al. §2.3.1, Fig. 5, Eqs. 1-3).

Per device: 400 set pulses (1.35 V, V_G = 1.4 V), 400 reset pulses (-1.3 V, V_G = 3.3 V), then 500
pulses 1-up/1-down around the symmetry point, all 2.5 us, each followed by a 0.2 V read (V_G = 3.3 V).
From the traces (Eqs. 1-3)::

    N_states = (G_max - G_min)/mean|dG_sp|,  SP_skew = (G_max - G_sp)/(G_max - G_min),
    NSR = std|dG_sp|/mean|dG_sp|

The per-device generalised soft-bounds parameters (aihwkit form, Eq. 7) are fitted to the traces by
the extraction ``reram-pulse-response`` (:mod:`fitting.reram.stats`).

**Pulse map.** A pulse is 2.5 us with the cell's electrical state settled within nanoseconds (the
device has no capacitance; the edges are 10 ns), so during a pulse dx/dt = r(x) with r the device's
own rate at the cell's DC operating point. :class:`PulseMap` takes that operating point from ngspice
(one ``.op`` of frozen cells over the state range per bias: the sky130 transistor is in it), evaluates
the device's numpy rendering (the same equations as the Verilog-A and the twin, ``spicegen check``)
for r(x), and integrates dx/r exactly: t(x) = integral dx/r. A pulse is then a lookup, ~1e4 times
faster than a transient per pulse; ``tests/reram/test_reram.py`` checks it against
:func:`testbenches.reram.cell.apply_pulse`. Cycle-to-cycle noise: the set (reset) rate is
proportional to ``nu_set`` (``nu_rst``), so a c2c draw of that parameter is the same as a pulse of
width ``width*nu_drawn/nu``.

Devices: device-to-device samples of the parameters' own ``d2d`` :class:`~spicegen.params.Variation`,
drawn by the Monte Carlo engine's sampler (``StudyContext.sample_devices``).

Study ``reram-pulse-response`` (the paper's array: ``--n 32``)::

    spicegen study run reram-pulse-response --n 32 --out results/reram-pulse-response
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from spicegen.figures import pyplot, save_figure
from spicegen.files import write_text
from spicegen.params import Variation
from spicegen.study import Measure, Study, StudyContext, StudyResult, register_study
from testbenches.reram import cell

#: Falcone et al. section 2.3.1 / 4.5.
PULSE_WIDTH = 2.5e-6
SET_BIAS, RESET_BIAS, READ_BIAS = (1.35, 1.4), (-1.3, 3.3), (cell.V_READ, cell.VG_READ)
N_SET, N_RESET, N_ALTERNATE = 400, 400, 500
#: Alternating pulses skipped before the symmetry-point statistics (settling onto the SP).
SP_SETTLE = 100
#: Pulses at the end of each 400-pulse batch averaged for G_max / G_min (the saturated end).
SWING_TAIL = 40
#: Paper values over 32 devices (section 2.3.1, Fig. 5c).
PAPER = {"n_states": 22.0, "sp_skew": 0.61, "nsr": 0.90}
#: Relative tolerance of the mean N_states and SP_skew against the paper's.
PULSE_GOAL = 0.10
#: Range of N_states over the paper's 32 devices (section 2.3.1, Fig. 5c) and the tolerance on its ends.
PAPER_N_STATES_RANGE, RANGE_GOAL = (16.0, 33.0), 0.30
#: Ends of the paper's 400/400 swing, G_min and G_max (S; Fig. 5a, read off the figure).
PAPER_SWING = (10e-6, 100e-6)
#: State grid of the pulse map (the device's range) and the fine grid of the time integral.
X_GRID = np.linspace(-0.1, 1.1, 61)
X_FINE = np.linspace(-0.1, 1.1, 4001)
#: Rates below this (1/s) count as zero: a pulse there moves x by < 1e-9.
RATE_FLOOR = 1e-3
#: Parameters of reram_cmo that enter only the state rates (set, reset, volatile bound, switching threshold):
#: the frozen operating points of a map do not depend on them.
KINETIC = frozenset({"nu_set", "ea_set", "a_set", "nu_rst", "ea_rst", "a_rst", "gam_set", "gam_rst", "x_top", "gam_v",
                     "gam_v_rst", "tau_v", "v_vol", "dv_vol", "v_th", "dv_th"})


def c2c_variations() -> dict[str, Variation]:
    """The device's cycle-to-cycle variations of the set and reset rate prefactors (``nu_set``, ``nu_rst``)."""
    model = cell.device_model()
    found = {name: model.param(name).variation for name in ("nu_set", "nu_rst")}
    return {name: v for name, v in found.items() if v is not None and v.kind == "c2c"}


def _device_params(params: Mapping[str, float] | None) -> dict[str, float]:
    model = cell.device_model()
    return {**model.defaults, **dict(params or {})}


def state_rate(v_device: np.ndarray, xs: np.ndarray, params: Mapping[str, float] | None = None) -> np.ndarray:
    """dx/dt (1/s) of the device's numpy rendering at device voltages ``v_device`` (V across it, from frozen
    operating points) and states ``xs``, the volatile state at its initial value; ``params`` over the defaults."""
    from spicegen.numpy_code import load_numpy_module

    kwargs = {k: v for k, v in _device_params(params).items() if k not in ("x0", "freeze")}
    ev = load_numpy_module(cell.device_model()).evaluate({"te": v_device, "be": 0 * v_device}, {"x": xs}, **kwargs)
    return np.asarray(ev["rates"]["x"], dtype=float)


@dataclass
class PulseMap:
    """Read conductance and pulse response of one device (parameter set) in the 1T1R cell.

    Build with :meth:`build`; ``pulse`` moves a state by one pulse of a tabulated bias.
    """

    params: dict[str, float]
    g_read: np.ndarray
    v_device: dict[tuple[float, float], np.ndarray] = field(default_factory=dict)
    """bias -> device voltage V(te, be) on :data:`X_GRID` (from ngspice)."""
    times: dict[tuple[float, float], np.ndarray] = field(default_factory=dict)
    """bias -> t(x) on :data:`X_FINE`: time for the pulse of that bias to reach x (increasing for set)."""
    c2c: dict[str, Variation] = field(default_factory=c2c_variations)
    """Per-pulse draws of the rate prefactors (default: the device's own ``c2c`` variations)."""

    @classmethod
    def build(cls, params: Mapping[str, float] | None = None,
              biases: Sequence[tuple[float, float]] = (SET_BIAS, RESET_BIAS)) -> "PulseMap":
        """Tabulate the read and each pulse bias for the device ``params`` (defaults for the rest)."""
        _, i_read = cell.frozen_operating_points(X_GRID, *READ_BIAS, params)
        g_read = i_read / READ_BIAS[0]
        if np.any(np.diff(g_read) <= 0):
            raise ValueError("the read conductance is not monotonic in the state; check the transport parameters")
        v_device = {tuple(bias): cell.frozen_operating_points(X_GRID, *bias, params)[0] for bias in biases}
        return cls(_device_params(params), g_read, v_device)._integrate()

    def with_kinetics(self, kinetics: Mapping[str, float]) -> "PulseMap":
        """The same cell with other switching-kinetics parameters (:data:`KINETIC`; the tabulated operating
        points do not depend on them: the state is frozen there)."""
        bad = set(kinetics) - KINETIC
        if bad:
            raise KeyError(f"{sorted(bad)} are not kinetic parameters of reram_cmo; kinetic ones: {sorted(KINETIC)} "
                           "(rebuild the map for the others)")
        return PulseMap({**self.params, **kinetics}, self.g_read, self.v_device, c2c=self.c2c)._integrate()

    def with_c2c(self, **variations: Variation) -> "PulseMap":
        """The same cell with other per-pulse variations of ``nu_set`` / ``nu_rst`` (e.g. in a calibration)."""
        bad = set(variations) - {"nu_set", "nu_rst"}
        if bad:
            raise KeyError(f"{sorted(bad)}: only nu_set and nu_rst carry the per-pulse noise")
        return replace(self, c2c={**self.c2c, **variations})

    def _integrate(self) -> "PulseMap":
        for bias, v_dev in self.v_device.items():
            self.times[bias] = _time_integral(state_rate(v_dev, X_GRID, self.params), bias[0] > 0)
        return self

    def conductance(self, x: float | np.ndarray) -> np.ndarray:
        """0.2 V read conductance (S) at state ``x``."""
        return np.interp(x, X_GRID, self.g_read)

    def state(self, g: float) -> float:
        """State whose read conductance is ``g`` (S)."""
        return float(np.interp(g, self.g_read, X_GRID))

    def pulse(self, x: float, bias: tuple[float, float], width: float = PULSE_WIDTH) -> float:
        """State after one pulse of ``bias`` = (V_te, V_G) and ``width`` seconds from state ``x``."""
        try:
            t = self.times[tuple(bias)]
        except KeyError:
            raise KeyError(f"bias {bias} is not tabulated; tabulated: {sorted(self.times)} "
                           "(pass it to PulseMap.build)") from None
        sign = 1.0 if bias[0] > 0 else -1.0
        return float(np.interp(np.interp(x, X_FINE, t) + sign * width, t, X_FINE))


def _time_integral(rate: np.ndarray, up: bool) -> np.ndarray:
    """t(x) = integral of dx/|r| on :data:`X_FINE` (|r| interpolated in log, floored at RATE_FLOOR)."""
    magnitude = np.maximum(np.where(rate > 0 if up else rate < 0, np.abs(rate), 0.0), RATE_FLOOR)
    fine = np.exp(np.interp(X_FINE, X_GRID, np.log(magnitude)))
    inv = 1.0 / fine
    t = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(X_FINE))])
    return t - np.interp(0.5, X_FINE, t)  # origin mid-range keeps the round-off small at both ends


def c2c_width(c2c: Mapping[str, Variation], name: str, rng: np.random.Generator | None,
              width: float = PULSE_WIDTH) -> float:
    """Pulse width equivalent to one draw of rate prefactor ``name`` from ``c2c`` (the rate is
    proportional to it); ``width`` itself without ``rng`` or without a variation of ``name``. A draw
    below zero (a normal law) counts as a pulse that does not switch."""
    variation = c2c.get(name)
    if rng is None or variation is None:
        return width
    if not variation.relative:
        raise ValueError(f"the per-pulse variation of {name} must be relative (sigma/mu): the pulse is scaled "
                         f"by the draw over the nominal rate, got an absolute sigma {variation.sigma!r}")
    return width * max(0.0, float(variation.apply(1.0, rng.standard_normal())))


# ----------------------------------------------------------------------------- open-loop response

def pulse_train(pmap: PulseMap, x0: float, rng: np.random.Generator | None = None,
                counts: tuple[int, int, int] = (N_SET, N_RESET, N_ALTERNATE)) -> np.ndarray:
    """Read conductance after every pulse: ``counts`` = (set, reset, alternating 1-up/1-down)."""
    n_set, n_reset, n_alt = counts
    plan = [True] * n_set + [False] * n_reset + [k % 2 == 0 for k in range(n_alt)]
    x, out = x0, []
    for up in plan:
        name, bias = ("nu_set", SET_BIAS) if up else ("nu_rst", RESET_BIAS)
        x = pmap.pulse(x, bias, c2c_width(pmap.c2c, name, rng))
        out.append(float(pmap.conductance(x)))
    return np.array(out)


def figures_of_merit(g: np.ndarray, counts: tuple[int, int, int] = (N_SET, N_RESET, N_ALTERNATE)) -> dict[str, float]:
    """Eqs. 1-3 of Falcone et al. from one trace of :func:`pulse_train`."""
    n_set, n_reset, _ = counts
    g_max = float(np.mean(g[n_set - SWING_TAIL:n_set]))
    g_min = float(np.mean(g[n_set + n_reset - SWING_TAIL:n_set + n_reset]))
    alt = g[n_set + n_reset - 1:]
    steps = np.abs(np.diff(alt))[SP_SETTLE:]
    dg, sigma = float(np.mean(steps)), float(np.std(steps, ddof=1))
    g_sp = float(np.mean(alt[SP_SETTLE + 1:]))
    return {"g_max": g_max, "g_min": g_min, "g_sp": g_sp, "dg_sp": dg, "sigma_dg_sp": sigma,
            "n_states": (g_max - g_min) / dg, "sp_skew": (g_max - g_sp) / (g_max - g_min), "nsr": sigma / dg}


def device_response(params: Mapping[str, float] | None = None, rng: np.random.Generator | None = None,
                    x0: float = 0.0) -> dict[str, Any]:
    """Open-loop response of one device (``params``) from state ``x0``, with c2c noise from ``rng``:
    its figures of merit and the read trace (``"trace"``, S)."""
    g = pulse_train(PulseMap.build(params), x0, rng)
    return {**figures_of_merit(g), "trace": g.tolist()}


def d2d_parameters() -> list[str]:
    """Names of the device parameters with a ``d2d`` variation (what differs between devices)."""
    return [p.name for p in cell.device_model().params if p.variation is not None and p.variation.kind == "d2d"]


def plot_study(traces: pd.DataFrame, per_device: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Fig. 5a/b-like plot (traces, mean +/- std) and Fig. 5c-like histograms."""
    plt = pyplot()
    g = traces.to_numpy().T * 1e6
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), dpi=130, gridspec_kw={"width_ratios": [3, 1, 1, 1]})
    n = np.arange(1, g.shape[1] + 1)
    for trace in g:
        axes[0].plot(n, trace, lw=0.4, alpha=0.5)
    mean, std = g.mean(0), g.std(0)
    axes[0].plot(n, mean, "k", lw=1.0, label="mean")
    axes[0].fill_between(n, mean - std, mean + std, color="grey", alpha=0.3, label="$\\pm\\sigma$")
    for k, g_end in enumerate(PAPER_SWING):
        axes[0].axhline(g_end * 1e6, color="k", ls=":", lw=1, label="paper G$_{min}$, G$_{max}$" if k else None)
    axes[0].set_xlabel("pulse number")
    axes[0].set_ylabel("G read at 0.2 V [$\\mu$S]")
    axes[0].legend(fontsize=7)
    for ax, key, scale, label in zip(axes[1:], ("n_states", "sp_skew", "nsr"), (1, 100, 100),
                                     ("N$_{states}$", "SP$_{skew}$ [%]", "NSR [%]")):
        ax.hist([d[key] * scale for d in per_device], bins=8, color="tab:blue", alpha=0.7)
        ax.axvline(PAPER[key] * scale, color="k", ls="--", lw=1, label=f"paper {PAPER[key] * scale:g}")
        ax.set_xlabel(label)
        ax.set_ylabel("devices")
        ax.legend(fontsize=7)
    fig.suptitle(f"Open-loop identical pulses, {len(per_device)} devices (sim., cf. Falcone et al. Fig. 5a-c)",
                 fontsize=9)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- study reram-pulse-response

#: Read traces of the study, one column per device (S), read by the extraction ``reram-pulse-response``.
TRACES_FILE = "traces.csv"
#: Figures of merit averaged over the devices.
STATISTICS = ("n_states", "sp_skew", "nsr", "g_max", "g_min", "g_sp", "dg_sp")


@register_study
class ReramPulseResponse(Study):
    """Open-loop identical-pulse response of d2d 1T1R cells (Falcone et al. §2.3.1, Fig. 5): N_states, SP_skew, NSR.

    ``traces.csv`` holds every device's read trace (the source of the extraction
    ``reram-pulse-response``), ``reram_pulse_response.png`` the figure.
    """

    name = "reram-pulse-response"
    code = (__name__, "testbenches.reram.cell")
    family = "reram"
    measures = {
        # the kinetics were fitted to the steps at the paper's symmetry point and the swing ends (Eqs. 1-2),
        # the per-pulse noise law to NSR (reram-calibration, reram-c2c-calibration on the nominal cell)
        "n_states": Measure("", "N_states (Eq. 1), mean over the devices", paper=PAPER["n_states"],
                            role="calibration", goal=PULSE_GOAL),
        "sp_skew": Measure("", "SP_skew (Eq. 2), mean over the devices", paper=PAPER["sp_skew"], role="calibration",
                           goal=PULSE_GOAL),
        "nsr": Measure("", "NSR (Eq. 3), mean over the devices", paper=PAPER["nsr"], role="calibration"),
        "n_states_std": Measure("", "N_states, standard deviation over the devices"),
        "n_states_min": Measure("", "N_states, smallest over the devices", paper=PAPER_N_STATES_RANGE[0],
                                role="held out", spec=(PAPER_N_STATES_RANGE[0] * (1 - RANGE_GOAL), None)),
        "n_states_max": Measure("", "N_states, largest over the devices", paper=PAPER_N_STATES_RANGE[1],
                                role="held out", spec=(None, PAPER_N_STATES_RANGE[1] * (1 + RANGE_GOAL))),
        "sp_skew_std": Measure("", "SP_skew, standard deviation over the devices"),
        "nsr_std": Measure("", "NSR, standard deviation over the devices"),
        "g_max": Measure("S", "end of the 400 set pulses, mean over the devices"),
        "g_min": Measure("S", "end of the 400 reset pulses, mean over the devices"),
        "g_sp": Measure("S", "symmetry point, mean over the devices"),
        "dg_sp": Measure("S", "mean |step| at the symmetry point, mean over the devices"),
    }
    devices = (cell.DEVICE,)
    n_default = 4
    n_min = 2
    n_desc = "devices, device-to-device samples each with its own c2c stream (paper: 32)"
    seed_default = 0

    def run(self, ctx: StudyContext) -> StudyResult:
        drawn = ctx.sample_devices(cell.DEVICE, ctx.n, stream="devices")
        varied = d2d_parameters()
        per_device, traces = [], {}
        responses = ctx.steps({f"device_{k:03d}": (device_response, {"params": params, "rng": ctx.rng("c2c", k)})
                               for k, params in enumerate(drawn)}, desc="devices")
        for k, (params, response) in enumerate(zip(drawn, responses.values())):
            traces[f"device_{k}"] = response.pop("trace")
            per_device.append({"params": {name: params[name] for name in varied}, **response})
        write_text(ctx.out / TRACES_FILE, pd.DataFrame(traces).rename_axis("pulse").to_csv())
        stats = {k: {"mean": float(np.mean([d[k] for d in per_device])),
                     "std": float(np.std([d[k] for d in per_device], ddof=1))} for k in STATISTICS}
        measurements = {k: stats[k]["mean"] for k in STATISTICS}
        measurements |= {f"{k}_std": stats[k]["std"] for k in ("n_states", "sp_skew", "nsr")}
        n_states = [d["n_states"] for d in per_device]
        measurements |= {"n_states_min": float(np.min(n_states)), "n_states_max": float(np.max(n_states))}
        deviation = {k: (stats[k]["mean"] - v) / v for k, v in PAPER.items()}
        return StudyResult(measurements, data={"stats": stats, "paper": PAPER, "deviation": deviation,
                                               "per_device": per_device}, files=[TRACES_FILE])

    def report(self, result: StudyResult, out: Path) -> list[str]:
        traces = pd.read_csv(out / TRACES_FILE, index_col="pulse")
        plot_study(traces, result.data["per_device"], out / "reram_pulse_response.png")
        return ["reram_pulse_response.png"]
