"""The LIF studies, the rate extraction and the lif-neuron testbench through the real CLI (ngspice, sky130).

One smoke-size ``lif-report`` runs every part study into its sub-folder; each part's own
``spicegen study run`` with the same options then finds that finished run (same definition key).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spicegen.cli import main
from spicegen.study import ROLES, StudyRun, studies

from testbenches.lif.calibrate import PARAMETERS, POINTS, sizes
from testbenches.lif.checks import VREF_MIN, check_biases, check_design
from testbenches.lif.circuit import CALIBRATION, Biases, Design, LifDesign
from testbenches.lif.neuron import firing_rate, read_train, window_rate
from testbenches.lif.power import read_current_for, vbcomp_for_power
from testbenches.lif.rsyn import LifRsyn, rsyn_point
from testbenches.lif.studies import PARTS, part_settings

pytestmark = pytest.mark.ngspice
SHIPPED = Path(__file__).resolve().parents[2] / "fitting" / "extractions" / "lif"


def spicegen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process; (exit status, stdout, stderr)."""
    capsys.readouterr()
    status = main([*args])
    out, err = capsys.readouterr()
    return status, out, err


def sets(settings: dict[str, object]) -> list[str]:
    """``--set NAME=VALUE`` arguments (booleans as yes/no)."""
    words = {k: ("yes" if v else "no") if isinstance(v, bool) else v for k, v in settings.items()}
    return [a for k, v in words.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    out = tmp_path_factory.mktemp("lif") / "report"
    assert main(["study", "run", "lif-report", "--set", "size=smoke", "--out", str(out), "--no-progress"]) == 0
    return StudyRun.open(out)


@pytest.fixture(scope="module")
def calibration_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """One evaluation of the timer stage; the shipped calibration file before it ran."""
    shipped = CALIBRATION.path.read_bytes()
    out = tmp_path_factory.mktemp("lif") / "cal"
    assert main(["study", "run", "lif-calibration", "--set", "stages=timer", "--set", "max_evals=1",
                 "--out", str(out), "--no-progress"]) == 0
    return out, shipped


@pytest.fixture(scope="module")
def rate_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 x 2 x 2 rate grid above 40 µA with one held-out check point."""
    out = tmp_path_factory.mktemp("lif") / "grid"
    assert main(["study", "run", "lif-rate-grid", "--set", "i_min=40", "--set", "i_points=2", "--set", "vthr_points=2",
                 "--set", "vpw_points=2", "--set", "checks=1", "--out", str(out), "--no-progress"]) == 0
    return out


def test_every_lif_study_has_a_test_run() -> None:
    ran = {"lif-report", "lif-calibration", "lif-rate-grid", *(p.name for p in PARTS)}
    here = {"testbenches.lif.studies", "testbenches.lif.rsyn", "testbenches.lif.power", "testbenches.lif.adaptive",
            "fitting.lif.rate"}  # the other LIF studies (Monte Carlo, behavioural twin) have their own test files
    assert ran == {name for name, s in studies().items() if type(s).__module__ in here}
    assert {"lif-rsyn", "lif-fi", "lif-vpw", "lif-pulsed", "lif-leak", "lif-adaptive", "lif-power"} <= ran


def test_measurements_have_units_and_paper_values_roles(report: StudyRun, calibration_run, rate_grid) -> None:
    folders = [report.folder, *(report.folder / p.name for p in PARTS), calibration_run[0], rate_grid]
    for run in map(StudyRun.open, folders):
        measures = studies()[run.study].measures
        assert run.result["units"] == {name: measures[name].unit for name in run.result["measurements"]}, run.study
        assert set(run.result["roles"]) == set(run.result["paper"]) == {k for k, m in measures.items()
                                                                          if m.paper is not None}, run.study
        assert all(role in ROLES and role for role in run.result["roles"].values()), run.study


def test_report_compares_every_paper_point(report: StudyRun) -> None:
    text = (report.folder / "report.md").read_text()
    for section in ("LDO + attenuator", "Calibration and held-out points", "Every paper number", "Rate over R_syn",
                    "f–I", "Pulse width", "Pulsed input", "Leak", "Adaptive neuron", "Power", "Figures"):
        assert f"## {section}" in text, section
    assert "| pulsed_7us | 2 Hz | — Hz | not simulated |" in text  # smoke size skips the pulsed paper points
    paper = json.loads((report.folder / "result.json").read_text())["paper"]
    assert paper["rate_10u_thr18"] == POINTS["rate_10u_thr18"].paper
    for part in PARTS:  # the report's measurements are its parts' own
        run = StudyRun.open(report.folder / part.name)
        for name, value in run.measurements.items():
            assert report.measurements[name] == pytest.approx(value, nan_ok=True), name
            if name in run.result["paper"]:
                assert f"| {part.name} | {name} |" in text


@pytest.mark.parametrize("study", [p.name for p in PARTS])
def test_each_study_runs_through_the_cli_with_its_figures(report: StudyRun, study: str, capsys) -> None:
    folder = report.folder / study
    status, out, _ = spicegen(capsys, "study", "run", study, *sets(part_settings(study, "smoke", "tt")),
                              "--out", str(folder), "--no-progress")
    run = StudyRun.open(folder)
    assert status == 0 and f"{study} ({run.key})" in out  # the same definition: the finished run is reused
    figures = [f for f in run.result["files"] if f.endswith(".png")]
    assert figures and all((folder / f).stat().st_size > 10_000 for f in figures)
    assert set(run.measurements) == set(PARTS[[p.name for p in PARTS].index(study)].measures)
    status, out, _ = spicegen(capsys, "study", "run", study, *sets(part_settings(study, "smoke", "tt")),
                              "--out", str(folder), "--no-progress", "--json")
    rows = json.loads(out)["measurements"]
    assert status == 0 and set(rows) == set(run.measurements)
    for name, paper in run.result["paper"].items():
        assert rows[name]["paper"] == paper and rows[name]["role"] == run.result["roles"][name] in ROLES[1:]
        assert rows[name]["goal"] is not None, name  # every LIF paper number has its goal
        if rows[name]["value"] is not None and rows[name]["goal"][1] is not None:
            lower, upper = rows[name]["goal"]
            assert rows[name]["met"] is (lower <= rows[name]["value"] <= upper), name


def test_study_results_hold_the_physics(report: StudyRun) -> None:
    part = {p.name: StudyRun.open(report.folder / p.name) for p in PARTS}
    chain = part["lif-chain"].measurements
    assert 490 < chain["k_min"] <= chain["k_max"] < 510 and abs(chain["clamp_error_max"]) < 5e-3
    assert chain["phase_margin_min"] > 0  # the LDO's loop is stable at every read condition
    rates = part["lif-fi"].result["data"]["rates"]
    assert rates["0.8"][1] > rates["0.8"][0] and rates["0.8"][0] > rates["1.8"][0]  # current up, threshold down
    widths = part["lif-vpw"].result["data"]["t_pw"]
    assert widths[0] > 1000 * widths[-1]  # V_pw 0.45 V against 1.1 V
    assert part["lif-pulsed"].result["data"]["rate"][0] > 0
    pair = part["lif-adaptive"].measurements
    assert pair["thr_end"] > pair["thr_start"] + 0.5 and pair["pop_thr_end"] > pair["thr_start"] + 0.5
    grid = part["lif-rsyn"].measurements  # 10 kΩ / 1 MΩ x 100 / 400 mV
    assert grid["rate_rlo_vhi"] > grid["rate_rlo_vlo"] > grid["rate_rhi_vlo"] >= 0  # I_syn = V_read / R_syn
    assert grid["rate_rlo_vhi"] > grid["rate_rhi_vhi"] >= grid["rate_rhi_vlo"]
    assert grid["rate_max"] == grid["rate_rlo_vhi"] and grid["rate_min"] == grid["rate_rhi_vlo"]
    power = part["lif-power"].measurements
    assert power["p_ldo_dynamic"] > power["p_ldo_static"] > 0
    assert power["p_att_dynamic"] > 100 * abs(power["p_att_static"])
    sweep = part["lif-power"].result["data"]["sweep"]  # the attenuator's dissipation rises with the read current
    below = max(p["isyn"] for p in sweep if p["p_att"] < 20e-6)
    assert below < power["i_read_att_paper"] < min(p["isyn"] for p in sweep if p["p_att"] > 20e-6)
    assert power["p_lif_dynamic"] > power["p_lif_static"] > 0 and power["energy_per_spike"] > 0


def test_adaptation_lengthens_the_inter_spike_interval(report: StudyRun) -> None:
    pair = StudyRun.open(report.folder / "lif-adaptive").measurements  # Garg et al. Fig. 7B: 2 ms -> 5 ms
    assert pair["isi_last"] > pair["isi_first"]


def test_rest_level_within_20_mv_at_every_leak_bias(report: StudyRun) -> None:
    leak = StudyRun.open(report.folder / "lif-leak").measurements  # corners of V_taun 1.0-1.35 x V_taup 1.1-1.6 V
    assert leak["rest_missing"] == 0 and abs(leak["rest_error_max"]) <= 0.02


def test_a_grid_point_is_sized_to_its_rate_and_0_hz_without_a_spike(report: StudyRun) -> None:
    runs = {(r["rsyn"], r["vread"]): r for r in StudyRun.open(report.folder / "lif-rsyn").result["data"]["runs"]}
    fast = runs[(10e3, 0.4)]  # 40 µA: a few spikes in well under the 50 ms window
    assert fast["spikes"] >= 4 and fast["duration"] < 0.01
    train = read_train(0.1, 1e6, window=2e-3, biases=Biases(vref=1.0))  # 100 nA: tens of ms per spike
    assert train.spikes.size == 0 and train.duration == pytest.approx(2e-3) and window_rate(train) == 0.0


def test_fig_3a_highest_rate_point_simulates_the_lif_rsyn_corner() -> None:
    point, grid = POINTS["rsyn_max"], {s.name: s.default for s in LifRsyn.options}
    assert point.args == pytest.approx({"rsyn": grid["rsyn_min"] * 1e3, "vread": grid["vread_max"] * 1e-3,
                                        "vref": grid["vref"], "window": grid["window"]})
    short = {**point.args, "window": 5e-3}  # 40 µA: four spikes well inside 5 ms, as in the 1 s window
    corner = rsyn_point(Design(), Biases(vref=short["vref"]), short["rsyn"], short["vread"], short["window"])
    assert corner["spikes"] >= 4 and replace(point, args=short).measure(Design()) == corner["rate"]


def test_low_bias_search_brackets_the_target_power() -> None:
    def power(b: Biases) -> float:  # a falling static power, as the comparator's bias device turns off
        return 5e-6 * 10 ** (-(b.vbcomp - 2.4) / 0.2)

    vbcomp = vbcomp_for_power(17e-9, Biases(), Design(), power)
    assert power(replace(Biases(), vbcomp=vbcomp)) == pytest.approx(17e-9, rel=0.05)
    assert vbcomp_for_power(1e-3, Biases(), Design(), power) == Biases().vbcomp  # already below: stays typical
    assert vbcomp_for_power(1e-15, Biases(), Design(), power) == Biases().vdd  # out of reach: the end of the range


def test_read_current_search_finds_the_current_of_a_power() -> None:
    def dissipation(i: float) -> float:  # an attenuator: the read current times a diode voltage
        return i * (0.6 + 0.025 * math.log(i / 1e-6))

    i_read = read_current_for(dissipation, 20e-6)
    assert dissipation(i_read) == pytest.approx(20e-6, rel=2e-3)
    assert math.isnan(read_current_for(lambda i: 14.2e-6, 18e-6))  # a flat supply power never reaches it
    assert math.isnan(read_current_for(dissipation, 1.0))


@pytest.mark.parametrize(("build", "message"), [
    (lambda: check_biases(Biases(vthr=4.0)), r"bias vthr = 4.0 is out of range; valid: 0 \.\.\. V_dd = 3.3 V"),
    (lambda: check_biases(Biases(vtaun=-0.1)), r"bias vtaun = -0.1 is out of range; valid: 0 \.\.\. V_dd = 3.3 V"),
    (lambda: check_biases(Biases(vref=0.5)),
     rf"bias vref = 0.5 is out of range; valid: {VREF_MIN:g} \.\.\. V_dd = 3.3 V \(the LDO's clamping range\)"),
    (lambda: check_biases(Biases(vdd=7.0)), r"bias vdd = 7.0 is out of range; valid: > 0 \.\.\. 5.5 V"),
    (lambda: check_design(replace(Design(), lif=replace(LifDesign(), c1=-1e-12))),
     r"lif.c1 = -1e-12 is out of range; valid: > 0 F"),
    (lambda: check_design(replace(Design(), ldo=replace(Design().ldo, r_zero=-50e3))),
     r"ldo.r_zero = -50000.0 is out of range; valid: > 0 ohm"),
    (lambda: firing_rate(10e-6, biases=Biases(vpw=3.5)), r"bias vpw = 3.5 is out of range"),
    (lambda: firing_rate(10e-6, design=replace(Design(), lif=replace(LifDesign(), c2=0.0))), r"lif.c2 = 0.0"),
    (lambda: read_train(0.1, -10e3), r"r_syn \(ohm\) = -10000.0 is out of range; valid: > 0 ohm"),
])
def test_bad_biases_and_sizes_are_refused_with_value_and_range(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("testbench, setting, message", [
    ("lif-neuron", "vtaun=4", "bias vtaun = 4.0 is out of range; valid: 0 ... V_dd = 3.3 V"),
    ("lif-neuron", "vref=0.5", f"bias vref = 0.5 is out of range; valid: {VREF_MIN:g} ... V_dd = 3.3 V"),
    ("lif-attenuation", "vpw=3.4", "bias vpw = 3.4 is out of range; valid: 0 ... V_dd = 3.3 V"),
])
def test_netlist_testbenches_refuse_a_bias_outside_the_supply_before_simulating(
        capsys, testbench: str, setting: str, message: str) -> None:
    status, _, err = spicegen(capsys, "sim", testbench, "--set", setting)
    assert status == 2 and message in err


def test_describe_lists_typed_options_and_bad_values_are_refused(tmp_path: Path, capsys) -> None:
    status, out, _ = spicegen(capsys, "study", "describe", "lif-fi")
    assert status == 0 and "i_min = 10.0 µA  (float in [0.1, 1000])" in out and "rate_10u_thr18" in out
    assert "paper 419" in out
    status, _, err = spicegen(capsys, "study", "run", "lif-fi", "--set", "i_points=0", "--out", str(tmp_path / "a"))
    assert status == 2 and "[1, 50]" in err
    status, _, err = spicegen(capsys, "study", "run", "lif-pulsed", "--set", "frequency=1e6",
                              "--out", str(tmp_path / "b"))
    assert status == 2 and "[1.0, 10000.0]" in err
    status, _, err = spicegen(capsys, "study", "run", "lif-leak", "--set", "vtaun_min=1.5", "--set", "paper=no",
                              "--out", str(tmp_path / "c"))
    assert status == 2 and "'vtaun_min' = 1.5 is above 'vtaun_max'" in err
    status, _, err = spicegen(capsys, "study", "run", "lif-rsyn", "--set", "vref=0.5", "--out", str(tmp_path / "d"))
    assert status == 2 and f"[{VREF_MIN}, 3.3]" in err  # below the LDO's clamping range
    status, _, err = spicegen(capsys, "study", "run", "lif-rsyn", "--set", "rsyn_min=-10", "--out", str(tmp_path / "e"))
    assert status == 2 and "[1.0, 10000.0]" in err


def test_calibration_defaults_are_the_package_file() -> None:
    values = json.loads(CALIBRATION.path.read_text())["values"]
    assert sizes(Design()) == {name: values[name] for name in PARAMETERS}


def test_calibration_study_writes_its_values_and_leaves_the_package_alone(calibration_run) -> None:
    out, shipped = calibration_run
    assert CALIBRATION.path.read_bytes() == shipped
    run = StudyRun.open(out)
    written = json.loads((out / "calibration.json").read_text())
    assert written["values"]["c2"] == run.measurements["c2"] and np.isnan(run.measurements["c1"])
    assert written["values"]["c1"] == CALIBRATION.read()["values"]["c1"]  # not fitted: kept
    assert written["sources"]["c2"]["key"] == run.key and written["sources"]["c2"]["stage"] == "timer"


def test_rate_grid_and_extraction_cite_the_run(tmp_path: Path, capsys, rate_grid: Path) -> None:
    grid = rate_grid
    status, _, _ = spicegen(capsys, "extract", "lif-rate", "--from", str(grid), "--out", str(tmp_path / "x"))
    assert status == 0
    built = tmp_path / "x" / "lif-rate"
    assert sorted(p.name for p in built.iterdir()) == sorted(p.name for p in SHIPPED.iterdir())
    surrogate = json.loads((built / "lif_rate.json").read_text())
    assert surrogate["provenance"]["study"]["key"] == StudyRun.open(grid).key
    assert surrogate["provenance"]["study"]["definition"]["options"]["checks"] == 1
    status, _, err = spicegen(capsys, "extract", "lif-rate", "--from", str(tmp_path / "none"),
                              "--out", str(tmp_path / "y"))
    assert status == 1 and "needs a finished run of study 'lif-rate-grid'" in err


def test_lif_neuron_testbench_sim_and_monte_carlo(tmp_path: Path, capsys) -> None:
    status, out, _ = spicegen(capsys, "sim", "lif-neuron", "--json", "--set", "isyn=100e-6")
    nominal = json.loads(out)
    assert status == 0 and nominal["spikes"] >= 5 and nominal["width"] == pytest.approx(10e-6, rel=0.02)
    assert 3e4 < nominal["rate"] < 1e5  # the DPI well above its threshold; the 10 us refractory caps it at 100 kHz
    status, _, _ = spicegen(capsys, "mc", "lif-neuron", "--n", "4", "--seed", "1", "--set", "isyn=100e-6",
                            "--out", str(tmp_path / "mc"), "--no-progress")
    assert status == 0
    from spicegen.montecarlo import load_dataframe

    samples = load_dataframe(tmp_path / "mc")
    assert list(samples["status"]) == ["ok"] * 4
    assert samples["rate"].nunique() == 4 and samples["rate"].between(0.5 * nominal["rate"], 2 * nominal["rate"]).all()
    assert samples["dvt_lif_mpw"].std() > 0  # transistor mismatch drawn per sample


def test_a_redesign_of_the_chain_changes_the_key_of_its_studies():
    """The key of a LIF study holds a hash of the chain's subcircuits, so a size that is not calibrated
    (here the LDO's damping network) also keeps an earlier run from answering."""
    from dataclasses import replace

    from spicegen.study import get_study
    from testbenches.lif.circuit import Design, chain_definition

    bare = replace(Design(), ldo=replace(Design().ldo, c_damp=None))
    assert chain_definition(bare)["subcircuits"] != chain_definition()["subcircuits"]
    for name in ("lif-fi", "lif-adaptive", "lif-twin"):
        assert get_study(name).depends_on() == chain_definition()
        # so is the code that wires the chains into testbenches (e.g. Fig. 7C's population)
        assert "testbenches.lif.neuron" in get_study(name).code
