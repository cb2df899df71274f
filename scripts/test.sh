#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
MCUFORMER_NO_SKIP=1 exec .venv/bin/python -m pytest -q -n 2 "$@"
