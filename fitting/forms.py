"""Behavioural forms: lmfit models of the pure functions in :mod:`fitting.lineshapes`.

:data:`FORMS` is the registry: name → :class:`Form` subclass. Each form is an lmfit ``Model``
(so ``+ - * /`` compose them into ``CompositeModel``\\ s, and parameters carry bounds and
expressions) with a ``guess()`` that needs no starting values, and knows its own sympy
expression, from which :func:`format_expression` prints the surrogate formula.

``guess()`` is robust by construction: the non-linear parameters (rate, center, exponent,
breakpoints) are searched on a grid spanning the data's x range, and for each grid point the
linear ones (amplitude, offset, slopes) are solved exactly by least squares; the best grid point
is the start.

>>> import numpy as np
>>> x = np.linspace(0, 1, 50)
>>> model = parse_form("saturating_exponential")
>>> result = model.fit(0.8 * (1 - np.exp(-3 * x)), model.guess(0.8 * (1 - np.exp(-3 * x)), x=x), x=x)
>>> round(result.params["rate"].value, 6)
3.0
"""
from __future__ import annotations

import operator
import re
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import sympy
from lmfit import CompositeModel, Model, Parameters
from lmfit.models import update_param_vals

from spicegen.numpy_code import NumpyExprPrinter

from . import lineshapes
from .expression import parse

FORMS: dict[str, type[Form]] = {}
"""The registry of behavioural forms, name → :class:`Form` subclass."""


def register_form(cls: type[Form]) -> type[Form]:
    """Class decorator adding a :class:`Form` subclass to :data:`FORMS` under ``cls.form``."""
    if cls.form in FORMS:
        raise ValueError(f"a form named {cls.form!r} is already registered ({FORMS[cls.form].__name__}).")
    FORMS[cls.form] = cls
    return cls


class Form(Model):
    """An lmfit ``Model`` that also knows its symbolic expression.

    Subclasses set ``form`` (registry name) and implement :meth:`symbolic` and ``guess``.
    """

    form: ClassVar[str] = ""
    option: ClassVar[str | None] = None
    """Name of the one integer option of the form (``degree``, ``breaks``), if any."""

    def __init__(self, func: Callable[..., np.ndarray], *, prefix: str = "", nan_policy: str = "raise",
                 **kwargs: Any) -> None:
        kwargs.setdefault("independent_vars", ["x"])
        super().__init__(func, prefix=prefix, nan_policy=nan_policy, **kwargs)

    def symbolic(self) -> sympy.Expr:
        """The model as a sympy expression of its (prefixed) parameter and input symbols."""
        raise NotImplementedError  # pragma: no cover - every registered form implements it

    def spec(self) -> str:
        """The term of :func:`parse_form` that builds this form (``"polynomial:3"``)."""
        return self.form if self.option is None else f"{self.form}:{getattr(self, self.option)}"

    def _p(self, base: str) -> sympy.Symbol:
        """Symbol of parameter ``base`` (prefix added)."""
        return sympy.Symbol(self.prefix + base, real=True)

    @property
    def x(self) -> sympy.Symbol:
        """Symbol of the independent variable."""
        return sympy.Symbol(self.independent_vars[0], real=True)

    def start(self, values: dict[str, float], **kwargs: Any) -> Parameters:
        """Parameters with the guessed ``values``, overridden by ``kwargs`` (lmfit convention)."""
        return update_param_vals(self.make_params(**values), self.prefix, **kwargs)


def _data(data: np.ndarray, x: np.ndarray | None, form: str) -> tuple[np.ndarray, np.ndarray]:
    if x is None:
        raise ValueError(f"{form}.guess needs the independent variable: guess(data, x=...).")
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(data, dtype=float).ravel()
    if x.size != y.size or x.size < 2:
        raise ValueError(f"{form}.guess needs x and data of the same length >= 2, got {x.size} and {y.size}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{form}.guess: x or data holds NaN/inf values; remove them first.")
    return x, y


def _linear_grid(x: np.ndarray, y: np.ndarray, basis: Callable[..., np.ndarray],
                 grid: list[tuple[float, ...]]) -> tuple[tuple[float, ...], float, float]:
    """Best ``(grid point, amplitude, offset)`` of ``y ≈ amplitude·basis(x, *point) + offset``."""
    best = (grid[0], 0.0, float(np.mean(y)), np.inf)
    with np.errstate(all="ignore"):
        for point in grid:
            b = basis(x, *point)
            db = b - b.mean()
            var = float(np.dot(db, db))
            if not np.isfinite(var) or var <= 1e-300:
                continue
            amp = float(np.dot(db, y - y.mean()) / var)
            off = float(y.mean() - amp * b.mean())
            sse = float(np.sum((y - amp * b - off) ** 2))
            if np.isfinite(sse) and sse < best[3]:
                best = (point, amp, off, sse)
    return best[0], best[1], best[2]


