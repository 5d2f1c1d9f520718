"""Open-loop identical-pulse response of the CMO/HfOx 1T1R cell (seed 004 section 2.3.1, Fig. 5, Eqs. 1-3).

Per device: 400 set pulses (1.35 V, V_G = 1.4 V), 400 reset pulses (-1.3 V, V_G = 3.3 V), then 500
pulses 1-up/1-down around the symmetry point, all 2.5 us, each followed by a 0.2 V read (V_G = 3.3 V).
From the traces (Eqs. 1-3)::

    N_states = (G_max - G_min)/mean|dG_sp|,  SP_skew = (G_max - G_sp)/(G_max - G_min),
    NSR = std|dG_sp|/mean|dG_sp|

and per device the generalised soft-bounds parameters (aihwkit form, seed 004 section 4.7.1, Eq. 7)
fitted with lmfit to the 400/400 swing::

    dG+ = alpha+*((G_max - G)/(G_max - G_min))**(gamma*(1 + gamma_ud))
    dG- = alpha-*((G - G_min)/(G_max - G_min))**(gamma*(1 - gamma_ud))

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

Devices: device-to-device samples drawn from the parameters' own ``d2d``
:class:`~spicegen.params.Variation` (seeded).

Command line::

    python -m testbenches.reram.pulse --out results/reram --devices 8      # 32 for the paper's array
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import lmfit
import numpy as np

from spicegen.figures import pyplot
from spicegen.params import Param, Variation
from testbenches.reram import cell
from spicegen.figures import save_figure
from testbenches.core.base import register_study

#: Seed 004 section 2.3.1 / 4.5.
PULSE_WIDTH = 2.5e-6
SET_BIAS, RESET_BIAS, READ_BIAS = (1.35, 1.4), (-1.3, 3.3), (cell.V_READ, cell.VG_READ)
N_SET, N_RESET, N_ALTERNATE = 400, 400, 500
#: Alternating pulses skipped before the symmetry-point statistics (settling onto the SP).
SP_SETTLE = 100
#: Pulses at the end of each 400-pulse batch averaged for G_max / G_min (the saturated end).
SWING_TAIL = 40
#: Paper values over 32 devices (section 2.3.1, Fig. 5c).
PAPER = {"n_states": 22.0, "sp_skew": 0.61, "nsr": 0.90}
#: State grid of the pulse map (the device's range) and the fine grid of the time integral.
X_GRID = np.linspace(-0.1, 1.1, 61)
X_FINE = np.linspace(-0.1, 1.1, 4001)
#: Rates below this (1/s) count as zero: a pulse there moves x by < 1e-9.
RATE_FLOOR = 1e-3


def c2c_variations() -> dict[str, Variation]:
    """The device's cycle-to-cycle variations of the set and reset rate prefactors (``nu_set``, ``nu_rst``)."""
    model = cell.device_model()
    found = {name: model.param(name).variation for name in ("nu_set", "nu_rst")}
    return {name: v for name, v in found.items() if v is not None and v.kind == "c2c"}


def _device_params(params: Mapping[str, float] | None) -> dict[str, float]:
    model = cell.device_model()
    return {**model.defaults, **dict(params or {})}


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
        """The same cell with other switching-kinetics parameters (the tabulated operating points
        do not depend on them: the state is frozen there)."""
        from spicegen.devices.reram_cmo import ReramCmo

        kinetic = {"nu_set", "ea_set", "a_set", "nu_rst", "ea_rst", "a_rst", "gam_set", "gam_rst"}
        bad = set(kinetics) - kinetic
        if bad:
            raise KeyError(f"{sorted(bad)} are not kinetic parameters of {ReramCmo.__name__}; "
                           f"kinetic ones: {sorted(kinetic)} (rebuild the map for the others)")
        return PulseMap({**self.params, **kinetics}, self.g_read, self.v_device, c2c=self.c2c)._integrate()

    def with_c2c(self, **variations: Variation) -> "PulseMap":
        """The same cell with other per-pulse variations of ``nu_set`` / ``nu_rst`` (e.g. in a calibration)."""
        bad = set(variations) - {"nu_set", "nu_rst"}
        if bad:
            raise KeyError(f"{sorted(bad)}: only nu_set and nu_rst carry the per-pulse noise")
        return replace(self, c2c={**self.c2c, **variations})

    def _integrate(self) -> "PulseMap":
        from spicegen.numpy_code import load_numpy_module

        module = load_numpy_module(cell.device_model())
        kwargs = {k: v for k, v in self.params.items() if k not in ("x0", "freeze")}
        for bias, v_dev in self.v_device.items():
            ev = module.evaluate({"te": v_dev, "be": 0 * v_dev}, {"x": X_GRID}, **kwargs)
            self.times[bias] = _time_integral(np.asarray(ev["rates"]["x"], dtype=float), bias[0] > 0)
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

