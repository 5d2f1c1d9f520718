"""Equivalence harness: numpy == ngspice B-source twin == ngspice OSDI == VACASK OSDI.

For every device it runs

* **DC**: seeded random bias points, state values (states held with ``freeze=1``) and values
  of the instance parameters (:func:`random_instance_values`), all instances in one netlist and
  one ``.op``, the OSDI ones on one shared ``.model`` card with their own values on their ``N``
  lines; terminal currents, internal node voltages and state nodes are compared point by point
  (relative error);
* **DC rates**: at the same points every state's rate ``dx/dt``: the twin's with its state node
  held by a voltage source (``freeze=0``; the source carries the rate), the ``.osdi``'s from its
  state-node residual evaluated by ``osdi_py`` (no simulator can hold an OSDI internal node);
* **twin divisions**: every twin expression evaluated in numpy at the DC points with and without
  ngspice's ``1e-32`` added to each denominator the twin prints; a difference beyond the DC
  tolerance fails the device and names the denominator;
* **transient**: the device's stimulus drives a twin and an OSDI instance in the same
  netlist (so they share time steps) and the numpy module integrated with a stiff ODE
  solver; states and terminal currents are compared, normalised by their full scale;
* **VACASK** (``vacask=True``): the same ``.osdi`` at the same DC points in one VACASK ``op``
  (``numpy~vacask``), and the transient stimulus in VACASK against the numpy ODE solution
  at VACASK's own time points (``numpy-ode~vacask``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Mapping

import numpy as np
import sympy
from scipy.integrate import solve_ivp

from spicegen.constants import VT_PER_KELVIN
from spicegen.device import FREEZE, STATE_GMIN, DeviceModel, Stimulus, Symbols, state_node_symbol
from spicegen.netlist import format_card, format_instance, format_subckt
from spicegen.ngspice import SimResult, run_netlist
from spicegen.numpy_code import NumpyExprPrinter, load_numpy_module
from spicegen.printing import DIVISION_SCALE, NGSPICE_DIVISION_FUDGE, printed_denominators, with_division_fudge
from veriloga import compile_model
from veriloga.vacask import format_card as vacask_card
from veriloga.vacask import format_instance as vacask_instance
from veriloga.vacask import format_source as vacask_source
from veriloga.vacask import run_vacask

#: Tolerances of the issue: DC 1e-6 for every pair; transient 1e-6 twin vs OSDI, 1e-3 vs numpy ODE.
DC_TOL = 1e-6
TRAN_SIM_TOL = 1e-6
TRAN_ODE_TOL = 1e-3
#: Currents below this are compared absolutely (A); a B-source and numpy agree far below it.
CURRENT_FLOOR = 1e-18
#: DC errors are relative to each point, floored at this fraction of the sweep's largest value.
#: The floor is the conditioning limit of a Newton-solved node: a 1e-13 V drop across a series
#: resistor on a 0.9 V node is resolved only to ~1e-3 (one ulp of 0.9 V is 1.1e-16 V), whichever
#: simulator computes it; the diode_rs reverse-bias points sit at two ulps of that drop.
DC_FLOOR = 1e-8
#: Tight simulator tolerances so that Newton-solved internal nodes do not limit the check.
DC_OPTIONS = ".options reltol=1e-10 abstol=1e-15 vntol=1e-14 itl1=500"
TRAN_OPTIONS = ".options reltol=1e-7 abstol=1e-15 vntol=1e-12 itl4=100"
#: The same tolerances in VACASK (its option names; abstol also bounds the residual check).
VACASK_DC_OPTIONS = "reltol=1e-10 abstol=1e-15 vntol=1e-14 op_itl=500"
VACASK_TRAN_OPTIONS = "reltol=1e-7 abstol=1e-15 vntol=1e-12 tran_itl=100"
#: A state must sweep at least this fraction of its range in the transient.
MIN_STATE_SWING = 0.05
#: Temperature of every check (K): ngspice's default 27 °C, the numpy module's default.
TEMPERATURE = 300.15
#: Absolute tolerance of the reference ODE per unit of ``State.scale`` (node volts): a state in
#: metres with scale 1e-9 is integrated to 1e-21 m, one in [0, 1] with scale 1 to 1e-12.
ODE_ATOL = 1e-12
#: Relative spread of the instance parameters over the DC points (each point its own value).
INSTANCE_SPREAD = 0.1


@dataclass(frozen=True)
class Comparison:
    """One row of the report: the worst error between two renderings."""

    analysis: str
    pair: str
    quantity: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.error <= self.tolerance)


@dataclass
class CheckReport:
    """All comparisons for one device."""

    device: str
    rows: list[Comparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    waves: dict[str, np.ndarray] = field(default_factory=dict)
    """Transient waveforms: ``time`` and ``<quantity> <rendering>`` for plotting."""
    dc: dict[str, np.ndarray] = field(default_factory=dict)
    """DC points: ``<quantity> <rendering>`` (renderings ``numpy``, ``twin``, ``osdi``, ``vacask``)."""
    units: dict[str, str] = field(default_factory=dict)
    """Unit of each compared quantity: ``V(p)`` V, ``I(p)`` A, a state its own (``""``: dimensionless)."""

    @property
    def passed(self) -> bool:
        return not self.problems and all(r.passed for r in self.rows)

    def worst(self) -> dict[tuple[str, str], Comparison]:
        """Worst comparison per (analysis, pair)."""
        out: dict[tuple[str, str], Comparison] = {}
        for row in self.rows:
            key = (row.analysis, row.pair)
            if key not in out or row.error / row.tolerance > out[key].error / out[key].tolerance:
                out[key] = row
        return out

    def format_table(self) -> str:
        """A fixed-width table: analysis, pair, worst quantity, max relative error, tolerance, verdict."""
        lines = [f"{self.device}"]
        for (analysis, pair), row in sorted(self.worst().items()):
            verdict = "ok" if row.passed else "FAIL"
            lines.append(f"  {analysis:5s} {pair:18s} {row.quantity:14s} {row.error:10.2e} <= {row.tolerance:.0e}  {verdict}")
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def _relative(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    """Max point-wise relative error, each point floored at ``DC_FLOOR`` of full scale (and ``floor``)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not a.size:
        return 0.0
    scale = np.maximum(np.abs(b), max(floor, DC_FLOOR * float(np.max(np.abs(b)))))
    return float(np.max(np.abs(a - b) / scale))


