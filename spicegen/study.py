"""Studies and extractions: named, typed, seeded procedures, run by ``spicegen study`` and ``spicegen extract``.

A :class:`Study` is one file's worth of science: typed :class:`Setting` options, the measurements
it reports (with units, default pass ranges and the paper's value where there is one) and one
``run(ctx)``. The :class:`StudyContext` hands it everything it needs and nothing it must invent:
the seed (one :class:`numpy.random.SeedSequence` root), its output folder, the Monte Carlo engine
(``ctx.monte_carlo``) and the engine's one :class:`~spicegen.montecarlo.Sampler`
(``ctx.sample_devices``), a progress bar, and resumable steps (``ctx.step``; ``ctx.steps`` runs
independent ones on the run's worker processes).

>>> from spicegen.study import Measure, Setting, Study, StudyResult, register_study
>>> @register_study
... class Squares(Study):
...     '''Sum of n squared standard normals.'''
...     name = "squares-demo"
...     options = (Setting("scale", 1.0, "scale of each draw", unit="V", bounds=(0.0, 10.0)),)
...     measures = {"total": Measure("V^2", "sum of the squares")}
...     n_default = 10
...     def run(self, ctx):
...         z = ctx.rng("draws").standard_normal(ctx.n) * ctx.options["scale"]
...         return StudyResult({"total": float((z ** 2).sum())})

Every run writes ``study.json`` (the definition, its hash ``key``, the package version and git
commit) before it starts and ``result.json`` when it ends; a finished run with the same key is
not recomputed. An :class:`Extraction` turns a finished run into surrogates and records that run
as their provenance.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from . import __version__
from .files import to_jsonable, write_json
from .naming import check_value, did_you_mean
from .parsing import parse_float

_MISSING = object()
"""A step not stored yet (``None`` is a stored value)."""

Spec = tuple[float | None, float | None]
"""Pass range ``(lower, upper)`` of a measurement; ``None`` leaves a side open."""


# ---------------------------------------------------------------- typed options


@dataclass(frozen=True)
class Setting:
    """A typed option of a study (``--set NAME=VALUE``).

    Parameters
    ----------
    name
        Identifier.
    default
        Value when not set; its type (``bool``, ``int``, ``float`` or ``str``) is the option's type.
    desc
        One line: what it changes.
    unit
        Unit of a number (``""``: dimensionless).
    bounds
        Closed interval a number must lie in.
    choices
        Allowed values of a text option (e.g. the two readings of an ambiguous sentence).
    """

    name: str
    default: bool | int | float | str
    desc: str = ""
    unit: str = ""
    bounds: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"setting name {self.name!r} must be an identifier.")
        if self.choices and not isinstance(self.default, str):
            raise ValueError(f"setting {self.name!r} has choices, so its default must be one of them.")
        self.check(self.default)

    def check(self, value: object) -> bool | int | float | str:
        """``value`` (text from the command line or a Python value) in the option's type.

        Raises
        ------
        ValueError
            Naming the option, the value and what it accepts.
        """
        kind = type(self.default)
        if kind is bool:
            return self._boolean(value)
        if kind is str:
            if self.choices and value not in self.choices:
                raise ValueError(f"option {self.name!r} = {value!r} is not one of {', '.join(self.choices)}.")
            if not isinstance(value, str):
                raise ValueError(f"option {self.name!r} needs text, got {value!r}.")
            return value
        number = self._number(value)
        if kind is int:
            if number != int(number):
                raise ValueError(f"option {self.name!r} needs a whole number, got {value!r}.")
            number = int(number)
        if self.bounds is not None and not self.bounds[0] <= number <= self.bounds[1]:
            raise ValueError(f"option {self.name!r} = {value!r} lies outside [{self.bounds[0]!r}, {self.bounds[1]!r}]"
                             f"{' ' + self.unit if self.unit else ''}; choose a value inside.")
        return number

    def _number(self, value: object) -> float:
        if isinstance(value, bool):
            raise ValueError(f"option {self.name!r} needs a number, got {value!r}.")
        if isinstance(value, str):
            value = parse_float(value, f"option {self.name!r}")
        return check_value(value, f"option {self.name!r}")

    def _boolean(self, value: object) -> bool:
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"option {self.name!r} needs yes/no (true/false, 1/0), got {value!r}.")

    def describe(self) -> str:
        """One line for ``spicegen study describe``."""
        kind = "yes/no" if isinstance(self.default, bool) else ("|".join(self.choices) if self.choices
                                                                else type(self.default).__name__)
        rng = f" in [{self.bounds[0]:g}, {self.bounds[1]:g}]" if self.bounds else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name} = {self.default!r}{unit}  ({kind}{rng})  {self.desc}"


@dataclass(frozen=True)
class Subset(Setting):
    """A text option naming one or more of ``choices``, separated by commas (stored in the choices' order)."""

    def check(self, value: object) -> str:
        """``value`` as the canonical comma-separated subset.

        Raises
        ------
        ValueError
            Naming the option, the value and the choices.
        """
        names = [v.strip() for v in value.split(",")] if isinstance(value, str) else []
        if not names or any(v not in self.choices for v in names):
            raise ValueError(f"option {self.name!r} = {value!r} must name one or more of "
                             f"{', '.join(self.choices)}, separated by commas.")
        return ",".join(c for c in self.choices if c in names)

    def describe(self) -> str:
        """One line for ``spicegen study describe``."""
        return f"{self.name} = {self.default!r}  (comma-separated subset of {'|'.join(self.choices)})  {self.desc}"


@dataclass(frozen=True)
class Measure:
    """What a study reports under a name: unit, meaning, default pass range, the paper's value.

    Parameters
    ----------
    unit
        Unit of the value (``""``: dimensionless; ``"%"`` for percentages).
    desc
        One line.
    spec
        Default pass range ``(lower, upper)`` (``None`` on a side leaves it open).
    paper
        The source paper's value, when it gives one.
    role
        How the value relates to ``paper``: ``"calibration"`` (a parameter was fitted to make them
        agree) or ``"held out"`` (predicted without fitting to it); required with ``paper``.
    goal
        Relative tolerance the value is held to against ``paper`` (0.15: within ±15 %); it sets
        ``spec`` to ``paper·(1 ∓ goal)``. A goal of another shape (a bound, a factor) is a ``spec``.
    """

    unit: str = ""
    desc: str = ""
    spec: Spec | None = None
    paper: float | None = None
    role: str = ""
    goal: float | None = None

    def __post_init__(self) -> None:
        if self.goal is not None:
            if self.paper is None or self.spec is not None or not (math.isfinite(self.goal) and self.goal > 0):
                raise ValueError(f"measure {self.desc!r}: goal {self.goal!r} must be a relative tolerance > 0 "
                                 "of a paper value without a spec of its own (or give the pass range as spec).")
            bounds = sorted((self.paper * (1 - self.goal), self.paper * (1 + self.goal)))
            object.__setattr__(self, "spec", (bounds[0], bounds[1]))
        if self.role not in ROLES:
            raise ValueError(f"measure role {self.role!r} must be one of {', '.join(map(repr, ROLES))}.")
        if self.paper is not None and not self.role:
            raise ValueError(f"measure {self.desc!r} has the paper value {self.paper!r} but no role; pass "
                             "role='calibration' if a parameter was fitted to make them agree, else role='held out'.")
        if self.paper is None and self.role:
            raise ValueError(f"measure {self.desc!r} has role {self.role!r} but no paper value; pass paper=VALUE "
                             "or leave the role empty.")


ROLES = ("", "calibration", "held out")
"""Allowed :attr:`Measure.role` values (empty: the value is not compared with a paper number)."""


def goal_span(goal: Sequence[float | None], write: Callable[[float], str]) -> str:
    """A pass range ``[lower, upper]`` (None: an open side) in words, each bound written by ``write``:
    ``"a … b"``, ``"= a"`` (a single value), ``"≥ a"`` or ``"≤ b"``."""
    lower, upper = (None if v is None else write(v) for v in goal)
    if lower is not None and lower == upper:
        return f"= {lower}"
    if lower is not None and upper is not None:
        return f"{lower} … {upper}"
    return f"≥ {lower}" if lower is not None else f"≤ {upper}"


def paper_comparison(name: str, measure: Measure, value: float | None) -> dict[str, Any]:
    """The paper-vs-simulation row of a measurement with a paper value.

    Returns
    -------
    dict
        ``measure``, ``desc``, ``unit``, ``paper``, ``ours`` (None when not measured), ``deviation``
        ((ours − paper) / |paper|, None when undefined), ``role``, ``goal`` (the pass range
        ``[lower, upper]`` of :attr:`Measure.spec`, None on an open side; None without one) and
        ``met`` (whether ours lies in it; None without a goal or a value).
    """
    ours = to_jsonable(value)  # NaN (not measured) as None
    paper = measure.paper
    deviation = None if ours is None or paper is None or paper == 0 else (ours - paper) / abs(paper)
    return {"measure": name, "desc": measure.desc, "unit": measure.unit, "paper": paper, "ours": ours,
            "deviation": deviation, "role": measure.role, **judged(measure, value)}


def judged(measure: Measure, value: float | None) -> dict[str, Any]:
    """``goal``: the pass range ``[lower, upper]`` of :attr:`Measure.spec` (None on an open side; None
    without one), and ``met``: whether ``value`` lies in it (None without a pass range or a value)."""
    ours, spec = to_jsonable(value), measure.spec
    met = None if spec is None or ours is None else bool((spec[0] is None or ours >= spec[0])
                                                         and (spec[1] is None or ours <= spec[1]))
    return {"goal": None if spec is None else list(spec), "met": met}


def pass_tally(verdicts: Iterable[bool | None]) -> str:
    """``"k of n measurements with a pass range lie inside it"`` over the ``met`` verdicts of :func:`judged`
    (None, no pass range or no value, is not counted); empty when none has a verdict."""
    judged_ = [met for met in verdicts if met is not None]
    return f"{sum(judged_)} of {len(judged_)} measurements with a pass range lie inside it" if judged_ else ""


# ---------------------------------------------------------------- results


@dataclass
class StudyResult:
    """What a study run returns.

    Attributes
    ----------
    measurements
        Name → number (the study's declared :attr:`Study.measures`; NaN when not measured).
    data
        Anything JSON-able a reader of ``result.json`` wants beside the headline numbers.
    files
        Files the run wrote, relative to its output folder (figures, datasets, tables).
    """

    measurements: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StudyRun:
    """A study folder: its definition and, once finished, its result.

    Attributes
    ----------
    folder
        The output folder.
    definition
        What was run (study, options, seed, n, variations of the devices it uses).
    key
        Hash of the definition (:func:`definition_key`).
    provenance
        Package version, git commit, Python version.
    result
        The content of ``result.json`` (``None`` while unfinished).
    """

    folder: Path
    definition: Mapping[str, Any]
    key: str
    provenance: Mapping[str, Any]
    result: Mapping[str, Any] | None

    @property
    def study(self) -> str:
        """Name of the study."""
        return str(self.definition["study"])

    @property
    def finished(self) -> bool:
        """Whether the run ended and wrote its result."""
        return self.result is not None

    @property
    def measurements(self) -> dict[str, float]:
        """Name → value (NaN for a value that was not measured)."""
        values = (self.result or {}).get("measurements", {})
        return {k: math.nan if v is None else float(v) for k, v in values.items()}

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> StudyRun:
        """Read a study folder.

        Raises
        ------
        FileNotFoundError
            If ``folder`` holds no ``study.json`` (it is not a study folder).
        """
        folder = Path(folder)
        path = folder / STUDY_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{str(folder)!r} is not a study folder (no {STUDY_FILE}); create it with "
                                    "'spicegen study run NAME --out FOLDER'.")
        head = json.loads(path.read_text())
        done = folder / RESULT_FILE
        result = json.loads(done.read_text()) if done.is_file() else None
        if result is not None and result.get("key") != head["key"]:
            result = None  # a result of an earlier definition: stale
        return cls(folder, head["definition"], head["key"], head.get("provenance", {}), result)

    def citation(self, brief: bool = False) -> dict[str, Any]:
        """What an artefact records of this run: study, key, version and commit, and the full definition
        (a surrogate) or, ``brief``, only its options, seed and n (a summary table, a calibration file)."""
        head = {"study": self.study, "key": self.key, **{k: self.provenance.get(k) for k in ("version", "commit")}}
        if brief:
            return {**head, **{k: self.definition.get(k) for k in ("options", "seed", "n")}}
        return {**head, "definition": dict(self.definition)}


