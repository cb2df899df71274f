#!/usr/bin/env bash
# Issue 5's benchmark sized for a 2-core CPU (no GPU): benchmarks/bench_nas's stages driven by hand, two at a time,
# one torch thread each. The supernet spans FMNIST_SMALL_SPACE (embed <= 96, depth <= 6, heads <= 4, MLP <= 4, every
# rank ratio) at patch 7; the baselines are FMNIST_SPACE's standard uniform ViTs at patch 7 (plan --patches 7) and are
# trained from scratch for the supernet + fine-tune epochs. About 1 hour on an idle 2-core x86 VM.
#
#   benchmarks/nas_cpu.sh [RUN_DIR] [RESULTS_DIR]     (defaults: runs/nas_cpu, benchmarks/results/nas_cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:-runs/nas_cpu}"
results="${2:-benchmarks/results/nas_cpu}"
py=.venv/bin/python
mkdir -p "$run/logs" "$results"
common=(--out "$run" --plan "$run/plan.json" --space fmnist-28-small --patches 7 --device cpu --threads 1
        --batch-size 128 --lr 1e-3 --val-limit 2000 --supernet-epochs 12 --finetune-epochs 8
        --population 20 --generations 10 --parents 8 --space-iters 3 --space-samples 12)
worker() {
  "$py" -m benchmarks.bench_nas worker "${common[@]}" --role "$1" --budget "${2:-0}" >"$run/logs/$1_${2:-0}.log" 2>&1
}

"$py" -m benchmarks.bench_nas plan --patches 7 --out "$run/plan.json"
# core 1: supernet, then two searches (+ fine-tunes); core 2: the three baselines, then the third search
( worker supernet && touch "$run/supernet.done" && worker search 65536 && worker search 16384 ) &
core1=$!
( worker baseline 65536 && worker baseline 32768 && worker baseline 16384
  until [ -f "$run/supernet.done" ]; do sleep 10; done
  worker search 32768 ) &
core2=$!
wait "$core1" "$core2"
"$py" -m benchmarks.bench_nas pack "${common[@]}"
"$py" -m benchmarks.bench_nas --results "$results" evaluate --bundle "$run" --work "$run/eval" --qemu-images 2