def _full_scale(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), floor))


def _node(prefix: str, k: int | str, port: str) -> str:
    return f"{prefix}{k}_{port}"


def random_bias(model: DeviceModel, points: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Seeded port voltages (within ``check.dc``) and state values (within bounds, at the parameter defaults)."""
    rng = np.random.default_rng(seed)
    assert model.check is not None
    volts = {p: rng.uniform(*model.check.dc.get(p, (0.0, 0.0)), size=points) for p in model.ports}
    states = {}
    for st in model.states:
        spread = abs(st.initial) + st.scale  # an unbounded state: around its initial value, in its scale
        lo, hi = model.state_bounds(st) if st.bounded else (st.initial - spread, st.initial + spread)
        states[st.name] = rng.uniform(lo, hi, size=points)
    return volts, states


def random_instance_values(model: DeviceModel, points: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded values, one per DC point, of the declared instance parameters: ``default * (1 ± INSTANCE_SPREAD)``
    inside the bounds.

    Left at their defaults: ``<state>0`` and ``freeze`` (the points set the states themselves), a parameter
    that bounds a state (the states are drawn inside the bounds at the defaults) and one whose default is 0.
    """
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the bias points stay those of random_bias
    skipped = {FREEZE, *(f"{st.name}0" for st in model.states), *(b for st in model.states for b in st.bound_params)}
    values = {}
    for p in model.params:
        if p.per_instance and p.name not in skipped and p.default != 0:
            values[p.name] = np.clip(p.default * (1 + INSTANCE_SPREAD * rng.uniform(-1, 1, points)), *p.bounds)
    return values


def check_dc(model: DeviceModel, osdi: str, points: int = 16, seed: int = 0,
             record: dict[str, np.ndarray] | None = None, module: ModuleType | None = None) -> list[Comparison]:
    """Compare numpy, twin and OSDI at random DC points, values and rates (see module docstring);
    ``record`` (if given) receives the values, ``<quantity> <rendering>``; ``module`` is the numpy
    rendering (loaded if not given)."""
    volts, states = random_bias(model, points, seed)
    params = random_instance_values(model, points, seed)
    lines = [f"* spicegen DC equivalence check: {model.name}", format_subckt(model), format_card(model), DC_OPTIONS]
    for k in range(points):
        for flavor in ("twin", "osdi"):
            nodes = [_node(flavor[0], k, p) for p in model.ports]
            lines += format_instance(model, f"{flavor[0]}{k}", nodes, _dc_values(model, states, params, k), flavor,
                                     shared=True)
            lines += [f"V{n} {n} 0 {float(volts[p][k])!r}" for n, p in zip(nodes, model.ports)]
        lines += _held_twin(model, k, volts, states)
    lines += [".op", ".end"]
    result = run_netlist("\n".join(lines), osdi=[osdi])

    module = module or load_numpy_module(model)
    ref = module.evaluate(volts, states, **params)
    rows: list[Comparison] = []
    for flavor, label in (("twin", "numpy~twin"), ("osdi", "numpy~osdi")):
        rows += _dc_rows(model, label, ref, states,
                         lambda p: np.array([-result[f"v{_node(flavor[0], k, p)}#branch"][0] for k in range(points)]),
                         lambda n: np.array([result[_inner(flavor, k, n)][0] for k in range(points)]), record)
    return rows + _rate_rows(model, module, osdi, volts, states, result, record)


def _rate_values(model: DeviceModel, states: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters under which rates are read: states running (``freeze=0``), each tied to its own value."""
    if not model.states:
        return {}
    return {FREEZE: 0.0, **{f"{st.name}0": states[st.name] for st in model.states}}


def _held_twin(model: DeviceModel, k: int, volts: Mapping[str, np.ndarray],
               states: Mapping[str, np.ndarray]) -> list[str]:
    """A twin instance ``r<k>`` at DC point ``k`` whose state nodes are held by voltage sources.

    At DC the state capacitor is open, so the source that holds a state node carries exactly the
    current of the state's B-source: the rate, in node volts per second.
    """
    if not model.states:
        return []
    nodes = [_node("r", k, p) for p in model.ports]
    lines = format_instance(model, f"r{k}", nodes, _rate_values(model, {s: v[k] for s, v in states.items()}), "twin")
    lines += [f"V{n} {n} 0 {float(volts[p][k])!r}" for n, p in zip(nodes, model.ports)]
    lines += [f"V{_held(k, st.name)} xr{k}.{st.name} 0 {float(states[st.name][k] / st.scale)!r}"
              for st in model.states]
    return lines


def _held(k: int, state: str) -> str:
    return f"hr{k}_{state}"


def _rate_rows(model: DeviceModel, module: ModuleType, osdi: str, volts: Mapping[str, np.ndarray],
               states: Mapping[str, np.ndarray], result: SimResult,
               record: dict[str, np.ndarray] | None) -> list[Comparison]:
    """``dx/dt`` of every state at the DC points: numpy against the held twin and the ``.osdi``."""
    if not model.states:
        return []
    points = len(next(iter(states.values())))
    ref = module.evaluate(volts, states, **_rate_values(model, states))
    from_osdi = osdi_rates(model, osdi, volts, ref["internal"], states)
    rows = []
    for st in model.states:
        twin = np.array([result[f"v{_held(k, st.name)}#branch"][0] for k in range(points)]) * st.scale
        quantity, numpy_value = rate_name(st.name), np.asarray(ref["rates"][st.name], float)
        for rendering, simulated in (("twin", twin), ("osdi", from_osdi[st.name])):
            rows.append(Comparison("dc", f"numpy~{rendering}", quantity,
                                   _relative(simulated, numpy_value, STATE_GMIN * st.scale), DC_TOL))
            if record is not None:
                record.update({f"{quantity} numpy": numpy_value, f"{quantity} {rendering}": simulated})
    return rows


def rate_name(state: str) -> str:
    """How the report names the rate of ``state``: ``d<state>/dt``."""
    return f"d{state}/dt"


def osdi_rates(model: DeviceModel, osdi: str, volts: Mapping[str, np.ndarray], internal: Mapping[str, np.ndarray],
               states: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each state's ``dx/dt`` as the compiled ``.osdi`` computes it, at the given points.

    The module is loaded with ``osdi_py`` and evaluated once per point with the ports at
    ``volts``, the internal nodes at ``internal`` and the state nodes at ``state / scale``
    (``freeze=0``, each state tied to its own value): the state node's resistive residual is
    ``-rate / scale`` (``I(x) <+ -(rate)``).
    """
    import osdi_py

    library = osdi_py.OsdiLibrary(str(osdi))
    param_ids = {p["name"]: i for i, p in enumerate(library.get_params())}
    nodes = library.get_nodes()
    points = len(next(iter(states.values())))
    rates = {st.name: np.empty(points) for st in model.states}
    for k in range(points):
        potentials = {p: float(volts[p][k]) for p in model.ports}
        potentials.update({n: float(np.asarray(v)[k]) for n, v in internal.items()})
        potentials.update({st.name: float(states[st.name][k] / st.scale) for st in model.states})
        card = library.create_model()
        for name, value in _rate_values(model, {s: v[k] for s, v in states.items()}).items():
            card.set_real_param(param_ids[name], float(value))
        card.process_params()
        instance = card.create_instance()
        instance.process_params(TEMPERATURE, len(model.ports))
        instance.init_node_mapping(list(range(len(model.ports))))
        instance.eval([potentials[n] for n in nodes], osdi_py.CALC_RESIST_RESIDUAL | osdi_py.ANALYSIS_DC, 0.0, 0.0)
        residual = instance.load_residual_resist([0.0] * len(nodes))
        for st in model.states:
            rates[st.name][k] = -residual[nodes.index(st.name)] * st.scale
    return rates


def check_twin_divisions(model: DeviceModel, points: int = 16, seed: int = 0, module: ModuleType | None = None,
                         fudge: float = NGSPICE_DIVISION_FUDGE / DIVISION_SCALE) -> tuple[list[Comparison], list[str]]:
    """Does ngspice's ``1e-32`` on every B-source denominator change a twin expression at the DC points?

    Each expression the twin prints (currents, charges, state-node rates) is evaluated in numpy at the
    points of :func:`check_dc`, with the states running, once exactly and once with every printed
    denominator moved by ``fudge``: ngspice's 1e-32 as it acts through the twin's scaled quotients
    (``NGSPICE_DIVISION_FUDGE`` itself for a twin printed with plain ``a/b``). Returns one row per
    expression and, for each one changed beyond ``DC_TOL``, a message naming the denominator that
    does it. ``module`` is the numpy rendering (loaded if not given).

    A change is relative to the expression's value, or to its largest summand where the summands
    cancel: an internal node's current is a balance that is zero, to rounding, at the DC solution
    (the heat flow into a thermal node), and what shifts the solution is the change relative to the
    terms that balance.
    """
    volts, states = random_bias(model, points, seed)
    ref = (module or load_numpy_module(model)).evaluate(volts, states, **_rate_values(model, states))
    values = _symbol_values(model, volts, ref["internal"], states)
    rows, problems = [], []
    for quantity, expr in _twin_expressions(model):
        exact, fudged = _evaluate(expr, values), _evaluate(with_division_fudge(expr, fudge), values)
        error = _relative(fudged, exact, 1e-300)
        if error > DC_TOL and expr.is_Add:  # only then are the summands worth their evaluation
            error = _relative_to(fudged, exact, _largest_summand(expr, values))
        rows.append(Comparison("dc", "exact~fudged", quantity, error, DC_TOL))
        if error > DC_TOL:
            problems.append(_fudge_problem(model, quantity, expr, values, fudge, error))
    return rows, problems


def _largest_summand(expr: sympy.Add, values: Mapping[sympy.Symbol, np.ndarray]) -> np.ndarray:
    """Largest ``|term|`` of the sum ``expr`` at each point."""
    return np.max([np.abs(_evaluate(term, values)) * np.ones(_points(values)) for term in expr.args], axis=0)


def _relative_to(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> float:
    """Max point-wise ``|a - b|``, each point relative to ``|b|`` or ``scale`` there, whichever is larger."""
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(b), scale), 1e-300)))