def _span(x: np.ndarray) -> float:
    span = float(np.ptp(x))
    return span if span > 0 else 1.0


def _rates(x: np.ndarray, signed: bool = False) -> np.ndarray:
    """Rates from 0.1 to 300 per x span (and their negatives when ``signed``)."""
    rates = np.logspace(-1, 2.5, 36) / _span(x)
    return np.concatenate([-rates[::-1], rates]) if signed else rates


def _centers(x: np.ndarray) -> np.ndarray:
    span = _span(x)
    return np.linspace(x.min() - 0.25 * span, x.max() + 0.25 * span, 31)


@register_form
class Polynomial(Form):
    """``c0 + c1·x + … + c_n·x**n`` of order ``degree`` (0 … 7); guessed by linear least squares."""

    form = "polynomial"
    option = "degree"

    def __init__(self, degree: int = 2, **kwargs: Any) -> None:
        if isinstance(degree, bool) or not isinstance(degree, int) or not 0 <= degree <= lineshapes.MAX_DEGREE:
            raise ValueError(f"polynomial degree must be a whole number 0 … {lineshapes.MAX_DEGREE}, got {degree!r}.")
        self.degree = degree
        super().__init__(lineshapes.polynomial, param_names=[f"c{i}" for i in range(degree + 1)], **kwargs)

    def guess(self, data: np.ndarray, x: np.ndarray | None = None, **kwargs: Any) -> Parameters:
        x, y = _data(data, x, self.form)
        coef = np.polynomial.polynomial.polyfit(x, y, self.degree)
        return self.start({f"c{i}": float(c) for i, c in enumerate(coef)}, **kwargs)

    def symbolic(self) -> sympy.Expr:
        return sum((self._p(f"c{i}") * self.x ** i for i in range(self.degree + 1)), sympy.Integer(0))


@register_form
class SaturatingExponential(Form):
    """``amplitude·(1 − exp(−rate·x)) + offset``."""

    form = "saturating_exponential"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lineshapes.saturating_exponential, **kwargs)

    def guess(self, data: np.ndarray, x: np.ndarray | None = None, **kwargs: Any) -> Parameters:
        x, y = _data(data, x, self.form)
        (rate,), amp, off = _linear_grid(x, y, lambda x, r: 1 - np.exp(-r * x), [(r,) for r in _rates(x, True)])
        return self.start({"amplitude": amp, "rate": rate, "offset": off}, **kwargs)

    def symbolic(self) -> sympy.Expr:
        return self._p("amplitude") * (1 - sympy.exp(-self._p("rate") * self.x)) + self._p("offset")


@register_form
class Tanh(Form):
    """``amplitude·tanh(rate·(x − center)) + offset``."""

    form = "tanh"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lineshapes.tanh, **kwargs)

    def guess(self, data: np.ndarray, x: np.ndarray | None = None, **kwargs: Any) -> Parameters:
        x, y = _data(data, x, self.form)
        grid = [(r, c) for r in _rates(x) for c in _centers(x)]
        (rate, center), amp, off = _linear_grid(x, y, lambda x, r, c: np.tanh(r * (x - c)), grid)
        return self.start({"amplitude": amp, "rate": rate, "center": center, "offset": off}, **kwargs)

    def symbolic(self) -> sympy.Expr:
        return self._p("amplitude") * sympy.tanh(self._p("rate") * (self.x - self._p("center"))) + self._p("offset")


@register_form
class PowerLaw(Form):
    """``amplitude·x**exponent + offset`` (x > 0)."""

    form = "power_law"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lineshapes.power_law, **kwargs)

    def guess(self, data: np.ndarray, x: np.ndarray | None = None, **kwargs: Any) -> Parameters:
        x, y = _data(data, x, self.form)
        if np.any(x < 0):
            raise ValueError(f"power_law needs x >= 0, got min(x) = {float(x.min())!r}; shift or flip x first.")
        exponents = [e for e in np.round(np.linspace(-3.0, 4.0, 141), 6) if e != 0.0]
        (exponent,), amp, off = _linear_grid(x, y, lambda x, e: x ** e, [(e,) for e in exponents])
        return self.start({"amplitude": amp, "exponent": exponent, "offset": off}, **kwargs)

    def symbolic(self) -> sympy.Expr:
        return self._p("amplitude") * self.x ** self._p("exponent") + self._p("offset")


