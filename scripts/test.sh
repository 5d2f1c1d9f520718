#!/usr/bin/env bash
# Set up, then run the whole test suite against the real ngspice, openvaf-r and sky130 models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# One pytest-xdist worker per CPU; a test file stays on one worker, so its module fixtures run once.
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
