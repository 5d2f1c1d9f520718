"""Monte Carlo sampling without a simulator: seeding, variation kinds, statistics, netlist text."""
from __future__ import annotations

import numpy as np
import pytest

from spicegen import Param, Variation, get_device
from spicegen.measure import (AvgPower, CrossTime, Energy, Final, Mean, PulseWidth, SpikeCount, SpikeRate, SpikeTime,
                              crossings, evaluate, pulse_widths, spike_times)
from spicegen.montecarlo import Sampler, make_plan, sample_rng
from spicegen import testbench as tb_api
from spicegen.testbench import Circuit, CircuitWaves, Option, SampleError


def two_diodes(events: int = 1) -> Circuit:
    """Two diode_rs instances: rs is declared global, is_ local (lognormal 20 %)."""
    c = Circuit("two diodes", events=events)
    for k in (1, 2):
        c.element(f"I{k} 0 a{k} 10u")
        c.device(get_device("diode_rs"), f"d{k}", (f"a{k}", "0"))
    c.analysis(".op")
    return c


def draws(circuit: Circuit, n: int, seed: int = 1) -> dict[str, np.ndarray]:
    sampler = Sampler(circuit.slots, circuit.events)
    samples = [sampler.draw(seed, k) for k in range(n)]
    return {name: np.array([s[name] for s in samples]) for name in samples[0]}


def test_lognormal_d2d_relative_sigma_over_1e4_samples():
    c = Circuit("one memristor")
    c.device(get_device("sinh_memristor"), "m1", ("p", "0"),
             variations={"i0": Variation("d2d", 0.25, "lognormal"), "k": None})
    c.analysis(".op")
    i0 = draws(c, 10_000)["m1__i0"]
    ratio = i0.std(ddof=1) / i0.mean()
    assert abs(ratio - 0.25) / 0.25 < 0.03, ratio
    assert abs(i0.mean() - 1e-6) / 1e-6 < 0.01  # the lognormal keeps the nominal as its mean
    assert i0.min() > 0


def test_global_draws_are_shared_and_local_draws_independent_between_instances():
    values = draws(two_diodes(), 4000)
    assert np.array_equal(values["d1__rs"], values["d2__rs"])  # global: one draw per sample
    assert np.corrcoef(values["d1__rs"], values["d2__rs"])[0, 1] == pytest.approx(1.0)
    r_local = np.corrcoef(np.log(values["d1__is_"]), np.log(values["d2__is_"]))[0, 1]
    assert abs(r_local) < 0.05, r_local  # local: independent per instance
    assert np.std(values["d1__rs"]) / 10.0 == pytest.approx(0.05, rel=0.05)


def test_sample_k_does_not_depend_on_order_or_on_other_samples():
    sampler = Sampler(two_diodes().slots)
    forward = [sampler.draw(7, k) for k in range(20)]
    backward = [sampler.draw(7, k) for k in reversed(range(20))][::-1]
    assert forward == backward
    # sample k is the k-th child of the study's SeedSequence
    child = np.random.SeedSequence(7).spawn(6)[5]
    assert np.array_equal(sample_rng(7, 5).standard_normal(3), np.random.default_rng(child).standard_normal(3))
    assert sampler.draw(8, 5) != sampler.draw(7, 5)


def test_c2c_redrawn_per_event_while_d2d_stays():
    c = Circuit("memristor, 6 events", events=6)
    c.device(get_device("sinh_memristor"), "m1", ("p", "0"))  # i0 d2d, k c2c (declared)
    c.analysis(".op")
    values = draws(c, 3000)
    k = values["m1__k"]  # (sample, event)
    assert k.shape == (3000, 6)
    assert values["m1__i0"].shape == (3000,)
    r = np.corrcoef(k[:, 0], k[:, 1])[0, 1]
    assert abs(r) < 0.06, r
    assert np.std(k) / 1e3 == pytest.approx(0.05, rel=0.05)


def test_pulse_jitter_per_pulse_or_per_source():
    c = Circuit("trains")
    for name, kind in (("va", "c2c"), ("vb", "local")):
        c.pulse(name, name, "0", v1=0.0, v2=1.0, delay=1e-6, width=1e-6, rise=1e-9, fall=1e-9, period=4e-6,
                count=3, width_jitter=Variation(kind, 0.1))
    c.analysis(".tran 1n 12u")
    values = draws(c, 2000)
    assert abs(np.corrcoef(values["va__width_p0"], values["va__width_p1"])[0, 1]) < 0.07
    assert np.array_equal(values["vb__width_p0"], values["vb__width_p2"])
    assert np.std(values["va__width_p2"]) == pytest.approx(1e-7, rel=0.06)