@register_form
class Logistic(Form):
    """``amplitude / (1 + exp(−rate·(x − center))) + offset``."""

    form = "logistic"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lineshapes.logistic, **kwargs)

    def guess(self, data: np.ndarray, x: np.ndarray | None = None, **kwargs: Any) -> Parameters:
        x, y = _data(data, x, self.form)
        grid = [(r, c) for r in _rates(x) for c in _centers(x)]
        (rate, center), amp, off = _linear_grid(x, y, lambda x, r, c: 1 / (1 + np.exp(-r * (x - c))), grid)
        return self.start({"amplitude": amp, "rate": rate, "center": center, "offset": off}, **kwargs)

    def symbolic(self) -> sympy.Expr:
        return (self._p("amplitude") / (1 + sympy.exp(-self._p("rate") * (self.x - self._p("center"))))
                + self._p("offset"))


@register_form
class PiecewiseLinear(Form):
    """Continuous piecewise-linear with ``breaks`` (1 … 5) breakpoints, slope ``slope_k`` right of ``break_k``.

    Guess: breaks at equal-count quantiles of x, slopes by linear least squares.
    """

    form = "piecewise_linear"
    option = "breaks"

    def __init__(self, breaks: int = 1, **kwargs: Any) -> None:
        if isinstance(breaks, bool) or not isinstance(breaks, int) or not 1 <= breaks <= lineshapes.MAX_BREAKS:
            raise ValueError(f"piecewise_linear needs 1 … {lineshapes.MAX_BREAKS} breaks, got {breaks!r}.")
        self.breaks = breaks
        names = ["intercept", "slope0"] + [f"{p}{k}" for k in range(1, breaks + 1) for p in ("break", "slope")]
        super().__init__(lineshapes.piecewise_linear, param_names=names, **kwargs)

    def guess(self, data: np.ndarray, x: np.ndarray | None = None, **kwargs: Any) -> Parameters:
        x, y = _data(data, x, self.form)
        breaks = np.quantile(x, np.arange(1, self.breaks + 1) / (self.breaks + 1))
        design = np.column_stack([np.ones_like(x), x, *(np.maximum(x - b, 0.0) for b in breaks)])
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        slopes = np.cumsum(coef[1:])
        values = {"intercept": float(coef[0]), "slope0": float(slopes[0])}
        for k, b in enumerate(breaks, start=1):
            values.update({f"break{k}": float(b), f"slope{k}": float(slopes[k])})
        return self.start(values, **kwargs)

    def symbolic(self) -> sympy.Expr:
        expr = self._p("intercept") + self._p("slope0") * self.x
        for k in range(1, self.breaks + 1):
            expr += (self._p(f"slope{k}") - self._p(f"slope{k - 1}")) * sympy.Max(self.x - self._p(f"break{k}"), 0)
        return expr


@register_form
class Sinh(Form):
    """``amplitude·sinh(rate·x) + offset``."""

    form = "sinh"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lineshapes.sinh, **kwargs)

    def guess(self, data: np.ndarray, x: np.ndarray | None = None, **kwargs: Any) -> Parameters:
        x, y = _data(data, x, self.form)
        scale = float(np.max(np.abs(x))) or 1.0
        rates = np.logspace(-2, 2.5, 46) / scale
        (rate,), amp, off = _linear_grid(x, y, lambda x, r: np.sinh(r * x), [(r,) for r in rates])
        return self.start({"amplitude": amp, "rate": rate, "offset": off}, **kwargs)

    def symbolic(self) -> sympy.Expr:
        return self._p("amplitude") * sympy.sinh(self._p("rate") * self.x) + self._p("offset")


# ----------------------------------------------------------------------------- composition

_TERM = re.compile(r"^([a-z_]+)(?::(\d+))?$")


def make_form(term: str, prefix: str = "") -> Form:
    """One registered form from a term ``name`` or ``name:option`` (``"polynomial:3"``).

    Raises
    ------
    ValueError
        For an unknown name or a malformed term; the message lists the registered forms.
    """
    match = _TERM.match(term.strip())
    if not match or match.group(1) not in FORMS:
        raise ValueError(f"unknown form {term.strip()!r}; choose one of {', '.join(sorted(FORMS))} "
                         "(options as name:N, e.g. polynomial:3, piecewise_linear:2).")
    cls = FORMS[match.group(1)]
    if match.group(2) is None:
        return cls(prefix=prefix)
    if cls.option is None:
        raise ValueError(f"form {cls.form!r} takes no option, got {term.strip()!r}.")
    return cls(**{cls.option: int(match.group(2))}, prefix=prefix)


