"""Monte Carlo report figures a reviewer accepts: units on every axis, parameters in words, data-driven
bins, labelled spec lines with the yield and its 95 % interval, sensitivity per corner."""
from __future__ import annotations

import re

import numpy as np
import pytest

from spicegen.figures import axis_label, label_problems, pyplot, save_figure
from spicegen.measure import At, CrossTime, Energy, Final, SpikeCount
from spicegen.montecarlo import load_dataset, run_study
from spicegen.montecarlo.report import (MAX_BINS, bin_edges, report_figures, summary_table, wilson_interval,
                                        write_report)
from spicegen import testbench as tb_api
from spicegen.testbench import Circuit
from testbenches import get_testbench

INTERNAL_NAME = re.compile(r"\w+__\w+")
"""A slot's netlist name (``m1__i0``): never shown to a reader."""


def test_axis_label_picks_an_engineering_prefix_and_says_dimensionless():
    assert axis_label("I_read", "A", [3e-6, 12e-6]) == ("I_read (µA)", pytest.approx(1e6))
    assert axis_label("t_half", "s", np.array([2e-9, np.nan])) == ("t_half (ns)", pytest.approx(1e9))
    assert axis_label("duty", "%", [50.0]) == ("duty (%)", 1.0)
    assert axis_label("w_final", "") == ("w_final (dimensionless)", 1.0)
    assert axis_label("r_p", None)[0] == "r_p (unit not declared)"


def test_save_figure_refuses_a_label_without_a_unit_and_writes_nothing(tmp_path):
    fig, ax = pyplot().subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("m1__i0")
    assert label_problems(fig) == ["'axes 0': y label 'm1__i0' has no unit in parentheses"]
    with pytest.raises(ValueError, match="'m1__i0' has no unit in parentheses"):
        save_figure(fig, tmp_path / "bad.png", check_labels=True)
    assert not (tmp_path / "bad.png").exists()


def test_measurements_know_their_units():
    tb = get_testbench("mc-demo")
    units = tb.measurement_units(tb.circuit())
    assert units == {"w_final": "", "t_half": "s", "e_write": "J", "width1": "s", "pulses": "", "vd1": "V", "vd2": "V"}

    def build(options):
        c = Circuit("units")
        c.device("mdwmtj", "d0", ("w", "0", "0"), flavor="twin")
        c.element("Iw 0 w 10u")
        c.analysis(".tran 1n 10n")
        return c

    measurements = {"q": Final("d0.q"), "i_w": Final("i(iw)"), "moved": At("d0.q", 5e-9, scale=2.0),
                    "t_cross": CrossTime("w", 0.1), "e_w": Energy("iw", "w"), "count": SpikeCount("w", 0.1)}
    plain = tb_api.Testbench("units-demo", "units", build, measurements)
    # mdwmtj stores q scaled (the node holds q / l_FL): its raw alias has no unit to name
    assert plain.measurement_units(plain.circuit()) == {"q": None, "i_w": "A", "moved": None, "t_cross": "s",
                                                        "e_w": "J", "count": ""}
    declared = tb_api.Testbench("units-demo", "units", build, measurements, units={"moved": "m"})
    assert declared.measurement_units(declared.circuit())["moved"] == "m"
    with pytest.raises(ValueError, match="unit for unknown measurement 'typo'"):
        tb_api.Testbench("units-demo", "units", build, measurements, units={"typo": "V"})


def test_wilson_interval_matches_the_closed_form():
    z2 = 1.959963984540054 ** 2
    assert wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))
    assert wilson_interval(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)
    low, high = wilson_interval(45, 50)
    assert low == pytest.approx(0.7864, abs=1e-4) and high == pytest.approx(0.9565, abs=1e-4)
    with pytest.raises(ValueError, match="3 of 2"):
        wilson_interval(3, 2)


def test_bins_follow_the_data_and_are_capped():
    normal = np.random.default_rng(0).normal(size=1000)
    assert len(bin_edges(normal)) - 1 == len(np.histogram_bin_edges(normal, "auto")) - 1 < MAX_BINS
    heavy = np.concatenate([normal, [1e6]])  # one outlier: Freedman-Diaconis would ask for ~10^6 bins
    assert len(bin_edges(heavy)) - 1 == MAX_BINS


@pytest.mark.ngspice
def test_mc_report_figures_have_units_words_yields_and_a_panel_per_corner(tmp_path):
    folder = tmp_path / "demo"
    run_study(get_testbench("mc-demo"), folder, n=24, seed=3, settings={"pulses": 2},
              sweep={"corner": ["tt", "ss"]}, progress=False)
    specs = {"w_final": (0.25, None), "e_write": (None, 2e-9)}
    table = summary_table(load_dataset(folder), specs)
    w = table[table["measurement"] == "w_final"]
    assert list(w["unit"]) == ["dimensionless", "dimensionless"]
    assert (w["yield_low"] <= w["yield"]).all() and (w["yield"] <= w["yield_high"]).all()

    seen = {}
    for name, fig in report_figures(folder, specs, table):
        assert label_problems(fig, declared=True) == [], name
        texts = [fig._suptitle.get_text() if fig._suptitle else ""]
        for ax in fig.axes:
            texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), *(t.get_text() for t in ax.get_yticklabels())]
            legend = ax.get_legend()
            texts += [t.get_text() for t in legend.get_texts()] if legend else []
        assert not any(INTERNAL_NAME.search(t) for t in texts), (name, texts)
        if name in ("hist_w_final.png", "hist_e_write.png", "scatter_w_final.png", "scatter_pulses.png",
                    "sensitivity_e_write.png"):
            seen[name] = (fig, texts)
        else:
            pyplot().close(fig)
    pyplot().close("all")

    hist, texts = seen["hist_w_final.png"]
    assert hist.axes[0].get_xlabel() == "w_final (dimensionless)"
    assert any(t.startswith("corner = ss: yield") and "95 % CI" in t for t in texts)
    assert any(t.startswith("lower spec 0.25") for t in (a.get_text() for a in hist.axes[0].texts))
    energy, _ = seen["hist_e_write.png"]
    assert energy.axes[0].get_xlabel() == "e_write (nJ)"

    scatter, texts = seen["scatter_w_final.png"]
    titles = [ax.get_title() for ax in scatter.axes if ax.axison]
    assert [t.split(":")[0] for t in titles] == ["corner=tt", "corner=ss"]
    assert all(re.fullmatch(r".+ of .+ \(.+\)", ax.get_xlabel()) for ax in scatter.axes if ax.axison)

    constant, _ = seen["scatter_pulses.png"]  # two pulses in every sample: the measurement, not the draws, is flat
    assert [ax.get_title() for ax in constant.axes if ax.axison] == [
        "corner=tt: the same in every sample", "corner=ss: the same in every sample"]

    sensitivity, texts = seen["sensitivity_e_write.png"]
    assert {t.get_text() for t in sensitivity.axes[0].get_legend().get_texts()} == {"corner = tt", "corner = ss"}
    assert "width of pulse source vw, event 1" in texts  # the per-pulse jitter, in words

    out = write_report(folder, specs)
    assert {"hist_w_final.png", "scatter_w_final.png", "sensitivity_w_final.png"} <= {p.name for p in out.iterdir()}
    assert "| corner=ss | w_final | dimensionless |" in (out / "summary.md").read_text()
