"""Verilog-A expression printer.

Differences from the shared infix rules: ``ln`` is the natural log (``log`` is base 10
in Verilog-A) and every number prints as a real literal, so ``1/2`` can never become an
integer division.
"""
from __future__ import annotations

from typing import Mapping

import sympy

from spicegen.printing import InfixPrinter


class VerilogAPrinter(InfixPrinter):
    """Strict Verilog-A (OpenVAF) expression printer."""

    language = "Verilog-A"


def va_expr(expr: sympy.Expr, symbols: Mapping[sympy.Symbol, str] | None = None) -> str:
    """Print ``expr`` as a Verilog-A expression.

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> va_expr(sp.log(x) / 2)
    '0.5*ln(x)'
    """
    return VerilogAPrinter({"symbols": dict(symbols or {})}).doprint(expr)