@dataclass
class Response:
    """Open-loop response of one device and its figures of merit (conductances in S)."""

    g: list[float]
    g_max: float
    g_min: float
    g_sp: float
    dg_sp: float
    sigma_dg_sp: float
    n_states: float
    sp_skew: float
    nsr: float
    soft_bounds: dict[str, float]


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
    """Eqs. 1-3 of seed 004 from one trace of :func:`pulse_train`."""
    n_set, n_reset, _ = counts
    g_max = float(np.mean(g[n_set - SWING_TAIL:n_set]))
    g_min = float(np.mean(g[n_set + n_reset - SWING_TAIL:n_set + n_reset]))
    alt = g[n_set + n_reset - 1:]
    steps = np.abs(np.diff(alt))[SP_SETTLE:]
    dg, sigma = float(np.mean(steps)), float(np.std(steps, ddof=1))
    g_sp = float(np.mean(alt[SP_SETTLE + 1:]))
    return {"g_max": g_max, "g_min": g_min, "g_sp": g_sp, "dg_sp": dg, "sigma_dg_sp": sigma,
            "n_states": (g_max - g_min) / dg, "sp_skew": (g_max - g_sp) / (g_max - g_min), "nsr": sigma / dg}


def fit_soft_bounds(g: np.ndarray, g_max: float, g_min: float, n_set: int = N_SET,
                    n_reset: int = N_RESET) -> dict[str, float]:
    """lmfit of the generalised soft-bounds model (alpha+, alpha-, gamma, gamma_ud) to the 400/400 swing."""
    span = g_max - g_min
    up, down = g[:n_set], g[n_set - 1:n_set + n_reset]

    def model(p: lmfit.Parameters, start: float, n: int, sign: int) -> np.ndarray:
        gam = p["gamma"].value * (1 + sign * p["gamma_ud"].value)
        alpha = p["alpha_up"].value if sign > 0 else p["alpha_down"].value
        out, value = [], start
        for _ in range(n):
            room = (g_max - value) / span if sign > 0 else (value - g_min) / span
            value += sign * alpha * max(room, 0.0) ** gam
            out.append(value)
        return np.array(out)

    def residual(p: lmfit.Parameters) -> np.ndarray:
        return np.concatenate([model(p, up[0], n_set - 1, 1) - up[1:],
                               model(p, down[0], n_reset, -1) - down[1:]]) / span

    pars = lmfit.Parameters()
    pars.add("alpha_up", value=0.05 * span, min=0.0)
    pars.add("alpha_down", value=0.05 * span, min=0.0)
    pars.add("gamma", value=1.0, min=0.05, max=20.0)
    pars.add("gamma_ud", value=0.0, min=-0.95, max=0.95)
    result = lmfit.minimize(residual, pars, method="least_squares")
    return {**{k: float(v.value) for k, v in result.params.items()}, "redchi": float(result.redchi)}


def device_response(params: Mapping[str, float] | None = None, rng: np.random.Generator | None = None,
                    x0: float = 0.0) -> Response:
    """Open-loop response of one device (``params``) from state ``x0``, with c2c noise from ``rng``."""
    pmap = PulseMap.build(params)
    g = pulse_train(pmap, x0, rng)
    fom = figures_of_merit(g)
    return Response(list(map(float, g)), **fom, soft_bounds=fit_soft_bounds(g, fom["g_max"], fom["g_min"]))


