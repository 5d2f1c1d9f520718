"""Crossbar non-idealities as NeuroSim and aihwkit users know them, on any conductance-based device.

One frozen :class:`NonIdealities` holds every effect, each switched off by its zero value; named device
presets are in :mod:`testbenches.reram.presets`. The pipeline of an analog matrix-vector multiplication:

1. **Mapping** (:func:`target_conductances`): weights in [-1, 1] to conductances in
   ``[g_min, g_max]`` with ``g_min = g_max/on_off`` (NeuroSim's level 0 = 1/on-off ratio), on ``levels``
   programmable levels, either as a ``differential`` pair ``G+ - G-`` per weight (aihwkit's
   single-pair converter) or one device per weight against a ``dummy`` reference column at
   ``(g_min + g_max)/2`` (NeuroSim, DNN+NeuroSim V1.4 manual §9, Fig. 22).
2. **Programming** (:func:`program`): device-to-device variation ``G*(1 + N(0, variation))``
   (NeuroSim ``--vari``), programming noise ``G + N(0, sigma_prog(G))`` with ``sigma_prog`` linear in G
   (aihwkit's inference noise models; Falcone et al. §4.6.1) and stuck-at-on/off cells at a rate
   (SpikeSim review, Moitra et al. §IV.C.3), which keep ``g_max``/``g_min`` whatever is programmed.
3. **Time** (:func:`at_time`): relaxation ``G_prog + N(mu(t), sigma(t))`` with ``mu`` and ``sigma``
   linear in log10(t/s) from 1 s on, independent of G (Falcone et al. §4.6.2; the values at 1 s are
   the immediate jump after programming), and power-law drift ``G(t) = G(t0)*(t/t0)**(-nu)``,
   ``t0 = 1 s``. Sign convention: ``nu > 0`` lowers the conductance (Moitra et al.; aihwkit's
   ``drift_nu``); NeuroSim writes ``G0*(t/t0)**v``, i.e. ``v = -nu``.
4. **Read** (:func:`read`): DAC quantization of the inputs, partial-parallel row activation (NeuroSim
   ``--parallelRead``: groups of rows read one after the other, each partial sum through the ADC and
   added digitally), IR drop of the row and/or column wires (the nodal solver of
   :mod:`testbenches.reram.crossbar`), read noise ``G*(1 + N(0, read_noise))`` at every read
   (Moitra et al. Fig. 10a), referred to the column currents with its exact variance
   ``read_noise**2 * sum_i V_i**2 G_i**2``, and the ADC, linear (aihwkit's ``out_res``) or non-linear
   (NeuroSim: levels at the quantiles of the partial sums it reads).

Outputs are in weight units: an ideal array returns ``x @ W``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal, get_args

import numpy as np

from testbenches.reram.crossbar import nodal_currents, quantize

Mapping = Literal["differential", "dummy"]
Wires = Literal["both", "columns", "rows", "none"]
AdcMode = Literal["linear", "nonlinear"]
#: Reference time of the drift law (s), as NeuroSim's ``t0``.
DRIFT_T0 = 1.0
#: Floor of any conductance as a fraction of ``g_min`` (a cell never reads negative).
FLOOR = 0.01


@dataclass(frozen=True)
class NonIdealities:
    """Every crossbar non-ideality in one place; the defaults are an ideal analog array.

    Attributes
    ----------
    g_max
        Largest cell conductance (S), ``1/R_on`` (NeuroSim Table VI ``Ron``).
    on_off
        On/off ratio ``g_max/g_min`` (> 1; NeuroSim ``--onoffratio``): level 0 reads ``1/on_off`` of level max.
    levels
        Programmable conductance levels per device, evenly spaced on ``[g_min, g_max]`` (NeuroSim
        ``2**cellBit``; 0 = analog, any conductance).
    mapping
        ``"differential"``: a pair ``G+ - G-`` per weight in adjacent columns; ``"dummy"``: one device per
        weight, ``w = -1 .. 1`` on ``g_min .. g_max``, minus a reference column of ``(g_min + g_max)/2``
        cells placed after the weight columns.
    array_size
        Rows and physical columns of the (square) array; 0 = as large as the weights need.
    variation
        Device-to-device variation: relative sigma of ``G*(1 + N(0, variation))`` (NeuroSim ``--vari``).
    sigma_prog_slope, sigma_prog_offset
        Programming noise ``sigma_prog(G) = slope*G + offset`` (offset in S) of a closed-loop
        program-and-verify (aihwkit's polynomial noise models; Falcone et al. Fig. 3e).
    relax_mean_1s, relax_mean_per_decade
        Relaxation mean shift ``mu(t) = relax_mean_1s + relax_mean_per_decade*log10(t/s)`` (S), G-independent.
    relax_sigma_1s, relax_sigma_per_decade
        Relaxation spread ``sigma(t) = relax_sigma_1s + relax_sigma_per_decade*log10(t/s)`` (S) of the
        error ``G(t) - G_prog``; the values at 1 s are the immediate jump after programming.
    drift_nu, drift_nu_std
        Power-law drift exponent ``nu`` of ``G(t0)*(t/t0)**(-nu)`` (``nu > 0`` lowers G) and its
        device-to-device sigma (aihwkit ``drift_nu`` mean and std); ``t0`` = :data:`DRIFT_T0`.
    read_noise
        Relative sigma of ``G*(1 + N(0, read_noise))`` drawn anew at every read (Moitra et al.: 0.1).
    stuck_on, stuck_off
        Fractions of cells stuck at ``g_max`` / ``g_min`` (stuck-at-set / stuck-at-reset faults).
    dac_bits
        Input DAC resolution in bits, ``2**(bits-1) - 1`` levels per sign on [-1, 1]; 0 = floating point.
    adc_bits
        ADC resolution in bits, ``2**bits - 1`` levels; 0 = floating point.
    adc_mode
        ``"linear"``: levels evenly spaced on ``[-out_bound, out_bound]`` (aihwkit ``out_res``);
        ``"nonlinear"``: levels at the quantiles of the partial sums the ADC reads (NeuroSim).
    out_bound
        ADC full scale (weight units) of a read of every row; a partial read of P of M rows uses P/M of it.
    parallel_rows
        Rows activated at once (NeuroSim ``--parallelRead``); 0 = every row in one read.
    r_wire
        Wire segment resistance between adjacent cells (Ohm; Moitra et al. ``r_par``).
    wires
        Which wires have ``r_wire``: ``"both"``, ``"columns"`` (the drop along the output lines, aihwkit's
        model), ``"rows"`` or ``"none"``. Drivers sit at column 0, the output amplifiers below the last row.
    v_read
        Read voltage for input magnitude 1 (V).
    """

    g_max: float = 89e-6
    on_off: float = 89.0 / 9.0
    levels: int = 0
    mapping: Mapping = "differential"
    array_size: int = 0
    variation: float = 0.0
    sigma_prog_slope: float = 0.0
    sigma_prog_offset: float = 0.0
    relax_mean_1s: float = 0.0
    relax_mean_per_decade: float = 0.0
    relax_sigma_1s: float = 0.0
    relax_sigma_per_decade: float = 0.0
    drift_nu: float = 0.0
    drift_nu_std: float = 0.0
    read_noise: float = 0.0
    stuck_on: float = 0.0
    stuck_off: float = 0.0
    dac_bits: int = 0
    adc_bits: int = 0
    adc_mode: AdcMode = "linear"
    out_bound: float = 12.0
    parallel_rows: int = 0
    r_wire: float = 0.0
    wires: Wires = "both"
    v_read: float = 0.2

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} = {value!r}: every setting must be finite.")
        if not self.g_max > 0:
            raise ValueError(f"g_max = {self.g_max!r} S: the largest conductance must be > 0 (1/R_on).")
        if not self.on_off > 1:
            raise ValueError(f"on_off = {self.on_off!r}: the on/off ratio g_max/g_min must be > 1 (level 0 reads "
                             f"1/on_off of level max); use e.g. 10.")
        self._check_choices()
        self._check_counts()
        self._check_rates()
        if self.r_wire < 0:
            raise ValueError(f"r_wire = {self.r_wire!r} Ohm: the wire resistance must be >= 0 (0 = ideal wires).")
        if not 0 < self.v_read <= 1.0:
            raise ValueError(f"v_read = {self.v_read!r} V: the read voltage must lie in (0, 1] V.")
        if not self.out_bound > 0:
            raise ValueError(f"out_bound = {self.out_bound!r}: the ADC full scale must be > 0 weight units.")

    def _check_choices(self) -> None:
        for name, kind in (("mapping", Mapping), ("wires", Wires), ("adc_mode", AdcMode)):
            if getattr(self, name) not in get_args(kind):
                raise ValueError(f"{name} = {getattr(self, name)!r} is not one of {', '.join(get_args(kind))}.")

    def _check_counts(self) -> None:
        if self.levels != 0 and self.levels < 2:
            raise ValueError(f"levels = {self.levels!r}: use 0 (analog) or at least 2 conductance levels.")
        for name in ("dac_bits", "adc_bits"):
            bits = getattr(self, name)
            if bits != 0 and not 2 <= bits <= 32:
                raise ValueError(f"{name} = {bits!r}: use 0 (floating point) or 2..32 bits.")
        for name in ("array_size", "parallel_rows"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)!r} must be >= 0 (0 = no limit).")

    def _check_rates(self) -> None:
        for name in ("variation", "sigma_prog_slope", "drift_nu_std", "read_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: a spread must be >= 0.")
        for name in ("stuck_on", "stuck_off"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} = {getattr(self, name)!r}: a fault rate must lie in [0, 1].")
        if self.stuck_on + self.stuck_off > 1:
            raise ValueError(f"stuck_on + stuck_off = {self.stuck_on + self.stuck_off!r} exceeds 1.")

    @property
    def g_min(self) -> float:
        """Smallest conductance (S), ``g_max/on_off``."""
        return self.g_max / self.on_off

    @property
    def row_wires(self) -> bool:
        """Whether the row (input) wires have resistance."""
        return self.r_wire > 0 and self.wires in ("both", "rows")

    @property
    def column_wires(self) -> bool:
        """Whether the column (output) wires have resistance."""
        return self.r_wire > 0 and self.wires in ("both", "columns")


# ----------------------------------------------------------------------------- mapping


def check_weights(weights: np.ndarray, ni: NonIdealities, scale: float | None = None) -> np.ndarray:
    """Weights as an M x N matrix in [-1, 1]: ``weights/scale``, or ``weights`` themselves without a scale.

    Raises
    ------
    ValueError
        If the weights are not a matrix, leave [-1, 1] (without a scale), or do not fit ``ni.array_size``.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or min(w.shape) < 1:
        raise ValueError(f"weights must be a 2-D M x N matrix, got shape {w.shape}.")
    if scale is not None:
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale = {scale!r}: the weight scale must be finite and > 0.")
        w = w / scale
    bad = ~np.isfinite(w) | (np.abs(w) > 1.0)
    if bad.any():
        hint = "use a larger scale" if scale is not None else f"pass scale={float(np.nanmax(np.abs(w))):.6g} (max |W|)"
        raise ValueError(f"weights must lie in [-1, 1]; found {float(w[bad].flat[0])!r} ({int(bad.sum())} value(s)); "
                         f"{hint} to map them.")
    columns = physical_columns(w.shape[1], ni)
    if ni.array_size and (w.shape[0] > ni.array_size or columns > ni.array_size):
        raise ValueError(f"a {w.shape[0]} x {w.shape[1]} weight matrix needs {w.shape[0]} rows and {columns} columns "
                         f"({ni.mapping} mapping), more than the {ni.array_size} x {ni.array_size} array; tile it "
                         "or set array_size=0.")
    return w


def check_inputs(inputs: np.ndarray, rows: int) -> np.ndarray:
    """Inputs as K x M in [-1, 1].

    Raises
    ------
    ValueError
        If their length differs from ``rows`` or a value leaves [-1, 1].
    """
    x = np.atleast_2d(np.asarray(inputs, dtype=float))
    if x.ndim != 2 or x.shape[1] != rows:
        raise ValueError(f"inputs of shape {x.shape} do not match an array of {rows} rows: each input vector needs "
                         f"{rows} entries.")
    bad = ~np.isfinite(x) | (np.abs(x) > 1.0)
    if bad.any():
        raise ValueError(f"inputs must lie in [-1, 1]; found {float(x[bad].flat[0])!r} ({int(bad.sum())} value(s)).")
    return x


def physical_columns(n: int, ni: NonIdealities) -> int:
    """Physical columns storing ``n`` weight columns: ``2n`` (differential) or ``n + 1`` (dummy)."""
    return 2 * n if ni.mapping == "differential" else n + 1


def on_levels(u: np.ndarray, levels: int) -> np.ndarray:
    """Fractions ``u`` in [0, 1] rounded to ``levels`` evenly spaced values (0: unchanged)."""
    return u if levels == 0 else np.round(u * (levels - 1)) / (levels - 1)


def target_conductances(weights: np.ndarray, ni: NonIdealities) -> np.ndarray:
    """Target conductances (S) of the physical M x C array storing ``weights`` (M x N in [-1, 1]).

    Differential: column 2j holds ``G+`` of weight column j, 2j+1 its ``G-``. Dummy: column j holds
    ``g_min + (g_max - g_min)*(w + 1)/2``, the last column the reference ``(g_min + g_max)/2``.
    """
    w = np.asarray(weights, dtype=float)
    span = ni.g_max - ni.g_min
    if ni.mapping == "differential":
        g = np.empty((w.shape[0], 2 * w.shape[1]))
        g[:, 0::2] = ni.g_min + span * on_levels(np.clip(w, 0, None), ni.levels)
        g[:, 1::2] = ni.g_min + span * on_levels(np.clip(-w, 0, None), ni.levels)
        return g
    reference = np.full((w.shape[0], 1), ni.g_min + span * on_levels(np.array(0.5), ni.levels))
    return np.hstack([ni.g_min + span * on_levels((w + 1) / 2, ni.levels), reference])


def outputs(currents: np.ndarray, ni: NonIdealities) -> np.ndarray:
    """Outputs in weight units from the K x C column currents (A)."""
    span = ni.v_read * (ni.g_max - ni.g_min)
    if ni.mapping == "differential":
        return (currents[..., 0::2] - currents[..., 1::2]) / span
    return (currents[..., :-1] - currents[..., -1:]) / (span / 2)


# ----------------------------------------------------------------------------- programming and time


@dataclass(frozen=True)
class ProgrammedArray:
    """An array after programming.

    Attributes
    ----------
    g
        Programmed conductances (S), M x C.
    stuck
        Conductance (S) of every stuck cell, NaN where the cell works.
    """

    g: np.ndarray
    stuck: np.ndarray

    def with_faults(self, g: np.ndarray) -> np.ndarray:
        """``g`` with the stuck cells at their stuck conductance."""
        return np.where(np.isnan(self.stuck), g, self.stuck)


def program(g_target: np.ndarray, ni: NonIdealities, rng: np.random.Generator) -> ProgrammedArray:
    """Programmed array: variation, programming noise and stuck-at faults on ``g_target`` (S).

    Draws, in this order, the variation, the programming noise and the faults (one uniform per cell:
    below ``stuck_on`` stuck at ``g_max``, then below ``stuck_on + stuck_off`` stuck at ``g_min``).
    """
    g_target = np.asarray(g_target, dtype=float)
    shape = g_target.shape
    g = g_target * (1.0 + ni.variation * rng.standard_normal(shape)) if ni.variation else g_target.copy()
    if ni.sigma_prog_slope or ni.sigma_prog_offset:
        g = g + (ni.sigma_prog_slope * g_target + ni.sigma_prog_offset) * rng.standard_normal(shape)
    stuck = np.full(shape, np.nan)
    if ni.stuck_on or ni.stuck_off:
        u = rng.random(shape)
        stuck[u < ni.stuck_on] = ni.g_max
        stuck[(u >= ni.stuck_on) & (u < ni.stuck_on + ni.stuck_off)] = ni.g_min
    return ProgrammedArray(np.maximum(g, FLOOR * ni.g_min), stuck)


def at_time(array: ProgrammedArray, t: float, ni: NonIdealities, rng: np.random.Generator) -> np.ndarray:
    """Conductances (S) ``t`` seconds after programming: relaxation, drift, stuck cells.

    ``t = 0`` is the programmed state. The relaxation lines start at 1 s (what happens within the first
    second is their value at 1 s, the immediate jump), so ``0 < t < 1`` s is refused when they are set.

    Raises
    ------
    ValueError
        For a negative time, or ``0 < t < 1`` s with relaxation.
    """
    relaxes = any((ni.relax_mean_1s, ni.relax_mean_per_decade, ni.relax_sigma_1s, ni.relax_sigma_per_decade))
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"t = {t!r} s: the time after programming must be >= 0.")
    if relaxes and 0 < t < 1:
        raise ValueError(f"t = {t!r} s: the relaxation lines start at 1 s; use t = 0 (programmed) or t >= 1 s.")
    g = array.g
    if t > 0 and relaxes:
        decades = math.log10(t)
        sigma = max(ni.relax_sigma_1s + ni.relax_sigma_per_decade * decades, 0.0)
        g = g + ni.relax_mean_1s + ni.relax_mean_per_decade * decades + sigma * rng.standard_normal(g.shape)
    if t > DRIFT_T0 and (ni.drift_nu or ni.drift_nu_std):
        nu = ni.drift_nu + ni.drift_nu_std * rng.standard_normal(g.shape)
        g = g * (t / DRIFT_T0) ** (-nu)
    return array.with_faults(np.maximum(g, FLOOR * ni.g_min))


