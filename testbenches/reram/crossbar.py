"""CMO/HfOx ReRAM crossbar matrix-vector multiplication with IR drop (Falcone et al. §2.2.2, §4.6, Fig. 4f, S6).

A normalised weight matrix W (M x N, entries in [-1, 1]) is stored as a differential pair per weight,
``G+ - G-`` with ``G+ = G_MIN + (G_MAX - G_MIN)*max(w, 0)`` and ``G- = G_MIN + (G_MAX - G_MIN)*max(-w, 0)``
([9, 89] uS, section 4.6.1; pair mapping as aihwkit's single-pair converter). Row ``i`` carries
the input x_i as a read voltage ``x_i*V_READ``; every column ends in an ideal TIA (a 0 V source); the
output of weight column ``j`` is ``y_j = (I+_j - I-_j)/(V_READ*(G_MAX - G_MIN))`` in weight units, so an
ideal array returns ``W.T @ x``. Every cell is the ``reram_cmo`` device (OSDI, ``freeze=1``, ``x0`` from
the inverted read map) in series with the access transistor as a resistor (R_DS at V_G = 3.3 V) or, in
ngspice with ``access="sky130"``, as the sky130 NMOS itself (:func:`stand_in_bound` bounds the difference),
every wire segment between adjacent cells is ``r_wire`` (0.35 Ohm, section 4.6). Row drivers sit
at column 0, TIAs below row M-1.

Solvers: :func:`spice_outputs` (the full array as one netlist in ngspice, on KLU, or VACASK: the real device,
one ``.op`` per input slice), :func:`nodal_outputs` (numpy/scipy sparse nodal analysis with each cell's chord
conductance at V_READ, what the study runs; it agrees with ngspice to :data:`SOLVER_RTOL`) and
:func:`device_nodal_currents` (Newton on the array with the device's numpy rendering). The last equals
ngspice and VACASK within :func:`device_tolerance`, a bound derived from the solvers' stopping rules
(:func:`full_array_check`; ``tests/reram/test_reram_crossbar.py`` at 8x8 and 32x32,
``benchmarks/reram_crossbar_scaling.py`` at 64x64). Inputs are pulse-width coded (aihwkit's DAC): each
row is at +V_READ, -V_READ or 0 during a slice, so every cell is read at its read point and the output
is linear in x; in a linear network the slices add up to the amplitude-coded solve the numpy solver does.

The non-idealities of a crossbar (device variation, programming noise, relaxation, drift, read noise,
faults, DAC/ADC, partial-parallel reads, row and/or column IR drop) are in
:mod:`testbenches.reram.nonideal` on top of :func:`nodal_currents`; the studies ``crossbar-mvm`` and
``crossbar-presets`` are in :mod:`testbenches.reram.crossbar_studies`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Literal, Mapping

import numpy as np
import scipy.sparse as sps
from scipy.interpolate import PchipInterpolator
from scipy.sparse.linalg import splu

from spicegen.device import FREEZE
from spicegen.naming import format_number
from spicegen.numpy_code import as_callable
from spicegen.netlist import format_card, format_instance
from spicegen.pdk import Corner, sky130_include, sky130_mos
from veriloga import vacask
from testbenches.reram import cell

#: Conductance window of the normalised weights (S), section 4.6.1 of Falcone et al. ("[9, 89] uS from Fig. 3a").
G_MIN, G_MAX = 9e-6, 89e-6
#: Wire resistance between adjacent cells (Ohm), section 4.6 ("default segment wire resistance").
R_WIRE = 0.35
#: Access transistor at V_G = 3.3 V as a resistor (Ohm): ``reram_cell.measure_rds(3.3)`` = 134.9 Ohm.
R_ACCESS = 134.9
#: Read voltage for |x| = 1 (V), section 4.5.
V_READ = cell.V_READ
#: DAC / ADC resolution (bits), section 2.2.2; ADC range +-OUT_BOUND in weight units (aihwkit default).
DAC_BITS, ADC_BITS, OUT_BOUND = 6, 8, 12.0
#: Relative agreement of the numpy nodal solver with ngspice on pulse-coded inputs (checked in tests).
SOLVER_RTOL = 2e-3


@dataclass(frozen=True)
class Crossbar:
    """Electrical and I/O settings of the array.

    Attributes
    ----------
    r_wire
        Wire segment resistance between adjacent cells (Ohm); 0 = ideal wires.
    r_access
        Series resistance of the access transistor (Ohm).
    v_read
        Row voltage for input magnitude 1 (V).
    dac_bits, adc_bits
        Input / output resolution in bits; 0 = floating point.
    out_bound
        ADC range +-``out_bound`` in weight units.
    row_wires
        False makes the row (input) wires ideal, leaving the column wires: the one-dimensional IR drop
        along the output lines that aihwkit models.
    """

    r_wire: float = R_WIRE
    r_access: float = R_ACCESS
    v_read: float = V_READ
    dac_bits: int = DAC_BITS
    adc_bits: int = ADC_BITS
    out_bound: float = OUT_BOUND
    row_wires: bool = True

    def __post_init__(self) -> None:
        if not (np.isfinite(self.r_wire) and self.r_wire >= 0):
            raise ValueError(f"r_wire = {self.r_wire!r} Ohm: the wire resistance must be finite and >= 0.")
        if not (np.isfinite(self.r_access) and self.r_access > 0):
            raise ValueError(f"r_access = {self.r_access!r} Ohm: the access resistance must be finite and > 0.")
        if not 0 < self.v_read <= 0.5:
            raise ValueError(f"v_read = {self.v_read!r} V: the read voltage must lie in (0, 0.5] V (no disturb).")
        for name in ("dac_bits", "adc_bits"):
            bits = getattr(self, name)
            if bits != 0 and not 2 <= bits <= 32:
                raise ValueError(f"{name} = {bits!r}: use 0 (floating point) or 2..32 bits.")

    @property
    def r_row(self) -> float:
        """Row wire segment resistance (Ohm)."""
        return self.r_wire if self.row_wires else 0.0


IDEAL = Crossbar(r_wire=0.0, dac_bits=0, adc_bits=0)
Solver = Literal["numpy", "spice", "vacask"]


# ----------------------------------------------------------------------------- inputs and mapping

def check_operands(weights: np.ndarray, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``weights`` (M x N in [-1, 1]) and ``inputs`` (K x M or M, in [-1, 1]); inputs as K x M.

    Raises
    ------
    ValueError
        Naming the offending shape or value.
    """
    w = np.asarray(weights, dtype=float)
    x = np.atleast_2d(np.asarray(inputs, dtype=float))
    if w.ndim != 2 or min(w.shape) < 1:
        raise ValueError(f"weights must be a 2-D M x N matrix, got shape {w.shape}.")
    if x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"inputs of shape {x.shape} do not match weights of shape {w.shape}: each input vector "
                         f"needs {w.shape[0]} entries (one per row).")
    for name, a in (("weights", w), ("inputs", x)):
        bad = ~np.isfinite(a) | (np.abs(a) > 1.0)
        if bad.any():
            found = float(a[bad].flat[0])
            raise ValueError(f"{name} must lie in [-1, 1]; found {found!r} ({int(bad.sum())} value(s)).")
    return w, x


