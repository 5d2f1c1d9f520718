"""A fitted behavioural function, ready to ship: :class:`Surrogate`.

A surrogate is a formula in the checked expression language of :mod:`fitting.expression`
(``"a*numpy.tanh(b*x) + c"``), its parameter values, the input domain it was fitted on, the fit
statistics, and where it came from (device, testbench, seed, dataset hash, package version).
Outside its domain it raises :class:`DomainError`, unless the caller asks to clip. It may carry
its fitted variation: a second surrogate for the standard deviation σ(x) of the output.

Renderings: JSON (:meth:`Surrogate.save` / :meth:`Surrogate.load`, round-trips exactly) and a
standalone numpy-only Python module (:func:`format_numpy_module`); PyTorch and ONNX live in
:mod:`fitting.export`. This module imports only numpy and the standard library, so shipping a
surrogate never pulls in sympy, lmfit or matplotlib.

>>> s = Surrogate("demo", "a*x + b", ("x",), {"a": 2.0, "b": 1.0}, {"x": (0.0, 1.0)})
>>> float(s(0.5))
2.0
>>> s(2.0)
Traceback (most recent call last):
...
fitting.surrogate.DomainError: input 'x' = 2.0 lies outside the domain [0.0, 1.0] of surrogate 'demo' (1 of 1 values); refit on data that covers it, or pass out_of_domain='clip' to hold inputs at the nearest bound.
"""
from __future__ import annotations

import inspect
import json
import keyword
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy

from .expression import compile_expression, evaluate, parse

OutOfDomain = Literal["raise", "clip"]
"""What a query outside the domain does: raise :class:`DomainError`, or clip to the nearest bound."""
FORMAT = "spicegen-surrogate/1"
"""Schema tag written into every JSON file."""
RESERVED = frozenset({"numpy", "torch", "math", "self", "out_of_domain"})
"""Names a parameter or input may not take (they name modules or arguments of the renderings)."""


class DomainError(ValueError):
    """A surrogate was queried outside the input domain it was fitted on."""


def _prepare(name, inputs, domain, args, kwargs, out_of_domain):
    """Inputs as float arrays by name, checked against (or clipped to) the domain."""
    if out_of_domain not in ("raise", "clip"):  # OutOfDomain, spelled out: this function is shipped verbatim
        raise ValueError(f"out_of_domain must be 'raise' or 'clip', got {out_of_domain!r}.")
    if len(args) > len(inputs):
        raise TypeError(f"surrogate {name!r} takes {len(inputs)} input(s) {inputs}, got {len(args)}.")
    given = dict(zip(inputs, args))
    for key, value in kwargs.items():
        if key not in inputs or key in given:
            raise TypeError(f"surrogate {name!r}: unexpected or repeated input {key!r}; inputs are {inputs}.")
        given[key] = value
    missing = [k for k in inputs if k not in given]
    if missing:
        raise TypeError(f"surrogate {name!r}: missing input(s) {missing}; inputs are {inputs}.")
    values = {}
    for key in inputs:
        value = numpy.asarray(given[key], dtype=float)
        lo, hi = domain[key]
        nan = numpy.isnan(value)
        if nan.any():
            raise DomainError(f"input {key!r} of surrogate {name!r} holds {int(nan.sum())} NaN value(s); "
                              "remove or replace them before evaluating.")
        if out_of_domain == "clip":
            value = numpy.clip(value, lo, hi)
        else:
            bad = (value < lo) | (value > hi)
            if bad.any():
                worst = value[bad].flat[numpy.argmax(numpy.abs(value[bad] - (lo + hi) / 2))]
                raise DomainError(f"input {key!r} = {float(worst)!r} lies outside the domain [{lo!r}, {hi!r}] of "
                                  f"surrogate {name!r} ({int(bad.sum())} of {value.size} values); refit on data "
                                  "that covers it, or pass out_of_domain='clip' to hold inputs at the nearest bound.")
        values[key] = value
    return values


