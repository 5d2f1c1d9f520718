"""Testbenches: a circuit with per-sample parameter slots, an optional procedure, named measurements.

A :class:`Testbench` is what ``spicegen sim`` and ``spicegen mc`` run. Its ``build`` function
turns structural options (corner, flavor, counts) into a :class:`Circuit`; every value that
changes from one sample to the next is a *slot*: a netlist ``.param`` that the engine sets
with ``alterparam`` before each run, so a worker parses the circuit once and then only
re-runs it. Slots come from

- device parameters with a :class:`~spicegen.params.Variation` (declared on the device's
  :class:`~spicegen.params.Param` or overridden per instance) and the ones named ``settable``
  (state initial values ``<state>0`` a procedure carries from run to run). In an OSDI device an
  instance parameter (:attr:`~spicegen.params.Param.per_instance`) sits on the ``N`` line and is set
  with ``alter``, so instances that vary only those share one ``.model`` card;
- testbench parameters declared with :meth:`Circuit.param`;
- sky130 transistor mismatch (:meth:`Circuit.mos`: ``delvto`` and width per instance);
- pulse timing jitter (:meth:`Circuit.pulse`: width and delay, per pulse or per source).

Everything that reaches the netlist from outside the testbench code (option values, ``--set``
values, instance and node names) is validated first; see :mod:`spicegen.naming`.

Example
-------
>>> from spicegen import Param, Variation, get_device
>>> from spicegen.measure import Final
>>> def build(options):
...     c = Circuit("divider")
...     c.param(Param("vdd", 1.0, "V", bounds=(0, 5), variation=Variation("global", 0.02)))
...     c.element("V1 a 0 {vdd}")
...     c.element("R1 a b 1k")
...     c.element("R2 b 0 1k")
...     c.analysis(".op")
...     return c
>>> tb = Testbench("divider", "a resistive divider", build, {"vb": Final("b")})
>>> print(tb.circuit().format())
divider
.param vdd=1.0
V1 a 0 {vdd}
R1 a b 1k
R2 b 0 1k
.op
.end
<BLANKLINE>
"""
from __future__ import annotations

import functools
import hashlib
import math
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .device import DeviceModel
from .naming import check_name, check_value, did_you_mean, format_number, listing
from .netlist import Flavor, check_node, format_card, format_instance, format_subckt
from .params import Param, Variation
from .parsing import parse_float

#: Name of the subcircuit that holds one sample when K samples are packed into one netlist.
#: Most events one sample may have: runs of an event procedure, or pulses of a train.
MAX_EVENTS = 100_000
#: Most time points one transient may ask for (its span divided by its step).
MAX_TRAN_POINTS = 10**7
PACK_SUBCKT = "mc_sample"
#: Instance name prefix of the packed copies: copy ``i`` is ``Xmc<i>``, its vectors ``xmc<i>.*``.
PACK_PREFIX = "mc"

Procedure = Callable[[Any], Mapping[str, np.ndarray]]
"""Runs one sample on a session (see :class:`spicegen.montecarlo.worker.Session`) and returns vectors."""


class SampleError(ValueError):
    """This sample cannot be simulated (e.g. a drawn value outside its bounds); the study goes on.

    A procedure raises it to record a sample as failed with its message.
    """


def packed_name(slot: str, copy: int) -> str:
    """Top-level ``.param`` that feeds ``slot`` of packed copy ``copy``."""
    return f"{slot}__s{copy}"


@dataclass(frozen=True)
class Option:
    """A structural testbench option: it changes the netlist, so each value is its own circuit.

    Parameters
    ----------
    name
        Identifier used by ``--set NAME=VALUE`` and ``--sweep``.
    default
        Value used when not set; its type (str, int or float) is the option's type.
    choices
        Allowed values of a text option (e.g. the sky130 corners).
    desc
        One-line description.
    """

    name: str
    default: str | int | float
    choices: tuple[str, ...] = ()
    desc: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "option")
        self.check(self.default)

    def check(self, value: object) -> str | int | float:
        """Return ``value`` converted to the option's type, or raise naming the allowed values."""
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"option {self.name!r} = {value!r} is not one of {', '.join(self.choices)}.")
            return str(value)
        if isinstance(value, str):
            value = parse_float(value, f"option {self.name!r}")
        number = check_value(value, f"option {self.name!r}")
        if isinstance(self.default, int):
            if number != int(number):
                raise ValueError(f"option {self.name!r} needs a whole number, got {value!r}.")
            return int(number)
        return number


