"""numpy rendering of a device: a standalone Python module that imports only numpy.

The generated module evaluates terminal currents, state rates and internal node voltages
(solved by a vectorised damped Newton iteration with the symbolic Jacobian) for arrays of
bias points. The equivalence harness runs this very code, so what is emitted is what is
proven equal to the simulators.
"""
from __future__ import annotations

import itertools
import keyword
import types
from typing import Any

import sympy
from sympy.printing.numpy import NumPyPrinter

from .device import DeviceModel, FlickerNoise, Noise
from .naming import format_number, python_docstring
from .printing import checked_expression
from .subexpressions import common_subexpressions


#: Python builtins sympy's NumPy printer may emit (``Abs`` prints as ``abs``); the naming rules keep them unshadowed.
_BUILTINS_USED = frozenset({"abs"})


class NumpyExprPrinter(NumPyPrinter):
    """sympy's NumPy printer with element-wise min/max and nested ``where`` for Piecewise.

    Strict like the infix printers: a function numpy does not provide (``erf``, ``gamma`` ...),
    a non-finite or complex number, or a string raises instead of emitting code the
    numpy-only module cannot run.
    """

    _default_settings = dict(NumPyPrinter._default_settings, symbols={}, fully_qualified_modules=True, strict=True)

    def doprint(self, expr: Any, assign_to: Any = None) -> str:
        self._expr = checked_expression(expr, f"{self.language} printer")
        try:
            return super().doprint(self._expr, assign_to)
        except NotImplementedError as exc:  # sympy's strict mode: a construct without a numpy form
            raise ValueError(f"{str(exc).splitlines()[0]} in {self._expr}. Rewrite it with functions numpy "
                             "provides.") from None

    def _module_format(self, fqn: str, register: bool = True) -> str:
        if fqn.split(".")[0] != "numpy" and fqn not in _BUILTINS_USED:
            raise ValueError(f"Unsupported by {type(self).__name__}: {fqn} in {self._expr} (the generated module "
                            "imports only numpy). Rewrite it with functions numpy provides.")
        return super()._module_format(fqn, register)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        if expr in self._settings["symbols"]:
            return self._settings["symbols"][expr]
        name = expr.name
        if name.isascii() and name.isidentifier() and not keyword.iskeyword(name):
            return name  # generated locals (_n_<node>, _c<k>) start with '_'
        raise ValueError(f"{self.language} printer: symbol name {name[:80]!r} is not a Python identifier; "
                         "map it to target text with the 'symbols' setting or rename it.")

    def _print_Float(self, expr: sympy.Float) -> str:
        return format_number(float(expr))

    def _print_nested(self, func: str, args: tuple) -> str:
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"numpy.{func}({text}, {self._print(arg)})"
        return text

    def _print_Max(self, expr: sympy.Max) -> str:
        return self._print_nested("maximum", expr.args)

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._print_nested("minimum", expr.args)

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        text = self._print(expr.args[-1].expr)
        for arg in reversed(expr.args[:-1]):
            text = f"numpy.where({self._print(arg.cond)}, {self._print(arg.expr)}, {text})"
        return text

    def _print_ITE(self, expr: Any) -> str:
        # sympy writes a comparison of a clamped value (Min/Max) as ITE; its own printer rewrites an ITE as
        # a Piecewise, which fails when the branches are conditions themselves
        cond, then, other = (self._print(a) for a in expr.args)
        return f"numpy.where({cond}, {then}, {other})"


def _numpy_symbols(model: DeviceModel) -> dict[sympy.Symbol, str]:
    """Local variable names: ``_v_p_n`` for branch voltages, ``_u_<state>`` for state nodes."""
    state_nodes = {(st.name,) for st in model.states}
    return model.symbol_text(lambda b: ("_u_" if b in state_nodes else "_v_") + "_".join(b), "_T")


