"""Noise sources: declared PSD against ngspice ``.noise`` (OSDI and twin), VACASK, transient noise and numpy.

The test device is a conductance ``g`` with thermal noise ``4 k T g`` and Hooge-like flicker noise
``kf * i**2 / f**1.2``: bias- and temperature-dependent PSDs with a known value.

Statistical tolerance of a PSD estimate (transient and numpy samples): Welch's method with a Hann
window, ``nperseg`` samples and 50 % overlap averages ``K = 2 * n / nperseg - 1`` periodograms. One
frequency bin then has the relative standard deviation ``sqrt(1.056 / K)`` (1.056 from the overlap
correlation of the Hann window), and the mean of ``M`` adjacent bins, which the Hann window correlates
(by 0.44 for neighbours, 0.03 for the next), ``sqrt(1.056 * 1.94 / (K * M)) = 1.43 / sqrt(K * M)``
(a simulation of 300 white-noise records gave 0.086, 0.047, 0.023 for the 0.090, 0.045, 0.023
this predicts at K = 63, M = 4, 16, 64). Each band must lie within 4 of these standard deviations.

ngspice's transient noise adds one more: its Gaussian generator cannot be seeded, and the variance of a
whole run of 2**17 unit samples scattered by 1.09 % over 10 runs, where independent samples would give
0.39 %, so every band of an ngspice run carries a common error of about 1 % (GENERATOR_SIGMA), added in
quadrature.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy.signal import welch

from spicegen import Check, Device, Equations, FlickerNoise, Param, Sine, WhiteNoise
from spicegen.constants import BOLTZMANN
from spicegen.device import build_model
from spicegen.netlist import format_instance, format_subckt
from spicegen.ngspice import run_netlist
from spicegen.numpy_code import load_numpy_module

EXPONENT = 1.2
G, KF = 1e-3, 1e-9
GENERATOR_SIGMA = 0.011


class NoisyConductance(Device):
    """A conductance with thermal and flicker noise."""

    name = "noisy_conductance"
    ports = ("p", "n")
    params = (Param("g", G, "S", "conductance", (1e-9, 1.0)),
              Param("kf", KF, "1/Hz^-0.2", "flicker coefficient", (0.0, 1.0)))
    check = Check(dc={"p": (-1.0, 1.0)}, tran={"p": Sine(1.0, 1e3)}, tstop=1e-3)

    def equations(self, s):
        i = s.g * s.V("p", "n")
        return Equations(currents={("p", "n"): i},
                         noise={("p", "n"): [WhiteNoise(4 * BOLTZMANN * s.T * s.g, name="thermal"),
                                             FlickerNoise(s.kf * i**2, EXPONENT, name="flicker")]})


MODEL = build_model(NoisyConductance)


def declared(f: np.ndarray, v: float, celsius: float = 27.0, kf: float = KF) -> np.ndarray:
    """The device's branch PSD (A²/Hz) at bias ``v``."""
    return 4 * BOLTZMANN * (celsius + 273.15) * G + kf * (G * v) ** 2 / f**EXPONENT


def welch_bands(x: np.ndarray, dt: float, nperseg: int, bands: list[tuple[float, float]]):
    """Band-averaged Welch PSD, the band's frequencies and its relative standard deviation."""
    f, p = welch(x, fs=1 / dt, nperseg=nperseg)
    k = 2 * x.size // nperseg - 1
    for lo, hi in bands:
        sel = (f >= lo) & (f < hi)
        yield p[sel].mean(), f[sel], 1.43 / math.sqrt(k * sel.sum())


# ---------------------------------------------------------------- the DSL


def make(noise, params=(Param("g", 1e-3, "S", bounds=(0, 1)),)):
    def equations(self, s):
        v = s.V("p", "n")
        return Equations({("p", "n"): s.g * v}, noise=noise(s, v))
    return build_model(type("Dut", (Device,), {"ports": ("p", "n"), "params": params, "equations": equations}))


def test_sources_are_kept_per_branch_in_order_with_guarded_psd():
    model = make(lambda s, v: {("p", "n"): WhiteNoise(s.g * v**2, name="a"), ("n",): [FlickerNoise(s.g, name="b")]})
    assert [(b, src.name) for b, src in model.noise_sources] == [(("p", "n"), "a"), (("n",), "b")]
    # g may be 0 but sympy cannot prove it non-negative: the PSD is clipped at 0
    assert model.noise[("n",)][0].psd == sp.Max(0, model.param("g").symbol)
    assert make(lambda s, v: {}).noise == {}