@dataclass(frozen=True)
class Slot:
    """One value the engine sets for every sample: a netlist ``.param`` or an instance parameter.

    Attributes
    ----------
    param
        Its name (the netlist name), nominal value (``default``), bounds and variation.
    instance
        The element it belongs to (``""`` for a testbench parameter); local, d2d and c2c
        draws are made per instance.
    key
        What a draw is shared over: every slot with the same key shares one ``global`` draw
        (``"sinh_memristor.i0"``, ``"pulse.width"``, a testbench parameter's name).
    event
        For the pulses of a train: the pulse index, whose ``c2c`` draw this slot takes.
        ``None``: a ``c2c`` slot takes one draw per event (run) of the sample.
    alter
        ``(element, parameter)`` for an instance parameter that ngspice changes with
        ``alter`` without re-parsing the circuit (a MOS ``delvto``, an OSDI device's instance
        parameter); the netlist then holds the number. ``None``: a ``.param``, set with
        ``alterparam`` + ``reset``.
    """

    param: Param
    instance: str = ""
    key: str = ""
    event: int | None = None
    alter: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        """Netlist parameter name."""
        return self.param.name

    @property
    def nominal(self) -> float:
        """Value without variation."""
        return self.param.default

    @property
    def variation(self) -> Variation | None:
        """How the value varies in Monte Carlo (``None``: fixed at nominal)."""
        return self.param.variation

    def with_nominal(self, value: float) -> Slot:
        """This slot with another nominal value (checked against the bounds)."""
        return replace(self, param=replace(self.param, default=self.param.check(value)))

    def with_variation(self, variation: Variation | None) -> Slot:
        """This slot with another variation (``None`` fixes it at nominal)."""
        return replace(self, param=replace(self.param, variation=variation))

    def describe(self) -> str:
        """What this slot is, in words, for axis labels and tables (its unit not included).

        A device or transistor parameter: ``"i0 of sinh_memristor m1"``, ``"delvto of nfet ma"``; a
        pulse timing: ``"width of pulse source vw, pulse 2"``; a testbench parameter: its name and
        description, ``"vprog, programming pulse amplitude"``.
        """
        owner, _, parameter = self.key.rpartition(".")
        if not self.instance or not owner:
            return f"{self.name}, {self.param.desc}" if self.param.desc else self.name
        what = f"pulse source {self.instance}" if owner == "pulse" else f"{owner} {self.instance}"
        text = f"{parameter} of {what}"
        return text if self.event is None else f"{text}, pulse {self.event + 1}"


def _number_or_ref(value: float | str, slots: Mapping[str, Slot], what: str) -> str:
    """Netlist text of a number, or ``{name}`` for a slot name."""
    if isinstance(value, str):
        if value.lower() not in slots:
            raise ValueError(f"{what} refers to {value!r}, which is not a parameter of this circuit; "
                             f"declare it with Circuit.param first (known: {listing(sorted(slots))}).")
        return "{" + value + "}"
    return format_number(check_value(value, what))


def _sum_text(*terms: str) -> str:
    """``a + b + c`` as netlist text: a number if all terms are numbers, else ``{a+b+c}``."""
    try:
        return format_number(math.fsum(float(t) for t in terms))
    except ValueError:
        return "{" + "+".join(terms) + "}"