def _node_difference(model: DeviceModel) -> dict[sympy.Symbol, sympy.Expr]:
    """Voltage symbols expressed through node potentials (for the Jacobian)."""
    pot = {n: sympy.Symbol(f"_n_{n}", real=True) for n in model.nodes}
    return {sym: pot[b[0]] - (pot[b[1]] if len(b) == 2 else 0) for sym, b in model.voltages.items()}


def _kcl(model: DeviceModel, node: str) -> sympy.Expr:
    """Current leaving ``node`` into the device's branches."""
    total = sympy.Integer(0)
    for branch, current in model.currents.items():
        if branch[0] == node:
            total += current
        if len(branch) == 2 and branch[1] == node:
            total -= current
    return total


def format_numpy_module(model: DeviceModel) -> str:
    """Return the source of a numpy-only module that evaluates ``model``."""
    printer = NumpyExprPrinter({"symbols": _numpy_symbols(model)})
    potentials = _node_difference(model)
    node_syms = {n: sympy.Symbol(f"_n_{n}", real=True) for n in model.nodes}
    header = [
        python_docstring(f"{model.name}: {model.doc}", "",
                         f"Generated by spicegen from {model.source}. Imports only numpy. Do not edit: re-emit.", ""),
        "import numpy",
        "",
        "inf = float('inf')",
        f"NAME = {model.name!r}",
        f"PORTS = {model.ports!r}",
        f"INTERNAL = {model.internal!r}",
        f"STATES = {tuple(st.name for st in model.states)!r}",
        f"SCALES = {{{', '.join(f'{st.name!r}: {format_number(st.scale)}' for st in model.states)}}}",
        "PARAMS = {" + ", ".join(f"{p.name!r}: {format_number(p.default)}" for p in model.params) + "}",
        "BOUNDS = {" + ", ".join(f"{p.name!r}: ({format_number(p.bounds[0])}, {format_number(p.bounds[1])})"
                                  for p in model.params) + "}",
        "",
    ]
    prologue = ["    _T = env['_T']"]
    prologue += [f"    {p.name} = env[{p.name!r}]" for p in model.params]
    prologue += [f"    _n_{n} = env['_n_{n}']" for n in model.nodes]
    prologue += [f"    _u_{st.name} = env['_u_{st.name}']" for st in model.states]
    prologue += [f"    {printer.doprint(sym)} = {printer.doprint(expr)}" for sym, expr in potentials.items()]

    def function(name: str, exprs: list[sympy.Expr], doc: str) -> list[str]:
        # common subexpressions once (the Jacobian repeats the same exponentials many times), under the
        # author's names where given; generated locals start with '_', which no device name does
        generated = itertools.count()
        assigned = common_subexpressions(exprs, model.named, lambda e: f"_c{next(generated)}")
        lines = [f"    {printer.doprint(sym)} = {printer.doprint(expr)}" for sym, expr in assigned.variables]
        body = ", ".join(printer.doprint(e) for e in assigned.exprs)
        return [f"def {name}(env):", f'    """{doc}"""', *prologue, *lines,
                f"    return ({body}{',' if exprs else ''})", ""]

    kcl_internal = [_kcl(model, n) for n in model.internal]
    jacobian = [sympy.diff(k.subs(potentials), node_syms[m]) for k in kcl_internal for m in model.internal]
    ports_out = [_kcl(model, n) for n in model.ports]
    rates = [st.scale * model.node_rates[st.name] for st in model.states]
    charges = [q for q in model.charges.values()]
    body = (function("_port_currents", ports_out, "Current into each port from outside (A).")
            + function("_internal_residual", kcl_internal, "KCL residual at each internal node (A).")
            + function("_internal_jacobian", jacobian, "d residual / d internal potential, row-major.")
            + function("_state_rates", rates, "dx/dt of each state in its unit per second.")
            + function("_charges", charges, "Branch charges (C)."))
    if not model.noise:
        return "\n".join(header + body) + _EVALUATE
    sources = model.noise_sources
    noise = [
        "NOISE = {" + ", ".join(f"{src.name!r}: ({branch!r}, {format_number(_exponent(src))})"
                                for branch, src in sources) + "}",
        '"""Noise source name -> (branch, frequency exponent: 0 white, e flicker 1/f**e)."""',
        "",
    ]
    body += function("_noise_psd", [src.psd for _, src in sources], "PSD of each noise source at 1 Hz (A^2/Hz).")
    return "\n".join(header + noise + body) + _EVALUATE + _NOISE


