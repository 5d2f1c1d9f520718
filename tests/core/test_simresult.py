"""SimResult as a read-only mapping and as a DataFrame, on real ngspice 46 runs."""
from __future__ import annotations

import subprocess
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from spicegen.ngspice import SimResult, _collect, _read_raw, run_netlist

pytestmark = pytest.mark.ngspice

DIVIDER = "divider\nV1 in 0 1\nR1 in out 1k\nR2 out 0 3k\n.op\n.end"
RC = "rc\nV1 in 0 PULSE(0 1 0 1n 1n 1 2)\nR1 in out 1k\nC1 out 0 1u\n.tran 10u 1m\n.end"
LOWPASS = "lowpass\nV1 in 0 dc 0 ac 1\nR1 in out 1k\nC1 out 0 1u\n.ac dec 5 10 100k\n.end"


@pytest.fixture(scope="module", params=["shared", "subprocess"])
def divider(request: pytest.FixtureRequest) -> SimResult:
    return run_netlist(DIVIDER, backend=request.param)


def test_keys_iteration_and_len_follow_the_vectors(divider):
    assert isinstance(divider, Mapping)
    assert list(divider) == list(divider.keys()) == list(divider.vectors) == ["i(v1)", "in", "out"]
    assert len(divider) == 3


def test_values_and_items_are_the_vectors_themselves(divider):
    assert [v for v in divider.values()] == [divider.vectors[k] for k in divider.vectors]
    assert all(value is divider.vectors[key] for key, value in divider.items())
    assert dict(divider) == dict(divider.items()) and dict(divider)["out"][0] == 0.75


@pytest.mark.parametrize("name", ["out", "OUT", "v(out)", "V(Out)"])
def test_in_and_get_are_case_insensitive_and_take_ngspice_spellings(divider, name):
    assert name in divider
    assert divider.get(name) is divider["out"] is divider.vectors["out"]


@pytest.mark.parametrize("name", ["i(v1)", "I(V1)", "v1#branch", "V1#BRANCH"])
def test_currents_by_any_spelling(divider, name):
    assert name in divider and divider.get(name) is divider.vectors["i(v1)"]


def test_missing_names(divider):
    for missing in ("nope", "v(nope)", 3, None):
        assert missing not in divider
        assert divider.get(missing) is None and divider.get(missing, "default") == "default"
    with pytest.raises(KeyError, match=r"no vector 'v\(nope\)'; available: i\(v1\), in, out"):
        divider["v(nope)"]
    with pytest.raises(KeyError):
        divider[3]


def test_the_mapping_is_read_only(divider):
    with pytest.raises(TypeError):
        divider["out"] = np.zeros(1)
    with pytest.raises(TypeError):
        divider.vectors["out"] = np.zeros(1)


def test_transient_to_dataframe():
    result = run_netlist(RC)
    frame = result.to_dataframe()
    assert list(frame.columns) == list(result.keys()) == ["i(v1)", "in", "out", "time"]
    assert len(frame) == result["time"].size > 100
    for name in result:
        np.testing.assert_array_equal(frame[name].to_numpy(), result[name])
    assert (frame["out"].diff().dropna() >= 0).all()  # the capacitor only charges


def test_ac_dataframe_keeps_complex_signals_and_a_real_frequency():
    frame = run_netlist(LOWPASS).to_dataframe()
    assert frame["frequency"].dtype == np.float64 and frame["out"].dtype == np.complex128
    expected = 1 / (1 + 2j * np.pi * frame["frequency"].to_numpy() * 1e-3)
    np.testing.assert_allclose(frame["out"].to_numpy(), expected, rtol=1e-9)


def test_op_dataframe_has_one_row(divider):
    frame = divider.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and frame.shape == (1, 3)
    assert frame.loc[0, "out"] == 0.75


def test_vectors_of_different_lengths_are_refused_by_to_dataframe(tmp_path):
    deck = tmp_path / "deck.cir"
    deck.write_text(f"short\nV1 in 0 1\nR1 in out 1k\nC1 out 0 1u\n.tran 1u 10u 0 1u\n.control\n"
                    f"run\nlet short = vector(3)\nset filetype=binary\nwrite {tmp_path}/out.raw\nquit\n"
                    f".endc\n.end\n")
    subprocess.run(["ngspice", "-b", str(deck)], check=True, capture_output=True)
    result = SimResult(_collect(_read_raw(tmp_path / "out.raw")))
    points = result["time"].size
    assert result["short"].size == 3 and points > 3
    assert len(result) == 5 and "SHORT" in result
    with pytest.raises(ValueError, match=rf"equal length, got .*short: 3, time: {points}"):
        result.to_dataframe()
