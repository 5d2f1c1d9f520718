"""1T1R cell of the CMO/HfOx ReRAM (Falcone et al.): netlist builders, quasi-static 8W cycling, reads, I-V figure.

The cell is the ``reram_cmo`` device with its bottom electrode on the drain of a sky130 5 V NMOS
(``sky130_fd_pr__nfet_g5v0d10v5``), as in Falcone et al. §4.1. Terminals: top electrode ``te``,
gate ``g``, source ``s`` (bulk tied to the source).

Everything here drives the SPICE cell in ngspice (OSDI build of the device by default, or its
B-source twin): the quasi-static sweeps of Fig. 2d are transients whose voltage ramps at
:data:`SWEEP_RATE`, reads are 0.2 V plateaus at V_G = 3.3 V (section 4.5).

Study ``reram-cycling-iv`` (the Fig. 2d-like I-V loop, the 0.2 V reads and R_DS)::

    spicegen study run reram-cycling-iv --set cycles=5 --out results/reram-cycling-iv
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from spicegen import plugins
from spicegen.device import get_device
from spicegen.figures import pyplot, save_figure
from spicegen.naming import format_number
from spicegen.netlist import Flavor, check_node, format_instance, format_subckt
from spicegen.ngspice import SimResult, run_netlist
from spicegen.pdk import sky130_include, sky130_mos
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study

DEVICE = "reram_cmo"
#: Access transistor: gate length (m), threshold shift (V) and width (m). No shift: a shifted device
#: that limits the V_G = 1.1 V set sweep (a current compliance) was measured and not kept (docs/reram.md,
#: "the transistor as the compliance"); W is the width whose linear fit of I_D(V_DS) over 0-0.2 V at
#: V_G = 1.2 V gives R_DS = 0.8 kOhm (Falcone et al. §4.3, Fig. S2c), found by :func:`access_width` at the
#: tt corner and frozen here (``tests/reram/test_reram.py`` re-measures it).
L_ACCESS = 0.5e-6
DELVTO_ACCESS = 0.0
W_ACCESS = 16.32e-6
RDS_TARGET = 800.0

#: Bias conditions of Falcone et al. (§2.1.2, §4.3, §4.5, Fig. 2d).
V_SET, VG_SET = 1.3, 1.1
V_RESET, VG_RESET = -1.5, 3.3
V_READ, VG_READ = 0.2, 3.3
V_FORM, VG_FORM = 3.6, 1.2
#: The paper's 0.2 V reads after the set and the reset sweep (Ohm; Fig. 2e, read off the figure).
PAPER_READS = {"lrs": 18e3, "hrs": 256e3}
#: Quasi-static sweep rate (V/s). Not stated in Falcone et al.; chosen (docs/reram.md) so that one kinetic
#: law serves both the quasi-static sweeps of Fig. 2d and the 2.5 us pulses of Fig. 5.
SWEEP_RATE = 100.0
#: Read plateau: ramp and hold times (s); the reading is the current at the end of the hold.
READ_RAMP, READ_HOLD = 1e-4, 3e-4
#: Simulator settings for the cycling transients. KLU: with the volatile state's node, SPARSE's pivoting met a
#: singular matrix in the first steps of 3 of the 289 devices of the d2d read map (KLU and SPARSE agree elsewhere).
TRAN_OPTIONS = ".options reltol=1e-5 abstol=1e-13 vntol=1e-9 itl4=200 method=gear klu"


def device_model():
    """The registered ``reram_cmo`` model."""
    return get_device(DEVICE)


@lru_cache(maxsize=None)
def _osdi_path() -> str:
    return str(plugins.compiler("osdi")(device_model()))


def cell_lines(name: str, te: str, g: str, s: str, *, flavor: Flavor = "osdi",
               params: Mapping[str, float] | None = None, w: float = W_ACCESS, l: float = L_ACCESS,  # noqa: E741
               delvto: float = DELVTO_ACCESS) -> list[str]:
    """Netlist lines of one 1T1R cell ``name`` between top electrode ``te``, gate ``g`` and source ``s``.

    The ReRAM instance is ``<name>r`` (twin: ``X<name>r``, OSDI: ``N<name>r``), the transistor
    ``M<name>t``; the internal drain node is ``<name>_d``. Include :func:`header_lines` once.
    """
    for node in (te, g, s):
        check_node(node)
    drain = f"{name}_d"
    lines = format_instance(device_model(), f"{name}r", [te, drain], dict(params or {}), flavor)
    lines.append(sky130_mos(f"M{name}t", "nfet", drain, g, s, s, w=w, l=l, delvto=delvto))
    return lines


def header_lines(flavor: Flavor = "osdi", corner: str = "tt") -> list[str]:
    """Model lines a cell netlist needs once: the sky130 include and, for the twin, the subcircuit."""
    lines = [sky130_include(corner)]
    if flavor == "twin":
        lines.append(format_subckt(device_model()))
    return lines


def simulate(netlist: str, flavor: Flavor = "osdi") -> SimResult:
    """Run a cell netlist (the OSDI library is passed when the flavor needs it)."""
    return run_netlist(netlist, osdi=[_osdi_path()] if flavor == "osdi" else [])


# ----------------------------------------------------------------------------- access transistor

def transistor_iv(vg: float, *, vmax: float = 0.2, step: float = 0.005, w: float = W_ACCESS,
                  l: float = L_ACCESS, delvto: float = DELVTO_ACCESS,  # noqa: E741
                  corner: str = "tt", vmin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Output characteristic I_D(V_DS) of the access transistor at gate voltage ``vg``, V_DS from ``vmin`` to
    ``vmax`` (source and bulk at 0 V)."""
    lines = ["access transistor output characteristic", sky130_include(corner), f"vg g 0 {format_number(vg)}",
             "vd d 0 0", sky130_mos("M1", "nfet", "d", "g", "0", "0", w=w, l=l, delvto=delvto),
             f".dc vd {format_number(vmin)} {format_number(vmax)} {format_number(step)}", ".end"]
    result = run_netlist("\n".join(lines))
    return np.asarray(result["v-sweep"]), -np.asarray(result["i(vd)"])