def _exponent(source: Noise) -> float:
    return source.exponent if isinstance(source, FlickerNoise) else 0.0


_EVALUATE = '''
def evaluate(voltages, states=None, temperature=300.15, newton_tol=1e-13, guess=None, **params):
    """Terminal currents, state rates and internal node voltages at the given bias.

    Parameters
    ----------
    voltages : dict
        Port name -> node potential (V), scalars or broadcastable arrays.
    states : dict, optional
        State name -> value in its unit (defaults: the ``<state>0`` parameters); scalars or
        arrays that broadcast with the voltages.
    temperature : float
        Device temperature in kelvin.
    newton_tol : float
        Relative step size at which the internal-node Newton iteration stops.
    guess : dict, optional
        Internal node -> starting potential (e.g. the previous solution of a sweep).
    **params
        Parameter overrides: scalars, or arrays that broadcast with the voltages, one value per
        element (as instances that each set their own value).

    Returns
    -------
    dict with ``currents`` (port -> A into the port), ``rates`` (state -> d/dt),
    ``internal`` (node -> V).
    """
    env, shape = _bias(voltages, states, temperature, newton_tol, guess, params)
    with numpy.errstate(over='ignore', invalid='ignore'):
        currents = [numpy.broadcast_to(c, shape) for c in _port_currents(env)]
        rates = [numpy.broadcast_to(r, shape) for r in _state_rates(env)]
    return {
        'currents': dict(zip(PORTS, currents)),
        'rates': dict(zip(STATES, rates)),
        'internal': {n: env['_n_' + n] for n in INTERNAL},
    }


def _bias(voltages, states, temperature, newton_tol, guess, params):
    """The evaluation environment at the given bias (internal nodes solved) and its shape."""
    unknown = set(params) - set(PARAMS)
    if unknown:
        raise KeyError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(PARAMS)}")
    missing = set(PORTS) - set(voltages)
    if missing:
        raise KeyError(f"missing port voltage(s) {sorted(missing)}; ports are {PORTS}")
    env = dict(PARAMS, **params, _T=temperature)
    arrays = [numpy.asarray(voltages[p], dtype=float) for p in PORTS]
    given = [numpy.shape(v) for v in (*params.values(), *(states or {}).values())]
    shape = numpy.broadcast_shapes(*(a.shape for a in arrays), *given)
    for port, value in zip(PORTS, arrays):
        env['_n_' + port] = numpy.broadcast_to(value, shape)
    for name in STATES:
        value = (states or {}).get(name, env[name + '0'])
        env['_u_' + name] = numpy.broadcast_to(numpy.asarray(value, dtype=float) / SCALES[name], shape)
    with numpy.errstate(over='ignore', invalid='ignore'):
        _solve_internal(env, shape, newton_tol, guess or {})
    return env, shape


def _solve_internal(env, shape, tol, guess, max_iter=500, max_step=0.1):
    """Internal-node potentials that satisfy KCL, vectorised over bias points.

    Damped Newton from ``guess`` (default: the mean port potential). Where that does not converge
    (a far start on a strongly non-linear device: a diode in series with a resistor, self-heating),
    the point's port potentials are stepped from their mean to their values, each stage starting from
    the previous stage's solution (source stepping, as SPICE does); a stage that fails is retried shorter.
    """
    if not INTERNAL:
        return
    start = numpy.broadcast_to(numpy.mean([env['_n_' + p] for p in PORTS], axis=0), shape)
    x = numpy.stack([numpy.array(numpy.broadcast_to(guess.get(node, start), shape), dtype=float)
                     for node in INTERNAL], axis=-1)
    x, converged, step = _newton(env, shape, x, tol, max_iter // 5, max_step)
    if numpy.all(converged):
        return
    ports = {p: env['_n_' + p] for p in PORTS}
    done = numpy.where(converged, 1.0, 0.0)
    stage = numpy.full(shape, 0.125)
    x = numpy.where(converged[..., None], x, start[..., None])
    while numpy.any(done < 1.0):
        target = numpy.minimum(1.0, done + stage)
        for p in PORTS:
            env['_n_' + p] = start + target * (ports[p] - start)
        trial, converged, step = _newton(env, shape, x, tol, 50, max_step)
        x = numpy.where(converged[..., None], trial, x)
        done = numpy.where(converged, target, done)
        stage = numpy.where(converged, 2.0 * stage, 0.25 * stage)
        if numpy.any((stage < 1e-6) & (done < 1.0)):
            env.update({'_n_' + p: value for p, value in ports.items()})
            _set_internal(env, shape, x)
            raise ArithmeticError(f"internal-node Newton did not converge (last Newton step "
                                  f"{float(numpy.max(step)):.3g} V), also not by stepping the port voltages (stuck at "
                                  f"{float(numpy.min(done)):.6g} of them); pass a 'guess' near the solution, e.g. the "
                                  "solution at a nearby bias")
    env.update({'_n_' + p: value for p, value in ports.items()})
    _set_internal(env, shape, x)


def _newton(env, shape, x, tol, max_iter, max_step, max_halvings=20):
    """Damped Newton from ``x``: the last iterate, which points converged, and their last Newton step (V).

    Each point's Newton step keeps its direction: it is shortened as a whole to at most ``max_step``
    volts on any node, then halved until the sum of squared residuals decreases (a backtracking line
    search; the Newton direction always descends it). Clipping each node's step on its own would turn
    the direction and can make the iteration cycle between two points. Steps below ``sqrt(tol)`` are
    taken whole (quadratic convergence; the residual is then at its rounding level). A point whose
    residual no step decreases (a kink or a local minimum of the residual) stops there, unconverged.
    """
    n = len(INTERNAL)
    residual = _set_internal(env, shape, x)
    stuck = numpy.zeros(shape, dtype=bool)
    for _ in range(max_iter):
        jac = numpy.stack([numpy.broadcast_to(j, shape) for j in _internal_jacobian(env)], axis=-1)
        step = numpy.linalg.solve(jac.reshape(shape + (n, n)), residual[..., None])[..., 0]
        largest = numpy.max(numpy.abs(step), axis=-1)
        size = 1.0 + numpy.max(numpy.abs(x), axis=-1)
        converged = largest <= tol * size
        if numpy.all(converged):
            x = x - step
            _set_internal(env, shape, x)
            break
        if numpy.all(converged | stuck):
            break
        shorten = numpy.minimum(1.0, max_step / numpy.maximum(largest, 1e-300))
        step = numpy.where(stuck[..., None], 0.0, step * shorten[..., None])
        x, residual, decreased = _line_search(env, shape, x, residual, step,
                                              stuck | (largest <= numpy.sqrt(tol) * size), max_halvings)
        stuck |= ~decreased
    return x, converged, largest


def _set_internal(env, shape, x):
    """Put the internal potentials ``x`` into ``env``; return the KCL residual there."""
    for k, node in enumerate(INTERNAL):
        env['_n_' + node] = x[..., k]
    return numpy.stack([numpy.broadcast_to(r, shape) for r in _internal_residual(env)], axis=-1)


def _line_search(env, shape, x, residual, step, whole, max_halvings):
    """``x - t*step`` with the largest ``t`` in 1, 1/2, 1/4 ... that decreases the squared residual
    (``t = 1`` where ``whole``), its residual, and where a decreasing ``t`` was found."""
    norm = numpy.sum(residual ** 2, axis=-1)
    t = numpy.ones(shape)
    for _ in range(max_halvings):
        trial = x - t[..., None] * step
        trial_residual = _set_internal(env, shape, trial)
        decreased = whole | (numpy.sum(trial_residual ** 2, axis=-1) <= (1.0 - 1e-4 * t) * norm)
        if numpy.all(decreased):
            break
        t = numpy.where(decreased, t, 0.5 * t)
    return trial, trial_residual, decreased
'''

