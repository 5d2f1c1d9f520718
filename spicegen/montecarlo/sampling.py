"""Sample ``k``'s parameter values, drawn from the study seed alone.

Seeding: the study seed feeds :class:`numpy.random.SeedSequence`, and sample ``k`` draws
from its ``k``-th child (``SeedSequence(seed, spawn_key=(k,))``, the same child as
``SeedSequence(seed).spawn(k + 1)[k]``). So sample ``k`` gets the same values whatever the
worker count, batch size, backend or order of completion.

Inside a sample every random quantity is one standard normal, identified by a name:

========  ====================================  ===========================================
kind      one draw per                          identity
========  ====================================  ===========================================
global    sample, shared by every instance      ``g:<key>`` (e.g. ``g:diode_rs.rs``)
local     instance and sample (mismatch)        ``l:<instance>:<key>``
d2d       instance and sample, fixed across     ``l:<instance>:<key>``
          the events of the sample
c2c       instance, sample and event            ``c:<instance>:<key>:<event>``
========  ====================================  ===========================================

A sample draws one standard normal per identity, in sorted order. A correlated group adds a
common factor with the same scope (``fg:<group>``, ``fl:<group>:<instance>``,
``fc:<group>:<instance>:<event>``); a member with correlation ``ρ`` takes
``ρ·factor + sqrt(1 - ρ²)·own`` (a Gaussian copula), and
:meth:`~spicegen.params.Variation.apply` maps the result through its distribution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping, Sequence, get_args

import numpy as np

from ..params import Variation, VariationKind
from ..testbench import SampleError, Slot

KINDS: tuple[str, ...] = get_args(VariationKind)

Values = dict[str, "float | np.ndarray"]
"""Slot name → value; a ``c2c`` slot without a fixed event holds one value per event."""


def sample_rng(seed: int, sample: int) -> np.random.Generator:
    """The generator of sample ``sample`` in a study seeded with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(sample,)))


@dataclass(frozen=True)
class _Rule:
    """How one slot turns the sample's normals into values."""

    slot: Slot
    own: np.ndarray
    factor: np.ndarray | None


def _identities(slot: Slot, events: int) -> tuple[list[str], list[str] | None]:
    """Names of the slot's own draws and, in a group, of its common factors."""
    v = slot.variation
    assert v is not None
    if v.kind == "global":
        own, factor = [f"g:{slot.key}"], [f"fg:{v.group}"]
    elif v.kind in ("local", "d2d"):
        own, factor = [f"l:{slot.instance}:{slot.key}"], [f"fl:{v.group}:{slot.instance}"]
    else:
        steps = [slot.event] if slot.event is not None else range(events)
        own = [f"c:{slot.instance}:{slot.key}:{j}" for j in steps]
        factor = [f"fc:{v.group}:{slot.instance}:{j}" for j in steps]
    return own, (factor if v.group is not None else None)


def _check_groups(slots: Sequence[Slot]) -> None:
    kinds: dict[str, tuple[str, str]] = {}
    for slot in slots:
        v = slot.variation
        if v is None or v.group is None:
            continue
        first = kinds.setdefault(v.group, (v.kind, slot.name))
        if first[0] != v.kind:
            raise ValueError(f"correlated group {v.group!r} mixes kinds: {first[1]!r} is {first[0]}, "
                             f"{slot.name!r} is {v.kind}; a group's members must share one kind.")