def _points(values: Mapping[sympy.Symbol, np.ndarray]) -> int:
    return max(np.size(v) for v in values.values())


def _twin_expressions(model: DeviceModel) -> list[tuple[str, sympy.Expr]]:
    """Every expression of the twin, named as the report names its quantity."""
    exprs = [(f"I({','.join(b)})", e) for b, e in model.currents.items()]
    exprs += [(f"Q({','.join(b)})", e) for b, e in model.charges.items()]
    return exprs + [(rate_name(st.name), model.node_rates[st.name]) for st in model.states]


def _fudge_problem(model: DeviceModel, quantity: str, expr: sympy.Expr, values: Mapping[sympy.Symbol, np.ndarray],
                   fudge: float, error: float) -> str:
    """Name the denominator of ``expr`` nearest to ngspice's fudge and where it gets there."""
    smallest = {}
    for denominator in printed_denominators(expr):
        size = np.abs(_evaluate(denominator, values)) * np.ones(_points(values))
        smallest[denominator] = (float(np.min(size)), int(np.argmin(size)))
    denominator, (size, point) = min(smallest.items(), key=lambda item: item[1][0])
    return (f"the ngspice twin of {quantity} of {model.name!r} divides by {_short(denominator)}, which is "
            f"{size:.3g} at DC point {point}; ngspice adds {NGSPICE_DIVISION_FUDGE:g} to every B-source "
            f"denominator ({fudge:.2g} on this one as the twin prints it), which changes {quantity} by "
            f"{error:.2g} (tolerance {DC_TOL:g}). Keep every denominator above {fudge / DC_TOL:.0e}: write tiny "
            "constants as numbers (sympy folds them into the coefficient) or in scaled units, not as parameters "
            "in a denominator.")


