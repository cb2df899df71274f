"""Cortex-M7 cost of MCUFormer ViTs on the emulated board (QEMU mps2-an500 with the STM32F746's budgets).

    .venv/bin/python -m benchmarks.bench_mcu [--quick] [--out benchmarks/results/mcu.json] [--sram-budget BYTES]
                                             [--tradeoff-only [--tradeoff-qemu]] [--anchor-only]

Cost = executed instructions, counted exactly by the QEMU TCG plugin (tools/qemu_plugin): per inference, per op
(op kind), per kernel function. QEMU models no pipeline, caches or wait states, so ms at 216 MHz below is
instructions / 216e6: a LOWER bound that assumes one instruction per cycle (the M7 dual-issues some pairs, flash/QSPI
wait states and cache misses cost more).

Models (all with RANDOM weights: accuracy is not measured here, only cost and bit-exactness):
  fmnist     a Fashion-MNIST sub-net of FMNIST_SPACE (28x28x1, patch 4, embed 64, depth 4, 2 heads of 16, MLP 2,
             rank 0.6), calibrated and run on Fashion-MNIST test images when the data set is installed
  imagenet   MCUFormer's 240x240x3 sub-net: embed 192, depth 12, 3 heads of 64, MLP 4, rank 0.9, patch 20 (145 tokens)
  anchor     one full-rank ViT block at ANCHORS.md's shapes (embed 192, 145 tokens, 3 heads of 64, MLP 4): the per-kernel
             microbenchmark (linear 145x192->576 (as q + k|v linears) and the block's other linears, q k^T and attention x V per head, softmax over 145 columns, residual
             add, LayerNorm; GELU is a LUT fused into fc1's epilogue) against ARM CMSIS-NN's numbers from ANCHORS.md

Each model is lowered with an SRAM budget (default: the F746's, mcuformer.targets.model_sram_budget) that the
backend spends on multi-token tiles (the rows x iterations of each token loop are in "tiles"), and runs with the
Cortex-M7 DSP kernels (cm7) and with the scalar reference kernels (ref); the outputs must be identical (checked).
MACs per op come from the lowered program's shapes times the number of calls the plugin saw. "dispatch_per_op_call"
is the runner's own instructions (op loop, address resolution, profiling hook) per op call.
"models.imagenet.sram_tradeoff": the ImageNet network's tiles, predicted instructions (the shared cost model, as the
search predicts) and, with --tradeoff-qemu, QEMU's count, against the SRAM budget, for an int8 image the plan overwrites
(the deployed default: the image is in SRAM) and an int8 frame read in place (e.g. from SDRAM).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from mcuformer import mcu

from mcuformer.backend.passes import tile_tokens
from mcuformer.targets import model_sram_budget

REPO = Path(__file__).resolve().parents[1]

CLOCK_HZ = 216e6
# ANCHORS.md: ARM CMSIS-NN v7.0.0 (DSP path, gcc 12 -O2) on QEMU at ViT shapes, and our targets.
CMSIS_NN = {
    "linear_block": {"cmsis_nn": 2.13, "cmsis_nn_1x1conv": 1.63, "target": 1.0, "unit": "instructions/MAC"},
    "qk_t": {"cmsis_nn": 2.76, "target": 1.1, "unit": "instructions/MAC"},
    "av": {"cmsis_nn": 2.35, "target": 1.1, "unit": "instructions/MAC"},
    "softmax_145": {"cmsis_nn": 522.0, "target": 40.0, "unit": "instructions/element"},
    "add": {"cmsis_nn": 80.0, "target": 10.0, "unit": "instructions/element"},
    "layernorm": {"cmsis_nn": None, "target": 30.0, "unit": "instructions/element"},
    "gelu": {"cmsis_nn": None, "target": 30.0, "unit": "instructions/element"},
    "vit_block": {"cmsis_nn": 191e6, "target": 0.45 * 191e6, "unit": "instructions"},
}


def archs(quick: bool):
    from mcuformer.nas.space import Arch

    big = dict(img_size=240, in_chans=3, num_classes=1000, patch_size=20, embed_dim=192, num_heads=3, head_dim=64,
               mlp_ratio=4.0)
    return {
        "fmnist": Arch(img_size=28, in_chans=1, num_classes=10, patch_size=4, embed_dim=64, depth=4, num_heads=2,
                       head_dim=16, mlp_ratio=2.0, rank_ratio=0.6),
        "imagenet": Arch(depth=2 if quick else 12, rank_ratio=0.9, **big),
        "anchor": Arch(depth=1, rank_ratio=1.0, **big),
    }


def images(arch, n: int, seed: int) -> np.ndarray:
    if arch.img_size == 28:
        try:
            from mcuformer.nas.data import load_fashion_mnist, normalize

            return normalize(load_fashion_mnist().test.images[seed:seed + n]).numpy().astype(np.float32)
        except Exception:  # noqa: BLE001 - data set not installed: random images (cost does not depend on them)
            pass
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, arch.in_chans, arch.img_size, arch.img_size)).astype(np.float32)


def quantized(arch):
    from mcuformer.backend.pipeline import quantize
    from mcuformer.nas.vit import ViT

    torch.manual_seed(0)
    example = (torch.from_numpy(images(arch, 1, 0)),)
    calib = [torch.from_numpy(x[None]) for x in images(arch, 8, 100)]
    return quantize(ViT(arch).eval(), example, calib), example


def build(arch, out: Path, sram_budget: int | None, q=None):
    """Lowers ViT(arch) with the SRAM budget the tile choice may fill (0: one token row per iteration; None: the
    default board's, as MCUFormerPartitioner())."""
    from executorch.exir import to_edge_transform_and_lower

    from mcuformer.backend import MCUFormerPartitioner
    from mcuformer.backend.pipeline import Lowered

    q, example = q or quantized(arch)
    partitioner = MCUFormerPartitioner(sram_budget=sram_budget)
    edge = to_edge_transform_and_lower(torch.export.export(q, example, strict=True), partitioner=[partitioner])
    lowered = Lowered(edge, partitioner, None)
    assert lowered.undelegated_ops() == [], lowered.undelegated_ops()
    out.write_bytes(lowered.to_pte())
    return lowered.programs()[0]


def op_work(program, op) -> tuple[str, int]:
    """('MAC', MACs per call) for linear/matmul/conv, else ('element', output elements per call)."""
    t = program.tensors
    out = t[op.outputs[0]] if op.outputs else None
    if op.kind == "Linear":
        return "MAC", out.numel * t[op.inputs[1]].shape[1]
    if op.kind == "Conv2d":
        w = t[op.inputs[1]].shape
        return "MAC", out.numel * w[1] * w[2] * w[3]
    if op.kind == "Matmul":
        return "MAC", out.numel * t[op.inputs[0]].shape[-1]
    return "element", (out.numel if out is not None else 0)


def analyse(program, s: dict) -> dict:
    per_kind: dict[str, dict] = defaultdict(lambda: {"instructions": 0.0, "calls": 0, "work": 0, "unit": ""})
    per_op = []
    for rec in s["per_op_instructions"]:
        op = program.ops[rec["index"]]
        unit, work = op_work(program, op)
        calls = rec["calls"] / max(s["inferences"], 1)
        k = per_kind[op.kind]
        k["instructions"] += rec["instructions"]
        k["calls"] += calls
        k["work"] += work * calls
        k["unit"] = unit
        per_op.append({"index": rec["index"], "kind": op.kind, "instructions": rec["instructions"], "calls": calls,
                       "work": work * calls, "unit": unit,
                       "shapes": [list(program.tensors[i].shape) for i in op.inputs[:2]]})
    for k in per_kind.values():
        # Per-op counts (the profile sled marks op boundaries) include dispatch and every helper the op calls
        # (e.g. the shared gemv::dot4 of linear/conv/matmul), so they are the kernel cost per op kind.
        k["per_unit"] = k["instructions"] / k["work"] if k["work"] else None
        if k["unit"] == "MAC" and k["instructions"]:
            k["macs_per_instruction"] = k["work"] / k["instructions"]
    funcs = sorted(s["per_function_instructions"].items(), key=lambda t: -t[1])[:20]
    # Dispatch: the runner's own functions (op loop, address and shape resolution, the profiling hook and the sled
    # that marks op boundaries) per op call; kernels and their helpers are not counted.
    calls = sum(rec["calls"] for rec in s["per_op_instructions"]) / max(s["inferences"], 1)
    dispatch = sum(v for name, v in s["per_function_instructions"].items()
                   if "Runner::" in name or name.startswith(("mcuformer::model_run(", "mcuformer_profile_op",
                                                             "mcu_prof_sled")))
    return {"per_kind": dict(per_kind), "per_op": per_op, "top_functions": dict(funcs),
            "op_calls": calls, "dispatch_instructions": dispatch,
            "dispatch_per_op_call": dispatch / calls if calls else None}


def run_model(name, arch, workdir: Path, n_images: int, sram_budget: int | None) -> dict:
    t0 = time.time()
    pte = workdir / f"{name}.pte"
    program = build(arch, pte, sram_budget)
    x = images(arch, n_images, 1000)
    res = {"arch": arch.to_dict(), "build_s": round(time.time() - t0, 1), "weights": "random",
           "sram_budget": sram_budget, "tiles": tile_tokens.tile_report(program)}
    outs = {}
    for kernels in ("cm7", "ref"):
        t1 = time.time()
        out, s = mcu.run_mcu(pte, x, runtime="real", kernels=kernels, timeout=1200)
        outs[kernels] = out
        a = analyse(program, s)
        res[kernels] = {
            "instructions": s["instructions"], "ms_at_216MHz_lower_bound": s["instructions"] / CLOCK_HZ * 1e3,
            "ram_bytes": s["ram_bytes"], "flash_bytes": s["flash_bytes"], "qspi_bytes": s["qspi_bytes"],
            "sdram_bytes": s["sdram_bytes"], "arena_bytes": s["arena_bytes"], "stack_peak_bytes": s["stack_peak_bytes"],
            "pte_region": s["pte_region"], "pte_bytes": s["pte_bytes"], "qemu_s": round(time.time() - t1, 1),
            "per_kind": a["per_kind"], "per_op": a["per_op"], "top_functions": a["top_functions"],
            "op_calls": a["op_calls"], "dispatch_instructions": a["dispatch_instructions"],
            "dispatch_per_op_call": a["dispatch_per_op_call"],
        }
    res["dsp_identical_to_ref"] = bool(np.array_equal(outs["cm7"], outs["ref"]))
    res["speedup_instructions"] = res["ref"]["instructions"] / res["cm7"]["instructions"]
    res["program"] = program
    return res


# The F746's budget for the model's plan (input pool + arena): 320 KB less the firmware's own needs (1000 logits).
F746_BUDGET = model_sram_budget("stm32f746", 1000)
# The SRAM budgets of the ImageNet network's trade-off table (bytes of planned memory: input pool + arena).
TRADEOFF_BUDGETS = [32 << 10, 64 << 10, 128 << 10, 256 << 10, F746_BUDGET]
# The int8-input deployments of the trade-off table: (name, the delegate may overwrite its input).
TRADEOFF_INPUTS = (("image_in_sram", True), ("frame_in_place", False))


def sram_tradeoff(arch, workdir: Path | None) -> list[dict]:
    """The tile choice and predicted instructions (plan_vit's program, the shared cost model) against the SRAM budget,
    for each int8-input deployment; with a workdir also QEMU's count of the lowered network (random weights, each
    distinct tiling once), whose plan must be plan_vit's. A budget below the smallest plan gets the smallest plan
    (fits = False). "predicted_instructions" is None where the cost model was not calibrated on an op of the program
    (the class-token Concat left when the input is read in place); "predicted_token_loops" (the stages the tiles
    change) is always there."""
    from mcuformer.backend.cost import default_model
    from mcuformer.backend.memory.vit import plan_vit, planned_vit

    rows, measured = [], {}
    q = quantized(arch) if workdir is not None else None
    for mode, overwrite in TRADEOFF_INPUTS:
        smallest = plan_vit(arch, True, overwrite, sram_budget=0).total_sram_bytes  # one row per iteration
        for budget in TRADEOFF_BUDGETS:
            program, rep = planned_vit(arch, True, overwrite, sram_budget=budget)  # plan_vit's
            tiles = tile_tokens.tile_report(program)
            try:
                pred = default_model().instructions(program)
            except KeyError:
                pred = None
            row = {"input": mode, "sram_budget": budget, "fits": rep.total_sram_bytes <= budget,
                   "planned_bytes": rep.total_sram_bytes, "smallest_plan_bytes": smallest,
                   "predicted_instructions": pred,
                   "predicted_ms_at_216MHz": pred / CLOCK_HZ * 1e3 if pred is not None else None,
                   "predicted_token_loops": sum(t["predicted_instructions"] for t in tiles),
                   "max_rows": max((t["rows"] for t in tiles), default=1),
                   "tiles": sorted({f"{t['rows']}x{t['iterations']}" for t in tiles})}
            key = (mode, tuple((t["rows"], t["iterations"]) for t in tiles))
            if q is not None:
                if key not in measured:
                    measured[key] = _measure_tradeoff(arch, q, workdir / f"{mode}-{budget}.pte", overwrite, budget,
                                                      rep)
                row.update(measured[key])
            rows.append(row)
            print(f"[sram_tradeoff] {mode} budget {budget:,} B: planned {rep.total_sram_bytes:,} B, max rows "
                  f"{row['max_rows']}, predicted {fmt(pred)} (token loops {fmt(row['predicted_token_loops'])})"
                  + (f", QEMU {row['qemu_instructions']:,}" if q else ""), file=sys.stderr, flush=True)
    return rows


def _measure_tradeoff(arch, q, pte: Path, overwrite: bool, budget: int, rep) -> dict:
    from mcuformer.backend.pipeline import lower

    quant, example = q
    lowered = lower(quant, example, overwrite_input=overwrite, int8_input=True, sram_budget=budget)
    program = lowered.programs()[0]
    assert program.input_pool_bytes + program.arena_bytes == rep.total_sram_bytes, "plan_vit != the deployed plan"
    pte.write_bytes(lowered.to_pte())
    _, s = mcu.run_mcu(pte, lowered.quantize_input(images(arch, 1, 1000)), runtime="real", kernels="cm7",
                       timeout=1800)
    return {"qemu_instructions": s["instructions"], "ram_bytes": s["ram_bytes"]}


def anchor_kernels(res: dict) -> dict:
    """Per-kernel numbers of the anchor block (per op, dispatch included) against CMSIS-NN."""
    program = res.pop("program")
    rows = {}
    for kernels in ("cm7", "ref"):
        ops = res[kernels]["per_op"]

        def pick(pred):
            sel = [o for o in ops if pred(o, program.ops[o["index"]])]
            ins = sum(o["instructions"] for o in sel)
            work = sum(o["work"] for o in sel)
            return ins / work if work else None

        made_by = {t: op.kind for op in program.ops for t in op.outputs}
        # attention x V multiplies the softmax output (by V, or by V^T rows with transpose_b: tile_tokens)
        is_av = lambda op: op.kind == "Matmul" and made_by.get(op.inputs[0]) == "Softmax"  # noqa: E731
        first_add = min(o["index"] for o in ops if o["kind"] == "Add")
        last_ln = max(o["index"] for o in ops if o["kind"] == "LayerNorm")
        vals = {
            # qkv (192->576, lowered as q and k|v linears), proj, fc1, fc2 of the block: M = 1 token per call
            "linear_block": pick(lambda o, op: op.kind == "Linear" and first_add < o["index"] < last_ln),
            "qk_t": pick(lambda o, op: op.kind == "Matmul" and not is_av(op)),
            "av": pick(lambda o, op: is_av(op)),
            "softmax_145": pick(lambda o, op: op.kind == "Softmax"),
            "add": pick(lambda o, op: op.kind == "Add" and o["index"] != first_add),
            "layernorm": pick(lambda o, op: op.kind == "LayerNorm" and o["index"] != last_ln),
            "gelu": 0.0,  # a 256-entry LUT applied in fc1's requantization epilogue: counted in the linear
            "vit_block": sum(o["instructions"] for o in ops if first_add < o["index"] < last_ln),
        }
        rows[kernels] = vals
    table = {}
    for key, ref in CMSIS_NN.items():
        ours = rows["cm7"][key]
        table[key] = {**ref, "ours_cm7": ours, "ours_ref": rows["ref"][key],
                      "ratio_to_cmsis_nn": (ours / ref["cmsis_nn"]) if ref["cmsis_nn"] and ours else None,
                      "meets_target": (ours is not None and ours <= ref["target"])}
    return table


def fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, float) and abs(v) >= 1e5:
        return f"{v / 1e6:,.1f}M"
    return f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}"


