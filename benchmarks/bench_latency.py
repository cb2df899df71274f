"""Calibrate the Cortex-M7 cost model on QEMU and measure the latency predictor's error (issue 11, item 1).

    .venv/bin/python benchmarks/bench_latency.py            # or: .venv/bin/python -m benchmarks.bench_latency
        [--held-out 20] [--seed 0] [--no-fit] [--work build/cost]

1. Lowers a fixed set of calibration ViTs (random weights, one random int8 image each) through the real pipeline
   (quantize -> MCUFormerPartitioner(overwrite_input=True) -> .pte), one row per iteration and, for some, with an
   SRAM budget (token loops in multi-row tiles: the GEMM core's terms), runs each in QEMU with the real firmware and
   the instruction-count plugin, and fits `mcuformer.backend.cost.CostModel` to the per-op counts
   -> backend/cost/calibration.json, stamped with the runtime/firmware source hash.
2. Checks that cost does not depend on the weights: two calibration networks again with other weights and image.
3. Predicts >= 20 random held-out architectures from the architecture alone (`nas.predictors.latency`, the program
   plan_vit builds, no weights) and compares with QEMU's whole-inference count, every third one also tiled for the
   STM32F746's SRAM budget; also the flash predictor against the built ELF -> benchmarks/results/latency.json and
   latency.md.

QEMU results are cached per (architecture, seed, source hash) under --work, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mcuformer import mcu
from mcuformer.backend.cost import CALIBRATION, CostModel, runtime_sources_hash
from mcuformer.backend.cost import model as cost_model
from mcuformer.backend.memory import plan_program
from mcuformer.backend.pipeline import lower, quantize
from mcuformer.backend.serialization.serialize import serialize
from mcuformer.io import write_json_atomic, write_text_atomic
from mcuformer.nas.predictors.flash import predict_flash
from mcuformer.nas.predictors.latency import LatencyPredictor, scheduled_program
from mcuformer.nas.space import FMNIST_SMALL_SPACE, FMNIST_SPACE, PAPER_SPACE, Arch, macs
from mcuformer.nas.vit import ViT
from mcuformer.targets import model_sram_budget

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
TARGET_ERROR = 0.03


def _fm(patch, embed, depth, heads, mlp, rank) -> Arch:
    return FMNIST_SPACE.uniform(patch, embed, depth, heads, mlp, rank)


def _240(patch, embed, depth, heads, mlp, rank) -> Arch:
    return PAPER_SPACE.uniform(patch, embed, depth, heads, mlp, rank)


# Calibration networks: every op kind, tokens 17 .. 197 (and 50 / 226 at 240 px), embeddings and ranks that are and
# are not multiples of 4, 1 .. 8 heads, all MLP ratios, full rank and factorized, per-layer mixes.
CALIBRATION_ARCHS: list[Arch] = [
    _fm(7, 32, 2, 1, 2.0, 1.0),
    _fm(7, 48, 2, 3, 3.0, 0.45),
    _fm(7, 96, 2, 6, 4.0, 0.7),
    _fm(4, 64, 2, 2, 2.0, 0.6),
    _fm(4, 160, 1, 8, 3.0, 1.0),
    _fm(4, 48, 2, 4, 4.0, 0.85),
    _fm(2, 32, 1, 2, 2.0, 0.4),
    _fm(2, 64, 1, 1, 3.0, 1.0),
    Arch(28, 1, 10, 4, 96, 3, (1, 4, 6), 16, (2.0, 4.0, 3.0), (1.0, 0.55, 0.8)),
    _240(24, 168, 1, 3, 3.5, 0.65),
    _240(16, 192, 1, 4, 4.0, 1.0),
]
SEED_CHECK = [CALIBRATION_ARCHS[3], CALIBRATION_ARCHS[9]]
# Calibration networks lowered with an SRAM budget (bytes: input pool + arena): multi-row tiles of 2, 4, 5 and 6 rows
# (the tile leftovers of 17, 50, 197, 226 tokens), and with a tight budget the 2-row and 4-row candidates.
UNLIMITED = 10 ** 7
TILED_CALIBRATION: list[tuple[Arch, int]] = [
    (CALIBRATION_ARCHS[0], UNLIMITED), (CALIBRATION_ARCHS[3], UNLIMITED), (CALIBRATION_ARCHS[3], 7_800),
    (CALIBRATION_ARCHS[5], UNLIMITED), (CALIBRATION_ARCHS[7], UNLIMITED), (CALIBRATION_ARCHS[8], UNLIMITED),
    (CALIBRATION_ARCHS[8], 16_000), (CALIBRATION_ARCHS[10], UNLIMITED),
]


def held_out_archs(n: int, seed: int) -> list[Arch]:
    """n random architectures: ~40% FMNIST_SPACE (depth <= 6), ~40% the main job's small space, the rest shallow
    240 px sub-nets of MCUFormer's space (depth 1-2, patches that divide 240)."""
    rng = random.Random(f"latency-held-out:{seed}")
    out: list[Arch] = []
    n_240 = max(3, n // 6)
    n_fm = (n - n_240) // 2
    while len(out) < n_fm:
        a = FMNIST_SPACE.sample(rng)
        if a.depth <= 6:
            out.append(a)
    out += [FMNIST_SMALL_SPACE.sample(rng) for _ in range(n - n_240 - n_fm)]
    while len(out) < n:
        a = PAPER_SPACE.sample(rng)
        if PAPER_SPACE.img_size % a.patch_size:
            continue  # patches 28 and 32 do not divide 240 px: the partitioner leaves such a convolution outside
        d = rng.choice((1, 2))
        out.append(a.replace(depth=d, num_heads=a.num_heads[:d], mlp_ratio=a.mlp_ratio[:d], rank_ratio=a.rank_ratio[:d]))
    return out


def _images(arch: Arch, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, arch.in_chans, arch.img_size, arch.img_size, generator=g)


def measure(arch: Arch, seed: int, work: Path, src: str, sram_budget: int = 0) -> dict:
    """Lowers ViT(arch) with weights from `seed` and MCUFormerPartitioner's sram_budget (0: one row per iteration),
    runs one image in QEMU; cached in work/."""
    budget = f"|{sram_budget}" if sram_budget else ""
    key = hashlib.sha256(f"{arch.to_json()}|{seed}|{src}{budget}".encode()).hexdigest()[:16]
    cached = work / f"{key}.json"
    if cached.exists():
        res = json.loads(cached.read_text())
        if res["signature"] == _signature(scheduled_program(arch, sram_budget)):  # else it lowers differently now
            return res
    t0 = time.time()
    torch.manual_seed(seed)
    model = ViT(arch).eval()
    imgs = _images(arch, 5, seed)
    example = (imgs[:1],)
    lowered = lower(quantize(model, example, [imgs[i:i + 1] for i in range(1, 5)]), example, overwrite_input=True,
                    int8_input=True, sram_budget=sram_budget)
    pte = work / f"{key}.pte"
    pte.write_bytes(lowered.to_pte())
    x = lowered.quantize_input(_images(arch, 1, 1000 + seed).numpy())
    # the cost model is fit on, and predicts from, the program plan_vit's builder makes: it must be the lowered one
    sig = _signature(lowered.programs()[0])
    same = sig == _signature(scheduled_program(arch, sram_budget))
    t1 = time.time()
    _, s = mcu.run_mcu(pte, x, runtime="real", timeout=1800)
    res = {"arch": arch.to_dict(), "seed": seed, "sram_budget": sram_budget, "instructions": s["instructions"],
           "per_op": {str(r["index"]): r["instructions"] for r in s["per_op_instructions"]},
           "per_op_kind": {str(r["index"]): r["kind"] for r in s["per_op_instructions"]},
           "flash_bytes": s["flash_bytes"], "qspi_bytes": s["qspi_bytes"], "pte_region": s["pte_region"],
           "pte_bytes": s["pte_bytes"], "delegate_bytes": s["delegate_bytes"], "ram_bytes": s["ram_bytes"], "arena_bytes": s["arena_bytes"],
           "sections": s["sections"], "program_matches_arch": same, "signature": sig, "lower_s": round(t1 - t0, 1), "qemu_s": round(time.time() - t1, 1)}
    write_json_atomic(cached, res)
    pte.unlink()
    return res


_STRUCTURE = ("count", "body", "strides", "transpose_b", "has_lut", "tokens_layout", "axis", "perm", "start", "step")


def _signature(program) -> list:
    """A program's structure: per op, its kind, structural parameters and operand shapes (not quantization
    parameters, which depend on the weights)."""
    t = program.tensors
    return json.loads(json.dumps([[op.kind, [(k, op.params[k]) for k in _STRUCTURE if k in op.params],
                                   [t[i].shape for i in op.inputs], [t[i].shape for i in op.outputs]]
                                  for op in program.ops]))


def _program(res: dict):
    """The scheduled program of a measured network, rebuilt from its architecture and budget (the program plan_vit
    plans)."""
    return scheduled_program(Arch.from_dict(res["arch"]), res.get("sram_budget") or 0)  # null: one row (older runs)


def firmware_overheads(runs: list[dict]) -> dict[str, float]:
    """From built ELFs: the firmware's own flash (code + data, no model) and SRAM besides the model's input, arena
    and float logits (stack, runtime state, canaries; the largest seen), ExecuTorch's bytes around the blob in a
    .pte, and the blob's bytes per tensor that the shape-only program does not have (the edge graph's tensor names
    and non-default quantization fields): least squares over the calibration networks."""
    flash = [r["flash_bytes"] - r["sections"][".pte_blob"] for r in runs if r["pte_region"] == "FLASH"]
    extra, tensors = [], []
    for r in runs:
        program = _program(r)
        plan_program(program)
        extra.append(r["delegate_bytes"] - len(serialize(program)))
        tensors.append(len(program.tensors))
    return {"flash_bytes": max(flash), "flash_bytes_min": min(flash),
            "pte_overhead_bytes": max(r["pte_bytes"] - r["delegate_bytes"] for r in runs),
            "blob_bytes_per_tensor": float(np.dot(extra, tensors) / np.dot(tensors, tensors)),
            "ram_bytes": max(r["ram_bytes"] - r["arena_bytes"] - 4 * r["arch"]["num_classes"] for r in runs),
            "stack_bytes": runs[0]["sections"][".stack"]}


def _md(rows: list[dict], seeds: list[dict], model: CostModel, held: dict) -> str:
    lines = [
        "# Latency predictor: predicted vs QEMU instructions per inference",
        "",
        f"Cost model fit on {len(CALIBRATION_ARCHS)} calibration networks and {len(TILED_CALIBRATION)} tiled ones "
        f"({model.meta.get('ops', 0)} op rows), "
        f"runtime sources `{model.source_hash}`. Held-out architectures predicted from the architecture alone "
        "(no weights; 'tiled': lowered for the STM32F746's SRAM budget); QEMU = exact count of the real firmware, one "
        "random image, random weights. Flash = the "
        "firmware's internal flash (code + data + the `.pte` when it is linked there), predicted vs the built ELF.",
        "",
        f"Max |error| {held['max_abs_error'] * 100:.2f}% (target {TARGET_ERROR * 100:.0f}%), mean |error| "
        f"{held['mean_abs_error'] * 100:.2f}%, {held['within_target']}/{len(rows)} within target.",
        "",
        "| architecture | MACs | QEMU instructions | predicted | error | ms @216 MHz | flash (ELF) | flash predicted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['short']} | {r['macs']:,} | {r['qemu_instructions']:,} | {r['predicted']:,.0f} | "
                     f"{r['error'] * 100:+.2f}% | {r['ms_216MHz']:.1f} | {r['flash_bytes']:,} ({r['pte_region']}) | "
                     f"{r['flash_predicted']:,} |")
    lines += ["", "Weights do not change the cost (same architecture, other weights and image):", "",
              "| architecture | seed 0 | seed 1 | difference |", "|---|---|---|---|"]
    for s in seeds:
        lines.append(f"| {s['short']} | {s['instructions'][0]:,} | {s['instructions'][1]:,} | "
                     f"{s['relative_difference'] * 100:+.3f}% |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--held-out", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(REPO / "build" / "cost"))
    ap.add_argument("--no-fit", action="store_true", help="keep the committed calibration; only measure the error")
    a = ap.parse_args(argv)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    src = runtime_sources_hash()
    t0 = time.time()

    if a.no_fit:
        model = CostModel.load()
    else:
        calib, tiled = [], []
        for i, arch in enumerate(CALIBRATION_ARCHS):
            print(f"[calibration {i + 1}/{len(CALIBRATION_ARCHS)}] {arch.short()}", flush=True)
            calib.append(measure(arch, 0, work, src))
        for i, (arch, budget) in enumerate(TILED_CALIBRATION):
            print(f"[tiled calibration {i + 1}/{len(TILED_CALIBRATION)}] {arch.short()} budget {budget:,} B",
                  flush=True)
            tiled.append(measure(arch, 0, work, src, budget))
        runs = [(_program(r), {int(k): v for k, v in r["per_op"].items()}, float(r["instructions"]))
                for r in calib + tiled]
        model = CostModel.fit(runs, src)
        model.meta = {"calibration_archs": [x.short() for x in CALIBRATION_ARCHS],
                      "tiled_calibration": [[x.short(), b] for x, b in TILED_CALIBRATION],
                      "ops": sum(len(r["per_op"]) for r in calib + tiled),
                      "fit_errors": [(model.instructions(p) - t) / t for p, _, t in runs],
                      "programs_match_arch": all(r["program_matches_arch"] for r in calib + tiled),
                      "firmware": firmware_overheads(calib)}
        model.save(CALIBRATION)
        cost_model._DEFAULT = model  # the held-out tiles are chosen by the new calibration, as in a fresh process
        print(f"wrote {CALIBRATION} (sources {src})", flush=True)

    seeds = []
    for arch in SEED_CHECK:
        r0, r1 = measure(arch, 0, work, src), measure(arch, 1, work, src)
        seeds.append({"short": arch.short(), "instructions": [r0["instructions"], r1["instructions"]],
                      "relative_difference": (r1["instructions"] - r0["instructions"]) / r0["instructions"]})

    f746 = model_sram_budget("stm32f746")
    cases = [(arch, 0) for arch in held_out_archs(a.held_out, a.seed)]
    cases += [(arch, f746) for arch, _ in cases[::3]]
    rows = []
    for i, (arch, budget) in enumerate(cases):
        print(f"[held-out {i + 1}/{len(cases)}] {arch.short()}" + (f" budget {budget:,} B" if budget else ""),
              flush=True)
        r = measure(arch, 0, work, src, budget)
        t1 = time.perf_counter()
        pred = LatencyPredictor(model=model, sram_budget=budget).instructions(arch)
        predict_ms = (time.perf_counter() - t1) * 1e3
        flash = predict_flash(arch, budget)
        # the ELF's flash when the .pte is linked into internal flash; with a QSPI .pte, code + the .pte there
        measured_flash = r["flash_bytes"] + (r["pte_bytes"] if r["pte_region"] != "FLASH" else 0)
        rows.append({"arch": arch.to_dict(), "short": arch.short() + (" tiled" if budget else ""),
                     "sram_budget": budget, "macs": macs(arch),
                     "qemu_instructions": r["instructions"], "predicted": pred,
                     "error": (pred - r["instructions"]) / r["instructions"], "predict_ms": predict_ms,
                     "ms_216MHz": pred / 216e6 * 1e3, "flash_bytes": measured_flash, "pte_region": r["pte_region"],
                     "flash_predicted": flash.total_bytes, "pte_bytes": r["pte_bytes"],
                     "pte_predicted": flash.pte_bytes})
    errs = [abs(r["error"]) for r in rows]
    held = {"max_abs_error": max(errs), "mean_abs_error": float(np.mean(errs)),
            "within_target": sum(e <= TARGET_ERROR for e in errs), "target": TARGET_ERROR}
    out = {"source_hash": src, "calibration": model.to_dict(), "held_out": held, "rows": rows, "seed_check": seeds,
           "seconds": round(time.time() - t0, 1),
           "command": ".venv/bin/python benchmarks/bench_latency.py " + " ".join(argv or sys.argv[1:])}
    write_json_atomic(RESULTS / "latency.json", out, indent=1)
    write_text_atomic(RESULTS / "latency.md", _md(rows, seeds, model, held))
    print(_md(rows, seeds, model, held))
    return 0 if held["within_target"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
