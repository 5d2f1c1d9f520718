"""Shared test settings.

``--update-golden`` rewrites the golden files (the emitted library in ``veriloga/library`` and
``tests/golden``) instead of comparing against them; review the diff before committing.
"""
from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(autouse=True, scope="session")
def _private_osdi_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compile into a fresh cache so tests exercise openvaf-r, not a stale file."""
    os.environ.setdefault("SPICEGEN_CACHE", str(tmp_path_factory.mktemp("spicegen-cache")))