class Circuit:
    """A netlist under construction, with the slots the Monte Carlo engine sets per sample.

    Parameters
    ----------
    title
        First line of the netlist.
    events
        Runs per sample (cycles, programming pulses) for a procedure such as :class:`Events`;
        ``c2c`` slots get one draw per event.
    shared_nodes
        Nodes that connect the per-sample part to shared stimuli when samples are packed
        (see :meth:`format`).

    Notes
    -----
    Lines go to three places: the *header* (``.include``, ``.options``, model and device
    subcircuit definitions), *shared* elements (stimuli common to every packed sample) and
    the *body* (one sample). Unpacked, all of them sit at the top level.
    """

    def __init__(self, title: str, *, events: int = 1, shared_nodes: Sequence[str] = ()) -> None:
        if not isinstance(title, str) or "\n" in title or "\r" in title or not title.strip():
            raise ValueError(f"circuit title must be one non-empty line, got {title!r}.")
        if isinstance(events, bool) or not isinstance(events, int) or events < 1:
            raise ValueError(f"events must be a whole number >= 1, got {events!r}.")
        _check_count(events, "events per sample")
        self.title, self.events = title, events
        self.shared_nodes = tuple(check_node(n) for n in shared_nodes)
        self._header: list[str] = []
        self._shared: list[str] = []
        self._body: list[str] = []
        self._slots: dict[str, Slot] = {}
        self._aliases: dict[str, str] = {}
        self._alias_units: dict[str, str | None] = {}
        self._osdi: list[str] = []
        self._saves: list[str] = []
        self._analysis: str | None = None

    # -- queries

    @property
    def slots(self) -> tuple[Slot, ...]:
        """Per-sample parameters, in declaration order."""
        return tuple(self._slots.values())

    @property
    def aliases(self) -> Mapping[str, str]:
        """Friendly vector names (``"m1.w"``) → ngspice vector names (``"xm1.w"``)."""
        return MappingProxyType(self._aliases)

    @property
    def osdi(self) -> tuple[str, ...]:
        """Compiled Verilog-A files the netlist needs."""
        return tuple(self._osdi)

    def signal_unit(self, vector: str) -> str | None:
        """Unit of a vector that measurements read: a device state's unit for its alias (``"m1.w"``; None
        for a state stored scaled), ``"A"`` for a branch current (``i(vdd)``, ``vdd#branch``), ``"s"``
        for ``time``, else ``"V"``."""
        key = vector.strip().lower()
        if key in self._alias_units:
            return self._alias_units[key]
        if re.fullmatch(r"i\(.+\)|.+#branch", key):
            return "A"
        return "s" if key == "time" else "V"

    # -- building

    def include(self, line: str) -> None:
        """Add a header line (``.include``, ``.options``, ``.model``, ``.subckt`` text)."""
        self._header.append(line)

    def element(self, line: str, *, shared: bool = False) -> None:
        """Add an element line written by the testbench code (``{name}`` refers to a slot)."""
        (self._shared if shared else self._body).append(line)

    def analysis(self, line: str) -> None:
        """Set the analysis line (``.op``, ``.dc ...``, ``.tran ...``).

        Raises
        ------
        ValueError
            For a ``.tran`` of more than :data:`MAX_TRAN_POINTS` time points.
        """
        words = line.split()
        if len(words) >= 3 and words[0].lower() == ".tran":
            step, stop = _spice_number(words[1]), _spice_number(words[2])
            start = _spice_number(words[3]) if len(words) > 3 else 0.0
            if step and stop and start is not None and step > 0 and (stop - start) / step > MAX_TRAN_POINTS:
                raise ValueError(f"the transient {line!r} asks for {(stop - start) / step:.3g} time points, above "
                                 f"the limit of {MAX_TRAN_POINTS:.0e} (spicegen.testbench.MAX_TRAN_POINTS); "
                                 "shorten it or use a larger step (e.g. fewer pulses).")
        self._analysis = line

    def save(self, *vectors: str) -> None:
        """Keep only these vectors (``.save``; default: all). Fewer vectors make runs and their
        copies faster; the measurements and procedure may then read only these (and ``time``)."""
        for vector in vectors:
            if not re.fullmatch(r"[A-Za-z0-9_.#()]+", vector):
                raise ValueError(f"cannot save vector {vector!r}: use a node, i(source) or a device.state alias.")
            self._saves.append(vector.lower())

    def alias(self, name: str, vector: str) -> None:
        """Let measurements read ngspice's ``vector`` as ``name``."""
        self._aliases[name.lower()] = vector.lower()

    def param(self, param: Param) -> str:
        """Declare a testbench parameter (a slot of its own); returns ``{name}`` for netlist lines."""
        self._add_slot(Slot(param, "", param.name))
        return "{" + param.name + "}"

    def device(self, model: DeviceModel | str, name: str, nodes: Sequence[str], *,
               values: Mapping[str, float] | None = None,
               variations: Mapping[str, Variation | None] | None = None,
               settable: Sequence[str] = (), flavor: Flavor = "twin", osdi: str | None = None) -> None:
        """Place an instance of a spicegen device.

        Parameters
        ----------
        model
            The device, or the name of a registered one.
        name
            Instance name (without the SPICE letter).
        nodes
            One node per port.
        values
            Nominal parameter overrides.
        variations
            Per-parameter variation overrides; ``None`` switches a declared one off.
        settable
            Parameters without variation that a procedure sets per run (e.g. ``"w0"``).
        flavor
            ``"twin"`` (B-source subcircuit) or ``"osdi"`` (compiled Verilog-A).
        osdi
            Path of the compiled model for ``flavor="osdi"`` (default: compiled on first use by the
            installed ``osdi`` compiler, :func:`spicegen.plugins.compiler`).
        """
        if isinstance(model, str):
            from .device import get_device

            model = get_device(model)
        values = dict(values or {})
        declared = {p.name: p.variation for p in model.params}
        for pname in [*(variations or {}), *settable]:
            model.param(pname)  # raises, listing the device's parameters
        declared.update(variations or {})
        varied = [p for p in model.params if declared[p.name] is not None or p.name in settable]
        model.checked_params(values)  # the nominal values, states' bounds included, before slots take some
        # an OSDI instance parameter is set with alter on the N line: no re-parse, no card of its own
        altered = [p for p in varied if flavor == "osdi" and p.per_instance]
        carded = [p for p in varied if p not in altered]
        substituted = _bounds_beside_slots(model, values, {p.name for p in carded})
        _bounds_beside_numbers(model, values, {p.name for p in altered}, {p.name for p in varied})
        for p in varied:
            nominal = p.check(values.pop(p.name, p.default))
            slot = Param(f"{name}__{p.name}", nominal, p.unit, p.desc, p.bounds, declared[p.name])
            alter = (f"N{name}", p.name) if p in altered else None
            self._add_slot(Slot(slot, name, f"{model.name}.{p.name}", alter=alter))
        lines = format_instance(model, name, nodes, values, flavor, shared=not (carded or substituted))
        lines[0] = " ".join([lines[0], *(f"{k}={{{format_number(v)}}}" for k, v in substituted.items()),
                             *(f"{p.name}={{{name}__{p.name}}}" for p in carded)])
        lines[-1] = " ".join([lines[-1], *(f"{p.name}={{{name}__{p.name}}}" for p in altered)])
        self._body.extend(lines)
        self._add_model(model, flavor, osdi, shared=flavor == "osdi" and len(lines) == 1)  # no card of its own
        for state in model.states:
            vector = f"x{name}.{state.name}" if flavor == "twin" else f"n{name}#{state.name}"
            self.alias(f"{name}.{state.name}", vector)
            # a scaled state's node holds x / scale: no unit to name (None: the testbench declares it)
            self._alias_units[f"{name}.{state.name}".lower()] = state.unit if state.scale == 1.0 else None

    def mos(self, name: str, kind: str, d: str, g: str, s: str, b: str, *, w: float, l: float,  # noqa: E741
            nf: int = 1, mult: int = 1, vth: Variation | None = None, width: Variation | None = None) -> None:
        """Place a sky130 5 V transistor with per-instance mismatch.

        Parameters
        ----------
        name, kind, d, g, s, b, w, l, nf, mult
            As :func:`spicegen.pdk.sky130_mos` (include ``spicegen.pdk.sky130_include(corner)``
            in the header once).
        vth
            Threshold mismatch, applied as BSIM4 ``delvto`` (V): an absolute variation
            (``relative=False``) around 0, usually ``kind="local"``.
        width
            Width variation (relative or absolute, in metres), usually ``kind="local"``.
        """
        from . import pdk

        line = pdk.sky130_mos(name, kind, d, g, s, b, w=w, l=l, nf=nf, mult=mult)
        parts = line.split()
        element = parts[0]
        if width is not None:
            slot = Param(f"{name}__w", _parts_value(parts, "w"), "m", "gate width", (pdk.W_MIN * nf, pdk.W_MAX), width)
            self._add_slot(Slot(slot, name, f"{kind}.w"))
            parts = [f"w={{{slot.name}}}" if p.startswith("w=") else p for p in parts]
        if vth is not None:
            if vth.relative:
                raise ValueError(f"the threshold variation of {name!r} must be absolute (relative=False, sigma "
                                 f"in volts): delvto is 0 at nominal, so a relative sigma of {vth.sigma!r} means nothing.")
            slot = Param(f"{name}__delvto", 0.0, "V", "threshold shift (mismatch)", variation=vth)
            # alter changes delvto in 0.02 ms; alterparam + reset re-parses the model file (3 ms)
            self._add_slot(Slot(slot, name, f"{kind}.delvto", alter=(element, "delvto")))
            parts.append(f"delvto={{{slot.name}}}")
        self._body.append(" ".join(parts))

    def pulse(self, name: str, pos: str, neg: str, *, v1: float | str, v2: float | str, delay: float,
              width: float, rise: float, fall: float, period: float | None = None, count: int = 1,
              width_jitter: Variation | None = None, delay_jitter: Variation | None = None,
              shared: bool = False) -> None:
        """Place a pulse (train) voltage source with timing jitter.

        Pulse ``j`` starts at ``j·period + delay`` and stays at ``v2`` for ``width`` after its
        rise. With ``count > 1`` each pulse has its own width and delay slots, so a ``c2c``
        jitter is redrawn per pulse, ``local``/``d2d`` is drawn once per source and ``global``
        once per sample. With ``count == 1`` a ``c2c`` jitter is redrawn per event (run).

        Parameters
        ----------
        name
            Source name; a ``V`` is put in front unless it starts with ``V``/``v``.
        pos, neg
            Nodes.
        v1, v2
            Base and pulse levels: numbers, or the name of a :meth:`param`.
        delay, width, rise, fall, period
            Timing in seconds (``period`` is needed for ``count > 1``).
        count
            Number of pulses.
        width_jitter, delay_jitter
            Variations of each pulse's width and delay (``relative=True``: a fraction of
            ``width`` / ``delay``).
        shared
            Whether the source is shared by all packed samples.
        """
        check_name(name, "source")
        element = name if name[0] in "Vv" else f"V{name}"
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"pulse count must be a whole number >= 1, got {count!r}.")
        _check_count(count, f"pulses in the train {name!r}")
        if count > 1 and (period is None or check_value(period, "period") <= 0):
            raise ValueError(f"a train of {count} pulses needs a period > 0, got {period!r}.")
        for value, what in ((delay, "delay"), (width, "width"), (rise, "rise"), (fall, "fall")):
            if check_value(value, f"pulse {what}") < 0 or (what != "delay" and value == 0):
                raise ValueError(f"pulse {what} must be {'>= 0' if what == 'delay' else '> 0'}, got {value!r}.")
        low = _number_or_ref(v1, self._slots, f"v1 of {name!r}")
        high = _number_or_ref(v2, self._slots, f"v2 of {name!r}")
        points: list[str] = []
        for j in range(count):
            suffix = f"_p{j}" if count > 1 else ""
            event = j if count > 1 else None
            d = self._timing(name, "delay" + suffix, delay, delay_jitter, event)
            w = self._timing(name, "width" + suffix, width, width_jitter, event)
            start = format_number(j * (period or 0.0))
            rise_, fall_ = format_number(rise), format_number(fall)
            points += [f"{_sum_text(start, d)} {low}", f"{_sum_text(start, d, rise_)} {high}",
                       f"{_sum_text(start, d, rise_, w)} {high}", f"{_sum_text(start, d, rise_, w, fall_)} {low}"]
        lines = [f"{element} {check_node(pos)} {check_node(neg)} PWL("]
        lines += [f"+ {' '.join(points[i:i + 4])}" for i in range(0, len(points), 4)]
        lines[-1] += ")"
        (self._shared if shared else self._body).extend(lines)

    def _timing(self, source: str, what: str, nominal: float, variation: Variation | None, event: int | None) -> str:
        """Netlist text of one pulse timing: a number, or a jittered slot's name."""
        if variation is None:
            return format_number(nominal)
        bounds = (0.0, math.inf)
        slot = Param(f"{source}__{what}", nominal, "s", f"pulse {what.split('_')[0]}", bounds, variation)
        self._add_slot(Slot(slot, source, f"pulse.{what.split('_')[0]}", event))
        return slot.name

    def _add_slot(self, slot: Slot) -> None:
        key = slot.name.lower()  # ngspice folds case
        if key in self._slots:
            raise ValueError(f"circuit {self.title!r} already has a parameter {slot.name!r}; "
                             "instance and parameter names must be unique (case-insensitive).")
        self._slots[key] = slot

    def _add_model(self, model: DeviceModel, flavor: Flavor, osdi: str | None, shared: bool = False) -> None:
        if flavor == "osdi":
            if osdi is None:
                from .plugins import compiler

                osdi = str(compiler("osdi")(model))
            if str(osdi) not in self._osdi:
                self._osdi.append(str(osdi))
            if shared and format_card(model) not in self._header:
                self._header.append(format_card(model))
            return
        subckt = twin_text(model)
        if subckt not in self._header:
            self._header.append(subckt)

    # -- output

    def format(self, slots: Sequence[Slot] | None = None, pack: int = 1) -> str:
        """The netlist text.

        Parameters
        ----------
        slots
            The slots with their nominal values (default: as declared).
        pack
            Number of samples in one netlist. With ``pack > 1`` the body becomes the
            subcircuit :data:`PACK_SUBCKT` whose parameters are the slots; copy ``i`` is the
            instance ``Xmc<i>`` fed by the top-level parameters ``<slot>__s<i>``
            (:func:`packed_name`). Shared elements and the analysis stay at the top level.
        """
        if self._analysis is None:
            raise ValueError(f"circuit {self.title!r} has no analysis; call Circuit.analysis('.tran ...').")
        slots = self.slots if slots is None else tuple(slots)
        body = [_inline(line, [s for s in slots if s.alter]) for line in self._body]
        params = [s for s in slots if not s.alter]
        head = [self.title, *self._header]
        if pack == 1:
            lines = [*head, *(f".param {s.name}={format_number(s.nominal)}" for s in params), *self._shared, *body]
        else:
            lines = [*head, *self._packed(params, body, pack)]
        return "\n".join([*lines, *self._save_lines(pack), self._analysis, ".end"]) + "\n"

    def _save_lines(self, pack: int) -> list[str]:
        vectors = [self._aliases.get(v, v) for v in self._saves]
        if not vectors:
            return []
        if pack == 1:
            return [".save " + " ".join(vectors)]
        shared = {n.lower() for n in self.shared_nodes} | {line.split()[0].lower() for line in self._shared}
        top = [v for v in vectors if _base(v) in shared]
        inside = [v for v in vectors if _base(v) not in shared]
        names = top + [_in_copy(v, f"x{PACK_PREFIX}{i}")[0] for i in range(pack) for v in inside]
        return [".save " + " ".join(names[i:i + 50]) for i in range(0, len(names), 50)]

    def _check_shared_nodes(self, body: Sequence[str]) -> None:
        """A node that a shared element drives and the per-sample part uses must be a shared node:
        otherwise each packed copy would get a floating node of its own instead."""
        shared = {n.lower() for n in self.shared_nodes} | {"0", "gnd"}
        used = {w.lower() for line in body for w in re.split(r"[\s()=,]+", line)}
        for line in self._shared:
            for node in _element_nodes(line):
                if node not in shared and node in used:
                    raise ValueError(f"shared element {line.split()[0]!r} drives node {node!r}, which the per-sample "
                                     f"part of circuit {self.title!r} uses: declare it with "
                                     f"Circuit(..., shared_nodes=({node!r}, ...)), or do not pack (pack=1).")

    def _packed(self, slots: Sequence[Slot], body: Sequence[str], pack: int) -> list[str]:
        for line in self._shared:
            for s in slots:
                if re.search(rf"\{{[^}}]*\b{re.escape(s.name)}\b", line, re.I):
                    raise ValueError(f"shared element {line.split()[0]!r} uses the per-sample parameter "
                                     f"{s.name!r}; packed samples can only share fixed elements.")
        self._check_shared_nodes(body)
        defaults = ["params:", *(f"{s.name}={format_number(s.nominal)}" for s in slots)] if slots else []
        lines = [" ".join([".subckt", PACK_SUBCKT, *self.shared_nodes, *defaults]),
                 *body, f".ends {PACK_SUBCKT}", *self._shared]
        for i in range(pack):
            if slots:
                lines.append(".param " + " ".join(f"{packed_name(s.name, i)}={format_number(s.nominal)}" for s in slots))
            assigns = [f"{s.name}={{{packed_name(s.name, i)}}}" for s in slots]
            lines.append(" ".join([f"X{PACK_PREFIX}{i}", *self.shared_nodes, PACK_SUBCKT, *assigns]))
        return lines


