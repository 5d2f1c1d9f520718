"""Instance parameters: declared once, per instance in every rendering, proven equal, set by Monte Carlo.

Two instances of one device with different instance-parameter values sit in one netlist, on one
shared ``.model`` card, and give the currents the equations give for each of them in numpy, the
ngspice twin, ngspice OSDI and VACASK.
"""
from __future__ import annotations

import numpy as np
import pytest

from spicegen import Check, Device, Equations, Param, Sine, State, Variation
from spicegen.device import FREEZE, build_model
from spicegen.measure import Final
from spicegen.montecarlo import load_dataset, run_study
from spicegen.netlist import format_card, format_instance, format_subckt
from spicegen.ngspice import SimError, run_netlist
from spicegen.numpy_code import load_numpy_module
from spicegen import testbench as tb_api
from spicegen.testbench import Circuit
from testbenches.core.equivalence import DC_OPTIONS, check_dc, check_dc_vacask, random_instance_values
from veriloga import compile_model
from veriloga.module import format_module, format_param
from veriloga.vacask import format_card as vacask_card
from veriloga.vacask import format_instance as vacask_instance
from veriloga.vacask import format_source, run_vacask

V = 0.4


class InstanceConductance(Device):
    """Test device: a conductance set per instance, a non-linearity shared by the card, a state."""

    name = "inst_test"
    ports = ("p", "n")
    params = (Param("g", 1e-3, "S", "conductance", (0.0, 1.0), instance=True),
              Param("v1", 1.0, "V", "non-linearity voltage", (0.1, 10.0)),
              Param("k", 1e3, "1/s", "state speed", (0.0, 1e6), Variation("d2d", 0.1)))
    states = (State("w", 0.5, (0.0, 1.0)),)
    check = Check(dc={"p": (-1.0, 1.0)}, tran={"p": Sine(0.0, 1e3, 1.0)}, tstop=2e-3)

    def equations(self, s):
        v = s.V("p", "n")
        return Equations(currents={("p", "n"): s.g * (0.5 + s.w) * (v + v**3 / (3 * s.v1**2))},
                         rates={"w": s.k * v})


MODEL = build_model(InstanceConductance)


def expected(g: float, w: float, v1: float = 1.0) -> float:
    return g * (0.5 + w) * (V + V**3 / (3 * v1**2))


@pytest.fixture(scope="module")
def osdi():
    return str(compile_model(MODEL))


def test_which_parameters_are_per_instance():
    assert not Param("a", 1.0).per_instance
    assert not Param("a", 1.0, variation=Variation("global", 0.1), instance=False).per_instance
    assert all(Param("a", 1.0, variation=Variation(kind, 0.1)).per_instance
               for kind in ("global", "local", "d2d", "c2c"))
    assert not Param("a", 1.0, variation=Variation("d2d", 0.1), instance=False).per_instance
    assert [p.name for p in MODEL.params if p.per_instance] == ["g", "k", FREEZE, "w0"]
    with pytest.raises(ValueError, match="instance of parameter 'a' must be True, False or None"):
        Param("a", 1.0, instance="yes")


def test_verilog_a_declares_them_instance_parameters():
    assert format_param(MODEL.param("g")) == ('  (*desc="conductance", units="S", type="instance"*) '
                                              'parameter real g = 0.001 from [0.0:1.0];')
    assert format_param(MODEL.param("v1")) == ('  (*desc="non-linearity voltage", units="V"*) '
                                               'parameter real v1 = 1.0 from [0.1:10.0];')
    assert format_module(MODEL).count('type="instance"') == 4


def test_each_rendering_places_them_on_the_instance_line():
    values = {"g": 2e-3, "w0": 0.25, "v1": 2.0}
    assert format_instance(MODEL, "a", ["p", "0"], values) == ["Xa p 0 inst_test g=0.002 v1=2.0 w0=0.25"]
    assert format_instance(MODEL, "a", ["p", "0"], values, "osdi", shared=True) == [
        ".model m_a inst_test v1=2.0", "Na p 0 m_a g=0.002 w0=0.25"]
    assert format_instance(MODEL, "a", ["p", "0"], {"g": 2e-3}, "osdi", shared=True) == ["Na p 0 inst_test g=0.002"]
    assert vacask_instance(MODEL, "a", ["p", "0"], {"g": 2e-3}, shared=True) == ["a (p 0) inst_test g=0.002"]
    assert vacask_instance(MODEL, "a", ["p", "0"], values) == ["model m_a inst_test v1=2.0",
                                                               "a (p 0) m_a g=0.002 w0=0.25"]
    assert (format_card(MODEL), vacask_card(MODEL)) == (".model inst_test inst_test", "model inst_test inst_test")


PAIR = ({"g": 1e-3, "w0": 0.2, FREEZE: 1.0}, {"g": 3e-3, "w0": 0.9, FREEZE: 1.0})


