#!/usr/bin/env bash
# Set up, then run the whole test suite against the real ngspice, openvaf-r and sky130 models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
