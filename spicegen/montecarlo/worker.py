"""What runs inside a worker process: one libngspice, one loaded circuit, many samples.

A worker loads a point's netlist once (``ngSpice_Circ``) and then, per sample, draws the
values from the study seed, sets every ``.param`` slot with ``alterparam`` and ``reset``\\ s,
sets instance-parameter slots with ``alter``, runs, copies the vectors out, frees them
(``destroy all``) and measures. Every slot is set before every run and each analysis starts
from its own operating point, so a sample's result does not depend on what the worker ran
before (the tests check this bit for bit across worker counts).
"""
from __future__ import annotations

import functools
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..measure import evaluate
from ..ngspice import NgSpiceShared, SimError, SimResult
from ..testbench import CircuitWaves, SampleError, Slot, packed_element, packed_name
from .plan import Plan, Point
from .sampling import Sampler, Values
from .store import Record

Task = tuple[int, tuple[int, ...]]
"""(point index, sample indices): one sample, or the wanted samples of one pack."""


class Session:
    """One sample's handle on the loaded circuit, given to a testbench procedure.

    Attributes
    ----------
    events
        Runs the circuit declares per sample.
    values
        This sample's slot values (arrays hold one value per event).
    """

    def __init__(self, spice: NgSpiceShared, point: Point, values: Values, timeout: float | None) -> None:
        self.events, self.values = point.events, values
        self._spice, self._point, self._timeout = spice, point, timeout

    def run(self, *, event: int = 0, values: Mapping[str, float] | None = None) -> CircuitWaves:
        """Run the circuit once with this sample's values for ``event``.

        Parameters
        ----------
        event
            Which per-event (``c2c``) draw to use, 0 … ``events - 1``.
        values
            Slot values for this run only (e.g. a state carried from the last run).

        Raises
        ------
        SimError
            If ngspice fails.
        ValueError
            For an event out of range or an unknown slot.
        """
        if not 0 <= event < self.events:
            raise ValueError(f"event {event} is out of range: the circuit declares events={self.events}.")
        known = {s.name for s in self._point.slots}
        for name in values or {}:
            if name not in known:
                raise ValueError(f"no parameter {name!r} in this circuit; parameters: {sorted(known)}.")
        chosen = {name: _at(value, event) for name, value in {**self.values, **(values or {})}.items()}
        _apply(self._spice, self._point.slots, [(None, chosen)])
        return CircuitWaves(_run(self._spice, self._timeout), self._point.aliases)


def _at(value: float | np.ndarray, event: int) -> float:
    return float(value[event]) if isinstance(value, np.ndarray) else float(value)


def _apply(spice: NgSpiceShared, slots: Sequence[Slot], copies: Sequence[tuple[int | None, Mapping[str, float]]]) -> None:
    """Set every slot of every copy (``None``: an unpacked circuit): ``.param`` slots with
    ``alterparam`` and one ``reset``, then instance parameters with ``alter``."""
    params = [s for s in slots if s.alter is None]
    for copy, values in copies:
        for s in params:
            spice.alterparam(s.name if copy is None else packed_name(s.name, copy), values[s.name])
    if params:
        spice.reset()
    for copy, values in copies:
        for s in slots:
            if s.alter is not None:
                element, parameter = s.alter
                _alter(spice, element if copy is None else packed_element(element, copy), parameter, values[s.name])


def _alter(spice: NgSpiceShared, element: str, parameter: str, value: float) -> None:
    command = f"alter {element} {parameter}={value:.17g}"
    text = spice.command(command)
    if "error" in text.lower():
        raise SimError(" ".join(text.split()), command=command, log=text)


def _run(spice: NgSpiceShared, timeout: float | None) -> SimResult:
    try:
        return spice.run(timeout=timeout)
    finally:
        spice.command("destroy all")


@dataclass
class _WorkerState:
    """What a worker process keeps between batches."""

    loaded: tuple[str, int] | None = None
    samplers: dict[tuple[str, int], Sampler] = field(default_factory=dict)


_STATE = _WorkerState()


def forget_circuit() -> None:
    """Load the circuit afresh at the next batch.

    A worker process keeps its circuit loaded between batches; in a process where other code
    may have used ngspice since (the caller's process, for ``workers=1``), call this first.
    """
    _STATE.loaded = None