def test_numpy_takes_them_per_element():
    out = load_numpy_module(MODEL).evaluate({"p": V, "n": 0.0}, g=np.array([1e-3, 3e-3]), w0=np.array([0.2, 0.9]))
    np.testing.assert_allclose(out["currents"]["p"], [expected(1e-3, 0.2), expected(3e-3, 0.9)], rtol=1e-15)


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_two_instances_on_one_card_give_their_own_currents_in_ngspice(osdi):
    lines = ["* instance parameters", format_subckt(MODEL), format_card(MODEL), DC_OPTIONS]
    for k, values in enumerate(PAIR):
        for flavor in ("twin", "osdi"):
            lines += format_instance(MODEL, f"{flavor[0]}{k}", [f"{flavor[0]}{k}", "0"], values, flavor, shared=True)
            lines.append(f"V{flavor[0]}{k} {flavor[0]}{k} 0 {V!r}")
    deck = "\n".join([*lines, ".op", ".end"])
    assert deck.count(".model") == 1 + deck.count(".model noise")
    result = run_netlist(deck, osdi=[osdi])
    for k, values in enumerate(PAIR):
        current = expected(values["g"], values["w0"])
        for flavor in ("twin", "osdi"):
            assert -result[f"v{flavor[0]}{k}#branch"][0] == pytest.approx(current, rel=1e-12)


@pytest.mark.openvaf
@pytest.mark.vacask
def test_two_instances_on_one_card_give_their_own_currents_in_vacask(osdi):
    lines = ["instance parameters", "ground 0", "model vsource vsource", vacask_card(MODEL)]
    for k, values in enumerate(PAIR):
        lines += [*vacask_instance(MODEL, f"d{k}", [f"p{k}", "0"], values, shared=True),
                  format_source(f"s{k}", (f"p{k}", "0"), V)]
    out = run_vacask("\n".join([*lines, "control", "  options reltol=1e-10 abstol=1e-15", "  analysis op1 op", "endc"]),
                     osdi=[osdi])
    for k, values in enumerate(PAIR):
        assert -out[f"s{k}:flow(br)"][0] == pytest.approx(expected(values["g"], values["w0"]), rel=1e-12)


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.vacask
def test_the_check_proves_them_equal_with_a_value_per_point(osdi):
    drawn = random_instance_values(MODEL, 16, 0)
    assert sorted(drawn) == ["g", "k"] and np.unique(drawn["g"]).size == 16  # not w0, freeze (set per point)
    assert np.all(np.abs(drawn["g"] / 1e-3 - 1) <= 0.1)
    rows = check_dc(MODEL, osdi) + check_dc_vacask(MODEL, osdi)
    assert {r.pair for r in rows} == {"numpy~twin", "numpy~osdi", "numpy~vacask"}
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_a_model_parameter_on_an_n_line_is_refused_with_a_hint(osdi):
    with pytest.raises(SimError) as caught:
        run_netlist(f"* misplaced\n{format_card(MODEL)}\nN1 p 0 inst_test v1=2\nV1 p 0 0.4\n.op\n.end", osdi=[osdi])
    assert 'declares (*type="instance"*)' in str(caught.value)


def _bench(osdi: str) -> tb_api.Testbench:
    def build(options):
        c = Circuit("two cells, their conductance drawn per instance", shared_nodes=("p",))
        c.element(f"Vp p 0 {V!r}", shared=True)
        for k in (1, 2):
            c.element(f"Vs{k} p a{k} 0")
            c.device(MODEL, f"m{k}", (f"a{k}", "0"), flavor="osdi", osdi=osdi, values={"w0": 0.3 * k, FREEZE: 1.0},
                     variations={"g": Variation("d2d", 0.2, "lognormal")})
        c.analysis(".op")
        return c

    return tb_api.Testbench("inst-bench", "instance parameters in Monte Carlo", build,
                     {"i1": Final("i(vs1)"), "i2": Final("i(vs2)")})


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_monte_carlo_sets_them_per_instance_without_cards_of_their_own(tmp_path, osdi):
    bench = _bench(osdi)
    circuit = bench.circuit()
    text = circuit.format()
    assert text.count(".model") == 1 and "Nm1 a1 0 inst_test freeze=1.0 w0=0.3 g=0.001 k=1000.0\n" in text
    assert {s.name: s.alter for s in circuit.slots} == {"m1__g": ("Nm1", "g"), "m1__k": ("Nm1", "k"),
                                                         "m2__g": ("Nm2", "g"), "m2__k": ("Nm2", "k")}
    for pack in (1, 2):
        run_study(bench, tmp_path / f"p{pack}", n=4, seed=3, pack=pack, progress=False)
    single, packed = load_dataset(tmp_path / "p1"), load_dataset(tmp_path / "p2")
    # alter leaves the circuit loaded between samples: a sample's result must not depend on the samples before
    run_study(bench, tmp_path / "shuffled", n=4, seed=3, workers=2, batch=1, progress=False)
    assert load_dataset(tmp_path / "shuffled").identical(single)
    for k in (1, 2):
        g = single[f"m{k}__g"].values.ravel()
        assert np.unique(g).size == 4
        np.testing.assert_allclose(single[f"i{k}"].values.ravel(), expected(g, 0.3 * k), rtol=1e-9)
        np.testing.assert_allclose(packed[f"i{k}"].values.ravel(), single[f"i{k}"].values.ravel(), rtol=1e-9)
    assert not np.allclose(single["m1__g"].values, single["m2__g"].values)


@pytest.mark.openvaf
def test_a_varied_model_parameter_keeps_a_card_of_its_own(osdi):
    c = Circuit("model parameter varied per instance")
    c.device(MODEL, "m1", ("a", "0"), flavor="osdi", osdi=osdi, variations={"v1": Variation("d2d", 0.1)})
    c.analysis(".op")
    lines = c.format().splitlines()
    assert ".model m_m1 inst_test v1={m1__v1}" in lines and "Nm1 a 0 m_m1 k=1000.0" in lines
