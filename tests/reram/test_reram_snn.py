"""The snn-nonideal pieces: the crossbar layer against the nodal solver, the mapping, the study's options."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from fitting.reram import snn  # noqa: E402
from fitting.reram.studies import _steps  # noqa: E402
from spicegen.study import get_study  # noqa: E402


@pytest.mark.parametrize("mapping", snn.MAPPINGS)
def test_layer_equals_the_nodal_solver_and_its_noise_model_holds(mapping):
    """Superposition makes the noise-free layer exact; the first-order read-noise spread matches nodal solves
    of perturbed arrays (1600 samples: ~2 % sampling error)."""
    weights = np.random.default_rng(0).standard_normal((16, 8))
    check = snn.check_fast_model(weights, snn.SpikeSimCrossbar(mapping=mapping), 200, np.random.default_rng(1))
    assert check["mean_rel_error"] < 1e-5  # float32 round-off
    assert check["noise_std_ratio"] == pytest.approx(1.0, abs=0.08)


def test_ideal_layer_is_the_quantized_product():
    """Weights on the device's 4-bit levels come back exactly from an ideal crossbar (differential pair)."""
    xbar = snn.SpikeSimCrossbar().ideal()
    levels = np.random.default_rng(2).integers(-15, 16, (64, 10)) / 15.0
    levels[0, 0] = 1.0
    layer = snn.CrossbarLayer(levels, xbar, torch.Generator())
    spikes = torch.tensor(np.random.default_rng(3).random((5, 64)) < 0.4, dtype=torch.float32)
    expected = spikes.double() @ torch.from_numpy(levels)
    assert torch.allclose(layer(spikes).double(), expected, atol=1e-5)


def test_offset_mapping_recovers_the_signed_product_digitally():
    """One device per weight (signed 4-bit integer + 8) and the offset subtracted per input spike: an ideal
    crossbar returns the integer product exactly."""
    xbar = snn.SpikeSimCrossbar(mapping="offset").ideal()
    q = np.random.default_rng(4).integers(-7, 8, (64, 10)).astype(float)
    q[0, 0] = 7.0
    layer = snn.CrossbarLayer(q / 7.0, xbar, torch.Generator())
    assert layer.g.shape == (64, 10) and np.all(layer.g >= xbar.g_off) and np.all(layer.g <= xbar.g_on)
    spikes = torch.tensor(np.random.default_rng(5).random((5, 64)) < 0.4, dtype=torch.float32)
    assert torch.allclose(layer(spikes).double(), spikes.double() @ torch.from_numpy(q / 7.0), atol=1e-5)


def test_ir_drop_leaves_the_offset_uncancelled():
    """IR drop lowers every cell's current while the digital subtraction assumes ideal cells: with the offset
    mapping a zero weight matrix (unit scale) reads strongly negative, with the pair it stays near zero."""
    spikes = torch.ones((1, 64))
    reads = {m: snn.CrossbarLayer(np.zeros((64, 4)), snn.SpikeSimCrossbar(read_noise=0.0, mapping=m),
                                  torch.Generator())(spikes) for m in snn.MAPPINGS}
    assert torch.all(reads["offset"] < -5.0), reads
    assert torch.all(reads["differential"].abs() < 0.05), reads


def test_ir_drop_attenuates_the_outputs():
    w = np.ones((64, 4))
    spikes = torch.ones((1, 64))
    ideal = snn.CrossbarLayer(w, snn.SpikeSimCrossbar().ideal(), torch.Generator())(spikes)
    wired = snn.CrossbarLayer(w, snn.SpikeSimCrossbar(read_noise=0.0), torch.Generator())(spikes)
    assert torch.all(wired < 0.9 * ideal)


@pytest.mark.parametrize("kwargs, match", [({"on_off": 1.0}, "on/off ratio must exceed 1"),
                                           ({"r_par": -1.0}, "must be >= 0"),
                                           ({"mapping": "pairs"}, "choose one of offset, differential")])
def test_bad_crossbar_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        snn.SpikeSimCrossbar(**kwargs)


