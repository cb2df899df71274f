"""ExecuTorch's own greedy arena for an int8 ViT lowered WITHOUT the MCUFormer delegate (the stock baseline).

export -> MCUFormerQuantizer (random weights, one calibration batch) -> to_edge -> to_executorch;
arena = execution_plan[0].non_const_buffer_sizes (index 0 reserved). Slow for big networks: results are cached in
benchmarks/results/et_greedy_cache.json keyed by the architecture's JSON.

    .venv/bin/python -m benchmarks.et_greedy   # fills the cache for every row of benchmarks/bench_memory.py
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from mcuformer.io import write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "et_greedy_cache.json"


def _load_cache() -> dict:
    return json.loads(CACHE.read_text()) if CACHE.exists() else {}


def et_greedy_arena(arch, use_cache: bool = True) -> int:
    cache = _load_cache()
    key = arch.to_json()
    if use_cache and key in cache:
        return int(cache[key]["arena_bytes"])
    import torch
    import executorch.kernels.quantized  # noqa: F401  (out variants of the q/dq ops)
    from executorch.exir import to_edge
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from mcuformer.backend import MCUFormerQuantizer
    from mcuformer.nas.vit import ViT

    t0 = time.time()
    torch.manual_seed(0)
    model = ViT(arch).eval()
    x = torch.randn(1, arch.in_chans, arch.img_size, arch.img_size)
    with torch.no_grad():
        gm = torch.export.export(model, (x,), strict=True).module(check_guards=False)
        prepared = prepare_pt2e(gm, MCUFormerQuantizer())
        prepared(x)
        converted = convert_pt2e(prepared)
        ep = torch.export.export(converted, (x,), strict=True)
    et = to_edge(ep).to_executorch()
    sizes = list(et.executorch_program.execution_plan[0].non_const_buffer_sizes)
    arena = int(sum(sizes[1:]))
    cache = _load_cache()
    cache[key] = {"arena_bytes": arena, "buffer_sizes": sizes, "seconds": round(time.time() - t0, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text_atomic(CACHE, json.dumps(cache, indent=1, sort_keys=True))
    return arena


if __name__ == "__main__":
    from .bench_memory import ROWS

    for name, arch in ROWS:
        t = time.time()
        print(name, et_greedy_arena(arch), f"{time.time() - t:.0f}s", flush=True)