def _short(expr: sympy.Expr, limit: int = 120) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[:limit] + " ..."


def _symbol_values(model: DeviceModel, volts: Mapping[str, np.ndarray], internal: Mapping[str, np.ndarray],
                   states: Mapping[str, np.ndarray]) -> dict[sympy.Symbol, np.ndarray]:
    """Value of every symbol of the model's expressions at the DC points (states running, tied to themselves)."""
    potentials = {**{p: np.asarray(v, float) for p, v in volts.items()}, **internal}
    values = {sym: potentials[b[0]] - (potentials[b[1]] if len(b) == 2 else 0.0) for sym, b in model.voltages.items()}
    values.update({state_node_symbol(st): states[st.name] / st.scale for st in model.states})
    values[Symbols.T] = np.asarray(TEMPERATURE)
    values[Symbols.vt] = np.asarray(TEMPERATURE * VT_PER_KELVIN)
    overrides = _rate_values(model, states)
    values.update({p.symbol: np.asarray(overrides.get(p.name, p.default), float) for p in model.params})
    return values


def _evaluate(expr: sympy.Expr, values: Mapping[sympy.Symbol, np.ndarray]) -> np.ndarray:
    """``expr`` in numpy (the numpy rendering's printer) at ``values``."""
    symbols = list(values)
    function = sympy.lambdify(symbols, expr, modules="numpy", printer=NumpyExprPrinter(), cse=True)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.asarray(function(*(values[s] for s in symbols)), float)


