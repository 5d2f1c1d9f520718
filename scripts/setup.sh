#!/usr/bin/env bash
# Set up everything spicegen needs on a fresh Debian bookworm machine (run as root).
#   - apt: ngspice + libngspice0 46 from bookworm-backports (OSDI support), binutils (`ld` for openvaf-r),
#     chromium (the report's browser check)
#   - a virtual environment in .venv with the package and its pinned dependencies (aihwkit: the binary
#     wheel without its build tools, on CPython 3.11 / x86-64)
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=0
ngspice_major=$(ngspice -v 2>/dev/null | sed -n 's/.*ngspice-\([0-9]\+\).*/\1/p' | head -n1 || true)
if [ -z "$ngspice_major" ] || [ "$ngspice_major" -lt 46 ]; then need_apt=1; fi
[ -e /usr/lib/x86_64-linux-gnu/libngspice.so.0 ] || [ -e /usr/lib/aarch64-linux-gnu/libngspice.so.0 ] || need_apt=1
command -v ld >/dev/null || need_apt=1
command -v chromium >/dev/null || need_apt=1

if [ "$need_apt" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: ngspice 46 / libngspice0 / binutils / chromium are missing and installing them needs root." >&2
    echo "       Re-run as root, or install them from bookworm-backports yourself." >&2
    exit 1
  fi
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if [ ! -e "$src" ]; then
    # Use the mirror this machine already uses; no host name is written here.
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { echo "setup: cannot find the Debian mirror in /etc/apt" >&2; exit 1; }
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$src"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -t bookworm-backports ngspice libngspice0
  apt-get install -y -q binutils chromium
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
stamp=.venv/.spicegen-installed
want=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt -e ".[test,mc,torch,onnx,pyspice,docs]"
  # aihwkit (extra 'aihwkit'): its only binary wheel is for CPython 3.11 on x86-64. Its declared requirements
  # are build and dev tools (cmake, scikit-build, pybind11, mypy, torchvision); the inference noise models
  # and the PyTorch tiles need only what the torch extra brings, so the wheel goes in without them.
  if [ "$(uname -m)" = x86_64 ] && .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt \
      --no-deps --only-binary=aihwkit aihwkit
  fi
  echo "$want" > "$stamp"
fi
echo "setup: ready ($(ngspice -v 2>/dev/null | grep -o 'ngspice-[0-9]*' | head -n1), $(.venv/bin/python --version))"
