"""The model DSL: a device is one class, written once in sympy.

Example
-------
>>> import sympy as sp
>>> from spicegen import Device, Param, State, register
>>> @register
... class Demo(Device):
...     '''A resistor whose conductance follows a bounded state.'''
...     ports = ("p", "n")
...     params = (Param("g0", 1e-3, "S", "base conductance", bounds=(0, 1)),
...               Param("k", 1e3, "1/(V s)", "state speed", bounds=(0, 1e9)))
...     states = (State("w", 0.5, bounds=(0, 1)),)
...     def equations(self, s):
...         v = s.V("p", "n")
...         return Equations(currents={("p", "n"): s.g0 * (1 + s.w) * v},
...                          rates={"w": s.k * v})          # doctest: +SKIP

:func:`register` validates the class and turns it into a :class:`DeviceModel`, the
frozen form every emitter reads. Numerical guards (bounded states, limited ``exp``,
positive bases of fractional powers and logarithms) are applied here, once, so the
Verilog-A, ngspice and numpy renderings evaluate the very same expression.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from .naming import check_device_name, check_name, check_value, did_you_mean, format_number
from .params import Param

if TYPE_CHECKING:
    import sympy

# sympy is imported inside the functions that build or read models: importing this module (to list,
# describe or look devices up) stays light, and a device's model is built on its first use.

#: Largest argument of ``exp`` before it continues linearly (exp(80) ≈ 5.5e34).
EXP_LIMIT = 80.0
#: Floor for the base of a fractional power and the argument of a logarithm.
POSITIVE_FLOOR = 1e-300
#: Conductance tying a state node to its initial value; sets the DC state, negligible in time.
STATE_GMIN = 1e-12
#: Name of the built-in parameter that holds every state at its initial value.
FREEZE = "freeze"

Branch = tuple[str, str] | tuple[str]
"""A branch between two nodes, or ``(node,)`` from a node to ground."""


@dataclass(frozen=True)
class State:
    """An internal state variable ``x`` with ``dx/dt`` given by the device.

    Parameters
    ----------
    name
        Identifier (also the internal node name in Verilog-A and the SPICE twin).
    initial
        Default initial value; the instance parameter ``<name>0`` overrides it.
    bounds
        Hard bounds; the rate is gated to zero at them and the value clamped. Each end is a
        number, the name of a parameter (``("gap_min", "gap_max")``) or a sympy expression of
        parameters (``sympy.Symbol("t_ox") / 2``); an end that names parameters is checked against
        them when the device is registered and evaluated per instance.
    unit, desc
        Documentation.
    scale
        The node voltage is ``x / scale``; pick it so the node sits near 1 V
        (simulator tolerances are absolute in volts).
    edge
        Fraction of the range over which the rate is smoothly gated off at a bound.

    Notes
    -----
    The initial-value parameter ``<name>0`` accepts exactly the values inside the bounds, ends
    included (a filament fully formed starts at its bound). Where an end names parameters, its
    range follows them: Verilog-A declares ``from [gap_min:gap_max]`` and
    :meth:`DeviceModel.checked_params` refuses, per instance, an initial value outside the bounds
    its parameters give.
    """

    name: str
    initial: float
    bounds: tuple[float | str | sympy.Expr, float | str | sympy.Expr] = (-math.inf, math.inf)
    unit: str = ""
    desc: str = ""
    scale: float = 1.0
    edge: float = 0.01

    def __post_init__(self) -> None:
        check_name(self.name, "state")
        if not isinstance(self.bounds, (tuple, list)) or len(self.bounds) != 2:
            raise ValueError(f"bounds of state {self.name!r} must be (lower, upper), got {self.bounds!r}.")
        lo, hi = (_bound(b, self.name) for b in self.bounds)
        initial = check_value(self.initial, f"initial value of state {self.name!r}")
        if isinstance(lo, float) and isinstance(hi, float) and not lo < hi:
            raise ValueError(f"bounds of state {self.name!r} must satisfy lower < upper, got {self.bounds!r}.")
        if (isinstance(lo, float) and initial < lo) or (isinstance(hi, float) and initial > hi):
            raise ValueError(f"initial value {initial!r} of state {self.name!r} lies outside its bounds "
                             f"[{_bound_text(lo)}, {_bound_text(hi)}].")
        if not check_value(self.scale, "scale") > 0:
            raise ValueError(f"scale of state {self.name!r} must be > 0, got {self.scale!r}.")
        if not 0 < check_value(self.edge, "edge") < 0.5:
            raise ValueError(f"edge of state {self.name!r} must lie in (0, 0.5), got {self.edge!r}.")
        object.__setattr__(self, "bounds", (lo, hi))

    @property
    def bounded(self) -> bool:
        """Whether both bounds are finite (an end that names parameters is)."""
        return all(not isinstance(b, float) or math.isfinite(b) for b in self.bounds)

    @property
    def bound_params(self) -> tuple[str, ...]:
        """Names of the parameters the bounds refer to, sorted (empty for constant bounds)."""
        return tuple(sorted(set().union(*(_bound_names(b) for b in self.bounds))))

    def initial_param(self) -> Param:
        """The instance parameter ``<name>0`` that sets the initial (and DC) value (per instance:
        :attr:`~spicegen.params.Param.per_instance`).

        Its :attr:`~spicegen.params.Param.bounds` hold the constant ends; an end that names
        parameters is open there and checked by :meth:`DeviceModel.checked_params`.
        """
        lo, hi = (b if isinstance(b, float) else default for b, default in zip(self.bounds, (-math.inf, math.inf)))
        return Param(f"{self.name}0", self.initial, self.unit, f"initial value of state {self.name}", (lo, hi),
                     instance=True)


def _bound(value: object, state: str) -> Any:
    """One end of a state's bounds as a float, a parameter name, or a sympy expression of parameters."""
    if isinstance(value, str):
        return check_name(value, f"bound of state {state!r}")
    if hasattr(value, "free_symbols") and not isinstance(value, bool):  # a sympy object (sympy stays unimported)
        if not value.free_symbols:
            return _number_bound(value, state)
        if getattr(value, "is_Symbol", False):
            return check_name(value.name, f"bound of state {state!r}")
        from .printing import checked_expression

        return checked_expression(value, f"bound of state {state!r}")
    return _number_bound(value, state)


