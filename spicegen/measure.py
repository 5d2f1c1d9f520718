"""Measurements on simulated vectors, computed in Python.

Two layers, as in lmfit's ``lineshapes`` / ``models`` split:

- pure numpy functions on arrays (:func:`crossings`, :func:`pulse_widths`, :func:`spike_times`,
  :func:`time_average`, :func:`supply_energy` ...), easy to test and to reuse;
- small frozen dataclasses (:class:`Final`, :class:`CrossTime`, :class:`Energy` ...) that a
  testbench declares by name. Each one is called with the run's *waves* (anything indexable
  by vector name, e.g. :class:`~spicegen.ngspice.SimResult`) and returns a float.

Each declaration knows the unit of its value (:func:`measurement_unit`): fixed by its kind
(``CrossTime``: s, ``Energy``: J; the class attribute ``unit``), or the unit of the signal it reads
(``Final("i(vdd)")``: A, ``Final("out")``: V, ``Final("m1.w")``: the state's unit).

A measurement that finds nothing to measure (a threshold never crossed) returns NaN; it does
not fail the sample.

Example
-------
>>> import numpy as np
>>> t = np.linspace(0.0, 4.0, 401)
>>> waves = {"time": t, "out": np.sin(np.pi * t)}
>>> round(CrossTime("out", 0.5)(waves), 4)
0.1667
>>> SpikeCount("out", 0.5)(waves)
2.0
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Literal, Mapping, Protocol, get_args

import numpy as np

Edge = Literal["rise", "fall", "either"]
SCALE = "time"
"""Name of the vector that time-based measurements integrate over."""


class Waves(Protocol):
    """What a measurement reads: vectors by name."""

    def __getitem__(self, name: str) -> np.ndarray: ...


# ------------------------------------------------------------------ pure functions


def crossings(t: np.ndarray, y: np.ndarray, threshold: float, edge: Edge = "rise") -> np.ndarray:
    """Times at which ``y`` crosses ``threshold``, linearly interpolated.

    Parameters
    ----------
    t, y
        Scale and signal of equal length.
    threshold
        Level to cross.
    edge
        ``"rise"`` (from below to at-or-above), ``"fall"`` or ``"either"``.

    Returns
    -------
    numpy.ndarray
        Crossing times in increasing order (empty if none).
    """
    if edge not in get_args(Edge):
        raise ValueError(f"edge {edge!r} is not one of {get_args(Edge)}.")
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    above = y >= threshold
    step = np.diff(above.astype(np.int8))
    wanted = {"rise": step == 1, "fall": step == -1, "either": step != 0}[edge]
    i = np.flatnonzero(wanted)
    y0, y1 = y[i], y[i + 1]
    return t[i] + (t[i + 1] - t[i]) * (threshold - y0) / (y1 - y0)


def _pulses(t: np.ndarray, y: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Rise times and widths of the pulses of ``y`` above ``threshold`` (inf: still above at the end)."""
    rises, falls = crossings(t, y, threshold, "rise"), crossings(t, y, threshold, "fall")
    ends = np.append(falls, np.inf)[np.searchsorted(falls, rises, side="right")]
    return rises, ends - rises


def pulse_widths(t: np.ndarray, y: np.ndarray, threshold: float, min_width: float = 0.0) -> np.ndarray:
    """Durations of the complete pulses of ``y`` above ``threshold`` (rise to the next fall) lasting at
    least ``min_width``."""
    widths = _pulses(t, y, threshold)[1]
    return widths[np.isfinite(widths) & (widths >= min_width)]


def spike_times(t: np.ndarray, y: np.ndarray, threshold: float, min_width: float = 0.0) -> np.ndarray:
    """Rise times of the pulses of ``y`` above ``threshold`` that last at least ``min_width``.

    A pulse shorter than ``min_width`` (a runt: a latch that starts to flip and falls back) is not a
    spike; a pulse still above ``threshold`` at the end of the run is one.

    Examples
    --------
    >>> t = np.array([0.0, 1.0, 1.001, 1.002, 2.0, 3.0, 4.0, 5.0])
    >>> y = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    >>> spike_times(t, y, 0.5).size, spike_times(t, y, 0.5, min_width=0.1)
    (2, array([2.5]))
    """
    rises, widths = _pulses(t, y, threshold)
    return rises[widths >= min_width]