def _in_domain(value, lo, hi):
    """Fast check of one input: a float/int or float64 array inside [lo, hi], else None (take the full path).

    NaN fails the comparisons, so it also goes to the full path, which raises the clear error.
    """
    kind = type(value)
    if kind is float or kind is int:
        return float(value) if lo <= value <= hi else None
    if kind is numpy.ndarray and value.dtype == numpy.float64 and value.size and lo <= value.min() \
            and value.max() <= hi:
        return value
    return None


class _ScalarMath:
    """The numpy functions an expression may call, for one Python float (the scalar fast path).

    Plain float arithmetic is ~20x cheaper than numpy scalars, and these functions give numpy's
    results to the last bit. A function not listed here raises AttributeError, and a float error
    (overflow, division by zero, math domain) raises too: :func:`_scalar_call` then hands the call
    back to the numpy path, which has numpy's semantics (inf, NaN).
    """

    pi, e = float(numpy.pi), float(numpy.e)

    @staticmethod
    def maximum(a, b):
        return a if a >= b or a != a else b  # NaN propagates as in numpy

    @staticmethod
    def minimum(a, b):
        return a if a <= b or a != a else b

    absolute = abs = staticmethod(abs)
    # libm and numpy agree to the last bit on these (measured); numpy's tanh does not, so it stays numpy's
    exp, log, sqrt = staticmethod(math.exp), staticmethod(math.log), staticmethod(math.sqrt)
    sinh, cosh, arctan = staticmethod(math.sinh), staticmethod(math.cosh), staticmethod(math.atan)
    sin, cos = staticmethod(math.sin), staticmethod(math.cos)

    @staticmethod
    def tanh(a):
        return float(numpy.tanh(a))


def _scalar_call(function, value, params):
    """``function(value, **params)`` on a Python float with :class:`_ScalarMath`, as a 0-d float array;
    None when the float path cannot give numpy's answer (then take the numpy path)."""
    try:
        result = function(value, **params)
    except (ArithmeticError, ValueError, AttributeError, TypeError):
        return None
    return numpy.array(result, dtype=float) if type(result) is float or type(result) is int else None


def _fast_result(result, value):
    """The expression's result as a fresh float array shaped like the single input ``value``."""
    if type(result) is numpy.ndarray and result is not value and result.dtype == numpy.float64 \
            and result.shape == numpy.shape(value):
        return result
    return numpy.array(numpy.broadcast_to(result, numpy.shape(value)), dtype=float)


def _broadcast(result, values):
    """``result`` as a float array with the broadcast shape of the inputs."""
    shape = numpy.broadcast_shapes(*(v.shape for v in values.values()))
    return numpy.array(numpy.broadcast_to(result, shape), dtype=float)


@dataclass(frozen=True)
class ParamStat:
    """One fitted parameter: value and its confidence interval.

    Attributes
    ----------
    value
        Best-fit value.
    stderr
        Standard error from the fit covariance (None when the parameter was held fixed).
    low, high
        Confidence interval at :attr:`FitStats.confidence` (value ± t·stderr; equal to ``value``
        when fixed).
    """

    value: float
    stderr: float | None
    low: float
    high: float


