"""A user's own device, testbench, study and extraction, one file each outside the package, work with
every command through ``--plugin`` and ``SPICEGEN_PLUGINS``; nothing in the package is touched."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spicegen import plugins

ROOT = Path(__file__).resolve().parents[2]

DEVICE = '''
"""A user's device: a linear memristor with a bounded state."""
from spicegen import Check, Device, Equations, Param, Sine, State, Variation, register


@register
class UserMemristor(Device):
    """Linear memristor: conductance g0 + g1*w, state driven by k*v."""

    ports = ("p", "n")
    params = (Param("g0", 1e-5, "S", "off conductance", (0.0, 1.0)),
              Param("g1", 1e-4, "S", "conductance swing", (0.0, 1.0), Variation("d2d", 0.1, "lognormal")),
              Param("k", 2e3, "1/(V s)", "state speed", (0.0, 1e9)))
    states = (State("w", 0.2, (0.0, 1.0), "", "state"),)
    check = Check(dc={"p": (-1.0, 1.0)}, tran={"p": Sine(1.0, 1e3)}, tstop=2e-3)

    def equations(self, s):
        v = s.V("p", "n")
        return Equations(currents={("p", "n"): (s.g0 + s.g1 * s.w) * v}, rates={"w": s.k * v})
'''

TESTBENCH = '''
"""A user's testbench: the user's memristor read at 0.1 V after a 1 V step."""
from spicegen.measure import Final
from spicegen.testbench import Circuit, Testbench, register_testbench


def build(options):
    c = Circuit("user read")
    c.element("V1 a 0 PWL(0 0 1u 1 200u 1 201u 0.1 300u 0.1)")
    c.device("user_memristor", "m1", ("a", "0"))
    c.analysis(".tran 1u 300u")
    return c


register_testbench(Testbench("user-read", "read the user memristor after a write", build,
                             {"w": Final("m1.w"), "i_read": Final("i(v1)")}))
'''

STUDY = '''
"""A user's study: Monte Carlo of the user's testbench, mean read current."""
from spicegen.study import Measure, Study, StudyResult, register_study


@register_study
class UserSpread(Study):
    """Spread of the read current over devices."""

    name = "user-spread"
    measures = {"i_mean": Measure("A", "mean read current"), "i_rel_std": Measure("", "sigma/mean")}
    devices = ("user_memristor",)
    n_default = 4
    n_min = 2

    def run(self, ctx):
        frame = ctx.monte_carlo("user-read", ctx.n)
        i = -frame["i_read"].to_numpy(float)
        return StudyResult({"i_mean": float(i.mean()), "i_rel_std": float(i.std(ddof=1) / i.mean())})
'''

EXTRACTION = '''
"""A user's extraction: a straight line through read current vs drawn g1."""
from pathlib import Path

from spicegen.montecarlo import load_dataframe
from spicegen.study import Extraction, register_extraction

from fitting.extract import extract


@register_extraction
class UserLine(Extraction):
    """Read current as a line in the drawn g1."""

    name = "user-line"
    source = "user-spread"
    statistic = "mean"
    form = "polynomial:1"

    def fit(self, run, out):
        frame = load_dataframe(run.folder / "user-read")
        frame["i"] = -frame["i_read"]
        surrogate = extract(frame, "m1__g1", "i", "polynomial:1", name="user_line", study=run.citation()).surrogate
        return [surrogate.save(Path(out) / "user_line.json")]