def run_batch(plan: Plan, tasks: Sequence[Task]) -> list[Record]:
    """Run ``tasks`` of ``plan`` in this process and return one record per sample.

    This is the function the process pool and Dask execute. It holds the process's ngspice
    lock for the whole batch.
    """
    spice = NgSpiceShared.get()
    records: list[Record] = []
    with spice.lock:
        for point_index, samples in tasks:
            point = plan.points[point_index]
            sampler = _prepare(spice, plan, point)
            run = _run_pack if plan.pack > 1 else _run_sample
            records += run(spice, plan, point, sampler, samples)
    return records


def _prepare(spice: NgSpiceShared, plan: Plan, point: Point) -> Sampler:
    """Load the point's circuit unless it is loaded; return its sampler."""
    key = (plan.key, point.index)
    if _STATE.loaded != key:
        spice.destroy_all()
        _STATE.loaded = None
        spice.use_osdi(point.osdi)
        spice.load_circuit(point.netlist)
        _STATE.loaded = key
    if key not in _STATE.samplers:
        _STATE.samplers[key] = Sampler(point.slots, point.events)
    return _STATE.samplers[key]


def _run_sample(spice: NgSpiceShared, plan: Plan, point: Point, sampler: Sampler,
                samples: Sequence[int]) -> list[Record]:
    (sample,) = samples
    start = time.perf_counter()
    values = sampler.draw(plan.seed, sample)
    try:
        sampler.check(values, sample)
        results, error = _measure(plan, point, Session(spice, point, values, plan.timeout)), ""
    except (SimError, SampleError) as exc:
        results, error = {}, _message(exc)
    return [_record(point, sample, values, results, error, time.perf_counter() - start)]


def _measure(plan: Plan, point: Point, session: Session) -> dict[str, float]:
    """Run the sample (the testbench's procedure, or one run) and apply the measurements."""
    waves: Any = plan.procedure(session) if plan.procedure else session.run()
    if not isinstance(waves, CircuitWaves):
        waves = CircuitWaves(SimResult(waves), point.aliases)
    return evaluate(plan.measurements, waves)


def _run_pack(spice: NgSpiceShared, plan: Plan, point: Point, sampler: Sampler,
              samples: Sequence[int]) -> list[Record]:
    """Run one pack: copy ``i`` holds sample ``first + i``; all copies are simulated, the wanted recorded."""
    start = time.perf_counter()
    first = samples[0] - samples[0] % plan.pack
    drawn = [sampler.draw(plan.seed, first + i) for i in range(plan.pack)]
    problems: dict[int, str] = {}
    for i, values in enumerate(drawn):
        try:
            sampler.check(values, first + i)
        except SampleError as exc:
            problems[i] = str(exc)
    copies = [(i, {k: _at(v, 0) for k, v in (sampler.nominal() if i in problems else values).items()})
              for i, values in enumerate(drawn)]
    try:
        _apply(spice, point.slots, copies)
        result, error = _run(spice, plan.timeout), ""
    except SimError as exc:
        result, error = None, f"{_message(exc)} (in the packed run of samples {first}-{first + plan.pack - 1})"
    elapsed = (time.perf_counter() - start) / plan.pack
    records = []
    for sample in samples:
        i = sample - first
        if i in problems or result is None:
            results, why = {}, problems.get(i, error)
        else:
            results, why = evaluate(plan.measurements, CircuitWaves(result, point.aliases, copy=i)), ""
        records.append(_record(point, sample, drawn[i], results, why, elapsed))
    return records


def _message(exc: SimError | SampleError) -> str:
    """What a failed sample records. After an ngspice error the circuit is loaded afresh
    (a fatal error unloads it)."""
    if isinstance(exc, SimError):
        _STATE.loaded = None
        return f"ngspice: {exc.reason}"
    return str(exc)


def _record(point: Point, sample: int, values: Values, results: Mapping[str, float], error: str,
            elapsed: float) -> Record:
    params = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in values.items()}
    return Record(point.index, sample, not error, params, dict(results), error, elapsed, _worker_name(), time.time())


@functools.cache
def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def simulate(plan: Plan, point: int = 0) -> dict[str, float]:
    """Run ``plan`` once at nominal values (no variation) and return the measurements.

    Raises
    ------
    SimError
        If ngspice fails.
    """
    spice = NgSpiceShared.get()
    target = plan.points[point]
    forget_circuit()
    with spice.lock:
        sampler = _prepare(spice, plan, target)
        return _measure(plan, target, Session(spice, target, sampler.nominal(), plan.timeout))