def print_tables(results: dict) -> None:
    for name, r in results.get("models", {}).items():
        c, f = r["cm7"], r["ref"]
        print(f"\n== {name}: {json.dumps(r['arch'])}  (random weights)")
        print(f"instructions/inference: cm7 {c['instructions']:,}  ref {f['instructions']:,}  "
              f"ratio ref/cm7 {r['speedup_instructions']:.2f}x  identical outputs: {r['dsp_identical_to_ref']}")
        print(f"ms @216 MHz (lower bound, 1 instr/cycle): cm7 {c['ms_at_216MHz_lower_bound']:.1f}  "
              f"ref {f['ms_at_216MHz_lower_bound']:.1f}")
        print(f"op calls {c['op_calls']:,.0f}, dispatch {c['dispatch_instructions']:,.0f} instructions "
              f"({c['dispatch_per_op_call']:,.0f} per op call); tiles (rows x iterations): "
              + ", ".join(f"{t['rows']}x{t['iterations']}" for t in r["tiles"][:6])
              + (" ..." if len(r["tiles"]) > 6 else ""))
        print(f"RAM {c['ram_bytes']:,} B (arena {c['arena_bytes']:,}, stack peak {c['stack_peak_bytes']:,})  "
              f"flash {c['flash_bytes']:,} B  QSPI {c['qspi_bytes']:,} B ({c['pte_region']})  "
              f"SDRAM frame {c['sdram_bytes']:,} B")
        print(f"{'op kind':<11}{'cm7 instr':>14}{'ref instr':>14}{'ref/cm7':>8}{'calls':>9}{'work':>14}"
              f"{'cm7/unit':>10}{'ref/unit':>10}{'MAC/instr cm7':>14}{'ref':>7}")
        kinds = sorted(c["per_kind"], key=lambda k: -c["per_kind"][k]["instructions"])
        for k in kinds:
            a, b = c["per_kind"][k], f["per_kind"][k]
            mpi = a.get("macs_per_instruction")
            mpi_r = b.get("macs_per_instruction")
            print(f"{k:<11}{a['instructions']:>14,.0f}{b['instructions']:>14,.0f}"
                  f"{b['instructions'] / a['instructions']:>8.2f}{a['calls']:>9,.0f}"
                  f"{a['work']:>12,.0f} {a['unit'][:1]}{fmt(a['per_unit']):>10}{fmt(b['per_unit']):>10}"
                  f"{fmt(mpi, 3):>14}{fmt(mpi_r, 3):>7}")
    tradeoff = results.get("models", {}).get("imagenet", {}).get("sram_tradeoff")
    if tradeoff:
        print("\n== imagenet: tiles against the SRAM budget (int8 input; planned memory: pool + arena)")
        print(f"{'input':<16}{'budget':>10}{'fits':>6}{'planned':>10}{'rows':>6}{'predicted':>12}"
              f"{'token loops':>12}{'QEMU':>12}")
        for t in tradeoff:
            print(f"{t['input']:<16}{t['sram_budget']:>10,}{str(t['fits']):>6}{t['planned_bytes']:>10,}"
                  f"{t['max_rows']:>6}{fmt(t['predicted_instructions']):>12}{fmt(t['predicted_token_loops']):>12}"
                  f"{fmt(t.get('qemu_instructions')):>12}")
    if "anchor_kernels" not in results:
        return
    print("\n== per-kernel vs ARM CMSIS-NN (ANCHORS.md), anchor block E192 N145 H3 MLP4, per op incl. dispatch")
    print(f"{'kernel':<16}{'unit':<22}{'CMSIS-NN':>10}{'target':>10}{'ours cm7':>10}{'ours ref':>10}"
          f"{'cm7/CMSIS':>10}{'meets':>7}")
    for k, v in results["anchor_kernels"].items():
        print(f"{k:<16}{v['unit']:<22}{fmt(v['cmsis_nn']):>10}{fmt(v['target']):>10}{fmt(v['ours_cm7']):>10}"
              f"{fmt(v['ours_ref']):>10}{fmt(v['ratio_to_cmsis_nn']):>10}{str(v['meets_target']):>7}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="imagenet model with depth 2 instead of 12")
    ap.add_argument("--images", type=int, default=1, help="inferences per model run (cost is data-independent)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "mcu.json"))
    ap.add_argument("--tradeoff-only", action="store_true",
                    help="only (re)compute models.imagenet.sram_tradeoff (predicted), merged into the --out JSON")
    ap.add_argument("--tradeoff-qemu", action="store_true", help="the trade-off table with QEMU counts too (slow)")
    ap.add_argument("--anchor-only", action="store_true",
                    help="only (re)run the anchor block: models.anchor and anchor_kernels, merged into the --out JSON")
    ap.add_argument("--sram-budget", type=int, default=F746_BUDGET,
                    help="bytes the delegate's plan may use for multi-token tiles (default: the F746's 320 KB less "
                         "the firmware's own needs); 0: one token row per iteration")
    a = ap.parse_args(argv)
    budget = a.sram_budget
    if a.tradeoff_only:
        results = json.loads(Path(a.out).read_text())
        with tempfile.TemporaryDirectory(prefix="bench-mcu-") as d:
            results["models"]["imagenet"]["sram_tradeoff"] = sram_tradeoff(
                archs(a.quick)["imagenet"], Path(d) if a.tradeoff_qemu else None)
        print_tables(results)
        Path(a.out).write_text(json.dumps(results, indent=1, default=float))
        return 0
    if a.anchor_only:
        out = Path(a.out)
        results = json.loads(out.read_text()) if out.exists() else {"models": {}}
        with tempfile.TemporaryDirectory(prefix="bench-mcu-") as d:
            anchor = run_model("anchor", archs(a.quick)["anchor"], Path(d), a.images, budget)
        results["models"]["anchor"] = anchor
        results["anchor_kernels"] = anchor_kernels(anchor)  # takes the program out of `anchor`
        print_tables({"models": {"anchor": anchor}, "anchor_kernels": results["anchor_kernels"]})
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=float))
        return 0
    results = {"cost_model": "executed instructions on QEMU mps2-an500 (Cortex-M7), exact plugin counts; "
                             "ms = instructions / 216 MHz, a lower bound",
               "models": {}}
    with tempfile.TemporaryDirectory(prefix="bench-mcu-") as d:
        for name, arch in archs(a.quick).items():
            print(f"[{name}] building and running ...", file=sys.stderr, flush=True)
            results["models"][name] = run_model(name, arch, Path(d), a.images, budget)
    results["anchor_kernels"] = anchor_kernels(results["models"]["anchor"])
    for r in results["models"].values():
        r.pop("program", None)
    with tempfile.TemporaryDirectory(prefix="bench-mcu-") as d:
        results["models"]["imagenet"]["sram_tradeoff"] = sram_tradeoff(archs(a.quick)["imagenet"], Path(d))
    print_tables(results)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=1, default=float))
    print(f"\nwrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
