"""The benchmarks: tables on stdout, JSON (and plots) in benchmarks/results/. Run from the repository root, with the
package installed in the venv:

    .venv/bin/python -m benchmarks.bench_memory     # our arena vs ExecuTorch's greedy planner vs the paper's formula
    .venv/bin/python -m benchmarks.bench_host       # host latency and .pte size: portable, XNNPACK, our delegate
    .venv/bin/python -m benchmarks.bench_mcu        # Cortex-M7 instructions in QEMU, per op and per kernel
    .venv/bin/python -m benchmarks.bench_fuzz       # longer libFuzzer runs of the blob and .pte loaders
    .venv/bin/python -m benchmarks.bench_nas ...    # searched sub-net vs uniform baselines (stages: see its package)
    .venv/bin/python -m benchmarks.bench_main_job   # the main job's summary measured again with this code
    .venv/bin/python -m benchmarks.et_greedy        # fills ExecuTorch's greedy-arena cache for bench_memory

Module names start with bench_ so that none shadows a package (mcuformer.nas, mcuformer.mcu, ...).
"""
