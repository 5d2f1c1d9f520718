"""Run complete netlists in ngspice 46 and return their vectors.

Two backends give identical vectors:

- ``"shared"``: :class:`NgSpiceShared`, a thin ctypes binding to
  ``libngspice.so.0`` (one per process, fastest: no process start, no file I/O);
- ``"subprocess"``: ``ngspice -b`` on a temporary copy of the netlist, results
  read back from a binary rawfile.

Vector names follow ngspice's rawfile convention, lower-cased: node voltages
by node name (``'out'``, also the scales ``'time'``, ``'frequency'``,
``'v-sweep'``), currents as ``'i(v1)'`` (also ``'i(i-sweep)'``).
:class:`SimResult` also accepts ``'v(out)'``, ``'v1#branch'`` and ``'i-sweep'``.

ngspice 46 facts this module relies on (measured on Debian's 46+ds-1~bpo12+1):

- A *fatal* error (unknown B-source function, expression syntax error,
  undefined ``{param}``, missing ``.include``) makes the library call its
  ``ControlledExit`` callback and longjmp back; afterwards every netlist fails.
  ``ngSpice_Reset`` + ``ngSpice_Init`` segfaults on the Debian build, so the
  binding recovers by ``dlclose`` + ``dlopen`` (about 0.13 MB of heap is not
  returned per recovery).
- ``ngSpice_nospiceinit`` segfaults before ``ngSpice_Init``, and Init reads a
  ``.spiceinit`` in the working directory (then the home directory), as
  ``ngspice -b`` does; the subprocess backend keeps reading it, for parity.
- Ctrl-C during a synchronous call is raised by Python inside a ctypes
  callback, where it is dropped; it is caught there and re-raised after the
  call. A synchronous run is therefore not interrupted; a run in ngspice's
  background thread (a timeout, or ``interruptible=True``) is stopped with
  ``bg_halt`` at its next time step.
- Each kept plot slows the next run down: :meth:`NgSpiceShared.run` frees them.
- ``osdi`` adds device types to a global table, but a circuit's model table is
  sized when the circuit is parsed and walked up to the current number of types:
  a circuit loaded before an ``osdi`` command is read out of bounds and
  ``remcirc`` segfaults (valgrind: an 8-byte read just past the 1096-byte table
  of 137 types).  :meth:`NgSpiceShared.load_osdi` removes all circuits first.
- Of two libraries defining a module of the same name the first one loaded is
  instantiated, silently; :meth:`NgSpiceShared.load_osdi` starts afresh instead.
- The control language has no working quoting (quotes are kept literally,
  ``$`` is substituted inside them), so paths sent to ngspice are validated,
  not quoted.
- A B-source domain error (``ln``/``sqrt`` of a negative number) is *not*
  fatal: it fails the analysis ("Timestep too small") like a convergence
  failure; ``pow(x, 0.5)`` with ``x < 0`` silently returns a number.
- The default matrix solver is SPARSE 1.3, whose reordering and fill-in grow
  as (cells)^2.3-3.1 on a meshed circuit (a 16x16 differential ReRAM array,
  512 cells: 3-24 s depending on the input, against 0.09 s with KLU). KLU
  (``.options klu``) grows as cells^1.1-1.3 up to 8192 cells and agrees to 1e-13. On small or
  banded circuits the two are within ~25 % of each other either way (a
  1000-stage RC ladder transient: KLU 27 % slower). So a deck of at least
  :data:`KLU_ELEMENTS` element lines that names no solver gets ``.options klu``
  (:func:`choose_solver`), for both backends.
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import ctypes.util
import functools
import itertools
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KLU_ELEMENTS", "NgSpiceShared", "SimError", "SimResult", "choose_solver", "run_netlist"]

_SETUP_HINT = (
    "run scripts/setup.sh (installs ngspice and libngspice0 46 from bookworm-backports)"
)
# Sent after every start of ngspice: OSDI evaluation is OpenMP-tasked and
# Debian's spinit asks for 8 threads (20x slower on 2 cores); no_mem_check
# stops a /proc/meminfo read per stored point (2.8x slower transients).
SETTINGS = ("set num_threads=1", "set no_mem_check")
_ANALYSIS = re.compile(r"\s*\.(op|dc|ac|tran|noise|tf|sens|pz|disto|pss|sp)\b", re.I)
_CONTROL = re.compile(r"\s*\.(control|endc)\b", re.I)
_END = re.compile(r"\s*\.end\s*$", re.I)
_OSDI_COMMAND = re.compile(r"\s*(pre_)?osdi\b", re.I)
_OPERATING_POINT = re.compile(r"\s*\.op\b", re.I)
# .noise writes two plots, the spectra and then the integrated noise; the spectra are the result
_NOISE = re.compile(r"\s*\.noise\b", re.I)
_SOLVER_OPTION = re.compile(r"\s*\.options?\b.*\b(klu|sparse)\b", re.I)
#: Element lines from which a deck that names no matrix solver runs on KLU. Measured on ReRAM
#: crossbar ``.op`` decks (BENCHMARKS.md): SPARSE and KLU are even at ~300 element lines (a 6x6
#: differential array), SPARSE is 2.4x slower at 536 (8x8) and 9x at 1188 (12x12).
KLU_ELEMENTS = 300
_SAFE_PATH = re.compile(r"[\w./+@%,-]+")
_PARAM_NAME = re.compile(r"[A-Za-z_]\w*")
_ELEMENT_NAME = re.compile(r"[A-Za-z][\w.]*")  # a netlist element, or one inside subcircuits (m.xmc3.mn)
# A line matching _PARSE_FAILED in ngSpice_Circ's output means the deck was
# rejected; _RUN_FAILED in a run's output means the analysis failed.
_PARSE_FAILED = re.compile(r"\berror\b|could not find|unable to find", re.I)
_RUN_FAILED = re.compile(
    r"doanalyses:|run simulation|no simulations run|circuit not parsed"
    r"|there aren't any circuits|cannot recover",
    re.I,
)
# Diagnostic lines, most telling first: the first pattern found in the log
# gives SimError.reason (from where it matches to the end of the line).
_REASONS = tuple(
    re.compile(p, re.I)
    for p in (
        r"parameter \S+ is out of bounds.*",
        r"singular matrix.*",
        r".*out of range for .*",
        r"error on line.*|.*no such function.*|.*yyparse.*|.*undefined parameter.*"
        r"|error: unknown subckt.*|.*could not find.*|.*unable to find.*"
        r"|error opening osdi.*|.*couldn't be loaded.*",
        r".*timestep too small.*",
        r"doanalyses:.*",
        r"^(?!.*cannot recover).*\berror\b.*",
        r"run simulation.*|no simulations run.*|warning: no job.*",
    )
)
_HINTS = (
    (r"singular matrix", "a node has no DC path to ground (floating, or only "
     "capacitors/current sources attached): add a large resistor to ground "
     "or '.options rshunt=1e12'"),
    (r"out of range for", "a B-source expression left its domain (ln, sqrt, "
     "pow of a negative number?): keep the argument positive, e.g. max(x, 1e-12)"),
    (r"no such function|yyparse", "fix the B-source expression: check the "
     "function names and parentheses"),
    (r"undefined parameter", "define the parameter with .param"),
    (r"out of bounds", "the value of that parameter on the .model card or N line lies outside the range the "
     "Verilog-A module declares for it (its 'from [lo:hi]'): pass a value inside the range. spicegen's "
     "format_instance checks the ranges before it writes a card or line, and the ranges it emits accept a "
     "value exactly at a bound, which ngspice reads up to 2 ulps off"),
    (r"unknown parameter", "the element on that line has no instance parameter of that name; an OSDI device "
     "(letter N) takes on its line only the parameters its Verilog-A module declares (*type=\"instance\"*), "
     "the others go on its .model card (spicegen's format_instance places each where it belongs)"),
    (r"definition of model|modelname", "no .model card of that name, or its type is unknown: add the "
     ".model line, and for an OSDI device (letter N) pass the compiled .osdi file as osdi=[...] so "
     "that its module name is a model type"),
    (r"error opening osdi|couldn.t be loaded", "pass the path of a compiled .osdi file (spicegen compile DEVICE "
     "writes one)"),
    (r"timestep too small", "the solver did not converge: check the model "
     "for discontinuities, bound its states, or relax .options reltol/abstol"),
    (r"timed out", "raise the timeout or shorten the analysis (.tran step/stop)"),
)


class SimError(RuntimeError):
    """Simulation failed.

    Parameters
    ----------
    reason : str
        One line saying what failed, usually ngspice's own error line.
    netlist : str
        The netlist that was simulated.
    command : str
        The ngspice command or command line that failed.
    log : str
        ngspice's own output.

    Notes
    -----
    The constructor arguments are kept in ``args``, so the error pickles
    across processes (Monte Carlo workers).
    """

    def __init__(self, reason: str, netlist: str = "", command: str = "", log: str = "") -> None:
        super().__init__(reason, netlist, command, log)
        self.reason, self.netlist, self.command, self.log = reason, netlist, command, log

    def __str__(self) -> str:
        tail = self.log.splitlines()[-40:]
        text = [self.reason, f"  command: {self.command}"]
        hint = _hint(self.reason)
        if hint:
            text.append(f"  hint: {hint}")
        if tail:
            text.append(f"  last {len(tail)} lines of the ngspice log:")
            text.extend(f"    {line}" for line in tail)
        return "\n".join(text)


@dataclass(frozen=True)
class SimResult(Mapping[str, np.ndarray]):
    """Vectors of one analysis plot, as a read-only mapping from name to array.

    Iteration, ``keys()``, ``values()``, ``items()`` and ``len`` follow the
    canonical names of :attr:`vectors`; ``[]``, ``in`` and ``get`` also take
    ngspice's other spellings, case-insensitively (see :meth:`__getitem__`).

    Attributes
    ----------
    vectors : Mapping[str, numpy.ndarray]
        Lower-case names (``'time'``, ``'out'``, ``'i(v1)'``) to float64
        arrays, or complex128 arrays for the signals of an ``.ac`` plot
        (its ``'frequency'`` scale stays float64).
    log : str
        ngspice's output while loading and running the netlist.
    """

    vectors: Mapping[str, np.ndarray]
    log: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "vectors", MappingProxyType(dict(self.vectors)))

    def __getitem__(self, name: str) -> np.ndarray:
        """Return a vector by name, case-insensitively.

        ``'v(out)'`` and ``'out'`` name the same node voltage; ``'i(v1)'``,
        ``'v1#branch'`` and ``'v1'`` the same current (unless a node is
        called ``v1``).

        Raises
        ------
        KeyError
            If no vector has that name; the message lists the available ones.
        """
        return self.vectors[self.key(name)]

    def key(self, name: str) -> str:
        """The canonical name (a key of :attr:`vectors`) of the vector ``self[name]`` returns.

        Raises
        ------
        KeyError
            If no vector has that name; the message lists the available ones.
        """
        if isinstance(name, str):
            for key in _aliases(name):
                if key in self.vectors:
                    return key
        raise KeyError(f"no vector {name!r}; available: {', '.join(self.vectors)}")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k in self.vectors for k in _aliases(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self.vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def to_dataframe(self) -> pd.DataFrame:
        """Return the vectors as the columns of a :class:`pandas.DataFrame`.

        Returns
        -------
        pandas.DataFrame
            One column per vector, named and ordered as :meth:`keys`, one row per point.

        Raises
        ------
        ValueError
            If the vectors differ in length (e.g. one added with ``let``); the message
            gives each vector's length.
        """
        import pandas as pd

        lengths = {name: values.size for name, values in self.vectors.items()}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{name}: {length}" for name, length in lengths.items())
            raise ValueError(f"to_dataframe needs vectors of equal length, got {listed}")
        return pd.DataFrame(dict(self.vectors))


def run_netlist(
    netlist: str,
    *,
    osdi: Sequence[str | os.PathLike[str]] = (),
    backend: Literal["shared", "subprocess"] = "shared",
    timeout: float | None = None,
) -> SimResult:
    """Run a complete netlist and return the vectors of its analysis plot.

    Parameters
    ----------
    netlist : str
        Title line, elements, ``.model``/``.param``/``.options`` lines,
        exactly one analysis line (``.op``, ``.dc``, ``.tran``, ``.ac``, ...)
        and ``.end``.  No ``.control`` block: spicegen adds its own.
    osdi : sequence of path-like
        Compiled Verilog-A models (``.osdi``) the netlist instantiates.
    backend : {"shared", "subprocess"}
        ``"shared"`` drives libngspice in this process; ``"subprocess"`` runs
        ``ngspice -b``.  Both return identical vectors.
    timeout : float, optional
        Seconds before the simulation is stopped and SimError raised.  The
        shared backend checks it between time steps / sweep points.

    Returns
    -------
    SimResult
        For ``.noise``, the spectra: ``'frequency'``, ``'onoise_spectrum'`` and
        ``'inoise_spectrum'`` as densities (V/√Hz or A/√Hz), not the integrated plot.

    Raises
    ------
    SimError
        If ngspice rejects the netlist or the analysis fails.  The next call
        works again, also after a fatal ngspice error.
    ValueError
        If the netlist has a ``.control`` block or not exactly one analysis,
        or a path cannot be passed to ngspice.
    """
    _deck_lines(netlist)
    paths = [_checked_path(p) for p in osdi]
    if backend == "subprocess":
        return _run_subprocess(netlist, paths, timeout)
    if backend != "shared":
        raise ValueError(f"backend must be 'shared' or 'subprocess', not {backend!r}")
    spice = NgSpiceShared.get()
    with spice.lock:
        try:
            spice.use_osdi(paths)
            spice.load_circuit(netlist)
            return spice.run(timeout=timeout)
        finally:
            spice.destroy_all()


# ---------------------------------------------------------------- shared lib


class _VectorInfo(ctypes.Structure):
    _fields_ = [
        ("v_name", ctypes.c_char_p),
        ("v_type", ctypes.c_int),
        ("v_flags", ctypes.c_short),
        ("v_realdata", ctypes.POINTER(ctypes.c_double)),
        ("v_compdata", ctypes.POINTER(ctypes.c_double)),
        ("v_length", ctypes.c_int),
    ]


_SendChar = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
_ControlledExit = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_int, ctypes.c_bool, ctypes.c_bool, ctypes.c_int, ctypes.c_void_p
)
_BGThreadRunning = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_bool, ctypes.c_int, ctypes.c_void_p)
# sharedspice.h vector types
_KINDS = {1: "time", 2: "frequency", 3: "voltage", 4: "current"}


class NgSpiceShared:
    """Thin ctypes binding to ``libngspice.so.0``.

    The library is not re-entrant: use the process-wide instance from
    :meth:`get`; creating a second one raises RuntimeError.  Every method
    holds :attr:`lock` (re-entrant); hold it yourself across a sequence such
    as ``load_circuit``/``alterparam``/``reset``/``run`` when threads share
    the instance.  For parallel runs use one process per core.

    The library is found through ``SPICEGEN_LIBNGSPICE``, else
    ``ctypes.util.find_library('ngspice')``, else ``libngspice.so.0``.

    Attributes
    ----------
    lock : threading.RLock
        Serialises all calls into the library.
    background_runs : int
        How many runs this process made in ngspice's background thread (with a timeout or
        ``interruptible``).
    """

    _instance: ClassVar[NgSpiceShared | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        if NgSpiceShared._instance is not None:
            raise RuntimeError("libngspice is not re-entrant: use NgSpiceShared.get()")
        self.lock = threading.RLock()
        self._path = library_path()
        self._transcript: list[str] = []  # output since the last load_circuit / run
        self._netlist = ""
        self._operating_point = False  # the loaded circuit's analysis is .op
        self._noise = False  # the loaded circuit's analysis is .noise
        self._fatal = False
        self._bg_done = threading.Event()
        self.background_runs = 0
        self._osdi: dict[str, tuple[str, ...]] = {}  # loaded path -> its module names
        # kept on the instance: ctypes callbacks must outlive the library's use of them
        self._callbacks = (_SendChar(self._on_char), _ControlledExit(self._on_exit),
                           _BGThreadRunning(self._on_bg_thread))
        self._lib = self._open(self._path)

    @classmethod
    def get(cls) -> NgSpiceShared:
        """Return the process-wide instance, loading the library on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def load_osdi(self, path: str | os.PathLike[str]) -> None:
        """Load a compiled Verilog-A model (``osdi <path>``), once per path.

        Loading a model removes every loaded circuit first (:meth:`destroy_all`): ngspice
        sizes a circuit's model table by the device types known when the circuit was
        parsed, and walks it up to the device types known *now*, so a circuit parsed before
        the ``osdi`` command is read out of bounds (``remcirc`` segfaults).

        ngspice keeps what it loaded and instantiates the first module of a name: a library
        defining a module that another path already defined therefore starts the library
        afresh, with this one only. An ``.osdi`` rebuilt under the same path is not
        reloaded, so give a changed model a new file name.

        Raises
        ------
        SimError
            If ngspice cannot load the file.
        """
        self.use_osdi([path])

    def use_osdi(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        """Have the compiled models ``paths`` loaded for the next circuit, as :meth:`load_osdi`.

        If one of them defines a module that another loaded library defines, the library
        starts afresh and only ``paths`` are loaded.

        Raises
        ------
        SimError
            If ngspice cannot load a file.
        ValueError
            If two of ``paths`` define a module of the same name.
        """
        paths = list(dict.fromkeys(_checked_path(p) for p in paths))
        with self.lock:
            new = {p: _osdi_modules(p) for p in paths if p not in self._osdi}
            _check_distinct({p: self._osdi[p] if p in self._osdi else new[p] for p in paths})
            if _clash(self._osdi, new):
                self._start_afresh()
                new = {p: _osdi_modules(p) for p in paths}
            for path, modules in new.items():
                self._send_osdi(path, modules)

    def load_circuit(self, netlist: str) -> None:
        """Parse a netlist with ``ngSpice_Circ``.

        Raises
        ------
        SimError
            If ngspice reports an error while parsing.
        ValueError
            If the netlist has a ``.control`` block or not exactly one analysis.
        """
        checked = _deck_lines(netlist)
        lines = [line.encode() for line in checked]
        deck = (ctypes.c_char_p * (len(lines) + 1))(*lines, None)
        with self.lock:
            self._netlist, self._transcript = netlist, []
            self._operating_point = any(_OPERATING_POINT.match(line) for line in checked[1:])
            self._noise = any(_NOISE.match(line) for line in checked[1:])
            text = self._call(self._lib.ngSpice_Circ, deck, "ngSpice_Circ")
            if _PARSE_FAILED.search(text):
                raise self._error(_reason(text), "ngSpice_Circ")

    def command(self, cmd: str) -> str:
        """Send one control-language command; return the output it produced.

        Raises
        ------
        SimError
            If ngspice hits a fatal error (the library is reloaded first).
        """
        if "\n" in cmd or "\r" in cmd:
            raise ValueError(f"one command per call, without newlines: {cmd!r}")
        if _OSDI_COMMAND.match(cmd):
            raise ValueError(f"load compiled models with load_osdi or use_osdi, not {cmd!r}: "
                             "loading one while a circuit is loaded crashes ngspice")
        with self.lock:
            return self._call(self._lib.ngSpice_Command, cmd.encode(), cmd)

    def run(self, *, timeout: float | None = None, interruptible: bool = False) -> SimResult:
        """Run the loaded circuit and collect all vectors of its plot.

        All plots are freed afterwards (``destroy all``): ngspice slows down
        with every plot it keeps (measured: 2.5 ms per run became 45 ms after
        600 runs), so an ``alterparam``/``reset``/``run`` loop stays fast.

        Parameters
        ----------
        timeout : float, optional
            Seconds before the run is stopped with ``bg_halt``.
        interruptible : bool
            Run an analysis other than ``.op`` in ngspice's background thread even without a
            timeout, so that Ctrl-C (a KeyboardInterrupt in this thread, e.g. one raised by a
            SIGTERM handler) stops it at its next time step. This costs a thread start per run
            (about 0.3 ms) and about 10 µs per line ngspice prints (each a callback from another
            thread: a failing operating point prints some 800 lines), so it is off by default,
            and an operating point, which is short, always runs synchronously.

        Returns
        -------
        SimResult
            The vectors, with the output since the last ``load_circuit`` or
            ``run`` as log.

        Raises
        ------
        SimError
            If the analysis fails or times out.
        KeyboardInterrupt
            After the run, if Ctrl-C was pressed during it (with a timeout or
            ``interruptible``: at once, the run is stopped).
        """
        with self.lock:
            try:
                # Without a timeout the synchronous 'run' is used: bg_run costs
                # a thread per run, 0.2-0.4 ms (10 % of a 500-point transient).
                if timeout is None and (not interruptible or self._operating_point):
                    self.command("run")
                else:
                    self._run_in_background(timeout)
                log, self._transcript = "\n".join(self._transcript), []
                if _RUN_FAILED.search(log):
                    raise self._error(_reason(log) or "the analysis failed", "run", log)
                if self._noise:
                    self.command("setplot previous")
                vectors = self._vectors()
                if not vectors:
                    raise self._error("the run produced no vectors", "run", log)
                return SimResult(vectors, log)
            finally:
                self.command("destroy all")
                self._transcript = []

    def alterparam(self, name: str, value: float) -> None:
        """Change a ``.param`` (``alterparam name=value``); call :meth:`reset` next.

        Raises
        ------
        SimError
            If ngspice does not know the parameter.
        """
        self.alterparams({name: value})

    def alterparams(self, values: Mapping[str, float]) -> None:
        """:meth:`alterparam` for several parameters at once: one lock and one interrupt guard for
        all the commands (a Monte Carlo sample sets every parameter; per call this saves about 25 µs
        of Python). Call :meth:`reset` next.

        Raises
        ------
        SimError
            If ngspice does not know a parameter (the message names it).
        """
        commands = []
        for name, value in values.items():
            value = _number(value, f"parameter {name}")
            if not _PARAM_NAME.fullmatch(name) or not math.isfinite(value):
                raise ValueError(f"bad parameter {name}={value!r}: give a name of letters, digits and _ and a "
                                 "finite number")
            # ngspice stores .param names lower-cased but alterparam matches case-sensitively
            commands.append(f"alterparam {name.lower()}={value:.17g}")
        self._send_each(commands, "alterparam")

    def alters(self, values: Sequence[tuple[str, str, float]]) -> None:
        """Set instance parameters without re-parsing: ``alter element parameter=value`` for each
        ``(element, parameter, value)``, under one lock and one interrupt guard (a packed Monte Carlo
        run sets one per copy; per command this saves about 25 µs of Python against :meth:`command`).

        Raises
        ------
        SimError
            If ngspice refuses one (the message names that command).
        """
        commands = []
        for element, parameter, value in values:
            if type(value) is not float:
                value = _number(value, f"alter of {element!r}: {parameter}")
            if not math.isfinite(value) or not _alter_target(element, parameter):
                raise ValueError(f"bad alter of {element!r}: {parameter}={value!r}: give an element and a parameter "
                                 "name of letters, digits and _ and a finite number")
            commands.append(f"alter {element} {parameter}={value:.17g}")
        self._send_each(commands, "alter")

    def reset(self) -> None:
        """Re-parse the loaded circuit (``reset``), applying ``alterparam`` changes."""
        self.command("reset")

    def destroy_all(self) -> None:
        """Free all plots (``destroy all``) and all loaded circuits (``remcirc``)."""
        with self.lock:
            self.command("destroy all")
            while not self.command("remcirc"):  # silent until "no circuit loaded"
                pass
            self._transcript = []

    # -- internals

    def _send_each(self, commands: Sequence[str], what: str) -> None:
        """Send ``commands`` under one lock and one interrupt guard, stopping at the first that ngspice
        refuses (a :class:`SimError` naming it) or that ends in a fatal error."""
        with self.lock:
            with _interrupts_in_callbacks() as interrupted:
                for command in commands:
                    start = len(self._transcript)
                    # a fatal error longjmps back and makes the call return 1
                    if self._lib.ngSpice_Command(command.encode()) != 0:
                        self._fatal = True
                        break
                    if len(self._transcript) == start:  # printed nothing (alter and alterparam, when they work)
                        continue
                    text = "\n".join(self._transcript[start:])
                    if _PARSE_FAILED.search(text):
                        raise self._error(_reason(text) or " ".join(text.split()), command, text)
            self._raise_if_fatal(what)
            if interrupted:
                raise KeyboardInterrupt

    def _open(self, path: str) -> ctypes.CDLL:
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise OSError(f"cannot load the ngspice library {path!r} ({exc}); {_SETUP_HINT}, "
                          "or point SPICEGEN_LIBNGSPICE at libngspice.so.0") from exc
        _declare(lib)
        send_char, controlled_exit, bg_thread = self._callbacks
        lib.ngSpice_Init(send_char, None, controlled_exit, None, None, bg_thread, None)
        for setting in SETTINGS:
            lib.ngSpice_Command(setting.encode())
        return lib

    def _send_osdi(self, path: str, modules: tuple[str, ...]) -> None:
        self.destroy_all()  # no circuit may outlive an 'osdi' command (see load_osdi)
        command = f"osdi {path}"
        text = self._call(self._lib.ngSpice_Command, command.encode(), command)
        if _PARSE_FAILED.search(text):
            raise SimError(_reason(text), command=command, log=text)
        self._osdi[path] = modules

    def _start_afresh(self) -> None:
        """Reload the library without any compiled model (and so without any circuit)."""
        self._osdi = {}
        self._reload()

    def _reload(self) -> None:
        """Unload and load the library (after a fatal error, or to start afresh), then the OSDI files."""
        _ctypes.dlclose(self._lib._handle)
        pinned = _mapped_file(self._path)  # another dlopen handle keeps it loaded
        path = _private_copy(pinned) if pinned else self._path
        self._lib, self._fatal = self._open(path), False
        if path != self._path:
            os.unlink(path)
        for osdi in self._osdi:
            self._lib.ngSpice_Command(f"osdi {osdi}".encode())

    def _call(self, function: Callable[[object], int], arg: object, what: str) -> str:
        """Call into the library; reload it after a fatal error and raise SimError."""
        start = len(self._transcript)
        with _interrupts_in_callbacks() as interrupted:
            status = function(arg)
        # a fatal error longjmps back and makes the call return 1
        self._fatal = self._fatal or status != 0
        self._raise_if_fatal(what)
        if interrupted:
            raise KeyboardInterrupt
        return "\n".join(self._transcript[start:])

    def _raise_if_fatal(self, what: str) -> None:
        if self._fatal:
            log = "\n".join(self._transcript)
            self._reload()
            raise self._error(_reason(log) or "fatal ngspice error", what, log)

    def _run_in_background(self, timeout: float | None) -> None:
        self._bg_done.clear()
        self.command("bg_run")
        self.background_runs += 1
        finished = False
        try:
            finished = self._bg_done.wait(timeout)
        finally:  # also on Ctrl-C: never leave a thread running in the library
            _to_the_end(lambda: self._stop_background(finished))
        self._raise_if_fatal("bg_run")
        if not finished:
            raise self._error(f"simulation timed out after {timeout:g} s", "bg_run")

    def _stop_background(self, finished: bool) -> None:
        if not finished:
            self.command("bg_halt")  # stops it at the next time step / sweep point
        self._bg_done.wait()
        self.command("bg_halt")  # joins the thread

    def _vectors(self) -> dict[str, np.ndarray]:
        """Copies of the current plot's vectors. The one-point vectors of an operating point (one per
        packed copy) are read as numbers and copied out together, each a view of one array."""
        plot = self._lib.ngSpice_CurPlot()
        names = self._lib.ngSpice_AllVecs(plot)
        items: list[list[Any]] = []
        points: list[int] = []
        for i in itertools.count():
            if not names or not names[i]:
                break
            info = self._lib.ngGet_Vec_Info(names[i]).contents
            name, kind = names[i].decode(), _KINDS.get(info.v_type, "notype")
            if info.v_length == 1 and info.v_realdata:
                points.append(len(items))
                items.append([name, kind, info.v_realdata[0]])
            else:
                items.append([name, kind, _array(info)])
        if points:
            values = np.array([items[j][2] for j in points], dtype=np.float64)
            for row, j in enumerate(points):
                items[j][2] = values[row:row + 1]
        return _collect(items, owned=True)

    def _error(self, reason: str, command: str, log: str = "") -> SimError:
        return SimError(reason, self._netlist, command, log or "\n".join(self._transcript))

    def _on_char(self, text: bytes, _ident: int, _user: object) -> int:
        line = text.decode(errors="replace")
        self._transcript.append(line[7:] if line[:7] in ("stdout ", "stderr ") else line)
        return 0

    def _on_exit(self, _status: int, _unload: bool, _quit: bool, _ident: int, _user: object) -> int:
        self._fatal = True
        return 0

    def _on_bg_thread(self, exited: bool, _ident: int, _user: object) -> int:
        if exited:
            self._bg_done.set()
        return 0


@functools.lru_cache(maxsize=65536)  # a packed Monte Carlo run names the same instances every run
def _alter_target(element: str, parameter: str) -> bool:
    """Whether ``alter element parameter=...`` names an element and a parameter (nothing else can ride along)."""
    return bool(_ELEMENT_NAME.fullmatch(element) and _PARAM_NAME.fullmatch(parameter))


def _number(value: object, what: str) -> float:
    """``value`` as a float (a number, not text: text never reaches a command)."""
    if isinstance(value, (str, bytes, bool)):
        raise ValueError(f"{what}={value!r}: give a number, not {type(value).__name__}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what}={value!r}: give a number") from None


def _to_the_end(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` to its end even if Ctrl-C is pressed (again) meanwhile, then raise
    KeyboardInterrupt if it was: the library must not be used while its thread still runs.
    ``cleanup`` is repeated after an interrupt, so it must be safe to repeat."""
    interrupted = False
    while True:
        try:
            cleanup()
            break
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        raise KeyboardInterrupt


def _declare(lib: ctypes.CDLL) -> None:
    """Set the ctypes prototypes of the sharedspice.h functions used here."""
    lib.ngSpice_Init.argtypes = [_SendChar, ctypes.c_void_p, _ControlledExit, ctypes.c_void_p,
                                 ctypes.c_void_p, _BGThreadRunning, ctypes.c_void_p]
    lib.ngSpice_Command.argtypes = [ctypes.c_char_p]
    lib.ngSpice_Circ.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    lib.ngSpice_CurPlot.restype = ctypes.c_char_p
    lib.ngSpice_AllVecs.argtypes = [ctypes.c_char_p]
    lib.ngSpice_AllVecs.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.ngGet_Vec_Info.argtypes = [ctypes.c_char_p]
    lib.ngGet_Vec_Info.restype = ctypes.POINTER(_VectorInfo)


def _array(info: _VectorInfo) -> np.ndarray:
    """Copy one vector out of ngspice's memory."""
    n = info.v_length
    if n == 0:
        return np.empty(0)
    if info.v_realdata:
        # np.array over a ctypes array copies once, in a tenth of the time of np.ctypeslib.as_array + copy
        return np.array((ctypes.c_double * n).from_address(ctypes.addressof(info.v_realdata.contents)))
    pairs = np.ctypeslib.as_array(info.v_compdata, (n, 2))
    return pairs[:, 0] + 1j * pairs[:, 1]


def _osdi_modules(path: str) -> tuple[str, ...]:
    """Names of the modules a compiled-model library defines, read from its OSDI descriptors.

    Empty if the file is no OSDI library; ngspice then says why when it is asked to load it.
    """
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return ()
    try:
        count = ctypes.c_uint32.in_dll(lib, "OSDI_NUM_DESCRIPTORS").value
        first = ctypes.addressof(ctypes.c_char.in_dll(lib, "OSDI_DESCRIPTORS"))
        # OSDI 0.4 exports the descriptor size; each descriptor starts with its name
        size = ctypes.c_uint32.in_dll(lib, "OSDI_DESCRIPTOR_SIZE").value if count > 1 else 0
        names = (ctypes.c_char_p.from_address(first + i * size).value for i in range(count))
        return tuple(name.decode(errors="replace").lower() for name in names if name)
    except ValueError:  # a symbol is missing: not an OSDI library
        return ()
    finally:
        _ctypes.dlclose(lib._handle)


def _clash(loaded: Mapping[str, tuple[str, ...]], new: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether a new library defines a module that a loaded one (another path) defines."""
    defined = {module for modules in loaded.values() for module in modules}
    return any(defined.intersection(modules) for modules in new.values())


def _check_distinct(libraries: Mapping[str, tuple[str, ...]]) -> None:
    """Raise ValueError if two of ``libraries`` (path -> module names) define the same module."""
    seen: dict[str, str] = {}
    for path, modules in libraries.items():
        for module in modules:
            if seen.setdefault(module, path) != path:
                raise ValueError(f"{seen[module]} and {path} both define the module {module!r}: "
                                 "ngspice would use only the first")


def library_path() -> str:
    """The ``libngspice`` file: ``$SPICEGEN_LIBNGSPICE``, else ``ctypes.util.find_library('ngspice')``,
    else ``libngspice.so.0``."""
    return (os.environ.get("SPICEGEN_LIBNGSPICE")
            or ctypes.util.find_library("ngspice") or "libngspice.so.0")


def _mapped_file(path: str) -> str | None:
    """File of the library named like ``path`` if it is mapped into this process."""
    stem = os.path.basename(path).split(".so")[0]
    with open("/proc/self/maps") as maps:
        return next((line.split()[-1] for line in maps if f"/{stem}.so" in line), None)


def _private_copy(path: str) -> str:
    """Copy the library to a new file, so ``dlopen`` gives it fresh globals."""
    fd, copy = tempfile.mkstemp(prefix="spicegen-libngspice-", suffix=".so")
    with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
        shutil.copyfileobj(src, out)
    return copy


@contextlib.contextmanager
def _interrupts_in_callbacks() -> Iterator[list[object]]:
    """Catch a Ctrl-C that Python delivered inside one of ngspice's callbacks.

    During a call into ngspice the main thread runs Python code only in the
    callbacks, so that is where a KeyboardInterrupt is raised; ctypes reports
    it as unraisable and drops it (measured: Ctrl-C at 0.3 s of a 12 s
    synchronous run was lost).  The yielded list is non-empty if that
    happened, and the caller raises KeyboardInterrupt after the call.
    """
    caught: list[object] = []
    previous = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            caught.append(unraisable.object)
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield caught
    finally:
        sys.unraisablehook = previous


# ------------------------------------------------------------- common helpers


def _deck_lines(netlist: str) -> list[str]:
    """Netlist lines up to (without) ``.end``, checked for what spicegen needs."""
    lines = netlist.strip().splitlines()
    end = next((i for i, line in enumerate(lines) if _END.match(line)), len(lines))
    lines = lines[:end]
    if any(_CONTROL.match(line) for line in lines):
        raise ValueError("the netlist has a .control block; spicegen adds its own "
                         "control section: remove it and pass one analysis line")
    analyses = sum(bool(_ANALYSIS.match(line)) for line in lines[1:])
    if analyses != 1:
        raise ValueError(f"the netlist needs exactly one analysis line "
                         f"(.op, .dc, .tran, .ac, ...), found {analyses}")
    return [*choose_solver(lines), ".end"]


def choose_solver(lines: Sequence[str]) -> list[str]:
    """The deck ``lines`` (title first) with ``.options klu`` after the title when it has at least
    :data:`KLU_ELEMENTS` element lines and no ``.options`` line names ``klu`` or ``sparse``.

    Element lines are those that start with a letter (after the title): every ``X`` instance counts
    once, however large its subcircuit. A deck that names a solver keeps it.
    """
    lines = list(lines)
    if any(_SOLVER_OPTION.match(line) for line in lines[1:]):
        return lines
    elements = sum(1 for line in lines[1:] if line.lstrip()[:1].isalpha())
    return [lines[0], ".options klu", *lines[1:]] if elements >= KLU_ELEMENTS else lines


def _checked_path(path: str | os.PathLike[str]) -> str:
    """Absolute path of an existing file that can be sent to ngspice."""
    resolved = _sendable(os.path.abspath(os.fspath(path)))
    if not os.path.isfile(resolved):
        raise FileNotFoundError(resolved)
    return resolved


def _sendable(path: str) -> str:
    """``path`` if ngspice can take it: its control language keeps quotes
    literally and substitutes ``$`` inside them, so nothing can be quoted."""
    if not _SAFE_PATH.fullmatch(path):
        raise ValueError(f"ngspice cannot take the path {path!r}: use one with only "
                         "letters, digits and . / _ - + @ % , (temporary files: set TMPDIR)")
    return path


def _aliases(name: str) -> tuple[str, ...]:
    """Vector keys that ``name`` may refer to, most literal first."""
    key = name.strip().lower()
    voltage = re.fullmatch(r"v\((.+)\)", key)
    if voltage:
        return (key, voltage.group(1))
    return (key, f"i({key.removesuffix('#branch')})")


@functools.lru_cache(maxsize=65536)  # every run of a loaded circuit names the same vectors
def _canonical(name: str, kind: str) -> str:
    """Key of a vector, as ngspice names it in a rawfile minus the ``v()`` around voltages."""
    name = name.lower()
    if kind == "voltage":
        inner = re.fullmatch(r"v\((.+)\)", name)
        return inner.group(1) if inner else name
    if kind == "current":
        base = name.split("#branch")[0]
        return base if base.startswith("i(") else f"i({base})"
    return name


def _collect(items: Iterable[Sequence[Any]], owned: bool = False) -> dict[str, np.ndarray]:
    """Name and type the vectors of a plot the same way for both backends.

    In a complex (ac) plot every signal is complex128 and the frequency
    scale float64; otherwise all vectors are float64.  Keys are sorted.
    ``owned``: every real float64 array in ``items`` is a fresh copy nobody else holds (kept as it is).
    """
    items = list(items)
    is_complex = any(values.dtype.kind == "c" for _, _, values in items)
    vectors = {}
    for name, kind, values in items:
        if kind == "frequency" or not is_complex:
            own = values.dtype == np.float64 and (owned or (values.flags.owndata and values.flags.writeable))
            vectors[_canonical(name, kind)] = values if own else np.array(values.real, dtype=np.float64)
        else:
            vectors[_canonical(name, kind)] = np.array(values, dtype=np.complex128)
    return dict(sorted(vectors.items()))


def _reason(log: str) -> str:
    """The most telling ngspice diagnostic line in ``log`` (with its continuation)."""
    lines = [" ".join(line.split()) for line in log.splitlines() if line.strip()]
    for pattern in _REASONS:
        for i, line in enumerate(lines):
            match = pattern.search(line)
            if match:
                return " ".join([line[match.start():], *_continuation(lines, i)])
    return ""


def _continuation(lines: list[str], i: int) -> list[str]:
    """The lines completing diagnostic line ``i``: after a colon the next two
    (offending netlist line and cause), else a following ``in line b1``."""
    if lines[i].endswith(":"):
        return lines[i + 1:i + 3]
    following = lines[i + 1:i + 2]
    return following if following and following[0].lower().startswith("in line") else []


def _hint(reason: str) -> str:
    return next((hint for pattern, hint in _HINTS if re.search(pattern, reason, re.I)), "")


# ---------------------------------------------------------------- subprocess


def _run_subprocess(netlist: str, osdi: Sequence[str], timeout: float | None) -> SimResult:
    """Run ``ngspice -b`` on a temporary deck and read back its binary rawfile."""
    exe = os.environ.get("SPICEGEN_NGSPICE") or shutil.which("ngspice")
    if exe is None:
        raise OSError(f"the ngspice executable is not on PATH; {_SETUP_HINT}")
    with tempfile.TemporaryDirectory(prefix="spicegen-") as tmp:
        raw = _sendable(os.path.join(tmp, "out.raw"))
        deck = os.path.join(tmp, "deck.cir")
        Path(deck).write_text("\n".join(_with_control(netlist, osdi, raw)) + "\n", encoding="utf-8")
        # no '-n': ngSpice_Init reads .spiceinit (cwd, then home) and its
        # ngSpice_nospiceinit segfaults before Init, so both backends read it
        argv = [exe, "-b", deck]
        command = " ".join(argv)
        try:
            proc = subprocess.run(argv, capture_output=True, encoding="utf-8",
                                  errors="replace", timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            log = _text(exc.stdout) + _text(exc.stderr)
            raise SimError(f"simulation timed out after {timeout:g} s", netlist, command, log) from None
        log = proc.stdout + proc.stderr
        if proc.returncode != 0 or _RUN_FAILED.search(log) or not os.path.exists(raw):
            reason = _reason(log) or f"ngspice exited with status {proc.returncode}"
            raise SimError(reason, netlist, command, log)
        return SimResult(_collect(_read_raw(raw)), log)


def _with_control(netlist: str, osdi: Sequence[str], raw: str) -> list[str]:
    """The deck with spicegen's control section inserted before ``.end``."""
    lines = _deck_lines(netlist)
    spectra = ["setplot previous"] if any(_NOISE.match(line) for line in lines[1:]) else []
    control = [".control", *SETTINGS, *(f"pre_osdi {path}" for path in osdi),
               "run", *spectra, "set filetype=binary", f"write {raw}",
               # without quit, batch mode runs the analysis a second time
               "quit", ".endc"]
    return [*lines[:-1], *control, ".end"]


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _read_raw(path: str | os.PathLike[str]) -> list[tuple[str, str, np.ndarray]]:
    """Read the single plot of a binary ngspice rawfile.

    Returns
    -------
    list of (name, type, values)
        Names as written (``'v(out)'``, ``'i(v1)'``, ``'time'``), ngspice's
        type names, and float64 or complex128 arrays.
    """
    head, sep, body = Path(path).read_bytes().partition(b"Binary:\n")
    if not sep:
        raise ValueError(f"{path}: not a binary ngspice rawfile")
    header = _raw_header(head.decode(errors="replace"))
    npoints, width = header.points, 2 if header.is_complex else 1
    lengths = np.array([length for _, _, length in header.variables])
    present = np.arange(npoints)[:, None] < lengths[None, :]
    if header.padded:  # every point has all variables, zeros past a short vector's end
        present[:] = True
    values = np.frombuffer(body, dtype=np.float64)
    expected = int(present.sum()) * width
    if values.size < expected:
        raise ValueError(f"{path}: truncated rawfile ({values.size} of {expected} numbers)")
    table = np.zeros((npoints, lengths.size, width))
    table[present] = values[:expected].reshape(-1, width)
    return [
        (name, kind, _column(table[:length, j]))
        for j, (name, kind, length) in enumerate(header.variables)
    ]


def _column(values: np.ndarray) -> np.ndarray:
    return values[:, 0] + 1j * values[:, 1] if values.shape[1] == 2 else values[:, 0].copy()


class _RawHeader(NamedTuple):
    is_complex: bool
    padded: bool
    points: int
    variables: list[tuple[str, str, int]]  # name, type, length


def _raw_header(text: str) -> _RawHeader:
    """Parse the text header of a rawfile: flags, number of points, variables."""
    lines = text.splitlines()
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    flags = fields.get("flags", "real").lower().split()
    npoints = int(fields["no. points"])
    start = next(i for i, line in enumerate(lines) if line.lower().startswith("variables:")) + 1
    variables = []
    for line in lines[start:start + int(fields["no. variables"])]:
        _, name, kind, *extra = line.split()
        dims = next((e[5:] for e in extra if e.startswith("dims=")), None)
        length = int(np.prod([int(d) for d in dims.split(",")])) if dims else npoints
        variables.append((name, kind, length))
    return _RawHeader("complex" in flags, "unpadded" not in flags, npoints, variables)