def _check_count(count: int, what: str) -> None:
    """Refuse a count above :data:`MAX_EVENTS` before anything is built for it."""
    if count > MAX_EVENTS:
        raise ValueError(f"{what} = {count} is above the limit of {MAX_EVENTS} "
                         "(spicegen.testbench.MAX_EVENTS); ask for fewer (e.g. a smaller --set pulses=N).")


_SPICE_SCALE = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3, "u": 1e-6, "n": 1e-9,
                "p": 1e-12, "f": 1e-15}
_SPICE_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpf])?[a-z]*", re.I)


def _spice_number(text: str) -> float | None:
    """A SPICE number (``0.1u``, ``2meg``, ``1e-6``) as a float, or None for other text."""
    match = _SPICE_NUMBER.fullmatch(text)
    if match is None:
        return None
    return float(match.group(1)) * _SPICE_SCALE.get((match.group(2) or "").lower(), 1.0)


_TWO_NODE_ELEMENTS = "VIRCLB"
"""Elements whose first two words after the name are their nodes."""


def _element_nodes(line: str) -> list[str]:
    """The nodes of a two-terminal element line (none for other lines)."""
    words = line.split()
    if len(words) < 3 or words[0][0].upper() not in _TWO_NODE_ELEMENTS:
        return []
    return [w.lower() for w in words[1:3]]


