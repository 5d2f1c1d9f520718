"""The study and extraction objects: typed options, refusals that name the fix, resumable runs, shipping."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spicegen import study as st
from spicegen.cli import main
from spicegen.study import FAMILY_ORDER, Extraction, Measure, Setting, Study, StudyResult

ROOT = Path(__file__).resolve().parents[2]


class Draws(Study):
    """Sum of squares of n draws, in two resumable steps; fails on purpose when asked."""

    name = "test-draws"
    options = (Setting("scale", 1.0, "draw scale", unit="V", bounds=(0.0, 10.0)),
               Setting("fail_after_first", False, "raise after the first step"),
               Setting("reading", "1sigma", "how to read the spread", choices=("1sigma", "3sigma")))
    measures = {"total": Measure("V^2", "sum of squares", spec=(0.0, None)), "missing": Measure("", "never measured")}
    n_default = 8
    n_min = 3
    calls: list[str] = []

    def run(self, ctx):
        first = ctx.step("first", lambda: self._part(ctx, "first"))
        if ctx.options["fail_after_first"]:
            raise RuntimeError("killed after the first step")
        second = ctx.step("second", lambda: self._part(ctx, "second"))
        return StudyResult({"total": first + second, "missing": math.nan}, data={"first": first})

    def _part(self, ctx, stream):
        self.calls.append(stream)
        z = ctx.rng(stream).standard_normal(ctx.n) * ctx.options["scale"]
        return float((z ** 2).sum())


DRAWS = Draws()


def test_settings_convert_text_and_refuse_bad_values_naming_the_fix():
    s = DRAWS.option("scale")
    assert s.check("2.5") == 2.5
    with pytest.raises(ValueError, match=r"lies outside \[0.0, 10.0\] V"):
        s.check("11")
    with pytest.raises(ValueError, match="needs a number, got 'x'"):
        s.check("x")
    with pytest.raises(ValueError, match="is not one of 1sigma, 3sigma"):
        DRAWS.option("reading").check("2sigma")
    assert DRAWS.option("fail_after_first").check("yes") is True
    assert Setting("count", 4, bounds=(1, 9)).check("3") == 3
    with pytest.raises(ValueError, match="whole number"):
        Setting("count", 4, bounds=(1, 9)).check("3.5")
    with pytest.raises(KeyError, match="options: scale, fail_after_first, reading"):
        DRAWS.option("nope")


def test_too_small_n_is_refused_naming_the_minimum(tmp_path):
    with pytest.raises(ValueError, match="needs n >= 3 samples, got 2"):
        st.run(DRAWS, tmp_path / "a", n=2, progress=False)
    assert not (tmp_path / "a").exists()


def test_a_run_records_its_definition_and_is_not_recomputed(tmp_path):
    Draws.calls.clear()
    run = st.run(DRAWS, tmp_path / "r", settings={"scale": "2"}, seed=5, progress=False)
    assert run.finished and run.definition["options"]["scale"] == 2.0 and run.definition["seed"] == 5
    assert run.key == st.definition_key(run.definition)
    assert math.isnan(run.measurements["missing"]) and run.measurements["total"] > 0
    head = json.loads((tmp_path / "r" / "study.json").read_text())
    assert head["provenance"]["version"] and "commit" in head["provenance"]
    again = st.run(DRAWS, tmp_path / "r", settings={"scale": 2}, seed=5, progress=False)
    assert again.measurements == run.measurements and Draws.calls == ["first", "second"]


def test_named_streams_are_independent_of_each_other_and_of_n(tmp_path):
    ctx = st.StudyContext(DRAWS, {}, 7, 4, tmp_path)
    a, b = ctx.rng("a").standard_normal(3), ctx.rng("b").standard_normal(3)
    assert not np.allclose(a, b)
    assert np.array_equal(a, st.StudyContext(DRAWS, {}, 7, 100, tmp_path).rng("a").standard_normal(3))
    devices = ctx.sample_devices("sinh_memristor", 5)
    assert devices[:3] == ctx.sample_devices("sinh_memristor", 3)
    i0 = np.array([d["i0"] for d in ctx.sample_devices("sinh_memristor", 400)])
    assert abs(i0.std() / i0.mean() - 0.1) < 0.02 and len(set(d["a"] for d in devices)) == 1


def test_a_killed_run_keeps_its_finished_steps(tmp_path):
    Draws.calls.clear()
    with pytest.raises(RuntimeError):
        st.run(DRAWS, tmp_path / "k", settings={"fail_after_first": True}, progress=False)
    assert Draws.calls == ["first"] and not (tmp_path / "k" / "result.json").exists()
    # the same definition resumes from the stored step
    with pytest.raises(RuntimeError):
        st.run(DRAWS, tmp_path / "k", settings={"fail_after_first": True}, progress=False)
    assert Draws.calls == ["first"]


def square_in_process(value: int) -> dict[str, int]:
    """A step computed in whichever process runs it."""
    return {"square": value * value, "pid": os.getpid()}


def fail_once_stored(folder: str, step: str) -> None:
    """A step that fails, but only after ``step`` of the same run is stored (no race with it)."""
    deadline = time.monotonic() + 120
    while not (Path(folder) / "steps" / f"{step}.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.02)
    raise RuntimeError("a step failed on purpose")


class Squares(Study):
    """Independent steps through ``ctx.steps``; one more that fails while ``broken`` is set."""

    name = "test-squares"
    measures = {"total": Measure("", "sum of the squares")}
    broken = False

    def run(self, ctx):
        calls = {f"square_{k}": (square_in_process, {"value": k}) for k in range(4)}
        if self.broken:
            calls["broken"] = (fail_once_stored, {"folder": str(ctx.out), "step": "square_2"})
        done = ctx.steps(calls, desc="squares")
        return StudyResult({"total": float(sum(v["square"] for v in done.values()))},
                           data={"pids": {k: v["pid"] for k, v in done.items()}})


def test_independent_steps_run_on_the_workers_with_the_same_values(tmp_path):
    alone = st.run(Squares(), tmp_path / "one", progress=False)
    pooled = st.run(Squares(), tmp_path / "two", workers=2, progress=False)
    assert alone.measurements == pooled.measurements == {"total": 14.0}
    assert set(alone.result["data"]["pids"].values()) == {os.getpid()}
    assert os.getpid() not in pooled.result["data"]["pids"].values()


def test_a_step_a_worker_cannot_import_is_refused_by_name(tmp_path):
    class Nested(Squares):
        def run(self, ctx):
            return ctx.steps({"a": (lambda: 1, {}), "b": (lambda: 2, {})})

    with pytest.raises(ValueError, match=r"step 'a': .*<lambda>' cannot run in a worker process; define it at module"):
        st.run(Nested(), tmp_path / "n", workers=2, progress=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_step_keeps_the_finished_ones_and_a_rerun_resumes(tmp_path, workers):
    study = Squares()
    study.broken = True
    with pytest.raises(RuntimeError, match="failed on purpose"):
        st.run(study, tmp_path / "r", workers=workers, progress=False)
    step = tmp_path / "r" / "steps" / "square_2.json"
    stored, inode = json.loads(step.read_text())["value"], step.stat().st_ino
    assert not (tmp_path / "r" / "result.json").exists()
    study.broken = False
    run = st.run(study, tmp_path / "r", workers=workers, progress=False)
    assert run.measurements == {"total": 14.0} and run.result["data"]["pids"]["square_2"] == stored["pid"]
    assert step.stat().st_ino == inode  # read back, not computed and written again


def test_a_folder_of_another_definition_or_of_other_files_is_refused_untouched(tmp_path):
    st.run(DRAWS, tmp_path / "r", seed=1, progress=False)
    before = (tmp_path / "r" / "result.json").read_bytes()
    with pytest.raises(ValueError, match="differs in seed"):
        st.run(DRAWS, tmp_path / "r", seed=2, progress=False)
    assert (tmp_path / "r" / "result.json").read_bytes() == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not a study folder"):
        st.run(DRAWS, tmp_path / "other", progress=False)
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]


def test_module_digest_follows_the_source_text_and_refuses_unknown_modules(tmp_path, monkeypatch):
    package = tmp_path / "digest_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bench.py").write_text("WIRING = 'out'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = st.module_digest("digest_pkg.bench")
    assert st.module_digest("digest_pkg.bench") == before and len(before) == 16
    (package / "bench.py").write_text("WIRING = 'supply'\n")
    assert st.module_digest("digest_pkg.bench") != before
    for name in ("digest_pkg.missing", "no_such_package.bench"):
        with pytest.raises(ValueError, match=f"module '{name}' has no source file"):
            st.module_digest(name)


def test_written_files_are_readable_by_all(tmp_path):
    st.run(DRAWS, tmp_path / "r", progress=False)
    for name in ("study.json", "result.json", "steps/first.json"):
        assert (tmp_path / "r" / name).stat().st_mode & 0o777 == 0o644


class Tally(Extraction):
    """Writes the total of a draws run."""

    name = "test-tally"
    source = "test-draws"

    def __init__(self, shipped_dir: Path | None = None, files: tuple[str, ...] = ("total.json", "note.txt")) -> None:
        self.shipped_dir, self.files = shipped_dir, files

    def shipped(self) -> Path:
        return self.shipped_dir

    def fit(self, run, out):
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in self.files:
            (out / name).write_text(json.dumps({"total": run.measurements["total"], "study": run.citation()}))
            written.append(out / name)
        return written


def test_an_extraction_needs_a_finished_run_of_its_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs a finished run of study 'test-draws'.*spicegen study run test-draws"):
        st.extract(Tally(), tmp_path / "none", tmp_path / "out")
    with pytest.raises(RuntimeError):
        st.run(DRAWS, tmp_path / "half", settings={"fail_after_first": True}, progress=False)
    with pytest.raises(FileNotFoundError, match="holds an unfinished run"):
        st.extract(Tally(), tmp_path / "half", tmp_path / "out")
    run = st.run(DRAWS, tmp_path / "r", progress=False)
    files = st.extract(Tally(), tmp_path / "r", tmp_path / "out")
    assert json.loads(files[0].read_text())["study"]["key"] == run.key


def test_shipping_never_replaces_artefacts_with_less(tmp_path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("total.json", "note.txt", "figure.png"):
        (shipped / name).write_text("old")
    st.run(DRAWS, tmp_path / "r", progress=False)
    st.extract(Tally(shipped), tmp_path / "r", tmp_path / "build")
    with pytest.raises(ValueError, match=r"lacks shipped files \['figure.png'\]"):
        st.ship(Tally(shipped), tmp_path / "build")
    assert all((shipped / n).read_text() == "old" for n in ("total.json", "note.txt", "figure.png"))
    (tmp_path / "build" / "figure.png").write_text("new figure")
    st.ship(Tally(shipped), tmp_path / "build")
    assert (shipped / "figure.png").read_text() == "new figure" and "total" in (shipped / "total.json").read_text()


def test_shipped_artefacts_say_whether_they_come_from_todays_definition(tmp_path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    assert st.shipped_currency(Tally(shipped)) == "nothing shipped"
    citation = st.run(st.get_study("mc-demo"), tmp_path / "r", n=4, progress=False).citation()
    (shipped / "surrogate.json").write_text(json.dumps({"provenance": {"study": citation}}))
    (shipped / "table.json").write_text(json.dumps([1, 2]))  # JSON without a citation is skipped
    assert st.shipped_currency(Tally(shipped)) == "current"
    older = {**citation, "definition": {**citation["definition"], "code": "0" * 16}}
    (shipped / "older.json").write_text(json.dumps({"provenance": {"study": older}}))
    assert st.shipped_currency(Tally(shipped)) == "older definition (code)"
    gone = {**citation, "definition": {**citation["definition"], "study": "no-such-study"}}
    (shipped / "gone.json").write_text(json.dumps({"provenance": {"study": gone}}))
    assert st.shipped_currency(Tally(shipped)) == "older definition (code, study or options)"


def test_extract_all_without_study_data_fails_naming_each_missing_study_and_changes_nothing(tmp_path):
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    out = subprocess.run([sys.executable, "-m", "spicegen.cli", "extract", "--all", "--ship", "--studies",
                          str(tmp_path / "empty"), "--out", str(tmp_path / "ex")], cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    for name, extraction in st.extractions().items():
        assert f"{name}: extraction {name!r} needs a finished run of study {extraction.source!r}" in out.stderr
    assert "shipped artefacts unchanged" in out.stderr
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before


def test_describe_lists_options_measurements_and_defaults(capsys):
    assert main(["study", "describe", "mc-demo"]) == 0
    text = capsys.readouterr().out
    assert "corner = 'tt'  (tt|ff|ss|fs|sf)" in text and "--n: samples (default 500, at least 2)" in text
    assert "w_final_yield" in text and "spec [0.9, inf]" in text and "--seed: default 2026" in text


def test_a_citation_says_what_changed_since_its_run(tmp_path):
    run = st.run(st.get_study("mc-demo"), tmp_path / "run", n=4, progress=False)
    citation = run.citation()
    assert st.changes_since(citation) == (citation["key"], [])
    edited = {**citation, "definition": {**citation["definition"], "code": "0" * 16}}
    assert st.changes_since(edited) == (citation["key"], ["code"])
    with pytest.raises(ValueError, match="cannot be re-run as cited: its definition today differs in code"):
        st.rerun(edited, tmp_path / "again")


def test_the_study_name_may_follow_the_options(tmp_path, capsys):
    """``study run --seed 3 --out DIR NAME`` is the same command as with the name first; a stray word is
    still refused."""
    assert main(["study", "describe", "--no-progress", "mc-demo"]) == 0
    assert "corner = 'tt'" in capsys.readouterr().out
    first = ["study", "run", "mc-demo", "--n", "4", "--seed", "3", "--set", "corner=ff", "--out", str(tmp_path / "a")]
    last = ["study", "run", "--n", "4", "--seed", "3", "--set", "corner=ff", "--out", str(tmp_path / "b"), "mc-demo"]
    assert main(first) == 0 and main(last) == 0
    study = [json.loads((tmp_path / d / "study.json").read_text()) for d in "ab"]
    assert study[0]["key"] == study[1]["key"] and study[0]["definition"]["options"]["corner"] == "ff"
    capsys.readouterr()
    assert main(["study", "describe", "mc-demo", "stray"]) == 2
    assert "unrecognized arguments: stray" in capsys.readouterr().err
    assert main(["--stray", "study", "describe", "mc-demo"]) == 2
    assert "unrecognized arguments: --stray" in capsys.readouterr().err


def test_unknown_study_lists_the_known_ones(capsys):
    assert main(["study", "run", "no-such-study"]) == 2
    assert "unknown study 'no-such-study'; known: " in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(st.studies()))
def test_every_study_describes_itself_completely(name, capsys):
    """Options and measurements a user reads in 'spicegen study describe': each documented, each default
    valid, a sample count above its minimum; registering the library imports no optional extra (torch)."""
    study = st.get_study(name)
    assert study.doc and study.family in FAMILY_ORDER, name
    for option in study.options:
        assert option.desc, f"{name}: option {option.name!r} has no description"
        assert option.check(option.default) == option.default or option.choices
    assert study.measures and all(m.desc for m in study.measures.values()), name
    assert study.n_default is None or study.n_default >= study.n_min >= 1
    if study.code:  # the code its definition holds exists, and the key changes with it
        assert st.make_definition(study, {}, 1, None)["code"] == st.module_digest(*study.code)
    assert main(["study", "describe", name]) == 0
    assert f"{name} [{study.family}]" in capsys.readouterr().out


def test_registering_every_study_does_not_import_torch():
    code = "import sys; from spicegen.study import studies, extractions; studies(); extractions(); " \
           "assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
