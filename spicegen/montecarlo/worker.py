"""What runs inside a worker process: one libngspice, one loaded circuit, many samples.

A worker loads a point's netlist once (``ngSpice_Circ``) and draws the values of a whole batch
from the study seed at once (checked against the bounds at once); then, per sample, it sets every
``.param`` slot with ``alterparam`` and ``reset``\\ s, sets instance-parameter slots with ``alter``,
runs, copies the vectors out, frees them (one ``destroy all``) and measures. Every slot is set before every run and each analysis starts
from its own operating point, so a sample's result does not depend on what the worker ran
before (the tests check this bit for bit across worker counts).

A packed run that fails (ngspice rejects the pack, or one copy cannot be measured) does not fail
its samples together: each wanted sample of the pack is run again alone on the unpacked circuit,
so a failure is recorded for the sample that caused it, with its own message, exactly as an
unpacked study records it.

A pool worker dies with its parent (:func:`die_with_parent`). A study run in the caller's process
runs a long analysis (other than an operating point) in ngspice's background thread, so Ctrl-C or
SIGTERM stops it at its next time step. A sample runs synchronously instead when the previous sample
of the same point took less than :data:`SYNCHRONOUS_BELOW` seconds: a background run costs a thread and
a callback from it per printed line (0.2-0.7 ms of CPU per 5 ms `mc-tran` sample), and Ctrl-C during a
synchronous run takes effect when it returns, a fraction of a second later. The first sample of a point,
the samples after a long one and every run with a timeout stay in the background.
"""
from __future__ import annotations

import ctypes
import functools
import math
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Mapping, Sequence

import numpy as np

from ..measure import Final, evaluate
from ..naming import listing
from ..ngspice import NgSpiceShared, SimError, SimResult
from ..testbench import CircuitWaves, SampleError, Slot, packed_element, packed_name
from .plan import Plan, Point
from .sampling import Batch, Sampler, Values
from .store import Record

Task = tuple[int, tuple[int, ...]]
"""(point index, sample indices): one sample, or the wanted samples of one pack."""

SYNCHRONOUS_BELOW = 0.2
"""Seconds: in an interruptible batch, a sample (or pack) runs synchronously when the previous one of the
same point took less than this, so Ctrl-C is answered within about this long; otherwise ngspice runs it
in its background thread, which Ctrl-C halts at its next time step."""


class Session:
    """One sample's handle on the loaded circuit, given to a testbench procedure.

    Attributes
    ----------
    events
        Runs the circuit declares per sample.
    values
        This sample's slot values (arrays hold one value per event).
    """

    def __init__(self, spice: NgSpiceShared, point: Point, values: Values, timeout: float | None,
                 interruptible: bool = False) -> None:
        self.events, self.values = point.events, values
        self._spice, self._point, self._timeout = spice, point, timeout
        self._interruptible = interruptible

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
        for name in values or {}:
            if name not in self.values:
                raise ValueError(f"no parameter {name!r} in this circuit; parameters: {listing(sorted(self.values))}.")
        chosen = {name: _at(value, event) for name, value in {**self.values, **(values or {})}.items()}
        _apply(self._spice, self._point.slots, [(None, chosen)])
        return CircuitWaves(_run(self._spice, self._timeout, self._interruptible), self._point.aliases)


def _at(value: float | np.ndarray, event: int) -> float:
    return float(value[event]) if isinstance(value, np.ndarray) else float(value)


def _apply(spice: NgSpiceShared, slots: Sequence[Slot], copies: Sequence[tuple[int | None, Mapping[str, float]]],
           checked: bool = False) -> None:
    """Set every slot of every copy (``None``: an unpacked circuit): ``.param`` slots with
    ``alterparam`` and one ``reset``, then instance parameters with ``alter``. ``checked``: the values
    are known to lie inside their bounds (drawn and checked by :meth:`Sampler.draw_batch`)."""
    params = [s for s in slots if s.alter is None]
    if params:
        spice.alterparams({s.name if copy is None else packed_name(s.name, copy): values[s.name]
                           for copy, values in copies for s in params})
        spice.reset()
    instance = [(s, s.name, s.alter[0], s.alter[1]) for s in slots if s.alter is not None]
    if not instance:
        return
    if checked:
        alters = [(element if copy is None else _copy_element(element, copy), parameter, values[name])
                  for copy, values in copies for _, name, element, parameter in instance]
    else:
        alters = [(element if copy is None else _copy_element(element, copy), parameter, _inside(s, values[name]))
                  for copy, values in copies for s, name, element, parameter in instance]
    spice.alters(alters)  # one binding call for every copy's instance parameters


