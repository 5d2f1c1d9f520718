"""A sympy expression with spicegen :class:`~spicegen.params.Param`\\ s as an lmfit model.

The model function's signature is the inputs then the parameters (lmfit's parameter schema);
each parameter starts at its ``Param`` default and is bounded by the ``Param`` bounds, so a
device's own expressions fit measured or simulated data without restating anything.

>>> import numpy as np, sympy as sp
>>> from spicegen import Param
>>> v = sp.Symbol("v", real=True)
>>> i0 = Param("i0", 1e-6, "A", "current scale", (0.0, 1.0))
>>> a = Param("a", 2.0, "1/V", "slope", (0.0, 50.0))
>>> model = SympyForm(i0.symbol * sp.sinh(a.symbol * v), inputs=[v], params=[i0, a])
>>> model.param_names, model.independent_vars
(['i0', 'a'], ['v'])
>>> (model.make_params()["a"].min, model.make_params()["a"].max)
(0.0, 50.0)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import sympy
from lmfit import Parameters

from spicegen.params import Param

from .forms import Form, SurrogatePrinter


class SympyForm(Form):
    """lmfit model of a sympy expression.

    Parameters
    ----------
    expr
        The expression. Its free symbols are matched by name to ``inputs`` and ``params``.
    inputs
        Independent variables (symbols or names), in call order.
    params
        The parameters: their defaults start the fit, their bounds bound it.
    prefix
        lmfit prefix for the parameter names (for compounds).

    Raises
    ------
    ValueError
        If ``expr`` uses a symbol that is neither an input nor a parameter, or a name is used twice.
    """

    form = "sympy"

    def __init__(self, expr: sympy.Expr, inputs: Sequence[sympy.Symbol | str], params: Sequence[Param], *,
                 prefix: str = "", nan_policy: str = "raise") -> None:
        names = [str(s) for s in inputs]
        pnames = [p.name for p in params]
        if len(set(names + pnames)) != len(names) + len(pnames):
            raise ValueError(f"inputs {names} and parameters {pnames} must be distinct names.")
        unknown = sorted({s.name for s in expr.free_symbols} - set(names) - set(pnames))
        if unknown:
            raise ValueError(f"the expression uses {unknown}, which are neither inputs {names} nor parameters "
                             f"{pnames}; add them to one of the two.")
        self.expr = expr.subs({s: sympy.Symbol(s.name, real=True) for s in expr.free_symbols})
        self.inputs = tuple(names)
        self.params = tuple(params)
        super().__init__(_lambdify(self.expr, names, pnames), independent_vars=names, param_names=pnames,
                         prefix=prefix, nan_policy=nan_policy)
        for p in params:
            self.set_param_hint(p.name, value=p.default, min=p.bounds[0], max=p.bounds[1])

    def guess(self, data: np.ndarray, **kwargs: Any) -> Parameters:
        """The ``Param`` defaults (within bounds); keyword arguments override values."""
        return self.start({}, **{k: v for k, v in kwargs.items() if k not in self.inputs})

    def symbolic(self) -> sympy.Expr:
        return self.expr.subs({sympy.Symbol(p.name, real=True): self._p(p.name) for p in self.params},
                              simultaneous=True)


def _lambdify(expr: sympy.Expr, inputs: list[str], params: list[str]) -> Any:
    """A numpy function ``f(*inputs, *params)`` whose signature lmfit reads as the schema."""
    body = SurrogatePrinter().doprint(expr)
    source = f"def sympy_form({', '.join(inputs + params)}):\n    return {body}\n"
    namespace: dict[str, Any] = {"numpy": np}
    exec(compile(source, "<fitting.sympy_model>", "exec"), namespace)
    return namespace["sympy_form"]
