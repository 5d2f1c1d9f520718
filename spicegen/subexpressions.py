"""Common sub-expressions of a device's expressions, as named assignments for the emitters.

The author's names (:attr:`~spicegen.device.Equations.named`) and what sympy's ``cse`` finds
repeated become variables, the author's name where there is one, a generated one elsewhere. Every assignment is a sub-tree of the expressions it came
from (or, where sympy regroups a sum or product, the same terms in another order), so the
values equal the inlined expressions to rounding, and each assignment is made before its first
use: the emitted code keeps no value between evaluations.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import sympy

from .naming import NGSPICE_RESERVED, PYTHON_RESERVED, VERILOGA_RESERVED


class Assignments(NamedTuple):
    """Variables to compute in order, and the expressions written with them."""

    variables: list[tuple[sympy.Symbol, sympy.Expr]]
    """``(variable, expression)`` in evaluation order; an expression uses only earlier variables."""
    exprs: list[sympy.Expr]
    """The input expressions in terms of the variables."""


def generated_prefix(expr: sympy.Expr) -> str:
    """Prefix of a generated variable's name, from what its expression is.

    ``lexp`` for a limited exponential (the guard's ``Piecewise`` around ``exp``), ``exp`` for an
    exponential, ``t`` for anything else.
    """
    if isinstance(expr, sympy.Piecewise) and any(isinstance(arg.expr, sympy.exp) for arg in expr.args):
        return "lexp"
    if isinstance(expr, sympy.exp):
        return "exp"
    return "t"


class NameAllocator:
    """Hands out identifiers that are no target's reserved word and none of ``taken`` (case-insensitive)."""

    def __init__(self, taken: Iterable[str]):
        self._used = {n.lower() for n in taken} | VERILOGA_RESERVED | NGSPICE_RESERVED | {
            n.lower() for n in PYTHON_RESERVED}

    def take(self, name: str) -> str:
        """``name`` itself if free, else ``name_1``, ``name_2`` ...; the result is taken from now on."""
        candidates = itertools.chain([name], (f"{name}_{k}" for k in itertools.count(1)))
        return self.claim(candidates)

    def numbered(self, prefix: str) -> str:
        """The first free ``<prefix><k>`` (k = 0, 1, ...)."""
        return self.claim(f"{prefix}{k}" for k in itertools.count())

    def claim(self, candidates: Iterator[str]) -> str:
        for candidate in candidates:
            if candidate.lower() not in self._used:
                self._used.add(candidate.lower())
                return candidate
        raise AssertionError("unreachable: the candidates are endless")  # pragma: no cover


def common_subexpressions(exprs: Sequence[sympy.Expr], named: Mapping[str, sympy.Expr],
                          name: Callable[[sympy.Expr], str]) -> Assignments:
    """Assignments that compute ``exprs`` with each named and each repeated sub-expression once.

    Parameters
    ----------
    exprs
        The expressions to emit.
    named
        Variable name → sub-expression, used wherever the sub-expression occurs in ``exprs`` (as
        sympy's ``cse`` finds it: a whole sub-tree, or some of the terms of a sum or factors of a
        product); one that occurs nowhere is left out.
    name
        Gives each repeated sub-expression that has no name its variable name (it must be unique).

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> out = common_subexpressions([sp.exp(x) * y, sp.exp(x) + (x + y) ** 2], {"s": x + y}, lambda e: "t0")
    >>> out.variables
    [(s, x + y), (t0, exp(x))]
    >>> out.exprs
    [t0*y, s**2 + t0]
    """
    # each named sub-expression goes in as an expression of its own: occurring twice then, it is shared
    definitions = [e for e in named.values() if not e.is_Atom]
    shared, reduced = sympy.cse([*exprs, *definitions], symbols=_placeholders(), optimizations=None)
    names = {}
    for key, placeholder in zip((k for k, e in named.items() if not e.is_Atom), reduced[len(exprs):]):
        names.setdefault(placeholder, key)
    replaced: dict[sympy.Symbol, sympy.Expr] = {}
    author: dict[sympy.Symbol, sympy.Expr] = {}
    generated: dict[sympy.Expr, sympy.Symbol] = {}
    for placeholder, expr in shared:  # in dependency order
        expr = expr.xreplace(replaced)
        if placeholder in names:
            replaced[placeholder] = sympy.Symbol(names[placeholder], real=True)
            author[replaced[placeholder]] = expr
        elif _inline(expr):
            replaced[placeholder] = expr
        else:  # two may coincide once the inline ones are put back
            if expr not in generated:
                generated[expr] = sympy.Symbol(name(expr), real=True)
            replaced[placeholder] = generated[expr]
    exprs = [e.xreplace(replaced) for e in reduced[:len(exprs)]]
    ordered = {sympy.Symbol(k, real=True): None for k in named}  # the author's order first
    ordered.update(author)
    defined = {s: e for s, e in ordered.items() if e is not None} | {s: e for e, s in generated.items()}
    return Assignments(_in_order(exprs, defined), exprs)


def _inline(expr: sympy.Basic) -> bool:
    """Whether a repeated sub-expression stays inline: a condition (a variable holds a number) or a negated name."""
    if isinstance(expr, sympy.logic.boolalg.Boolean):
        return True
    return expr.is_Mul and len(expr.args) == 2 and expr.args[0] == -1 and expr.args[1].is_Atom


def _placeholders() -> Iterator[sympy.Symbol]:
    # a Dummy never equals a symbol of the expressions, whatever the user named them
    return (sympy.Dummy(f"cse{k}") for k in itertools.count())


def _in_order(exprs: Sequence[sympy.Expr], defined: Mapping[sympy.Symbol, sympy.Expr]
              ) -> list[tuple[sympy.Symbol, sympy.Expr]]:
    """The definitions ``exprs`` need, each after the ones it uses (depth first, in ``defined`` order)."""
    ordered: dict[sympy.Symbol, sympy.Expr] = {}

    def visit(symbol: sympy.Symbol) -> None:
        if symbol in ordered:
            return
        for used in sorted(defined[symbol].free_symbols & defined.keys(), key=list(defined).index):
            visit(used)
        ordered[symbol] = defined[symbol]

    needed = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
    closure = _needed(needed, defined)
    for symbol in defined:
        if symbol in closure:
            visit(symbol)
    return list(ordered.items())


def _needed(roots: set, defined: Mapping[sympy.Symbol, sympy.Expr]) -> set:
    """Defined symbols reachable from ``roots`` through the definitions."""
    seen, todo = set(), [s for s in roots if s in defined]
    while todo:
        symbol = todo.pop()
        if symbol not in seen:
            seen.add(symbol)
            todo += [s for s in defined[symbol].free_symbols if s in defined]
    return seen
