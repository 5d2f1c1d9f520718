"""Sample ``k``'s parameter values, drawn from the study seed alone.

Seeding: the study seed feeds :class:`numpy.random.SeedSequence`, and sample ``k`` draws
from its ``k``-th child (``SeedSequence(seed, spawn_key=(k,))``, the same child as
``SeedSequence(seed).spawn(k + 1)[k]``). So sample ``k`` gets the same values whatever the
worker count, batch size, backend or order of completion.

A worker draws a whole batch at once (:meth:`Sampler.draw_batch`): the children's seeds are mixed
for every sample of the batch together (numpy's ``SeedSequence`` hash, written over arrays), each
child's PCG64 state is set on one reused generator, and the distributions and bound checks run on
the batch's columns. The values are bit for bit those of :meth:`Sampler.draw`, which stays the
definition (the tests compare them; a numpy whose generator differs falls back to the definition).

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

import ctypes
import math
import threading
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from typing import Any, Mapping, Sequence, get_args

import numpy as np

from ..params import Variation, VariationKind
from ..testbench import SampleError, Slot

KINDS: tuple[str, ...] = get_args(VariationKind)

Values = dict[str, "float | np.ndarray"]
"""Slot name → value; a ``c2c`` slot without a fixed event holds one value per event."""


def sample_rng(seed: int, sample: int) -> np.random.Generator:
    """The generator of sample ``sample`` in a study seeded with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(sample,)))


def batch_normals(seed: int, samples: Sequence[int], size: int) -> np.ndarray:
    """Row ``i``: ``sample_rng(seed, samples[i]).standard_normal(size)``, bit for bit, for a batch at once.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(samples), size)``.
    """
    if not _fast_path_agrees():
        return np.array([sample_rng(seed, k).standard_normal(size) for k in samples]).reshape(len(samples), size)
    return _fast_normals(seed, samples, size)


# numpy's SeedSequence (numpy/random/bit_generator.pyx) and PCG64 seeding (pcg64.h) constants
_MASK32, _MASK64 = 0xFFFFFFFF, (1 << 64) - 1
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL = 0xCA01F9DD, 0x4973F715, 4
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341