def check_dc_vacask(model: DeviceModel, osdi: str, points: int = 16, seed: int = 0,
                    record: dict[str, np.ndarray] | None = None) -> list[Comparison]:
    """Compare numpy and the OSDI build in VACASK at the DC points of :func:`check_dc` (one ``op``);
    ``record`` (if given) receives the values, ``<quantity> vacask``."""
    volts, states = random_bias(model, points, seed)
    params = random_instance_values(model, points, seed)
    lines = [f"spicegen VACASK DC equivalence check: {model.name}", "ground 0", "model vsource vsource",
             vacask_card(model)]
    for k in range(points):
        nodes = [_node("v", k, p) for p in model.ports]
        lines += vacask_instance(model, f"v{k}", nodes, _dc_values(model, states, params, k), shared=True)
        lines += [vacask_source(f"s{n}", (n, "0"), float(volts[p][k])) for n, p in zip(nodes, model.ports)]
    result = run_vacask("\n".join(lines + _vacask_control(VACASK_DC_OPTIONS, "op op")), osdi=[osdi])
    ref = load_numpy_module(model).evaluate(volts, states, **params)
    # a source's flow(br) runs from its + node through it, i.e. out of the device terminal
    return _dc_rows(model, "numpy~vacask", ref, states,
                    lambda p: np.array([-result[f"s{_node('v', k, p)}:flow(br)"][0] for k in range(points)]),
                    lambda n: np.array([result[f"v{k}:{n}"][0] for k in range(points)]), record)


