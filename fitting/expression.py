"""The surrogate expression language: a small, checked subset of numpy expressions.

A surrogate stores its formula as text such as ``"a*numpy.tanh(b*x) + c"``, printed once by
sympy's NumPy printer (:mod:`fitting.forms`). Every consumer parses it with :func:`parse`, which
accepts only arithmetic, number literals, the surrogate's own names and the numpy functions
listed in :data:`FUNCTIONS`; anything else raises and names itself. The same checked tree is
evaluated in the package, pasted into the standalone numpy module, translated to torch and
built into an ONNX graph, so all renderings compute the same formula. Loading a surrogate file
therefore never executes arbitrary code.

This module imports only numpy.

>>> tree = parse("a*numpy.tanh(b*x)", names={"a", "b", "x"})
>>> float(evaluate(tree, {"a": 2.0, "b": 1.0, "x": 0.5}))
0.9242343145200195
"""
from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping, Set

import numpy as np

FUNCTIONS: dict[str, int] = {
    "exp": 1, "log": 1, "sqrt": 1, "tanh": 1, "sinh": 1, "cosh": 1, "sin": 1, "cos": 1, "arctan": 1,
    "sign": 1, "abs": 1, "logical_not": 1,
    "maximum": 2, "minimum": 2, "greater": 2, "greater_equal": 2, "less": 2, "less_equal": 2,
    "logical_and": 2, "logical_or": 2,
    "where": 3,
}
"""numpy function name → number of arguments, for every function an expression may call."""
CONSTANTS: dict[str, float] = {"pi": float(np.pi), "e": float(np.e)}
"""``numpy.<name>`` constants an expression may use."""
OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
"""Binary operators an expression may use."""
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.Pow: operator.pow}
MAX_LENGTH = 100_000
"""Longest expression text accepted, in characters (checked before parsing)."""
MAX_DEPTH = 200
"""Deepest nesting of operations accepted (a sum of n terms nests n deep); Python's own recursion
limits lie beyond it, so a deeper expression is refused with a message instead of a RecursionError."""
MAX_EXPONENT = 1024
"""Largest magnitude of an exponent made of number literals only (``x**2``, ``9**9**9``): Python
evaluates integer powers exactly, so an unbounded one can run for hours."""


class ExpressionError(ValueError):
    """An expression uses something outside the surrogate expression language."""


def parse(text: str, names: Set[str]) -> ast.Expression:
    """Parse ``text`` and check it uses only the allowed constructs and ``names``.

    Parameters
    ----------
    text
        The expression, e.g. ``"c0 + c1*x"``.
    names
        Variable names it may use (inputs and parameters).

    Returns
    -------
    ast.Expression
        The checked syntax tree.

    Raises
    ------
    ExpressionError
        Naming the first construct or name that is not allowed, or the size limit exceeded
        (:data:`MAX_LENGTH`, :data:`MAX_DEPTH`, :data:`MAX_EXPONENT`).
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}.")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression {_short(text)} has {len(text)} characters, more than the {MAX_LENGTH} "
                              "accepted; fit a form with fewer terms (or fewer bins).")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"expression {_short(text)} is not valid Python syntax: {exc.msg}.") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"expression {_short(text)} nests more than {MAX_DEPTH} operations deep; fit a form "
                              "with fewer terms (or fewer bins).") from None
    _check_depth(tree.body, text)
    _check(tree.body, text, names)
    return tree


def _short(text: str, limit: int = 80) -> str:
    """``repr(text)`` cut to ``limit`` characters, so a huge expression is not echoed whole."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else f"{quoted[:limit]}... ({len(text)} characters)"


