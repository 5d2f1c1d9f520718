#!/usr/bin/env bash
# The headline job on built-in defaults: `spicegen run` at quick scale, results and report in ./results
#   library check (numpy == ngspice twin == OSDI == VACASK) -> P²M f1/f2 Monte Carlo in ngspice -> lmfit
#   surrogates exported to numpy / PyTorch / ONNX / JSON -> spiking first layer vs noise; the ReRAM and
#   LIF studies against their papers -> results/report.html, results/results.json, one folder per stage.
# Re-running resumes: nothing finished is recomputed. Pass e.g. --scale paper for the papers' sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/spicegen run --out results --scale quick --workers 2 "$@"