@pytest.mark.parametrize("noise,message", [
    (lambda s, v: {("p", "n"): [WhiteNoise(s.g), WhiteNoise(s.g)]}, "name 'white' is used twice"),
    (lambda s, v: {("p", "x"): WhiteNoise(s.g)}, "unknown node 'x'"),
    (lambda s, v: {("p", "n"): WhiteNoise(-1 - s.g**2)}, "PSD of noise source 'white' is negative"),
    (lambda s, v: {("p", "n"): WhiteNoise(sp.Symbol("kb") * s.g)}, r"undeclared symbol\(s\) \['kb'\]"),
    (lambda s, v: {("p", "n"): WhiteNoise("4*k*T/r")}, "is the string"),
    (lambda s, v: {("p", "n"): s.g}, "give a WhiteNoise, a FlickerNoise or a non-empty list"),
    (lambda s, v: {("p", "n"): [s.g]}, r"declare each source as WhiteNoise\(psd, name\)"),
])
def test_bad_noise_declarations_are_refused_with_the_fix(noise, message):
    with pytest.raises(ValueError, match=message):
        make(noise)


@pytest.mark.parametrize("exponent", [0, 2, -1, float("nan")])
def test_flicker_exponent_outside_0_2_is_refused(exponent):
    with pytest.raises(ValueError, match="exponent"):
        FlickerNoise(sp.Symbol("k"), exponent)


def test_source_name_must_be_an_identifier():
    with pytest.raises(ValueError, match="not a valid identifier"):
        WhiteNoise(sp.Symbol("k"), name="shot noise")


# ---------------------------------------------------------------- emitted text


@pytest.mark.openvaf
def test_verilog_a_has_one_noise_call_per_source_and_compiles_without_warning():
    from veriloga import compile_model
    from veriloga.module import format_module

    text = format_module(MODEL)
    assert '    I(p, n) <+ white_noise(5.522596e-23*$temperature*g, "thermal");' in text.splitlines()
    assert '    I(p, n) <+ flicker_noise(max(0.0, (V(p, n)*V(p, n))*(g*g)*kf), 1.2, "flicker");' in text.splitlines()
    compile_model(MODEL)  # raises on any openvaf-r warning


def test_twin_adds_unit_sources_and_trnoise_only_when_asked():
    lines = format_subckt(MODEL).splitlines()
    assert lines[lines.index("B0 p n I = v(p,n)*g") + 1:lines.index(".ends noisy_conductance")] == [
        "* noise thermal (white): unit noise current i(VN0) scaled by sqrt(PSD)",
        "RN0 _n0 0 1000000000000.0 noise0", "VN0 _n0 0 0", ".model noise0 R kf=1.0 af=0.0 ef=0.0",
        "BN0 p n I = 7.431417092318262e-12*sqrt((temper + 273.15))*i(VN0)*sqrt(g)",
        "* noise flicker (flicker 1/f^1.2): unit noise current i(VN1) scaled by sqrt(PSD)",
        "RN1 _n1 0 1000000000000.0 noise1", "VN1 _n1 0 0", ".model noise1 R kf=1.0 af=0.0 ef=1.2",
        "BN1 p n I = i(VN1)*sqrt(max(1e-300, (v(p,n)*v(p,n))*(g*g)*kf))"]
    tran = format_subckt(MODEL, noise_step=1e-6).splitlines()
    assert [line for line in tran if line.startswith("IN")] == [
        f"IN0 _n0 0 dc 0 trnoise({math.sqrt(0.5e6)!r} 1e-06 0.0 0.0)",
        f"IN1 _n1 0 dc 0 trnoise(0.0 1e-06 1.2 {math.sqrt((2 * math.pi * 1e-6) ** 1.2 / 2e-6)!r})"]
    with pytest.raises(ValueError, match="noise_step must be > 0"):
        format_subckt(MODEL, noise_step=0.0)


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_noise_sources_leave_dc_and_transient_equal_across_renderings():
    from testbenches.core.equivalence import check_device

    report = check_device(MODEL, points=4, seed=1)
    assert report.passed, report.format_table()


# ---------------------------------------------------------------- ngspice .noise and VACASK noise

FREQUENCIES = "dec 3 1 1e7"


def noise_deck(flavor: str, v: float, celsius: float) -> str:
    """The device biased by an ideal source; a CCVS turns the source's current into the output voltage."""
    return "\n".join(["noise of a device", format_subckt(MODEL), f".options temp={celsius!r}",
                      f"Vb b 0 dc {v!r} ac 1", *format_instance(MODEL, "d", ["b", "0"], flavor=flavor),
                      "H1 out 0 Vb 1", f".noise v(out) Vb {FREQUENCIES}", ".end"])


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.parametrize("flavor", ["osdi", "twin"])
@pytest.mark.parametrize("v,celsius", [(0.3, 27.0), (-0.8, 85.0)])
def test_ngspice_noise_analysis_gives_the_declared_psd(flavor, v, celsius):
    from veriloga import compile_model

    osdi = [compile_model(MODEL)] if flavor == "osdi" else []
    out = run_netlist(noise_deck(flavor, v, celsius), osdi=osdi)
    f = out["frequency"]
    assert f.size == 22 and f[0] == 1 and f[-1] == pytest.approx(1e7)
    # ngspice reports densities (A/sqrt(Hz) here, through the 1 V/A CCVS)
    np.testing.assert_allclose(out["onoise_spectrum"] ** 2, declared(f, v, celsius), rtol=1e-10)