def test_correlated_group_is_a_gaussian_copula():
    c = Circuit("group")
    common = dict(group="tt", kind="d2d")
    c.param(Param("ne", 1e18, "1/cm3", bounds=(0, 1e22),
                  variation=Variation(sigma=0.2, distribution="lognormal", correlation=0.9, **common)))
    c.param(Param("de", 0.08, "eV", bounds=(0, 1), variation=Variation(sigma=0.05, correlation=-0.9, **common)))
    c.analysis(".op")
    values = draws(c, 8000)
    r = np.corrcoef(np.log(values["ne"]), values["de"])[0, 1]
    assert r == pytest.approx(-0.81, abs=0.03)


def test_group_members_must_share_a_kind():
    c = Circuit("mixed")
    c.param(Param("a", 1.0, variation=Variation("global", 0.1, group="g")))
    c.param(Param("b", 1.0, variation=Variation("local", 0.1, group="g")))
    with pytest.raises(ValueError, match="group 'g' mixes kinds"):
        Sampler(c.slots)


def test_out_of_bounds_draw_is_a_sample_error_naming_the_value():
    c = Circuit("wide")
    c.param(Param("r", 1.0, "Ohm", bounds=(0.0, 10.0), variation=Variation("global", 2.0)))
    sampler = Sampler(c.slots)
    bad = next(k for k in range(100) if sampler.draw(1, k)["r"] < 0)
    with pytest.raises(SampleError, match=rf"sample {bad}: r = -[0-9.e-]+ lies outside its bounds \[0.0, 10.0\]"):
        sampler.check(sampler.draw(1, bad), bad)


def test_variation_input_errors():
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        Variation("local", -0.1)
    c = Circuit("mos")
    with pytest.raises(ValueError, match="must be absolute"):
        c.mos("m1", "nfet", "d", "g", "0", "0", w=1e-6, l=0.5e-6, vth=Variation("local", 0.01))
    c.param(Param("p", 0.0, bounds=(-1, 1), variation=Variation("local", 0.1, "lognormal", relative=False)))
    with pytest.raises(ValueError, match="lognormal variation needs a positive nominal"):
        Sampler(c.slots)


def packed_bench(options):
    c = Circuit("packed", shared_nodes=("in",))
    c.param(Param("r", 1e3, "Ohm", bounds=(1, 1e6), variation=Variation("local", 0.1)))
    c.element("V1 in 0 1", shared=True)
    c.element("R1 in out {r}")
    c.element("R2 out 0 1k")
    c.analysis(".op")
    return c


def test_packed_netlist_text():
    text = packed_bench({}).format(pack=2)
    assert text == "\n".join([
        "packed",
        ".subckt mc_sample in params: r=1000.0",
        "R1 in out {r}",
        "R2 out 0 1k",
        ".ends mc_sample",
        "V1 in 0 1",
        ".param r__s0=1000.0",
        "Xmc0 in mc_sample r={r__s0}",
        ".param r__s1=1000.0",
        "Xmc1 in mc_sample r={r__s1}",
        ".op",
        ".end",
        "",
    ])


def test_packing_refuses_a_shared_element_with_a_varied_parameter():
    c = packed_bench({})
    c.element("V2 x 0 {r}", shared=True)
    with pytest.raises(ValueError, match="shared element 'V2' uses the per-sample parameter 'r'"):
        c.format(pack=2)


def test_waves_of_a_packed_copy_and_aliases():
    vectors = {"time": np.arange(3.0), "in": np.ones(3), "xmc1.out": np.full(3, 2.0),
               "i(v.xmc1.vdd)": np.full(3, -1e-3), "xmc1.xm1.w": np.full(3, 0.5), "n.xmc1.nm2#w": np.full(3, 0.25)}
    waves = CircuitWaves(vectors, {"m1.w": "xm1.w", "m2.w": "nm2#w"}, copy=1)
    assert waves["out"][0] == 2.0 and waves["v(out)"][0] == 2.0
    assert waves["i(vdd)"][0] == -1e-3 and waves["vdd#branch"][0] == -1e-3
    assert waves["in"][0] == 1.0 and waves["time"][2] == 2.0  # shared node and scale
    assert waves["m1.w"][0] == 0.5 and waves["m2.w"][0] == 0.25


