"""Monte Carlo of the LIF chain (``lif-mc``): mismatch of every transistor, K by operating points, resume."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from spicegen import study as st
from spicegen.montecarlo import load_dataframe
from spicegen.ngspice import run_netlist
from spicegen.pdk import sky130_include, sky130_mos
from testbenches.lif.circuit import Design, ldo_subckt, lif_subckt
from testbenches.lif.mc import QUANTITIES, SPREAD_COLUMNS, spread
from testbenches.lif.testbench import A_VT, SIGMA_W, mismatch

pytestmark = pytest.mark.ngspice


def test_every_transistor_gets_a_pelgrom_threshold_and_a_width_mismatch():
    design = Design()
    for lines, prefix in ((ldo_subckt(design.ldo, design.attenuator), "ldo"), (lif_subckt(design.lif), "lif")):
        varied, params = mismatch(lines, prefix)
        sigmas = {p.name: p.variation.sigma for p in params}
        transistors = [line.split() for line in lines if line[0] in "Mm"]
        assert transistors and len(params) == 2 * len(transistors)
        for words, line in zip(transistors, (v for v in varied if v[0] in "Mm")):
            size = {k: float(v) for k, v in (w.split("=", 1) for w in words if "=" in w)}
            count, name = size.get("m", 1.0), words[0].lower()
            assert f"delvto={{dvt_{prefix}_{name}}}" in line
            assert re.search(rf"m=\{{{count:g}\*\(1\+dw_{prefix}_{name}/", line), line
            assert sigmas[f"dvt_{prefix}_{name}"] == pytest.approx(A_VT / math.sqrt(size["w"] * size["l"] * count))
            assert sigmas[f"dw_{prefix}_{name}"] == pytest.approx(SIGMA_W / math.sqrt(count))


def test_a_width_draw_changes_the_current_as_a_wider_device_does():
    """ΔW goes into the multiplier (W stays in its model bin): the drain current follows a real (W + ΔW)
    device to within its narrow-width effects."""
    w, dw = 2e-6, 0.1e-6
    line = sky130_mos("M1", "nfet", "d", "g", "0", "0", w=w, l=1e-6)
    varied, _ = mismatch([line], "t")
    currents = []
    for body in (varied[0], sky130_mos("M1", "nfet", "d", "g", "0", "0", w=w + dw, l=1e-6), line):
        netlist = "\n".join(["width", sky130_include("tt"), f".param dw_t_m1={dw} dvt_t_m1=0", "Vd d 0 1",
                             "Vg g 0 1.2", body, ".op", ".end"])
        currents.append(-float(run_netlist(netlist)["i(vd)"][0]))
    scaled, wider, nominal = currents
    assert scaled / nominal == pytest.approx(1 + dw / w, rel=1e-6)
    assert scaled == pytest.approx(wider, rel=0.01)


def test_spread_of_values_ignores_what_was_not_measured():
    table = spread([1.0, 2.0, 3.0, math.nan], nominal=2.0)
    assert set(table) == set(SPREAD_COLUMNS)
    assert table["n_ok"] == 3 and table["mean"] == 2.0 and table["std"] == 1.0 and table["cv"] == 0.5
    assert table["p5"] == pytest.approx(1.1) and table["p95"] == pytest.approx(2.9)
    assert math.isnan(spread([1.0])["std"])


def test_lif_mc_runs_each_corner_through_the_engine_and_resumes_after_an_interrupt(tmp_path, monkeypatch):
    """n = 2 at tt with one interval per rate: the third Monte Carlo run is interrupted, the re-run keeps
    the two finished ones (their samples are not simulated again) and completes the study."""
    out, settings = tmp_path / "mc", {"corners": "tt", "isis": 1}
    calls = []
    original = st.StudyContext.monte_carlo

    def interrupted(ctx, testbench, n, **kwargs):
        calls.append(kwargs["folder"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(ctx, testbench, n, **kwargs)

    monkeypatch.setattr(st.StudyContext, "monte_carlo", interrupted)
    with pytest.raises(KeyboardInterrupt):
        st.run("lif-mc", out, settings=settings, n=2, progress=False)
    finished = {f: load_dataframe(out / f, meta=True)["finished"].tolist() for f in calls[:2]}
    monkeypatch.setattr(st.StudyContext, "monte_carlo", original)

    result = st.run("lif-mc", out, settings=settings, n=2, progress=False).result
    for folder, times in finished.items():  # resumed, not recomputed
        assert load_dataframe(out / folder, meta=True)["finished"].tolist() == times
    frames = [load_dataframe(out / f) for f in ("tt_k", "tt_rate_10uA", "tt_rate_40uA", "tt_rate_200uA")]
    draws = [c for c in frames[0].columns if c.startswith(("dvt_", "dw_"))]
    assert len(draws) > 50 and frames[0][draws].std().min() > 0
    for frame in frames[1:]:  # one set of mismatch draws per sample, whatever the run
        assert frame.sort_values("sample")[draws].equals(frames[0].sort_values("sample")[draws])

    m, data = result["measurements"], result["data"]
    table = data["corners"]["tt"]["spread"]
    assert set(table) == set(QUANTITIES) and all(table[q]["n_ok"] == 2 for q in QUANTITIES)
    for q in ("k_100nA", "k_10uA", "k_200uA"):
        assert 300 < m[f"{q}_mean_tt"] < 800 and 300 < table[q]["nominal"] < 800
    assert 0 < m["rate_10uA_mean_tt"] < m["rate_200uA_mean_tt"]
    assert 1e-7 < m["width_mean_tt"] < 1e-4 and m["failed_tt"] == 0 and m["seconds_per_sample"] > 0
    assert all(m[f"k_10uA_mean_{c}"] is None for c in ("ss", "ff", "sf", "fs"))  # NaN: not run
    lengths = data["corners"]["tt"]["run_lengths"]
    assert lengths["10uA"]["t_stop"] > lengths["200uA"]["t_stop"]
    for q, rows in data["sensitivity"].items():
        assert rows and {"device", "vt", "width", "rho_vt"} <= set(rows[0]) and 0 <= rows[0]["vt"] <= 1
    assert (out / "histograms.png").stat().st_size > 0 and (out / "sensitivity.png").stat().st_size > 0
    assert json.loads((out / "result.json").read_text())["files"] == ["histograms.png", "sensitivity.png"]
    assert np.isfinite(table["rate_40uA"]["nominal"])


def test_lif_mc_holds_the_ldo_bias_at_a_fast_corner(tmp_path):
    """At ff the study re-tunes V_opa (Table I's 2.4 V makes the LDO oscillate there) and every sample
    simulates; the chosen V_opa is stored with the corner's results."""
    from testbenches.lif.neuron import held_vopa

    result = st.run("lif-mc", tmp_path / "ff", settings={"corners": "ff", "isis": 1}, n=2, progress=False).result
    info = result["data"]["corners"]["ff"]
    assert info["vopa"] == held_vopa(Design(corner="ff")) > 2.4
    assert result["measurements"]["failed_ff"] == 0 and info["spread"]["rate_40uA"]["n_ok"] == 2
    assert load_dataframe(tmp_path / "ff" / "ff_rate_40uA")["vopa"].eq(info["vopa"]).all()
