"""Expression printers shared by the infix targets (ngspice B-sources, Verilog-A).

Both languages read C-like infix expressions with one-line ternaries, so one base
class holds the common rules and each target overrides a handful of methods
(sympy's own pattern: one ``_print_<Class>`` per construct, one subclass per language).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import sympy
from sympy.printing.c import C99CodePrinter
from sympy.printing.precedence import PRECEDENCE

from .naming import format_number, is_identifier

#: Numbers no target can print as a real literal.
_NOT_REAL = (sympy.nan, sympy.oo, -sympy.oo, sympy.zoo, sympy.I)


def checked_expression(expr: Any, context: str) -> sympy.Basic:
    """``expr`` as a sympy object whose every number is a finite real double, else raise.

    Text is refused rather than handed to ``sympify``, which would evaluate it as Python.

    Parameters
    ----------
    expr
        A sympy expression or a plain number.
    context
        What is being checked, for the message (``"Verilog-A printer"``, ``"device 'x': current ('p',)"``).

    Raises
    ------
    ValueError
        If ``expr`` is a string or not convertible to a sympy object without evaluating code, or
        if it contains ``nan``, an infinity, ``zoo``, the imaginary unit or a number
        beyond the double range; the message names the number and the expression.
    """
    if isinstance(expr, str):
        raise ValueError(f"{context}: got the string {expr[:80]!r}; pass a sympy expression built from symbols "
                        "(a string would be evaluated as Python by sympify).")
    try:
        expr = sympy.sympify(expr, strict=True)
    except sympy.SympifyError:
        raise ValueError(f"{context}: cannot use a {type(expr).__name__}; pass a sympy expression or a number.") from None
    for atom in expr.atoms():
        if atom in _NOT_REAL or (atom.is_Number and not _is_double(atom)):
            raise ValueError(f"{context}: {atom} in {_short(expr)} is not a finite real number, and every target "
                             "prints finite real literals only (bound the expression with Min/Max or Piecewise).")
    return expr


def _is_double(number: sympy.Number) -> bool:
    try:
        return math.isfinite(float(number))
    except OverflowError:  # an Integer beyond the double range
        return False


def _short(expr: Any, limit: int = 200) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[:limit] + " ..."


def check_symbol_name(expr: sympy.Symbol, target: str) -> str:
    """Name of an unmapped symbol if it is a plain identifier, else raise naming it."""
    if not is_identifier(expr.name):
        raise ValueError(f"{target} printer: symbol name {expr.name[:80]!r} is not an identifier; "
                         "map it to target text with the 'symbols' setting or rename it.")
    return expr.name

#: Integer powers up to this magnitude print as products (exact for negative bases).
MAX_EXPANDED_POWER = 4


@functools.lru_cache(maxsize=256)
def _floated(expr: sympy.Basic) -> sympy.Basic:
    """``expr`` with every non-integer rational as a float, the form the infix printers print."""
    return expr.xreplace({r: sympy.Float(r) for r in expr.atoms(sympy.Rational) if not r.is_integer})


class InfixPrinter(C99CodePrinter):
    """Strict one-line infix printer; subclasses set the language's names.

    Settings
    --------
    symbols : mapping of sympy.Symbol to str
        Text to print for each symbol (node voltages, states, temperature). Symbols not in
        the mapping print as their name.
    """

    language = "infix"
    _default_settings: dict[str, Any] = dict(C99CodePrinter._default_settings, symbols={}, strict=True)
    known_functions: dict[str, str] = {
        "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "sin": "sin", "cos": "cos", "tan": "tan",
        "asin": "asin", "acos": "acos", "atan": "atan", "atan2": "atan2", "asinh": "asinh", "acosh": "acosh",
        "atanh": "atanh",
        "floor": "floor", "ceiling": "ceil", "exp": "exp", "sqrt": "sqrt",
    }
    #: name of the natural logarithm
    ln_name = "ln"

    def __init__(self, settings: Mapping[str, Any] | None = None):
        super().__init__(dict(settings or {}))
        self.known_functions = dict(type(self).known_functions)

    def doprint(self, expr: Any, assign_to: Any = None) -> str:  # one expression, one line
        expr = checked_expression(expr, f"{self.language} printer")
        try:
            return self._print(_floated(expr))
        except NotImplementedError as exc:  # a construct sympy's C printer refuses before reaching emptyPrinter
            raise ValueError(f"{str(exc).splitlines()[0]} in {_short(expr)}. Express it with elementary functions, "
                             "Piecewise, Min/Max or Abs.") from None

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        if expr in self._settings["symbols"]:
            return self._settings["symbols"][expr]
        return check_symbol_name(expr, self.language)

    def _print_Float(self, expr: sympy.Float) -> str:
        return format_number(float(expr))

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return format_number(float(expr))

    _print_Rational = _print_Float

    def _print_Exp1(self, expr: Any) -> str:
        return format_number(float(expr))

    _print_Pi = _print_Exp1

    def _print_Pow(self, expr: sympy.Pow) -> str:
        base, exponent = expr.args
        if exponent.is_integer and abs(int(exponent)) <= MAX_EXPANDED_POWER and exponent != 0:
            product = "*".join([self.parenthesize(base, PRECEDENCE["Pow"])] * abs(int(exponent)))
            return f"({product})" if exponent > 0 else f"(1.0/({product}))"
        if exponent.is_number and float(exponent) == 0.5:
            return f"sqrt({self._print(base)})"
        return f"pow({self._print(base)}, {self._print(exponent)})"

    def _print_log(self, expr: sympy.log) -> str:
        return f"{self.ln_name}({self._print(expr.args[0])})"

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return f"abs({self._print(expr.args[0])})"

    def _print_nested(self, name: str, args: tuple) -> str:
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"{name}({text}, {self._print(arg)})"
        return text

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._print_nested("min", expr.args)

    def _print_Max(self, expr: sympy.Max) -> str:
        return self._print_nested("max", expr.args)

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        if expr.args[-1].cond != True:  # noqa: E712 - sympy true
            raise ValueError(f"Piecewise needs a final 'True' branch to print as a ternary: {expr}")
        text = self._print(expr.args[-1].expr)
        for arg in reversed(expr.args[:-1]):
            text = f"(({self._print(arg.cond)}) ? ({self._print(arg.expr)}) : ({text}))"
        return text

    def _print_sign(self, expr: sympy.sign) -> str:
        x = self._print(expr.args[0])
        return f"(({x} > 0.0) ? 1.0 : (({x} < 0.0) ? -1.0 : 0.0))"

    def _print_Heaviside(self, expr: Any) -> str:
        x = self._print(expr.args[0])
        at_zero = self._print(expr.args[1]) if len(expr.args) > 1 else "0.5"
        return f"(({x} > 0.0) ? 1.0 : (({x} < 0.0) ? 0.0 : {at_zero}))"

    def _print_Relational(self, expr: Any) -> str:
        return f"{self.parenthesize(expr.lhs, 40)} {expr.rel_op} {self.parenthesize(expr.rhs, 40)}"

    def _print_And(self, expr: Any) -> str:
        return " && ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr: Any) -> str:
        return " || ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Not(self, expr: Any) -> str:
        return f"!({self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr: Any) -> str:
        return "1"

    def _print_BooleanFalse(self, expr: Any) -> str:
        return "0"

    def _print_Function(self, expr: Any) -> str:
        name = expr.func.__name__
        if name in self.known_functions:
            return f"{self.known_functions[name]}({', '.join(self._print(a) for a in expr.args)})"
        raise ValueError(
            f"Unsupported by {type(self).__name__}: function {name!r} in {expr}. Rewrite it with "
            f"supported functions ({', '.join(sorted(self.known_functions))}, ln, pow, abs, min, max, Piecewise)."
        )

    def _print_math_func(self, expr: Any, nest: bool = False, known: Any = None) -> str:
        return self._print_Function(expr)

    def emptyPrinter(self, expr: Any) -> str:
        raise ValueError(
            f"Unsupported by {type(self).__name__}: {type(expr).__name__} ({expr}). "
            "Express it with elementary functions, Piecewise, Min/Max or Abs."
        )

    def _print_not_supported(self, expr: Any) -> str:
        return self.emptyPrinter(expr)


#: ngspice 46 adds this to every B-source denominator that is not a constant (``PTdivide`` in
#: src/spicelib/parser/ptfuncs.c: ``gmin * 1e-20``, with the default gmin 1e-12).
NGSPICE_DIVISION_FUDGE = 1e-32
#: The twin prints a quotient ``a/b`` as ``a*2^64/(b*2^64)``: multiplying by a power of two is exact,
#: so the quotient is that of ``a/b``, and ngspice's fudge acts on ``b`` as 1e-32/2^64 = 5.4e-52
#: instead of 1e-32, which changes any ``b`` below 1e-26 by more than 1e-6. (``2^64`` is evaluated by
#: ngspice; a literal would not do: ngspice reprints every B-source number with 11 digits.)
DIVISION_SCALE = 2.0**64
_DIVISION_SCALE_TEXT = "2^64"


def quotient(expr: sympy.Basic) -> tuple[sympy.Expr, sympy.Expr] | None:
    """``(numerator, denominator)`` of an expression the infix printers print as a quotient, else ``None``.

    A product prints its factors with a negative rational exponent below the ``/`` (sympy's C
    printer); a lone power with a negative integer exponent up to :data:`MAX_EXPANDED_POWER` prints
    as ``1/(b*b...)``. Other negative powers print as ``pow``, which ngspice does not fudge.
    """
    if expr.is_Mul:
        below = [f for f in expr.args if f.is_commutative and f.is_Pow and f.exp.is_Rational and f.exp.is_negative]
        if below:
            above = [f for f in expr.args if f not in below]
            return sympy.Mul(*above), sympy.Mul(*[sympy.Pow(f.base, -f.exp) for f in below])
    if (expr.is_Pow and expr.exp.is_integer and expr.exp.is_negative
            and abs(int(expr.exp)) <= MAX_EXPANDED_POWER):
        return sympy.Integer(1), sympy.Pow(expr.base, -expr.exp)
    return None


def printed_denominators(expr: sympy.Basic) -> list[sympy.Expr]:
    """Every denominator the ngspice twin prints for ``expr``, in the order sympy holds its terms.

    Examples
    --------
    >>> import sympy as sp
    >>> x, y, z = sp.symbols("x y z", positive=True)
    >>> printed_denominators(x / (y * z) + sp.sqrt(x) / y**2)
    [y**2, y*z]
    """

    def walk(e: sympy.Basic) -> list[sympy.Expr]:
        parts = quotient(e)
        return ([parts[1]] if parts else []) + [d for arg in (parts or e.args) for d in walk(arg)]

    return walk(_floated(expr))


def with_division_fudge(expr: sympy.Basic, fudge: float) -> sympy.Basic:
    """``expr`` as ngspice evaluates its twin text: each printed denominator ``b`` becomes ``b ± fudge``.

    The sign follows ``b`` (``+`` at ``b = 0``), as in ngspice's ``PTdivide``. Pass
    ``NGSPICE_DIVISION_FUDGE / DIVISION_SCALE`` for the twin as printed.
    """

    def walk(e: sympy.Basic) -> sympy.Basic:
        parts = quotient(e)
        if parts is not None:
            numerator, denominator = (walk(part) for part in parts)
            return numerator / (denominator + sympy.Piecewise((fudge, denominator >= 0), (-fudge, True)))
        args = tuple(walk(arg) for arg in e.args)
        if args == e.args:
            return e
        with sympy.evaluate(False):  # a numeric model: sympy's canonical Min/Max would cost seconds
            return e.func(*args)

    return walk(_floated(expr))


class SpicePrinter(InfixPrinter):
    """ngspice B-source expression printer (``ln`` is the natural log, ``temper`` in °C).

    Quotients print as ``a*2^64/(b*2^64)`` (:data:`DIVISION_SCALE`): ngspice adds 1e-32 to every
    denominator, which silently changes a denominator below 1e-26 (``k_B*t_ox*T`` with ``k_B`` a
    parameter is 5e-29) by more than 1e-6; scaled, the same change needs ``b`` < 5e-46.
    """

    language = "ngspice"
    known_functions = {name: text for name, text in InfixPrinter.known_functions.items() if name != "atan2"}

    def _print_atan2(self, expr: Any) -> str:  # ngspice 46 stops with "fatal error" on atan2 in a B-source
        raise ValueError(f"Unsupported by {type(self).__name__}: function 'atan2' in {expr} (ngspice B-sources have "
                         "no atan2). Write the quadrant you need with atan and Piecewise, e.g. atan(y/x) for x > 0.")

    def _print_Mul(self, expr: sympy.Mul) -> str:
        parts = quotient(expr)
        return super()._print_Mul(expr) if parts is None else self._print_quotient(*parts)

    def _print_Pow(self, expr: sympy.Pow) -> str:
        parts = quotient(expr)
        if parts is not None:
            return f"({self._print_quotient(*parts)})"
        base, exponent = expr.args
        if exponent.is_integer and exponent < -MAX_EXPANDED_POWER:  # pow(0, -n) stops the first iterate
            return f"({self._print_quotient(sympy.Integer(1), sympy.Pow(base, -exponent, evaluate=False))})"
        if exponent.is_integer and exponent.is_odd and exponent > MAX_EXPANDED_POWER:
            # ngspice's pow(x, n) is pow(|x|, n): the sign of an odd power comes back through sgn
            return f"(sgn({self._print(base)})*{super()._print_Pow(expr)})"
        return super()._print_Pow(expr)

    def _print_quotient(self, numerator: sympy.Expr, denominator: sympy.Expr) -> str:
        if numerator.as_coeff_Mul()[0] < 0:
            return "-" + self._print_quotient(-numerator, denominator)
        scale = _DIVISION_SCALE_TEXT
        top = scale if numerator == 1 else f"{self.parenthesize(numerator, PRECEDENCE['Mul'], strict=True)}*{scale}"
        return f"{top}/({self.parenthesize(denominator, PRECEDENCE['Mul'], strict=True)}*{scale})"


def spice_expr(expr: sympy.Expr, symbols: Mapping[sympy.Symbol, str] | None = None) -> str:
    """Print ``expr`` as an ngspice B-source expression.

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> spice_expr(sp.log(x) + x**2)
    '(x*x) + ln(x)'
    """
    return SpicePrinter({"symbols": dict(symbols or {})}).doprint(expr)


def _route_c_math_to_function_table() -> None:
    """C99CodePrinter binds a ``_print_<fn>`` per C math function; send them all through our table."""
    from sympy.printing.c import known_functions_C99

    for name in set(known_functions_C99) | {"Sqrt", "Cbrt", "erf", "gamma", "loggamma"}:
        if f"_print_{name}" not in InfixPrinter.__dict__:
            setattr(InfixPrinter, f"_print_{name}", InfixPrinter._print_Function)


_route_c_math_to_function_table()