def time_average(t: np.ndarray, y: np.ndarray) -> float:
    """Trapezoidal time average of ``y`` over ``t`` (the plain mean when ``t`` spans no time)."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    span = t[-1] - t[0]
    return float(np.trapezoid(y, t) / span) if span > 0 else float(np.mean(y))


def supply_energy(t: np.ndarray, v: np.ndarray, i_branch: np.ndarray) -> float:
    """Energy delivered by a voltage source: ``-∫ v·i dt``.

    ``i_branch`` is ngspice's branch current of the source, which flows into its positive
    terminal, so a source that supplies power has a negative branch current.
    """
    return float(-np.trapezoid(np.asarray(v) * np.asarray(i_branch), np.asarray(t)))


# ------------------------------------------------------------------ declarations


def _nth(values: np.ndarray, occurrence: int) -> float:
    return float(values[occurrence - 1]) if values.size >= occurrence else float("nan")


def _check_occurrence(occurrence: int) -> None:
    if isinstance(occurrence, bool) or not isinstance(occurrence, int) or occurrence < 1:
        raise ValueError(f"occurrence counts from 1, got {occurrence!r}.")


@dataclass(frozen=True)
class Final:
    """Last value of ``signal`` (the operating point for ``.op``)."""

    signal: str

    def __call__(self, waves: Waves) -> float:
        return float(np.ravel(waves[self.signal])[-1])


@dataclass(frozen=True)
class Max:
    """Largest value of ``signal``."""

    signal: str

    def __call__(self, waves: Waves) -> float:
        return float(np.max(waves[self.signal]))


@dataclass(frozen=True)
class Min:
    """Smallest value of ``signal``."""

    signal: str

    def __call__(self, waves: Waves) -> float:
        return float(np.min(waves[self.signal]))


@dataclass(frozen=True)
class Mean:
    """Time average of ``signal`` (a transient), else its plain mean."""

    signal: str

    def __call__(self, waves: Waves) -> float:
        y = waves[self.signal]
        try:
            t = waves[SCALE]
        except KeyError:
            return float(np.mean(y))
        return time_average(t, y)


@dataclass(frozen=True)
class CrossTime:
    """Time of the ``occurrence``-th crossing of ``threshold`` by ``signal`` (NaN if none)."""

    unit: ClassVar[str] = "s"
    signal: str
    threshold: float
    edge: Edge = "rise"
    occurrence: int = 1

    def __post_init__(self) -> None:
        _check_occurrence(self.occurrence)
        if self.edge not in get_args(Edge):
            raise ValueError(f"edge {self.edge!r} is not one of {get_args(Edge)}.")

    def __call__(self, waves: Waves) -> float:
        times = crossings(waves[SCALE], waves[self.signal], self.threshold, self.edge)
        return _nth(times, self.occurrence)


@dataclass(frozen=True)
class _Spikes:
    """The spikes of ``signal``: pulses above ``threshold`` lasting at least ``min_width`` (:func:`spike_times`)."""

    signal: str
    threshold: float
    min_width: float = 0.0

    def spikes(self, waves: Waves) -> np.ndarray:
        """Spike times (s)."""
        return spike_times(waves[SCALE], waves[self.signal], self.threshold, self.min_width)


@dataclass(frozen=True)
class SpikeCount(_Spikes):
    """Number of spikes of ``signal``: pulses above ``threshold`` lasting at least ``min_width``
    (:func:`spike_times`)."""

    unit: ClassVar[str] = ""

    def __call__(self, waves: Waves) -> float:
        return float(self.spikes(waves).size)


@dataclass(frozen=True)
class _NthPulse:
    """The ``occurrence``-th pulse of ``signal`` above ``threshold`` lasting at least ``min_width``."""

    unit: ClassVar[str] = "s"
    signal: str
    threshold: float
    occurrence: int = 1
    min_width: float = 0.0

    def __post_init__(self) -> None:
        _check_occurrence(self.occurrence)


@dataclass(frozen=True)
class SpikeTime(_NthPulse):
    """Time of the ``occurrence``-th spike of ``signal`` (:func:`spike_times`; NaN if none)."""

    def __call__(self, waves: Waves) -> float:
        return _nth(spike_times(waves[SCALE], waves[self.signal], self.threshold, self.min_width), self.occurrence)


@dataclass(frozen=True)
class SpikeRate(_Spikes):
    """Spikes per second: the spikes of ``signal`` (:func:`spike_times`) over the simulated time span."""

    unit: ClassVar[str] = "Hz"

    def __call__(self, waves: Waves) -> float:
        t = np.asarray(waves[SCALE], dtype=float)
        return float(self.spikes(waves).size / (t[-1] - t[0]))


@dataclass(frozen=True)
class PulseWidth(_NthPulse):
    """Width of the ``occurrence``-th pulse of ``signal`` above ``threshold`` lasting at least ``min_width``
    (NaN if none)."""

    def __call__(self, waves: Waves) -> float:
        widths = pulse_widths(waves[SCALE], waves[self.signal], self.threshold, self.min_width)
        return _nth(widths, self.occurrence)


@dataclass(frozen=True)
class Energy:
    """Energy (J) delivered by the voltage source ``source`` between ``node`` and ``ref``."""

    unit: ClassVar[str] = "J"
    source: str
    node: str
    ref: str = "0"

    def voltage(self, waves: Waves) -> np.ndarray:
        """Voltage across the source, ``v(node) - v(ref)``."""
        v = np.asarray(waves[self.node], dtype=float)
        return v if self.ref == "0" else v - np.asarray(waves[self.ref], dtype=float)

    def __call__(self, waves: Waves) -> float:
        return supply_energy(waves[SCALE], self.voltage(waves), waves[f"i({self.source})"])


@dataclass(frozen=True)
class AvgPower(Energy):
    """Average power (W) delivered by ``source``: :class:`Energy` over the simulated time span."""

    unit: ClassVar[str] = "W"

    def __call__(self, waves: Waves) -> float:
        t = np.asarray(waves[SCALE], dtype=float)
        return super().__call__(waves) / (t[-1] - t[0])


def evaluate(measurements: Mapping[str, object], waves: Waves) -> dict[str, float]:
    """Apply every named measurement to ``waves``.

    Raises
    ------
    ValueError
        If a measurement does not return a single number; the message names it.
    """
    out = {}
    for name, measure in measurements.items():
        value = np.asarray(measure(waves))  # type: ignore[operator]
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            raise ValueError(f"measurement {name!r} returned {value!r}; a measurement must return one number.")
        out[name] = float(value.reshape(()))
    return out


@dataclass(frozen=True)
class At:
    """Value of ``signal`` at ``time``, linearly interpolated, times ``scale``.

    Parameters
    ----------
    signal
        Vector name.
    time
        Instant (s) on the run's time scale.
    scale
        Factor applied to the value (e.g. a state node's full range, to get metres).
    """

    signal: str
    time: float
    scale: float = 1.0

    def __call__(self, waves: Waves) -> float:
        return float(np.interp(self.time, waves[SCALE], waves[self.signal])) * self.scale


@dataclass(frozen=True)
class Step:
    """Change of ``signal`` across an event at ``time``, times ``scale``.

    Parameters
    ----------
    signal
        Vector name.
    time
        Instant (s) of the event; the value 1 ns before it is the reference.
    after
        How long after the event (s) the new value is read.
    scale
        Factor applied to the change.
    """

    signal: str
    time: float
    after: float = 0.5e-6
    scale: float = 1.0

    def __call__(self, waves: Waves) -> float:
        t, y = waves[SCALE], waves[self.signal]
        return float(np.interp(self.time + self.after, t, y) - np.interp(self.time - 1e-9, t, y)) * self.scale


@dataclass(frozen=True)
class Above:
    """1.0 if ``signal`` exceeds ``level`` anywhere in ``[t0, t1]``, else 0.0 (dimensionless).

    Parameters
    ----------
    signal
        Vector name.
    t0, t1
        Time window (s), both ends included.
    level
        Level to exceed.
    """

    unit: ClassVar[str] = ""
    signal: str
    t0: float
    t1: float
    level: float

    def __call__(self, waves: Waves) -> float:
        t, y = np.asarray(waves[SCALE]), np.asarray(waves[self.signal])
        return float(np.max(y[(t >= self.t0) & (t <= self.t1)], initial=-np.inf) > self.level)


@dataclass(frozen=True)
class Ratio:
    """Last value of ``signal`` (the operating point for ``.op``) divided by ``by`` (dimensionless).

    Parameters
    ----------
    signal
        Vector name.
    by
        Divisor (e.g. a bias voltage, to normalise a node voltage).
    """

    unit: ClassVar[str] = ""
    signal: str
    by: float

    def __call__(self, waves: Waves) -> float:
        return float(np.ravel(waves[self.signal])[-1]) / self.by


_SIGNAL_VALUED = (Final, Max, Min, Mean, At, Step)
"""Measurements whose value has the unit of the signal they read (unless a ``scale`` changes it)."""


def measurement_unit(measure: object, signal_unit: Callable[[str], str | None]) -> str | None:
    """The unit of the value ``measure`` returns; ``""`` for a dimensionless one, None when unknown.

    A measurement with a ``unit`` attribute (the classes here that have a fixed unit, or a user's own
    class) declares it; :class:`Final`, :class:`Max`, :class:`Min`, :class:`Mean`, :class:`At` and
    :class:`Step` take the unit of their signal, ``signal_unit(name)``, as long as their ``scale`` is 1.

    >>> measurement_unit(CrossTime("out", 0.5), lambda name: "V")
    's'
    >>> measurement_unit(Final("i(vdd)"), lambda name: "A" if name.startswith("i(") else "V")
    'A'
    >>> measurement_unit(At("m1.q", 1e-9, scale=80e-9), lambda name: "") is None
    True
    """
    declared = getattr(measure, "unit", None)
    if isinstance(declared, str):
        return declared
    if isinstance(measure, _SIGNAL_VALUED) and getattr(measure, "scale", 1.0) == 1.0:
        return signal_unit(measure.signal)
    return None