def test_layer_too_large_for_the_crossbar_raises():
    with pytest.raises(ValueError, match="100 inputs does not fit a 64-row crossbar"):
        snn.CrossbarLayer(np.ones((100, 4)), snn.SpikeSimCrossbar(), torch.Generator())


@pytest.mark.parametrize("text", ["", "0,2", "a,b"])
def test_bad_timesteps_raise(text):
    with pytest.raises(ValueError, match="timesteps"):
        _steps(text)


@pytest.mark.parametrize("encoding", snn.ENCODINGS)
def test_one_timestep_setting_runs(encoding):
    """A tiny network trains and reports every configuration, the membrane error per timestep and the check."""
    data = snn.digits(np.random.default_rng(0))
    row = snn.run_timesteps(data, 2, snn.SpikeSimCrossbar(adc_bits=5), epochs=1, hidden=16, leak=0.9, seed=0,
                            repeats=1, encoding=encoding)
    assert set(row["accuracy"]) == {*snn.CONFIGS, "software"}
    assert all(0.0 <= a <= 1.0 for a in row["accuracy"].values())
    assert row["accuracy"]["software"] > 0.5
    assert len(row["membrane_error"]) == 2 and row["membrane_error"][0] > 0
    assert row["adc_error"]["reads"] == 2 and row["adc_error"]["per_read"] > 0


def test_one_network_trained_at_one_timestep_count_runs_at_others():
    """train_steps: the network trained at that T is the one evaluated at every T (seeded training gives the
    same network each time), here at T = 2 as the network trained per T; a batch norm per timestep is refused."""
    data = tuple(d[:200] for d in snn.digits(np.random.default_rng(0)))
    common = dict(epochs=1, hidden=16, leak=0.9, seed=0, repeats=1)
    xbar = snn.SpikeSimCrossbar()
    once = snn.run_timesteps(data, 2, xbar, train_steps=2, **common)
    assert once["accuracy"] == snn.run_timesteps(data, 2, xbar, **common)["accuracy"]
    longer = snn.run_timesteps(data, 5, xbar, train_steps=2, **common)
    assert len(longer["membrane_error"]) == 5 and all(0.0 <= a <= 1.0 for a in longer["accuracy"].values())
    assert (once["trained_at"], longer["trained_at"]) == (2, 2)
    with pytest.raises(ValueError, match="train_timesteps = 4 runs it at other T: set train_timesteps=0"):
        get_study("snn-nonideal").resolve({"through_time": True, "train_timesteps": 4})


def test_a_device_preset_sets_the_cells_and_leaves_the_rest_to_the_study():
    """``with_device``: G_on, on/off and read voltage of the preset, SpikeSim's 4-bit slices, the other settings
    as given; the default device is the SpikeSim crossbar itself; an unknown device is refused with the list."""
    from testbenches.reram.presets import PRESETS

    mram = snn.SpikeSimCrossbar.with_device("stt-mram-22nm-intel", r_par=2.0, read_noise=0.05)
    cells = PRESETS["stt-mram-22nm-intel"].settings
    assert (mram.g_on, mram.on_off, mram.v_read) == (cells.g_max, cells.on_off, cells.v_read) == (1 / 1.4e3, 2.8, 0.2)
    assert (mram.bits, mram.r_par, mram.read_noise) == (4, 2.0, 0.05)
    assert snn.SpikeSimCrossbar.with_device("spikesim-rram") == snn.SpikeSimCrossbar()
    study = get_study("snn-nonideal")
    assert study.resolve({})["device"] == "spikesim-rram"
    with pytest.raises(ValueError, match="rram-22nm-intel"):
        study.resolve({"device": "rram-7nm"})


def test_deeper_network_runs_every_layer_on_a_crossbar():
    """Two hidden LIF layers: three crossbars, the membranes of both layers recorded side by side."""
    data = snn.digits(np.random.default_rng(0))
    net = snn.train(data[0][:128], data[1][:128], 2, 1, 16, 0.9, 0, depth=2)
    layers = snn.hardware(net, snn.SpikeSimCrossbar(), torch.Generator().manual_seed(0))
    assert [tuple(layer.g.shape) for layer in layers] == [(64, 32), (16, 32), (16, 20)]
    error = snn.membrane_error(net, data[2][:32], 3, layers, 0)
    assert len(error) == 3 and all(e > 0 for e in error)
    rates = snn.spike_rates(net, data[2][:32], 3, layers, 0)
    assert all(len(v) == 2 for v in rates.values())
    assert all(0 <= d <= 1 for d in rates["abs_difference"]) and max(rates["abs_difference"]) > 0