def measure_rds(vg: float = 1.2, *, w: float = W_ACCESS, l: float = L_ACCESS,  # noqa: E741
                delvto: float = DELVTO_ACCESS, corner: str = "tt", vmax: float = 0.2) -> float:
    """Triode resistance as Falcone et al. define it: slope of a linear fit of I_D(V_DS) over 0..``vmax``."""
    v, i = transistor_iv(vg, vmax=vmax, w=w, l=l, delvto=delvto, corner=corner)
    return float(1.0 / np.polyfit(v, i, 1)[0])


def access_width(rds: float = RDS_TARGET, vg: float = 1.2, *, l: float = L_ACCESS,  # noqa: E741
                 delvto: float = DELVTO_ACCESS, corner: str = "tt") -> float:
    """Width whose :func:`measure_rds` equals ``rds`` (secant on the conductance, which is ~linear in W)."""
    def conductance(w: float) -> float:
        return 1.0 / measure_rds(vg, w=w, l=l, delvto=delvto, corner=corner)

    w0, w1 = 20e-6, 60e-6
    g0, g1 = conductance(w0), conductance(w1)
    for _ in range(8):
        if abs(1 / g1 - rds) < 1e-5 * rds:
            break
        w2 = float(np.clip(w1 + (1 / rds - g1) * (w1 - w0) / (g1 - g0), 0.42e-6, 100e-6))
        w0, g0, w1, g1 = w1, g1, w2, conductance(w2)
    return float(w1)


# ----------------------------------------------------------------------------- quasi-static cycling

@dataclass
class Waveform:
    """Piece-wise linear drive of one source, built segment by segment."""

    points: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, 0.0)])

    @property
    def t(self) -> float:
        return self.points[-1][0]

    @property
    def v(self) -> float:
        return self.points[-1][1]

    def ramp(self, value: float, duration: float) -> None:
        self.points.append((self.t + duration, float(value)))

    def hold(self, duration: float) -> None:
        self.ramp(self.v, duration)

    def spice(self) -> str:
        return "PWL(" + " ".join(f"{format_number(t)} {format_number(v)}" for t, v in self.points) + ")"