def weight_conductances(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Target conductances (S) ``(G+, G-)`` of the differential pair of every weight."""
    w = np.asarray(weights, dtype=float)
    span = G_MAX - G_MIN
    return G_MIN + span * np.clip(w, 0, None), G_MIN + span * np.clip(-w, 0, None)


def interleave(g_plus: np.ndarray, g_minus: np.ndarray) -> np.ndarray:
    """M x 2N physical array: column 2j holds G+ of weight column j, column 2j+1 its G-."""
    g = np.empty((g_plus.shape[0], 2 * g_plus.shape[1]))
    g[:, 0::2], g[:, 1::2] = g_plus, g_minus
    return g


def column_outputs(currents: np.ndarray, xbar: Crossbar) -> np.ndarray:
    """Normalised outputs (weight units) from the K x 2N column currents."""
    return (currents[..., 0::2] - currents[..., 1::2]) / (xbar.v_read * (G_MAX - G_MIN))


def quantize(values: np.ndarray, bits: int, bound: float) -> np.ndarray:
    """Signed uniform quantizer with ``2**bits - 1`` levels on [-bound, bound] (aihwkit ``res = 1/(2**bits - 2)``
    of the full range), saturating; ``bits = 0`` returns ``values`` unchanged."""
    if bits == 0:
        return np.asarray(values, dtype=float)
    step = 2 * bound / (2 ** bits - 2)
    return np.clip(np.round(np.asarray(values) / step) * step, -bound, bound)


# ----------------------------------------------------------------------------- cell read map

@lru_cache(maxsize=8)
def cell_map(r_access: float = R_ACCESS, v_read: float = V_READ, points: int = 121) -> tuple[np.ndarray, np.ndarray]:
    """Chord conductance ``I/V`` (S) of one cell (device + ``r_access``) read at ``v_read``, on a state grid.

    One ngspice ``.op`` with ``points`` frozen cells over the device's state range.

    Returns
    -------
    x, g
        State grid and conductances (increasing).
    """
    lo, hi = cell.device_model().states[0].bounds
    xs = np.linspace(lo, hi, points)
    lines = ["* reram_cmo cell read map", ".options reltol=1e-9 abstol=1e-15", format_card(cell.device_model())]
    for k, x in enumerate(xs):
        lines += _spice_cell(f"m{k}", f"t{k}", "0", float(x), r_access, "reram", instance_params=True)
        lines.append(f"Vt{k} t{k} 0 {format_number(v_read)}")
    result = cell.simulate("\n".join(lines + [".op", ".end"]))
    g = np.array([-float(np.ravel(result[f"i(vt{k})"])[0]) / v_read for k in range(points)])
    if np.any(np.diff(g) <= 0):
        raise RuntimeError("the cell read map is not monotonic in x; cannot invert it.")
    return xs, g


def state_for_conductance(g: np.ndarray, xbar: Crossbar = Crossbar()) -> np.ndarray:
    """Device state ``x`` whose cell reads ``g`` (S) at ``xbar.v_read`` (inverse of :func:`cell_map`)."""
    xs, gs = cell_map(xbar.r_access, xbar.v_read)
    g = np.asarray(g, dtype=float)
    if np.any(g <= gs[0]) or np.any(g >= gs[-1]):
        raise ValueError(f"conductances must lie in ({gs[0]:.3g}, {gs[-1]:.3g}) S, the cell's read range; got "
                         f"[{g.min():.3g}, {g.max():.3g}] S.")
    return PchipInterpolator(np.log(gs), xs)(np.log(g))


# ----------------------------------------------------------------------------- full-array netlists (ngspice, VACASK)

#: Convergence settings of both simulators on the array decks (ngspice ``.options``, VACASK ``options`` with
#: ``relrefsol="pointlocal"``, ngspice's per-unknown reference); :func:`device_tolerance` is derived from them.
SIM_TOL: dict[str, float] = {"reltol": 1e-7, "abstol": 1e-15, "vntol": 1e-9}
#: Newton stopping rule of :func:`device_nodal_currents`: max |update| <= NEWTON_RTOL * max |node potential|.
NEWTON_RTOL = 1e-12
CellKind = Literal["reram", "linear"]
Engine = Literal["ngspice", "vacask"]
#: Access device of every cell of the ngspice array: the resistor stand-in ``r_access`` or the sky130 5 V NMOS of
#: the 1T1R cell (:mod:`testbenches.reram.cell`: ``W_ACCESS``, ``L_ACCESS``, bulk at 0 V) with its gate at VG_READ.
Access = Literal["resistor", "sky130"]
ACCESS_KINDS: tuple[str, ...] = ("resistor", "sky130")
#: The one gate net of every sky130 access transistor (see :func:`crossbar_netlist`).
WORD_LINE = "wl"


@dataclass(frozen=True)
class ArrayElements:
    """The M x C array as elements, for any simulator.

    Attributes
    ----------
    sources
        ``(name, node, volts)``: row drivers ``vd<i>`` and TIAs ``vo<j>`` (0 V, their current is the output),
        each from ``node`` to ground.
    resistors
        ``(name, node_a, node_b, ohms)``: the wire segments.
    cells
        ``(name, row_node, column_node)`` of cell ``(i, j)`` at index ``i*C + j``.
    """

    sources: list[tuple[str, str, float]]
    resistors: list[tuple[str, str, str, float]]
    cells: list[tuple[str, str, str]]


def array_elements(m: int, ncol: int, v_rows: np.ndarray, xbar: Crossbar) -> ArrayElements:
    """Drivers, wires and cell nodes of an ``m`` x ``ncol`` array driven at ``v_rows`` (V).

    Nodes: driver ``d<i>``, row ``r<i>_<j>``, column ``c<i>_<j>`` (a line with ideal wires is one node,
    its driver ``d<i>`` or its TIA ``o<j>``), TIA ``o<j>``. Drivers sit at column 0, TIAs below row ``m - 1``.

    Raises
    ------
    ValueError
        If ``v_rows`` does not hold one finite voltage per row.
    """
    v_rows = np.asarray(v_rows, dtype=float)
    if v_rows.shape != (m,) or not np.all(np.isfinite(v_rows)):
        raise ValueError(f"v_rows must hold {m} finite row voltages (one per row), got shape {v_rows.shape}.")
    rows_wired, cols_wired = xbar.r_row > 0, xbar.r_wire > 0
    sources = [(f"vd{i}", f"d{i}", float(v_rows[i])) for i in range(m)] + [(f"vo{j}", f"o{j}", 0.0) for j in range(ncol)]
    resistors = []
    if rows_wired:
        for i in range(m):
            resistors.append((f"rd{i}", f"d{i}", f"r{i}_0", xbar.r_row))
            resistors += [(f"rr{i}_{j}", f"r{i}_{j}", f"r{i}_{j + 1}", xbar.r_row) for j in range(ncol - 1)]
    if cols_wired:
        for j in range(ncol):
            resistors += [(f"rc{i}_{j}", f"c{i}_{j}", f"c{i + 1}_{j}", xbar.r_wire) for i in range(m - 1)]
            resistors.append((f"ro{j}", f"c{m - 1}_{j}", f"o{j}", xbar.r_wire))
    cells = [(f"x{i}_{j}", f"r{i}_{j}" if rows_wired else f"d{i}", f"c{i}_{j}" if cols_wired else f"o{j}")
             for i in range(m) for j in range(ncol)]
    return ArrayElements(sources, resistors, cells)


def _check_cell_values(values: np.ndarray, kind: CellKind) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if kind not in ("reram", "linear"):
        raise ValueError(f"kind must be 'reram' (device states) or 'linear' (conductances in S), got {kind!r}.")
    if values.ndim != 2 or min(values.shape) < 1:
        raise ValueError(f"the cell values must be a 2-D M x C array, got shape {values.shape}.")
    if kind == "linear" and not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"linear cells need finite conductances > 0 S; got min {np.nanmin(values)!r} S.")
    if kind == "reram":
        lo, hi = cell.device_model().states[0].bounds
        if not np.all((values >= lo) & (values <= hi)):
            raise ValueError(f"device states must lie in [{lo}, {hi}], the range of reram_cmo's x; got "
                             f"[{np.nanmin(values)!r}, {np.nanmax(values)!r}].")
    return values


def _check_access(access: str, kind: CellKind = "reram", engine: Engine = "ngspice") -> None:
    if access not in ACCESS_KINDS:
        raise ValueError(f"access must be one of {', '.join(map(repr, ACCESS_KINDS))}, got {access!r}.")
    if access == "sky130" and kind != "reram":
        raise ValueError(f"access='sky130' needs kind='reram', got kind={kind!r}: a linear cell is one resistor, "
                         "its access included.")
    if access == "sky130" and engine != "ngspice":
        raise ValueError(f"access='sky130' runs in ngspice only (the sky130 models are ngspice BSIM4 cards), got "
                         f"engine={engine!r}; use engine='ngspice' or access='resistor'.")


def crossbar_netlist(states: np.ndarray, v_rows: np.ndarray, xbar: Crossbar, *, kind: CellKind = "reram",
                     solver: Literal["klu", "sparse"] = "klu", instance_params: bool = True,
                     access: Access = "resistor", corner: Corner = "tt") -> str:
    """ngspice ``.op`` deck of the array (:func:`array_elements`); saves only the TIA outputs ``v(t<j>)``.

    Each TIA ``vo<j>`` (a 0 V source) drives an ideal transimpedance amplifier ``Ht<j>`` of 1 V/A, listed
    first, whose output ``t<j>`` is the column current in A. ngspice matches every ``.save`` name against
    its node list from the start, and nodes are numbered in the order the deck names them, while source
    currents come after every deck node: saving ``i(vo<j>)`` scans (columns x nodes) names, cells^1.5, 1.1 s
    of CPU in a 5 s 128x128 ``.op``; ``v(t<j>)`` is found among the first names. Same currents to the last bit.

    Parameters
    ----------
    states
        M x C device states ``x`` (``kind="reram"``: the ``reram_cmo`` device, frozen, in series with the
        access resistor) or cell conductances in S (``kind="linear"``: one resistor per cell).
    v_rows
        Row driver voltages (V).
    xbar
        Wires and access resistance.
    solver
        ngspice's matrix solver: ``"klu"`` (linear growth) or ``"sparse"`` (SPARSE 1.3, whose reordering
        takes minutes from 32x32 differential arrays on).
    instance_params
        One ``.model`` card for all cells, each cell's ``x0`` and ``freeze`` (instance parameters of the
        module) on its ``N`` line (default); ``False``: a card per cell.
    access
        ``"resistor"``: the access transistor is the resistor ``xbar.r_access`` (default). ``"sky130"``: it is
        the 1T1R cell's sky130 5 V NMOS (``M<cell>a``, drain on the device, source on the column, bulk at
        0 V), the models of ``corner`` included and the model bin named on each line (``sky130_mos``'s
        ``bin_corner``: ngspice's bin search would cost 2.5-4 ms per transistor at load). Every gate is on
        one word-line net ``wl`` driven at ``cell.VG_READ``: the models have no gate current (``igcmod =
        igbmod = 0``), so every row's word line sits at its driver's voltage whatever its wire, and one net
        is the same circuit as one source per row with M - 1 sources fewer. Each transistor starts Newton at
        its bias at ngspice's all-zero start, ``IC=0,VG_READ,0`` (V_DS, V_GS, V_BS): BSIM4's own first
        linearisation, at ``V_DS = 0.1 V`` and ``V_GS = V_th0 + 0.1 V`` whatever the word line, sends the direct
        Newton astray on most arrays (2x2 ... 64x64 but 8x8) and ngspice to gmin stepping, about 50
        iterations instead of 6 (docs/reram_crossbar.md); the solution is the same.
    corner
        Process corner of the sky130 models (``access="sky130"`` only).
    """
    values = _check_cell_values(states, kind)
    _check_access(access, kind)
    if solver not in ("klu", "sparse"):
        raise ValueError(f"solver must be 'klu' or 'sparse', got {solver!r}.")
    m, ncol = values.shape
    net = array_elements(m, ncol, v_rows, xbar)
    options = " ".join(f"{k}={format_number(v)}" for k, v in SIM_TOL.items())
    lines = [f"* reram_cmo crossbar {m}x{ncol}", f".options {solver} {options}"]
    lines += [f"Ht{j} t{j} 0 vo{j} 1" for j in range(ncol)]
    lines += [f"{name} {node} 0 {format_number(v)}" for name, node, v in net.sources]
    if access == "sky130":
        lines += [sky130_include(corner), f"Vwl {WORD_LINE} 0 {format_number(cell.VG_READ)}"]
    lines += [f"{name} {a} {b} {format_number(r)}" for name, a, b, r in net.resistors]
    if instance_params and kind == "reram":
        lines.append(format_card(cell.device_model()))
    for (name, row, col), value in zip(net.cells, values.ravel()):
        lines += _spice_cell(name, row, col, float(value), xbar.r_access, kind, instance_params, access, corner)
    lines += [f".save v(t{j})" for j in range(ncol)]
    return "\n".join(lines + [".op", ".end"])


def _spice_cell(name: str, row: str, col: str, value: float, r_access: float, kind: CellKind,
                instance_params: bool, access: Access = "resistor", corner: Corner = "tt") -> list[str]:
    if kind == "linear":
        return [f"R{name} {row} {col} {format_number(1.0 / value)}"]
    device = format_instance(cell.device_model(), f"{name}r", [row, f"{name}d"], {"x0": value, FREEZE: 1.0},
                             "osdi", shared=instance_params)
    if access == "sky130":
        return device + [sky130_mos(f"M{name}a", "nfet", f"{name}d", WORD_LINE, col, "0", w=cell.W_ACCESS,
                                    l=cell.L_ACCESS, delvto=cell.DELVTO_ACCESS, bin_corner=corner,
                                    ic=(0.0, cell.VG_READ, 0.0))]
    return device + [f"R{name}a {name}d {col} {format_number(r_access)}"]


def vacask_netlist(states: np.ndarray, v_rows: np.ndarray, xbar: Crossbar, *, kind: CellKind = "reram",
                   instance_params: bool = True) -> str:
    """VACASK ``op`` deck of the same array as :func:`crossbar_netlist` (same element names, lower case; one
    shared card unless ``instance_params=False``); the TIA currents are ``vo<j>:flow(br)``. Load the device's
    ``.osdi`` and ``resistor.osdi``."""
    values = _check_cell_values(states, kind)
    m, ncol = values.shape
    net = array_elements(m, ncol, v_rows, xbar)
    lines = [f"reram_cmo crossbar {m}x{ncol}", "ground 0", "model vsource vsource", "model r resistor"]
    lines += [vacask.format_source(name, (node, "0"), v) for name, node, v in net.sources]
    lines += [f"{name} ({a} {b}) r r={format_number(r)}" for name, a, b, r in net.resistors]
    if instance_params and kind == "reram":
        lines.append(vacask.format_card(cell.device_model()))
    for (name, row, col), value in zip(net.cells, values.ravel()):
        lines += _vacask_cell(name, row, col, float(value), xbar.r_access, kind, instance_params)
    options = " ".join(f"{k}={format_number(v)}" for k, v in SIM_TOL.items())
    return "\n".join(lines + ["control", f'  options {options} relrefsol="pointlocal"', "  analysis op1 op", "endc"])


def _vacask_cell(name: str, row: str, col: str, value: float, r_access: float, kind: CellKind,
                 instance_params: bool) -> list[str]:
    if kind == "linear":
        return [f"{name} ({row} {col}) r r={format_number(1.0 / value)}"]
    device = vacask.format_instance(cell.device_model(), f"{name}r", [row, f"{name}d"], {"x0": value, FREEZE: 1.0},
                                    shared=instance_params)
    return device + [f"{name}a ({name}d {col}) r r={format_number(r_access)}"]


def spice_currents(states: np.ndarray, v_rows: np.ndarray, xbar: Crossbar, *, kind: CellKind = "reram",
                   engine: Engine = "ngspice", access: Access = "resistor", corner: Corner = "tt") -> np.ndarray:
    """Column (TIA) currents (A) of one ``.op`` of the array with row driver voltages ``v_rows`` (V), in ngspice
    (:func:`crossbar_netlist`, KLU; ``access`` and ``corner`` as there) or VACASK (:func:`vacask_netlist`,
    resistor access only)."""
    ncol = np.shape(states)[1] if np.ndim(states) == 2 else 0
    _check_access(access, kind, engine)
    if engine == "ngspice":
        result = cell.simulate(crossbar_netlist(states, v_rows, xbar, kind=kind, access=access, corner=corner))
        return np.array([float(np.ravel(result[f"v(t{j})"])[0]) for j in range(ncol)])
    if engine == "vacask":
        out = vacask.run_vacask(vacask_netlist(states, v_rows, xbar, kind=kind),
                                osdi=[cell._osdi_path(), "resistor.osdi"], timeout=600)
        return np.array([float(out[f"vo{j}:flow(br)"][0]) for j in range(ncol)])
    raise ValueError(f"engine must be 'ngspice' or 'vacask', got {engine!r}.")


def pwm_slices(x: np.ndarray, bits: int) -> list[tuple[float, np.ndarray]]:
    """Pulse-width slices of one input vector: ``(duration / full pulse, row pattern in {-1, 0, 1})``.

    A ``bits``-bit DAC has ``L = 2**(bits-1) - 1`` levels per sign; row i is on during ``|x_i|*L`` of the
    ``L`` time steps. With ``bits = 0`` the inputs must already be in {-1, 0, 1}.

    Raises
    ------
    ValueError
        With ``bits = 0`` and an input that is not -1, 0 or 1.
    """
    levels = 1 if bits == 0 else 2 ** (bits - 1) - 1
    q = np.round(np.abs(x) * levels)
    if bits == 0 and not np.allclose(np.abs(x), q):
        raise ValueError(f"floating-point inputs to the ngspice array must be -1, 0 or 1 (pulse-coded); got "
                         f"{float(x[~np.isclose(np.abs(x), q)][0])!r}; set dac_bits to pulse-width code them.")
    slices, prev = [], 0.0
    for k in np.unique(q[q > 0]):
        slices.append(((k - prev) / levels, np.sign(x) * (q >= k)))
        prev = k
    return slices


def spice_outputs(g_cells: np.ndarray, inputs: np.ndarray, xbar: Crossbar = Crossbar(),
                  engine: Engine = "ngspice", access: Access = "resistor") -> np.ndarray:
    """Analog outputs (weight units, before the ADC) of the simulated array (ngspice or VACASK) storing cell
    conductances ``g_cells`` (M x 2N, S): one ``.op`` per pulse-width slice (:func:`pwm_slices`) of every
    input vector. The states are those of the resistor stand-in's read map (:func:`state_for_conductance`)
    whatever ``access`` (:func:`crossbar_netlist`), so ``access="sky130"`` measures the stand-in's error."""
    x = _check_cells(g_cells, inputs)
    states = state_for_conductance(g_cells, xbar)
    out = np.zeros((x.shape[0], g_cells.shape[1] // 2))
    for k, vector in enumerate(x):
        for duration, pattern in pwm_slices(vector, xbar.dac_bits):
            currents = spice_currents(states, pattern * xbar.v_read, xbar, engine=engine, access=access)
            out[k] += duration * column_outputs(currents, xbar)
    return out


def _check_cells(g_cells: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(inputs, dtype=float))
    if g_cells.ndim != 2 or g_cells.shape[1] % 2 or x.shape[1] != g_cells.shape[0]:
        raise ValueError(f"cell array of shape {g_cells.shape} (M x 2N, pairs) does not fit inputs of shape "
                         f"{x.shape} (K x M).")
    return x


# ----------------------------------------------------------------------------- numpy nodal solver

def nodal_currents(g_cells: np.ndarray, v_rows: np.ndarray, r_wire: float, row_wires: bool = True,
                   column_wires: bool = True) -> np.ndarray:
    """Column currents (A), K x C, of the linear array by sparse nodal analysis (one LU for all vectors).

    Parameters
    ----------
    g_cells
        M x C cell conductances (S); 0 = a cell switched off.
    v_rows
        K x M row driver voltages (V).
    r_wire
        Wire segment resistance (Ohm); 0 = ideal wires.
    row_wires, column_wires
        Which wires have ``r_wire``; an ideal row puts every cell's row node at its driver voltage, an
        ideal column every cell's column node at its amplifier (0 V).

    Unknowns are the row node (with row wires) and the column node (with column wires) of every cell;
    drivers and TIAs are fixed potentials.
    """
    g_cells = np.asarray(g_cells, dtype=float)
    v_rows = np.atleast_2d(v_rows)
    if r_wire == 0 or not (row_wires or column_wires):
        return v_rows @ g_cells
    if not (row_wires and column_wires):
        # one wired direction: every line is a ladder of its own; by reciprocity its transfer conductance from
        # driver i to TIA j is g_ij times the potential of cell (i, j) with the line's source end at 1 V and
        # the other terminals at 0 V, one tridiagonal solve per line for every input vector at once
        if row_wires:
            return v_rows @ (g_cells * _ladder(g_cells.T, 1.0 / r_wire, source_first=True).T)
        return v_rows @ (g_cells * _ladder(g_cells, 1.0 / r_wire, source_first=False))
    m, c = g_cells.shape
    gw = 1.0 / r_wire
    cells = np.arange(m * c).reshape(m, c)
    rid, cid = cells, cells + m * c
    n = 2 * m * c
    a = np.concatenate([cid[:-1, :].ravel(), rid[:, :-1].ravel(), rid.ravel()])
    b = np.concatenate([cid[1:, :].ravel(), rid[:, 1:].ravel(), cid.ravel()])
    g = np.concatenate([np.full((m - 1) * c, gw), np.full(m * (c - 1), gw), g_cells.ravel()])
    diag = np.bincount(a, g, n) + np.bincount(b, g, n)
    diag[cid[-1, :]] += gw  # last column node -> TIA at 0 V
    diag[rid[:, 0]] += gw  # driver -> first row node
    rhs = np.zeros((n, v_rows.shape[0]))
    rhs[rid[:, 0], :] = gw * v_rows.T
    matrix = sps.csc_matrix((np.concatenate([diag, -g, -g]),
                             (np.concatenate([np.arange(n), a, b]), np.concatenate([np.arange(n), b, a]))),
                            shape=(n, n))
    volts = splu(matrix).solve(rhs)
    return gw * volts[cid[-1, :], :].T


def _ladder(g_shunt: np.ndarray, gw: float, source_first: bool) -> np.ndarray:
    """Node potentials (V) of independent resistor ladders, one per column of ``g_shunt`` (M x C): node i
    of a ladder goes to ground through ``g_shunt[i]`` and to node i+1 through ``gw``; the end node
    (first if ``source_first``, else last) goes through ``gw`` to a 1 V source. Thomas algorithm along
    axis 0, all ladders at once."""
    g = g_shunt[::-1] if source_first else g_shunt
    m = g.shape[0]
    diag = g + 2 * gw
    diag[0] -= gw  # the open end has one wire
    c_prime = np.empty_like(g)
    d_prime = np.zeros_like(g)
    c_prime[0] = -gw / diag[0]
    for i in range(1, m):
        denom = diag[i] + gw * c_prime[i - 1]
        c_prime[i] = -gw / denom
        d_prime[i] = (gw * d_prime[i - 1] + (gw if i == m - 1 else 0.0)) / denom
    if m == 1:
        d_prime[0] = gw / diag[0]
    v = np.empty_like(g)
    v[-1] = d_prime[-1]
    for i in range(m - 2, -1, -1):
        v[i] = d_prime[i] - c_prime[i] * v[i + 1]
    return v[::-1] if source_first else v


def nodal_outputs(g_cells: np.ndarray, inputs: np.ndarray, xbar: Crossbar = Crossbar()) -> np.ndarray:
    """Analog outputs (weight units, before the ADC) of :func:`nodal_currents`; rows at ``x*v_read``, which in
    this linear network equals the sum of the pulse-width slices."""
    x = _check_cells(g_cells, inputs)
    return column_outputs(nodal_currents(g_cells, x * xbar.v_read, xbar.r_wire, xbar.row_wires), xbar)


@lru_cache(maxsize=1)
def _device_numpy() -> Callable[..., Any]:
    return as_callable(cell.device_model())


def _device_current(v: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Current (A) through the frozen ``reram_cmo`` device from top to bottom electrode at ``v`` = V(te, be)."""
    out = _device_numpy()({"te": v, "be": np.zeros_like(v)}, {"x": states})
    return np.asarray(out["currents"]["te"], dtype=float)


def device_nodal_currents(states: np.ndarray, v_rows: np.ndarray, xbar: Crossbar,
                          rtol: float = NEWTON_RTOL, max_iter: int = 50) -> np.ndarray:
    """Column (TIA) currents (A), K x C, of the array of ``reram_cmo`` cells by Newton's method on its nodes.

    The same circuit as :func:`crossbar_netlist` with ``kind="reram"``: every cell is the device (its numpy
    rendering, internal nodes solved inside it) in series with the access resistor, every wire segment a
    resistor. Unknowns: row, column and device-to-access nodes; drivers and TIAs are fixed potentials.
    Newton stops when max |update| <= ``rtol`` * max |potential| (the device's own internal-node Newton
    stops at a relative step of 1e-13).

    Parameters
    ----------
    states
        M x C device states ``x``.
    v_rows
        K x M (or M) row driver voltages (V), one Newton solve each.
    xbar
        Wires and access resistance.

    Raises
    ------
    ArithmeticError
        If Newton does not converge in ``max_iter`` iterations.
    """
    x = _check_cell_values(states, "reram")
    v_rows = np.atleast_2d(np.asarray(v_rows, dtype=float))
    if v_rows.ndim != 2 or v_rows.shape[1] != x.shape[0]:
        raise ValueError(f"row voltages of shape {v_rows.shape} do not fit {x.shape[0]} rows (K x M).")
    network = _Network(x.shape, xbar)
    return np.array([network.solve(x.ravel(), v, rtol, max_iter) for v in v_rows])


class _Network:
    """Node numbering and linear part of the array for :func:`device_nodal_currents`.

    Nodes: ground (0, the TIAs), drivers ``1..M``, then row nodes (row wires), column nodes (column wires)
    and the device-to-access node of every cell; the first ``1 + M`` are fixed potentials.
    """

    def __init__(self, shape: tuple[int, int], xbar: Crossbar):
        m, c = shape
        self.m, self.fixed = m, 1 + m
        cells = np.arange(m * c).reshape(m, c)
        count = self.fixed
        drivers = np.repeat(np.arange(1, m + 1), c).reshape(m, c)
        self.top, count = (cells + count, count + m * c) if xbar.r_row > 0 else (drivers, count)
        col, count = (cells + count, count + m * c) if xbar.r_wire > 0 else (np.zeros_like(cells), count)
        self.mid, self.size = cells + count, count + m * c
        edges: list[tuple[np.ndarray, np.ndarray, float]] = [(self.mid.ravel(), col.ravel(), 1.0 / xbar.r_access)]
        if xbar.r_row > 0:
            edges += [(drivers[:, 0], self.top[:, 0], 1.0 / xbar.r_row),
                      (self.top[:, :-1].ravel(), self.top[:, 1:].ravel(), 1.0 / xbar.r_row)]
        if xbar.r_wire > 0:
            edges += [(col[:-1, :].ravel(), col[1:, :].ravel(), 1.0 / xbar.r_wire),
                      (col[-1, :], np.zeros(c, dtype=int), 1.0 / xbar.r_wire)]
        a = np.concatenate([e[0] for e in edges])
        b = np.concatenate([e[1] for e in edges])
        g = np.concatenate([np.full(e[0].size, e[2]) for e in edges])
        self.laplacian = _stamp(a, b, g, self.size)
        # the TIA current of column j: what the edges into ground carry from column j
        into_ground = b == 0
        self.out_node, self.out_g = a[into_ground], g[into_ground]
        self.out_col = np.tile(np.arange(c), m) if xbar.r_wire == 0 else np.arange(c)
        self.columns = c

    def solve(self, states: np.ndarray, v_drivers: np.ndarray, rtol: float, max_iter: int) -> np.ndarray:
        v = np.zeros(self.size)
        v[1:self.fixed] = v_drivers
        top, mid, free = self.top.ravel(), self.mid.ravel(), slice(self.fixed, None)
        for _ in range(max_iter):
            drop = v[top] - v[mid]
            current = _device_current(drop, states)
            step_v = 1e-7 * np.maximum(np.abs(drop), 1e-3)
            slope = (_device_current(drop + step_v, states) - current) / step_v
            residual = self.laplacian @ v + np.bincount(top, current, self.size) - np.bincount(mid, current, self.size)
            jacobian = (self.laplacian + _stamp(top, mid, slope, self.size)).tocsc()[free, free]
            update = splu(jacobian).solve(residual[free])
            v[free] -= update
            if np.abs(update).max() <= rtol * np.abs(v).max():
                return np.bincount(self.out_col, self.out_g * v[self.out_node], self.columns)
        raise ArithmeticError(f"the array's Newton iteration did not converge in {max_iter} iterations "
                              f"(last update {np.abs(update).max():.3g} V); raise max_iter or rtol.")


def _stamp(a: np.ndarray, b: np.ndarray, g: np.ndarray, n: int) -> sps.csr_matrix:
    """Nodal matrix of conductances ``g`` between nodes ``a`` and ``b``."""
    rows = np.concatenate([a, b, a, b])
    cols = np.concatenate([a, b, b, a])
    return sps.csr_matrix((np.concatenate([g, g, -g, -g]), (rows, cols)), shape=(n, n))


def device_tolerance(currents: np.ndarray, outputs: np.ndarray, rows: int, xbar: Crossbar,
                     tol: Mapping[str, float] = SIM_TOL, rtol: float = NEWTON_RTOL) -> float:
    """Largest ``max |y_a - y_b| / max |y|`` that two of ngspice, VACASK and :func:`device_nodal_currents` may
    show on an array of ``reram_cmo`` cells, from their convergence criteria (not a fitted number).

    Derivation. ngspice accepts a Newton iterate when every unknown moved by less than
    ``reltol*|value| + abstol`` (branch currents, among them the TIA sources' currents I_j) or
    ``reltol*|value| + vntol`` (node potentials); VACASK, with ``relrefsol="pointlocal"`` and the same
    ``reltol``/``abstol``/``vntol`` (:data:`SIM_TOL`), applies the same test (and a residual check on top).
    Newton converges quadratically near the solution, so the error of the accepted iterate is below its last
    update: ``|dI_j| <= reltol*|I_j| + abstol``. The nodal solver stops at a node update below
    ``rtol * max|V|`` (``max|V| = V_read``, the drivers), which bounds its TIA currents' error by
    ``rtol * V_read * g_out`` with ``g_out`` the conductance from the column into the TIA (``1/r_wire``,
    or ``M/r_access`` with ideal column wires). The device renderings (compiled Verilog-A, numpy) agree to
    rounding (``spicegen check``). An output ``y_j = (I_2j - I_2j+1)/(V_read*(G_max - G_min))`` thus
    differs between two solvers by at most the sum of both solvers' bounds on ``I_2j`` and ``I_2j+1``
    over ``V_read*(G_max - G_min)``. The bound returned covers every pair (two simulators' bounds plus
    the nodal solver's on each current), largest over the columns, divided by ``max|y|`` as in
    :func:`solver_agreement`.

    Parameters
    ----------
    currents
        TIA currents (A), K x 2N, of one solver (the bound is evaluated at them).
    xbar
        The array (read voltage, wires, access resistance).
    outputs
        Outputs ``y`` (weight units) whose ``max |y|`` normalises the bound.
    rows
        Rows M of the array.
    tol, rtol
        The simulators' settings and the nodal solver's stopping rule.
    """
    i = np.abs(np.atleast_2d(currents))
    spice = tol["reltol"] * i + tol["abstol"]
    g_out = 1.0 / xbar.r_wire if xbar.r_wire > 0 else rows / xbar.r_access
    nodal = rtol * xbar.v_read * g_out
    per_current = 2 * spice + nodal  # two simulators (worst pair) plus the nodal solver
    per_output = per_current[:, 0::2] + per_current[:, 1::2]
    return float(per_output.max() / (xbar.v_read * (G_MAX - G_MIN)) / np.abs(outputs).max())


def access_chord_resistance(v_max: float, corner: Corner = "tt", points: int = 41) -> tuple[np.ndarray, np.ndarray]:
    """Triode law of the sky130 access transistor of ``access="sky130"``: chord resistance ``V_DS/I_D`` (Ohm) at
    V_G = ``cell.VG_READ`` for ``V_DS`` on a grid over [-``v_max``, ``v_max``] (0 left out; source and bulk at 0 V).

    Returns
    -------
    v_ds, r_chord
        Drain-source voltages (V) and chord resistances (Ohm).
    """
    v, i = cell.transistor_iv(cell.VG_READ, vmin=-v_max, vmax=v_max, step=2 * v_max / (points - 1), corner=corner)
    keep = np.abs(v) > 0.5 * v_max / (points - 1)
    return v[keep], v[keep] / i[keep]


def stand_in_bound(g_cells: np.ndarray, v_rows: np.ndarray, xbar: Crossbar, outputs: np.ndarray,
                   corner: Corner = "tt") -> float:
    """Largest ``max |y_sky130 - y_resistor| / max |y|`` the access transistor's triode law allows on one ``.op``
    of the array storing ``g_cells`` (M x 2N, S) with rows at ``v_rows`` (V), first order in the change of the
    access resistance.

    Derivation. A cell reads at most ``G_MAX`` at ``v_read``, so its access device drops at most
    ``v_max = G_MAX*v_read*r_access`` (2.4 mV). Over ``|V_DS| <= v_max`` the transistor is its chord resistance
    ``R_ch(V_DS)`` (:func:`access_chord_resistance`), so the sky130 array is the resistor array with each
    access resistance moved by at most ``dR = max |r_access - R_ch|``. In a cell of the device in series with
    ``R`` at voltage ``V``, ``dI/dR = -I/(R + r_d)``, ``r_d`` the device's differential resistance, which is at
    least ``1/g_d`` with ``g_d`` the device's largest differential conductance over ``|V| <= v_read`` (its
    numpy rendering, per cell). Hence ``|dI| <= I*g_c*dR/(1 - g_c*dR)``, ``g_c = 1/(min R_ch + 1/g_d)`` (the
    denominator covers ``I`` growing along the change), with ``I <= |V_row|*G`` (the chord conductance grows
    with the cell's voltage). An output is the difference of two TIA currents, each the sum of its column's
    cell currents, over ``v_read*(G_MAX - G_MIN)``: ``|dy_j| <= sum_i (|dI_i,2j| + |dI_i,2j+1|)/(v_read*
    (G_MAX - G_MIN))``. Neglected: the wires' share, since the IR drop lowers the cells' voltages and the
    changed currents move the wire potentials by ``dI*r_wire`` per segment (second order).

    Parameters
    ----------
    g_cells
        Cell conductances (S) read through the stand-in (the states are :func:`state_for_conductance`'s).
    v_rows
        K x M (or M) row driver voltages (V).
    xbar
        The array (read voltage, stand-in ``r_access``).
    outputs
        Outputs ``y`` (weight units) whose ``max |y|`` normalises the bound.
    corner
        Corner of the sky130 models.
    """
    v_max = G_MAX * xbar.v_read * xbar.r_access
    _, r_chord = access_chord_resistance(v_max, corner)
    d_r = float(np.abs(xbar.r_access - r_chord).max())
    states = state_for_conductance(g_cells, xbar).ravel()
    grid, step = np.linspace(-xbar.v_read, xbar.v_read, 21), 1e-6
    v = np.repeat(grid, states.size)
    x = np.tile(states, grid.size)
    g_dev = ((_device_current(v + step, x) - _device_current(v - step, x)) / (2 * step)).reshape(grid.size, -1)
    g_c = 1.0 / (r_chord.min() + 1.0 / g_dev.max(axis=0).reshape(g_cells.shape))
    d_g = g_cells * g_c * d_r / (1 - g_c * d_r)
    d_i = np.abs(np.atleast_2d(v_rows)) @ d_g
    per_output = d_i[:, 0::2] + d_i[:, 1::2]
    return float(per_output.max() / (xbar.v_read * (G_MAX - G_MIN)) / np.abs(outputs).max())


def cell_mvm(g_cells: np.ndarray, inputs: np.ndarray, xbar: Crossbar = Crossbar(),
             solver: Solver = "numpy", access: Access = "resistor") -> np.ndarray:
    """Analog MVM of the array storing ``g_cells`` (M x 2N, S): DAC quantization, array (with IR drop), ADC.

    ``solver`` is ``"numpy"`` (:func:`nodal_outputs`), ``"spice"`` (ngspice) or ``"vacask"``
    (:func:`spice_outputs`); ``access="sky130"`` (the real access transistor, :func:`crossbar_netlist`)
    needs ``solver="spice"``, the other solvers use the resistor stand-in.
    """
    if solver not in ("numpy", "spice", "vacask"):
        raise ValueError(f"solver must be 'numpy', 'spice' or 'vacask', got {solver!r}.")
    _check_access(access)
    if access != "resistor" and solver != "spice":
        raise ValueError(f"access={access!r} needs solver='spice' (ngspice), got solver={solver!r}: the numpy "
                         "solver and VACASK use the resistor stand-in.")
    x = quantize(inputs, xbar.dac_bits, 1.0)
    if solver == "numpy":
        y = nodal_outputs(g_cells, x, xbar)
    else:
        y = spice_outputs(g_cells, x, xbar, engine="vacask" if solver == "vacask" else "ngspice", access=access)
    return quantize(y, xbar.adc_bits, xbar.out_bound)


def analog_mvm(weights: np.ndarray, inputs: np.ndarray, xbar: Crossbar = Crossbar(),
               solver: Solver = "numpy") -> np.ndarray:
    """``x @ W`` computed by the crossbar: validated operands, exact target conductances, :func:`cell_mvm`.

    Parameters
    ----------
    weights
        M x N normalised weights in [-1, 1].
    inputs
        K x M (or M) inputs in [-1, 1].
    xbar
        Array settings.
    solver
        ``"numpy"``, ``"spice"`` (ngspice) or ``"vacask"``.

    Returns
    -------
    numpy.ndarray
        K x N outputs in weight units.
    """
    w, x = check_operands(weights, inputs)
    return cell_mvm(interleave(*weight_conductances(w)), x, xbar, solver)


# ----------------------------------------------------------------------------- checks

def rmse(y: np.ndarray, y_ref: np.ndarray) -> float:
    """Root-mean-square error over all outputs and vectors."""
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(y_ref)) ** 2)))


def paper_operands(size: int, vectors: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``N(0,1)/max|N(0,1)|`` (size x size, max |w| = 1 as aihwkit maps the largest weight to G_MAX)
    and ``vectors`` inputs ``clip(N(0,1), -1, 1)`` (section 2.2.2: normally distributed within [-1, 1])."""
    w = rng.standard_normal((size, size))
    return w / np.abs(w).max(), np.clip(rng.standard_normal((vectors, size)), -1.0, 1.0)


def solver_agreement(size: int, vectors: int, rng: np.random.Generator, xbar: Crossbar = Crossbar()) -> dict[str, float]:
    """ngspice vs numpy outputs on a ``size`` x ``size`` array with wires, pulse-coded inputs in {-1, 0, 1}.

    Returns the largest output difference relative to the largest |output|, and relative to the
    largest IR-drop effect (difference between wired and ideal outputs).
    """
    w, _ = paper_operands(size, 1, rng)
    x = rng.integers(-1, 2, (vectors, size)).astype(float)
    g = interleave(*weight_conductances(w))
    y_np, y_sp = nodal_outputs(g, x, xbar), spice_outputs(g, x, xbar)
    ir = np.abs(y_np - x @ w).max()
    diff = np.abs(y_np - y_sp).max()
    return {"max_rel_output": float(diff / np.abs(y_sp).max()), "max_rel_ir_effect": float(diff / ir),
            "ir_effect_max": float(ir)}


def full_array_check(size: int, rng: np.random.Generator, xbar: Crossbar = Crossbar()) -> dict[str, float]:
    """The nodal solvers against ngspice and VACASK on one pulse-coded input slice of a ``size`` x ``size``
    differential array (``size`` x ``2*size`` cells) of the paper's weights.

    Returns, as ``max |y_a - y_b| / max |y|``: ``linear_<a>_<b>`` (every cell a resistor of its chord
    conductance; :func:`nodal_currents`) and ``reram_<a>_<b>`` (``reram_cmo`` cells;
    :func:`device_nodal_currents`) for the pairs of ``ngspice``, ``vacask`` and ``nodal``, and
    ``reram_tolerance``, the bound :func:`device_tolerance` derives for the latter.
    """
    w, _ = paper_operands(size, 1, rng)
    g = interleave(*weight_conductances(w))
    v = rng.choice([-1.0, 1.0], size) * xbar.v_read  # every row on: the largest IR drop of a slice
    states = state_for_conductance(g, xbar)
    currents = {"linear": {"nodal": nodal_currents(g, v, xbar.r_wire, xbar.row_wires)[0]},
                "reram": {"nodal": device_nodal_currents(states, v, xbar)[0]}}
    for engine in ("ngspice", "vacask"):
        currents["linear"][engine] = spice_currents(g, v, xbar, kind="linear", engine=engine)
        currents["reram"][engine] = spice_currents(states, v, xbar, engine=engine)
    out = {}
    for kind, by_solver in currents.items():
        y = {name: column_outputs(i, xbar) for name, i in by_solver.items()}
        scale = np.abs(y["ngspice"]).max()
        for a, b in (("nodal", "ngspice"), ("nodal", "vacask"), ("ngspice", "vacask")):
            out[f"{kind}_{a}_{b}"] = float(np.abs(y[a] - y[b]).max() / scale)
    reference = currents["reram"]["ngspice"]
    out["reram_tolerance"] = device_tolerance(reference, column_outputs(reference, xbar), size, xbar)
    return out
