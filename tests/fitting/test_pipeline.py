"""``spicegen run``: every stage at smoke scale with the real simulators, the report in a real headless
Chromium, numbers recomputed from the study stores, SIGKILL at three moments and resume."""
from __future__ import annotations

import html
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli import spicegen
from fitting.html_report import (FAMILIES, _comparison_table, _fmt, _measurement_table, _missed, _took, _within,
                                  guide_of)
from fitting.pipeline import RESULTS_FILE, STAGES, select, summary
from spicegen.montecarlo import load_dataframe
from spicegen.study import FAMILY_ORDER, get_study
from stores import rows

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf, pytest.mark.vacask]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """The whole pipeline at smoke scale, run once for the module."""
    out = tmp_path_factory.mktemp("pipeline") / "results"
    done = spicegen("run", "--scale", "smoke", "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def results(out: Path) -> dict:
    return json.loads((out / RESULTS_FILE).read_text())


def stage(out: Path, name: str) -> dict:
    return next(s for s in results(out)["stages"] if s["name"] == name)


def test_every_stage_runs_and_reports(smoke):
    found = results(smoke)
    smoke_stages = [s.name for s in select(None, "smoke")]
    assert [s["name"] for s in found["stages"]] == smoke_stages
    assert set(smoke_stages) == {s.name for s in STAGES if "smoke" in s.sizes} and len(smoke_stages) >= 26
    assert found["scale"] == "smoke" and found["provenance"]["ngspice"].startswith("ngspice-")
    for entry in found["stages"]:
        if entry["kind"] == "study":
            assert entry["measurements"] and entry["key"], entry["name"]
            for name, m in entry["measurements"].items():  # every pass range judged, as the paper rows are
                spec = get_study(entry["study"]).measures[name].spec
                assert m["goal"] == (None if spec is None else list(spec)), (entry["name"], name)
                if spec is None or m["value"] is None:
                    assert m["met"] is None, (entry["name"], name)
                else:
                    assert m["met"] is ((spec[0] is None or m["value"] >= spec[0])
                                        and (spec[1] is None or m["value"] <= spec[1])), (entry["name"], name)
            for c in entry["comparisons"]:
                assert c["role"] in ("calibration", "held out") and c["paper"] is not None, (entry["name"], c)
                if c["goal"] is None or c["ours"] is None:
                    assert c["met"] is None, (entry["name"], c)
                else:
                    lower, upper = c["goal"]
                    inside = (lower is None or c["ours"] >= lower) and (upper is None or c["ours"] <= upper)
                    assert c["met"] is inside, (entry["name"], c)
        else:
            assert entry["surrogates"], entry["name"]
            for s in entry["surrogates"]:
                for suffix in (".py", "_torch.py", ".onnx"):
                    assert (smoke / entry["folder"] / "export" / f"{s}{suffix}").stat().st_size > 0
    library = stage(smoke, "library-check")["measurements"]
    assert library["passed"]["value"] == library["devices"]["value"] >= 6
    assert library["tran_twin_osdi"]["value"] < 1e-6
    timings = json.loads((smoke / "timings.json").read_text())
    assert set(timings["stages"]) == set(smoke_stages)


def test_each_stage_names_the_command_that_runs_it_again(smoke):
    """A study stage's command gives a run of the same definition key (the options that differ from the study's
    defaults, its seed and n); an extraction's reads the folder its source study's command writes."""
    import argparse
    import shlex

    from spicegen.study import planned_key

    commands = {}
    for entry in results(smoke)["stages"]:
        words = shlex.split(entry["command"])
        commands[entry["name"]] = words
        if entry["kind"] == "extraction":
            assert words[:3] == ["spicegen", "extract", entry["extraction"]], entry["name"]
            source = words[words.index("--from") + 1]
            assert commands[entry["source"]][-1] == source, entry["name"]
            continue
        assert words[:4] == ["spicegen", "study", "run", entry["study"]], entry["name"]
        parser = argparse.ArgumentParser()
        for flag in ("--seed", "--n"):
            parser.add_argument(flag, type=int)
        parser.add_argument("--set", action="append", default=[])
        parser.add_argument("--out")
        args = parser.parse_args(words[4:])
        settings = dict(item.split("=", 1) for item in args.set)
        assert planned_key(entry["study"], settings, args.seed, args.n) == entry["key"], entry["name"]
    assert "command</th>" in (smoke / "report.html").read_text()


def test_report_numbers_are_those_of_the_study_stores(smoke):
    """Recompute a sample of the reported numbers from the SQLite stores, and find them in the report."""
    page = html.unescape((smoke / "report.html").read_text())
    demo = load_dataframe(smoke / "mc-demo" / "mc-demo")
    ok = demo[demo.status == "ok"]
    measured = stage(smoke, "mc-demo")["measurements"]
    assert measured["w_final_mean"]["value"] == pytest.approx(ok.w_final.mean(), rel=1e-12)
    assert measured["w_final_std"]["value"] == pytest.approx(ok.w_final.std(), rel=1e-12)
    assert measured["w_final_yield"]["value"] == pytest.approx(np.mean(ok.w_final >= 0.4), rel=1e-12)
    assert measured["failed"]["value"] == len(demo) - len(ok)
    f1 = stage(smoke, "p2m-f1")["measurements"]
    store = load_dataframe(smoke / "p2m-f1" / "f1_cmos")
    assert f1["failed_cmos"]["value"] == np.count_nonzero(store.status != "ok")
    for name in ("w_final_mean", "w_final_std"):
        assert f">{_fmt(measured[name]['value'], measured[name]['unit'])}<" in page, name
    for entry in (s for s in results(smoke)["stages"] if s["kind"] == "extraction"):
        for name, surrogate in entry["surrogates"].items():
            stored = json.loads((smoke / surrogate["file"]).read_text())
            assert surrogate["stats"] == stored["stats"] and surrogate["domain"] == stored["domain"]


HARNESS = """<script>window.__errors=[];
window.addEventListener('error',function(e){window.__errors.push(String(e.message||(e.target&&e.target.src)||e));},true);
window.addEventListener('load',function(){var imgs=[].slice.call(document.images);
var broken=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);}).map(function(i){return i.alt;});
var pre=document.createElement('pre');pre.id='spicegen-check';
pre.textContent=JSON.stringify({images:imgs.length,broken:broken,errors:window.__errors});
document.body.appendChild(pre);});</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.chromium
def test_report_renders_in_headless_chromium(smoke, tmp_path):
    page = (smoke / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # self-contained: nothing fetched
    images = re.findall(r"<img [^>]*src=\"([^\"]+)\"", page)
    assert len(images) >= 30 and all(src.startswith("data:image/png;base64,") for src in images)
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("<head>", "<head>" + HARNESS, 1))
    dom = chromium("--virtual-time-budget=20000", "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="spicegen-check">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stderr[-2000:]
    check = json.loads(html.unescape(found.group(1)))
    assert check == {"images": len(images), "broken": [], "errors": []}

    shot = tmp_path / "report.png"
    chromium("--window-size=1400,2400", f"--screenshot={shot}", (smoke / "report.html").as_uri())
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1400)
    assert pixels[..., :3].std() > 0.05  # not a blank page: header, tables and figures


def test_the_report_judges_each_paper_number_by_its_goal():
    rows = [{"measure": "a", "desc": "a", "unit": "s", "paper": 2.0, "ours": 2.5, "deviation": 0.25,
             "role": "held out", "goal": [1.6, 2.4], "met": False},
            {"measure": "b", "desc": "b", "unit": "s", "paper": 2.0, "ours": 3.0, "deviation": 0.5,
             "role": "held out", "goal": [2.0, None], "met": True},
            {"measure": "c", "desc": "c", "unit": "", "paper": 1.0, "ours": 1.2, "deviation": 0.2,
             "role": "calibration", "goal": None, "met": None}]
    assert _within(rows) == ("calibration: of 1 without a stated goal 0 within 15 %, 1 within 30 %; "
                             "held out: 1 of 2 within their goal")
    table = _comparison_table([{"name": "demo", "comparisons": rows}])
    assert '1.6 s … 2.4 s <span class="bad">missed</span>' in table and "≥ 2 s" in table
    assert '<span class="bad">+25.0 %</span>' in table  # a miss of its goal, though within 30 %


def test_the_report_judges_each_measurement_by_its_pass_range():
    stage = {"measurements": {
        "outside": {"value": 2.0, "unit": "", "desc": "targets outside", "goal": [0.0, 0.0], "met": False},
        "r2": {"value": 0.96, "unit": "", "desc": "R^2", "goal": [0.9, None], "met": True},
        "slope": {"value": 0.012, "unit": "", "desc": "slope", "goal": None, "met": None}}}
    table = _measurement_table(stage)
    assert "<th>pass range</th>" in table and '= 0 <span class="bad">missed</span>' in table
    assert '≥ 0.9 <span class="ok">met</span>' in table and "<td>—</td>" in table
    overview = _missed({"scale": "quick", "stages": [{"name": "demo", "study": "crossbar-mvm", "family": "reram",
                                                      **stage}]})
    assert overview.startswith("<p>1 of 2 measurements with a pass range lie inside it; missed:")
    assert '<a href="#stage-demo">demo</a>' in overview and "<code>outside</code>" in overview
    assert "<code>r2</code>" not in overview and _missed({"scale": "quick", "stages": []}) == ""
    assert "<code>docs/reram_crossbar.md</code>" in overview and "the measured reason" in overview
    smoke_overview = _missed({"scale": "smoke", "stages": [{"name": "demo", "family": "lif", **stage}]})
    assert "says nothing about the models" in smoke_overview and "<code>docs/lif_neuron.md</code>" in smoke_overview


def test_the_report_shows_the_families_in_the_package_order():
    assert tuple(FAMILIES) == FAMILY_ORDER


def test_every_stage_names_a_guide_that_documents_its_study():
    """The report sends a reader from a miss to a guide: that page must show how to run the stage's study."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    for stage in STAGES:
        study = stage.study or stage.source
        page = guide_of({"name": stage.name, "study": study, "family": stage.family})
        text = (docs / page).read_text(encoding="utf-8")
        assert study in text, f"{page}, the guide the report names for stage {stage.name}, never mentions {study}"


def test_report_header_says_when_the_last_run_read_most_stages_back():
    whole = {"stages": {"a": 300.0, "b": 300.0, "c": None}, "pipeline_seconds": 606.0}
    assert _took(whole) == ", 10.0 min of computation"
    resumed = {"stages": {"a": 300.0, "b": 300.0}, "pipeline_seconds": 66.0}
    assert _took(resumed) == (", 10.0 min of computation (1.1 min in the last run, which read the other stages "
                              "back from earlier runs)")
    assert _took({}) == ""


def test_unknown_stage_or_scale_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown stage.*p2m-f3.*stages: library-check"):
        select(["p2m-f3"])
    with pytest.raises(ValueError, match="unknown scale 'huge'; choose one of smoke, quick, paper"):
        select(None, "huge")
    assert [s.name for s in select(["p2m-f2-surrogates"])] == ["p2m-f2", "p2m-f2-surrogates"]
    done = spicegen("run", "--only", "nope", "--out", str(tmp_path / "x"))
    assert done.returncode != 0 and "unknown stage(s) nope" in done.stderr and "Traceback" not in done.stderr


def test_each_stage_says_when_it_starts_and_how_long_it_took(tmp_path):
    done = spicegen("run", "--scale", "smoke", "--only", "p2m-f2-surrogates", "--out", str(tmp_path / "x"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[1/2] p2m-f2: " in done.stderr and "[2/2] p2m-f2-surrogates: " in done.stderr
    finished = re.findall(r"^\[(\d)/2\] (\S+) finished in \d+ s \(\d+:\d\d since the start\)$", done.stderr, re.M)
    assert finished == [("1", "p2m-f2"), ("2", "p2m-f2-surrogates")]
    out = tmp_path / "x"
    judged = sum(m.get("met") is not None for s in results(out)["stages"]
                 for m in s.get("measurements", {}).values())
    assert done.stdout.splitlines()[-3:-1] == [f"report: {out / 'report.html'}", f"results: {out / 'results.json'}"]
    assert re.fullmatch(rf"\d+ of {judged} measurements with a pass range lie inside it(; missed: \S+.*)?",
                        done.stdout.splitlines()[-1])
    quiet = spicegen("run", "--scale", "smoke", "--only", "p2m-f2-surrogates", "--out", str(out), "--no-progress")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == done.stdout


def test_the_closing_summary_names_each_missed_measurement():
    stage = {"name": "demo", "measurements": {"r2": {"value": 0.5, "goal": [0.9, None], "met": False},
                                             "n": {"value": 3.0, "goal": [1.0, 4.0], "met": True},
                                             "slope": {"value": 0.01, "goal": None, "met": None}}}
    lines = summary({"stages": [stage]}, Path("out")).splitlines()
    assert lines == [f"report: {Path('out') / 'report.html'}", f"results: {Path('out') / 'results.json'}",
                     "1 of 2 measurements with a pass range lie inside it; missed: demo/r2"]
    smoke = summary({"scale": "smoke", "stages": [stage]}, Path("out")).splitlines()
    assert smoke[:3] == lines and "too few samples" in smoke[3]


# ---------------------------------------------------------------- SIGKILL and resume

KILLED = ("--scale", "quick", "--only", "mc-demo", "p2m-f2-surrogates", "reram-relaxation", "--no-progress")


def kill_when(proc: subprocess.Popen, ready, deadline: float = 300) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` is true."""
    give_up = time.monotonic() + deadline
    while not ready():
        assert proc.poll() is None, f"the run ended before the moment came\n{proc.stderr.read()[-3000:]}"
        assert time.monotonic() < give_up
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_at_three_moments_then_resume_gives_the_uninterrupted_results(tmp_path):
    reference = tmp_path / "reference"
    done = spicegen("run", *KILLED, "--out", str(reference))
    assert done.returncode == 0, done.stderr[-3000:]

    out = tmp_path / "killed"
    command = [sys.executable, "-m", "spicegen.cli", "run", *KILLED, "--out", str(out)]
    demo = out / "mc-demo" / "mc-demo"
    moments = (lambda: len(rows(demo)) >= 40,                      # inside the first Monte Carlo
               lambda: len(rows(demo)) >= 120,                     # inside it again, after a resume
               lambda: (out / "p2m-f2" / "study.json").is_file())    # the next stage has begun
    kept: dict = {}
    for moment in moments:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        kill_when(proc, moment)
        now = rows(demo)
        assert {k: now[k] for k in kept} == kept  # what was stored stays stored, untouched
        kept = now
    finished = (out / "mc-demo" / "result.json").stat().st_mtime_ns
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "mc-demo" / "result.json").stat().st_mtime_ns == finished  # a finished stage is not re-run
    final = rows(demo)
    assert {k: final[k] for k in kept} == kept and all(attempts == 1 for *_, attempts in final.values())
    assert without_commit(out) == without_commit(reference)


def without_commit(out: Path) -> dict:
    """results.json less the git commit (other work may commit while the test runs)."""
    found = results(out)
    found["provenance"].pop("commit")
    return found


def test_a_folder_of_another_scale_is_refused_untouched_or_set_aside_on_request(tmp_path):
    out = tmp_path / "r"
    assert spicegen("run", "--scale", "smoke", "--only", "reram-relaxation", "--out", str(out),
                    "--no-progress").returncode == 0
    before = (out / "reram-relaxation" / "result.json").read_bytes()
    done = spicegen("run", "--scale", "quick", "--only", "reram-relaxation", "--out", str(out), "--no-progress")
    assert done.returncode != 0 and "another definition" in done.stderr and "new --out folder" in done.stderr
    assert "add --rerun-outdated" in done.stderr
    assert (out / "reram-relaxation" / "result.json").read_bytes() == before
    done = spicegen("run", "--scale", "quick", "--only", "reram-relaxation", "--out", str(out), "--no-progress",
                    "--rerun-outdated")
    assert done.returncode == 0, done.stderr[-3000:]
    kept = [p for p in out.iterdir() if p.name.startswith("reram-relaxation.outdated-")]
    assert len(kept) == 1 and (kept[0] / "result.json").read_bytes() == before  # the smoke run, moved aside
    assert json.loads((out / "reram-relaxation" / "result.json").read_text())["key"] != json.loads(before)["key"]
    shutil.rmtree(out)
