"""Host latency and .pte size: the same ViT as fp32 portable ops, XNNPACK (fp32 and int8), and the MCUFormer delegate,
all through ExecuTorch's runtime on this machine.

Prints a table and writes benchmarks/results/host.json. Models use random weights (latency and size do not depend
on the values); accuracy is measured elsewhere (tests/test_e2e_fashion_mnist.py, benchmarks/bench_nas).

    .venv/bin/python -m benchmarks.bench_host [--runs 200]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                     get_symmetric_quantization_config)
from executorch.exir import to_edge, to_edge_transform_and_lower
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

from mcuformer.backend import load_runtime
from mcuformer.backend.pipeline import lower, quantize
from mcuformer.nas.space import Arch
from mcuformer.nas.vit import ViT
from mcuformer.io import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = {
    "fmnist-vit (28x28x1, E64 D4 H4x16 p4)": Arch(28, 1, 10, 4, 64, 4, (4,) * 4, 16, (2.0,) * 4, (1.0,) * 4),
    "mcuformer-240 (240x240x3, E192 D12 H3x64 p20 r.9)": Arch(240, 3, 1000, 20, 192, 12, (3,) * 12, 64, (4.0,) * 12,
                                                              (0.9,) * 12),
}


def _median_ms(pte: bytes, x: torch.Tensor, runs: int) -> float:
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(pte)  # keep alive while the method runs
    method = program.load_method("forward")
    for _ in range(5):
        method.execute([x])
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        method.execute([x])
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _variants(model: torch.nn.Module, x: torch.Tensor):
    ep = torch.export.export(model, (x,), strict=True)
    yield "fp32 portable ops", to_edge(ep).to_executorch().buffer
    yield "fp32 XNNPACK", to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch().buffer
    calib = [torch.randn_like(x) for _ in range(4)]
    gm = torch.export.export(model, (x,), strict=True).module(check_guards=False)
    prepared = prepare_pt2e(gm, XNNPACKQuantizer().set_global(get_symmetric_quantization_config()))
    for c in calib:
        prepared(c)
    qep = torch.export.export(convert_pt2e(prepared), (x,), strict=True)
    yield "int8 XNNPACK", to_edge_transform_and_lower(qep, partitioner=[XnnpackPartitioner()]).to_executorch().buffer
    yield "int8 MCUFormer delegate", lower(quantize(model, (x,), calib), (x,)).to_pte()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args(argv)
    load_runtime()
    torch.manual_seed(0)
    rows = []
    for name, arch in MODELS.items():
        model = ViT(arch).eval()
        x = torch.randn(1, arch.in_chans, arch.img_size, arch.img_size)
        for variant, pte in _variants(model, x):
            runs = args.runs if arch.img_size < 100 else max(5, args.runs // 10)
            rows.append({"model": name, "variant": variant, "latency_ms": _median_ms(bytes(pte), x, runs),
                         "pte_bytes": len(pte)})
            print(f"  {name} / {variant}: {rows[-1]['latency_ms']:.3f} ms, {len(pte):,} B", flush=True)
    for r in rows:
        base = next(b for b in rows if b["model"] == r["model"] and b["variant"] == "fp32 portable ops")
        r["speedup_vs_portable"] = base["latency_ms"] / r["latency_ms"]
        r["size_vs_portable"] = r["pte_bytes"] / base["pte_bytes"]
    print(f"\nHost: {platform.machine()} {platform.processor() or ''}, ExecuTorch runtime, median of runs, random weights")
    print(f"{'model':52} {'variant':26} {'latency ms':>11} {'x portable':>10} {'.pte bytes':>12} {'size ratio':>10}")
    for r in rows:
        print(f"{r['model']:52} {r['variant']:26} {r['latency_ms']:11.3f} {r['speedup_vs_portable']:10.2f} "
              f"{r['pte_bytes']:12,} {r['size_vs_portable']:10.2f}")
    RESULTS.mkdir(exist_ok=True)
    out = {"machine": platform.platform(), "date": time.strftime("%Y-%m-%d"), "rows": rows,
           "note": "host CPU latency through ExecuTorch's runtime; our kernels are written for Cortex-M7, not x86"}
    write_json_atomic(RESULTS / "host.json", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
