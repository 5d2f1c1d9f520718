"""CMO/HfOx ReRAM crossbar matrix-vector multiplication with IR drop (seed 004 section 2.2.2, 4.6, Fig. 4f, S6).

A normalised weight matrix W (M x N, entries in [-1, 1]) is stored as a differential pair per weight,
``G+ - G-`` with ``G+ = G_MIN + (G_MAX - G_MIN)*max(w, 0)`` and ``G- = G_MIN + (G_MAX - G_MIN)*max(-w, 0)``
([9, 89] uS, seed 004 section 4.6.1; pair mapping as aihwkit's single-pair converter). Row ``i`` carries
the input x_i as a read voltage ``x_i*V_READ``; every column ends in an ideal TIA (a 0 V source); the
output of weight column ``j`` is ``y_j = (I+_j - I-_j)/(V_READ*(G_MAX - G_MIN))`` in weight units, so an
ideal array returns ``W.T @ x``. Every cell is the ``reram_cmo`` device (OSDI, ``freeze=1``, ``x0`` from
the inverted read map) in series with the access transistor as a resistor (R_DS at V_G = 3.3 V),
every wire segment between adjacent cells is ``r_wire`` (0.35 Ohm, seed 004 section 4.6). Row drivers sit
at column 0, TIAs below row M-1.

Two solvers: :func:`spice_outputs` (ngspice, the real device) and :func:`nodal_outputs` (numpy/scipy
sparse nodal analysis with each cell's chord conductance at V_READ), which agree to
:data:`SOLVER_RTOL` (``tests/reram/test_reram_crossbar.py``). Inputs are pulse-width coded (aihwkit's DAC): each
row is at +V_READ, -V_READ or 0 during a slice, so every cell is read at its read point and the output
is linear in x; in a linear network the slices add up to the amplitude-coded solve the numpy solver does.

Command line (Fig. 4f- and Fig. S6-style figures and a JSON summary)::

    python -m testbenches.reram.crossbar --out results/reram_crossbar
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Literal, Mapping, Sequence

import numpy as np
import scipy.sparse as sps
from scipy.interpolate import PchipInterpolator
from scipy.sparse.linalg import splu

from spicegen.figures import pyplot
from spicegen.naming import format_number
from spicegen.netlist import format_instance
from spicegen.params import Param
from testbenches.reram import cell
from spicegen.figures import save_figure
from testbenches.core.base import register_study

#: Conductance window of the normalised weights (S), seed 004 section 4.6.1 ("[9, 89] uS from Fig. 3a").
G_MIN, G_MAX = 9e-6, 89e-6
#: Wire resistance between adjacent cells (Ohm), seed 004 section 4.6 ("default segment wire resistance").
R_WIRE = 0.35
#: Access transistor at V_G = 3.3 V as a resistor (Ohm): ``reram_cell.measure_rds(3.3)`` = 134.9 Ohm.
R_ACCESS = 134.9
#: Read voltage for |x| = 1 (V), seed 004 section 4.5.
V_READ = cell.V_READ
#: DAC / ADC resolution (bits), seed 004 section 2.2.2; ADC range +-OUT_BOUND in weight units (aihwkit default).
DAC_BITS, ADC_BITS, OUT_BOUND = 6, 8, 12.0
#: Acceptance range of the closed-loop programming whose sigma_prog is used (seed 004 section 2.2.2).
ACCEPTANCE = "0.002"
#: Inference times after programming (s); ``prog`` is programming noise only (no relaxation).
YEAR = 365.25 * 86400.0
TIMES: dict[str, float] = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": YEAR, "10y": 10 * YEAR}
#: Relative agreement of the numpy nodal solver with ngspice on pulse-coded inputs (checked in tests).
SOLVER_RTOL = 2e-3
#: Shipped ReRAM extractions (standalone numpy modules) used for programming noise and relaxation.
EXTRACTIONS = Path(__file__).resolve().parents[1] / "fitting" / "extractions" / "reram"
#: Paper numbers (seed 004 section 2.2.2, Fig. S6).
PAPER = {"rmse_1s": 0.03, "rmse_10y": 0.2, "rmse_prog_fp_noir": 6e-3, "wan2022_rmse": 0.58}


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
Solver = Literal["numpy", "spice"]


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
    lines = ["* reram_cmo cell read map", ".options reltol=1e-9 abstol=1e-15"]
    for k, x in enumerate(xs):
        lines += _cell_lines(f"m{k}", f"t{k}", "0", float(x), r_access)
        lines.append(f"Vt{k} t{k} 0 {format_number(v_read)}")
    result = cell.run("\n".join(lines + [".op", ".end"]))
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


def _cell_lines(name: str, row: str, col: str, x: float, r_access: float) -> list[str]:
    lines = format_instance(cell.device_model(), f"{name}r", [row, f"{name}d"], {"x0": x, "freeze": 1.0}, "osdi")
    return lines + [f"R{name}a {name}d {col} {format_number(r_access)}"]


# ----------------------------------------------------------------------------- ngspice solver

def crossbar_netlist(states: np.ndarray, v_rows: np.ndarray, xbar: Crossbar) -> str:
    """``.op`` netlist of the M x C array with device states ``states`` and row voltages ``v_rows`` (V).

    Nodes: row ``r<i>_<j>``, column ``c<i>_<j>`` (merged per line when its wires are ideal); TIA current ``i(vo<j>)``.
    """
    m, ncol = states.shape
    rows_wired, cols_wired = xbar.r_row > 0, xbar.r_wire > 0

    def row(i: int, j: int) -> str:
        return f"r{i}_{j}" if rows_wired else f"d{i}"

    def col(i: int, j: int) -> str:
        return f"c{i}_{j}" if cols_wired else f"o{j}"

    rw, rr = format_number(xbar.r_wire), format_number(xbar.r_row)
    lines = [f"* reram_cmo crossbar {m}x{ncol}", ".options reltol=1e-7 abstol=1e-15 vntol=1e-9"]
    for i in range(m):
        lines.append(f"Vd{i} d{i} 0 {format_number(float(v_rows[i]))}")
        if rows_wired:
            lines.append(f"Rd{i} d{i} r{i}_0 {rr}")
            lines += [f"Rr{i}_{j} r{i}_{j} r{i}_{j + 1} {rr}" for j in range(ncol - 1)]
    for j in range(ncol):
        lines.append(f"Vo{j} o{j} 0 0")
        if cols_wired:
            lines += [f"Rc{i}_{j} c{i}_{j} c{i + 1}_{j} {rw}" for i in range(m - 1)]
            lines.append(f"Ro{j} c{m - 1}_{j} o{j} {rw}")
    for i in range(m):
        for j in range(ncol):
            lines += _cell_lines(f"x{i}_{j}", row(i, j), col(i, j), float(states[i, j]), xbar.r_access)
    return "\n".join(lines + [".op", ".end"])


def spice_currents(states: np.ndarray, v_rows: np.ndarray, xbar: Crossbar) -> np.ndarray:
    """Column currents (A) of one ngspice ``.op`` of the array with row driver voltages ``v_rows`` (V)."""
    result = cell.run(crossbar_netlist(states, v_rows, xbar))
    return np.array([float(np.ravel(result[f"i(vo{j})"])[0]) for j in range(states.shape[1])])


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


def spice_outputs(g_cells: np.ndarray, inputs: np.ndarray, xbar: Crossbar = Crossbar()) -> np.ndarray:
    """Analog outputs (weight units, before the ADC) of the ngspice array storing cell conductances
    ``g_cells`` (M x 2N, S): one ``.op`` per pulse-width slice (:func:`pwm_slices`) of every input vector."""
    x = _check_cells(g_cells, inputs)
    states = state_for_conductance(g_cells, xbar)
    out = np.zeros((x.shape[0], g_cells.shape[1] // 2))
    for k, vector in enumerate(x):
        for duration, pattern in pwm_slices(vector, xbar.dac_bits):
            out[k] += duration * column_outputs(spice_currents(states, pattern * xbar.v_read, xbar), xbar)
    return out


def _check_cells(g_cells: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(inputs, dtype=float))
    if g_cells.ndim != 2 or g_cells.shape[1] % 2 or x.shape[1] != g_cells.shape[0]:
        raise ValueError(f"cell array of shape {g_cells.shape} (M x 2N, pairs) does not fit inputs of shape "
                         f"{x.shape} (K x M).")
    return x


# ----------------------------------------------------------------------------- numpy nodal solver

def nodal_currents(g_cells: np.ndarray, v_rows: np.ndarray, r_wire: float, row_wires: bool = True) -> np.ndarray:
    """Column currents (A), K x C, of the linear array by sparse nodal analysis (one LU for all vectors).

    Parameters
    ----------
    g_cells
        M x C cell conductances (S).
    v_rows
        K x M row driver voltages (V).
    r_wire
        Wire segment resistance (Ohm); 0 = ideal wires.
    row_wires
        False: ideal row wires (every cell's row node at its driver voltage), column wires only.

    Unknowns are the row node (with row wires) and the column node of every cell; drivers and TIAs are
    fixed potentials.
    """
    g_cells = np.asarray(g_cells, dtype=float)
    v_rows = np.atleast_2d(v_rows)
    if r_wire == 0:
        return v_rows @ g_cells
    m, c = g_cells.shape
    gw = 1.0 / r_wire
    offset = m * c if row_wires else 0
    cid = np.arange(m * c).reshape(m, c) + offset
    n = offset + m * c
    a, b, g = [cid[:-1, :].ravel()], [cid[1:, :].ravel()], [np.full((m - 1) * c, gw)]
    diag = np.zeros(n)
    diag[cid[-1, :]] += gw  # last column node -> TIA at 0 V
    rhs = np.zeros((n, v_rows.shape[0]))
    if row_wires:
        rid = np.arange(m * c).reshape(m, c)
        a += [rid.ravel(), rid[:, :-1].ravel()]
        b += [cid.ravel(), rid[:, 1:].ravel()]
        g += [g_cells.ravel(), np.full(m * (c - 1), gw)]
        diag[rid[:, 0]] += gw  # driver -> first row node
        rhs[rid[:, 0], :] = gw * v_rows.T
    else:
        diag[cid.ravel()] += g_cells.ravel()  # cell to its driver
        rhs[cid.ravel(), :] = (g_cells[:, :, None] * v_rows.T[:, None, :]).reshape(m * c, -1)
    a, b, g = np.concatenate(a), np.concatenate(b), np.concatenate(g)
    diag += np.bincount(a, g, n) + np.bincount(b, g, n)
    matrix = sps.csc_matrix((np.concatenate([diag, -g, -g]),
                             (np.concatenate([np.arange(n), a, b]), np.concatenate([np.arange(n), b, a]))),
                            shape=(n, n))
    volts = splu(matrix).solve(rhs)
    return gw * volts[cid[-1, :], :].T


def nodal_outputs(g_cells: np.ndarray, inputs: np.ndarray, xbar: Crossbar = Crossbar()) -> np.ndarray:
    """Analog outputs (weight units, before the ADC) of :func:`nodal_currents`; rows at ``x*v_read``, which in
    this linear network equals the sum of the pulse-width slices."""
    x = _check_cells(g_cells, inputs)
    return column_outputs(nodal_currents(g_cells, x * xbar.v_read, xbar.r_wire, xbar.row_wires), xbar)


def cell_mvm(g_cells: np.ndarray, inputs: np.ndarray, xbar: Crossbar = Crossbar(),
             solver: Solver = "numpy") -> np.ndarray:
    """Analog MVM of the array storing ``g_cells`` (M x 2N, S): DAC quantization, array (with IR drop), ADC.

    ``solver`` is ``"numpy"`` (:func:`nodal_outputs`) or ``"spice"`` (:func:`spice_outputs`).
    """
    if solver not in ("numpy", "spice"):
        raise ValueError(f"solver must be 'numpy' or 'spice', got {solver!r}.")
    x = quantize(inputs, xbar.dac_bits, 1.0)
    y = nodal_outputs(g_cells, x, xbar) if solver == "numpy" else spice_outputs(g_cells, x, xbar)
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
        ``"numpy"`` or ``"spice"``.

    Returns
    -------
    numpy.ndarray
        K x N outputs in weight units.
    """
    w, x = check_operands(weights, inputs)
    return cell_mvm(interleave(*weight_conductances(w)), x, xbar, solver)


# ----------------------------------------------------------------------------- device non-idealities

@lru_cache(maxsize=None)
def shipped_surrogate(name: str) -> ModuleType:
    """The standalone numpy module of a shipped ReRAM extraction (``fitting/extractions/reram/<name>.py``).

    The testbenches sit below the fitting package and use its exported renderings, as any other
    consumer of a surrogate would; ``python -m fitting.ship --only reram`` regenerates them.
    """
    path = EXTRACTIONS / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"shipped surrogate {path} is missing; regenerate it with "
                                "'python -m fitting.ship --only reram'")
    spec = importlib.util.spec_from_file_location(f"spicegen_shipped_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def program(g_target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Programmed conductances (S): ``G_target + N(0, sigma_prog(G_target))``, sigma_prog the closed-loop
    surrogate at AR 0.2 % (``sigma_prog_ar0p002``, all targets; held at its 10 uS bound below)."""
    sigma = shipped_surrogate("sigma_prog_ar0p002").evaluate(g_target, out_of_domain="clip")
    return g_target + sigma * rng.standard_normal(g_target.shape)


def relax_at(g_prog: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    """Conductances (S) ``t`` s after programming: the G-independent drift and the growth of the spread
    beyond its 1 s value, both linear in log t (``relaxation_mean`` and its sigma; the law of
    :func:`fitting.reram.stats.relax` with ``programmed=True``), floored at 1 % of G_MIN so a cell never
    reads negative."""
    model = shipped_surrogate("relaxation_mean")
    shift = float(model.evaluate(t))
    growth = math.sqrt(max(float(model.sigma(t)) ** 2 - float(model.sigma(model.DOMAIN["t"][0])) ** 2, 0.0))
    g = np.asarray(g_prog) * 1e6 + shift + growth * rng.standard_normal(np.shape(g_prog))
    return np.maximum(g * 1e-6, 0.01 * G_MIN)


def rmse(y: np.ndarray, y_ref: np.ndarray) -> float:
    """Root-mean-square error over all outputs and vectors."""
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(y_ref)) ** 2)))


# ----------------------------------------------------------------------------- study

def paper_operands(size: int, vectors: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``N(0,1)/max|N(0,1)|`` (size x size, max |w| = 1 as aihwkit maps the largest weight to G_MAX)
    and ``vectors`` inputs ``clip(N(0,1), -1, 1)`` (seed 004: normally distributed within [-1, 1])."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((size, size))
    return w / np.abs(w).max(), np.clip(rng.standard_normal((vectors, size)), -1.0, 1.0)


Wires = Literal["none", "columns", "both"]
#: Configurations of Fig. S6: (wires with resistance, quantized I/O). ``columns`` is the one-dimensional
#: IR drop along the output lines that aihwkit models; ``both`` adds the row (input) wires.
CONFIGS: dict[str, tuple[Wires, bool]] = {"fp_noir": ("none", False), "fp_ir": ("both", False),
                                          "q_ir": ("both", True), "q_ircol": ("columns", True)}
#: Single-effect RMSEs at the exact targets (no programming noise, no relaxation).
COMPONENTS: dict[str, tuple[Wires, bool]] = {"ir_only": ("both", False), "ir_columns_only": ("columns", False),
                                             "quant_only": ("none", True)}


@dataclass
class Study:
    """RMSE vs FP of one array size: ``rmse[config][time]`` (times: ``prog`` and :data:`TIMES`), the FP outputs
    and the analog outputs ``samples[config][time]``."""

    size: int
    vectors: int
    rmse: dict[str, dict[str, float]]
    components: dict[str, float]
    y_fp: np.ndarray
    samples: dict[str, dict[str, np.ndarray]]
    seconds: float


def _config(wires: Wires, quant: bool, xbar: Crossbar) -> Crossbar:
    return replace(xbar, r_wire=0.0 if wires == "none" else xbar.r_wire, row_wires=wires == "both",
                   dac_bits=xbar.dac_bits if quant else 0, adc_bits=xbar.adc_bits if quant else 0)


def run_study(size: int = 64, vectors: int = 100, seed: int = 0, xbar: Crossbar = Crossbar(),
              configs: Mapping[str, tuple[Wires, bool]] = CONFIGS, times: Sequence[str] | None = None,
              components: Mapping[str, tuple[Wires, bool]] = COMPONENTS, progress: bool = False) -> Study:
    """RMSE vs floating point for every configuration and time (one weight draw, one programming draw,
    one relaxation draw per time, shared by all configurations), plus the single-effect components.

    ``times`` picks keys of ``("prog", *TIMES)`` (default all)."""
    from tqdm import tqdm

    start = time.perf_counter()
    w, x = paper_operands(size, vectors, seed)
    y_fp = x @ w
    rng = np.random.default_rng(seed + 1)
    target = interleave(*weight_conductances(w))
    g_prog = program(target, rng)
    states = {"prog": g_prog} | {k: relax_at(g_prog, t, np.random.default_rng([seed, i]))
                                 for i, (k, t) in enumerate(TIMES.items())}
    keys = list(times or states)
    table: dict[str, dict[str, float]] = {name: {} for name in configs}
    samples = {}
    jobs = [(name, k) for name in configs for k in keys]
    for name, k in tqdm(jobs, desc=f"{size}x{size} MVM", disable=not progress):
        y = cell_mvm(states[k], x, _config(*configs[name], xbar))
        table[name][k] = rmse(y, y_fp)
        samples.setdefault(name, {})[k] = y
    single = {name: rmse(cell_mvm(target, x, _config(*effect, xbar)), y_fp) for name, effect in components.items()}
    return Study(size, vectors, table, single, y_fp, samples, time.perf_counter() - start)


def solver_agreement(size: int = 16, vectors: int = 3, seed: int = 0, xbar: Crossbar = Crossbar()) -> dict[str, float]:
    """ngspice vs numpy outputs on a ``size`` x ``size`` array with wires, pulse-coded inputs in {-1, 0, 1}.

    Returns the largest output difference relative to the largest |output|, and relative to the
    largest IR-drop effect (difference between wired and ideal outputs).
    """
    w, _ = paper_operands(size, 1, seed)
    x = np.random.default_rng(seed + 2).integers(-1, 2, (vectors, size)).astype(float)
    g = interleave(*weight_conductances(w))
    y_np, y_sp = nodal_outputs(g, x, xbar), spice_outputs(g, x, xbar)
    ir = np.abs(y_np - x @ w).max()
    diff = np.abs(y_np - y_sp).max()
    return {"max_rel_output": float(diff / np.abs(y_sp).max()), "max_rel_ir_effect": float(diff / ir),
            "ir_effect_max": float(ir)}


# ----------------------------------------------------------------------------- figures

def plot_mvm(study: Study, path: Path, config: str = "q_ir") -> Path:
    """Fig. 4f-style figure: analog vs FP outputs of ``config`` at several times, RMSE vs time beside."""
    plt = pyplot()

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.0, 4.0), dpi=150)
    for k, color in zip(("prog", "1s", "1h", "10y"), ("tab:purple", "tab:blue", "tab:green", "tab:red")):
        ax.plot(study.y_fp.ravel(), study.samples[config][k].ravel(), ".", ms=2, color=color, alpha=0.5, label=k)
    lim = np.abs(study.y_fp).max() * 1.1
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set(xlabel="expected inner product (FP)", ylabel="ReRAM inner product",
           title=f"{study.size}x{study.size}, {LABELS[config]} (sim.)")
    ax.legend(markerscale=4, fontsize=8)
    _rmse_panel(ax2, {f"{study.size}x{study.size} {LABELS[name]}": study.rmse[name]
                      for name in ("q_ir", "q_ircol") if name in study.rmse})
    ax2.axhline(PAPER["rmse_1s"], color="gray", ls=":", lw=0.8)
    ax2.axhline(PAPER["rmse_10y"], color="gray", ls=":", lw=0.8)
    ax2.text(0.1, PAPER["rmse_10y"] * 1.05, "paper 10 y", fontsize=7, color="gray")
    ax2.text(0.1, PAPER["rmse_1s"] * 1.05, "paper 1 s", fontsize=7, color="gray")
    return save_figure(fig, path)


LABELS = {"fp_noir": "no IR drop, FP I/O", "fp_ir": "IR drop, FP I/O", "q_ir": "IR drop, 6/8-bit I/O",
          "q_ircol": "column IR drop, 6/8-bit I/O"}


def plot_breakdown(studies: Sequence[Study], path: Path) -> Path:
    """Fig. S6-style figure: RMSE vs time per configuration (and per array size)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=150)
    curves = {f"{s.size}x{s.size} {LABELS[name]}": s.rmse[name] for s in studies for name in s.rmse}
    _rmse_panel(ax, curves)
    ax.set_title("RMSE vs FP: quantization, IR drop, relaxation (sim.)", fontsize=9)
    return save_figure(fig, path)