# ----------------------------------------------------------------------------- read


def row_groups(rows: int, ni: NonIdealities) -> list[slice]:
    """The row groups read one after the other (``parallel_rows`` rows each; one group for 0)."""
    step = ni.parallel_rows or rows
    return [slice(start, min(start + step, rows)) for start in range(0, rows, step)]


def analog_reads(g_cells: np.ndarray, inputs: np.ndarray, ni: NonIdealities,
                 rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Analog partial outputs (weight units, before the ADC), one K x N array per row group.

    Inputs are DAC-quantized; the rows outside a group are off (their access transistors open), so a
    group's cells alone load the wires. Read noise needs ``rng``.

    Raises
    ------
    ValueError
        If ``read_noise`` is set without ``rng``, or the shapes do not fit.
    """
    g_cells = np.asarray(g_cells, dtype=float)
    x = quantize(check_inputs(inputs, g_cells.shape[0]), ni.dac_bits, 1.0)
    if ni.read_noise and rng is None:
        raise ValueError("read_noise is set: pass a random generator (rng) for the read noise draws.")
    reads = []
    for rows in row_groups(g_cells.shape[0], ni):
        g = np.zeros_like(g_cells)
        g[rows] = g_cells[rows]
        v = np.zeros_like(x)
        v[:, rows] = x[:, rows] * ni.v_read
        currents = nodal_currents(g, v, ni.r_wire, ni.row_wires, ni.column_wires)
        if ni.read_noise:
            currents = currents + ni.read_noise * np.sqrt((v ** 2) @ (g ** 2)) * rng.standard_normal(currents.shape)
        reads.append(outputs(currents, ni))
    return reads


def quantize_nonlinear(values: np.ndarray, bits: int, bound: float, iterations: int = 50) -> np.ndarray:
    """Non-linear ADC: ``2**bits - 1`` levels fitted to the distribution of ``values`` (clipped to
    ``[-bound, bound]``), so they crowd where partial sums are frequent (NeuroSim's non-linear quantization,
    references from the detected partial-sum distribution). Lloyd-Max (each level moves to the mean of the
    values it reads, each threshold midway, which never raises the squared error) from two starts, the
    linear ADC's levels and the quantiles of the values; the better result is kept, so it is at least as
    accurate as :func:`~testbenches.reram.crossbar.quantize`."""
    v = np.clip(np.asarray(values, dtype=float), -bound, bound)
    flat = v.ravel()
    count = 2 ** bits - 1
    best, best_error = v, math.inf
    for levels in (np.linspace(-bound, bound, count), np.quantile(flat, (np.arange(count) + 0.5) / count)):
        for _ in range(iterations):
            index = np.searchsorted((levels[1:] + levels[:-1]) / 2, flat)
            counts = np.bincount(index, minlength=levels.size)
            levels = np.where(counts > 0, np.bincount(index, flat, levels.size) / np.maximum(counts, 1), levels)
        out = levels[np.searchsorted((levels[1:] + levels[:-1]) / 2, v)]
        error = float(np.mean((out - v) ** 2))
        if error < best_error:
            best, best_error = out, error
    return best


def digitize(reads: list[np.ndarray], ni: NonIdealities, share: float = 1.0) -> np.ndarray:
    """The ADC on every partial read, summed; its full scale is ``out_bound*share`` (``share``: the fraction
    of the rows one read activates, so the ADC spans the partial sums it sees)."""
    bound = ni.out_bound * share
    if ni.adc_bits == 0:
        return np.sum(reads, axis=0)
    adc = quantize if ni.adc_mode == "linear" else quantize_nonlinear
    return np.sum([adc(r, ni.adc_bits, bound) for r in reads], axis=0)


def read(g_cells: np.ndarray, inputs: np.ndarray, ni: NonIdealities,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """Digital outputs (weight units), K x N, of the array holding ``g_cells`` (S): :func:`analog_reads`
    then :func:`digitize`."""
    rows = np.shape(g_cells)[0]
    return digitize(analog_reads(g_cells, inputs, ni, rng), ni, min(ni.parallel_rows or rows, rows) / rows)


def mvm(weights: np.ndarray, inputs: np.ndarray, ni: NonIdealities, rng: np.random.Generator, t: float = 0.0,
        scale: float | None = None) -> np.ndarray:
    """``x @ W`` through the non-ideal array: map, program, wait ``t`` seconds, read.

    Parameters
    ----------
    weights
        M x N weights, in [-1, 1] or within ``scale``.
    inputs
        K x M (or M) inputs in [-1, 1].
    ni
        The non-idealities.
    rng
        Random generator of every draw.
    t
        Time after programming (s).
    scale
        Weight magnitude mapped to full scale (e.g. ``max |W|``); the outputs are scaled back by it.

    Returns
    -------
    numpy.ndarray
        K x N outputs, in the units of ``x @ W``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> w, x = rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (2, 4))
    >>> bool(np.allclose(mvm(w, x, NonIdealities(), rng), x @ w))
    True
    """
    w = check_weights(weights, ni, scale)
    x = check_inputs(inputs, w.shape[0])
    g = at_time(program(target_conductances(w, ni), ni, rng), t, ni, rng)
    return read(g, x, ni, rng) * (scale or 1.0)