STUDY_FILE = "study.json"
RESULT_FILE = "result.json"


# ---------------------------------------------------------------- the study type


FAMILY_ORDER = ("core", "mdwmtj", "reram", "lif")
"""The package's device families (:attr:`Study.family`), in the order listings and the report show them."""


def family_rank(family: str) -> tuple[int, str]:
    """Sort key of a family: the package's in :data:`FAMILY_ORDER`, then any other (a plug-in's) by name."""
    return (FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER), family)


class Study(ABC):
    """A named study: typed options, declared measurements, one :meth:`run`.

    Subclass it in one file, set the class attributes, implement :meth:`run` (and optionally
    :meth:`report` for figures), and decorate the class with :func:`register_study`.

    Attributes
    ----------
    name
        CLI name (letters, digits, ``-``).
    family
        Device family it belongs to (one of :data:`FAMILY_ORDER`; a plug-in may name its own).
    options
        Typed options (:class:`Setting`).
    measures
        Measurement name → :class:`Measure`.
    devices
        Registered devices whose parameters and variations the results depend on: their
        defaults, variations and defining module are part of the definition, so a recalibration or an
        edit of their equations changes the key.
    code
        Modules (dotted names) that build the study's circuits or compute its results: the digest of their
        source (:func:`module_digest`) is part of the definition, so an edit of that code is not answered
        from runs of its earlier form.
    n_default, n_min, n_desc
        Default and least sample count and what one sample is (``None``: no ``--n``).
    seed_default
        Seed used when none is given (printed and stored).
    """

    name: ClassVar[str]
    family: ClassVar[str] = "core"
    options: ClassVar[tuple[Setting, ...]] = ()
    measures: ClassVar[Mapping[str, Measure]] = MappingProxyType({})
    devices: ClassVar[tuple[str, ...]] = ()
    code: ClassVar[tuple[str, ...]] = ()
    n_default: ClassVar[int | None] = None
    n_min: ClassVar[int] = 1
    n_desc: ClassVar[str] = "samples"
    seed_default: ClassVar[int] = 1

    @property
    def doc(self) -> str:
        """Summary of the class docstring (its first paragraph, as one line)."""
        return _first_line(type(self).__doc__)

    def option(self, name: str) -> Setting:
        """The option called ``name``; the error lists the options."""
        for option in self.options:
            if option.name == name:
                return option
        hint = did_you_mean(name, (o.name for o in self.options))
        raise KeyError(f"study {self.name!r} has no option {name!r}{hint}; "
                       "options: "
                       f"{', '.join(o.name for o in self.options) or 'none'} (see 'spicegen study describe {self.name}').")

    def resolve(self, settings: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Every option's value: defaults, then ``settings`` (checked, converted)."""
        values: dict[str, Any] = {o.name: o.default for o in self.options}
        for name, value in (settings or {}).items():
            values[name] = self.option(name).check(value)
        return values

    def check_n(self, n: int | None) -> int | None:
        """The sample count to use: ``n`` (checked against :attr:`n_min`) or the default."""
        if self.n_default is None:
            if n is not None:
                raise ValueError(f"study {self.name!r} takes no sample count (--n); its size is set by its options.")
            return None
        n = self.n_default if n is None else n
        if isinstance(n, bool) or not isinstance(n, int) or n < self.n_min:
            raise ValueError(f"study {self.name!r} needs n >= {self.n_min} {self.n_desc}, got {n!r}: "
                             f"below that its statistics mean nothing; pass --n {max(self.n_min, 1)} or more.")
        return n

    @abstractmethod
    def run(self, ctx: StudyContext) -> StudyResult:
        """Run the study with ``ctx.options``, ``ctx.n`` and ``ctx.seed``; write files under ``ctx.out``."""

    def report(self, result: StudyResult, out: Path) -> list[str]:
        """Write figures of ``result`` into ``out``; return their names relative to ``out``."""
        return []

    def depends_on(self) -> Mapping[str, Any]:
        """JSON-able values the results depend on beyond the options and the devices' parameters (e.g. a
        circuit's calibrated sizes): part of the definition, so changing them changes the key."""
        return {}


def _first_line(text: str | None) -> str:
    """A docstring's summary: its first paragraph as one line (a summary wrapped in the source stays whole)."""
    return " ".join(text.strip().split("\n\n")[0].split()) if text and text.strip() else ""


def variations(devices: Iterable[str]) -> dict[str, Any]:
    """Nominal value and variation (every field, so both readings of a sentence stay apart) of every
    parameter of ``devices``, and the digest of each device's defining module (its equations): part of a
    study definition, so an edited device is not answered from a run of its earlier form."""
    from .device import get_device, source_digest

    out: dict[str, Any] = {}
    for name in devices:
        model = get_device(name)
        for p in model.params:
            out[f"{name}.{p.name}"] = {"default": p.default,
                                       "variation": asdict(p.variation) if p.variation is not None else None}
        out[f"{name}#source"] = source_digest(name)
    return out


def module_digest(*modules: str) -> str:
    """SHA-256 (first 16 hex digits) of the source text of the named modules (dotted names).

    The definition of a study holds the digest of the modules in its :attr:`Study.code` (the code that builds
    its circuits and computes its results): an edit of that code changes the key, so it is not answered from
    runs of the code's earlier form. A module already imported is read from its file (plug-ins loaded by path).

    Raises
    ------
    ValueError
        If a module cannot be found or has no source file.
    """
    from .plugins import source_file

    digest = hashlib.sha256()
    for name in modules:
        path = source_file(name)
        if path is None:
            raise ValueError(f"module {name!r} has no source file to digest; name an importable module "
                             f"(dotted, e.g. 'testbenches.lif.neuron').")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def make_definition(study: Study, options: Mapping[str, Any], seed: int, n: int | None) -> dict[str, Any]:
    """The definition of a run: everything that determines its results."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}.")
    definition = {"study": study.name, "options": dict(sorted(options.items())), "seed": seed, "n": n,
                  "variations": variations(study.devices)}
    if study.code:
        definition["code"] = module_digest(*study.code)
    extra = study.depends_on()
    return to_jsonable({**definition, "depends_on": dict(extra)} if extra else definition)


def definition_key(definition: Mapping[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the definition's canonical JSON."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def git_commit() -> str | None:
    """Commit of the checkout spicegen runs from (``+dirty`` with uncommitted changes); ``None`` when
    it is not a git checkout (an installed wheel)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


# ---------------------------------------------------------------- the context


@dataclass
class StudyContext:
    """What a study's :meth:`~Study.run` gets.

    Attributes
    ----------
    study
        The study.
    options
        Every option's checked value.
    seed
        The run's seed; :meth:`rng` and :meth:`sample_devices` derive named streams from it.
    n
        Sample count (``None`` for studies without one).
    out
        Output folder (exists).
    workers, dask
        Parallelism for :meth:`monte_carlo`.
    progress
        Whether to show progress bars.
    key
        Hash of the run's definition (steps are cached under it).
    """

    study: Study
    options: Mapping[str, Any]
    seed: int
    n: int | None
    out: Path
    workers: int = 1
    dask: str | None = None
    progress: bool = True
    key: str = ""

    @property
    def seeds(self) -> np.random.SeedSequence:
        """The root of every random stream of the run."""
        return np.random.SeedSequence(self.seed)

    def stream_seed(self, name: str) -> int:
        """A study seed for the named stream (for engines that take an integer seed)."""
        return int(np.random.SeedSequence(self.seed, spawn_key=(_stream_id(name),)).generate_state(1)[0])

    def rng(self, name: str, *index: int) -> np.random.Generator:
        """The generator of stream ``name`` (and ``index``: one per device, run, ...), independent of
        every other stream of the run."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(_stream_id(name), *index)))

    def sample_devices(self, device: str, n: int, *, kinds: Sequence[str] = ("d2d",), stream: str = "devices",
                       values: Mapping[str, float] | None = None, sigmas: Mapping[str, float] | None = None,
                       normals: bool = False, correlations: Mapping[str, float] | None = None) -> list[dict[str, float]]:
        """``n`` devices drawn with the engine's sampler (every distribution, correlated groups).

        See :func:`spicegen.montecarlo.sampling.draw_devices`; device ``k`` is sample ``k`` of the
        stream's seed, so it does not depend on ``n``.
        """
        from .montecarlo.sampling import draw_devices

        return draw_devices(device, n, seed=self.stream_seed(stream), kinds=kinds, values=values, sigmas=sigmas,
                            normals=normals, correlations=correlations)

    def monte_carlo(self, testbench: str, n: int, *, folder: str | None = None, stream: str | None = None,
                    **definition: Any) -> Any:
        """Run (or resume) ``n`` samples of a netlist ``testbench`` into ``out/<folder>`` and return the
        finished study as a :class:`pandas.DataFrame` (one row per sample).

        Parameters
        ----------
        testbench
            Registered testbench name.
        n
            Samples per sweep point.
        folder
            Sub-folder (default: the testbench name).
        stream
            Seed stream (default: the run's seed itself, so ``spicegen mc`` with that seed gives the
            same samples).
        definition
            ``settings``, ``sweep``, ``sigmas``, ``correlations``, ``kinds``, ``pack``, ``timeout`` of
            :func:`~spicegen.montecarlo.run_study`.
        """
        from .montecarlo import load_dataframe, run_study
        from .testbench import get_testbench

        target = self.out / (folder or testbench)
        seed = self.seed if stream is None else self.stream_seed(stream)
        self.say(f"{self.study.name}: Monte Carlo {testbench} ({n} samples per point) -> {target}")
        run_study(get_testbench(testbench), target, n=n, seed=seed, workers=self.workers, dask=self.dask,
                  progress=self.progress, desc=f"{self.study.name}: {folder or testbench}", **definition)
        return load_dataframe(target)

    def simulate(self, testbench: str, settings: Mapping[str, Any] | None = None) -> dict[str, float]:
        """One nominal run of a netlist testbench: measurement name → value."""
        from .montecarlo import make_plan, simulate
        from .testbench import get_testbench

        return simulate(make_plan(get_testbench(testbench), seed=0, settings=settings))

    def citation(self, brief: bool = True) -> dict[str, Any]:
        """This run as an artefact cites it (see :meth:`StudyRun.citation`)."""
        return StudyRun.open(self.out).citation(brief)

    def step(self, name: str, compute: Callable[[], Any]) -> Any:
        """A resumable step: ``compute()``'s JSON-able value, stored under ``out/steps/<name>.json``
        with the run's key and the wall seconds it took, and returned from there on a re-run (a killed run
        keeps its finished steps)."""
        stored = self._stored(name)
        if stored is not _MISSING:
            self.say(f"{self.study.name}: step {name!r} already done ({self.out / 'steps' / name}.json)")
            return stored
        return self._store(name, *_timed(compute, {}))

    def steps(self, calls: Mapping[str, tuple[Callable[..., Any], Mapping[str, Any]]], *,
              desc: str = "steps") -> dict[str, Any]:
        """Resumable steps that do not depend on each other, run on ``workers`` processes.

        Each ``name: (function, kwargs)`` is the step ``name`` of :meth:`step` computing
        ``function(**kwargs)``. The unfinished ones run under one progress bar: in this process with
        one worker, else on a pool of ``workers`` spawned processes (``function`` must then be defined
        at module level and ``kwargs`` picklable). Each value is stored the moment it is computed, so
        a failing step, Ctrl-C or a kill keeps every finished one; values do not depend on
        ``workers``.

        Returns
        -------
        dict
            Step name → value, as :meth:`step` returns it (JSON round-tripped).
        """
        done = {name: self._stored(name) for name in calls}
        pending = [name for name, value in done.items() if value is _MISSING]
        if len(calls) > len(pending):
            self.say(f"{self.study.name}: {len(calls) - len(pending)} of {len(calls)} {desc} already done "
                     f"({self.out / 'steps'})")
        with self.bar(total=len(pending), desc=desc) as bar:
            if self.workers == 1 or len(pending) < 2:
                for name in pending:
                    bar.set_postfix_str(name)
                    function, kwargs = calls[name]
                    done[name] = self._store(name, *_timed(function, kwargs))
                    bar.update()
            else:
                from .montecarlo.study import process_pool

                _check_importable({name: calls[name][0] for name in pending})
                with process_pool(min(self.workers, len(pending))) as pool:
                    futures = {pool.submit(_timed, *calls[name]): name for name in pending}
                    for future in as_completed(futures):
                        done[futures[future]] = self._store(futures[future], *future.result())
                        bar.update()
        return done

    def _stored(self, name: str) -> Any:
        path = self.out / "steps" / f"{name}.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored.get("key") == self.key:
                return stored["value"]
        return _MISSING

    def _store(self, name: str, value: Any, seconds: float) -> Any:
        path = self.out / "steps" / f"{name}.json"
        write_json(path, {"key": self.key, "value": value, "seconds": seconds})
        return json.loads(path.read_text())["value"]

    def bar(self, iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "") -> Any:
        """A progress bar (rate, ETA) named after the study and ``desc``; silent without progress."""
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=f"{self.study.name}{': ' + desc if desc else ''}",
                    disable=not self.progress, dynamic_ncols=True, file=sys.stderr)

    def say(self, text: str) -> None:
        """A line of progress on stderr (when progress is shown)."""
        if self.progress:
            print(text, file=sys.stderr, flush=True)


def _timed(function: Callable[..., Any], kwargs: Mapping[str, Any]) -> tuple[Any, float]:
    """``function(**kwargs)`` and the wall seconds it took (kept in the step's file)."""
    start = time.perf_counter()
    return function(**kwargs), time.perf_counter() - start


def _check_importable(functions: Mapping[str, Callable[..., Any]]) -> None:
    """Refuse a step function a worker process cannot import (a lambda, a nested function)."""
    for name, function in functions.items():
        where = getattr(function, "__qualname__", "")
        if "<" in where or not getattr(function, "__module__", None):
            raise ValueError(f"step {name!r}: {where or function!r} cannot run in a worker process; define it at "
                             "module level (a lambda or nested function cannot be sent to another process).")


def _stream_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


# ---------------------------------------------------------------- running


def run(study: Study | str, out: str | os.PathLike[str], *, settings: Mapping[str, object] | None = None,
        seed: int | None = None, n: int | None = None, workers: int = 1, dask: str | None = None,
        progress: bool = True, force: bool = False) -> StudyRun:
    """Run ``study`` into the folder ``out`` (or return its finished run).

    Parameters
    ----------
    study
        A study or a registered study name.
    out
        Output folder. A folder holding another study, or the same study with another definition,
        is refused (use a new folder): nothing in it is overwritten.
    settings
        Option name → value (text is converted and checked).
    seed
        Seed (default: the study's :attr:`~Study.seed_default`).
    n
        Sample count (default: the study's :attr:`~Study.n_default`).
    workers, dask, progress
        As :func:`~spicegen.montecarlo.run_study`.
    force
        Run again even when ``out`` holds the finished run.

    Returns
    -------
    StudyRun

    Raises
    ------
    ValueError, KeyError
        For bad options, n, seed, or a folder holding something else.
    """
    study = get_study(study) if isinstance(study, str) else study
    options, seed, n, definition, key = _planned(study, settings, seed, n)
    folder = Path(out)
    _claim(folder, study.name, definition, key)
    existing = StudyRun.open(folder)
    if existing.finished and not force:
        return existing
    ctx = StudyContext(study, MappingProxyType(options), seed, n, folder, workers, dask, progress, key)
    ctx.say(f"{study.name}: {f'n = {n}, ' if n is not None else ''}definition key {key}")
    start = time.perf_counter()
    result = study.run(ctx)
    files = [*result.files, *study.report(result, folder)]
    missing = sorted(set(study.measures) - set(result.measurements))
    if missing:
        raise ValueError(f"study {study.name!r} did not report {missing}; report NaN for a value it cannot measure.")
    write_json(folder / RESULT_FILE, {
        "study": study.name, "key": key, "measurements": result.measurements,
        "units": {k: study.measures[k].unit for k in result.measurements if k in study.measures},
        "paper": {k: m.paper for k, m in study.measures.items() if m.paper is not None},
        "roles": {k: m.role for k, m in study.measures.items() if m.paper is not None},
        "goals": {k: m.spec for k, m in study.measures.items() if m.spec is not None},
        "data": result.data, "files": files, "seconds": time.perf_counter() - start})
    return StudyRun.open(folder)


def planned_key(study: Study | str, settings: Mapping[str, object] | None = None, seed: int | None = None,
                n: int | None = None) -> str:
    """The definition key a :func:`run` of ``study`` with these settings, seed and n would have."""
    return _planned(get_study(study) if isinstance(study, str) else study, settings, seed, n)[4]


def _planned(study: Study, settings: Mapping[str, object] | None, seed: int | None,
             n: int | None) -> tuple[dict[str, Any], int, int | None, dict[str, Any], str]:
    """Options, seed, n, definition and key of a run of ``study`` (defaults filled in, everything checked)."""
    options = study.resolve(settings)
    n = study.check_n(n)
    seed = study.seed_default if seed is None else seed
    definition = make_definition(study, options, seed, n)
    return options, seed, n, definition, definition_key(definition)


class OtherDefinitionError(ValueError):
    """A study folder holds a finished or partial run of another definition; nothing in it was touched."""


def _claim(folder: Path, name: str, definition: Mapping[str, Any], key: str) -> None:
    """Write ``study.json`` into ``folder``, or check that the one there is this definition."""
    path = folder / STUDY_FILE
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            return
        old = stored.get("definition", {})
        changed = sorted(k for k in set(old) | set(definition) if old.get(k) != definition.get(k))
        raise OtherDefinitionError(f"{str(folder)!r} holds a run of study {old.get('study')!r} with another "
                                   f"definition (differs in {', '.join(changed)}); choose a new --out folder, or move "
                                   "this one aside to run it again here (nothing was overwritten).")
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{str(folder)!r} exists and is not a study folder; choose a new or empty --out folder "
                         "(nothing was overwritten).")
    write_json(path, {"definition": definition, "key": key,
                      "provenance": {"version": __version__, "commit": git_commit(),
                                     "python": sys.version.split()[0]}})