def test_network_without_batch_norm_spikes_untrained_and_has_nothing_to_adapt():
    """batch_norm=False: no normalisation, Xavier-initialised weights that make the untrained layers spike, and
    the noise-aware adaptation returns a network that computes what the original does."""
    data = snn.digits(np.random.default_rng(0))
    torch.manual_seed(0)
    net = snn.SpikingMLP(16, depth=2, batch_norm=False).eval()
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in net.modules())
    layers = snn.hardware(net, snn.SpikeSimCrossbar(), torch.Generator().manual_seed(0))
    rates = snn.spike_rates(net, data[2][:64], 4, layers, 0)
    assert min(rates["ideal"]) > 0.01
    adapted = snn.adapt_norm(net, data[0][:64], 4, layers, 0)
    trains = snn.encode(data[2][:16], 4, torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(adapted(trains), net(trains))
    row = snn.evaluate(net, data, 2, snn.SpikeSimCrossbar(), seed=0, repeats=1)
    assert "adapted" not in row["accuracy"] and {"ideal", "both"} <= set(row["accuracy"])


def test_batch_norm_through_time_gives_each_timestep_its_own_scale_only_norm():
    """norm_steps=T: each of T timesteps is normalised by its own batch norm without a shift (SpikeSim's BNTT);
    the noise-aware adaptation re-measures every one of them; a run over another T is refused."""
    data = snn.digits(np.random.default_rng(0))
    torch.manual_seed(0)
    net = snn.train(data[0][:128], data[1][:128], 3, 1, 16, snn.LEAK, 0, depth=2, through_time=True)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert net.norm_steps == 3 and len(norms) == 2 * 3 and all(n.bias is None for n in norms)
    assert not torch.equal(norms[0].running_mean, norms[1].running_mean)  # timesteps see other statistics
    layers = snn.hardware(net, snn.SpikeSimCrossbar(), torch.Generator().manual_seed(0))
    adapted = snn.adapt_norm(net, data[0][:64], 3, layers, 0)
    moved = [not torch.equal(a.running_mean, n.running_mean)
             for a, n in zip((m for m in adapted.modules() if isinstance(m, torch.nn.BatchNorm1d)), norms)]
    assert all(moved)
    with pytest.raises(ValueError, match="4 timesteps given to a network with a batch norm for each of 3"):
        net(snn.encode(data[2][:4], 4, torch.Generator()))
    with pytest.raises(ValueError, match="needs batch_norm=True"):
        snn.SpikingMLP(16, batch_norm=False, norm_steps=3)
    with pytest.raises(ValueError, match="through_time=yes .* needs batch_norm=yes"):
        get_study("snn-nonideal").resolve({"through_time": True, "batch_norm": False})


def test_eight_bit_weights_sliced_over_two_pairs_come_back_exactly():
    """8-bit magnitudes split into two base-16 digits on two pairs each: an ideal crossbar returns the 8-bit
    product, to a 255th of the largest weight instead of a 15th."""
    xbar = snn.SpikeSimCrossbar(weight_bits=8).ideal()
    q = np.random.default_rng(6).integers(-255, 256, (64, 10)).astype(float)
    q[0, 0] = 255.0
    layer = snn.CrossbarLayer(q / 255.0, xbar, torch.Generator())
    assert xbar.slices == 2 and layer.g.shape == (64, 40)
    spikes = torch.tensor(np.random.default_rng(7).random((5, 64)) < 0.4, dtype=torch.float32)
    assert torch.allclose(layer(spikes).double(), spikes.double() @ torch.from_numpy(q / 255.0), atol=1e-4)


def test_sliced_layer_equals_the_nodal_solver_tile_by_tile():
    """Two slices of 64 outputs fill 256 columns: four 64x64 crossbars, each solved with its own wires."""
    weights = np.random.default_rng(8).standard_normal((64, 64))
    xbar = snn.SpikeSimCrossbar(weight_bits=8)
    check = snn.check_fast_model(weights, xbar, 100, np.random.default_rng(9))
    assert check["mean_rel_error"] < 1e-5
    assert check["noise_std_ratio"] == pytest.approx(1.0, abs=0.08)


def test_tiles_have_less_ir_drop_than_one_wide_array():
    """The same 64x128 cells as two 64x64 crossbars lose less current than as one array with 128-cell rows."""
    g = snn.pair_conductances(np.ones((64, 64)), snn.SpikeSimCrossbar())[0]
    wide = snn.effective_conductances(g, 5.0, 0.1, 128).sum()
    tiled = snn.effective_conductances(g, 5.0, 0.1, 64).sum()
    assert wide < tiled < g.sum()


@pytest.mark.parametrize("kwargs, match", [({"weight_bits": 2}, "a weight needs at least one device"),
                                           ({"weight_bits": 8, "mapping": "offset"}, "set mapping='differential'")])
def test_bad_weight_bits_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        snn.SpikeSimCrossbar(**kwargs)


def test_adc_rounds_to_the_nearest_of_its_codes_and_clips_to_its_range():
    """2 bits over 3 A: codes 0, 1, 2, 3 A; mid-tread rounding, negative currents read 0, overflow the top code."""
    currents = torch.tensor([-0.4, 0.0, 0.49, 0.51, 1.4, 2.6, 2.9, 7.0])
    assert snn.adc(currents, 2, 3.0).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 3.0, 3.0, 3.0]
    sweep = snn.adc(torch.linspace(0.0, 1.0, 10001), 5, 1.0)
    assert len(torch.unique(sweep)) == 2 ** 5
    assert float((sweep - torch.linspace(0.0, 1.0, 10001)).abs().max()) <= 0.5 / 31 + 1e-6


