"""The ReRAM study runs the tests share: every study once per session, at its test size, through the command line
(each in ``<folder>/run``, its extraction in ``<folder>/ex``). Real ngspice 46 and openvaf-r; no mocks."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from cli import spicegen

from spicegen import calibration


def run_and_extract(work: Path, study: str, *args: str, extraction: str | None = None) -> Path:
    """Run ``study`` into ``work/run`` (and ``extraction`` into ``work/ex``); ``work``."""
    done = spicegen("study", "run", study, *args, "--out", "run", "--no-progress", cwd=work)
    assert done.returncode == 0, done.stderr
    if extraction:
        done = spicegen("extract", extraction, "--from", "run", "--out", "ex", cwd=work)
        assert done.returncode == 0, done.stderr
    return work


@pytest.fixture(scope="session")
def package_files() -> dict[str, bytes]:
    """The package's calibration files before any study ran (none may change them: ship=no)."""
    return {p.name: p.read_bytes() for p in calibration.folder().glob("*.json")}


def _study_run(study: str, *args: str, extraction: str | None = None, doc: str) -> Callable[..., Path]:
    @pytest.fixture(scope="session")
    def fixture(tmp_path_factory: pytest.TempPathFactory, package_files: Any) -> Path:
        return run_and_extract(tmp_path_factory.mktemp(study), study, *args, extraction=extraction)

    fixture.__doc__ = doc
    return fixture


cycling_iv = _study_run("reram-cycling-iv", "--set", "cycles=2", doc="Two quasi-static cycles of the nominal cell.")
forming = _study_run("reram-forming", "--n", "10", extraction="reram-forming",
                     doc="A small forming study (3 x 10 devices) and its extraction.")
d2d = _study_run("reram-d2d", "--n", "2", "--set", "grid=coarse", "--set", "map_devices=500", "--set", "streams=2",
                 "--set", "arrays=1", "--set", "array_size=2", extraction="reram-d2d",
                 doc="A small joint d2d fit (coarse 4 x 4 read map, 3 x 3 N_states grid with 2 c2c streams, 500 map "
                     "devices, 2 SPICE devices per seed, one held-out array of 2 devices) and its extraction (~20 s).")
program_run = _study_run("reram-program", "--set", "targets=5", "--n", "2", "--seed", "3", extraction="reram-sigma-prog",
                         doc="A small closed-loop study (5 targets x 2 cells x 2 acceptance ranges) and its sigma_prog "
                             "extraction.")
pulse_run = _study_run("reram-pulse-response", "--n", "2", "--seed", "5", extraction="reram-pulse-response",
                       doc="Two d2d devices of the open-loop study and the soft-bounds extraction of their traces.")
ttt = _study_run("reram-ttt", "--set", "replicas=2", extraction="reram-ttt",
                 doc="The TTT study with two coverage replicas, and its extraction.")
relaxation = _study_run("reram-relaxation", "--n", "8", extraction="reram-relaxation",
                        doc="The relaxation replay on 8 devices per level, and the extraction of its anchors.")
kinetic_calibration = _study_run("reram-calibration", "--set", "transport=no", "--set", "pulses=no", "--set", "cycles=1",
                                 "--set", "max_nfev=1", doc="One evaluation of the kinetic fit on one cycle.")
c2c_calibration = _study_run("reram-c2c-calibration", "--set", "open_loop_streams=1", "--set", "targets=2",
                             "--set", "streams=1", "--set", "max_nfev=2",
                             doc="90 grid points and 2 Nelder-Mead steps on 1 open-loop train and 2 targets x 1 stream "
                                 "(~20 s).")
crossbar = _study_run("crossbar-mvm", "--set", "size=16", "--set", "vectors=10", "--set", "check_sizes=4",
                      "--set", "large=32", doc="A 16 x 16 array and a 32 x 32 one, 10 vectors, checked against "
                                               "ngspice on 4 x 4.")
crossbar_presets = _study_run("crossbar-presets", "--set", "vectors=4", "--set", "on_off=3,100", "--set", "adc_bits=4,5",
                              doc="Every device preset on 4 vectors, two on/off ratios and two ADC resolutions.")
snn_nonideal = _study_run("snn-nonideal", "--set", "timesteps=1,2", "--set", "epochs=1", "--set", "hidden=16",
                          "--set", "repeats=1", "--set", "adc_bits=5",
                          doc="Two 16-neuron networks (T = 1, 2), one epoch each, with a 5-bit ADC (~20 s).")
