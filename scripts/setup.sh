#!/usr/bin/env bash
# Create the virtual environment for one Blender version: the bpy wheel plus the packages
# the local server, the tests and the checks need. Usage: scripts/setup.sh [BPY_VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."

bpy_version="${1:-${THRIXEL_BPY_VERSION:-5.0.1}}"
venv=".venv/bpy-${bpy_version}"

if [ ! -x "$venv/bin/python" ]; then
    python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "bpy==${bpy_version}" -r requirements-dev.txt
echo "$venv"