def test_adc_full_scale_is_a_column_of_cells_at_g_on():
    xbar = snn.SpikeSimCrossbar(adc_bits=5)
    assert xbar.adc_full_scale == pytest.approx(64 * 50e-6 * 0.1)
    assert xbar.ideal().adc_bits is None


def test_five_bit_adc_loses_a_single_spike_that_a_fine_adc_keeps():
    """One active row at the largest weight draws G_on·V_read = 5 µA, under half the 5-bit step (320 µA / 31):
    the partial sum rounds to zero; a 12-bit ADC returns it within a step."""
    w = np.ones((64, 4))
    spikes = torch.zeros((1, 64))
    spikes[0, 0] = 1.0
    reads = {b: snn.CrossbarLayer(w, replace(snn.SpikeSimCrossbar().ideal(), adc_bits=b), torch.Generator())(spikes)
             for b in (5, 12)}
    assert torch.all(reads[5] == 0.0), reads
    assert torch.allclose(reads[12].double(), torch.ones((1, 4), dtype=torch.float64), atol=0.05), reads


@pytest.mark.parametrize("bits", [0, -3, 2.5, True, "5"])
def test_bad_adc_bits_raise(bits):
    with pytest.raises(ValueError, match="adc_bits = .*integer >= 1"):
        snn.SpikeSimCrossbar(adc_bits=bits)
    with pytest.raises(ValueError, match="bits = .*the ADC's resolution as an integer >= 1"):
        snn.adc(torch.zeros(3), bits, 1.0)


def test_adc_error_changes_from_read_to_read_under_poisson_inputs():
    """Random spike vectors on random 8-bit weights: the 5-bit ADC's error of one read is large, its mean over
    16 reads near 1/sqrt(16) of it, and its bias per output smaller still; an ideal layer against itself: 0."""
    weights = np.random.default_rng(10).standard_normal((64, 16))
    ideal = snn.CrossbarLayer(weights, snn.SpikeSimCrossbar(weight_bits=8).ideal(), torch.Generator())
    real = snn.CrossbarLayer(weights, replace(ideal.xbar, adc_bits=5), torch.Generator())
    trains = snn.encode(torch.full((200, 64), 0.3), 16, torch.Generator().manual_seed(0))
    error = snn.read_error_averaging(ideal, real, trains)
    assert error["per_read"] > 0.05
    assert error["over_reads"] == pytest.approx(error["per_read"] / 4, rel=0.3)
    assert error["bias"] < error["over_reads"]
    assert snn.read_error_averaging(ideal, ideal, trains)["per_read"] == 0.0


