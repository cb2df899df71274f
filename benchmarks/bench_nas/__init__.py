"""Issue 11's NAS benchmark (item 6): at each budget point, (a) the searched sub-net as deployed (inherited weights +
fine-tune), (b) the same architecture trained from scratch and (c) the best uniform ViT of the space, (b) and (c) with
the same recipe and epochs; all int8 through ExecuTorch's runtime with the MCUFormer C++ delegate on all 10,000
Fashion-MNIST test images, (a) also in QEMU (Cortex-M7 firmware) on 200 of them and compared to the host. Plus the
search-space ablations (no low-rank choices; one patch size) at the same budgets, Kendall's tau of the search's ranking
on the benchmark's own supernet, and the 240 px shape-only search (320 KB, our planner vs the paper's formula).

Budgets (common.py): the STM32F746 (SRAM: the board's less the firmware's; flash 1 MB; 216 MHz) at 15 / 25 / 50 ms.
Latency binds: each point admits only part of the space's uniform ViTs (SRAM binds nothing at 28 px with the exact
planner). A budget is named by its latency on the command line and in file names (``--budget 15ms``, ``ft_15ms.pt``).

Stages:

    python -m benchmarks.bench_nas plan --space fmnist-28-small --patches 7 4 --out RUN/plan.json
        the baselines each budget admits: per patch size the largest (MACs) uniform full-rank ViT that fits, and
        the constraint that binds it (nas.pipeline.best_uniform_baseline)
    python -m benchmarks.bench_nas worker --role ROLE [--budget 15ms] [--ablation no-lowrank|one-patch] ...
        supernet (sandwich + in-place distillation) | baseline (c) | search: space evolution + evolution + rerank,
        then the fine-tune of the winner (a) | scratch (b) | ranking (Kendall tau per budget)
    python -m benchmarks.bench_nas pack ...             weights, search results, ranking studies -> RUN/nas_*.tar
    python -m benchmarks.bench_nas evaluate --bundle RUN --work RUN/eval
        fp32 and int8 test top-1, memory (plan_vit and the .pte's own plan), QEMU instructions; nas.json (one row
        per budget), nas.md, nas_pareto.png in --results
    python -m benchmarks.bench_nas train --out RUN --deadline S --pack $OUT
        a GPU: every worker as one time-boxed run, packed as it goes
    python -m benchmarks.bench_nas shape240    # 240 px, MCUFormer's space, 320 KB (nas_meta.json, "shape240")

On a 2-core CPU, benchmarks/nas_cpu.sh drives the stages two at a time (patches 7 and 4 of FMNIST_SMALL_SPACE, 74
minutes measured; its header has the timings), resumable; NAS_SMOKE=1 runs it tiny (tests/test_bench_nas.py).

Run from the repository root with the package installed (`.venv/bin/python -m benchmarks.bench_nas ...`; the GPU
machine needs it too: `pip install --no-deps -e .` beside torch and executorch). One module per stage: search.py
(`plan`, the search and ranking workers, `shape240`), train.py (`train`, the supernet, baseline and scratch workers,
`pack`), evaluate.py (`evaluate`, `qemu`), report.py (`render`: nas.json, nas.md, nas_pareto.png), common.py
(budgets, ablations, results folder, training settings), __main__.py (the subcommands).

Every stage resumes: training is checkpointed per epoch, search scores are journaled, a finished search's result and
each evaluated network (work/<name>.json, keyed by its weights) are reused.
"""
