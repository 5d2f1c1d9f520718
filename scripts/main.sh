#!/usr/bin/env bash
# The headline job on built-in defaults, results and figures in ./results:
#   1. emit + compile + check the whole device library (numpy == ngspice twin == OSDI == VACASK)
#      -> results/report.md, results/<device>_transient.png, results/library/
#   2. the mc-demo study: a 500-sample Monte Carlo of a 1T1R cell and a diode pair (every variation
#      kind), resumable -> results/mc-demo/ (study.json, result.json, the SQLite store, report/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/spicegen library-report --out results
.venv/bin/spicegen study run mc-demo --n 500 --seed 2026 --workers 2 --out results/mc-demo
