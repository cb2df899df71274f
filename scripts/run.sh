#!/usr/bin/env bash
# The main job (the README's first command): installs what is missing (scripts/setup.sh), then runs
# `mcuformer run` on its embedded default: Fashion-MNIST, a 64 KB SRAM budget, QEMU's Cortex-M7 (mps2-an500 with
# the STM32F746's budgets). Search -> fine-tune -> quantize -> lower -> plan -> firmware -> QEMU -> out/report/.
# Rerunning after an interruption reuses the finished steps in out/. Extra arguments go to `mcuformer run`
# (see `.venv/bin/mcuformer run --help`), e.g. ./scripts/run.sh --budget 32KB --out out32
set -euo pipefail
cd "$(dirname "$0")/.."
export MCUFORMER_JOB_START="$(date +%s)"  # mcuformer run: --time-budget counts the set-up too
./scripts/setup.sh
exec .venv/bin/mcuformer run "$@"
