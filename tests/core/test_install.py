"""A non-editable install (``pip install .``) works from any folder: package data, entry points, plug-ins.

The wheel is built and installed into a fresh virtual environment; its dependencies come from the
test environment's site-packages (a ``.pth`` line), so the test needs no network. It then runs from a
folder outside the checkout, where only the installed copy can be imported.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert out.returncode == 0, f"{' '.join(cmd)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(python of a fresh venv holding the installed wheel, a work folder outside the checkout)."""
    base = tmp_path_factory.mktemp("install")
    target = base / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base).strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    source = base / "source"  # setuptools builds in the source tree: a copy keeps the checkout clean
    for rel in _run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], ROOT).splitlines():
        if (ROOT / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, source / rel)
    wheels = base / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
         base)
    wheel = next(wheels.glob("spicegen-*.whl"))
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], base)
    work = base / "work"
    work.mkdir()
    return python, work


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPICEGEN_PLUGINS")}
    return env


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_the_installed_package_runs_studies_and_exports_from_another_folder(installed):
    python, work = installed
    spicegen = [str(python), "-m", "spicegen.cli"]
    where = _run([str(python), "-c", "import spicegen, fitting, testbenches; print(spicegen.__file__, fitting.__file__)"],
                 work, _env())
    assert str(ROOT) not in where and "site-packages" in where

    listed = _run([*spicegen, "study", "list"], work, _env())
    assert "crossbar-mvm" in listed and "crossbar-presets" in listed and "mc-demo" in listed
    _run([*spicegen, "study", "run", "crossbar-mvm", "--set", "size=8", "--set", "vectors=4", "--set", "large=16",
          "--set", "check_sizes=8", "--out", "xbar", "--no-progress"], work, _env())
    result = json.loads((work / "xbar" / "result.json").read_text())
    assert 0.0 < result["measurements"]["rmse_1s"] < 1.0, result["measurements"]

    shipped = _run([str(python), "-c", "from importlib.resources import files; "
                    "print(files('fitting') / 'extractions/p2m/f1_cmos.json')"], work, _env()).strip()
    assert "site-packages" in shipped
    _run([*spicegen, "export", shipped, "--to", "numpy", "-o", "f1_cmos.py"], work, _env())
    value = _run([str(python), "-c", "import f1_cmos; print(f1_cmos.evaluate(0.5))"], work, _env())
    assert 0.0 < float(value) < 1.0  # d_NORM at half the input range
