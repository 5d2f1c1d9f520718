"""Start-up: the listing commands import no plug-in and none of sympy, scipy, lmfit; a name looked up
imports only the module that registers it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("sympy", "scipy", "lmfit")


def _modules_after(code: str, cache: str) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of the watched modules it left imported."""
    watched = (*HEAVY, "testbenches.reram", "testbenches.mdwmtj", "testbenches.lif", "fitting", "veriloga")
    script = (f"import io, contextlib, json, sys\n{code}\n"
              f"print(json.dumps({{m: m in sys.modules for m in {watched!r}}}))")
    env = {**os.environ, "SPICEGEN_CACHE": cache}
    env.pop("SPICEGEN_PLUGINS", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["study", "list"], ["study", "describe", "mc-demo"]])
def test_listing_commands_import_nothing_heavy(argv: list[str], cache: str) -> None:
    code = ("from spicegen.cli import main\nout = io.StringIO()\nwith contextlib.redirect_stdout(out):\n"
            f"    main({argv!r})\nassert len(out.getvalue()) > 100, out.getvalue()")
    loaded = _modules_after(code, cache)
    assert not any(loaded.values()), loaded


def test_list_shows_every_kind_from_the_catalog(cache: str) -> None:
    env = {**os.environ, "SPICEGEN_CACHE": cache}
    out = subprocess.run([sys.executable, "-m", "spicegen.cli", "list"], capture_output=True, text=True, env=env,
                         check=True).stdout
    for line in ("devices:", "  sinh_memristor ", "testbenches:", "  mc-tran ", "studies:", "  reram-ttt ",
                 "extractions:", "  p2m-f1 "):
        assert line in out


def test_a_testbench_imports_only_its_module(cache: str) -> None:
    loaded = _modules_after("from spicegen.testbench import get_testbench\n"
                            "assert get_testbench('mc-tran').name == 'mc-tran'", cache)
    assert not loaded["testbenches.reram"] and not loaded["testbenches.lif"] and not loaded["lmfit"], loaded


def test_a_device_model_is_built_on_first_use(cache: str) -> None:
    code = ("from spicegen.device import _built, get_device, registry\n"
            "names = list(registry())\nassert 'sinh_memristor' in names and not _built\n"
            "assert get_device('sinh_memristor').currents\nassert list(_built) == ['sinh_memristor'], list(_built)")
    _modules_after(code, cache)


def test_a_cached_twin_is_the_generated_text(tmp_path: "os.PathLike[str]", monkeypatch: pytest.MonkeyPatch) -> None:
    from spicegen.device import build_model, registry
    from spicegen.netlist import format_subckt
    from spicegen.testbench import twin_text

    monkeypatch.setenv("SPICEGEN_CACHE", str(tmp_path))
    for name, model in registry().items():
        fresh = format_subckt(build_model(model.declaration))
        assert twin_text(model) == fresh  # written
        assert twin_text(model) == fresh  # read back
    assert len(list((tmp_path / "twins").iterdir())) == len(registry())


def test_a_monte_carlo_study_with_cached_twins_imports_no_sympy(tmp_path: "os.PathLike[str]", cache: str) -> None:
    code = ("from spicegen.montecarlo import run_study\nfrom spicegen.testbench import get_testbench\n"
            f"assert run_study(get_testbench('mc-tran'), {str(tmp_path)!r} + '/' + sys.argv[-1], n=3, seed=1, "
            "progress=False).computed == 3")
    first = _modules_after(code.replace("sys.argv[-1]", "'a'"), cache)  # builds and stores the twin
    second = _modules_after(code.replace("sys.argv[-1]", "'b'"), cache)
    assert first["sympy"] and not any(second[m] for m in HEAVY), second