def parse_form(spec: str) -> Model:
    """Build a form, or a sum of products of forms, from text.

    ``"tanh"`` → :class:`Tanh`; ``"polynomial:3"`` → cubic; ``"tanh + polynomial:1"`` or
    ``"saturating_exponential * polynomial:1"`` → lmfit ``CompositeModel`` (``*`` binds tighter
    than ``+``). In a compound, each term's parameters get the prefix ``<name>_`` (``<name>2_`` …
    for repeats).

    Examples
    --------
    >>> parse_form("tanh + polynomial:1").param_names
    ['tanh_amplitude', 'tanh_rate', 'tanh_center', 'tanh_offset', 'polynomial_c0', 'polynomial_c1']
    """
    sums = [[t for t in part.split("*")] for part in spec.split("+")]
    terms = [t.strip() for part in sums for t in part]
    if len(terms) == 1:
        return make_form(terms[0])
    seen: dict[str, int] = {}
    models = []
    for part in sums:
        factors = []
        for term in part:
            name = term.strip().split(":")[0]
            seen[name] = seen.get(name, 0) + 1
            factors.append(make_form(term, prefix=f"{name}{seen[name] if seen[name] > 1 else ''}_"))
        product = factors[0]
        for factor in factors[1:]:
            product = product * factor
        models.append(product)
    total = models[0]
    for model in models[1:]:
        total = total + model
    return total


def format_spec(model: Model) -> str:
    """The :func:`parse_form`-style text of a form or compound (any form: ``SympyForm`` gives ``sympy``)."""
    if isinstance(model, CompositeModel):
        return f"({format_spec(model.left)} {_OPS[model.op]} {format_spec(model.right)})"
    if isinstance(model, Form):
        return model.spec()
    raise ValueError(f"{model!r} is not a spicegen form; build models from fitting.forms.FORMS or SympyForm.")


_OPS = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/"}


def guess(model: Model, data: np.ndarray, **independent: np.ndarray) -> Parameters:
    """Starting values for a form or a compound of forms.

    A sum guesses its left part on the data and its right part on what is left; a product
    guesses the right part on data / left part. Forms without a data-driven guess (``SympyForm``)
    start from their parameter defaults.
    """
    if isinstance(model, Form):
        return model.guess(data, **independent)
    if not isinstance(model, CompositeModel) or model.op not in _OPS:
        raise ValueError(f"cannot guess {model!r}: combine spicegen forms with + - * / only.")
    left = guess(model.left, data, **independent)
    left_values = np.asarray(model.left.eval(left, **independent), dtype=float)
    with np.errstate(all="ignore"):
        rest = {operator.add: data - left_values, operator.sub: left_values - data,
                operator.mul: data / left_values, operator.truediv: left_values / data}[model.op]
    rest = np.where(np.isfinite(rest), rest, 0.0)
    params = left.copy()
    params.update(guess(model.right, rest, **independent))
    return params


# ----------------------------------------------------------------------------- expression text

class SurrogatePrinter(NumpyExprPrinter):
    """Strict NumPy printer into the surrogate expression language (:mod:`fitting.expression`)."""

    _default_settings = dict(NumpyExprPrinter._default_settings, strict=True)

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return f"numpy.abs({self._print(expr.args[0])})"

    def _print_And(self, expr: sympy.And) -> str:
        return self._print_nested("logical_and", expr.args)

    def _print_Or(self, expr: sympy.Or) -> str:
        return self._print_nested("logical_or", expr.args)

    def _print_Not(self, expr: sympy.Not) -> str:
        return f"numpy.logical_not({self._print(expr.args[0])})"


def to_sympy(model: Model) -> sympy.Expr:
    """The sympy expression of a form or a ``+ - * /`` compound of forms."""
    if isinstance(model, CompositeModel):
        if model.op not in _OPS:
            raise ValueError(f"compound operator {model.op!r} is not supported; use + - * /.")
        return model.op(to_sympy(model.left), to_sympy(model.right))
    if isinstance(model, Form):
        return model.symbolic()
    raise ValueError(f"{model!r} is not a spicegen form; build models from fitting.forms.FORMS or SympyForm.")


def format_expression(model: Model, rename: Mapping[str, str] | None = None) -> str:
    """The surrogate formula of ``model``, checked against the expression language.

    Parameters
    ----------
    model
        A form or compound of forms.
    rename
        Independent-variable name → name to print instead (``{"x": "vin"}``).

    Raises
    ------
    ExpressionError, PrintMethodNotImplementedError
        If the expression uses a function the surrogate renderings do not support.
    """
    rename = dict(rename or {})
    expr = to_sympy(model).subs({sympy.Symbol(k, real=True): sympy.Symbol(v, real=True) for k, v in rename.items()},
                                simultaneous=True)
    text = SurrogatePrinter().doprint(expr)
    parse(text, set(model.param_names) | {rename.get(k, k) for k in model.independent_vars})
    return text
