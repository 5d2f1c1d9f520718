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
        Naming the first construct or name that is not allowed.
    """
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"expression {text!r} is not valid Python syntax: {exc.msg}.") from None
    _check(tree.body, text, names)
    return tree


def _check(node: ast.AST, text: str, names: Set[str]) -> None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, OPERATORS):
        _check(node.left, text, names)
        _check(node.right, text, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, text, names)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        pass
    elif isinstance(node, ast.Name):
        if node.id not in names:
            raise ExpressionError(f"expression {text!r} uses the unknown name {node.id!r}; "
                                  f"it may use {sorted(names)}.")
    elif _numpy_attr(node) in CONSTANTS:
        pass
    elif isinstance(node, ast.Call) and _numpy_attr(node.func) in FUNCTIONS and not node.keywords:
        name = _numpy_attr(node.func)
        if len(node.args) != FUNCTIONS[name]:
            raise ExpressionError(f"numpy.{name} takes {FUNCTIONS[name]} argument(s), got {len(node.args)} "
                                  f"in {text!r}.")
        for arg in node.args:
            _check(arg, text, names)
    else:
        raise ExpressionError(f"unsupported construct {ast.unparse(node)!r} ({type(node).__name__}) in expression "
                              f"{text!r}; allowed: + - * / **, numbers, {sorted(names)}, numpy."
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