def test_plan_resolves_settings_and_rejects_unknown_names():
    tb = tb_api.Testbench("packed", "a divider", packed_bench, {"vout": Final("out")},
                   options=(Option("corner", "tt", ("tt", "ff")),))
    plan = make_plan(tb, seed=3, settings={"r": "2000"}, sweep={"corner": ["tt", "ff"]})
    assert [p.coords for p in plan.points] == [{"corner": "tt"}, {"corner": "ff"}]
    assert plan.points[0].slots[0].nominal == 2000.0
    assert plan.definition["settings"] == {"r": 2000.0}
    with pytest.raises(KeyError, match="no option or parameter 'rr'"):
        make_plan(tb, seed=3, settings={"rr": 1})
    with pytest.raises(ValueError, match="'corner' = 'xx' is not one of tt, ff"):
        make_plan(tb, seed=3, sweep={"corner": ["xx"]})
    with pytest.raises(ValueError, match="sigma of 'r' must be > 0, got -0.1"):
        make_plan(tb, seed=3, sigmas={"r": -0.1})
    with pytest.raises(ValueError, match="seed must be a whole number >= 0"):
        make_plan(tb, seed=-1)
    with pytest.raises(ValueError, match="lies outside its bounds"):
        make_plan(tb, seed=1, settings={"r": 0})


def _r_below_5k(values):
    if values["r"] >= 5e3:
        raise ValueError(f"r = {values['r']!r} must stay below 5 kOhm")


def test_a_testbench_check_sees_every_sweep_points_nominal_values():
    tb = tb_api.Testbench("checked", "a divider", packed_bench, {"vout": Final("out")}, check=_r_below_5k)
    assert make_plan(tb, seed=1, settings={"r": 4e3}).points[0].slots[0].nominal == 4e3
    with pytest.raises(ValueError, match="r = 6000.0 must stay below 5 kOhm"):
        make_plan(tb, seed=1, sweep={"r": [1e3, 6e3]})


def test_unknown_names_list_the_fixed_parameters_first_and_cut_long_lists():
    from spicegen.naming import listing

    assert listing([]) == "none" and listing(["a", "b", "c"], limit=2) == "['a', 'b'] and 1 more"
    tb = tb_api.Testbench("packed", "a divider", packed_bench, {"vout": Final("out")})
    with pytest.raises(KeyError, match=r"parameters: \['r'\]"):
        make_plan(tb, seed=3, settings={"rr": 1})


# ---------------------------------------------------------------- measurements


def test_crossings_and_pulse_widths():
    t = np.linspace(0.0, 4.0, 4001)
    y = np.sin(np.pi * t)  # above 0.5 on [1/6, 5/6] and [2 + 1/6, 2 + 5/6]
    assert crossings(t, y, 0.5) == pytest.approx([1 / 6, 2 + 1 / 6], abs=1e-6)
    assert crossings(t, y, 0.5, "fall") == pytest.approx([5 / 6, 2 + 5 / 6], abs=1e-6)
    assert pulse_widths(t, y, 0.5) == pytest.approx([2 / 3, 2 / 3], abs=1e-6)
    waves = {"time": t, "y": y}
    assert CrossTime("y", 0.5, occurrence=2)(waves) == pytest.approx(2 + 1 / 6, abs=1e-6)
    assert np.isnan(CrossTime("y", 2.0)(waves))
    assert PulseWidth("y", 0.5)(waves) == pytest.approx(2 / 3, abs=1e-6)
    assert SpikeCount("y", 0.5)(waves) == 2.0
    assert SpikeRate("y", 0.5)(waves) == pytest.approx(0.5)
    assert Mean("y")(waves) == pytest.approx(0.0, abs=1e-6)


def test_a_runt_is_not_a_spike():
    """A pulse shorter than ``min_width`` (a latch that starts to flip and falls back) is not counted;
    a pulse still high at the end of the run is."""
    t = np.array([0.0, 1.0, 1.000001, 1.000002, 2.0, 2.000001, 3.0, 3.000001, 4.0, 4.000001, 5.0])
    y = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0])  # runt, 1 s pulse, pulse to the end
    waves = {"time": t, "y": y}
    assert spike_times(t, y, 0.5).size == 3
    assert spike_times(t, y, 0.5, min_width=1e-3) == pytest.approx([2.0000005, 4.0000005])
    assert pulse_widths(t, y, 0.5, min_width=1e-3) == pytest.approx([1.0])
    assert SpikeCount("y", 0.5, min_width=1e-3)(waves) == 2.0
    assert SpikeTime("y", 0.5, min_width=1e-3)(waves) == pytest.approx(2.0000005)
    assert SpikeRate("y", 0.5, min_width=1e-3)(waves) == pytest.approx(2 / 5)
    assert PulseWidth("y", 0.5, min_width=1e-3)(waves) == pytest.approx(1.0)
    assert PulseWidth("y", 0.5)(waves) == pytest.approx(1e-6)


