"""Every registered device: numpy == ngspice B-source twin == ngspice OSDI == VACASK OSDI, DC and transient."""
from __future__ import annotations

import pytest

from spicegen import registry
from testbenches.core.equivalence import check_device

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]


@pytest.mark.parametrize("name", sorted(registry()))
def test_device_renderings_agree(name):
    report = check_device(registry()[name], points=16, seed=1)
    assert report.passed, report.format_table()
    pairs = {(r.analysis, r.pair) for r in report.rows}
    assert {("dc", "numpy~twin"), ("dc", "numpy~osdi"), ("tran", "twin~osdi"), ("tran", "numpy-ode~twin"),
            ("dc", "numpy~vacask"), ("tran", "numpy-ode~vacask")} <= pairs
