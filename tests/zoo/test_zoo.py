"""The model zoo against the public Verilog-A originals, compiled by openvaf-r and run in ngspice (OSDI).

The originals are not redistributed here (their repositories state no licence that allows it). Each test
reads its original from ``$SPICEGEN_ZOO_ORIGINALS`` (default ``tests/zoo/originals/``), checks that it is the
pinned version (SHA-256) and skips, naming where to get it, when it is absent.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from spicegen.device import get_device, registry
from spicegen.devices.zoo import DEVICES as ZOO_DEVICES
from spicegen.montecarlo import load_dataframe, run_study
from spicegen.netlist import format_instance
from spicegen.ngspice import run_netlist
from spicegen.numpy_code import load_numpy_module
from testbenches import get_testbench
from testbenches.core.equivalence import check_twin_divisions
from veriloga import compile_model, compile_source

#: Same tight tolerances as the equivalence check's DC, so Newton does not limit the comparison.
DC_OPTIONS = ".options reltol=1e-12 abstol=1e-18 vntol=1e-15 itl1=500"
READ_TOL = 1e-9


class Original(NamedTuple):
    file: str
    url: str
    commit: str
    path: str
    sha256: str


YAKOPCIC = Original("Yagopcic_verilogA.va", "https://github.com/asultan123/Memristor-Models",
                    "561a3e14e981adf0ce5659464b18957c54c5f7a4", "Yagopcic_verilogA/veriloga/veriloga.va",
                    "f141f7288bbceecf79886895858ee44585c63d0a2c081f056c649d3816fd9b5b")

#: The original's parameter presets (``model=0`` ... ``6``), as port parameters; ``x0`` is its ``xo``.
YAKOPCIC_PRESETS = {
    0: dict(a1=0.165, a2=0.165, b=0.05, vp=2.86, vn=3.56, ap=5.5e8, an=4e8, xp=0.9, xn=0.9, alphap=20, alphan=20,
            x0=0.01, eta=1),
    1: dict(a1=2.3e-4, a2=3.8e-4, b=1, vp=1.2, vn=0.6, ap=5, an=30, xp=0.7, xn=0.8, alphap=4, alphan=24, x0=0.02,
            eta=1),
    2: dict(a1=0.17, a2=0.17, b=0.05, vp=0.16, vn=0.15, ap=4000, an=4000, xp=0.3, xn=0.5, alphap=1, alphan=5,
            x0=0.11, eta=1),
    4: dict(a1=0.11, a2=0.11, b=0.5, vp=0.5, vn=0.75, ap=7.5, an=2, xp=0.3, xn=0.5, alphap=1, alphan=5, x0=0.11,
            eta=1),
    5: dict(a1=1.4, a2=1.4, b=0.05, vp=0.65, vn=0.56, ap=16, an=11, xp=0.3, xn=0.5, alphap=1.1, alphan=6.2,
            x0=0.99, eta=-1),
    6: dict(a1=0.076, a2=0.06, b=3, vp=0.9, vn=0.2, ap=0.1, an=10, xp=0.15, xn=0.25, alphap=1, alphan=4, x0=0.001,
            eta=1),
}


def original_source(original: Original) -> str:
    """The pinned original's text, or a skip that says where to get it."""
    folder = Path(os.environ.get("SPICEGEN_ZOO_ORIGINALS", Path(__file__).parent / "originals"))
    path = folder / original.file
    if not path.exists():
        pytest.skip(f"original {original.file} not present: save {original.url}/blob/{original.commit}/"
                    f"{original.path} as {path}")
    text = path.read_bytes()
    assert hashlib.sha256(text).hexdigest() == original.sha256, f"{path} is not the pinned version"
    return text.decode()