def _dc_values(model: DeviceModel, states: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
               k: int) -> dict[str, float]:
    """Instance parameters of DC point ``k``: the state values, held with ``freeze=1``, and ``params``."""
    values = {f"{s}0": float(states[s][k]) for s in states} | {p: float(v[k]) for p, v in params.items()}
    if model.states:
        values[FREEZE] = 1.0
    return values


def _dc_rows(model: DeviceModel, label: str, ref: dict, states: Mapping[str, np.ndarray],
             current, voltage, record: dict[str, np.ndarray] | None = None) -> list[Comparison]:
    """DC rows of one pair; ``current(port)`` / ``voltage(node)`` give the simulated values at all points,
    and ``record`` (if given) receives them and the numpy values."""
    compared = [(f"I({p})", current(p), ref["currents"][p], CURRENT_FLOOR) for p in model.ports]
    compared += [(f"V({n})", voltage(n), ref["internal"][n], 1e-12) for n in model.internal]
    compared += [(st.name, voltage(st.name) * st.scale, states[st.name], 1e-12 * st.scale) for st in model.states]
    if record is not None:
        rendering = label.split("~")[1]
        for quantity, simulated, numpy_value, _ in compared:
            record.update({f"{quantity} numpy": np.asarray(numpy_value, float), f"{quantity} {rendering}": simulated})
    return [Comparison("dc", label, quantity, _relative(simulated, numpy_value, floor), DC_TOL)
            for quantity, simulated, numpy_value, floor in compared]


def quantity_units(model: DeviceModel) -> dict[str, str]:
    """Unit of every quantity the checks compare: ``V(port)`` and ``V(internal)`` V, ``I(port)`` A,
    each state its own (``""``: dimensionless)."""
    units = {f"V({p})": "V" for p in (*model.ports, *model.internal)}
    units.update({f"I({p})": "A" for p in model.ports})
    units.update({st.name: st.unit for st in model.states})
    units.update({rate_name(st.name): f"{st.unit or '1'}/s" for st in model.states})
    return units


def _vacask_control(options: str, analysis: str) -> list[str]:
    return ["control", f"  options {options}", f"  analysis {analysis}", "endc"]


def _inner(flavor: str, k: int | str, node: str) -> str:
    """ngspice's name for an internal node of instance ``k``: ``xt0.node`` or ``no0#node``."""
    return f"x{flavor[0]}{k}.{node}" if flavor == "twin" else f"n{flavor[0]}{k}#{node}"


def _stimulus(model: DeviceModel) -> Mapping[str, Stimulus | float]:
    assert model.check is not None
    return {p: model.check.tran.get(p, 0.0) for p in model.ports}


def _drive(value: Stimulus | float, t: np.ndarray | float) -> np.ndarray:
    return np.broadcast_to(value, np.shape(t)) if isinstance(value, float) else value(t)