@dataclass(frozen=True)
class FitStats:
    """How well a surrogate fits the data it was extracted from.

    A fit with zero degrees of freedom (an interpolant, or as many parameters as points) passes
    through every point by construction: its residuals say nothing, so it has no R² (NaN; ``null``
    in JSON, also when an older file stored 1.0) and :meth:`describe` reports its leave-one-out
    error instead.

    Attributes
    ----------
    points
        Number of fitted points.
    dof
        Degrees of freedom (points minus free parameters).
    rmse
        Root-mean-square residual, in the output's unit.
    nrmse
        ``rmse`` divided by the full scale (max − min) of the fitted values.
    r2
        Coefficient of determination of the fitted points; NaN when ``dof`` is 0.
    max_error
        Largest absolute residual.
    confidence
        Level of the parameter intervals (0.95).
    weighted
        Whether the fit weighted points by their standard errors.
    params
        Parameter name → :class:`ParamStat`.
    coverage
        For envelope (bound) extractions: fraction of all samples on the bound's side of the
        curve (1.0 = a true bound); None otherwise.
    loo_rmse
        Leave-one-out RMS error, in the output's unit: each point predicted without it (for an
        interpolant, from its neighbours); None when not computed.

    Examples
    --------
    >>> FitStats(points=9, dof=0, rmse=0.0, nrmse=0.0, r2=1.0, max_error=0.0, confidence=0.95,
    ...          weighted=False, params={}, loo_rmse=0.0123).describe()
    'interpolant through 9 points (no R²: it passes through every point); leave-one-out RMSE 0.0123'
    """

    points: int
    dof: int
    rmse: float
    nrmse: float
    r2: float | None
    max_error: float
    confidence: float
    weighted: bool
    params: Mapping[str, ParamStat]
    coverage: float | None = None
    loo_rmse: float | None = None

    def __post_init__(self) -> None:
        if self.dof == 0 or self.r2 is None:
            object.__setattr__(self, "r2", math.nan)

    @property
    def interpolates(self) -> bool:
        """Whether the fit passes through every point (zero degrees of freedom)."""
        return self.dof == 0

    def describe(self) -> str:
        """One line on the fit's quality: RMSE and R², or for an interpolant its leave-one-out error."""
        if self.interpolates:
            held_out = (f"leave-one-out RMSE {self.loo_rmse:.4g}" if self.loo_rmse is not None
                        else "no leave-one-out error (fewer than three points)")
            return f"interpolant through {self.points} points (no R²: it passes through every point); {held_out}"
        text = f"RMSE {self.rmse:.4g} ({self.nrmse:.3%} of full scale)"
        if not math.isnan(self.r2):  # NaN: not defined for this fit (e.g. a quantile regression's bound)
            text += f", R² {self.r2:.6f}"
        return text if self.loo_rmse is None else f"{text}, leave-one-out RMSE {self.loo_rmse:.4g}"


@dataclass(frozen=True)
class Provenance:
    """Where a surrogate came from.

    Attributes
    ----------
    version
        spicegen version that fitted it.
    dataset_hash
        SHA-256 (first 16 hex digits) of the data columns that were fitted, in order.
    statistic
        What was fitted: ``mean``, ``std``, ``relstd``, ``lower``, ``upper`` or ``quantile:q``.
    form
        Form specification (see :func:`fitting.forms.parse_form`).
    columns
        Role → dataset column (``{"x": "vin", "y": "i_out"}``).
    device, testbench, seed
        Monte Carlo study it was extracted from, when known.
    source
        Path or description of the dataset.
    note
        Free text, e.g. that a surrogate is a placeholder.
    study
        The study run it was extracted from (:meth:`spicegen.study.StudyRun.citation`): study name,
        full definition (options, seed, n, every device parameter's value and variation, so each
        reading of an ambiguous sentence), its hash ``key``, package version and git commit.
        ``spicegen provenance FILE`` prints and verifies it; ``spicegen study run --from-provenance
        FILE`` re-runs it.
    """

    version: str
    dataset_hash: str
    statistic: str
    form: str
    columns: Mapping[str, str] = field(default_factory=dict)
    device: str | None = None
    testbench: str | None = None
    seed: int | None = None
    source: str | None = None
    note: str = ""
    study: Mapping[str, Any] | None = None