def _inline(line: str, slots: Sequence[Slot]) -> str:
    """``line`` with ``{name}`` of each slot replaced by its nominal value."""
    for s in slots:
        line = line.replace("{" + s.name + "}", format_number(s.nominal))
    return line


@functools.lru_cache(maxsize=4096)  # a packed run names every copy's elements: a lookup, not a new string
def packed_element(element: str, copy: int) -> str:
    """ngspice's name of ``element`` inside packed copy ``copy`` (``m.xmc3.mn``)."""
    return f"{element[0]}.x{PACK_PREFIX}{copy}.{element}".lower()


def _bounds_beside_slots(model: DeviceModel, values: dict[str, float], slotted: set[str]) -> dict[str, float]:
    """The fixed parameters that bound a state whose initial value is a slot, removed from ``values``.

    ngspice reads a ``{slot}`` up to an ulp away from a literal (:func:`~spicegen.naming.ngspice_substitutes`);
    written as ``{value}`` the bounds are read the same way, so an initial value at its bound stays inside.
    """
    names = sorted({b for st in model.states if f"{st.name}0" in slotted for b in st.bound_params} - slotted)
    return {b: model.param(b).check(values.pop(b, model.param(b).default)) for b in names}


def _bounds_beside_numbers(model: DeviceModel, values: dict[str, float], altered: set[str], slotted: set[str]) -> None:
    """Add to ``values`` the fixed parameters that bound a state whose initial value is set with ``alter``.

    The netlist holds that initial value as a number, which ngspice reads up to 2 ulps off
    (:func:`~spicegen.naming.ngspice_reads`); written as numbers too, the bounds are read the same way.
    """
    for bound in sorted({b for st in model.states if f"{st.name}0" in altered for b in st.bound_params} - slotted):
        values.setdefault(bound, model.param(bound).default)


