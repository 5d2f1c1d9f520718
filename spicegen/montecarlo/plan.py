"""A study's definition, resolved into the netlists and slots the workers run.

:func:`make_plan` validates everything a user can type (testbench options and parameters,
sweep values, sigma overrides, variation kinds, packing) before any simulation starts, and
computes the study *definition*: the dictionary stored with the results. Two runs with the same
definition produce the same samples; a study folder refuses a different one.
"""
from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from ..naming import check_value, did_you_mean, listing
from ..parsing import parse_float, shorten
from ..testbench import Circuit, Procedure, Slot, Testbench
from .sampling import KINDS, Sampler


#: Most samples per sweep point one study may ask for (``--n``).
MAX_SAMPLES = 10**7


def check_sample_count(n: object) -> int:
    """``n`` (samples per sweep point) if it is a whole number in 1 .. :data:`MAX_SAMPLES`.

    Raises
    ------
    ValueError
        Naming the value and the limit.
    """
    _check_whole(n, "n", 1)
    if n > MAX_SAMPLES:
        raise ValueError(f"n = {n} samples per sweep point is above the limit of {MAX_SAMPLES:.0e} "
                         "(spicegen.montecarlo.plan.MAX_SAMPLES); split the study into several folders, "
                         "or sweep a setting instead.")
    return n