@pytest.mark.parametrize("mapping", snn.MAPPINGS)
def test_analog_rows_equal_the_nodal_solver_and_their_noise_model_holds(mapping):
    """Direct encoding drives rows at DAC levels in [0, 1]·V_read: superposition still makes the noise-free
    layer exact, and the read-noise spread (σ·x·v·A per cell) matches nodal solves of perturbed arrays."""
    weights = np.random.default_rng(11).standard_normal((64, 16))
    xbar = snn.SpikeSimCrossbar(mapping=mapping, weight_bits=8 if mapping == "differential" else 4)
    check = snn.check_fast_model(weights, xbar, 200, np.random.default_rng(12), rate=0.6, analog=True)
    assert check["mean_rel_error"] < 1e-5
    assert check["noise_std_ratio"] == pytest.approx(1.0, abs=0.08)


def test_dac_drives_analog_rows_on_its_levels_and_spikes_unchanged():
    """A 6-bit DAC: x in [0, 1] read back within half a step of 1/63 (an ideal crossbar returns x @ W); 0 and 1
    exact, so spike inputs are unaffected."""
    x = torch.linspace(0.0, 1.0, 1001)
    levels = snn.dac(x, 6)
    assert len(torch.unique(levels)) == 64 and float((levels - x).abs().max()) <= 0.5 / 63 + 1e-7
    assert snn.dac(torch.tensor([0.0, 1.0]), 6).tolist() == [0.0, 1.0]
    weights = np.random.default_rng(13).integers(-255, 256, (64, 10)) / 255.0
    layer = snn.CrossbarLayer(weights, snn.SpikeSimCrossbar(weight_bits=8).ideal(), torch.Generator())
    rows = torch.rand((5, 64), generator=torch.Generator().manual_seed(0))
    expected = snn.dac(rows, 6).double() @ torch.from_numpy(weights)
    assert torch.allclose(layer(rows).double(), expected, atol=1e-4)


@pytest.mark.parametrize("encoding, analog", [("rate", [False, False, False]), ("direct", [True, False, False])])
def test_only_the_first_crossbar_under_direct_encoding_drives_its_rows_through_the_dac(encoding, analog):
    """Every other layer reads spikes, which the DAC passes unchanged: skipping it there changes no bit."""
    net = snn.SpikingMLP(hidden=16, depth=2, encoding=encoding)
    layers = snn.hardware(net, snn.SpikeSimCrossbar(), torch.Generator().manual_seed(0))
    assert [layer.analog_rows for layer in layers] == analog
    spikes = torch.tensor(np.random.default_rng(14).random((8, 16)) < 0.4, dtype=torch.float32)
    weights = net.hidden[1].weight.detach().T.double().numpy()
    through_dac = snn.CrossbarLayer(weights, layers[1].xbar, torch.Generator().manual_seed(1))
    layers[1].generator.manual_seed(1)  # the same read noise on both
    assert torch.equal(layers[1](spikes), through_dac(spikes))


def test_direct_encoding_repeats_the_input_at_every_timestep():
    x = torch.rand((3, 64), generator=torch.Generator().manual_seed(0))
    trains = snn.encode(x, 4, torch.Generator(), "direct")
    assert trains.shape == (4, 3, 64) and all(torch.equal(t, x) for t in trains)


@pytest.mark.parametrize("call, match", [
    (lambda: snn.encode(torch.zeros((1, 64)), 2, torch.Generator(), "poisson"), "encoding = 'poisson'.*rate, direct"),
    (lambda: snn.SpikingMLP(encoding="latency"), "encoding = 'latency'.*rate, direct"),
    (lambda: snn.SpikeSimCrossbar(input_bits=0), "input_bits = 0.*integer >= 1"),
    (lambda: snn.dac(torch.tensor([0.5, 2.0]), 6), r"row inputs span \[0.5, 2\].*give inputs in \[0, 1\]")])
def test_bad_encoding_and_row_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