@pytest.fixture(scope="module")
def yakopcic_osdi(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("zoo")
    return (compile_source(original_source(YAKOPCIC), "Yagopcic_verilogA", directory=folder),
            compile_model(get_device("yakopcic"), directory=folder))


def _yakopcic_deck(preset: int, analysis: str, source: str) -> str:
    model = get_device("yakopcic")
    port = format_instance(model, "port", ("t2", "0"), {**YAKOPCIC_PRESETS[preset], "freeze": 1.0}, flavor="osdi")
    return "\n".join([
        f"yakopcic preset {preset}", DC_OPTIONS, f"Vin in 0 {source}", "V1 in t1 0", "V2 in t2 0",
        f".model m_orig Yagopcic_verilogA model={preset}", "Norig t1 0 xsv m_orig", *port, analysis, ".end"])


@pytest.mark.openvaf
@pytest.mark.ngspice
@pytest.mark.parametrize("preset", sorted(YAKOPCIC_PRESETS))
def test_yakopcic_read_iv_equals_the_original(yakopcic_osdi, preset):
    result = run_netlist(_yakopcic_deck(preset, ".dc Vin -1 1 0.05", "0"), osdi=yakopcic_osdi)
    original, port = -result["i(v1)"], -result["i(v2)"]
    assert np.max(np.abs(original)) > 0
    scale = np.maximum(np.abs(original), 1e-9 * np.max(np.abs(original)))
    assert np.max(np.abs(port - original) / scale) <= READ_TOL
    np.testing.assert_allclose(result["xsv"], YAKOPCIC_PRESETS[preset]["x0"], rtol=1e-12)


@pytest.mark.openvaf
@pytest.mark.ngspice
def test_yakopcic_original_drops_its_initial_state_in_transient(yakopcic_osdi):
    """``idt(eta*F*G, xo)`` under openvaf-r: x = xo at the operating point, 0 from the first time step on."""
    deck = _yakopcic_deck(0, ".tran 1n 10n", "0.5").replace(" freeze=1", "")
    result = run_netlist(deck, osdi=yakopcic_osdi)
    x0 = YAKOPCIC_PRESETS[0]["x0"]
    read = 0.165 * x0 * np.sinh(0.05 * 0.5)
    assert result["xsv"][0] == pytest.approx(x0)
    assert np.all(np.abs(result["xsv"][1:]) < 1e-12)  # below threshold nothing moves x: the offset is the dropped ic
    assert np.all(np.abs(result["i(v1)"][1:]) < 1e-15)  # so the original conducts nothing after t = 0
    np.testing.assert_allclose(np.abs(result["i(v2)"]), read, rtol=1e-9)  # the port keeps its state


# JART VCM v1b: no copy of the original Verilog-A was available; the port follows the published equations.

@pytest.fixture(scope="module")
def jart_numpy():
    return load_numpy_module(get_device("jart_vcm_v1b"))


@pytest.mark.parametrize("volts,lnd", [(-0.0933, 2.145), (-1.067, 0.222), (0.55, -2.83), (-1.4, 2.7)])
def test_jart_internal_nodes_solved_far_from_the_start(jart_numpy, volts, lnd):
    """Bias points where Newton from the mean port potential cycled (per-node step clipping) or wandered off
    (the Schottky exponential): the line search and the source stepping of the numpy module reach KCL."""
    result = jart_numpy.evaluate({"te": volts, "be": 0.0}, {"lnd": lnd})
    env = dict(jart_numpy.PARAMS, _T=300.15, _n_te=volts, _n_be=0.0, _u_lnd=lnd,
               **{f"_n_{n}": v for n, v in result["internal"].items()})
    current = abs(float(result["currents"]["te"]))
    assert current > 1e-7
    residual = np.array([float(r) for r in jart_numpy._internal_residual(env)])
    assert np.max(np.abs(residual[:2])) <= 1e-12 * current  # KCL at the two electrical nodes (A)
    assert abs(residual[2]) <= 1e-15  # the temperature node's normalised balance


def test_jart_twin_divisions_checked_through_its_nested_exps():
    """The heated Schottky contact nests limited exps three deep (exp(-phi/w0), w0 with tanh(w00/kT), T =
    T_REF*exp(V(tk))): the twin-division check evaluates every twin expression (it stopped on a
    RecursionError), and the thermal node's balance, zero to rounding at the DC solution, is measured
    against the terms that balance (relative to its value, a rounding-level change read as 500 %)."""
    model = get_device("jart_vcm_v1b")
    rows, problems = check_twin_divisions(model)
    assert not problems
    assert {r.quantity for r in rows} == {"I(te,sc)", "I(sc,dp)", "I(dp,be)", "I(tk)", "dlnd/dt"}
    assert max(r.error for r in rows) < 1e-12


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_jart_sweep_sets_at_negative_and_resets_at_positive_voltage(tmp_path):
    """A 1 V/s triangular sweep from the high-resistance state (the original's ``Ninit``): SET near -0.59 V,
    RESET near +0.93 V, and an LRS/HRS read ratio of about 40 at 0.05 V."""
    model = get_device("jart_vcm_v1b")
    osdi = compile_model(model, directory=tmp_path)
    sweep = "PWL(0 0 1.5 -1.5 3 0 4.5 1.5 6 0)"
    deck = ["jart sweep", ".options reltol=1e-7 abstol=1e-15 vntol=1e-12", f"Vin te 0 {sweep}",
            *format_instance(model, "cell", ("te", "0"), {"lnd0": math.log(0.008)}, flavor="osdi"),
            ".tran 1m 6 0 2m", ".end"]
    result = run_netlist("\n".join(deck), osdi=[osdi])
    t, v, lnd = result["time"], result["te"], result["ncell#lnd"]
    set_at = v[np.argmax(lnd > 0.0)]
    reset_at = v[np.argmax((t > 3.0) & (lnd < 0.0))]
    assert -0.65 < set_at < -0.55
    assert 0.88 < reset_at < 0.98
    read = load_numpy_module(model).evaluate({"te": [0.05, 0.05], "be": 0.0}, {"lnd": np.log([0.008, 20.0])})
    assert read["currents"]["te"][1] / read["currents"]["te"][0] > 30  # 40 measured


def test_the_zoo_list_names_every_device_of_the_zoo_package():
    from spicegen.device import _declared
    from spicegen.devices.zoo import DEVICES

    registry()
    assert sorted(DEVICES) == sorted(name for name, cls in _declared.items()
                                     if cls.__module__.startswith("spicegen.devices.zoo."))


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.parametrize("flavor", ["twin", "osdi"])
@pytest.mark.parametrize("device", ZOO_DEVICES)
def test_every_zoo_device_runs_in_the_monte_carlo_engine(tmp_path, device, flavor):
    """Four samples of the read current, each with its own draw of the device's declared variations."""
    run_study(get_testbench("zoo-read"), tmp_path / "study", n=4, seed=7, settings={"device": device, "flavor": flavor},
              progress=False)
    frame = load_dataframe(tmp_path / "study")
    currents = frame["i_read"].to_numpy()
    assert currents.size == 4 and np.all(np.isfinite(currents)) and np.all(currents != 0)
    varied = [p.name for p in get_device(device).params if p.variation is not None]
    assert varied and len(np.unique(np.round(currents, 15))) == 4  # every sample drew its own device