@dataclass(frozen=True)
class Point:
    """One point of the sweep: a netlist and its slots.

    Attributes
    ----------
    index
        Position in :attr:`Plan.points`.
    coords
        Sweep axis → value at this point.
    netlist
        Netlist text (packed when :attr:`Plan.pack` > 1).
    slots
        Slots with this point's nominal values and the study's variations.
    aliases, osdi, events
        From the circuit.
    """

    index: int
    coords: Mapping[str, Any]
    netlist: str
    slots: tuple[Slot, ...]
    aliases: Mapping[str, str]
    osdi: tuple[str, ...]
    events: int


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to run any sample of a study.

    Attributes
    ----------
    testbench
        Testbench name.
    seed
        Study seed.
    pack
        Samples per netlist.
    points
        Sweep points (one point without a sweep).
    measurements, procedure
        From the testbench.
    definition
        The study definition (JSON-able); see :func:`make_plan`.
    key
        Short hash of the definition; workers keep a circuit loaded per key and point.
    timeout
        Seconds per run before it is stopped and the sample recorded as failed.
    quantities
        What the stored columns are, for reports (not part of the definition): see :func:`quantities`.
    """

    testbench: str
    seed: int
    pack: int
    points: tuple[Point, ...]
    measurements: Mapping[str, Callable[[Any], float]]
    procedure: Procedure | None
    definition: Mapping[str, Any]
    key: str
    timeout: float | None = None
    quantities: Mapping[str, Any] = field(default_factory=dict)

    @property
    def axes(self) -> dict[str, list[Any]]:
        """Sweep axis → its values, in sweep order."""
        return {str(k): list(v) for k, v in self.definition["sweep"].items()}

    @property
    def params(self) -> dict[str, int]:
        """Slot name → number of per-event values (0 for one value per sample)."""
        return dict(self.definition["params"])


def make_plan(testbench: Testbench, *, seed: int, settings: Mapping[str, Any] | None = None,
              sweep: Mapping[str, Sequence[Any]] | None = None, sigmas: Mapping[str, float] | None = None,
              kinds: Sequence[str] = KINDS, pack: int = 1, timeout: float | None = None,
              correlations: Mapping[str, float] | None = None) -> Plan:
    """Resolve a study on ``testbench`` into a :class:`Plan`.

    Parameters
    ----------
    testbench
        The testbench.
    seed
        Study seed, an integer >= 0.
    settings
        Option or parameter name → value (``--set NAME=VALUE``); text values are converted.
    sweep
        Option or parameter name → values; the study runs every combination (e.g.
        ``{"corner": ["tt", "ff", "ss"]}``).
    sigmas
        Parameter name → sigma replacing its declared one (> 0, in the declared form:
        relative or absolute).
    kinds
        Variation kinds to apply; parameters of other kinds stay at nominal.
    correlations
        Parameter name → correlation with its correlated group's common factor (-1 … 1), replacing the
        declared one (the parameter must belong to a group). Recorded in the definition only when given,
        so the keys of studies without it do not change.
    pack
        Samples per netlist (op, dc and shared-stimulus transients only).
    timeout
        Seconds per run.

    Returns
    -------
    Plan

    Raises
    ------
    ValueError, KeyError
        For an unknown option or parameter, a bad value, sigma <= 0, an unknown kind,
        a bad seed or pack, or a sweep that changes the circuit's parameters.
    """
    return make_plans(testbench, seed=seed, settings=settings, sweep=sweep, sigmas=sigmas, kinds=kinds,
                      packs=(pack,), timeout=timeout, correlations=correlations)[0]


def make_plans(testbench: Testbench, *, seed: int, settings: Mapping[str, Any] | None = None,
               sweep: Mapping[str, Sequence[Any]] | None = None, sigmas: Mapping[str, float] | None = None,
               kinds: Sequence[str] = KINDS, packs: Sequence[int] = (1,), timeout: float | None = None,
               correlations: Mapping[str, float] | None = None) -> list[Plan]:
    """:func:`make_plan` for each of ``packs`` from one build of the circuits: equal to
    ``[make_plan(..., pack=k) for k in packs]`` (a packed study and its unpacked twin build their
    circuits, and compile their models, once)."""
    _check_whole(seed, "seed", 0)
    for pack in packs:
        _check_whole(pack, "pack", 1)
    if timeout is not None and not check_value(timeout, "timeout") > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}.")
    kinds = _check_kinds(kinds)
    if max(packs) > 1 and testbench.procedure is not None:
        raise ValueError(f"testbench {testbench.name!r} runs a procedure of several runs per sample; "
                         "samples can only be packed for a single op/dc/tran run: use pack=1.")
    sigmas = {name: _number(f"sigma of {name!r}", v) for name, v in (sigmas or {}).items()}
    correlations = {name: _number(f"correlation of {name!r}", v) for name, v in (correlations or {}).items()}
    settings = {name: _convert(testbench, name, v) for name, v in (settings or {}).items()}
    sweep = {name: _axis(testbench, name, values) for name, values in (sweep or {}).items()}
    coords = [dict(zip(sweep, combo)) for combo in itertools.product(*sweep.values())]
    built = [_circuit(testbench, {**settings, **point}, sigmas, kinds, correlations) for point in coords]
    return [_assemble(testbench, seed, settings, sweep, sigmas, kinds, pack, timeout, built, coords, correlations)
            for pack in packs]


def _assemble(testbench: Testbench, seed: int, settings: Mapping[str, Any], sweep: Mapping[str, list[Any]],
              sigmas: Mapping[str, float], kinds: tuple[str, ...], pack: int, timeout: float | None,
              built: Sequence[tuple[Circuit, tuple[Slot, ...]]], coords: Sequence[Mapping[str, Any]],
              correlations: Mapping[str, float] | None = None) -> Plan:
    """The plan of the built circuits (with their chosen slots) at ``pack`` samples per netlist."""
    circuits = [circuit for circuit, _ in built]
    points = [Point(index, dict(coords[index]), circuit.format(chosen, pack), chosen, dict(circuit.aliases),
                    circuit.osdi, circuit.events) for index, (circuit, chosen) in enumerate(built)]
    _check_same_params(points, list(sweep))
    definition = {
        "testbench": testbench.name,
        "seed": seed,
        "settings": settings,
        "sweep": sweep,
        "sigmas": sigmas,
        "kinds": list(kinds),
        "pack": pack,
        "measurements": list(testbench.measurements),
        "params": {s.name: _event_count(s, points[0].events) for s in points[0].slots},
        "fingerprint": _fingerprint(testbench, points),
    }
    if correlations:
        definition["correlations"] = dict(correlations)
    key = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]
    return Plan(testbench.name, seed, pack, tuple(points), dict(testbench.measurements),
                testbench.procedure, definition, key, timeout, quantities(testbench, circuits[0], points[0]))


def quantities(testbench: Testbench, circuit: Circuit, point: Point) -> dict[str, Any]:
    """What a study's columns are: ``{"measurements": {name: {"unit"}}, "params": {slot: {"unit", "label",
    "desc"}}}``, units as in :class:`~spicegen.params.Param` (``""`` dimensionless; a measurement's may be
    None when nobody declared it) and ``label`` the slot in words (:meth:`~spicegen.testbench.Slot.describe`)."""
    units = testbench.measurement_units(circuit)
    return {"measurements": {name: {"unit": unit} for name, unit in units.items()},
            "params": {s.name: {"unit": s.param.unit, "label": s.describe(), "desc": s.param.desc}
                       for s in point.slots}}


def _check_whole(value: object, what: str, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{what} must be a whole number >= {least}, got {value!r}.")


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(kinds)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise ValueError(f"variation kinds must be a non-empty subset of {', '.join(KINDS)}; got {list(chosen)}.")
    return tuple(k for k in KINDS if k in chosen)


def _convert(testbench: Testbench, name: str, value: Any) -> str | int | float:
    """An option's value in its type, or a parameter's value as a float."""
    options = [o.name for o in testbench.options]
    if name in options:
        return testbench.option(name).check(value)
    if isinstance(value, str) and not _is_number(value):
        parameters = _parameter_names(testbench.circuit({}).slots)
        if name not in parameters:
            raise ValueError(f"testbench {testbench.name!r} has no option {shorten(name)}"
                             f"{did_you_mean(name, options + parameters)}, and the value "
                             f"{shorten(value)} is not a number, so it sets no parameter either; options: "
                             f"{listing(options)}; parameters (numbers only): {listing(parameters)}.")
    return _number(f"parameter {shorten(name)}", value)


def _is_number(text: str) -> bool:
    try:
        parse_float(text, "")
    except ValueError:
        return False
    return True


def _axis(testbench: Testbench, name: str, values: Sequence[Any]) -> list[str | int | float]:
    if isinstance(values, str) or not values:
        raise ValueError(f"sweep {name!r} needs a non-empty list of values, got {values!r}.")
    return [_convert(testbench, name, v) for v in values]


def _circuit(testbench: Testbench, values: Mapping[str, Any], sigmas: Mapping[str, float],
             kinds: Sequence[str], correlations: Mapping[str, float] | None = None) -> tuple[Circuit, tuple[Slot, ...]]:
    """One sweep point's circuit and its slots with the point's nominal values and the chosen variations."""
    option_names = {o.name for o in testbench.options}
    circuit = testbench.circuit({k: v for k, v in values.items() if k in option_names})
    slots = {s.name: s for s in circuit.slots}
    for name, value in values.items():
        if name not in option_names:
            slot = slots[_slot_name(testbench, circuit, name)]
            slots[name] = slot.with_nominal(value)
    if testbench.check is not None:
        testbench.check(MappingProxyType({name: slot.nominal for name, slot in slots.items()}))
    for name, sigma in sigmas.items():
        slots[name] = _with_sigma(testbench, circuit, slots, name, sigma)
    for name, rho in (correlations or {}).items():
        slots[name] = _with_correlation(testbench, circuit, slots, name, rho)
    chosen = tuple(s if s.variation is None or s.variation.kind in kinds else s.with_variation(None)
                   for s in slots.values())
    Sampler(chosen, circuit.events)  # fails early on groups mixing kinds or bad distributions
    return circuit, chosen


def _slot_name(testbench: Testbench, circuit: Circuit, name: str) -> str:
    if name not in {s.name for s in circuit.slots}:
        options, parameters = [o.name for o in testbench.options], _parameter_names(circuit.slots)
        raise KeyError(f"testbench {testbench.name!r} has no option or parameter {name!r}"
                       f"{did_you_mean(name, options + parameters)}; "
                       f"options: {listing(options)}; parameters: {listing(parameters)}.")
    return name


def _parameter_names(slots: Sequence[Slot]) -> list[str]:
    """Slot names for an error message: the fixed parameters (what ``--set`` usually sets) before the varied ones."""
    return [s.name for s in slots if s.variation is None] + [s.name for s in slots if s.variation is not None]


def _number(what: str, value: Any) -> float:
    if isinstance(value, str):
        value = parse_float(value, what)
    return check_value(value, what)


def _with_sigma(testbench: Testbench, circuit: Circuit, slots: Mapping[str, Slot], name: str, sigma: float) -> Slot:
    slot = slots[_slot_name(testbench, circuit, name)]
    if slot.variation is None:
        varied = [s.name for s in slots.values() if s.variation is not None]
        raise ValueError(f"parameter {name!r} of testbench {testbench.name!r} has no variation to override; "
                         f"varied parameters: {varied or 'none'}.")
    if sigma <= 0:
        raise ValueError(f"sigma of {name!r} must be > 0, got {sigma!r} (it is "
                         f"{'relative' if slot.variation.relative else 'absolute'}, declared {slot.variation.sigma!r}); "
                         "to hold a kind of variation at nominal, leave it out of the variation kinds.")
    return slot.with_variation(replace(slot.variation, sigma=sigma))


def _with_correlation(testbench: Testbench, circuit: Circuit, slots: Mapping[str, Slot], name: str,
                      rho: float) -> Slot:
    slot = slots[_slot_name(testbench, circuit, name)]
    if slot.variation is None or slot.variation.group is None:
        grouped = [s.name for s in slots.values() if s.variation is not None and s.variation.group is not None]
        raise ValueError(f"parameter {name!r} of testbench {testbench.name!r} is in no correlated group, so it has no "
                         f"correlation to override; grouped parameters: {grouped or 'none'}.")
    return slot.with_variation(replace(slot.variation, correlation=rho))


def _check_same_params(points: Sequence[Point], axes: Sequence[str]) -> None:
    first = [(s.name, _event_count(s, points[0].events)) for s in points[0].slots]
    for point in points[1:]:
        if [(s.name, _event_count(s, point.events)) for s in point.slots] != first:
            raise ValueError(f"sweeping {', '.join(axes)} changes the circuit's parameters or events; "
                             "run one study per value instead.")


def _event_count(slot: Slot, events: int) -> int:
    per_event = slot.variation is not None and slot.variation.kind == "c2c" and slot.event is None
    return events if per_event else 0


_INCLUDE = re.compile(r'^(\.include\s+)"?([^"\n]*/)?([^"/\n]+)"?', re.I | re.M)


def _fingerprint(testbench: Testbench, points: Sequence[Point]) -> str:
    """Hash of what determines the results: netlists (include paths reduced to file names; the
    devices' twin subcircuits are in them), compiled models (their file names carry a content hash),
    slots, events, measurements and procedure. A procedure only sequences runs of the netlist
    (studies that compute in Python are :class:`~spicegen.study.Study` objects with their own key)."""
    parts = [_describe(testbench.procedure), *(f"{k}={_describe(m)}" for k, m in testbench.measurements.items())]
    for p in points:
        parts += [_INCLUDE.sub(r'\1"\3"', p.netlist), *(Path(o).name for o in p.osdi), repr(p.slots),
                  str(p.events), repr(sorted(p.aliases.items()))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _describe(obj: Any) -> str:
    """A stable text for a measurement or procedure (no memory addresses)."""
    if obj is None:
        return "None"
    if is_dataclass(obj):
        return f"{type(obj).__qualname__}(" + ", ".join(f"{f.name}={_describe_field(getattr(obj, f.name))}"
                                                        for f in fields(obj)) + ")"
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _describe_field(value: Any) -> str:
    """A dataclass field's text: functions and classes by qualified name (their repr carries an address)."""
    return _describe(value) if inspect.isfunction(value) or inspect.isclass(value) else repr(value)
