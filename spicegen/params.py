"""Model parameters and their statistical variation, declared once.

One :class:`Param` feeds the Verilog-A ``parameter ... from [lo:hi]`` line, the
SPICE ``.param`` default, lmfit bounds, the Monte Carlo engine and a surrogate's
validity domain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from typing import TYPE_CHECKING

import numpy as np

from .naming import check_name, check_value

VariationKind = Literal["global", "local", "d2d", "c2c"]
"""global: one draw per sample shared by all instances; local: one per instance per sample
(mismatch); d2d: per instance, fixed across the cycles of a sample; c2c: redrawn per event."""

if TYPE_CHECKING:
    import sympy

Distribution = Literal["normal", "lognormal", "uniform", "truncnormal"]


def _check_choice(value: str, options: type, what: str) -> str:
    choices = get_args(options)
    if value not in choices:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(map(repr, choices))}.")
    return value


@dataclass(frozen=True)
class Variation:
    """How a parameter varies in Monte Carlo.

    Every distribution is driven by one standard-normal draw ``z`` (a Gaussian copula),
    so correlated groups only need correlated normals.

    Parameters
    ----------
    kind
        ``"global"``, ``"local"``, ``"d2d"`` or ``"c2c"`` (see :data:`VariationKind`).
    sigma
        Standard deviation of the distribution: relative to the nominal value when
        ``relative`` (σ/μ), else in the parameter's unit. For ``uniform`` the half-width is
        ``sqrt(3)·sigma`` so that ``sigma`` stays the standard deviation.
    distribution
        ``"normal"``, ``"lognormal"`` (mean = nominal), ``"uniform"`` or ``"truncnormal"``.
    relative
        Whether ``sigma`` is relative to the nominal value.
    clip
        Truncation of ``truncnormal`` in units of sigma.
    group
        Name of a correlated group; parameters sharing a group draw correlated normals.
    correlation
        Correlation coefficient with the group's common factor (-1 … 1).
    p_zero
        Probability that a draw is exactly zero (``lognormal`` only): a zero-inflated lognormal,
        e.g. a rate prefactor redrawn per pulse where a pulse may not switch at all. The non-zero
        draws are lognormal with relative spread ``sigma`` and mean ``nominal/(1 - p_zero)``, so the
        mean over all draws stays ``nominal``.
    """

    kind: VariationKind
    sigma: float
    distribution: Distribution = "normal"
    relative: bool = True
    clip: float = 3.0
    group: str | None = None
    correlation: float = 1.0
    p_zero: float = 0.0

    def __post_init__(self) -> None:
        _check_choice(self.kind, VariationKind, "variation kind")
        _check_choice(self.distribution, Distribution, "distribution")
        if check_value(self.sigma, "sigma") < 0:
            raise ValueError(f"sigma must be >= 0, got {self.sigma!r}.")
        if check_value(self.clip, "clip") <= 0:
            raise ValueError(f"clip must be > 0 (in sigmas), got {self.clip!r}.")
        if not -1.0 <= check_value(self.correlation, "correlation") <= 1.0:
            raise ValueError(f"correlation must lie in [-1, 1], got {self.correlation!r}.")
        if not 0.0 <= check_value(self.p_zero, "p_zero") < 1.0:
            raise ValueError(f"p_zero must lie in [0, 1) (a probability below certainty), got {self.p_zero!r}.")
        if self.p_zero and (self.distribution != "lognormal" or not self.relative):
            raise ValueError(f"p_zero = {self.p_zero!r} needs a relative lognormal distribution (a zero-inflated "
                             f"lognormal), got distribution {self.distribution!r}, relative={self.relative!r}.")

    def apply(self, nominal: float, z: np.ndarray | float) -> np.ndarray:
        """Map standard-normal draws ``z`` to parameter values around ``nominal``."""
        z = np.asarray(z, dtype=float)
        std = self.sigma * abs(nominal) if self.relative else self.sigma
        if self.distribution == "normal":
            return nominal + std * z
        if self.distribution == "lognormal" and not self.p_zero:
            s = _lognormal_shape(nominal, std)
            return nominal * np.exp(s * z - 0.5 * s * s)
        from scipy import special  # only the distributions that need it import it

        if self.distribution == "truncnormal":
            u = special.ndtr(z)
            lo, hi = special.ndtr(-self.clip), special.ndtr(self.clip)
            return nominal + std * special.ndtri(lo + u * (hi - lo))
        if self.distribution == "uniform":
            return nominal + math.sqrt(3.0) * std * (2.0 * special.ndtr(z) - 1.0)
        s = _lognormal_shape(nominal, std)
        u = special.ndtr(z)
        above = np.maximum(u - self.p_zero, 0.0) / (1.0 - self.p_zero)
        # the Gaussian copula keeps the map monotone in z: zeros for the lowest p_zero of the draws
        with np.errstate(divide="ignore"):
            rest = nominal / (1.0 - self.p_zero) * np.exp(s * special.ndtri(above) - 0.5 * s * s)
        return np.where(u > self.p_zero, rest, 0.0)


def _lognormal_shape(nominal: float, std: float) -> float:
    """The shape ``s`` of a lognormal with mean ``nominal`` and standard deviation ``std``."""
    if nominal <= 0:
        raise ValueError(f"a lognormal variation needs a positive nominal value, got {nominal!r}.")
    return math.sqrt(math.log1p((std / nominal) ** 2))


@dataclass(frozen=True)
class Param:
    """A named, documented, bounded model parameter.

    Parameters
    ----------
    name
        Identifier used in every target language.
    default
        Nominal value (must lie inside ``bounds``).
    unit
        SI unit text, e.g. ``"A"``, ``"m"``, ``"eV"``; empty for dimensionless.
    desc
        One-line description (goes into Verilog-A ``(*desc*)`` and the docs).
    bounds
        Closed interval ``(lower, upper)``; infinite ends are allowed.
    variation
        Optional :class:`Variation` for Monte Carlo.
    instance
        Whether each instance sets its own value (an *instance* parameter): Verilog-A declares it
        ``(*type="instance"*)``, the OSDI ``N`` line and the VACASK instance carry it, so instances
        that differ only in such parameters share one ``.model`` card, and the numpy module takes
        it per element. ``None`` (default): per instance exactly when the parameter varies, whatever
        the kind (:attr:`per_instance` resolves it): a Monte Carlo sample then sets it with ``alter``
        instead of re-parsing a card, and a ``global`` draw is written to every instance. Every
        state's initial value ``<state>0`` and ``freeze`` are instance parameters.
    """

    name: str
    default: float
    unit: str = ""
    desc: str = ""
    bounds: tuple[float, float] = (-math.inf, math.inf)
    variation: Variation | None = None
    instance: bool | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "parameter")
        default = check_value(self.default, f"default of parameter {self.name!r}")
        lo, hi = (float(b) for b in self.bounds)
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise ValueError(f"bounds of parameter {self.name!r} must be (lower, upper) with lower <= upper, got {self.bounds!r}.")
        if not lo <= default <= hi:
            raise ValueError(
                f"default {default!r} of parameter {self.name!r} lies outside its bounds [{lo!r}, {hi!r}]; "
                "change the default or widen the bounds."
            )
        for text, what in ((self.unit, "unit"), (self.desc, "desc")):
            if any(c in text for c in '"\n\r*'):
                raise ValueError(f"{what} of parameter {self.name!r} must not contain quotes, '*' or new lines: {text!r}.")
        if self.instance is not None and not isinstance(self.instance, bool):
            raise ValueError(f"instance of parameter {self.name!r} must be True, False or None (per instance when "
                             f"the variation is), got {self.instance!r}.")
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "bounds", (lo, hi))

    @property
    def per_instance(self) -> bool:
        """Whether each instance sets its own value (:attr:`instance`, or else whether the parameter varies)."""
        if self.instance is not None:
            return self.instance
        return self.variation is not None

    @property
    def symbol(self) -> sympy.Symbol:
        """The parameter as a real sympy symbol (built on use: sympy is imported only by code that needs it)."""
        import sympy

        # a positive lower bound lets sympy drop guards that only protect non-positive values
        return sympy.Symbol(self.name, real=True, positive=(self.bounds[0] > 0) or None)

    def check(self, value: object) -> float:
        """Return ``value`` as a float if it lies inside the bounds, else raise naming both."""
        number = check_value(value, f"parameter {self.name!r}")
        lo, hi = self.bounds
        if not lo <= number <= hi:
            raise ValueError(f"parameter {self.name!r} = {number!r} lies outside its bounds [{lo!r}, {hi!r}].")
        return number