def _number_bound(value: object, state: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"a bound of state {state!r} must be a number, the name of a parameter or a sympy "
                         f"expression of parameters, got {value!r} ({type(value).__name__}).") from None
    if isinstance(value, bool) or math.isnan(number):
        raise ValueError(f"a bound of state {state!r} must be a number, the name of a parameter or a sympy "
                         f"expression of parameters, got {value!r}.")
    return number


def _bound_names(bound: Any) -> set[str]:
    if isinstance(bound, float):
        return set()
    if isinstance(bound, str):
        return {bound}
    return {sym.name for sym in bound.free_symbols}


def _bound_text(bound: Any) -> str:
    return repr(bound) if isinstance(bound, float) else str(bound)


@dataclass(frozen=True)
class Sine:
    """``offset + amplitude·sin(2π·frequency·t)``, a stimulus for the verification transient."""

    amplitude: float
    frequency: float
    offset: float = 0.0

    def __post_init__(self) -> None:
        for what in ("amplitude", "frequency", "offset"):
            check_value(getattr(self, what), f"sine {what}")

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return self.offset + self.amplitude * np.sin(2 * np.pi * self.frequency * np.asarray(t))

    def spice(self) -> str:
        return f"SIN({self.offset!r} {self.amplitude!r} {self.frequency!r})"