def _check_depth(root: ast.AST, text: str) -> None:
    """Refuse a tree deeper than :data:`MAX_DEPTH`, without recursing (the check must not hit the limit it guards)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression {_short(text)} nests more than {MAX_DEPTH} operations deep; fit a "
                                  "form with fewer terms (or fewer bins).")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _literal_value(node: ast.AST) -> float | None:
    """The value of a subtree made of number literals and arithmetic only (in floats), else None.

    Raises OverflowError for a value beyond the float range.
    """
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal_value(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, OPERATORS):
        left, right = _literal_value(node.left), _literal_value(node.right)
        if left is None or right is None:
            return None
        try:
            return _ARITHMETIC[type(node.op)](left, right)
        except ZeroDivisionError:
            return float("nan")
    return None


def _bounded_value(node: ast.AST) -> float | None:
    """:func:`_literal_value`, infinite where it overflows."""
    try:
        return _literal_value(node)
    except OverflowError:
        return math.inf


def _check_power(node: ast.BinOp, text: str) -> None:
    """Refuse a constant exponent beyond :data:`MAX_EXPONENT` and a constant power beyond the float range.

    Python raises integer literals to integer powers exactly; with both bounds every such power
    stays below 2**1024 and takes microseconds.
    """
    exponent, value = _bounded_value(node.right), _bounded_value(node)
    if exponent is not None and not abs(exponent) <= MAX_EXPONENT:
        problem = f"raises to the power {ast.unparse(node.right)[:40]!r}, beyond the {MAX_EXPONENT} accepted"
    elif value is not None and not math.isfinite(abs(value)):
        problem = f"computes {ast.unparse(node)[:40]!r}, beyond the range of a float"
    else:
        return
    raise ExpressionError(f"expression {_short(text)} {problem} for a constant (evaluating it could run for "
                          "hours); use a smaller constant.")


def _check(node: ast.AST, text: str, names: Set[str]) -> None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, OPERATORS):
        if isinstance(node.op, ast.Pow):
            _check_power(node, text)
        _check(node.left, text, names)
        _check(node.right, text, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, text, names)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        pass
    elif isinstance(node, ast.Name):
        if node.id not in names:
            raise ExpressionError(f"expression {_short(text)} uses the unknown name {node.id!r}; "
                                  f"it may use {sorted(names)}.")
    elif _numpy_attr(node) in CONSTANTS:
        pass
    elif isinstance(node, ast.Call) and _numpy_attr(node.func) in FUNCTIONS and not node.keywords:
        name = _numpy_attr(node.func)
        if len(node.args) != FUNCTIONS[name]:
            raise ExpressionError(f"numpy.{name} takes {FUNCTIONS[name]} argument(s), got {len(node.args)} "
                                  f"in {_short(text)}.")
        for arg in node.args:
            _check(arg, text, names)
    else:
        raise ExpressionError(f"unsupported construct {ast.unparse(node)!r} ({type(node).__name__}) in expression "
                              f"{_short(text)}; allowed: + - * / **, numbers, {sorted(names)}, numpy."
                              f"{{{', '.join(sorted(FUNCTIONS))}}} and numpy.{{{', '.join(CONSTANTS)}}}.")


def _numpy_attr(node: ast.AST) -> str | None:
    """``name`` for a ``numpy.name`` attribute node, else None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "numpy":
        return node.attr
    return None


def substitute(text: str, name: str, replacement: str, names: Set[str]) -> str:
    """``text`` with every use of ``name`` replaced by the expression ``replacement`` (both checked).

    >>> substitute("a*x + x**2", "x", "numpy.maximum(x, 0.1)", {"a", "x"})
    'a * numpy.maximum(x, 0.1) + numpy.maximum(x, 0.1) ** 2'
    """
    tree = parse(text, names)
    inner = parse(replacement, names).body

    class Replace(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            return inner if node.id == name else node

    out = ast.unparse(Replace().visit(tree))
    parse(out, names)
    return out


def compile_expression(tree: ast.Expression) -> object:
    """Byte code of a checked tree, for :func:`evaluate`."""
    return compile(tree, "<surrogate expression>", "eval")


def evaluate(tree: ast.Expression | object, values: Mapping[str, object]) -> np.ndarray:
    """Evaluate a checked tree (or its :func:`compile_expression` code) with numpy.

    Parameters
    ----------
    tree
        From :func:`parse`.
    values
        Name → scalar or array for every name the expression uses.
    """
    code = compile_expression(tree) if isinstance(tree, ast.Expression) else tree
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.asarray(eval(code, {"__builtins__": {}, "numpy": np}, dict(values)), dtype=float)