def _rmse_panel(ax, curves: Mapping[str, Mapping[str, float]]) -> None:
    for (label, values), marker in zip(curves.items(), "oxsd^v<>"):
        keys = [k for k in TIMES if k in values]
        line, = ax.semilogy([np.log10(TIMES[k]) for k in keys], [values[k] for k in keys], marker=marker,
                            label=label)
        if "prog" in values:
            ax.axhline(values["prog"], color=line.get_color(), ls="--", lw=0.8)
    ax.set(xlabel="log10(time after programming / s)", ylabel="RMSE vs FP")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


# ----------------------------------------------------------------------------- spicegen sim reram-crossbar

STUDY_PARAMS = (Param("size", 64, "", "array size N (N x N weights, 2N physical columns)", (2, 256)),
                Param("vectors", 100, "", "input vectors (paper: 100)", (1, 10000)),
                Param("r_wire", R_WIRE, "Ohm", "wire segment resistance (paper: 0.35)", (0.0, 100.0)),
                Param("study_seed", 0, "", "seed of weights, inputs and noise", (0, 2 ** 31)),
                Param("check_size", 8, "", "array size of the ngspice-vs-numpy check (0: skip)", (0, 32)))


def crossbar_measurements(v: Mapping[str, float]) -> dict[str, float]:
    """``reram-crossbar``: :func:`run_study` (numpy solver) and :func:`solver_agreement` (ngspice) with the
    sample's study parameters ``v``."""
    xbar = Crossbar(r_wire=float(v["r_wire"]))
    study = run_study(int(v["size"]), int(v["vectors"]), int(v["study_seed"]), xbar)
    out = {f"rmse_{k}": study.rmse["q_ir"][k] for k in ("prog", *TIMES)}
    out |= {f"rmse_{k}_colir": study.rmse["q_ircol"][k] for k in ("1s", "10y")}
    out |= {"rmse_prog_fp_noir": study.rmse["fp_noir"]["prog"], "rmse_prog_fp_ir": study.rmse["fp_ir"]["prog"]}
    out |= {f"rmse_{k}": value for k, value in study.components.items()}
    out["spice_vs_numpy_rel"] = math.nan  # check_size = 0: the ngspice check is skipped (null in --json)
    if int(v["check_size"]):
        with cell.ngspice_backend("subprocess"):  # the worker holds the shared libngspice
            out["spice_vs_numpy_rel"] = solver_agreement(int(v["check_size"]), 2, xbar=xbar)["max_rel_output"]
    return out