def _fast_normals(seed: int, samples: Sequence[int], size: int) -> np.ndarray:
    out = np.empty((len(samples), size))
    state, draw = _generator()
    by_key_words: dict[int, list[int]] = {}  # SeedSequence hashes a key word by word
    if samples and 0 <= min(samples) and max(samples) <= _MASK32:
        by_key_words[1] = list(range(len(samples)))
    for row, k in enumerate(samples if not by_key_words else ()):
        by_key_words.setdefault(max(1, (k.bit_length() + 31) // 32), []).append(row)
    for rows in by_key_words.values():
        words = _pcg_seeded(_child_states(seed, [samples[r] for r in rows]))
        for row, row_words in zip(rows, words):
            state[:] = row_words
            draw(out=out[row])  # the size from out: a third less CPU than passing it too
    return out


_LOCAL = threading.local()


def _generator() -> tuple[np.ndarray, Any]:
    """This thread's reused generator: its state words (see :func:`_state_words`) and ``standard_normal``."""
    if not hasattr(_LOCAL, "generator"):
        generator = np.random.Generator(np.random.PCG64())
        _LOCAL.generator = (_state_words(generator.bit_generator), generator.standard_normal)
    return _LOCAL.generator


def _pcg_seeded(child: np.ndarray) -> np.ndarray:
    """PCG64's state and increment after seeding from ``generate_state(4, np.uint64)`` words ``child``
    (one row per sample: seed high and low word, increment high and low word), as rows of
    (state low, state high, increment low, increment high): numpy's ``pcg_setseq_128_srandom_r``
    (state 0, step, add the seed, step) in 64-bit words, for the batch at once."""
    one = np.uint64(1)
    s_hi, s_lo, i_hi, i_lo = child.T
    inc_lo = (i_lo << one) | one
    inc_hi = (i_hi << one) | (i_lo >> np.uint64(63))
    x_lo = inc_lo + s_lo
    x_hi = inc_hi + s_hi + (x_lo < inc_lo)
    lo, hi = _wide_product(x_lo, _PCG_MULT & _MASK64)
    hi = hi + x_hi * np.uint64(_PCG_MULT & _MASK64) + x_lo * np.uint64(_PCG_MULT >> 64)
    state_lo = lo + inc_lo
    state_hi = hi + inc_hi + (state_lo < lo)
    return np.stack([state_lo, state_hi, inc_lo, inc_hi], axis=1)


def _wide_product(a: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """The low and high 64-bit words of ``a * b`` (``a`` unsigned 64-bit words, ``b`` < 2**64)."""
    half, shift = np.uint64(_MASK32), np.uint64(32)
    a0, a1, b0, b1 = a & half, a >> shift, np.uint64(b & _MASK32), np.uint64(b >> 32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> shift) + (p01 & half) + (p10 & half)
    return a * np.uint64(b), p11 + (p01 >> shift) + (p10 >> shift) + (middle >> shift)


def _state_words(bits: np.random.PCG64) -> np.ndarray:
    """The generator's 128-bit state and increment as four words (low word first), written in place.

    Writing them costs a fifth of setting ``bits.state`` from a dict. numpy's PCG64 holds
    ``{pcg64_random_t *pcg_state; int has_uint32; uint32_t uinteger}``, and with a native 128-bit integer
    ``pcg64_random_t`` is ``{state, inc}``; :func:`_fast_path_agrees` checks the layout against
    ``bits.state`` once per process (a numpy laid out otherwise falls back to the definition).
    """
    bits.state = {"bit_generator": "PCG64", "state": {"state": 0, "inc": 1}, "has_uint32": 0, "uinteger": 0}
    address = ctypes.c_void_p.from_address(bits.ctypes.state_address).value
    return np.ctypeslib.as_array((ctypes.c_uint64 * 4).from_address(address))


def _child_states(seed: int, keys: Sequence[int]) -> np.ndarray:
    """``SeedSequence(seed, spawn_key=(k,)).generate_state(4, np.uint64)`` for every ``k`` (keys of one word
    count), shape ``(len(keys), 4)``."""
    from numpy.random.bit_generator import _coerce_to_uint32_array

    if all(0 <= k <= _MASK32 for k in keys):
        spawn = np.array(keys, np.uint32).reshape(len(keys), 1)
    else:
        spawn = np.array([_coerce_to_uint32_array(k) for k in keys], np.uint32).reshape(len(keys), -1)
    pool, const = _seed_pool(seed)  # the seed's words come first and are every child's: hashed once
    pool = np.array(pool, np.uint32).reshape(_POOL, 1)
    for src in range(spawn.shape[1]):  # one word of the key into every pool word at once
        xor, mult, const = _hash_constants(const, _MULT_A, _POOL)
        hashed = (spawn[:, src] ^ xor) * mult
        pool = _mix(pool, hashed ^ (hashed >> np.uint32(16)))
    xor, mult, _ = _hash_constants(_INIT_B, _MULT_B, 8)
    value = (pool[np.arange(8) % _POOL] ^ xor) * mult
    words = np.ascontiguousarray((value ^ (value >> np.uint32(16))).T)
    return words.astype("<u4").view("<u8").astype(np.uint64)


@lru_cache(maxsize=64)
def _hash_constants(const: int, multiplier: int, count: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The constants ``count`` successive hashes XOR and multiply with (columns), and the constant reached."""
    xor, mult = [], []
    for _ in range(count):
        xor.append(const)
        const = (const * multiplier) & _MASK32
        mult.append(const)
    return np.array(xor, np.uint32).reshape(-1, 1), np.array(mult, np.uint32).reshape(-1, 1), const


@lru_cache(maxsize=16)
def _seed_pool(seed: int) -> tuple[tuple[np.ndarray, ...], int]:
    """SeedSequence's entropy pool after mixing in the words of ``seed`` (every child's first words), as
    arrays of one element, and the hash constant reached."""
    from numpy.random.bit_generator import _coerce_to_uint32_array

    run = _coerce_to_uint32_array(seed)
    run = np.concatenate([run, np.zeros(max(0, _POOL - run.size), np.uint32)]).reshape(-1, 1)
    const, pool = _INIT_A, []
    for i in range(_POOL):
        hashed, const = _hashmix(run[i], const)
        pool.append(hashed)
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                hashed, const = _hashmix(pool[src], const)
                pool[dst] = _mix(pool[dst], hashed)
    for src in range(_POOL, run.shape[0]):
        for dst in range(_POOL):
            hashed, const = _hashmix(run[src], const)
            pool[dst] = _mix(pool[dst], hashed)
    return tuple(pool), const


def _hashmix(value: np.ndarray, const: int) -> tuple[np.ndarray, int]:
    """SeedSequence's ``hashmix`` and the next hash constant."""
    value = value ^ np.uint32(const)
    const = (const * _MULT_A) & _MASK32
    value = value * np.uint32(const)
    return value ^ (value >> np.uint32(16)), const


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
    return result ^ (result >> np.uint32(16))


@cache
def _fast_path_agrees() -> bool:
    """Whether the batch path reproduces numpy's own children here (checked once per process): the state
    words lie where :func:`_state_words` writes them, and the normals are numpy's."""
    bits = np.random.PCG64()
    words = _state_words(bits)
    words[:] = (5, 6, 7, 8)
    if bits.state["state"] != {"state": (6 << 64) + 5, "inc": (8 << 64) + 7}:
        return False
    seeds, keys = (0, 1, 2**64 + 5), [0, 1, 977, 2**32 + 1]
    return all(np.array_equal(_fast_normals(seed, keys, 3), [sample_rng(seed, k).standard_normal(3) for k in keys])
               for seed in seeds)


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

    def draw_batch(self, seed: int, samples: Sequence[int]) -> Batch:
        """The values of ``samples`` (each exactly as :meth:`draw` gives it) and which of them
        :meth:`check` refuses, computed for the batch at once."""
        z = batch_normals(seed, samples, self.size)
        columns = {}
        problems: dict[int, str] = {}
        for rule in self._rules:
            variation: Variation = rule.slot.variation  # type: ignore[assignment]
            normal = z[:, rule.own]
            if rule.factor is not None:
                rho = variation.correlation
                normal = rho * z[:, rule.factor] + math.sqrt(1.0 - rho * rho) * normal
            column = variation.apply(rule.slot.nominal, normal)
            columns[rule.slot.name] = column
            lo, hi = rule.slot.param.bounds
            inside = (lo <= column) & (column <= hi)
            for row in np.flatnonzero(~inside.reshape(len(samples), -1).all(axis=1)).tolist():
                if samples[row] not in problems:
                    bad = next(float(v) for v in np.ravel(column[row]) if not lo <= v <= hi)
                    problems[samples[row]] = _outside(samples[row], rule.slot.name, bad, lo, hi)
        nominal = self.nominal()
        floats = {name: column.tolist() for name, column in columns.items() if column.ndim == 1}
        arrays = {name: column for name, column in columns.items() if column.ndim > 1}
        values = []
        for row in range(len(samples)):
            drawn = dict(nominal)
            for name, column in floats.items():
                drawn[name] = column[row]
            for name, array in arrays.items():
                drawn[name] = array[row].copy()
            values.append(drawn)
        return Batch(tuple(samples), values, problems)

    def check(self, values: Values, sample: int) -> None:
        """Raise :class:`~spicegen.testbench.SampleError` if a value lies outside its parameter's bounds."""
        for rule in self._rules:
            lo, hi = rule.slot.param.bounds
            value = values[rule.slot.name]
            if lo <= np.min(value) and np.max(value) <= hi:
                continue
            bad = next(float(v) for v in np.ravel(value) if not lo <= v <= hi)
            raise SampleError(_outside(sample, rule.slot.name, bad, lo, hi))


@dataclass(frozen=True)
class Batch:
    """The drawn values of a batch of samples.

    Attributes
    ----------
    samples
        Sample indices.
    values
        Each sample's values, in the order of ``samples``.
    problems
        Sample → why :meth:`Sampler.check` refuses its values (absent: the values are fine).
    """

    samples: tuple[int, ...]
    values: list[Values]
    problems: dict[int, str] = field(default_factory=dict)


def _outside(sample: int, name: str, bad: float, lo: float, hi: float) -> str:
    return (f"sample {sample}: {name} = {bad!r} lies outside its bounds [{lo!r}, {hi!r}]; "
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
                 normals: bool = False, correlations: Mapping[str, float] | None = None) -> list[dict[str, float]]:
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
    correlations
        Parameter name → correlation with its group's common factor replacing the declared one.

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
    values, sigmas, correlations = dict(values or {}), dict(sigmas or {}), dict(correlations or {})
    for name in [*values, *sigmas, *correlations]:
        model.param(name)  # raises, listing the device's parameters
    slots = []
    for p in model.params:
        variation = p.variation if p.variation is not None and p.variation.kind in kinds else None
        if variation is not None and p.name in sigmas:
            variation = replace(variation, sigma=float(sigmas[p.name]))
        elif p.name in sigmas:
            raise ValueError(f"parameter {p.name!r} of {device!r} has no {'/'.join(kinds)} variation to override.")
        if variation is not None and variation.group is not None and p.name in correlations:
            variation = replace(variation, correlation=float(correlations[p.name]))
        elif p.name in correlations:
            raise ValueError(f"parameter {p.name!r} of {device!r} has no {'/'.join(kinds)} variation in a correlated "
                             "group whose correlation could be overridden.")
        slots.append(Slot(replace(p, default=p.check(values.get(p.name, p.default)), variation=variation),
                          "dev", f"{device}.{p.name}"))
    sampler = Sampler(slots)
    draw = sampler.normals if normals else sampler.draw
    return [{name: float(v) for name, v in draw(seed, k).items()} for k in range(n)]
