"""The spicegen command line, run as a user runs it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spicegen.cli import main
from veriloga.emit import render


def spicegen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spicegen.cli", *args], capture_output=True, text=True)


def test_list_shows_devices():
    out = spicegen("list")
    assert out.returncode == 0
    assert "sinh_memristor" in out.stdout and "testbenches:" in out.stdout


@pytest.mark.parametrize("fmt,marker", [("veriloga", "module sinh_memristor"), ("spice", ".subckt sinh_memristor"),
                                        ("numpy", "def evaluate")])
def test_emit_to_stdout(fmt, marker):
    out = spicegen("emit", "sinh_memristor", "--format", fmt)
    assert out.returncode == 0 and marker in out.stdout


def test_emit_to_file(tmp_path: Path):
    target = tmp_path / "m.va"
    assert main(["emit", "diode_rs", "-o", str(target)]) == 0
    assert target.read_text() == render("diode_rs", "veriloga")


def test_emit_all_into_folder(tmp_path: Path):
    assert main(["emit", "--all", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "diode_rs.va").exists() and (tmp_path / "diode_rs.cir").exists()


def test_unknown_device_is_a_clear_error():
    out = spicegen("emit", "no_such_device")
    assert out.returncode == 2
    assert "unknown device 'no_such_device'; known devices:" in out.stderr


@pytest.mark.ngspice
def test_check_passes_and_prints_table():
    out = spicegen("check", "sinh_memristor")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "twin~osdi" in out.stdout and "1 passed, 0 failed" in out.stdout