@dataclass
class CyclingSchedule:
    """Drive of the cell's top electrode and gate, with the time windows of each phase."""

    te: Waveform = field(default_factory=Waveform)
    g: Waveform = field(default_factory=Waveform)
    phases: list[tuple[str, float, float]] = field(default_factory=list)
    reads: list[tuple[str, float]] = field(default_factory=list)

    def _sync(self) -> None:
        t = max(self.te.t, self.g.t)
        for wave in (self.te, self.g):
            if wave.t < t:
                wave.hold(t - wave.t)

    def gate(self, vg: float, duration: float = READ_RAMP) -> None:
        """Move the gate to ``vg`` with the top electrode at its present value."""
        self._sync()
        if self.g.v != vg:
            self.g.ramp(vg, duration)
            self.te.hold(duration)

    def sweep(self, label: str, v_peak: float, vg: float, rate: float | None = None) -> None:
        """Triangular quasi-static sweep 0 -> ``v_peak`` -> 0 at ``rate`` V/s (default :data:`SWEEP_RATE`)
        with the gate at ``vg``."""
        rate = rate or SWEEP_RATE
        self.gate(vg)
        self._sync()
        start = self.te.t
        duration = abs(v_peak) / rate
        self.te.ramp(v_peak, duration)
        self.te.ramp(0.0, duration)
        self.g.hold(2 * duration)
        self.phases.append((label, start, self.te.t))

    def read(self, label: str, v: float = V_READ, vg: float = VG_READ) -> None:
        """Read plateau: gate to ``vg``, top electrode to ``v`` for :data:`READ_HOLD`, back to 0."""
        self.gate(vg)
        self._sync()
        self.te.ramp(v, READ_RAMP)
        self.te.hold(READ_HOLD)
        self.reads.append((label, self.te.t))
        self.te.ramp(0.0, READ_RAMP)
        self.g.hold(self.te.t - self.g.t)


def cycling_protocol(cycles: int = 5, *, v_set: float = V_SET, vg_set: float = VG_SET, v_reset: float = V_RESET,
                     vg_reset: float = VG_RESET, rate: float | None = None) -> CyclingSchedule:
    """Quasi-static 8W cycling as in Fig. 2d: per cycle a reset sweep, a read, a set sweep, a read."""
    proto = CyclingSchedule()
    for k in range(cycles):
        proto.sweep(f"reset{k}", v_reset, vg_reset, rate)
        proto.read(f"hrs{k}")
        proto.sweep(f"set{k}", v_set, vg_set, rate)
        proto.read(f"lrs{k}")
    return proto


def protocol_netlist(proto: CyclingSchedule, *, params: Mapping[str, float] | None = None, flavor: Flavor = "osdi",
                     corner: str = "tt", max_step: float | None = None, **cell) -> str:
    """Transient netlist of one cell driven by ``proto`` (vectors: ``te``, ``g``, ``i(vte)``, state ``x``).

    ``cell`` passes ``w``, ``l`` and ``delvto`` of the access transistor to :func:`cell_lines`.
    """
    tstop = max(proto.te.t, proto.g.t)
    step = max_step or 2e-3 / SWEEP_RATE
    lines = ["* reram_cmo 1T1R cell", *header_lines(flavor, corner), TRAN_OPTIONS,
             *cell_lines("c", "te", "g", "0", flavor=flavor, params=params, **cell),
             f"Vte te 0 {proto.te.spice()}", f"Vg g 0 {proto.g.spice()}",
             f".tran {format_number(step / 10)} {format_number(tstop)} 0 {format_number(step)}", ".end"]
    return "\n".join(lines)


def state_vector(result: SimResult, flavor: Flavor = "osdi") -> np.ndarray:
    """The ReRAM state x of cell ``c`` from a result."""
    return np.asarray(result["xcr.x"] if flavor == "twin" else result["ncr#x"])


@dataclass
class Cycling:
    """Result of a quasi-static cycling run."""

    time: np.ndarray
    v_te: np.ndarray
    v_g: np.ndarray
    current: np.ndarray
    x: np.ndarray
    reads: dict[str, float]
    phases: list[tuple[str, float, float]]

    def resistance(self, label: str) -> float:
        """Cell resistance (Ohm) of read ``label``."""
        return self.reads[label]

    def series(self, prefix: str) -> np.ndarray:
        """All reads whose label starts with ``prefix`` (``"hrs"`` or ``"lrs"``), in order."""
        return np.array([v for k, v in self.reads.items() if k.startswith(prefix)])

    def phase(self, label: str) -> slice:
        for name, t0, t1 in self.phases:
            if name == label:
                idx = np.nonzero((self.time >= t0) & (self.time <= t1))[0]
                return slice(int(idx[0]), int(idx[-1]) + 1)
        raise KeyError(f"no phase {label!r}; phases are {[p[0] for p in self.phases]}")