@functools.lru_cache(maxsize=65536)  # every pack of a point names the same copies
def _copy_element(element: str, copy: int) -> str:
    return packed_element(element, copy)


def _inside(slot: Slot, value: float) -> float:
    """``value`` if it lies inside the slot's bounds: ngspice checks a Verilog-A range on a netlist line
    but not in ``alter``."""
    lo, hi = slot.param.bounds
    if not lo <= value <= hi:
        raise SampleError(f"{slot.name} = {value!r} lies outside its bounds [{lo!r}, {hi!r}]; a procedure "
                          "that sets it per run must keep it inside.")
    return value


def _run(spice: NgSpiceShared, timeout: float | None, interruptible: bool) -> SimResult:
    return spice.run(timeout=timeout, interruptible=interruptible)  # frees the plots itself (destroy all)


@dataclass
class _WorkerState:
    """What a worker process keeps between batches."""

    loaded: tuple[str, int] | None = None
    samplers: dict[tuple[str, int], Sampler] = field(default_factory=dict)
    vector_names: dict[tuple[str, int], dict[str, list[str]]] = field(default_factory=dict)
    last_seconds: dict[tuple[str, int], float] = field(default_factory=dict)
    """Per point: how long its last sample (or pack) took in this process."""


_STATE = _WorkerState()


def forget_circuit() -> None:
    """Load the circuit afresh at the next batch.

    A worker process keeps its circuit loaded between batches; in a process where other code
    may have used ngspice since (the caller's process, for ``workers=1``), call this first. The first
    sample of each point then runs in ngspice's background thread again (see :data:`SYNCHRONOUS_BELOW`).
    """
    _STATE.loaded = None
    _STATE.last_seconds.clear()


def run_batch(plan: Plan, tasks: Sequence[Task], *, single: Plan | None = None,
              interruptible: bool = False) -> list[Record]:
    """Run ``tasks`` of ``plan`` in this process and return one record per sample.

    This is the function the process pool and Dask execute. It holds the process's ngspice
    lock for the whole batch.

    Parameters
    ----------
    plan
        The study.
    tasks
        (point, samples) pairs: one sample, or the wanted samples of one pack.
    single
        For a packed ``plan``: the same study unpacked (``make_plan(..., pack=1)``). The samples
        of a pack whose run fails are run again alone on it, so each records its own outcome.
    interruptible
        Let Ctrl-C (or a signal turned into KeyboardInterrupt) stop a running sample at its next time
        step: ngspice runs it in its background thread, unless the previous sample of its point took
        less than :data:`SYNCHRONOUS_BELOW` seconds (then Ctrl-C takes effect when the sample returns);
        for a study run in the caller's process. Pool workers are stopped by their parent instead.

    Raises
    ------
    ValueError
        If ``plan`` is packed and ``single`` is not that study unpacked.
    """
    if plan.pack > 1:
        _check_single(plan, single)
    spice = NgSpiceShared.get()
    records: list[Record] = []
    with spice.lock:
        if plan.pack > 1:
            for point_index, samples in tasks:
                records += _run_pack(spice, plan, single, point_index, samples, interruptible)  # type: ignore[arg-type]
            return records
        for point_index, group in groupby(tasks, key=lambda task: task[0]):
            samples = [sample for _, task_samples in group for sample in task_samples]
            batch = _prepare(spice, plan, plan.points[point_index]).draw_batch(plan.seed, samples)
            records += [_run_sample(spice, plan, point_index, batch, i, interruptible) for i in range(len(samples))]
    return records


