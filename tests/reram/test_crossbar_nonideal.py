"""Crossbar non-idealities, device presets and the crossbar studies: each effect's statistics on many weights,
the bad inputs, the studies at a tiny size. Pure numpy (the ngspice checks of the solver are in
``test_reram_crossbar.py``); no mocks."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from fitting.surrogate import Surrogate
from spicegen.study import get_extraction, run
from testbenches.reram import crossbar as xb
from testbenches.reram import crossbar_studies as cs
from testbenches.reram import nonideal as nm
from testbenches.reram.presets import PRESETS, preset

N_CELLS = (300, 400)  # 120 000 cells: a rate p is measured to +-4 sqrt(p(1-p)/n)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _programmed(ni: nm.NonIdealities, g: float = 50e-6, seed: int = 0) -> nm.ProgrammedArray:
    return nm.program(np.full(N_CELLS, g), ni, _rng(seed))


def _close_rate(measured: float, p: float) -> bool:
    return abs(measured - p) <= 4 * math.sqrt(p * (1 - p) / np.prod(N_CELLS))


# ------------------------------------------------------------------ mapping


@pytest.mark.parametrize("mapping", ["differential", "dummy"])
def test_ideal_array_is_the_matrix_product(mapping):
    w, x = _rng().uniform(-1, 1, (7, 5)), _rng(1).uniform(-1, 1, (3, 7))  # non-square on purpose
    np.testing.assert_allclose(nm.mvm(w, x, nm.NonIdealities(mapping=mapping), _rng()), x @ w, atol=1e-12)


def test_level_zero_is_one_over_the_on_off_ratio_and_the_dummy_column_sits_midway():
    ni = nm.NonIdealities(g_max=100e-6, on_off=10.0, mapping="dummy")
    g = nm.target_conductances(np.array([[-1.0, 0.0, 1.0]]), ni)
    np.testing.assert_allclose(g, [[10e-6, 55e-6, 100e-6, 55e-6]])
    pair = nm.target_conductances(np.array([[-0.5]]), replace(ni, mapping="differential"))
    np.testing.assert_allclose(pair, [[10e-6, 55e-6]])


def test_a_scale_maps_larger_weights_and_scales_the_outputs_back():
    w, x = _rng().uniform(-3, 3, (6, 4)), _rng(1).uniform(-1, 1, (2, 6))
    np.testing.assert_allclose(nm.mvm(w, x, nm.NonIdealities(), _rng(), scale=3.0), x @ w, atol=1e-12)


@pytest.mark.parametrize("levels", [2, 5, 16])
def test_device_levels(levels):
    ni = nm.NonIdealities(levels=levels, mapping="dummy")
    g = nm.target_conductances(_rng().uniform(-1, 1, (200, 50)), ni)[:, :-1]
    expected = ni.g_min + (ni.g_max - ni.g_min) * np.arange(levels) / (levels - 1)
    np.testing.assert_allclose(np.unique(g), expected, rtol=1e-12)


# ------------------------------------------------------------------ programming and time


def test_variation_is_relative():
    g = _programmed(nm.NonIdealities(variation=0.1)).g / 50e-6 - 1
    assert abs(g.std() - 0.1) < 0.002 and abs(g.mean()) < 0.002


def test_programming_noise_follows_its_line():
    ni = nm.NonIdealities(sigma_prog_slope=2e-3, sigma_prog_offset=1e-9)
    for g in (10e-6, 80e-6):
        spread = (_programmed(ni, g).g - g).std()
        assert spread == pytest.approx(2e-3 * g + 1e-9, rel=0.01)


def test_stuck_at_faults_occur_at_their_rates_and_survive_time():
    ni = nm.NonIdealities(stuck_on=0.02, stuck_off=0.05, drift_nu=0.1)
    array = _programmed(ni)
    g = nm.at_time(array, 1e4, ni, _rng(1))
    assert _close_rate(np.mean(g == ni.g_max), 0.02) and _close_rate(np.mean(g == ni.g_min), 0.05)


def test_relaxation_statistics_and_the_immediate_jump():
    ni = preset("cmo-hfox")
    array = _programmed(replace(ni, sigma_prog_slope=0.0, sigma_prog_offset=0.0))
    for t in (1.0, 3600.0, 10 * cs.YEAR):
        error = nm.at_time(array, t, ni, _rng(2)) - array.g
        decades = math.log10(t)
        assert error.mean() == pytest.approx(ni.relax_mean_1s + ni.relax_mean_per_decade * decades, abs=0.01e-6)
        assert error.std() == pytest.approx(ni.relax_sigma_1s + ni.relax_sigma_per_decade * decades, rel=0.01)
    assert np.array_equal(nm.at_time(array, 0.0, ni, _rng(2)), array.g)  # before relaxation: as programmed


def test_drift_exponent_and_its_sign():
    ni = nm.NonIdealities(drift_nu=0.05, drift_nu_std=0.01)
    array = _programmed(ni)
    g1, g2 = (nm.at_time(array, t, ni, _rng(3)) for t in (10.0, 1e5))  # same stream: the same nu per cell
    nu = -np.log(g2 / g1) / np.log(1e5 / 10.0)
    assert nu.mean() == pytest.approx(0.05, abs=2e-4) and nu.std() == pytest.approx(0.01, rel=0.02)
    assert g2.mean() < g1.mean()  # nu > 0 lowers the conductance


def test_read_noise_is_relative_to_each_conductance():
    ni = nm.NonIdealities(read_noise=0.1, mapping="dummy")
    g = nm.target_conductances(np.full((64, 1), 0.5), ni)
    x = np.ones((20000, 64))
    y = nm.read(g, x, ni, _rng())
    # each output is the difference of two columns of 64 cells: sigma = 0.1 * sqrt(64 (g_w^2 + g_ref^2)) / (span/2)
    span = (ni.g_max - ni.g_min) / 2
    expected = 0.1 * math.sqrt(64 * (g[0, 0] ** 2 + g[0, 1] ** 2)) / span
    assert y.std() == pytest.approx(expected, rel=0.02) and y.mean() == pytest.approx(32.0, abs=0.05)


# ------------------------------------------------------------------ read


@pytest.mark.parametrize("bits", [3, 6])
def test_dac_and_adc_levels(bits):
    values = np.linspace(-1, 1, 10001)
    assert np.unique(xb.quantize(values, bits, 1.0)).size == 2 ** bits - 1
    gaussian = _rng().standard_normal(20000)
    nonlinear = nm.quantize_nonlinear(gaussian, bits, 4.0)
    assert np.unique(nonlinear).size <= 2 ** bits - 1
    linear_error = np.mean((xb.quantize(gaussian, bits, 4.0) - gaussian) ** 2)
    assert np.mean((nonlinear - gaussian) ** 2) < linear_error  # levels where the values are


def test_partial_parallel_reads_quantize_each_partial_sum():
    w, x = _rng().uniform(-1, 1, (64, 8)), _rng(1).uniform(-1, 1, (50, 64))
    ni = nm.NonIdealities(parallel_rows=16)
    g = nm.target_conductances(w, ni)
    reads = nm.analog_reads(g, x, ni)
    assert len(reads) == 4
    np.testing.assert_allclose(sum(reads), x @ w, atol=1e-12)  # the partial sums add up to the product
    quantized = nm.read(g, x, replace(ni, adc_bits=4))
    assert np.unique(np.round(quantized - nm.read(g, x, replace(ni, adc_bits=4, parallel_rows=0)), 12)).size > 1


def _dense_currents(g: np.ndarray, v: np.ndarray, r: float, rows: bool, columns: bool) -> np.ndarray:
    """Column currents by a dense nodal solve of every row and column node (ideal wires: 1e9 S)."""
    m, c = g.shape
    g_row, g_col = (1 / r if rows else 1e9), (1 / r if columns else 1e9)
    rid = np.arange(m * c).reshape(m, c)
    cid = rid + m * c
    a = np.zeros((2 * m * c, 2 * m * c))
    for p, q, conductance in [(rid[i, j], cid[i, j], g[i, j]) for i in range(m) for j in range(c)] + \
            [(rid[i, j], rid[i, j + 1], g_row) for i in range(m) for j in range(c - 1)] + \
            [(cid[i, j], cid[i + 1, j], g_col) for i in range(m - 1) for j in range(c)]:
        a[[p, q], [p, q]] += conductance
        a[p, q] -= conductance
        a[q, p] -= conductance
    a[rid[:, 0], rid[:, 0]] += g_row
    a[cid[-1], cid[-1]] += g_col
    out = []
    for vk in v:
        b = np.zeros(2 * m * c)
        b[rid[:, 0]] = g_row * vk
        out.append(g_col * np.linalg.solve(a, b)[cid[-1]])
    return np.array(out)


@pytest.mark.parametrize("rows, columns", [(True, True), (False, True), (True, False)])
def test_nodal_solver_on_every_wiring_equals_a_dense_solve(rows, columns):
    g, v = _rng().uniform(9e-6, 89e-6, (5, 7)), _rng(1).uniform(-0.2, 0.2, (3, 5))
    got = xb.nodal_currents(g, v, 2.0, rows, columns)
    dense = _dense_currents(g, v, 2.0, rows, columns)
    assert np.abs(got - v @ g).max() > 1e-3 * np.abs(dense).max()  # the wires matter
    np.testing.assert_allclose(got, dense, rtol=1e-9, atol=1e-9 * np.abs(dense).max())


# ------------------------------------------------------------------ presets and bad input


def test_presets_carry_their_table_values():
    assert preset("rram-22nm-intel").g_max == pytest.approx(1 / 6e3) and preset("rram-22nm-intel").on_off == 17
    assert preset("stt-mram-22nm-intel").on_off == 2.8 and PRESETS["fefet-22nm-gf"].cell_f2 == 24
    spikesim = preset("spikesim-rram")
    assert (spikesim.array_size, spikesim.r_wire, spikesim.read_noise, spikesim.levels) == (64, 5.0, 0.1, 16)
    assert spikesim.g_max == pytest.approx(1 / 20e3) and spikesim.on_off == 10 and spikesim.v_read == 0.1


def test_cmo_preset_holds_the_shipped_extractions():
    """The cmo-hfox preset (and so crossbar-mvm's defaults) equal the shipped surrogates."""
    sigma = json.loads((get_extraction("reram-sigma-prog").shipped() / "sigma_prog.json").read_text())
    line = Surrogate.from_dict(sigma["all_targets"]["0.002"]["surrogate"])
    relax = Surrogate.load(get_extraction("reram-relaxation").shipped() / "relaxation_mean.json")
    ni = preset("cmo-hfox")
    assert (ni.sigma_prog_slope, ni.sigma_prog_offset) == (line.params["c1"], line.params["c0"])
    assert (ni.relax_mean_1s, ni.relax_mean_per_decade) == pytest.approx(
        (relax.params["c0"] * 1e-6, relax.params["c1"] * 1e-6), rel=1e-12)
    assert (ni.relax_sigma_1s, ni.relax_sigma_per_decade) == pytest.approx(
        (relax.variation.params["c0"] * 1e-6, relax.variation.params["c1"] * 1e-6), rel=1e-12)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: nm.mvm(np.zeros(3), np.zeros(3), nm.NonIdealities(), _rng()), r"2-D M x N matrix, got shape \(3,\)"),
    (lambda: nm.mvm(np.zeros((3, 2)), np.zeros((1, 2)), nm.NonIdealities(), _rng()),
     r"inputs of shape \(1, 2\) do not match an array of 3 rows"),
    (lambda: nm.mvm(np.full((2, 2), 1.5), np.zeros(2), nm.NonIdealities(), _rng()),
     r"weights must lie in \[-1, 1\]; found 1.5 .* pass scale=1.5"),
    (lambda: nm.mvm(np.zeros((80, 40)), np.zeros(80), preset("spikesim-rram"), _rng()),
     r"needs 80 rows and 80 columns .* 64 x 64 array; tile it"),
    (lambda: nm.NonIdealities(r_wire=-0.35), r"r_wire = -0.35 Ohm"),
    (lambda: nm.NonIdealities(on_off=1.0), r"on_off = 1.0: the on/off ratio .* must be > 1"),
    (lambda: nm.NonIdealities(on_off=0.5), r"on_off = 0.5"),
    (lambda: nm.NonIdealities(stuck_on=0.7, stuck_off=0.5), r"stuck_on \+ stuck_off = 1.2 exceeds 1"),
    (lambda: nm.NonIdealities(wires="diagonal"), r"wires = 'diagonal' is not one of both, columns, rows, none"),
    (lambda: nm.NonIdealities(levels=1), r"levels = 1: use 0 \(analog\) or at least 2"),
    (lambda: preset("rram-22nm-intl"), r"'rram-22nm-intl' \(did you mean 'rram-22nm-intel'"),
    (lambda: preset("rram-7nm"), r"unknown device preset 'rram-7nm'( \(did you mean [^)]*\))?; choose one of: rram-22nm-intel, .*cmo-hfox"),
    (lambda: nm.at_time(_programmed(preset("cmo-hfox")), 0.5, preset("cmo-hfox"), _rng()), r"start at 1 s"),
    (lambda: nm.read(np.full((2, 2), 50e-6), np.ones(2), nm.NonIdealities(read_noise=0.1)), r"pass a random gen"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ studies


def test_crossbar_mvm_at_a_tiny_size(tmp_path):
    done = run("crossbar-mvm", tmp_path, settings={"size": 8, "vectors": 5, "large": 16, "check_sizes": ""},
               progress=False)
    m = done.measurements
    assert set(m) == set(cs.CrossbarMvm.measures)
    assert math.isnan(m["spice_vs_numpy_rel"]) and m["rmse_10y"] > m["rmse_1s"] > m["rmse_1s_fp_noir"]
    assert m["rmse_1s_fp_noir"] > m["rmse_prog_fp_noir"]  # the immediate jump
    assert m["rmse_large_10y"] > 0 and 0 < m["large_ir_share_1s"]


def test_crossbar_presets_at_a_tiny_size(tmp_path):
    done = run("crossbar-presets", tmp_path, settings={"presets": "spikesim-rram,rram-22nm-intel", "vectors": 4,
                                                       "on_off": "3,100", "adc_bits": "4,5,6"}, progress=False)
    m = done.measurements
    assert m["rmse_spikesim_rram"] > 0 and math.isnan(m["rmse_cmo_hfox"])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["data"]["rram-22nm-intel"]["rows_columns"] == [128, 128]
    assert (tmp_path / "crossbar_presets.png").stat().st_size > 0


@pytest.mark.parametrize("study, setting, message", [
    ("crossbar-mvm", {"size": 1}, r"'size' = 1 lies outside \[2, 256\]"),
    ("crossbar-mvm", {"check_sizes": "4,64"}, r"'64' is not an array size in \[2, 32\]"),
    ("crossbar-mvm", {"r_wire": -0.35}, r"'r_wire' = -0.35 lies outside"),
    ("crossbar-presets", {"presets": "cmo-hfox,pcm-7nm"}, r"unknown device preset 'pcm-7nm'( \(did you mean [^)]*\))?; choose one of"),
    ("crossbar-presets", {"on_off": "10,1"}, r"'1' is not a number > 1"),
    ("crossbar-presets", {"adc_bits": "4,40"}, r"use 2..16 bits"),
])
def test_bad_study_options_are_refused_before_anything_is_written(tmp_path, study, setting, message):
    with pytest.raises(ValueError, match=message):
        run(study, tmp_path / "bad", settings=setting, progress=False)
    assert not (tmp_path / "bad").exists()
