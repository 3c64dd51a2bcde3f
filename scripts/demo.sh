#!/usr/bin/env bash
# The main job: set up everything on a fresh machine, then run the headless demo against the
# local Thrixel server. Arguments go to scripts/demo.py (--prompt, --out).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash scripts/setup.sh "${THRIXEL_BPY_VERSION:-5.0.1}" | tail -n 1)
exec timeout 900 "$venv/bin/python" scripts/demo.py "$@"
