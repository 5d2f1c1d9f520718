"""The library report's figures: three renderings with their differences on a log axis, DC points, units."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spicegen import registry
from spicegen.figures import label_problems, pyplot
from testbenches.core.equivalence import check_device
from testbenches.core.library_report import ROUND_OFF, dc_figure, plot_dc, plot_transient, transient_figure

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf, pytest.mark.vacask]


@pytest.fixture(scope="module")
def memristor():
    return check_device(registry()["sinh_memristor"], points=8, seed=1)


def test_transient_figure_has_an_error_panel_under_each_quantity(memristor):
    fig = transient_figure(memristor)
    try:
        assert label_problems(fig, declared=True) == []
        labels = [ax.get_ylabel() for ax in fig.axes]
        assert labels == ["stimulus (V)", "I(n) (µA)", "|ΔI(n)| (A)", "I(p) (µA)", "|ΔI(p)| (A)",
                          "w (dimensionless)", "|Δw| (dimensionless)"]
        assert fig.axes[-1].get_xlabel() == "time (ms)"
        for error_ax in fig.axes[2::2]:
            assert error_ax.get_yscale() == "log"
            twin_numpy, osdi_twin = (line.get_ydata() for line in error_ax.get_lines())
            assert [t.get_text() for t in error_ax.get_legend().get_texts()] == ["|twin − numpy|", "|OSDI − twin|"]
            assert 0 < np.nanmax(osdi_twin) < 1e-9  # the two ngspice renderings agree far below the axis' top
        for k, error_ax in enumerate(fig.axes[2::2]):
            quantity = fig.axes[1 + 2 * k].get_ylabel().split(" (")[0]
            floor = ROUND_OFF * np.max(np.abs(memristor.waves[f"{quantity} twin"]))
            assert error_ax.get_ylim()[0] == pytest.approx(floor)  # round-off is not drawn, the axis ends there
            assert all(np.nanmin(line.get_ydata()) > floor for line in error_ax.get_lines())
        current = memristor.waves["I(p) twin"]
        assert np.allclose(fig.axes[3].get_lines()[1].get_ydata(), current * 1e6)  # plotted in µA
    finally:
        pyplot().close(fig)


def test_dc_figure_plots_every_rendering_against_numpy(memristor, tmp_path):
    fig = dc_figure(memristor)
    try:
        assert label_problems(fig, declared=True) == []
        drawn = [ax for ax in fig.axes if ax.axison]
        assert [ax.get_title() for ax in drawn] == ["I(n)", "I(p)", "dw/dt", "w"]
        assert drawn[1].get_xlabel() == "I(p), numpy (µA)" and drawn[1].get_ylabel() == "|ΔI(p)| from numpy (A)"
        legend = [t.get_text() for t in drawn[1].get_legend().get_texts()]
        assert legend == ["ngspice B-source twin", "ngspice OSDI (Verilog-A)", "VACASK OSDI"]
    finally:
        pyplot().close(fig)
    assert plot_dc(memristor, tmp_path / "dc.png").stat().st_size > 10_000
    assert plot_transient(memristor, tmp_path / "tran.png").stat().st_size > 10_000


def test_dc_panel_where_every_rendering_equals_numpy_says_so_without_a_log_axis(memristor, recwarn):
    dc = dict(memristor.dc)
    for rendering in ("twin", "osdi", "vacask"):
        dc[f"w {rendering}"] = dc["w numpy"].copy()
    fig = dc_figure(replace(memristor, dc=dc))
    try:
        panel = next(ax for ax in fig.axes if ax.get_title() == "w")
        assert panel.get_yscale() == "linear"
        assert "equal to numpy" in " ".join(t.get_text() for t in panel.texts)
        assert next(ax for ax in fig.axes if ax.get_title() == "I(p)").get_yscale() == "log"
        assert not [w for w in recwarn if "log-scaled" in str(w.message)]
    finally:
        pyplot().close(fig)
