#!/usr/bin/env bash
# The headline job on built-in defaults: set up, then emit + compile + check the whole device
# library and write results/report.md with figures. Extra arguments go to `spicegen library-report`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/spicegen library-report --out results "$@"