def _check_single(plan: Plan, single: Plan | None) -> None:
    if (single is None or single.pack != 1 or single.seed != plan.seed or len(single.points) != len(plan.points)
            or any(a.slots != b.slots for a, b in zip(single.points, plan.points))):
        raise ValueError("run_batch of a packed study needs single=, the same study unpacked "
                         "(make_plan with the same arguments and pack=1): a failing pack's samples are run "
                         "again alone on it.")


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


def _run_sample(spice: NgSpiceShared, plan: Plan, point_index: int, batch: Batch, row: int,
                interruptible: bool) -> Record:
    """Sample ``batch.samples[row]`` with its drawn values (a value out of bounds fails it unrun)."""
    point = plan.points[point_index]
    _prepare(spice, plan, point)  # a failed sample before this one unloads the circuit
    start = time.perf_counter()
    sample, values = batch.samples[row], batch.values[row]
    if sample in batch.problems:
        return _record(point, sample, values, {}, batch.problems[sample], 0.0)
    try:
        session = Session(spice, point, values, plan.timeout, _in_background(plan, point, interruptible))
        results, error = _measure(plan, point, session), ""
    except (SimError, SampleError) as exc:
        results, error = {}, _message(exc)
    elapsed = _STATE.last_seconds[(plan.key, point.index)] = time.perf_counter() - start
    return _record(point, sample, values, results, error, elapsed)


def _in_background(plan: Plan, point: Point, interruptible: bool) -> bool:
    """Whether an interruptible batch runs this point's next sample in ngspice's background thread:
    unless the point's previous sample in this process was short (see :data:`SYNCHRONOUS_BELOW`)."""
    return interruptible and _STATE.last_seconds.get((plan.key, point.index), math.inf) >= SYNCHRONOUS_BELOW


def _measure(plan: Plan, point: Point, session: Session) -> dict[str, float]:
    """Run the sample (the testbench's procedure, or one run) and apply the measurements."""
    waves: Any = plan.procedure(session) if plan.procedure else session.run()
    if not isinstance(waves, CircuitWaves):
        waves = CircuitWaves(SimResult(waves), point.aliases)
    return evaluate(plan.measurements, waves)


def _run_pack(spice: NgSpiceShared, plan: Plan, single: Plan, point_index: int, samples: Sequence[int],
              interruptible: bool) -> list[Record]:
    """Run one pack: copy ``i`` holds sample ``first + i``; all copies are simulated, the wanted recorded.

    A sample whose copy cannot be measured, or every wanted sample of a pack that ngspice fails
    to run, is run again alone on ``single``'s circuit: its record is then the unpacked one.
    """
    point = plan.points[point_index]
    sampler = _prepare(spice, plan, point)
    start = time.perf_counter()
    first = samples[0] - samples[0] % plan.pack
    batch = sampler.draw_batch(plan.seed, range(first, first + plan.pack))
    drawn = batch.values
    problems = {sample - first: message for sample, message in batch.problems.items()}
    copies = _first_event([(i, sampler.nominal() if i in problems else values) for i, values in enumerate(drawn)])
    try:
        _apply(spice, point.slots, copies, checked=not problems)
        result: SimResult | None = _run(spice, plan.timeout, _in_background(plan, point, interruptible))
    except SimError:
        _STATE.loaded = None  # a fatal error unloads the circuit
        result = None
    _STATE.last_seconds[(plan.key, point.index)] = time.perf_counter() - start
    elapsed = (time.perf_counter() - start) / plan.pack
    wanted = [sample - first for sample in samples if sample - first not in problems]
    measured = {} if result is None else _measure_pack(plan, point, result, wanted)
    records, alone, finished, worker = [], [], time.time(), _worker_name()
    for sample in samples:
        i = sample - first
        results = measured.get(i)
        if i in problems:
            records.append(_record(point, sample, drawn[i], {}, problems[i], elapsed, finished))
        elif results is None:
            alone.append(sample)
        else:  # the drawn values and the measurements are this sample's own dictionaries
            params = drawn[i] if copies[i][1] is drawn[i] else _params(drawn[i])
            records.append(Record(point.index, sample, True, params, results, "", elapsed, worker, finished))
    if alone:
        again = Batch(tuple(alone), [drawn[sample - first] for sample in alone])
        records += [_run_sample(spice, single, point_index, again, i, interruptible) for i in range(len(alone))]
    return sorted(records, key=lambda r: r.sample)


