"""Every artefact is written atomically with the umask's mode, and every user mistake is one line, no traceback.

Atomic: the content goes to a temporary file beside the target, is flushed and renamed over it, so
a full disk, a failing serializer or a folder that cannot be written leaves the previous file as it
was. The command line answers each mistake (a folder where a file belongs, a path it may not
write, an unreachable scheduler, a bad number, Ctrl-C) with one line naming the value and the fix.
"""
from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitting.surrogate import Surrogate
from spicegen.cli import main
from spicegen.figures import pyplot, save_figure
from spicegen.files import write_bytes, write_json, write_stream, write_text
from tests.cli import spicegen

READ_ONLY = Path("/sys/spicegen-test.va")  # sysfs refuses new files, even to root (chmod would not)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


# ----------------------------------------------------------------------------- atomic writes

def test_a_serializer_failing_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "table.csv", "old\n")

    def half_then_fail(handle):
        handle.write(b"x" * 100_000)
        raise RuntimeError("serializer failed")

    with pytest.raises(RuntimeError, match="serializer failed"):
        write_stream(target, half_then_fail)
    assert target.read_text() == "old\n" and _leftovers(tmp_path) == []


def test_a_folder_where_the_temporary_cannot_be_created_names_the_target():
    if not READ_ONLY.parent.is_dir():
        pytest.skip("needs sysfs")
    with pytest.raises(PermissionError, match="creating a file in its folder") as info:
        write_text(READ_ONLY, "x")
    assert info.value.filename == str(READ_ONLY)


def test_a_folder_as_target_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder, not a file"):
        write_bytes(tmp_path / "out", b"data")
    assert list((tmp_path / "out").iterdir()) == [] and _leftovers(tmp_path) == []


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_the_umask_asks_for(tmp_path, umask, mask, mode):
    umask(mask)
    fig, ax = pyplot().subplots()
    ax.plot([0, 1], [0, 1])
    surrogate = Surrogate("s", "a*x", ("x",), {"a": 1.0}, {"x": (0.0, 1.0)})
    written = [write_text(tmp_path / "a.txt", "a"), write_json(tmp_path / "b.json", {"b": 1}),
               save_figure(fig, tmp_path / "c.png"), surrogate.save(tmp_path / "d.json")]
    write_text(tmp_path / "a.txt", "replaced")  # replacing keeps to the umask too
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: oct(mode) for p in written}


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))  # writes beyond 100 bytes fail: a full disk