@dataclass(frozen=True)
class Pwl:
    """Piece-wise linear stimulus through ``(time, value)`` points."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        for point in self.points:
            if len(point) != 2:
                raise ValueError(f"a PWL point is (time, value), got {point!r}.")
            check_value(point[0], "PWL time")
            check_value(point[1], "PWL value")

    def __call__(self, t: np.ndarray) -> np.ndarray:
        times, values = zip(*self.points)
        return np.interp(np.asarray(t), times, values)

    def spice(self) -> str:
        return "PWL(" + " ".join(f"{t!r} {v!r}" for t, v in self.points) + ")"


Stimulus = Sine | Pwl


@dataclass(frozen=True)
class Check:
    """How the equivalence harness exercises a device.

    Parameters
    ----------
    dc
        Per-port voltage range ``(lo, hi)`` for random DC bias points; unlisted ports at 0 V.
    tran
        Per-port stimulus for the transient; unlisted ports at 0 V. It must move every state.
    tstop
        Transient length in seconds.
    """

    dc: Mapping[str, tuple[float, float]]
    tran: Mapping[str, Stimulus]
    tstop: float


@dataclass(frozen=True)
class WhiteNoise:
    """A white noise current of a branch (Verilog-A ``white_noise``).

    Parameters
    ----------
    psd
        One-sided power spectral density in A²/Hz: a sympy expression of the parameters,
        branch voltages, states and ``s.T`` (e.g. ``4 * k_B * s.T * g`` for thermal noise,
        ``2 * q * abs(i)`` for shot noise), evaluated at the bias point. Must not be negative.
    name
        Identifier of the source, unique in the device (the Verilog-A noise name).

    Examples
    --------
    >>> import sympy as sp
    >>> WhiteNoise(sp.Symbol("s_w"), name="thermal").name
    'thermal'
    """

    psd: sympy.Expr
    name: str = "white"

    def __post_init__(self) -> None:
        check_name(self.name, "noise source")


@dataclass(frozen=True)
class FlickerNoise:
    """A flicker (1/f^exponent) noise current of a branch (Verilog-A ``flicker_noise``).

    Parameters
    ----------
    psd
        One-sided power spectral density at 1 Hz in A²/Hz, a sympy expression as for
        :class:`WhiteNoise`; at frequency f the density is ``psd / f**exponent``.
    exponent
        Frequency exponent, 0 < exponent < 2 (1 is 1/f noise).
    name
        Identifier of the source, unique in the device.

    Examples
    --------
    >>> import sympy as sp
    >>> FlickerNoise(sp.Symbol("kf"), 1.2).exponent
    1.2
    """

    psd: sympy.Expr
    exponent: float = 1.0
    name: str = "flicker"

    def __post_init__(self) -> None:
        check_name(self.name, "noise source")
        exponent = check_value(self.exponent, f"exponent of noise source {self.name!r}")
        if not 0 < exponent < 2:
            raise ValueError(f"exponent of flicker noise {self.name!r} must lie in (0, 2), got {self.exponent!r}: "
                             "the range of ngspice's transient 1/f generator; use WhiteNoise for 0.")
        object.__setattr__(self, "exponent", float(exponent))


Noise = WhiteNoise | FlickerNoise
"""A noise current source of a branch."""


@dataclass(frozen=True)
class Equations:
    """What a device's :meth:`Device.equations` returns.

    Parameters
    ----------
    currents
        Branch → current flowing from the first node through the device to the second (A).
    rates
        State name → ``dx/dt`` in the state's unit per second.
    charges
        Branch → charge (C); contributes ``d(charge)/dt`` to the branch current.
    noise
        Branch → a noise source or a sequence of them (:class:`WhiteNoise`, :class:`FlickerNoise`),
        independent current sources in parallel with the branch.
    named
        Name → sub-expression of the above (``{"i_tunnel": i_tunnel, "kt": kt}``). Wherever the
        sub-expression appears in the emitted code it is computed once into a variable of that name
        (a ``real`` in Verilog-A, a local in the numpy module), so the emitted code reads like the
        equations. Optional, and only for reading: the values are the same with or without it. A
        name the equations no longer contain (sympy may fold a numeric factor into its
        surroundings, as in ``1/(k*T)``) declares nothing.
    """

    currents: Mapping[Branch, sympy.Expr]
    rates: Mapping[str, sympy.Expr] = field(default_factory=dict)
    charges: Mapping[Branch, sympy.Expr] = field(default_factory=dict)
    noise: Mapping[Branch, Noise | Sequence[Noise]] = field(default_factory=dict)
    named: Mapping[str, sympy.Expr] = field(default_factory=dict)


class _TemperatureSymbol:
    """``Symbols.T``, the temperature symbol, made on access (sympy caches equal symbols)."""

    def __get__(self, obj: object, owner: type | None = None) -> sympy.Symbol:
        import sympy

        return sympy.Symbol("T", positive=True)


class _ThermalVoltageSymbol:
    """``Symbols.vt``, the thermal voltage symbol (``_vt``: no parameter can be so named)."""

    def __get__(self, obj: object, owner: type | None = None) -> sympy.Symbol:
        import sympy

        return sympy.Symbol("_vt", positive=True)


class Symbols:
    """The namespace handed to :meth:`Device.equations`.

    ``s.<param>`` and ``s.<state>`` are sympy symbols, ``s.V(a, b)`` a branch voltage,
    ``s.V(a)`` a node potential, ``s.T`` (also ``s.temperature``) the device temperature in
    kelvin and ``s.vt`` the thermal voltage k_B·T/q in volts.

    Notes
    -----
    ``s.T`` prints as ``$temperature`` in Verilog-A, ``(temper + 273.15)`` in the ngspice twin
    and the ``temperature`` argument in numpy. ``s.vt`` prints as ``$vt`` in Verilog-A and as
    ``T·``:data:`~spicegen.constants.VT_PER_KELVIN` in the twin and numpy: the constants are
    the ones openvaf-r's ``$vt`` uses (CODATA 2010, measured), so all targets agree to the last
    bit or two. They differ from the CODATA 2018 values of :mod:`spicegen.constants` by 1.0e-7
    relative; a model written with ``BOLTZMANN * s.T / ELEMENTARY_CHARGE`` keeps CODATA 2018.
    """

    T = _TemperatureSymbol()
    temperature = _TemperatureSymbol()
    vt = _ThermalVoltageSymbol()

    def __init__(self, params: Sequence[Param], states: Sequence[State], nodes: Sequence[str]):
        import sympy

        self._names = {p.name: p.symbol for p in params}
        self._names.update({st.name: sympy.Symbol(st.name, real=True) for st in states})
        self._nodes = tuple(nodes)
        self._state_nodes = {state_node_symbol(st): st.name for st in states}
        self.voltages: dict[sympy.Symbol, Branch] = {}

    def __getattr__(self, name: str) -> sympy.Symbol:
        try:
            return self.__dict__["_names"][name]
        except KeyError:
            raise AttributeError(f"no parameter or state named {name!r}; declare it in params or states.") from None

    def V(self, a: str, b: str | None = None) -> sympy.Symbol:
        """Voltage of branch ``(a, b)``, or the potential of node ``a``."""
        import sympy

        branch: Branch = (a,) if b is None else (a, b)
        for node in branch:
            if node not in self._nodes:
                raise ValueError(f"V({', '.join(branch)}): unknown node {node!r}; nodes are {self._nodes}.")
        symbol = sympy.Symbol("V_" + "_".join(branch), real=True)
        if symbol in self._state_nodes:
            raise ValueError(f"V({', '.join(branch)}) would share the symbol {symbol} with the node of state "
                             f"{self._state_nodes[symbol]!r}; rename the state or a node.")
        if self.voltages.setdefault(symbol, branch) != branch:
            raise ValueError(f"V({', '.join(branch)}) and V({', '.join(self.voltages[symbol])}) would share the "
                             f"symbol {symbol}; rename a node so no two branches join to the same name.")
        return symbol


class Device:
    """Base class of every compact model. Subclass, fill the class attributes, decorate with :func:`register`.

    Class attributes
    ----------------
    ports : tuple of str
        External terminals, in instance order.
    internal : tuple of str
        Internal electrical nodes solved by the simulator (series resistances, thermal nodes ...).
    params : tuple of Param
    states : tuple of State
    check : Check
        How the equivalence harness exercises the device.
    """

    name: ClassVar[str] = ""
    ports: ClassVar[tuple[str, ...]] = ()
    internal: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[tuple[Param, ...]] = ()
    states: ClassVar[tuple[State, ...]] = ()
    check: ClassVar[Check | None] = None

    def equations(self, s: Symbols) -> Equations:  # pragma: no cover - abstract
        """Return the branch currents, state rates and charges in terms of ``s``."""
        raise NotImplementedError


@dataclass(frozen=True)
class DeviceModel:
    """The validated, guarded, frozen form of a device that every emitter reads.

    Attributes
    ----------
    name, doc, source
        Registry name, first docstring line, defining module.
    ports, internal
        Terminal and internal node names.
    params
        Declared parameters, then ``freeze`` and one ``<state>0`` per state.
    states
        State declarations.
    currents, charges
        Branch → guarded expression, with state symbols standing for clamped state values.
    noise
        Branch → its noise sources, each with a guarded PSD expression.
    node_rates
        State → ``d(node voltage)/dt`` including gating, freeze and the initial-value tie.
    named
        Name → guarded sub-expression the author named (:attr:`Equations.named`), in declaration order.
    voltages
        Voltage symbol → branch.
    check
        Harness settings.
    declaration
        The :class:`Device` subclass (``None``: the class named by ``source``, imported when needed).
        ``currents``, ``charges``, ``node_rates`` and ``voltages`` are built from its equations with
        sympy on first access, so a netlist whose twin text is cached (:mod:`spicegen.testbench`)
        needs neither sympy nor the device's module.
    """

    name: str
    doc: str
    source: str
    ports: tuple[str, ...]
    internal: tuple[str, ...]
    params: tuple[Param, ...]
    states: tuple[State, ...]
    check: Check | None
    declaration: type[Device] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def _built(self) -> _Expressions:
        return _expressions(self)

    @property
    def currents(self) -> Mapping[Branch, sympy.Expr]:
        """Branch → guarded current expression."""
        return self._built.currents

    @property
    def charges(self) -> Mapping[Branch, sympy.Expr]:
        """Branch → guarded charge expression."""
        return self._built.charges

    @property
    def noise(self) -> Mapping[Branch, tuple[Noise, ...]]:
        """Branch → noise sources, their PSD expressions guarded (empty for a noiseless device)."""
        return self._built.noise

    @property
    def noise_sources(self) -> tuple[tuple[Branch, Noise], ...]:
        """Every ``(branch, source)`` pair, in declaration order."""
        return tuple((branch, source) for branch, sources in self.noise.items() for source in sources)

    @property
    def node_rates(self) -> Mapping[str, sympy.Expr]:
        """State → ``d(node voltage)/dt``."""
        return self._built.node_rates

    @property
    def named(self) -> Mapping[str, sympy.Expr]:
        """Name → guarded sub-expression the author named, in declaration order."""
        return self._built.named

    @property
    def voltages(self) -> Mapping[sympy.Symbol, Branch]:
        """Voltage symbol → branch."""
        return self._built.voltages

    @property
    def nodes(self) -> tuple[str, ...]:
        """Electrical nodes of the device (ports, then internal nodes)."""
        return self.ports + self.internal

    @property
    def defaults(self) -> dict[str, float]:
        """Parameter name → default value."""
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        """Look a parameter up by name, with the valid names in the error."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"device {self.name!r} has no parameter {name!r}; it has {[p.name for p in self.params]}.")

    def bound_exprs(self, state: State) -> tuple[float | sympy.Expr, float | sympy.Expr]:
        """The bounds of ``state`` as the emitters print them: a float (``±inf``: open), or an
        expression of the parameter symbols."""
        return _bound_expr(self, state.bounds[0]), _bound_expr(self, state.bounds[1])

    def state_bounds(self, state: State, values: Mapping[str, float] | None = None) -> tuple[float, float]:
        """The bounds of ``state`` as numbers, at the parameter defaults updated with ``values``."""
        merged = {**self.defaults, **(values or {})}
        return _bound_value(state.bounds[0], merged), _bound_value(state.bounds[1], merged)

    def state_value(self, state: State) -> sympy.Expr:
        """The clamped physical value of ``state`` in terms of its node voltage symbol."""
        import sympy

        node = state_node_symbol(state)
        value = node if state.scale == 1 else state.scale * node
        lo, hi = self.bound_exprs(state)
        if _finite(lo):
            value = sympy.Max(value, lo)
        if _finite(hi):
            value = sympy.Min(value, hi)
        return value

    def symbol_text(self, voltage: Callable[[Branch], str], temperature: str,
                    thermal_voltage: str | None = None) -> dict[sympy.Symbol, str]:
        """Symbol → target text for voltages, state nodes, temperature and thermal voltage, given a
        target's spelling.

        ``voltage`` spells a branch or node in the target (``("p", "n") -> "V(p, n)"``); a state
        node is the one-node branch ``(state,)``. ``thermal_voltage`` defaults to
        ``(temperature*VT_PER_KELVIN)`` (see :mod:`spicegen.constants`).
        """
        from .constants import VT_PER_KELVIN

        symbols = {sym: voltage(branch) for sym, branch in self.voltages.items()}
        symbols.update({state_node_symbol(st): voltage((st.name,)) for st in self.states})
        symbols[Symbols.T] = temperature
        symbols[Symbols.vt] = thermal_voltage or f"({temperature}*{format_number(VT_PER_KELVIN)})"
        return symbols

    def resolved(self, expr: sympy.Expr) -> sympy.Expr:
        """``expr`` with state symbols replaced by their clamped node expressions."""
        import sympy

        return expr.subs({sympy.Symbol(st.name, real=True): self.state_value(st) for st in self.states})

    def checked_params(self, values: Mapping[str, float]) -> dict[str, float]:
        """Defaults updated with ``values``; each name and value validated.

        A state whose bounds name parameters is checked too: its bounds, evaluated at these
        values, must satisfy lower < upper and hold the initial value ``<state>0`` (ends included).
        """
        merged = self.defaults
        for name, value in values.items():
            merged[name] = self.param(name).check(value)
        for state in self.states:
            if state.bound_params:
                _check_initial(state, self.state_bounds(state, merged), merged[f"{state.name}0"],
                               " for this instance's parameters")
        return merged


