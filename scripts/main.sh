#!/usr/bin/env bash
# The headline job on built-in defaults, results and figures in ./results:
#   1. emit + compile + check the whole device library (numpy == ngspice twin == OSDI == VACASK)
#      -> results/report.md, results/<device>_transient.png, results/library/
#   2. a 500-sample Monte Carlo study of the mc-demo testbench (every variation kind), resumable
#      -> results/mc-demo/ (SQLite store) and results/mc-demo/report/ (histograms, summary)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/spicegen library-report --out results
.venv/bin/spicegen mc mc-demo --n 500 --seed 2026 --workers 2 --out results/mc-demo
.venv/bin/spicegen mc-report results/mc-demo