CROSSBAR_MEASUREMENTS = ("rmse_prog", "rmse_1s", "rmse_1h", "rmse_1d", "rmse_1y", "rmse_10y", "rmse_1s_colir",
                         "rmse_10y_colir", "rmse_prog_fp_noir", "rmse_prog_fp_ir", "rmse_ir_only",
                         "rmse_ir_columns_only", "rmse_quant_only", "spice_vs_numpy_rel")

RERAM_CROSSBAR = register_study(
    "reram-crossbar",
    "CMO/HfOx ReRAM crossbar MVM accuracy vs time with IR drop, 6/8-bit I/O (seed 004 Fig. 4f, S6)",
    "reram-crossbar: analog MVM accuracy with IR drop", STUDY_PARAMS, crossbar_measurements, CROSSBAR_MEASUREMENTS)


# ----------------------------------------------------------------------------- command line

def summary(studies: Sequence[Study], agreement: Mapping[str, Mapping[str, float]], xbar: Crossbar) -> dict:
    """JSON summary: RMSE tables, single-effect components, solver agreement, settings and paper numbers."""
    return {"settings": {"G_min_S": G_MIN, "G_max_S": G_MAX, "r_wire_ohm": xbar.r_wire, "r_access_ohm": xbar.r_access,
                         "v_read_V": xbar.v_read, "dac_bits": xbar.dac_bits, "adc_bits": xbar.adc_bits,
                         "out_bound": xbar.out_bound, "acceptance_range": float(ACCEPTANCE), "times_s": TIMES},
            "studies": {f"{s.size}x{s.size}": {"rmse": s.rmse, "components": s.components, "vectors": s.vectors,
                                               "seconds": s.seconds} for s in studies},
            "solver_agreement": agreement, "paper": PAPER}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/reram_crossbar")
    parser.add_argument("--vectors", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--r-wire", type=float, default=R_WIRE)
    parser.add_argument("--large", type=int, default=512, help="size of the large-array point (0: skip)")
    parser.add_argument("--large-full-times", default="1s",
                        help="times of the large array with row and column wires (one sparse LU of ~1e6 nodes each)")
    parser.add_argument("--check-sizes", default="8,16", help="array sizes of the ngspice-vs-numpy check")
    args = parser.parse_args(argv)
    out, xbar = Path(args.out), Crossbar(r_wire=args.r_wire)
    studies = [run_study(64, args.vectors, args.seed, xbar, progress=True)]
    if args.large:
        large = run_study(args.large, args.vectors, args.seed, xbar, configs={"q_ircol": CONFIGS["q_ircol"]},
                          components={k: COMPONENTS[k] for k in ("ir_columns_only", "quant_only")}, progress=True)
        full = run_study(args.large, args.vectors, args.seed, xbar, configs={"q_ir": CONFIGS["q_ir"]},
                         times=args.large_full_times.split(","), components={}, progress=True)
        large.rmse["q_ir"], large.seconds = full.rmse["q_ir"], large.seconds + full.seconds
        studies.append(large)
    agreement = {}
    for n in (int(s) for s in args.check_sizes.split(",") if s):
        t0 = time.perf_counter()
        agreement[f"{n}x{n}"] = solver_agreement(n, 2, args.seed, xbar) | {"seconds": time.perf_counter() - t0}
    report = summary(studies, agreement, xbar)
    report["figures"] = [str(plot_mvm(studies[0], out / "reram_crossbar_mvm.png")),
                         str(plot_breakdown(studies, out / "reram_crossbar_breakdown.png"))]
    (out / "reram_crossbar.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