def test_emit_onto_an_existing_file_on_a_full_disk_keeps_the_old_file(tmp_path):
    target = tmp_path / "diode.va"
    target.write_text("previous release\n")
    run = subprocess.run([sys.executable, "-m", "spicegen.cli", "emit", "diode_rs", "-o", str(target)],
                         preexec_fn=_limit_file_size, capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr == (f"spicegen emit: cannot use {str(target)!r}: file too large (the previous file is "
                          "unchanged).\n")
    assert target.read_text() == "previous release\n" and _leftovers(tmp_path) == []


def _line_csv(folder: Path) -> Path:
    x = np.linspace(0.0, 1.0, 30)
    pd.DataFrame({"x": x, "y": 2 * x + 0.01 * np.sin(9 * x)}).to_csv(folder / "d.csv", index=False)
    return folder / "d.csv"


def test_fit_export_and_report_files_are_0644_under_umask_022(tmp_path):
    _line_csv(tmp_path)
    umask_022 = {"preexec_fn": lambda: os.umask(0o022)}
    fit = ["fit", "d.csv", "--form", "polynomial:1", "--x", "x", "--y", "y", "-o", "s.json", "--report", "rep"]
    export = ["export", "s.json", "--to", "numpy", "-o", "s.py"]
    for argv in (fit, export):
        run = subprocess.run([sys.executable, "-m", "spicegen.cli", *argv], cwd=tmp_path, capture_output=True,
                             text=True, **umask_022)
        assert run.returncode == 0, run.stderr
    files = [tmp_path / "s.json", tmp_path / "s.py", *sorted((tmp_path / "rep").iterdir())]
    assert len(files) == 5 and {oct(p.stat().st_mode & 0o777) for p in files} == {"0o644"}


# ----------------------------------------------------------------------------- messages, not tracebacks

def _assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("command", ["emit", "export", "fit"])
def test_writing_to_a_folder_or_a_read_only_path_is_a_message(tmp_path, capsys, command):
    _line_csv(tmp_path)
    Surrogate("s", "a*x", ("x",), {"a": 1.0}, {"x": (0.0, 1.0)}).save(tmp_path / "s.json")
    argv = {"emit": ["emit", "diode_rs"], "export": ["export", str(tmp_path / "s.json"), "--to", "numpy"],
            "fit": ["fit", str(tmp_path / "d.csv"), "--form", "polynomial:1", "--x", "x", "--y", "y"]}[command]
    _assert_one_line(main([*argv, "-o", str(tmp_path)]), capsys.readouterr().err,
                     f"spicegen {command}: cannot use {str(tmp_path)!r}: is a folder, not a file; name a file inside it")
    if READ_ONLY.parent.is_dir():
        _assert_one_line(main([*argv, "-o", str(READ_ONLY)]), capsys.readouterr().err,
                         f"cannot use {str(READ_ONLY)!r}: permission denied")


def test_mc_out_naming_a_file_is_a_message(tmp_path, capsys):
    (tmp_path / "f").write_text("not a folder")
    _assert_one_line(main(["mc", "mc-fail", "--n", "2", "--seed", "1", "--out", str(tmp_path / "f"), "--no-progress"]),
                     capsys.readouterr().err, "--out", "is a file; name a study folder")


def test_an_unreachable_dask_scheduler_is_a_prompt_message_naming_the_address(tmp_path, capsys):
    start = time.perf_counter()
    code = main(["mc", "mc-fail", "--n", "2", "--seed", "1", "--out", str(tmp_path / "s"), "--no-progress",
                 "--dask", "tcp://127.0.0.1:1"])
    assert time.perf_counter() - start < 10
    _assert_one_line(code, capsys.readouterr().err, "no Dask scheduler answers at 'tcp://127.0.0.1:1'")
    assert not (tmp_path / "s").exists()


def test_mc_report_on_a_store_without_a_definition_is_a_message(tmp_path, capsys):
    folder = tmp_path / "s"
    assert main(["mc", "mc-dc", "--n", "2", "--seed", "1", "--out", str(folder), "--no-progress"]) == 0
    with sqlite3.connect(folder / "study.sqlite") as db:
        db.execute("DELETE FROM meta")
    capsys.readouterr()
    _assert_one_line(main(["mc-report", str(folder)]), capsys.readouterr().err, "spicegen mc-report:", "definition")


@pytest.mark.parametrize("argv, needle", [
    (["check", "diode_rs", "--points", "0"], "argument --points: the value needs a whole number >= 1, got 0"),
    (["check", "diode_rs", "--points", "-5"], "argument --points: the value needs a whole number >= 1, got -5"),
    (["check", "diode_rs", "--points", "1_0"], "needs a whole number >= 1, got '1_0'"),
    (["mc", "mc-dc", "--n", "\u0661\u0660", "--seed", "1", "--out", "x"], "argument --n: the value needs a whole number"),
    (["sim", "mc-fail", "--set", "vx=1_0"], "parameter 'vx' needs a number, got '1_0'"),
    (["sim", "mc-fail", "--set", "vx=\u0661"], "parameter 'vx' needs a number, got '\u0661'"),
    (["sim", "mc-dc", "--set", "mismatch=vth", "--set", "mn__w=abc"], "parameter 'mn__w' needs a number, got 'abc'"),
    (["mc", "mc-dc", "--n", "2", "--seed", "1", "--out", "x", "--timeout", "1_0"], "argument --timeout"),
])
def test_numbers_are_ascii_decimal_and_counts_positive(argv, needle, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and needle in err, err


def test_a_refused_set_says_why_without_guessing_a_parameter(capsys):
    assert main(["sim", "mc-fail", "--set", "vx=abc"]) == 2
    err = capsys.readouterr().err
    assert "parameter 'vx' needs a number, got 'abc'" in err and "so it must be a parameter" not in err
    code = main(["mc", "mc-dc", "--n", "2", "--seed", "1", "--out", "x", "--corners", "tt"])
    _assert_one_line(code, capsys.readouterr().err, "testbench 'mc-dc' has no option 'corner'",
                     "options: ['device', 'mismatch', 'flavor']")


def test_a_huge_name_is_not_echoed_whole(capsys):
    name = "x" * 100_000
    assert main(["sim", name]) == 2
    err = capsys.readouterr().err
    assert len(err) < 1000 and "(100000 characters)" in err, err[:300]
    assert main(["sim", "mc-fail", "--set", f"{name}=abc"]) == 2
    assert len(capsys.readouterr().err) < 1000


def test_a_long_list_between_two_quoted_names_is_not_cut_as_one_value(capsys):
    # The known studies sit between the quoted mistyped name and the quoted command to run: no quoted value
    # is long, so nothing is cut (the list once was, as if it were the text of one quoted value).
    _assert_one_line(main(["study", "describe", "lif-rsyx"]), capsys.readouterr().err,
                     "unknown study 'lif-rsyx' (did you mean 'lif-rsyn'?)", "snn-nonideal (see 'spicegen study list')")


@pytest.mark.parametrize("argv, needle", [
    (["check", "reram_cm"], "unknown device 'reram_cm' (did you mean 'reram_cmo'?)"),
    (["sim", "mc-tram"], "unknown testbench 'mc-tram' (did you mean 'mc-tran'?)"),
    (["sim", "mc-dc", "--set", "mn__delvt=0.01"],
     "testbench 'mc-dc' has no option or parameter 'mn__delvt' (did you mean 'mn__delvto'?)"),
    (["study", "run", "lif-rsyn", "--set", "vrefx=1", "--out", "unused"],
     "study 'lif-rsyn' has no option 'vrefx' (did you mean 'vref'?)"),
    (["sim", "mc-dc", "--set", "mismatc=vth"], "testbench 'mc-dc' has no option 'mismatc' (did you mean 'mismatch'?)"),
])
def test_a_mistyped_name_gets_the_closest_names(capsys, argv, needle):
    _assert_one_line(main(argv), capsys.readouterr().err, needle)


def test_a_missing_input_file_is_named_in_words(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    _assert_one_line(main(["export", str(missing), "--to", "numpy", "-o", str(tmp_path / "f.py")]),
                     capsys.readouterr().err, f"cannot use '{missing}': no such file or directory")
    _assert_one_line(main(["fit", str(tmp_path), "--form", "tanh", "--x", "a", "--y", "b", "-o", str(missing)]),
                     capsys.readouterr().err, f"no Monte Carlo study in '{tmp_path}'")


def test_all_nan_with_nan_omit_says_where_the_rows_went(tmp_path, capsys):
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [np.nan] * 3}).to_csv(tmp_path / "nan.csv", index=False)
    code = main(["fit", str(tmp_path / "nan.csv"), "--form", "polynomial:1", "--x", "x", "--y", "y", "--nan", "omit",
                 "-o", str(tmp_path / "s.json")])
    err = capsys.readouterr().err
    _assert_one_line(code, err, "3 row(s) with NaN/inf in ['x', 'y'] omitted")
    assert "after dropping 0 failed samples" not in err


def test_ctrl_c_in_sim_exits_130_with_one_line(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "spicegen.cli", "sim", "mc-tran", "--set", "pulses=4000"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # past the imports, inside the simulation
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "spicegen sim: interrupted.", err


def test_a_damaged_study_database_is_a_message(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "study.sqlite").write_bytes(b"not a database, " * 100)
    assert main(["mc-report", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("spicegen mc-report: ") and err.count("\n") == 1, err
