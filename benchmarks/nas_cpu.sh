#!/usr/bin/env bash
# Issue 11's NAS benchmark sized for a 2-core CPU (no GPU): benchmarks/bench_nas's stages driven by hand, two at a
# time, one torch thread each. Budgets: the STM32F746 (its SRAM less the firmware's, 1 MB flash) at 15 / 25 / 50 ms
# (common.LATENCY_MS; latency binds for the best uniform ViT at each). The supernet spans FMNIST_SMALL_SPACE (embed
# <= 96, depth <= 6, heads <= 4, MLP <= 4, every rank ratio) at patches 7 and 4; per budget: (a) the searched sub-net
# fine-tuned 12 epochs from its inherited weights, (b) its architecture and (c) the best uniform ViT of the space
# trained 12 epochs from scratch (the same recipe: the supernet is a one-time cost shared by the budgets and the
# ablations), the two ablations (no low-rank, one patch size) searched on the same supernet, and the Kendall tau
# study on it (12 sub-nets per budget); then everything int8 through ExecuTorch + the C++ delegate on all 10,000
# test images, the searched networks in QEMU on 200.
#
# Time on the 2-core VM (one thread, the other core busy): supernet at patches 7+4 ~230 s/epoch on 55k (6 epochs
# ~23 min); a sub-net epoch on 55k ~10 / 17 / 33 s at 15 / 25 / 50 ms; a search ~2.5 min (~160 candidates on 2,000
# images, rerank of 4); lowering ~12 s and 10k images through the runtime ~11 s per network. Core 1: supernet, the
# three searches + fine-tunes, the three from-scratch runs, the ranking study; core 2: the six baselines (p7 and p4
# per budget), then (after the supernet) the six ablation searches + fine-tunes; then pack + evaluate, 15 networks.
# Measured: 74 minutes (2026-12-03: training 67, evaluation 7); with 6 fine-tune epochs it took 41 (2026-12-02).
#
# Resumable: every stage checkpoints (training per epoch, search scores journaled) and one that finished leaves
# RUN_DIR/done/<stage>; rerun the same command after an interruption and it goes on where it stopped.
# NAS_SMOKE=1: the same stages on a few hundred images with tiny schedules (a few minutes; tests/test_bench_nas.py).
#
#   benchmarks/nas_cpu.sh [RUN_DIR] [RESULTS_DIR]     (defaults: runs/nas_cpu, benchmarks/results)
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:-runs/nas_cpu}"
results="${2:-benchmarks/results}"
py="${PYTHON:-.venv/bin/python}"
export OMP_NUM_THREADS=1
if [ -n "${NAS_SMOKE:-}" ]; then
  sizes=(--train-subset 512 --val-limit 200 --supernet-epochs 1 --finetune-epochs 1 --population 4 --generations 1
         --parents 2 --space-iters 1 --space-samples 2 --rerank-top 2 --ranking-n 3 --ranking-epochs 1
         --ranking-subset 256)
  evaluation=(--qemu-images 2 --test-limit 200)
else
  sizes=(--val-limit 2000 --supernet-epochs 6 --finetune-epochs 12 --baseline-epochs 12 --population 16 --generations 8
         --parents 6 --space-iters 2 --space-samples 8 --rerank-top 4 --ranking-n 12 --ranking-epochs 2
         --ranking-subset 10000)
  evaluation=(--qemu-images 200)
fi
common=(--out "$run" --plan "$run/plan.json" --space fmnist-28-small --patches 7 4 --device cpu --threads 1
        --batch-size 128 --lr 2e-3 --no-augment "${sizes[@]}")
budgets=(15ms 25ms 50ms)
mkdir -p "$run/logs" "$run/done" "$results"
stage() {  # stage NAME CMD...: runs CMD unless NAME finished before; its log in RUN_DIR/logs/NAME.log
  local name="$1"; shift
  [ -f "$run/done/$name" ] && return 0
  "$@" >"$run/logs/$name.log" 2>&1 || { echo "stage $name failed: see $run/logs/$name.log" >&2; return 1; }
  touch "$run/done/$name"
}
worker() {  # worker ROLE [BUDGET [ABLATION]]
  stage "$(IFS=_; echo "$*")" "$py" -m benchmarks.bench_nas worker "${common[@]}" --role "$1" \
    ${2:+--budget "$2"} ${3:+--ablation "$3"}
}

stage plan "$py" -m benchmarks.bench_nas plan --space fmnist-28-small --patches 7 4 --out "$run/plan.json"
# core 1: supernet, the searches (+ fine-tunes), the searched architectures from scratch
( worker supernet
  for b in "${budgets[@]}"; do worker search "$b"; done
  for b in "${budgets[@]}"; do worker scratch "$b"; done
  worker ranking ) &
core1=$!
# core 2: the baselines, then (once the supernet is trained) the ablations and the ranking study
( for b in "${budgets[@]}"; do worker baseline "$b"; done
  until [ -f "$run/done/supernet" ]; do kill -0 "$core1" 2>/dev/null || exit 1; sleep 10; done
  for b in "${budgets[@]}"; do for ab in no-lowrank one-patch; do worker search "$b" "$ab"; done; done ) &
core2=$!
rc=0
wait "$core1" || rc=$?
wait "$core2" || rc=$?
[ "$rc" = 0 ] || exit "$rc"
"$py" -m benchmarks.bench_nas pack "${common[@]}"
stage evaluate "$py" -m benchmarks.bench_nas --results "$results" evaluate --bundle "$run" --work "$run/eval" \
  --threads 1 "${evaluation[@]}"
echo "results in $results/nas.json, nas.md"