def _finite(bound: float | sympy.Expr) -> bool:
    return not isinstance(bound, float) or math.isfinite(bound)


def _bound_expr(model: DeviceModel, bound: Any) -> float | sympy.Expr:
    if isinstance(bound, float):
        return bound
    if isinstance(bound, str):
        return model.param(bound).symbol
    return bound.xreplace({sym: model.param(sym.name).symbol for sym in bound.free_symbols})


def _bound_value(bound: Any, values: Mapping[str, float]) -> float:
    if isinstance(bound, float):
        return bound
    if isinstance(bound, str):
        return float(values[bound])
    number = bound.subs({sym: values[sym.name] for sym in bound.free_symbols})
    try:
        return float(number)
    except TypeError:  # zoo, nan or complex
        raise ValueError(f"the state bound {bound} is not a finite real number at {dict(sorted(values.items()))}; "
                         "keep it finite for every allowed parameter value (e.g. bound the parameters).") from None


def _check_initial(state: State, bounds: tuple[float, float], initial: float, where: str) -> None:
    """Refuse bounds with lower >= upper and an initial value outside them; ``where`` says at which values."""
    text = f"[{_bound_text(state.bounds[0])}, {_bound_text(state.bounds[1])}]"
    names = " or ".join(repr(n) for n in state.bound_params)
    lo, hi = bounds
    if not lo < hi:
        raise ValueError(f"the bounds {text} of state {state.name!r} evaluate to [{lo!r}, {hi!r}]{where}; "
                         f"they must satisfy lower < upper: change {names}.")
    if not lo <= initial <= hi:
        raise ValueError(f"the initial value {initial!r} of state {state.name!r} (parameter '{state.name}0') lies "
                         f"outside its bounds {text} = [{lo!r}, {hi!r}]{where}; pass a '{state.name}0' inside them "
                         f"(ends included) or change {names}.")