def check_tran(model: DeviceModel, osdi: str, ode=None) -> tuple[list[Comparison], list[str], dict[str, np.ndarray]]:
    """Compare twin vs OSDI (same time steps) and both vs the numpy ODE solution (``ode``, else integrated)."""
    assert model.check is not None
    tstop = model.check.tstop
    stim = _stimulus(model)
    lines = [f"* spicegen transient equivalence check: {model.name}", format_subckt(model), TRAN_OPTIONS]
    for flavor in ("twin", "osdi"):
        nodes = [_node(flavor[0], "t", p) for p in model.ports]
        lines += format_instance(model, f"{flavor[0]}t", nodes, {}, flavor)
        lines += [f"V{n} {n} 0 {stim[p].spice() if not isinstance(stim[p], float) else repr(stim[p])}"
                  for n, p in zip(nodes, model.ports)]
    lines += [f".tran {tstop / 1000!r} {tstop!r} 0 {tstop / 1000!r}", ".end"]
    result = run_netlist("\n".join(lines), osdi=[osdi])
    t = result["time"]

    volts, ref, x_ref = _ode_reference(model, ode, t)

    rows, problems = [], []
    waves = {"time": t}
    for p in model.ports:
        twin = -result[f"v{_node('t', 't', p)}#branch"]
        osd = -result[f"v{_node('o', 't', p)}#branch"]
        waves.update({f"V({p})": volts[p], f"I({p}) twin": twin, f"I({p}) osdi": osd, f"I({p}) numpy": ref["currents"][p]})
        rows.append(Comparison("tran", "twin~osdi", f"I({p})", _full_scale(osd, twin, CURRENT_FLOOR), TRAN_SIM_TOL))
        rows.append(Comparison("tran", "numpy-ode~twin", f"I({p})", _full_scale(twin, ref["currents"][p], CURRENT_FLOOR), TRAN_ODE_TOL))
    for i, st in enumerate(model.states):
        twin = result[_inner("twin", "t", st.name)] * st.scale
        osd = result[_inner("osdi", "t", st.name)] * st.scale
        scale = _state_range(model, st, twin)
        rows.append(Comparison("tran", "twin~osdi", st.name, float(np.max(np.abs(osd - twin))) / scale, TRAN_SIM_TOL))
        rows.append(Comparison("tran", "numpy-ode~twin", st.name, float(np.max(np.abs(twin - x_ref[i]))) / scale, TRAN_ODE_TOL))
        waves.update({f"{st.name} twin": twin, f"{st.name} osdi": osd, f"{st.name} numpy": x_ref[i]})
        swing = (float(np.max(twin)) - float(np.min(twin))) / scale
        if swing < MIN_STATE_SWING:
            problems.append(f"the transient stimulus moves state {st.name!r} over only {swing:.1%} of its range "
                            f"(needs {MIN_STATE_SWING:.0%}); strengthen Check.tran of {model.name!r}.")
    return rows, problems, waves


def check_tran_vacask(model: DeviceModel, osdi: str, ode=None) -> list[Comparison]:
    """Run the transient stimulus in VACASK; compare with the numpy ODE solution at VACASK's time points."""
    assert model.check is not None
    tstop, stim = model.check.tstop, _stimulus(model)
    nodes = [_node("v", "t", p) for p in model.ports]
    lines = [f"spicegen VACASK transient equivalence check: {model.name}", "ground 0", "model vsource vsource",
             *vacask_instance(model, "vt", nodes)]
    lines += [vacask_source(f"s{n}", (n, "0"), stim[p]) for n, p in zip(nodes, model.ports)]
    analysis = f"tran tran step={tstop / 1000!r} stop={tstop!r} maxstep={tstop / 1000!r}"
    result = run_vacask("\n".join(lines + _vacask_control(VACASK_TRAN_OPTIONS, analysis)), osdi=[osdi])
    _, ref, x_ref = _ode_reference(model, ode, result["time"])
    rows = [Comparison("tran", "numpy-ode~vacask", f"I({p})",
                       _full_scale(-result[f"s{n}:flow(br)"], ref["currents"][p], CURRENT_FLOOR), TRAN_ODE_TOL)
            for n, p in zip(nodes, model.ports)]
    for i, st in enumerate(model.states):
        sim = result[f"vt:{st.name}"] * st.scale
        rows.append(Comparison("tran", "numpy-ode~vacask", st.name,
                               float(np.max(np.abs(sim - x_ref[i]))) / _state_range(model, st, sim), TRAN_ODE_TOL))
    return rows


