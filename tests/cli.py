"""Running the ``spicegen`` command as a user does, for the tests (importable: ``tests/`` holds the root conftest)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def spicegen(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``spicegen ARGS`` in ``cwd`` (a folder outside the repository), with ``env`` added to the environment."""
    return subprocess.run([sys.executable, "-m", "spicegen.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