def run_cycling(params: Mapping[str, float] | None = None, cycles: int = 5, *, flavor: Flavor = "osdi",
                corner: str = "tt", rate: float | None = None, cell: Mapping[str, float] | None = None,
                **protocol) -> Cycling:
    """Quasi-static 8W cycling of the SPICE cell; returns waveforms and the 0.2 V read resistances.

    ``cell`` overrides the access transistor (``w``, ``l``, ``delvto``); ``protocol`` the bias of
    :func:`cycling_protocol`.
    """
    rate = rate or SWEEP_RATE
    proto = cycling_protocol(cycles, rate=rate, **protocol)
    result = simulate(protocol_netlist(proto, params=params, flavor=flavor, corner=corner,
                                  max_step=2e-3 / rate, **dict(cell or {})), flavor)
    t = np.asarray(result["time"])
    current = -np.asarray(result["i(vte)"])
    reads = {}
    for label, t_read in proto.reads:
        i_read = float(np.interp(t_read, t, current))
        reads[label] = V_READ / i_read if i_read > 0 else math.inf
    return Cycling(t, np.asarray(result["te"]), np.asarray(result["g"]), current,
                   state_vector(result, flavor), reads, proto.phases)


def apply_pulse(x0: float, v: float, vg: float, width: float, params: Mapping[str, float] | None = None, *,
                flavor: Flavor = "osdi", corner: str = "tt", edge: float = 10e-9, **cell) -> float:
    """State of the cell after one rectangular pulse ``v`` on the top electrode (gate at ``vg``, source
    grounded) of ``width`` seconds with ``edge`` rise/fall times, starting from state ``x0``."""
    proto = CyclingSchedule()
    proto.gate(vg, 100e-9)
    proto._sync()
    proto.te.ramp(v, edge)
    proto.te.hold(width)
    proto.te.ramp(0.0, edge)
    proto.te.hold(100e-9)
    proto._sync()
    netlist = protocol_netlist(proto, params={**(params or {}), "x0": float(x0)}, flavor=flavor, corner=corner,
                               max_step=width / 100, **cell)
    return float(state_vector(simulate(netlist, flavor), flavor)[-1])


def frozen_operating_points(x: float | Sequence[float], v: float, vg: float,
                            params: Mapping[str, float] | None = None, *, flavor: Flavor = "osdi",
                            corner: str = "tt") -> tuple[np.ndarray, np.ndarray]:
    """Device voltage V(te, be) and cell current of 1T1R cells with the state held at each ``x``,
    ``v`` on the top electrode and ``vg`` on the gate; one ``.op`` with one cell per state."""
    xs = np.atleast_1d(np.asarray(x, dtype=float))
    # noopiter: straight to gmin stepping. Plain Newton from the all-zero start meets a singular Jacobian
    # (self-heating feedback through the transistor's first iterates), which SPARSE reports on stderr
    # before ngspice falls back to gmin stepping anyway; the stepping ends with no added gmin, so the
    # solution is the same.
    lines = ["* reram_cmo 1T1R frozen operating points", *header_lines(flavor, corner),
             ".options reltol=1e-9 abstol=1e-15 noopiter", f"Vg g 0 {format_number(vg)}"]
    for k, value in enumerate(xs):
        lines += cell_lines(f"c{k}", f"te{k}", "g", "0", flavor=flavor,
                            params={**(params or {}), "x0": float(value), "freeze": 1.0})
        lines.append(f"Vte{k} te{k} 0 {format_number(v)}")
    lines += [".op", ".end"]
    result = simulate("\n".join(lines), flavor)
    drain = np.array([float(np.ravel(result[f"c{k}_d"])[0]) for k in range(len(xs))])
    current = np.array([-float(np.ravel(result[f"i(vte{k})"])[0]) for k in range(len(xs))])
    return v - drain, current