def _parts_value(parts: Sequence[str], key: str) -> float:
    """Value of ``key=value`` among the words of an instance line."""
    return float(next(p.split("=", 1)[1] for p in parts if p.startswith(key + "=")))


class CircuitWaves:
    """The vectors of a run, read through a circuit's aliases and, for a packed copy, its prefix.

    ``waves["m1.w"]`` finds the alias target; in packed copy ``i`` a node ``out`` is read as
    ``xmc<i>.out``, a branch current ``i(vdd)`` as ``i(v.xmc<i>.vdd)``, and a name that is not
    inside the copy (a shared node, ``time``) as itself.
    """

    def __init__(self, result: Any, aliases: Mapping[str, str] = MappingProxyType({}),
                 copy: int | None = None) -> None:
        self.result, self._aliases = result, aliases
        self._prefix = None if copy is None else f"x{PACK_PREFIX}{copy}"

    def __getitem__(self, name: str) -> np.ndarray:
        key = name.strip().lower()
        key = self._aliases.get(key, key)
        if self._prefix is not None:
            for candidate in _in_copy(key, self._prefix):
                if candidate in self.result:
                    return self.result[candidate]
        return self.result[key]

    def key(self, name: str) -> str:
        """The canonical name (a key of ``result.vectors``) of the vector ``self[name]`` returns, for a
        :class:`~spicegen.ngspice.SimResult` result: a packed run's copies can then be read by name
        without resolving each copy's prefix again.

        Raises
        ------
        KeyError
            If there is no such vector.
        """
        key = self._aliases.get(name.strip().lower(), name.strip().lower())
        if self._prefix is not None:
            for candidate in _in_copy(key, self._prefix):
                if candidate in self.result:
                    return self.result.key(candidate)
        return self.result.key(key)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True


