"""Issue 5's benchmark: the searched sub-net against the best hand-designed uniform ViT at 16 / 32 / 64 KB SRAM on
Fashion-MNIST, deployed through ExecuTorch's runtime with the MCUFormer C++ delegate; and the 240 px shape-only
search (320 KB, our planner vs the paper's formula).

Three stages (the first needs a GPU to be worth running, the others run on a CPU):

    python -m benchmarks.bench_nas train --out runs/nas_bench/gpu --deadline 260 --pack $OUT
        one time-boxed run: supernet (all patch sizes, sandwich + in-place distillation) -> for each budget,
        search-space evolution + evolutionary search (planner-checked) -> fine-tune; in parallel, the hand-designed
        baselines from scratch for (supernet + fine-tune) epochs. Packs weights, search results and the recipe into
        nas_bundle.tar (and the supernet in fp16).
    python -m benchmarks.bench_nas evaluate --bundle runs/nas_bench/bundle
        fp32 test top-1 (10k), quantize (MCUFormerQuantizer, int8 input) -> lower (MCUFormerPartitioner) -> .pte,
        int8 top-1 on all 10k test images through ExecuTorch's runtime + the C++ delegate, SRAM (plan_vit and the
        .pte's own plan), flash, Cortex-M7 instructions per inference (QEMU, mcuformer.mcu.run_mcu);
        writes benchmarks/results/nas.json, nas.md, nas_pareto.png.
    python -m benchmarks.bench_nas shape240    # 240 px, MCUFormer's space, 320 KB (nas_meta.json, "shape240")

Without a GPU, benchmarks/nas_cpu.sh runs the same stages on a 2-core CPU (`worker` per stage, two at a time, then
`pack` and `evaluate --results benchmarks/results/nas_cpu`): patch 7 and the main job's small space, about an hour.

Run from the repository root with the package installed (`.venv/bin/python -m benchmarks.bench_nas ...`; the GPU
machine needs it too: `pip install --no-deps -e .` beside torch and executorch). One module per stage: search.py
(`plan`: the baselines each budget admits; the search worker; `shape240`), train.py (`train`, `worker`, `pack`),
evaluate.py (`evaluate`, `qemu`, `scratch`), report.py (`render`: nas.json, nas.md, nas_pareto.png), common.py
(budgets, results folder, training settings), __main__.py (the subcommands).

Budgets: SRAM 16 / 32 / 64 KB, each paired with a flash budget of 8x (128 / 256 / 512 KB of weights, the usual
SRAM:flash ratio of such parts); both are checked with the backend's planner (plan_vit), the one that deploys.
Baseline ("hand-designed"): uniform, full rank, standard ViT rule (attention width == embedding), for each patch size
the largest (MACs) that fits both budgets; all are trained and the best on the validation split is reported.
"""