_NOISE = '''

def noise_psd(voltages, states=None, temperature=300.15, newton_tol=1e-13, guess=None, **params):
    """One-sided PSD of each noise source at the given bias, at 1 Hz (A^2/Hz).

    Source ``name`` has the density ``noise_psd(...)[name] / f**NOISE[name][1]`` at frequency f.
    The arguments are those of :func:`evaluate`.

    Returns
    -------
    dict
        Noise source name -> PSD array of the bias shape.
    """
    env, shape = _bias(voltages, states, temperature, newton_tol, guess, params)
    with numpy.errstate(over='ignore', invalid='ignore'):
        psds = [numpy.broadcast_to(p, shape) for p in _noise_psd(env)]
    return dict(zip(NOISE, psds))


def unit_noise(n, dt, exponent, rng):
    """``n`` samples, ``dt`` apart, of Gaussian noise with one-sided PSD ``1/f**exponent`` (A^2/Hz).

    White noise (exponent 0) is independent samples of variance ``1/(2*dt)``; flicker noise
    is white noise shaped in the frequency domain by ``f**(-exponent/2)`` (zero mean), so its
    PSD holds at the frequencies ``k/(n*dt)`` up to the Nyquist frequency ``1/(2*dt)``.

    Parameters
    ----------
    n : int
        Number of samples.
    dt : float
        Sample interval (s).
    exponent : float
        Frequency exponent (0 white, 0 < e < 2 flicker).
    rng : numpy.random.Generator or int
        Random generator, or the seed of a new one.
    """
    rng = numpy.random.default_rng(rng)
    white = rng.standard_normal(n) / numpy.sqrt(2.0 * dt)
    if exponent == 0:
        return white
    f = numpy.fft.rfftfreq(n, dt)
    shape = numpy.zeros_like(f)
    shape[1:] = f[1:] ** (-0.5 * exponent)
    return numpy.fft.irfft(numpy.fft.rfft(white) * shape, n)


def noise(voltages, n, dt, rng, states=None, temperature=300.15, newton_tol=1e-13, guess=None, **params):
    """Sampled noise current of each noise source, seeded.

    Each source is :func:`unit_noise` of its exponent times ``sqrt(PSD)`` at the bias: for a
    constant bias a stationary noise with the declared PSD; a bias given per sample (arrays of
    length ``n``) modulates it sample by sample, as the ngspice twin's transient noise does.

    Parameters
    ----------
    voltages : dict
        Port name -> potential (V): scalars, or arrays of length ``n``.
    n : int
        Number of samples.
    dt : float
        Sample interval (s); the noise reaches up to ``1/(2*dt)`` Hz.
    rng : numpy.random.Generator or int
        Random generator, or its seed: the same seed gives the same samples.
    states, temperature, newton_tol, guess, **params
        As for :func:`evaluate`.

    Returns
    -------
    dict
        Noise source name -> ``n`` samples of its current (A) in the direction of its branch.
    """
    rng = numpy.random.default_rng(rng)
    psds = noise_psd(voltages, states, temperature, newton_tol, guess, **params)
    return {name: unit_noise(n, dt, NOISE[name][1], rng) * numpy.sqrt(numpy.maximum(psds[name], 0.0))
            for name in NOISE}
'''


def load_numpy_module(model: DeviceModel) -> types.ModuleType:
    """Execute the generated numpy module for ``model`` and return it."""
    module = types.ModuleType(f"spicegen_numpy_{model.name}")
    exec(compile(format_numpy_module(model), f"<spicegen numpy {model.name}>", "exec"), module.__dict__)
    return module


def as_callable(model: DeviceModel) -> Any:
    """Shorthand: the ``evaluate`` function of the generated numpy module."""
    return load_numpy_module(model).evaluate