def _check_identifier(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.isidentifier() or keyword.iskeyword(text) or text in RESERVED \
            or text.startswith("_"):
        raise ValueError(f"{what} {text!r} must be a Python identifier that does not start with '_' and is not "
                         f"one of {sorted(RESERVED)}; rename it.")
    return text


@dataclass(frozen=True, eq=False)
class Surrogate:
    """A fitted form with its parameters, domain, statistics and provenance.

    Parameters
    ----------
    name
        Identifier (used as the module / class name of the renderings).
    expression
        Formula in the language of :mod:`fitting.expression`, using ``inputs`` and ``params``.
    inputs
        Input names, in call order.
    params
        Parameter name → value.
    domain
        Input name → closed interval ``(low, high)`` it is valid on.
    output
        What the output is (a column name or a description).
    stats
        Fit statistics, if it was fitted.
    provenance
        Origin, if known.
    variation
        Surrogate of the standard deviation σ of the output (same inputs and domain), if fitted.
    knots
        For a piecewise-linear interpolant (:func:`fitting.extract.interpolant`): the input value of
        each parameter, in parameter order. The numpy paths then evaluate ``numpy.interp`` (the
        expression's values, to rounding, ~10x faster on short arrays); torch and ONNX use the expression.

    Examples
    --------
    >>> s = Surrogate("f1", "a*(1 - numpy.exp(-b*x))", ("x",), {"a": 1.2, "b": 2.0}, {"x": (0.0, 1.0)})
    >>> s([0.0, 1.0]).round(4).tolist()
    [0.0, 1.0376]
    >>> float(s(1.5, out_of_domain="clip")) == float(s(1.0))
    True
    """

    name: str
    expression: str
    inputs: tuple[str, ...]
    params: Mapping[str, float]
    domain: Mapping[str, tuple[float, float]]
    output: str = "y"
    stats: FitStats | None = None
    provenance: Provenance | None = None
    variation: Surrogate | None = None
    knots: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _check_identifier(self.name, "surrogate name")
        inputs = tuple(_check_identifier(k, "input name") for k in self.inputs)
        if not inputs or len(set(inputs)) != len(inputs):
            raise ValueError(f"surrogate {self.name!r} needs distinct input names, got {inputs}.")
        params = {}
        for key, value in self.params.items():
            _check_identifier(key, "parameter name")
            if key in inputs:
                raise ValueError(f"{key!r} is both an input and a parameter of surrogate {self.name!r}; rename one.")
            if not math.isfinite(float(value)):
                raise ValueError(f"parameter {key!r} of surrogate {self.name!r} is {value!r}; it must be finite.")
            params[key] = float(value)
        if set(self.domain) != set(inputs):
            raise ValueError(f"domain of surrogate {self.name!r} must name exactly its inputs {inputs}, "
                             f"got {sorted(self.domain)}.")
        domain = {}
        for key in inputs:
            lo, hi = (float(b) for b in self.domain[key])
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(f"domain of input {key!r} must be a finite (low, high) with low <= high, "
                                 f"got {self.domain[key]!r}.")
            domain[key] = (lo, hi)
        tree = parse(self.expression, set(inputs) | set(params))
        if self.variation is not None and (self.variation.inputs != inputs or dict(self.variation.domain) != domain):
            raise ValueError(f"the variation of surrogate {self.name!r} must have the same inputs and domain.")
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "_code", compile_expression(tree))
        object.__setattr__(self, "_fast", _fast_function(self.expression, inputs, params))
        object.__setattr__(self, "_scalar", _fast_function(self.expression, inputs, params, _ScalarMath))
        object.__setattr__(self, "knots", self._checked_knots())
        object.__setattr__(self, "_interp", None if self.knots is None else
                           (numpy.array(self.knots), numpy.array(list(params.values()))))

    def _checked_knots(self) -> tuple[float, ...] | None:
        if self.knots is None:
            return None
        knots = tuple(float(k) for k in self.knots)
        lo, hi = self.domain[self.inputs[0]]
        if len(self.inputs) != 1 or len(knots) != len(self.params) or len(knots) < 2 \
                or any(b <= a for a, b in zip(knots, knots[1:])) or not knots[0] <= lo <= hi <= knots[-1]:
            raise ValueError(f"knots of surrogate {self.name!r} must be increasing, one per parameter, and span "
                             f"the domain [{lo!r}, {hi!r}] of its single input; got {self.knots!r}.")
        at_knots = evaluate(self._code, {self.inputs[0]: numpy.array(knots), **self.params})
        if not numpy.allclose(at_knots, list(self.params.values()), rtol=1e-9, atol=0.0):
            raise ValueError(f"surrogate {self.name!r}: its expression does not pass through its parameters at the "
                             "knots, so it is not their interpolant; drop knots= when changing the expression.")
        return knots

    def __call__(self, *args: Any, out_of_domain: OutOfDomain = "raise", **kwargs: Any) -> numpy.ndarray:
        """Evaluate the surrogate at the inputs (positional in :attr:`inputs` order, or by name).

        A one-input surrogate called with one float or float64 array inside the domain takes a fast
        path (one range check, the expression as a compiled function); every other call, and every
        input that fails the check, goes through the full checks and conversions.

        Raises
        ------
        DomainError
            If an input lies outside the domain (and ``out_of_domain="raise"``) or is NaN.
        """
        if len(args) == 1 and not kwargs and out_of_domain == "raise" and len(self.inputs) == 1:
            value = _in_domain(args[0], *self.domain[self.inputs[0]])
            if value is not None and self._interp is not None:
                return _fast_result(numpy.interp(value, *self._interp), value)
            if type(value) is float:
                result = _scalar_call(self._scalar, value, {})
                if result is not None:
                    return result
                value = numpy.float64(value)  # numpy semantics from here: inf and NaN, not exceptions
            if value is not None:
                with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    return _fast_result(self._fast(value), value)
        values = _prepare(self.name, self.inputs, self.domain, args, kwargs, out_of_domain)
        return _broadcast(evaluate(self._code, {**values, **self.params}), values)

    def sigma(self, *args: Any, out_of_domain: OutOfDomain = "raise", **kwargs: Any) -> numpy.ndarray:
        """Evaluate the fitted standard deviation of the output.

        Raises
        ------
        ValueError
            If the surrogate carries no variation.
        """
        if self.variation is None:
            raise ValueError(f"surrogate {self.name!r} has no fitted variation; extract it with "
                             "fitting.extract.extract(..., variation=FORM).")
        return numpy.maximum(self.variation(*args, out_of_domain=out_of_domain, **kwargs), 0.0)

    def sample(self, *args: Any, rng: numpy.random.Generator, noise: float | Literal["fitted"] = "fitted",
               out_of_domain: OutOfDomain = "raise", **kwargs: Any) -> numpy.ndarray:
        """Draw outputs with Gaussian variation.

        Parameters
        ----------
        rng
            Seeded generator (``numpy.random.default_rng(seed)``).
        noise
            ``"fitted"``: ``y + σ(x)·N(0, 1)`` with the fitted σ; a number ``r``:
            ``y·(1 + r·N(0, 1))``, the relative noise levels of the P²M paper's Table 1.
        """
        mean = self(*args, out_of_domain=out_of_domain, **kwargs)
        std = _noise_std(self, mean, noise, args, kwargs, out_of_domain)
        return mean + std * rng.standard_normal(mean.shape)

    # -- serialisation

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dictionary (see :meth:`from_dict`)."""
        return {
            "format": FORMAT, "name": self.name, "output": self.output, "inputs": list(self.inputs),
            "expression": self.expression, "params": dict(self.params),
            "domain": {k: list(v) for k, v in self.domain.items()},
            "stats": _plain(asdict(self.stats)) if self.stats else None,
            "provenance": _plain(asdict(self.provenance)) if self.provenance else None,
            "variation": self.variation.to_dict() if self.variation else None,
            **({"knots": list(self.knots)} if self.knots else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Surrogate:
        """Rebuild a surrogate written by :meth:`to_dict`.

        Raises
        ------
        ValueError
            If ``data`` is not a surrogate of this format.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"not a spicegen surrogate: expected format {FORMAT!r}, found {found!r}.")
        try:
            stats = data.get("stats")
            if stats:
                stats = FitStats(**{**stats, "params": {k: ParamStat(**v) for k, v in stats["params"].items()}})
            provenance = Provenance(**data["provenance"]) if data.get("provenance") else None
            variation = cls.from_dict(data["variation"]) if data.get("variation") else None
            return cls(data["name"], data["expression"], tuple(data["inputs"]), data["params"],
                       {k: tuple(v) for k, v in data["domain"].items()}, data.get("output", "y"), stats, provenance,
                       variation, data.get("knots"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed spicegen surrogate ({type(exc).__name__}: {str(exc)[:200]}); "
                             "export surrogates with 'spicegen fit'.") from None

    def to_json(self) -> str:
        """Standard JSON text (no NaN/Infinity literals), keys in a fixed order."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Surrogate:
        """Rebuild a surrogate from :meth:`to_json` text."""
        return cls.from_dict(json.loads(text))

    def citing(self, study: Mapping[str, Any]) -> Surrogate:
        """This surrogate (and its variation) with ``study`` (a study run's citation) in the provenance."""
        variation = self.variation.citing(study) if self.variation is not None else None
        provenance = replace(self.provenance, study=dict(study)) if self.provenance is not None else None
        return replace(self, provenance=provenance, variation=variation)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON atomically (:func:`spicegen.files.write_text`); returns the path."""
        from spicegen.files import write_text  # here, not at the top: loading a surrogate needs numpy alone

        return write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Surrogate:
        """Read a surrogate JSON file.

        Raises
        ------
        FileNotFoundError, ValueError
            If the file is missing or is not a surrogate.
        """
        text = Path(path).read_text()
        try:
            return cls.from_json(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{str(path)!r} is not JSON ({exc}); export surrogates with 'spicegen fit'.") from None
        except RecursionError:
            raise ValueError(f"{str(path)!r} nests too deeply to be a surrogate; export surrogates with "
                             "'spicegen fit'.") from None


def _fast_function(expression: str, inputs: Sequence[str], params: Mapping[str, float], namespace: Any = numpy) -> Any:
    """The checked expression as a Python function of the inputs, with the parameters bound as globals
    and ``numpy.*`` resolved in ``namespace`` (numpy, or :class:`_ScalarMath` for one float)."""
    scope = {"__builtins__": {}, "numpy": namespace, **params}
    return eval(f"lambda {', '.join(inputs)}: {expression}", scope)  # noqa: S307 - expression checked by parse()


def _noise_std(surrogate: Surrogate, mean: numpy.ndarray, noise: float | str, args: Sequence[Any],
               kwargs: Mapping[str, Any], out_of_domain: OutOfDomain) -> numpy.ndarray:
    if noise == "fitted":
        return surrogate.sigma(*args, out_of_domain=out_of_domain, **kwargs)
    if isinstance(noise, str) or not float(noise) >= 0:
        raise ValueError(f"noise must be 'fitted' or a relative level >= 0 (0.1 = 10 %), got {noise!r}.")
    return float(noise) * numpy.abs(mean)


def _plain(value: Any) -> Any:
    """NaN → None, tuples → lists, recursively (standard JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ----------------------------------------------------------------------------- numpy module

def format_numpy_module(surrogate: Surrogate) -> str:
    """Source of a standalone module that evaluates ``surrogate`` and imports only numpy.

    The module defines ``evaluate(*inputs, out_of_domain="raise")`` (and ``sigma`` when the
    surrogate carries its variation), ``DomainError``, and the constants ``NAME``, ``INPUTS``,
    ``PARAMS``, ``DOMAIN``, ``EXPRESSION``, ``PROVENANCE`` and ``STATS``. Its arithmetic is the
    surrogate's expression verbatim, so it returns bit-identical results.
    """
    data = surrogate.to_dict()
    lines = [
        f'"""Surrogate {surrogate.name}: {surrogate.output} = {surrogate.expression}',
        "",
        "Generated by spicegen (fitting.surrogate.format_numpy_module). Imports only numpy and math. Do not edit: re-export.",
        '"""',
        "import math",
        "",
        "import numpy",
        "",
        f"NAME = {surrogate.name!r}",
        f"OUTPUT = {surrogate.output!r}",
        f"INPUTS = {surrogate.inputs!r}",
        f"EXPRESSION = {surrogate.expression!r}",
        f"PARAMS = {dict(surrogate.params)!r}",
        f"DOMAIN = {dict(surrogate.domain)!r}",
        f"KNOTS = {surrogate.knots!r}",
        *(["_INTERP = (numpy.array(KNOTS), numpy.array(list(PARAMS.values())))"] if surrogate.knots else []),
        f"PROVENANCE = {data['provenance']!r}",
        f"STATS = {data['stats']!r}",
        "",
        "",
        inspect.getsource(DomainError),
        "",
        inspect.getsource(_prepare),
        "",
        inspect.getsource(_broadcast),
        "",
        inspect.getsource(_in_domain),
        "",
        inspect.getsource(_fast_result),
        "",
        inspect.getsource(_ScalarMath),
        "",
        inspect.getsource(_scalar_call),
        "",
        _format_function("_mean", surrogate),
        "",
        _format_scalar_function("_mean_scalar", surrogate),
        "",
        "def evaluate(*args, out_of_domain='raise', **kwargs):",
        f'    """{surrogate.output} at the inputs {surrogate.inputs} (positional or by name); raises DomainError',
        "    outside DOMAIN unless out_of_domain='clip'.\"\"\"",
        *_fast_lines("_mean", "PARAMS", surrogate),
        "    values = _prepare(NAME, INPUTS, DOMAIN, args, kwargs, out_of_domain)",
        "    return _broadcast(_mean(**values, **PARAMS), values)",
    ]
    if surrogate.variation is not None:
        lines += [
            "", f"SIGMA_PARAMS = {dict(surrogate.variation.params)!r}", "",
            _format_function("_sigma", surrogate.variation), "",
            "def sigma(*args, out_of_domain='raise', **kwargs):",
            '    """Fitted standard deviation of the output at the inputs."""',
            "    values = _prepare(NAME, INPUTS, DOMAIN, args, kwargs, out_of_domain)",
            "    return numpy.maximum(_broadcast(_sigma(**values, **SIGMA_PARAMS), values), 0.0)",
        ]
    return "\n".join(lines) + "\n"


def _fast_lines(function: str, params: str, surrogate: Surrogate) -> list[str]:
    """The fast path of a one-input module's ``evaluate`` (as in :meth:`Surrogate.__call__`)."""
    if len(surrogate.inputs) != 1:
        return []
    name = surrogate.inputs[0]
    interp = (["        if value is not None:",
               "            return _fast_result(numpy.interp(value, *_INTERP), value)"]
              if surrogate.knots is not None else [])
    return ["    if len(args) == 1 and not kwargs and out_of_domain == 'raise':",
            f"        value = _in_domain(args[0], *DOMAIN[{name!r}])",
            *interp,
            "        if type(value) is float:",
            f"            result = _scalar_call({function}_scalar, value, {params})",
            "            if result is not None:",
            "                return result",
            "            value = numpy.float64(value)",
            "        if value is not None:",
            f"            return _fast_result({function}(value, **{params}), value)"]


def _format_scalar_function(name: str, surrogate: Surrogate) -> str:
    """The expression as a function of one float, ``numpy.*`` resolved in :class:`_ScalarMath`."""
    args = ", ".join((*surrogate.inputs, *surrogate.params))
    return f"def {name}({args}, numpy=_ScalarMath):\n    return {surrogate.expression}\n"


def _format_function(name: str, surrogate: Surrogate) -> str:
    args = ", ".join((*surrogate.inputs, *surrogate.params))
    return (f"def {name}({args}):\n"
            "    with numpy.errstate(over='ignore', invalid='ignore', divide='ignore'):\n"
            f"        return {surrogate.expression}\n")


def write_numpy_module(surrogate: Surrogate, path: str | os.PathLike[str]) -> Path:
    """Write :func:`format_numpy_module` to ``path`` atomically (:func:`spicegen.files.write_text`)."""
    from spicegen.files import write_text

    return write_text(path, format_numpy_module(surrogate))