def rerun(citation: Mapping[str, Any], out: str | os.PathLike[str], **kwargs: Any) -> StudyRun:
    """Run again the study a surrogate's provenance cites (:meth:`StudyRun.citation`) into ``out``.

    Raises
    ------
    ValueError
        If the study's definition today differs from the cited one (e.g. a device was
        recalibrated since): the message names what differs.
    """
    key, changed = changes_since(citation)
    definition = citation["definition"]
    study = get_study(definition["study"])
    if changed:
        raise ValueError(f"study {study.name!r} cannot be re-run as cited: its definition today differs in "
                         f"{', '.join(changed)} (cited key {citation['key']}, today {key}).")
    return run(study, out, settings=study.resolve(definition["options"]), seed=definition["seed"], n=definition["n"],
               **kwargs)


def changes_since(citation: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Today's key of the study definition a provenance cites (same study, options, seed and n), and the
    fields of the definition that differ from the cited one (e.g. ``code`` after an edit of the study's
    modules, ``variations`` after a recalibration); none when the cited run can be re-run as it was."""
    definition = citation["definition"]
    study = get_study(definition["study"])
    today = make_definition(study, study.resolve(definition["options"]), definition["seed"], definition["n"])
    changed = sorted(k for k in set(today) | set(definition) if today.get(k) != definition.get(k))
    return definition_key(today), changed


# ---------------------------------------------------------------- extractions


class Extraction(ABC):
    """Turns a finished study run into shipped artefacts (surrogates, parameter tables, figures).

    Attributes
    ----------
    name
        CLI name.
    source
        Name of the study whose run it reads.
    statistic
        What it fits (``"mean"``, ``"sigma"``, ``"lower bound"`` ...).
    form
        The form(s) fitted.
    package, folder
        Where the shipped artefacts live as package data: ``importlib.resources.files(package) / folder``.
    """

    name: ClassVar[str]
    source: ClassVar[str]
    statistic: ClassVar[str] = ""
    form: ClassVar[str] = ""
    package: ClassVar[str] = "fitting"
    folder: ClassVar[str] = ""

    @property
    def doc(self) -> str:
        """Summary of the class docstring (its first paragraph, as one line)."""
        return _first_line(type(self).__doc__)

    def shipped(self) -> Path:
        """Folder of the shipped artefacts (package data)."""
        from importlib.resources import files

        return Path(str(files(self.package))) / self.folder

    @abstractmethod
    def fit(self, run: StudyRun, out: Path) -> list[Path]:
        """Fit ``run`` (a finished run of :attr:`source`) and write the artefacts into ``out``
        (each surrogate citing ``run.citation()``); return the files written."""


def extract(extraction: Extraction | str, source: str | os.PathLike[str], out: str | os.PathLike[str]) -> list[Path]:
    """Run an extraction on the study folder ``source`` into ``out``.

    Raises
    ------
    FileNotFoundError
        If ``source`` holds no finished run of the extraction's study; the message says how to make it.
    """
    extraction = get_extraction(extraction) if isinstance(extraction, str) else extraction
    hint = f"run 'spicegen study run {extraction.source} --out {source}' first"
    try:
        run_ = StudyRun.open(source)
    except FileNotFoundError:
        raise FileNotFoundError(f"extraction {extraction.name!r} needs a finished run of study "
                                f"{extraction.source!r} in {str(source)!r}; {hint}.") from None
    if run_.study != extraction.source or not run_.finished:
        what = "an unfinished run" if run_.study == extraction.source else f"a run of study {run_.study!r}"
        raise FileNotFoundError(f"extraction {extraction.name!r} needs a finished run of study {extraction.source!r}, "
                                f"but {str(source)!r} holds {what}; {hint}.")
    return extraction.fit(run_, Path(out))


def shipped_currency(extraction: Extraction) -> str:
    """Whether the shipped artefacts of ``extraction`` come from today's definition of their source study:
    ``"current"`` (every run they cite can be re-run as cited), ``"older definition (FIELDS)"`` naming what
    differs (:func:`changes_since`), or ``"nothing shipped"``."""
    citations: dict[str, Mapping[str, Any]] = {}  # by definition: the files of one extraction mostly cite one run
    folder = extraction.shipped()
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else ():
        try:
            citation = (json.loads(path.read_text()).get("provenance") or {}).get("study")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(citation, dict) and "definition" in citation:
            citations.setdefault(json.dumps(citation["definition"], sort_keys=True, default=str), citation)
    if not citations:
        return "nothing shipped"
    changed: set[str] = set()
    for citation in citations.values():
        try:
            changed.update(changes_since(citation)[1])
        except (KeyError, ValueError):  # a study or an option that no longer exists
            changed.add("study or options")
    return f"older definition ({', '.join(sorted(changed))})" if changed else "current"


def ship(extraction: Extraction, built: Path) -> list[Path]:
    """Replace the shipped artefacts of ``extraction`` by the files in ``built``, unless that loses
    something: every shipped file must be rebuilt, non-empty. Returns the files copied.

    Raises
    ------
    ValueError
        Naming the shipped files the new build lacks (nothing is changed then).
    """
    target = extraction.shipped()
    old = {p.relative_to(target) for p in target.rglob("*") if p.is_file()} if target.is_dir() else set()
    new = {p.relative_to(built) for p in built.rglob("*") if p.is_file() and p.stat().st_size > 0}
    lost = sorted(str(p) for p in old - new)
    if lost:
        raise ValueError(f"extraction {extraction.name!r}: the new build lacks shipped files {lost}; "
                         f"the shipped artefacts in {target} are kept unchanged.")
    from .files import write_bytes

    return [write_bytes(target / rel, (built / rel).read_bytes()) for rel in sorted(new)]


# ---------------------------------------------------------------- registries

_studies: dict[str, Study] = {}
_extractions: dict[str, Extraction] = {}


def register_study(cls: type[Study]) -> type[Study]:
    """Class decorator: add a :class:`Study` subclass (one instance) to the registry.

    Raises
    ------
    ValueError
        On a bad or duplicate name, or a measurement declared twice.
    """
    _register(cls, _studies, "study")
    return cls


def register_extraction(cls: type[Extraction]) -> type[Extraction]:
    """Class decorator: add an :class:`Extraction` subclass (one instance) to the registry."""
    _register(cls, _extractions, "extraction")
    return cls


def _register(cls: type, table: dict[str, Any], what: str) -> None:
    import re

    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ValueError(f"{what} {cls.__qualname__}: name {name!r} must be lower-case letters, digits and '-'.")
    known = table.get(name)
    if known is not None and type(known).__qualname__ != cls.__qualname__:
        raise ValueError(f"{what} name {name!r} is already registered by {type(known).__module__}.")
    table[name] = cls()


def get_study(name: str) -> Study:
    """The study called ``name``; the error lists the known names.

    Plug-in files are loaded first; of the installed plug-ins only the module that registers
    ``name`` is imported (:mod:`spicegen.catalog`).
    """
    return _lookup(name, "studies", _studies, "study")


def get_extraction(name: str) -> Extraction:
    """The extraction called ``name`` (imported as :func:`get_study` imports a study); the error lists the known names."""
    return _lookup(name, "extractions", _extractions, "extraction")


def studies() -> Mapping[str, Study]:
    """Every registered study by name (the package's own and plug-ins)."""
    from . import plugins

    plugins.load(("devices", "testbenches", "studies"))
    return MappingProxyType(dict(sorted(_studies.items())))


def extractions() -> Mapping[str, Extraction]:
    """Every registered extraction by name."""
    from . import plugins

    plugins.load()
    return MappingProxyType(dict(sorted(_extractions.items())))


def _lookup(name: str, kind: str, table: Mapping[str, Any], what: str) -> Any:
    from .catalog import import_for, listing
    from .plugins import load_files

    load_files()
    if name not in table:
        import_for(kind, name)
    if name not in table:
        known = listing(kind)
        raise KeyError(f"unknown {what} {name!r}{did_you_mean(name, known)}; known: {', '.join(known) or '(none)'} "
                       f"(see 'spicegen {'study list' if what == 'study' else 'extract --list'}').")
    return table[name]


def describe_study(study: Study) -> str:
    """The text of ``spicegen study describe NAME``: options, measurements, sample count, seed."""
    lines = [f"{study.name} [{study.family}]: {study.doc}", "", "options (--set NAME=VALUE):"]
    lines += [f"  {o.describe()}" for o in study.options] or ["  (none)"]
    if study.n_default is not None:
        lines += ["", f"--n: {study.n_desc} (default {study.n_default}, at least {study.n_min})"]
    lines += ["", f"--seed: default {study.seed_default}", "", "measurements:"]
    for name, m in study.measures.items():
        spec = "" if m.spec is None else f"  spec [{_bound(m.spec[0], '-inf')}, {_bound(m.spec[1], 'inf')}]"
        paper = "" if m.paper is None else f"  paper {m.paper:g}"
        lines.append(f"  {name:24s} {m.unit or '-':8s} {m.desc}{spec}{paper}")
    if study.devices:
        lines += ["", f"devices: {', '.join(study.devices)}"]
    return "\n".join(lines)


def _bound(value: float | None, open_side: str) -> str:
    return open_side if value is None else f"{value:g}"