class Sampler:
    """Draws the values of a circuit's slots for any sample of a study.

    Parameters
    ----------
    slots
        The circuit's slots (with their variations).
    events
        Events per sample: a ``c2c`` slot without a fixed event gets this many values.

    Raises
    ------
    ValueError
        If a correlated group mixes kinds, or a variation cannot apply to its nominal value
        (a lognormal around a non-positive value).
    """

    def __init__(self, slots: Sequence[Slot], events: int = 1) -> None:
        _check_groups(slots)
        varied = [s for s in slots if s.variation is not None]
        layout = {s.name: _identities(s, events) for s in varied}
        names = sorted({i for own, factor in layout.values() for i in own + (factor or [])})
        index = {name: k for k, name in enumerate(names)}
        self.slots = tuple(slots)
        self.size = len(names)
        self._rules = []
        for s in varied:
            own, factor = layout[s.name]
            own_idx = np.array([index[i] for i in own])
            factor_idx = None if factor is None else np.array([index[i] for i in factor])
            if s.variation.kind != "c2c" or s.event is not None:  # type: ignore[union-attr]
                own_idx = own_idx[0]
                factor_idx = None if factor_idx is None else factor_idx[0]
            self._rules.append(_Rule(s, own_idx, factor_idx))
            s.variation.apply(s.nominal, 0.0)  # type: ignore[union-attr]  # fails early, e.g. lognormal at 0

    def nominal(self) -> Values:
        """Every slot at its nominal value."""
        return {s.name: s.nominal for s in self.slots}

    def draw(self, seed: int, sample: int) -> Values:
        """Values of sample ``sample`` of a study seeded with ``seed`` (see :meth:`check`)."""
        values = self.nominal()
        for rule, normal in zip(self._rules, self.normals(seed, sample).values()):
            value = rule.slot.variation.apply(rule.slot.nominal, normal)  # type: ignore[union-attr]
            values[rule.slot.name] = float(value) if value.ndim == 0 else value
        return values

    def normals(self, seed: int, sample: int) -> Values:
        """The standard normal behind each varied slot's value in sample ``sample`` (the group factor mixed
        in), before its distribution: the same draws whatever the sigmas, i.e. common random numbers."""
        z = sample_rng(seed, sample).standard_normal(self.size)
        return {rule.slot.name: _normal(rule, z) for rule in self._rules}

    def check(self, values: Values, sample: int) -> None:
        """Raise :class:`~spicegen.testbench.SampleError` if a value lies outside its parameter's bounds."""
        for rule in self._rules:
            lo, hi = rule.slot.param.bounds
            value = values[rule.slot.name]
            if lo <= np.min(value) and np.max(value) <= hi:
                continue
            bad = next(float(v) for v in np.ravel(value) if not lo <= v <= hi)
            raise SampleError(f"sample {sample}: {rule.slot.name} = {bad!r} lies outside its bounds [{lo!r}, {hi!r}]; "
                              "lower its sigma or use a distribution that stays inside (lognormal, truncnormal).")


def _normal(rule: _Rule, z: np.ndarray) -> np.ndarray:
    variation: Variation = rule.slot.variation  # type: ignore[assignment]
    normal = z[rule.own]
    if rule.factor is not None:
        rho = variation.correlation
        normal = rho * z[rule.factor] + math.sqrt(1.0 - rho * rho) * normal
    return normal


def draw_devices(device: str, n: int, *, seed: int, kinds: Sequence[str] = ("d2d",),
                 values: Mapping[str, float] | None = None, sigmas: Mapping[str, float] | None = None,
                 normals: bool = False) -> list[dict[str, float]]:
    """``n`` samples of a registered device's varied parameters, drawn as the engine draws them.

    Device ``k`` is sample ``k`` of a study seeded with ``seed`` holding one instance of the device,
    so every distribution, correlated group and bound of :class:`Sampler` applies, and device ``k``
    does not depend on ``n``.

    Parameters
    ----------
    device
        Registered device name.
    n
        Number of devices (>= 1).
    seed
        Study seed of the draws.
    kinds
        Variation kinds to draw (others stay at nominal).
    values
        Nominal overrides.
    sigmas
        Parameter name → sigma replacing the declared one (same form: relative or absolute).
    normals
        Return each varied parameter's standard normal (:meth:`Sampler.normals`) instead of the values:
        device ``k``'s normals do not depend on the sigmas, so they give its values at any sigma.

    Returns
    -------
    list of dict
        One dict per device: parameter name → value (every parameter, varied or not), or, with
        ``normals``, varied parameter name → its standard normal.
    """
    from ..device import get_device

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}.")
    model = get_device(device)
    values, sigmas = dict(values or {}), dict(sigmas or {})
    for name in [*values, *sigmas]:
        model.param(name)  # raises, listing the device's parameters
    slots = []
    for p in model.params:
        variation = p.variation if p.variation is not None and p.variation.kind in kinds else None
        if variation is not None and p.name in sigmas:
            variation = replace(variation, sigma=float(sigmas[p.name]))
        elif p.name in sigmas:
            raise ValueError(f"parameter {p.name!r} of {device!r} has no {'/'.join(kinds)} variation to override.")
        slots.append(Slot(replace(p, default=p.check(values.get(p.name, p.default)), variation=variation),
                          "dev", f"{device}.{p.name}"))
    sampler = Sampler(slots)
    draw = sampler.normals if normals else sampler.draw
    return [{name: float(v) for name, v in draw(seed, k).items()} for k in range(n)]