def _first_event(copies: list[tuple[int, Values]]) -> list[tuple[int, Values]]:
    """Each copy's values with per-event arrays replaced by their first event's value (a packed circuit
    runs one event); ``copies`` themselves when no value is an array."""
    if not any(isinstance(v, np.ndarray) for _, values in copies for v in values.values()):
        return copies
    return [(i, {k: _at(v, 0) if isinstance(v, np.ndarray) else float(v) for k, v in values.items()})
            for i, values in copies]


def _measure_pack(plan: Plan, point: Point, result: SimResult,
                  copies: Sequence[int]) -> dict[int, dict[str, float] | None]:
    """The measurements of ``copies`` of a packed run (None: that copy cannot be measured).

    When every measurement is a :class:`~spicegen.measure.Final` (an operating point's value), the copies'
    vector names are resolved once per loaded circuit and the values read straight from the vectors: the
    same numbers as :func:`~spicegen.measure.evaluate` on each copy, without its per-copy lookups.
    """
    names = _pack_vector_names(plan, point, result) if copies else None
    if names is None:
        return {i: _measure_copy(plan, point, result, i) for i in copies}
    vectors = result.vectors
    return {i: {name: vectors[keys[i]].item(-1) for name, keys in names.items()} for i in copies}


def _pack_vector_names(plan: Plan, point: Point, result: SimResult) -> dict[str, list[str]] | None:
    """Measurement → each copy's vector name, for a plan whose measurements are all ``Final``; None otherwise
    or when a copy lacks its vector (each copy is then measured alone, as :func:`_measure_copy` does)."""
    key = (plan.key, point.index)
    if key not in _STATE.vector_names:
        if not all(type(m) is Final for m in plan.measurements.values()):
            return None
        try:
            _STATE.vector_names[key] = {
                name: [CircuitWaves(result, point.aliases, copy=i).key(m.signal) for i in range(plan.pack)]
                for name, m in plan.measurements.items()}
        except KeyError:
            return None
    names = _STATE.vector_names[key]
    return names if all(k in result.vectors for keys in names.values() for k in keys) else None


def _measure_copy(plan: Plan, point: Point, result: SimResult, copy: int) -> dict[str, float] | None:
    """The measurements of one copy of a packed run, or None if it cannot be measured."""
    try:
        return evaluate(plan.measurements, CircuitWaves(result, point.aliases, copy=copy))
    except (SimError, SampleError):
        return None


def _message(exc: SimError | SampleError) -> str:
    """What a failed sample records. After an ngspice error the circuit is loaded afresh
    (a fatal error unloads it)."""
    if isinstance(exc, SimError):
        _STATE.loaded = None
        return f"ngspice: {exc.reason}"
    return str(exc)


def _record(point: Point, sample: int, values: Values, results: Mapping[str, float], error: str,
            elapsed: float, finished: float | None = None) -> Record:
    """The record of a finished sample; ``finished`` defaults to now (a pack's samples finish together)."""
    return Record(point.index, sample, not error, _params(values), dict(results), error, elapsed, _worker_name(),
                  time.time() if finished is None else finished)


def _params(values: Values) -> dict[str, Any]:
    """A sample's values as stored: per-event arrays as lists."""
    return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in values.items()}


@functools.cache
def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def die_with_parent(parent: int) -> None:
    """Initializer of a pool worker: end this process when ``parent`` (its creator) dies.

    Linux delivers SIGKILL to the worker when the parent dies, even by SIGKILL
    (``prctl(PR_SET_PDEATHSIG)``); a parent that died before this call is noticed by its pid.
    Ctrl-C in a terminal reaches the whole process group: the worker ignores it, and the
    parent, which decides what is kept, stops the workers.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
        return _measure(plan, target, Session(spice, target, sampler.nominal(), plan.timeout, interruptible=True))