@pytest.mark.ngspice
def test_both_ngspice_backends_return_the_noise_spectra():
    deck = noise_deck("twin", 0.3, 27.0)
    shared, subprocess = run_netlist(deck), run_netlist(deck, backend="subprocess")
    assert set(shared) == set(subprocess) == {"frequency", "inoise_spectrum", "onoise_spectrum"}
    np.testing.assert_array_equal(shared["onoise_spectrum"], subprocess["onoise_spectrum"])


@pytest.mark.openvaf
@pytest.mark.vacask
def test_vacask_noise_analysis_gives_the_declared_psd():
    from veriloga import compile_model
    from veriloga.vacask import format_instance as vacask_instance
    from veriloga.vacask import run_vacask

    current = 4e-4  # into the device: v = current / g
    deck = "\n".join(["noise of a device", "ground 0", "model isource isource",
                      *vacask_instance(MODEL, "d", ["b", "0"]), f"is1 (0 b) isource dc={current!r} mag=1",
                      "control", '  analysis nz noise out=["b"] in="is1" from=1 to=1e7 mode="dec" points=3', "endc"])
    out = run_vacask(deck, osdi=[compile_model(MODEL)])
    f = out["frequency"]
    # VACASK reports the output PSD in V²/Hz; a current noise i_n gives v_n = i_n / g
    np.testing.assert_allclose(out["onoise"] * G**2, declared(f, current / G), rtol=1e-10)


# ---------------------------------------------------------------- transient noise


@pytest.mark.ngspice
def test_twin_transient_noise_has_the_declared_psd():
    dt, n, v = 1e-6, 2**15, 0.3
    deck = "\n".join(["transient noise", format_subckt(MODEL, noise_step=dt), ".options seed=7",
                      f"Vb b 0 dc {v!r}", *format_instance(MODEL, "d", ["b", "0"], flavor="twin"),
                      f".tran {dt!r} {n * dt!r} 0 {dt!r}", ".end"])
    out = run_netlist(deck)
    # the generators hold a new sample every dt: read the current there
    current = -np.interp(np.arange(n) * dt, out["time"], out["i(vb)"]) - G * v
    bands = [(2e3, 4e3), (4e3, 1e4), (1e4, 3e4), (3e4, 1e5), (1e5, 4e5)]
    for measured, f, sigma in welch_bands(current, dt, 1024, bands):
        # ngspice's Kasdin 1/f generator has the PSD of the sampled process, (pi f dt / sin(pi f dt))**e / f**e
        x = np.pi * f * dt
        expected = np.mean(declared(f, v) + KF * (G * v) ** 2 / f**EXPONENT * ((x / np.sin(x)) ** EXPONENT - 1))
        assert abs(measured / expected - 1) < 4 * math.hypot(sigma, GENERATOR_SIGMA), (f[0], measured / expected, sigma)


def test_numpy_noise_samples_have_the_declared_psd_and_repeat_with_the_seed():
    module = load_numpy_module(MODEL)
    dt, n, v = 1e-6, 2**16, 0.3
    psd = module.noise_psd({"p": v, "n": 0.0})
    assert psd["thermal"] == pytest.approx(4 * BOLTZMANN * 300.15 * G, rel=1e-14)
    assert psd["flicker"] == pytest.approx(KF * (G * v) ** 2, rel=1e-14)
    samples = module.noise({"p": v, "n": 0.0}, n, dt, 11)
    total = samples["thermal"] + samples["flicker"]
    bands = [(1e3, 3e3), (3e3, 1e4), (1e4, 1e5), (1e5, 4.9e5)]
    for measured, f, sigma in welch_bands(total, dt, 1024, bands):
        assert abs(measured / np.mean(declared(f, v)) - 1) < 4 * sigma, (f[0], measured / np.mean(declared(f, v)))
    again = module.noise({"p": v, "n": 0.0}, n, dt, np.random.default_rng(11))
    assert all(np.array_equal(samples[k], again[k]) for k in samples)
    assert not np.array_equal(samples["thermal"], module.noise({"p": v, "n": 0.0}, n, dt, 12)["thermal"])


def test_numpy_noise_follows_a_bias_given_per_sample():
    module = load_numpy_module(MODEL)
    n = 2**12
    v = np.where(np.arange(n) < n // 2, 0.0, 0.5)
    flicker = module.noise({"p": v, "n": 0.0}, n, 1e-6, 3)["flicker"]
    assert np.all(flicker[: n // 2] == 0.0) and np.std(flicker[n // 2:]) > 0