def test_energy_and_power_from_supply_current():
    t = np.linspace(0.0, 2.0, 5)
    waves = {"time": t, "vdd": np.full(5, 3.3), "i(vdd)": np.full(5, -1e-3)}  # sourcing 1 mA
    assert Energy("vdd", "vdd")(waves) == pytest.approx(6.6e-3)
    assert AvgPower("vdd", "vdd")(waves) == pytest.approx(3.3e-3)


def test_evaluate_requires_one_number():
    with pytest.raises(ValueError, match="measurement 'bad' returned"):
        evaluate({"bad": lambda w: np.ones(3)}, {})


def test_fingerprint_follows_the_devices_of_the_netlist_only():
    """A device default the netlist carries changes the study's fingerprint (a resumed study refuses
    stale results); a device the testbench does not use does not, procedure or not."""
    import dataclasses

    from spicegen import get_device
    from spicegen.testbench import Events

    model = get_device("sinh_memristor")
    changed = dataclasses.replace(model, params=tuple(dataclasses.replace(p, default=p.default * 2) if p.name == "k"
                                                      else p for p in model.params))

    def bench(device):
        def build(options):
            c = tb_api.Circuit("one memristor")
            c.element("V1 a 0 DC 1")
            c.device(device, "m1", ("a", "0"))
            c.analysis(".tran 1u 10u")
            return c
        return tb_api.Testbench("mem", "a memristor", build, {"w": Final("m1.w")}, procedure=Events())

    fingerprints = [make_plan(bench(m), seed=1).definition["fingerprint"] for m in (model, changed, model)]
    assert fingerprints[0] != fingerprints[1] and fingerprints[0] == fingerprints[2]
    plain = tb_api.Testbench("plain", "a divider", packed_bench, {"vout": Final("out")}, procedure=Events())
    assert "sinh_memristor" not in make_plan(plain, seed=1).points[0].netlist


def test_procedure_fingerprint_names_fields_and_functions_not_addresses():
    """A procedure enters the fingerprint as its fields (mc-demo's Events: its carry map), a
    function-valued field by module and qualified name: a repr would carry a memory address, and a
    resumed study would never match its own definition."""
    import dataclasses
    from typing import Callable

    from spicegen.montecarlo.plan import _describe
    from spicegen.testbench import join_runs
    from testbenches import get_testbench

    assert _describe(get_testbench("mc-demo").procedure) == "Events(carry={'m1__w0': 'm1.w'})"

    @dataclasses.dataclass(frozen=True)
    class Wrapped:
        run: Callable

    text = _describe(Wrapped(join_runs))
    assert text == f"{Wrapped.__qualname__}(run=spicegen.testbench.join_runs)" and "0x" not in text


def every_distribution() -> Circuit:
    """Slots of every kind and distribution, a correlated group, c2c per event and narrow bounds
    (some draws fall outside)."""
    c = Circuit("all draws", events=3)
    c.param(Param("glob", 1.0, bounds=(0.9, 1.1), variation=Variation("global", 0.1)))
    c.param(Param("tn", 2.0, bounds=(0, 10), variation=Variation("local", 0.2, "truncnormal", relative=False)))
    c.param(Param("un", 5.0, bounds=(0, 10), variation=Variation("d2d", 0.1, "uniform")))
    c.param(Param("zl", 1.0, bounds=(0, 10), variation=Variation("c2c", 0.3, "lognormal", p_zero=0.2)))
    c.param(Param("ca", 1.0, bounds=(0, 10), variation=Variation("c2c", 0.1, "lognormal", group="q", correlation=0.7)))
    c.param(Param("cb", 1.0, bounds=(0.8, 1.2), variation=Variation("c2c", 0.1, group="q", correlation=-0.4)))
    c.param(Param("fixed", 3.0))
    return c


@pytest.mark.parametrize("seed", [0, 1, 2**70 + 11])
def test_batch_draws_are_the_per_sample_draws_bit_for_bit(seed):
    from spicegen.montecarlo.sampling import _fast_path_agrees

    assert _fast_path_agrees()  # the batch path itself is checked, not the fallback to the definition
    sampler = Sampler(every_distribution().slots, 3)
    samples = [*range(300), 2**32 + 5, 10**12]
    batch = sampler.draw_batch(seed, samples)
    refused = 0
    for sample, values in zip(samples, batch.values):
        alone = sampler.draw(seed, sample)
        assert values.keys() == alone.keys()
        for name, value in alone.items():
            assert type(values[name]) is type(value) and np.array_equal(values[name], value), (sample, name)
        try:
            sampler.check(alone, sample)
        except SampleError as exc:
            refused += 1
            assert batch.problems[sample] == str(exc)
        else:
            assert sample not in batch.problems
    assert 0 < refused == len(batch.problems) < len(samples)