'''


def _write(folder: Path) -> dict[str, Path]:
    files = {"device": DEVICE, "testbench": TESTBENCH, "study": STUDY, "extraction": EXTRACTION}
    paths = {}
    for role, text in files.items():
        paths[role] = folder / f"user_{role}.py"
        paths[role].write_text(textwrap.dedent(text))
    return paths


def _package_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True).stdout


def _spicegen(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "spicegen.cli", *args], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, f"spicegen {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    """The user's files, and a folder where every command ran on them."""
    folder = tmp_path_factory.mktemp("user")
    before = _package_state()
    paths = _write(folder)
    flags = [a for role in ("device", "testbench", "study", "extraction") for a in ("--plugin", str(paths[role]))]
    work = folder / "work"
    work.mkdir()
    outputs = {
        "list": _spicegen([*flags, "list"], work).stdout,
        "check": _spicegen([*flags, "check", "user_memristor", "--points", "4"], work).stdout,
        "sim": _spicegen([*flags, "sim", "user-read", "--json"], work).stdout,
        # worker processes find the user's files through SPICEGEN_PLUGINS (set by --plugin for them)
        "mc": _spicegen([*flags, "mc", "user-read", "--n", "4", "--seed", "3", "--out", "mc", "--workers", "2",
                         "--no-progress"], work).stdout,
        "study": _spicegen([*flags, "study", "run", "user-spread", "--out", "spread", "--no-progress"], work).stdout,
        "extract": _spicegen([*flags, "extract", "user-line", "--from", "spread", "--out", "ex"], work).stdout,
    }
    return {"paths": paths, "flags": flags, "work": work, "outputs": outputs, "before": before}


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_user_files_work_with_every_command(user_run):
    out, work = user_run["outputs"], user_run["work"]
    assert all(name in out["list"] for name in ("user_memristor", "user-read", "user-spread", "user-line"))
    assert "1 passed, 0 failed" in out["check"]
    sim = json.loads(out["sim"])
    assert 0.2 < sim["w"] <= 1.0 and sim["i_read"] < 0
    assert "4 samples computed (0 failed)" in out["mc"]
    result = json.loads((work / "spread" / "result.json").read_text())
    assert 0.0 < result["measurements"]["i_rel_std"] < 0.5
    surrogate = json.loads((work / "ex" / "user-line" / "user_line.json").read_text())
    assert surrogate["provenance"]["study"]["key"] == result["key"]
    env = {plugins.ENV: os.pathsep.join(str(p) for p in user_run["paths"].values())}
    assert "user-spread" in _spicegen(["study", "list"], work, env).stdout
    assert _package_state() == user_run["before"]


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_provenance_names_the_run_and_reruns_it_identically(user_run):
    from spicegen.montecarlo import load_dataframe

    flags, work = user_run["flags"], user_run["work"]
    surrogate = work / "ex" / "user-line" / "user_line.json"
    citation = json.loads(surrogate.read_text())["provenance"]["study"]
    assert citation["commit"] is None or len(citation["commit"]) >= 40
    assert citation["definition"]["variations"]["user_memristor.g1"]["variation"]["sigma"] == 0.1
    shown = _spicegen([*flags, "provenance", str(surrogate), "--study", "spread"], work).stdout
    assert "matches the recorded key" in shown and "the cited run" in shown
    assert f"(the same definition: spicegen study run --from-provenance {surrogate} re-runs it)" in shown

    _spicegen([*flags, "study", "run", "--from-provenance", str(surrogate), "--out", "again", "--no-progress"], work)
    first, again = load_dataframe(work / "spread" / "user-read"), load_dataframe(work / "again" / "user-read")
    assert first.equals(again)

    citation["definition"]["seed"] = 99  # a tampered definition no longer matches its hash
    tampered = work / "tampered.json"
    tampered.write_text(json.dumps({"provenance": {"study": citation}}))
    out = subprocess.run([sys.executable, "-m", "spicegen.cli", *flags, "provenance", str(tampered)], cwd=work,
                         capture_output=True, text=True)
    assert out.returncode == 1 and "DOES NOT MATCH" in out.stdout


def test_a_missing_plugin_file_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "spicegen.cli", "--plugin", str(tmp_path / "nope.py"), "list"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "is not a .py file" in out.stderr


def test_a_plugin_named_like_an_imported_module_is_refused(tmp_path):
    clash = tmp_path / "json.py"
    clash.write_text("X = 1\n")
    with pytest.raises(ImportError, match="rename the file"):
        plugins.load_file(clash)


def test_study_keys_follow_a_device_s_equations(tmp_path):
    # an edited device must be checked and studied again, not answered from runs of its earlier equations
    path = tmp_path / "user_device.py"
    probe = ("from spicegen import plugins; plugins.load_file(%r); "
             "from testbenches.core.studies import LibraryCheck; from spicegen.study import variations; "
             "check = LibraryCheck().depends_on()['devices']['user_memristor']; "
             "assert variations(['user_memristor'])['user_memristor#source'] == check; "  # every study using it
             "print(check)") % str(path)

    def digest() -> str:
        out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    path.write_text(textwrap.dedent(DEVICE))
    first = digest()
    assert digest() == first  # the same file: the same key
    path.write_text(textwrap.dedent(DEVICE).replace("rates={\"w\": s.k * v}", "rates={\"w\": s.k * v * v}"))
    assert digest() != first
