"""The main job's numbers measured again with the benchmarks' own code, side by side (issue 6).

    .venv/bin/python -m benchmarks.bench_main_job [--out out] [--json benchmarks/results/main_job.json]

Reads what `mcuformer run` wrote (out/summary.json, out/model.pte and its lowering stamp, the fine-tuned checkpoint,
the QEMU chunks under out/mcu/) and measures the same deployed model the way the benchmarks do:

  memory     benchmarks/bench_memory.py's row for the architecture: plan_vit with the main job's SRAM budget (the
             search's predictor: the tiles the .pte was lowered with), its live-set bound, the weights, and the
             one-row plan the budget was judged on; ExecuTorch's greedy arena for the same network beside it (--no-et
             skips that export)
  accuracy   benchmarks/bench_nas's host path: the test images the firmware ran, as int8, through ExecuTorch's runtime
             with the C++ delegate (top-1, and the logits compared with the firmware's image by image); fp32 top-1 of
             the checkpoint in PyTorch on the same images
  Cortex-M7  benchmarks/bench_nas's QEMU row (mcuformer.mcu.run_mcu, image in SRAM) on the images of the main job's
             first chunk: instructions per inference, firmware RAM and flash

Fashion-MNIST test images, the main job's trained weights. Prints quantity | main job | benchmark | equal, writes
the JSON, and exits with status 1 when any pair differs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mcuformer.io import write_json_atomic

from .bench_memory import row as memory_row
from .bench_nas.evaluate import qemu_row

HERE = Path(__file__).resolve().parent


def _first_chunk(summary: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """The .npz (firmware outputs) and .json (its QEMU summary) of the chunk that starts at image 0."""
    chunks = sorted((out / "mcu").glob("*_00000_*.npz"))
    if not chunks:
        raise SystemExit(f"{out / 'mcu'}: no QEMU chunk: run the main job (without --skip-mcu) first")
    npz = max(chunks, key=lambda p: p.stat().st_mtime)  # the newest firmware's (its ELF hash is in the name)
    return npz, npz.with_suffix(".json")


def measure(out: str | Path, et: bool = True) -> dict[str, Any]:
    """{"rows": [{quantity, main_job, benchmark, equal}], "all_equal", ...} for the main job written to ``out``."""
    import torch

    from mcuformer.backend.memory import plan_vit
    from mcuformer.backend.quant_math import quantize_f32
    from mcuformer.backend.runtime_loader import run_pte
    from mcuformer.nas.data import load_fashion_mnist, normalize
    from mcuformer.nas.space import Arch
    from mcuformer.nas.train import evaluate, load_vit

    out = Path(out)
    s = json.loads((out / "summary.json").read_text())
    arch = Arch.from_dict(s["arch"])
    pte = Path(s["paths"]["pte"])
    scale, zp = json.loads(pte.with_name(pte.name + ".json").read_text())["input_qparams"]
    n = s["test_images"]
    data = load_fashion_mnist()
    test = data.test.subset(n)
    x8 = quantize_f32(normalize(test.images).numpy(), 1.0 / scale, zp)
    labels = test.labels.numpy()
    rows: list[tuple[str, Any, Any]] = []
    t0 = time.time()

    mem = memory_row(f"main job {arch.short()}", arch, et=et, sram_budget=s["budget_bytes"])  # lowered with it
    m = s["memory"]
    rows += [("SRAM: input + arena (bytes)", m["total_sram_bytes"], mem["total_sram_bytes"]),
             ("arena (bytes)", m["arena_bytes"], mem["arena_bytes"]),
             ("input image in SRAM (bytes)", m["input_bytes"], mem["input_bytes"]),
             ("live-set bound (bytes)", m["bound_bytes"], mem["bound_bytes"]),
             ("weights (bytes)", m["weights_bytes"], mem["flash_bytes"]),
             ("search's planned SRAM (bytes)", s["search"]["planned_sram_bytes"], mem["total_sram_bytes"]),
             ("SRAM it needs, one row per token loop (bytes)", s["search"]["min_sram_bytes"],
              plan_vit(arch, sram_budget=0).total_sram_bytes)]

    host = run_pte(pte, x8)
    npz, meta = _first_chunk(s, out)
    fw_out = np.load(npz)["out"]
    rows += [(f"int8 top-1 on {n:,d} test images (firmware | ExecuTorch host)", s["int8_top1"],
              float((host.argmax(1) == labels).mean())),
             (f"logits identical, first {len(fw_out):,d} images (firmware | host)", True,
              bool(np.array_equal(fw_out, host[:len(fw_out)])))]
    vit = load_vit(s["paths"]["checkpoint"]).eval()
    with torch.no_grad():
        rows.append((f"fp32 top-1 on {n:,d} test images (PyTorch)", s["fp32_top1"], evaluate(vit, test)))

    chunk = json.loads(meta.read_text())
    k = len(fw_out)
    q = qemu_row(pte, x8[:k], host[:k], "main-job")
    mcu = s["mcu"]
    rows += [(f"instructions per inference, images 0-{k - 1}", chunk["instructions"], q.get("instructions")),
             ("firmware RAM (bytes)", mcu["ram_bytes"], q.get("ram_bytes")),
             ("firmware flash (bytes)", mcu["flash_bytes"], q.get("flash_bytes")),
             ("QEMU logits identical to the host", True, q.get("identical_to_host"))]
    table = [{"quantity": name, "main_job": a, "benchmark": b, "equal": a == b} for name, a, b in rows]
    return {"what": "the main job's summary (out/summary.json) against the benchmarks' measurement of the same "
                    "deployed model; Fashion-MNIST test images, the main job's trained weights",
            "date": time.strftime("%Y-%m-%d"), "arch": arch.short(), "summary_seconds": s.get("seconds"),
            "et_greedy_arena_bytes": mem["et_greedy_arena_bytes"], "paper_formula_bytes": mem["paper_formula_bytes"],
            "measure_seconds": round(time.time() - t0, 1), "rows": table,
            "all_equal": all(r["equal"] for r in table)}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{100 * v:.2f}%" if v <= 1 else f"{v:,.1f}"
    return f"{v:,d}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def print_table(res: dict[str, Any]) -> None:
    w = max(len(r["quantity"]) for r in res["rows"])
    print(f"main job model: {res['arch']}")
    print(f"{'quantity':<{w}}  {'main job':>14}  {'benchmark':>14}  equal")
    for r in res["rows"]:
        print(f"{r['quantity']:<{w}}  {_fmt(r['main_job']):>14}  {_fmt(r['benchmark']):>14}  {r['equal']}")
    if res["et_greedy_arena_bytes"]:
        sram = res["rows"][0]["benchmark"]
        print(f"ExecuTorch greedy arena for the same network: {res['et_greedy_arena_bytes']:,d} B "
              f"({res['et_greedy_arena_bytes'] / sram:.1f}x our SRAM); paper formula {res['paper_formula_bytes']:,d} B")
    print("all equal" if res["all_equal"] else "MISMATCH")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out", help="the main job's output folder (default: out)")
    ap.add_argument("--json", default=str(HERE / "results" / "main_job.json"))
    ap.add_argument("--no-et", action="store_true", help="skip ExecuTorch's greedy planner for the same network")
    a = ap.parse_args(argv)
    res = measure(a.out, et=not a.no_et)
    print_table(res)
    write_json_atomic(a.json, res)
    print(f"wrote {a.json}", file=sys.stderr)
    return 0 if res["all_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