def state_node_symbol(state: State) -> sympy.Symbol:
    """Symbol of the node voltage that carries ``state`` (``V_<name>``)."""
    import sympy

    return sympy.Symbol(f"V_{state.name}", real=True)


_declared: dict[str, type[Device]] = {}
"""Registered device classes by name; a model is built from its class on first use."""
_built: dict[str, DeviceModel] = {}
"""Models handed out so far by name (from a registered class, or from the catalog)."""


def _default_name(cls: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def _source(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _ModelOnFirstUse:
    """``cls.model`` of a registered class: its :class:`DeviceModel`, built on first access."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> DeviceModel:
        return _model(self.name)


def register(cls: type[Device]) -> type[Device]:
    """Class decorator: check a :class:`Device` subclass's declarations and add it to the registry.

    The name, ports, parameters and states are checked here; the equations are turned into the
    :class:`DeviceModel` on first use (``cls.model``, :func:`get_device`, :func:`registry` values),
    so importing a device library costs no sympy work.

    Raises
    ------
    ValueError
        On an invalid or reserved name, a duplicate name, a default outside its bounds, or a name
        used twice; when the model is built, also on an undeclared free symbol, an unknown node or
        state, or a missing rate.
    """
    name = check_device_name(cls.name or _default_name(cls))
    known = _declared.get(name)
    if known is not None and _source(known) != _source(cls):
        raise ValueError(f"device name {name!r} is already registered by {_source(known)}.")
    _check_class(name, cls)
    _declared[name] = cls
    _built.pop(name, None)
    cls.model = _ModelOnFirstUse(name)  # type: ignore[attr-defined]
    return cls


def _check_class(name: str, cls: type[Device]) -> tuple[Param, ...]:
    """The declaration checks that need no sympy; returns every parameter (declared and built-in)."""
    if not cls.ports:
        raise ValueError(f"device {name!r} declares no ports.")
    nodes = tuple(cls.ports) + tuple(cls.internal)
    for node in nodes:
        check_name(node, f"node of device {name!r}")
    params = tuple(cls.params)
    states = tuple(cls.states)
    _check_declarations(name, params, states)
    extra = (Param(FREEZE, 0.0, "", "1 holds every state at its initial value", (0.0, 1.0), instance=True),) \
        if states else ()
    all_params = params + extra + tuple(st.initial_param() for st in states)
    _check_unique(name, [(n, f"port {n!r}") for n in cls.ports]
                  + [(n, f"internal node {n!r}") for n in cls.internal]
                  + [(p.name, f"parameter {p.name!r}") for p in params]
                  + [(FREEZE, f"the generated parameter {FREEZE!r} (1 holds every state at its initial value)")
                     for _ in extra]
                  + [(f"{st.name}0", _GENERATED.format(state=st.name)) for st in states]
                  + [(st.name, f"state {st.name!r}") for st in states])
    _check_state_bounds(name, params, states)
    return all_params


_GENERATED = "the generated parameter '{state}0' that sets the initial value of state '{state}'"


def _check_state_bounds(device: str, params: Sequence[Param], states: Sequence[State]) -> None:
    """Bounds that name parameters: the names are declared parameters, and at the defaults the bounds
    satisfy lower < upper and hold the state's initial value."""
    declared = [p.name for p in params]
    for st in states:
        unknown = sorted(set(st.bound_params) - set(declared))
        if unknown:
            raise ValueError(f"device {device!r}: the bounds [{_bound_text(st.bounds[0])}, {_bound_text(st.bounds[1])}] "
                             f"of state {st.name!r} name {unknown}, which {'is' if len(unknown) == 1 else 'are'} not "
                             f"a declared parameter; the parameters are {declared}. Declare it as a Param, or "
                             "write a number.")
        if st.bound_params:
            defaults = {p.name: p.default for p in params}
            try:
                _check_initial(st, (_bound_value(st.bounds[0], defaults), _bound_value(st.bounds[1], defaults)),
                               st.initial, " at the parameters' defaults")
            except ValueError as exc:
                raise ValueError(f"device {device!r}: {exc}") from None


def _model(name: str) -> DeviceModel:
    if name not in _built:
        _built[name] = _declared_model(_declared[name])
    return _built[name]


def build_model(cls: type[Device]) -> DeviceModel:
    """Validate ``cls`` and build its :class:`DeviceModel` (without registering it).

    Nothing of the class is evaluated as text: expressions must be sympy objects or
    numbers, and a string is refused before it could reach ``sympify``.
    """
    model = _declared_model(cls)
    model.currents  # builds and checks the equations now  # noqa: B018
    return model


def _declared_model(cls: type[Device]) -> DeviceModel:
    """The model of ``cls`` with its declarations checked; its expressions are built on first access."""
    name = check_device_name(cls.name or _default_name(cls))
    return DeviceModel(name=name, doc=_first_doc_line(cls, name), source=_source(cls), ports=tuple(cls.ports),
                       internal=tuple(cls.internal), params=_check_class(name, cls), states=tuple(cls.states),
                       check=cls.check, declaration=cls)


def _class_named(source: str) -> type[Device]:
    """The class ``module.QualName`` (a registered device's :attr:`DeviceModel.source`)."""
    from importlib import import_module

    module, _, qualname = source.rpartition(".")
    while module:
        try:
            found: Any = import_module(module)
            break
        except ModuleNotFoundError:
            module, _, outer = module.rpartition(".")
            qualname = f"{outer}.{qualname}"
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


class _Expressions(NamedTuple):
    currents: Mapping[Branch, sympy.Expr]
    charges: Mapping[Branch, sympy.Expr]
    node_rates: Mapping[str, sympy.Expr]
    voltages: Mapping[sympy.Symbol, Branch]
    noise: Mapping[Branch, tuple[Noise, ...]]
    named: Mapping[str, sympy.Expr]


def _expressions(model: DeviceModel) -> _Expressions:
    """Build, check and guard the expressions of ``model`` from its declaration's equations."""
    import sympy

    cls, name, states = model.declaration or _class_named(model.source), model.name, model.states
    nodes = model.ports + model.internal
    params = tuple(cls.params)

    s = Symbols(params, states, nodes)
    try:
        eqs = cls().equations(s)
    except TypeError as exc:
        if "truth value of Relational" not in str(exc):
            raise
        raise TypeError(_PYTHON_BRANCH.format(device=name, cls=cls.__name__, error=exc)) from exc
    if not isinstance(eqs, Equations):
        raise TypeError(f"{cls.__name__}.equations must return Equations, got {type(eqs).__name__}.")
    noise = _noise_sources(name, eqs.noise)
    for branch in list(eqs.currents) + list(eqs.charges) + list(noise):
        if not isinstance(branch, tuple) or len(branch) not in (1, 2):
            raise ValueError(f"device {name!r}: a branch is a tuple (node, node) or (node,), got {branch!r}.")
        for node in branch:
            if node not in nodes:
                raise ValueError(f"device {name!r}: branch {branch} uses unknown node {node!r}; nodes are {nodes}.")
    missing = {st.name for st in states} - set(eqs.rates)
    unknown = set(eqs.rates) - {st.name for st in states}
    if missing or unknown:
        raise ValueError(f"device {name!r}: rates must be given for exactly the states {[st.name for st in states]}; "
                         f"missing {sorted(missing)}, unknown {sorted(unknown)}.")

    allowed = {p.symbol for p in params} | set(s.voltages) | {Symbols.T, Symbols.vt}
    allowed |= {sympy.Symbol(st.name, real=True) for st in states}
    _check_named(name, eqs.named, nodes + tuple(p.name for p in model.params) + tuple(st.name for st in states))
    psds = {(b, src.name): src.psd for b, sources in noise.items() for src in sources}
    exprs = {}
    for what, mapping in (("current", eqs.currents), ("rate", eqs.rates), ("charge", eqs.charges),
                          ("noise PSD", psds), ("named sub-expression", eqs.named)):
        exprs[what] = {key: _expression(name, f"{what} {key}", value) for key, value in mapping.items()}
        for key, expr in exprs[what].items():
            stray = expr.free_symbols - allowed
            if stray:
                raise ValueError(f"device {name!r}: {what} {key} uses undeclared symbol(s) "
                                 f"{sorted(map(str, stray))}; declare them as Param or State.")

    currents = {b: guard(model.resolved(e)) for b, e in exprs["current"].items()}
    charges = {b: guard(model.resolved(e)) for b, e in exprs["charge"].items()}
    rates = {st.name: _node_rate(model, st, exprs["rate"][st.name]) for st in states}
    guarded = {b: tuple(replace(src, psd=_noise_psd(name, src, guard(model.resolved(exprs["noise PSD"][b, src.name]))))
                        for src in sources) for b, sources in noise.items()}
    named = {n: guard(model.resolved(e)) for n, e in exprs["named sub-expression"].items()}
    return _Expressions(MappingProxyType(currents), MappingProxyType(charges), MappingProxyType(rates),
                        MappingProxyType(dict(s.voltages)), MappingProxyType(guarded), MappingProxyType(named))


def _noise_sources(device: str, noise: Mapping[Branch, Noise | Sequence[Noise]]) -> dict[Branch, tuple[Noise, ...]]:
    """Branch → tuple of sources, each a :class:`WhiteNoise` or :class:`FlickerNoise` with a unique name."""
    sources: dict[Branch, tuple[Noise, ...]] = {}
    names: set[str] = set()
    for branch, given in noise.items():
        items = (given,) if isinstance(given, (WhiteNoise, FlickerNoise)) else given
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
            raise ValueError(f"device {device!r}: noise of branch {branch!r} is {given!r}; give a WhiteNoise, a "
                             "FlickerNoise or a non-empty list of them.")
        for item in items:
            if not isinstance(item, (WhiteNoise, FlickerNoise)):
                raise ValueError(f"device {device!r}: noise of branch {branch!r} holds {item!r}; declare each source "
                                 "as WhiteNoise(psd, name) or FlickerNoise(psd, exponent, name).")
            if item.name.lower() in names:
                raise ValueError(f"device {device!r}: the noise source name {item.name!r} is used twice; give each "
                                 "source its own name (name=...).")
            names.add(item.name.lower())
        sources[branch] = tuple(items)
    return sources


def _noise_psd(device: str, source: Noise, psd: sympy.Expr) -> sympy.Expr:
    """``psd`` clipped at 0 unless provably non-negative; a provably negative one is refused."""
    import sympy

    if psd.is_negative:
        raise ValueError(f"device {device!r}: the PSD of noise source {source.name!r} is negative ({psd}); a power "
                         "spectral density is >= 0 (A²/Hz): square an amplitude or use abs().")
    return psd if psd.is_nonnegative else sympy.Max(psd, 0)


def _check_named(device: str, named: object, names: Sequence[str]) -> None:
    """The names of :attr:`Equations.named`: identifiers in every target, none already used by the device."""
    if not isinstance(named, Mapping):
        raise ValueError(f"device {device!r}: named must map a name to a sub-expression, got {type(named).__name__}.")
    used = {n.lower(): n for n in names}
    for key in named:
        check_name(key, f"named sub-expression of device {device!r}")
        if key in _NAMESPACE_NAMES or key.startswith("V_"):
            raise ValueError(f"device {device!r}: the named sub-expression {key!r} would alias the equations namespace "
                             "('T' is the temperature, 'V_...' the branch voltages); rename it.")
        if key.lower() in used:
            raise ValueError(f"device {device!r}: the named sub-expression {key!r} clashes with the port, node, "
                             f"parameter or state {used[key.lower()]!r} (names are case-insensitive); rename it.")


#: Names the equations namespace uses itself: ``s.T`` and ``s.temperature`` are the temperature, ``s.vt``
#: the thermal voltage, ``V_<nodes>`` the branch-voltage symbols, ``voltages`` the branch table; a
#: parameter or state so named would alias them.
_NAMESPACE_NAMES = frozenset({"T", "temperature", "vt", "voltages"})

_PYTHON_BRANCH = """device {device!r}: {cls}.equations decided with Python (an `if`, `and`/`or`, `min`/`max` or \
`bool()`) on a symbolic expression, and sympy cannot say whether it is true ({error}). The equations are \
built once, symbolically, before any voltage is known: write the choice as an expression instead, with \
sympy.Piecewise for a branch and sympy.Min / sympy.Max for a limit, e.g.
    v = s.V("p", "n")
    i = sympy.Piecewise((s.g_on * v, v > s.v_th), (s.g_off * v, True))   # not: if v > s.v_th: ...
    x = sympy.Max(v, 0)                                                   # not: max(v, 0)"""


def _check_declarations(device: str, params: Sequence[object], states: Sequence[object]) -> None:
    for kind, items, expected in (("params", params, Param), ("states", states, State)):
        for item in items:
            if not isinstance(item, expected):
                raise ValueError(f"device {device!r}: {kind} holds {item!r}; declare each as "
                                f"{expected.__name__}(name, ...).")
            if item.name in _NAMESPACE_NAMES or item.name.startswith("V_"):
                raise ValueError(f"device {device!r}: the name {item.name!r} is reserved by the equations namespace "
                                 "('T' and 'temperature' are the temperature, 'vt' the thermal voltage, 'V_...' the "
                                 "branch voltages); rename it.")


def _expression(device: str, what: str, value: object) -> sympy.Expr:
    """A current, rate or charge as a finite real sympy expression; a string is refused unevaluated."""
    import sympy

    from .printing import checked_expression

    if isinstance(value, str):
        raise ValueError(f"device {device!r}: {what} is the string {value[:80]!r}; build it from the symbols "
                        "of the equations namespace instead (e.g. s.g * s.V('p', 'n')), strings are not evaluated.")
    expr = checked_expression(value, f"device {device!r}: {what}")
    if not isinstance(expr, sympy.Expr):
        raise ValueError(f"device {device!r}: {what} must be a real-valued expression, got {type(expr).__name__} {expr}.")
    return expr


def _first_doc_line(cls: type, default: str) -> str:
    doc = cls.__doc__
    if doc is None:
        return default
    if not isinstance(doc, str):
        raise ValueError(f"the docstring of device {default!r} must be a string, got {type(doc).__name__}.")
    return next(iter(doc.strip().splitlines()), default)


def _check_unique(device: str, names: Sequence[tuple[str, str]]) -> None:
    """Refuse a name used twice; ``names`` holds (name, what it names) pairs."""
    seen: dict[str, str] = {}
    for n, what in names:
        first = seen.get(n.lower())  # ngspice folds case
        if first is None:
            seen[n.lower()] = what
            continue
        fix = "rename one of them"
        if any(w.startswith("the generated") for w in (first, what)):
            fix = ("every state 'x' gets a generated parameter 'x0' that sets its initial value (and 'freeze' is "
                   "built in), so rename the declared name or the state (e.g. a parameter 'g0' next to a state "
                   "'g' becomes 'g_init', or the state 'g' becomes 'gap')")
        raise ValueError(f"device {device!r}: the name {n!r} is used twice, as {first} and as {what} (ports, nodes, "
                         f"parameters and states share one namespace, case-insensitive); {fix}.")


def _node_rate(model: DeviceModel, state: State, rate: sympy.Expr) -> sympy.Expr:
    """d(node voltage)/dt: the gated, freezable rate plus the tie to the initial value."""
    import sympy

    rate = guard(model.resolved(rate))
    node = state_node_symbol(state)
    if state.bounded:
        lo, hi = model.bound_exprs(state)
        width = state.edge * (hi - lo)
        x = node if state.scale == 1 else state.scale * node
        # The room factors go negative past a bound, so a state a time step carried over the
        # bound is pulled back onto it instead of staying outside.
        room_up = sympy.Min(sympy.Max((hi - x) / width, -1), 1)
        room_down = sympy.Min(sympy.Max((x - lo) / width, -1), 1)
        rate = sympy.Max(rate, 0) * room_up + sympy.Min(rate, 0) * room_down
    freeze = model.param(FREEZE).symbol
    x0 = model.param(f"{state.name}0").symbol
    if state.scale != 1:
        rate, x0 = rate / state.scale, x0 / state.scale
    return rate * (1 - freeze) - STATE_GMIN * (node - x0)


def guard(expr: sympy.Expr) -> sympy.Expr:
    """Make ``expr`` safe for Newton iterations far from the solution.

    ``exp`` continues linearly above :data:`EXP_LIMIT`; the base of a fractional power and
    the argument of a logarithm are floored at :data:`POSITIVE_FLOOR` unless provably positive.
    Values inside the safe range are unchanged.

    The condition of a limited ``exp`` holds no ``Piecewise``: sympy folds one inside a condition
    into an ``ITE`` over all its branches, so an ``exp`` whose argument holds k limited ones (a real
    model's ``exp(-phi/kT)`` with a heated ``T``) would print 2^k branches, nested k deep. In the
    condition each inner one reads ``exp(min(a, 80))*(1 + max(a - 80, 0))``, its exact equal.
    """
    import sympy

    unfolded: dict[sympy.Expr, sympy.Expr] = {}

    def limited_exp(arg: sympy.Expr) -> sympy.Expr:
        cap = sympy.Float(math.exp(EXP_LIMIT))
        plain = arg.xreplace(unfolded)
        limited = sympy.Piecewise((sympy.exp(arg, evaluate=False), plain < EXP_LIMIT),
                                  (cap * (arg - EXP_LIMIT + 1), True))
        # unevaluated: sympy's Min/Max compare their arguments by factoring, seconds on a real model
        unfolded[limited] = (sympy.exp(sympy.Min(plain, EXP_LIMIT, evaluate=False), evaluate=False)
                             * (1 + sympy.Max(plain - EXP_LIMIT, 0, evaluate=False)))
        return limited

    def floored(arg: sympy.Expr) -> sympy.Expr:
        return arg if arg.is_positive else sympy.Max(arg, POSITIVE_FLOOR)

    def visit(e: sympy.Expr) -> sympy.Expr:
        if not e.args:
            return e
        args = [visit(a) for a in e.args]
        if isinstance(e, sympy.exp):
            return limited_exp(args[0])
        if isinstance(e, sympy.log):
            return sympy.log(floored(args[0]), evaluate=False)
        if isinstance(e, sympy.Pow) and not args[1].is_integer:
            return sympy.Pow(floored(args[0]), args[1], evaluate=False)
        return e.func(*args)

    return visit(sympy.sympify(expr))


class _Registry(Mapping[str, DeviceModel]):
    """Name → :class:`DeviceModel`, in name order; a model is built when its value is first read."""

    def __init__(self, names: Sequence[str]):
        self._names = tuple(sorted(names))

    def __getitem__(self, name: str) -> DeviceModel:
        if name not in self._names:
            raise KeyError(name)
        return _model(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _load_library() -> None:
    from . import devices  # noqa: F401  (registers the library on import, also without entry points)
    from .plugins import load

    load(("devices",))


def registry() -> Mapping[str, DeviceModel]:
    """All registered devices by name (loads the built-in library and device plug-ins first).

    Names and membership cost no model building; each model is built when its value is first read.
    """
    _load_library()
    return _Registry(list(_declared))


def source_digest(name: str) -> str:
    """SHA-256 (first 16 hex digits) of the text of the module that defines device ``name`` and of its parameter
    defaults (which calibration files set): changes whenever the device's equations or values do."""
    import hashlib

    from .plugins import source_file

    model = get_device(name)
    path = source_file(model.source.rpartition(".")[0])  # source: module.Class
    text = path.read_bytes() if path is not None else model.source.encode()
    defaults = repr([(p.name, p.default) for p in model.params]).encode()
    return hashlib.sha256(text + b"\0" + defaults).hexdigest()[:16]


def get_device(name: str) -> DeviceModel:
    """The registered device called ``name``; the error lists the known names.

    A device of an installed plug-in that this process has not imported comes from the catalog
    (:mod:`spicegen.catalog`): its declaration as stored there, its module imported only when its
    expressions are needed.
    """
    if name not in _declared and name not in _built:
        from .catalog import stored_device

        stored = stored_device(name)
        if stored is not None:
            _built[name] = stored  # one model per name: its expressions are built once
            return stored
    if name in _built:
        return _built[name]
    devices = registry()
    if name not in devices:
        raise KeyError(f"unknown device {name!r}{did_you_mean(name, devices)}; "
                       f"known devices: {', '.join(devices) or '(none)'}.")
    return devices[name]