def read_resistance(x: float | Sequence[float], params: Mapping[str, float] | None = None, *,
                    flavor: Flavor = "osdi", corner: str = "tt", v: float = V_READ, vg: float = VG_READ) -> np.ndarray:
    """DC read of the cell (0.2 V, V_G = 3.3 V) with the state held at ``x``; one ``.op`` for all values."""
    return v / frozen_operating_points(x, v, vg, params, flavor=flavor, corner=corner)[1]


# ----------------------------------------------------------------------------- figure

def plot_loop(cycling: Cycling, path: Path, *, title: str = "") -> Path:
    """Fig. 2d-like plot: |I| vs V_1T1R of every sweep (log current), reads annotated."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.2, 4.0), dpi=150)
    for k, (label, _, _) in enumerate(cycling.phases):
        sl = cycling.phase(label)
        color = "tab:blue" if label.startswith("set") else "tab:red"
        ax.semilogy(cycling.v_te[sl], np.abs(cycling.current[sl]) + 1e-12, color=color, lw=1.0, alpha=0.8,
                    label=("set sweep, $V_G$ = 1.1 V" if label == "set0" else
                           "reset sweep, $V_G$ = 3.3 V" if label == "reset0" else None))
    lrs, hrs = cycling.series("lrs"), cycling.series("hrs")
    ax.plot([V_READ, V_READ], [V_READ / lrs[-1], V_READ / hrs[-1]], "o", mfc="none", color="k", ms=6,
            label="0.2 V reads, last cycle")
    ax.plot([V_READ, V_READ], [V_READ / PAPER_READS["lrs"], V_READ / PAPER_READS["hrs"]], "*", color="tab:orange",
            ms=9, label="paper reads (Fig. 2e): 18 / 256 k$\\Omega$")
    ax.set_xlabel("Voltage$_{1T1R}$ [V]")
    ax.set_ylabel("|Current$_{1T1R}$| [A]")
    ax.set_ylim(1e-8, 1e-3)
    ax.grid(True, which="both", alpha=0.3)
    ax.text(0.02, 0.97, f"read at 0.2 V (last cycle):\nLRS = {lrs[-1] / 1e3:.1f} k$\\Omega$  "
                        f"HRS = {hrs[-1] / 1e3:.0f} k$\\Omega$", transform=ax.transAxes, va="top", fontsize=8)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "CMO/HfOx 1T1R quasi-static 8W cycling (sim., cf. Falcone et al. Fig. 2d)", fontsize=9)
    return save_figure(fig, path)


@register_study
class CyclingIV(Study):
    """Quasi-static 8W cycling of the nominal 1T1R cell: the I-V loop of Fig. 2d, the 0.2 V reads and R_DS."""

    name = "reram-cycling-iv"
    code = (__name__,)
    family = "reram"
    options = (Setting("cycles", 5, "quasi-static cycles (reset sweep, read, set sweep, read)", bounds=(1, 50)),
               Setting("flavor", "osdi", "device as compiled Verilog-A (OSDI) or B-source twin",
                       choices=("osdi", "twin")))
    measures = {
        "R_LRS": Measure("Ohm", "0.2 V read after the set sweep, mean over the cycles", spec=(16.2e3, 19.8e3),
                         paper=PAPER_READS["lrs"], role="calibration"),
        "R_HRS": Measure("Ohm", "0.2 V read after the reset sweep, mean over the cycles", spec=(230.4e3, 281.6e3),
                         paper=PAPER_READS["hrs"], role="calibration"),
        # W_ACCESS is the width that gives this R_DS (access_width)
        "R_DS": Measure("Ohm", "access transistor: slope of I_D(V_DS) over 0-0.2 V at V_G = 1.2 V",
                        spec=(0.98 * RDS_TARGET, 1.02 * RDS_TARGET), paper=RDS_TARGET, role="calibration"),
    }
    devices = (DEVICE,)

    def run(self, ctx: StudyContext) -> StudyResult:
        ctx.say(f"{self.name}: {ctx.options['cycles']} cycles, one ngspice transient")
        cycling = run_cycling(cycles=ctx.options["cycles"], flavor=ctx.options["flavor"])
        plot_loop(cycling, ctx.out / "reram_iv_loop.png")
        return StudyResult({"R_LRS": float(np.mean(cycling.series("lrs"))),
                            "R_HRS": float(np.mean(cycling.series("hrs"))), "R_DS": measure_rds(1.2)},
                           data={"reads_ohm": cycling.reads}, files=["reram_iv_loop.png"])