def draw_devices(n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` device-to-device samples of the ``reram_cmo`` parameters with a ``d2d`` variation
    (one standard-normal draw per correlation group, as the Monte Carlo engine does for rho = 1)."""
    if n < 1:
        raise ValueError(f"need at least one device, got {n}")
    model = cell.device_model()
    rng = np.random.default_rng(seed)
    devices = []
    for _ in range(n):
        draws: dict[str, float] = {}
        values = {}
        for p in model.params:
            var = p.variation
            if var is None or var.kind != "d2d":
                continue
            key = var.group or p.name
            if var.correlation not in (None, 1.0) and var.group:
                raise ValueError(f"{p.name}: only fully correlated d2d groups are supported here")
            z = draws.setdefault(key, float(rng.standard_normal()))
            values[p.name] = float(var.apply(p.default, z))
        devices.append(values)
    return devices


def pulse_study(devices: int = 8, seed: int = 0) -> dict:
    """Open-loop response of ``devices`` d2d samples, each with its own c2c stream; returns a summary."""
    children = np.random.SeedSequence(seed).spawn(devices + 1)
    samples = draw_devices(devices, int(children[0].generate_state(1)[0]))
    runs = [device_response(p, np.random.default_rng(c)) for p, c in zip(samples, children[1:])]
    keys = ("n_states", "sp_skew", "nsr", "g_max", "g_min", "g_sp", "dg_sp")
    stats = {k: {"mean": float(np.mean([getattr(r, k) for r in runs])),
                 "std": float(np.std([getattr(r, k) for r in runs], ddof=1)) if devices > 1 else 0.0} for k in keys}
    dev = {k: (stats[k]["mean"] - v) / v for k, v in PAPER.items()}
    return {"devices": devices, "seed": seed, "stats": stats, "paper": PAPER, "deviation": dev,
            "per_device": [{"params": p, **{k: v for k, v in asdict(r).items() if k != "g"}}
                           for p, r in zip(samples, runs)],
            "traces": [r.g for r in runs]}


def plot_study(summary: Mapping, path: Path) -> Path:
    """Fig. 5a/b-like plot (traces, mean +/- std) and Fig. 5c-like histograms."""
    plt = pyplot()

    traces = np.array(summary["traces"]) * 1e6
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), dpi=130, gridspec_kw={"width_ratios": [3, 1, 1, 1]})
    n = np.arange(1, traces.shape[1] + 1)
    for tr in traces:
        axes[0].plot(n, tr, lw=0.4, alpha=0.5)
    mean, std = traces.mean(0), traces.std(0)
    axes[0].plot(n, mean, "k", lw=1.0, label="mean")
    axes[0].fill_between(n, mean - std, mean + std, color="grey", alpha=0.3, label="$\\pm\\sigma$")
    axes[0].set_xlabel("pulse number")
    axes[0].set_ylabel("G read at 0.2 V [$\\mu$S]")
    axes[0].legend(fontsize=7)
    for ax, key, scale, label in zip(axes[1:], ("n_states", "sp_skew", "nsr"), (1, 100, 100),
                                     ("N$_{states}$", "SP$_{skew}$ [%]", "NSR [%]")):
        values = [d[key] * scale for d in summary["per_device"]]
        ax.hist(values, bins=8, color="tab:blue", alpha=0.7)
        ax.axvline(PAPER[key] * scale, color="k", ls="--", lw=1, label="paper")
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    fig.suptitle(f"open-loop identical pulses, {summary['devices']} devices (sim.)", fontsize=9)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- spicegen sim reram-pulse-response

#: Study size of ``spicegen sim reram-pulse-response`` (``--set devices=32`` for the paper's array).
STUDY_PARAMS = (Param("devices", 4, "", "d2d device samples (paper: 32)", (1, 10000)),
                Param("study_seed", 0, "", "seed of the d2d and c2c draws", (0, 2 ** 31)))


def pulse_response_measurements(v: Mapping[str, float]) -> dict[str, float]:
    """``reram-pulse-response``: :func:`pulse_study` with the sample's study parameters ``v``; device means."""
    with cell.ngspice_backend("subprocess"):  # the worker holds the shared libngspice
        summary = pulse_study(int(v["devices"]), int(v["study_seed"]))
    stats = summary["stats"]
    gammas = [d["soft_bounds"]["gamma"] for d in summary["per_device"]]
    return {"n_states": stats["n_states"]["mean"], "sp_skew": stats["sp_skew"]["mean"], "nsr": stats["nsr"]["mean"],
            "n_states_std": stats["n_states"]["std"], "g_max": stats["g_max"]["mean"],
            "g_min": stats["g_min"]["mean"], "dg_sp": stats["dg_sp"]["mean"], "sb_gamma": float(np.mean(gammas))}


RERAM_PULSE_RESPONSE = register_study(
    "reram-pulse-response",
    "CMO/HfOx 1T1R open-loop identical pulses (seed 004 section 2.3.1): N_states, SP_skew, NSR",
    "reram-pulse-response: open-loop identical pulses", STUDY_PARAMS, pulse_response_measurements,
    ("n_states", "sp_skew", "nsr", "n_states_std", "g_max", "g_min", "dg_sp", "sb_gamma"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/reram")
    parser.add_argument("--devices", type=int, default=8, help="d2d samples (the paper's array: 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extraction", default="fitting/extractions/reram/pulse_response.json",
                        help="where the per-device soft-bounds parameters and statistics are written")
    args = parser.parse_args(argv)
    summary = pulse_study(args.devices, args.seed)
    out = Path(args.out)
    png = plot_study(summary, out / "reram_pulse_response.png")
    compact = {k: v for k, v in summary.items() if k != "traces"}
    (out / "reram_pulse_response.json").write_text(json.dumps({**summary, "figure": str(png)}, default=float))
    Path(args.extraction).parent.mkdir(parents=True, exist_ok=True)
    Path(args.extraction).write_text(json.dumps(compact, indent=1, default=float))
    print(json.dumps({k: compact[k] for k in ("stats", "paper", "deviation")}, indent=1, default=float))
    return 0 if all(math.isfinite(v["mean"]) for v in summary["stats"].values()) else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