def _ode_reference(model: DeviceModel, ode, t: np.ndarray):
    """Port voltages, numpy evaluation and state values of the ODE solution at times ``t``."""
    stim = _stimulus(model)
    module = load_numpy_module(model)
    if ode is None and model.states:
        assert model.check is not None
        ode = _integrate(model, module, stim, model.check.tstop)
    x_ref = ode(t) if model.states else np.zeros((0, t.size))
    volts = {p: _drive(stim[p], t) for p in model.ports}
    return volts, _evaluate_along(model, module, volts, {st.name: x_ref[i] for i, st in enumerate(model.states)}), x_ref


def _evaluate_along(model: DeviceModel, module, volts: dict[str, np.ndarray], states: dict[str, np.ndarray]) -> dict:
    """numpy evaluation along a waveform. With internal nodes, point by point, each Newton started from the
    previous point's solution: where the equations have more than one solution (self-heating), that is the
    branch a simulator follows in time."""
    if not model.internal:
        return module.evaluate(volts, states)
    last: dict[str, np.ndarray] = {}
    points = []
    for k in range(len(next(iter(volts.values())))):
        points.append(module.evaluate({p: v[k] for p, v in volts.items()}, {n: x[k] for n, x in states.items()},
                                      guess=last))
        last = points[-1]["internal"]
    return {key: {name: np.array([float(point[key][name]) for point in points]) for name in points[0][key]}
            for key in ("currents", "rates", "internal")}


def _state_range(model: DeviceModel, st, wave: np.ndarray) -> float:
    """Full scale of a state: its bounds' span (at the parameter defaults), else the wave's largest magnitude."""
    if st.bounded:
        lo, hi = model.state_bounds(st)
        return hi - lo
    return max(float(np.max(np.abs(wave))), 1e-30)


def _integrate(model: DeviceModel, module, stim, tstop: float):
    """Dense ODE solution of the states under the stimulus (stiff solver, tight tolerances)."""
    if not model.states:
        return None
    names = [st.name for st in model.states]
    last: dict[str, np.ndarray] = {}  # warm start of the internal-node Newton from the previous call

    def rhs(t: float, x: np.ndarray) -> np.ndarray:
        volts = {p: float(_drive(stim[p], t)) for p in model.ports}
        result = module.evaluate(volts, dict(zip(names, x)), guess=last)
        last.update(result["internal"])
        return np.array([float(result["rates"][n]) for n in names])

    x0 = np.array([st.initial for st in model.states])
    atol = ODE_ATOL * np.array([st.scale for st in model.states])
    sol = solve_ivp(rhs, (0.0, tstop), x0, method="LSODA", rtol=1e-10, atol=atol,
                    max_step=tstop / 2000, dense_output=True)
    if not sol.success:
        raise RuntimeError(f"numpy ODE integration of {model.name!r} failed: {sol.message}")
    return sol.sol


def check_device(model: DeviceModel, *, points: int = 16, seed: int = 0, vacask: bool = True) -> CheckReport:
    """Run the DC and transient equivalence checks of one device.

    Parameters
    ----------
    model
        A registered device with a :class:`~spicegen.device.Check`.
    points
        Number of random DC bias points.
    seed
        Seed of the DC bias points.
    vacask
        Also run the ``.osdi`` in VACASK (pairs ``numpy~vacask`` and ``numpy-ode~vacask``).
    """
    report = CheckReport(model.name)
    if model.check is None:
        report.problems.append(f"device {model.name!r} declares no Check (bias ranges and stimulus).")
        return report
    osdi = str(compile_model(model))
    report.units = quantity_units(model)
    module = load_numpy_module(model)
    report.rows += check_dc(model, osdi, points, seed, report.dc, module)
    rows, problems = check_twin_divisions(model, points, seed, module)
    report.rows += rows
    report.problems += problems
    ode = _integrate(model, module, _stimulus(model), model.check.tstop)
    rows, problems, waves = check_tran(model, osdi, ode)
    report.rows += rows
    if vacask:
        report.rows += check_dc_vacask(model, osdi, points, seed, report.dc) + check_tran_vacask(model, osdi, ode)
    report.problems += problems
    report.waves = waves
    return report