def _base(vector: str) -> str:
    """The node or element a vector name refers to: ``v(a)`` → ``a``, ``i(v1)`` → ``v1``."""
    inner = re.fullmatch(r"[vi]\((.+)\)", vector)
    return (inner.group(1) if inner else vector).split("#")[0]


def _in_copy(key: str, prefix: str) -> tuple[str, ...]:
    """ngspice's names for vector ``key`` inside the subcircuit instance ``prefix``."""
    current = re.fullmatch(r"i\((.+)\)|(.+)#branch", key)
    if current:
        element = current.group(1) or current.group(2)
        return (f"i({element[0]}.{prefix}.{element})",)
    voltage = re.fullmatch(r"v\((.+)\)", key)
    if voltage:
        return (f"{prefix}.{voltage.group(1)}",)
    if "#" in key:  # OSDI internal node, e.g. nm1#w
        return (f"{key[0]}.{prefix}.{key}",)
    return (f"{prefix}.{key}",)


def join_runs(runs: Sequence[Any]) -> dict[str, np.ndarray]:
    """Concatenate the vectors of consecutive runs; each run's ``time`` continues the last one."""
    first = runs[0].result if isinstance(runs[0], CircuitWaves) else runs[0]
    names = list(first.vectors)
    joined: dict[str, list[np.ndarray]] = {n: [] for n in names}
    offset = 0.0
    for run in runs:
        vectors = (run.result if isinstance(run, CircuitWaves) else run).vectors
        for n in names:
            joined[n].append(vectors[n] + offset if n == "time" else vectors[n])
        if "time" in vectors:
            offset += float(vectors["time"][-1])
    return {n: np.concatenate(parts) for n, parts in joined.items()}


@dataclass(frozen=True)
class Events:
    """A procedure: run the circuit once per event (cycle, pulse), carrying states across runs.

    Before run ``j`` every ``c2c`` slot takes its event-``j`` draw; each slot in ``carry``
    takes the last value of its vector in run ``j - 1``. The runs are joined into one
    waveform (:func:`join_runs`), so measurements see the whole sample.

    Parameters
    ----------
    carry
        Slot name → vector name, e.g. ``{"m1__w0": "m1.w"}`` (declare ``settable=("w0",)``).
    """

    carry: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, session: Any) -> dict[str, np.ndarray]:
        runs, carried = [], {}
        for event in range(session.events):
            waves = session.run(event=event, values=carried)
            carried = {slot: float(np.ravel(waves[vector])[-1]) for slot, vector in self.carry.items()}
            runs.append(waves)
        return join_runs(runs)


Spec = tuple[float | None, float | None]
"""Pass range ``(lower, upper)`` of a measurement; ``None`` leaves a side open."""


@dataclass(frozen=True)
class Testbench:
    """A named circuit study, addressable from the CLI.

    Parameters
    ----------
    name
        CLI name (letters, digits, ``-`` and ``_``).
    doc
        One-line description.
    build
        Options → :class:`Circuit` (called in the process that plans the study).
    measurements
        Measurement name → callable on the run's waves returning one number
        (see :mod:`spicegen.measure`). Measurements and the procedure are pickled to the
        worker processes: use the :mod:`spicegen.measure` classes or module-level functions.
    options
        Structural options.
    procedure
        How to run one sample (default: one run of the circuit's analysis), e.g. :class:`Events`.
    specs
        Default pass ranges for ``spicegen mc-report`` yields.
    units
        Measurement name → unit of its value (``""``: dimensionless), for measurements whose unit
        :func:`~spicegen.measure.measurement_unit` cannot tell (a scaled value, a custom callable)
        or to override it.
    check
        Called with the nominal parameter values of each sweep point (name → value, after ``--set``
        and sweep values) for limits that one parameter's bounds cannot state, such as a bias that
        must stay below a supply that is itself a parameter; raises ``ValueError`` naming the value
        and the valid range.
    """

    name: str
    doc: str
    build: Callable[[Mapping[str, Any]], Circuit]
    measurements: Mapping[str, Callable[[Any], float]]
    options: tuple[Option, ...] = ()
    procedure: Procedure | None = None
    specs: Mapping[str, Spec] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[Mapping[str, float]], None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", self.name):
            raise ValueError(f"testbench name {self.name!r} must be a letter followed by letters, digits, '-' or '_'.")
        if not self.measurements:
            raise ValueError(f"testbench {self.name!r} declares no measurements.")
        for name in self.measurements:
            check_name(name, f"measurement of testbench {self.name!r}")
        for name in self.specs:
            if name not in self.measurements:
                raise ValueError(f"testbench {self.name!r}: spec for unknown measurement {name!r}.")
        for name in self.units:
            if name not in self.measurements:
                raise ValueError(f"testbench {self.name!r}: unit for unknown measurement {name!r}; "
                                 f"its measurements are {list(self.measurements)}.")

    def option(self, name: str) -> Option:
        """The option called ``name``; the error lists the options."""
        for option in self.options:
            if option.name == name:
                return option
        hint = did_you_mean(name, (o.name for o in self.options))
        raise KeyError(f"testbench {self.name!r} has no option {name!r}{hint}; "
                       "options: "
                       f"{[o.name for o in self.options] or 'none'}.")

    def measurement_units(self, circuit: Circuit) -> dict[str, str | None]:
        """Measurement name → unit of its value: declared in :attr:`units`, else told by the measurement
        (:func:`~spicegen.measure.measurement_unit`, reading signal units from ``circuit``); None when
        neither tells."""
        from .measure import measurement_unit

        return {name: self.units[name] if name in self.units else measurement_unit(measure, circuit.signal_unit)
                for name, measure in self.measurements.items()}

    def circuit(self, options: Mapping[str, object] | None = None) -> Circuit:
        """Build the circuit with ``options`` (validated; defaults for the rest)."""
        chosen = {o.name: o.default for o in self.options}
        for name, value in (options or {}).items():
            chosen[name] = self.option(name).check(value)
        circuit = self.build(MappingProxyType(chosen))
        if not isinstance(circuit, Circuit):
            raise TypeError(f"testbench {self.name!r}: build() must return a Circuit, got {type(circuit).__name__}.")
        return circuit


def twin_text(model: DeviceModel) -> str:
    """:func:`~spicegen.netlist.format_subckt` of ``model``, kept on disk.

    The text is stored in the cache folder (:func:`spicegen.catalog.cache_folder`) under the SHA-256
    of the model's declaration (name, ports, parameters with their defaults and variations, states),
    the source of the module that defines it and spicegen's own source, so a study whose netlist
    holds only cached twins imports no sympy; any change to one of these builds the text afresh.
    """
    from .catalog import cache_folder
    from .files import write_text

    path = cache_folder() / "twins" / f"{model.name}-{_twin_key(model)}.cir"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        text = format_subckt(model)
    try:
        write_text(path, text)
    except OSError:  # a read-only cache: build the text again next time
        pass
    return text


def _twin_key(model: DeviceModel) -> str:
    declaration = repr((model.name, model.doc, model.source, model.ports, model.internal, model.params,
                        model.states))
    digest = hashlib.sha256(declaration.encode())
    module = model.source.rsplit(".", 1)[0] if model.declaration is None else model.declaration.__module__
    source = _module_file(module)
    if source is None:  # not a plain file: any change of spicegen's or a plug-in's source counts
        from .catalog import source_key

        digest.update(source_key().encode())
    else:
        digest.update(source.read_bytes())
    digest.update(_spicegen_source_digest())
    return digest.hexdigest()


def _module_file(module: str) -> Path | None:
    """The source file of ``module``, found without importing it (nor its package: the device library
    imports every device on import); ``None`` if it is not a plain ``.py`` file on the path."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        return Path(loaded.__file__) if getattr(loaded, "__file__", None) else None
    from importlib.util import find_spec

    top, *inner = module.split(".")
    spec = find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return Path(spec.origin) if spec is not None and spec.origin and not inner else None
    for folder in spec.submodule_search_locations:
        for candidate in (Path(folder, *inner).with_suffix(".py"), Path(folder, *inner, "__init__.py")):
            if inner and candidate.is_file():
                return candidate
    return None


@functools.cache
def _spicegen_source_digest() -> bytes:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.digest()


_testbenches: dict[str, Testbench] = {}


def register_testbench(testbench: Testbench) -> Testbench:
    """Add ``testbench`` to the registry (its name must be new) and return it."""
    known = _testbenches.get(testbench.name)
    if known is not None and known is not testbench:
        raise ValueError(f"testbench {testbench.name!r} is already registered (by {known.build.__module__}).")
    _testbenches[testbench.name] = testbench
    return testbench


def get_testbench(name: str) -> Testbench:
    """The registered testbench called ``name``; the error lists the known names.

    Plug-in files are loaded first; of the installed plug-ins only the module that registers
    ``name`` is imported (:mod:`spicegen.catalog`).
    """
    from .catalog import import_for, listing
    from .plugins import load_files

    load_files()
    if name not in _testbenches:
        import_for("testbenches", name)
    if name not in _testbenches:
        known = listing("testbenches")
        raise KeyError(f"unknown testbench {name!r}{did_you_mean(name, known)}; known: {', '.join(known) or '(none)'} "
                       "(see 'spicegen list').")
    return _testbenches[name]


def testbench_names() -> Mapping[str, str]:
    """Registered testbench name → one-line description (plug-ins loaded first)."""
    from .plugins import load

    load(("devices", "testbenches"))
    return MappingProxyType({name: tb.doc for name, tb in sorted(_testbenches.items())})
