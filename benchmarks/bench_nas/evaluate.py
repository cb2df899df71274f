"""Evaluation stage (CPU): fp32 top-1, int8 through ExecuTorch's runtime + the C++ delegate on all 10k test images,
memory (plan_vit and the .pte's own plan), Cortex-M7 instructions in QEMU; the from-scratch diagnostic."""
from __future__ import annotations

import argparse
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import torch

from mcuformer.io import write_json_atomic
from mcuformer.nas.space import Arch, macs, param_count

from . import common
from .common import BUDGETS, KB, log
from .report import load, save


def load_packed_vit(path: Path):
    """A sub-net as train.py's pack wrote it (weights only, no optimizer state): (the ViT, the packed dict)."""
    from mcuformer.nas.vit import ViT

    st = torch.load(path, map_location="cpu", weights_only=True)
    vit = ViT(Arch.from_dict(st["arch"]))
    vit.load_state_dict(st["model"])
    return vit.eval(), st


def deploy_and_eval(vit, data, work: Path, name: str, qemu_images: int, skip_qemu: bool,
                    sram_budget: int) -> dict[str, Any]:
    """int8-input .pte (what plan_vit budgets) tiled for the search's `sram_budget`, 10k test images through
    ExecuTorch's runtime, memory, QEMU."""
    from mcuformer.backend.memory import plan_vit
    from mcuformer.backend.memory.report import blob_report
    from mcuformer.backend.pipeline import lower, quantize
    from mcuformer.backend.runtime_loader import run_pte
    from mcuformer.nas.data import calibration_images, normalize

    arch = vit.arch
    t0 = time.time()
    calib = calibration_images(data)  # the main job's calibration: the same network gives the same .pte
    example = (calib[0],)
    q = quantize(vit, example, calib)
    lowered = lower(q, example, overwrite_input=True, int8_input=True, sram_budget=sram_budget)
    scale, zp = lowered.input_qparams
    assert lowered.undelegated_ops() == [], lowered.undelegated_ops()
    blob = lowered.programs()[0]
    pte = lowered.to_pte()
    pte_path = work / f"{name}.pte"
    pte_path.write_bytes(pte)
    rep = blob_report(blob)
    plan = plan_vit(arch, sram_budget=sram_budget)
    lower_s = time.time() - t0

    t0 = time.time()
    x8 = lowered.quantize_input(normalize(data.test.images).numpy())  # as the main job hands images to the device
    host = run_pte(pte, x8)
    int8_top1 = float((host.argmax(1) == data.test.labels.numpy()).mean())
    host_s = time.time() - t0
    row = {"int8_top1": int8_top1, "test_images": len(data.test), "host_seconds_10k": round(host_s, 1),
           "lower_seconds": round(lower_s, 1), "sram_bytes": rep.total_sram_bytes,
           "plan_vit_sram_bytes": plan.total_sram_bytes, "sram_matches_plan_vit": rep.total_sram_bytes ==
           plan.total_sram_bytes, "arena_bytes": rep.arena_bytes, "weights_bytes": rep.flash_bytes,
           "pte_bytes": len(pte), "input_scale": float(scale), "input_zero_point": int(zp)}
    log(f"{name}: int8 {100 * int8_top1:.2f}% on 10k ({host_s:.0f} s), SRAM {rep.total_sram_bytes} "
        f"(plan_vit {plan.total_sram_bytes}), weights {rep.flash_bytes}, .pte {len(pte)}")
    if not skip_qemu:
        row["mcu"] = qemu_row(pte_path, x8[:qemu_images], host[:qemu_images], name)
    return row


def qemu_row(pte_path: Path, x8, host, name: str) -> dict[str, Any]:
    """One QEMU boot on the int8 images x8: instructions per inference, RAM/flash, identical to the host's outputs
    (``host``, from ExecuTorch's runtime) on them?"""
    import numpy as np

    from mcuformer import mcu

    t0 = time.time()
    try:
        outs, s = mcu.run_mcu(pte_path, x8, timeout=1800, frame_region="RAM")  # as the main job: image in SRAM
    except Exception as e:  # noqa: BLE001 - recorded; `qemu` re-runs it later
        log(f"{name}: QEMU failed: {type(e).__name__}: {str(e)[:300]}")
        return {"error": f"{type(e).__name__}: {str(e)[:500]}"}
    row = {k: s.get(k) for k in ("board", "instructions", "instructions_min", "instructions_max", "ram_bytes",
                                 "flash_bytes", "qspi_bytes", "arena_bytes", "pte_region", "kernels", "inferences")}
    row["images"] = len(x8)
    row["identical_to_host"] = bool(np.array_equal(np.asarray(outs).reshape(host.shape), host))
    row["seconds"] = round(time.time() - t0, 1)
    log(f"{name}: QEMU {s.get('instructions')} instructions/inference, RAM {s.get('ram_bytes')}, "
        f"flash {s.get('flash_bytes')}, identical {row['identical_to_host']}")
    return row


def cmd_qemu(a: argparse.Namespace) -> int:
    """Fill in (or redo) the QEMU numbers of nas.json from the .pte files `evaluate` saved."""
    from mcuformer.backend.quant_math import quantize_f32
    from mcuformer.backend.runtime_loader import run_pte
    from mcuformer.nas.data import load_fashion_mnist, normalize

    doc = load()
    data = load_fashion_mnist()
    xs = normalize(data.test.images[: a.qemu_images]).numpy()
    for r in doc["rows"]:
        for side in ("searched", "baseline"):
            dep = r.get(f"{side}_deploy")
            if not dep or (dep.get("mcu") or {}).get("instructions") and not a.force:
                continue
            pte = Path(a.work) / f"{side}_{r['budget_bytes']}.pte"
            x8 = quantize_f32(xs, 1.0 / dep["input_scale"], dep["input_zero_point"])
            dep["mcu"] = qemu_row(pte, x8, run_pte(pte, x8), f"{side}_{r['budget_bytes']}")
            r[f"{side}_instructions"] = dep["mcu"].get("instructions")
    save(doc)
    return 0


def cmd_scratch(a: argparse.Namespace) -> int:
    """Diagnostic: the searched architecture trained from scratch with the baselines' recipe and epochs (no supernet
    weights), deployed the same way; added to its row as searched_arch_scratch_*. Separates the architecture the
    search chose from the quality of the inherited weights."""
    from mcuformer.nas.data import load_fashion_mnist
    from mcuformer.nas.train import TrainConfig, evaluate, finetune

    torch.set_num_threads(a.threads)
    bundle = Path(a.bundle)
    rec = json.loads((bundle / "manifest.json").read_text())["recipe"]
    from mcuformer.nas.pipeline import SearchResult

    arch = SearchResult.load(bundle / f"search_{a.budget * KB}.json").arch
    data = load_fashion_mnist()
    cfg = TrainConfig(epochs=rec["baseline"]["epochs"], batch_size=rec["batch_size"], lr=rec["baseline"]["lr"],
                      warmup_steps=100, eval_size=2000, device="cpu", num_threads=a.threads)
    t0 = time.time()
    vit = finetune(arch, cfg, Path(a.work) / f"scratch_{a.budget * KB}", data=data, progress=False).eval()
    secs = time.time() - t0
    fp32 = evaluate(vit, data.test)
    dep = deploy_and_eval(vit, data, Path(a.work), f"scratch_{a.budget * KB}", 0, True, a.budget * KB)
    side = common.RESULTS / "nas_scratch.json"
    extra = json.loads(side.read_text()) if side.exists() else {}
    extra[str(a.budget * KB)] = {
        "searched_arch_scratch_fp32_top1": fp32, "searched_arch_scratch_int8_top1": dep["int8_top1"],
        "searched_arch_scratch_epochs": cfg.epochs, "searched_arch_scratch_lr": cfg.lr,
        "searched_arch_scratch_trained_on": f"host CPU, {a.threads} thread(s), {secs:.0f} s"}
    write_json_atomic(side, extra)
    if (common.RESULTS / "nas.json").exists():
        save(load())
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from mcuformer.nas.data import load_fashion_mnist
    from mcuformer.nas.pipeline import SearchResult
    from mcuformer.nas.train import evaluate

    torch.set_num_threads(a.threads or 1)
    bundle = Path(a.bundle)
    if not (bundle / "manifest.json").exists():  # a folder of nas_*.tar files (from `train --pack`)
        for t in sorted(bundle.glob("nas_*.tar")):
            with tarfile.open(t) as tf:
                tf.extractall(Path(a.work), filter="data")
        bundle = Path(a.work) / "bundle"
    man = json.loads((bundle / "manifest.json").read_text())
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = load_fashion_mnist()
    rows = []
    pareto: dict[str, Any] = {}
    for sram, flash in BUDGETS:
        if a.budgets and sram // KB not in a.budgets:
            continue
        sj = bundle / f"search_{sram}.json"
        if not sj.exists() or not (bundle / f"ft_{sram}.pt").exists():
            log(f"budget {sram}: no searched model in the bundle")
            continue
        res = SearchResult.load(sj)
        cands = [c for c in res.candidates if c.fits and c.score is not None]
        pareto[str(sram)] = [{"sram_bytes": c.sram_bytes, "val_acc": c.score, "short": c.arch.short()} for c in cands]
        vit, st = load_packed_vit(bundle / f"ft_{sram}.pt")
        row: dict[str, Any] = {"budget_bytes": sram, "flash_budget_bytes": flash}
        fp32 = evaluate(vit, data.test)
        dep = deploy_and_eval(vit, data, work, f"searched_{sram}", a.qemu_images, a.skip_qemu, sram)
        row.update({
            "sram_bytes": dep["sram_bytes"], "searched_int8_top1": dep["int8_top1"], "searched_fp32_top1": fp32,
            "searched_arch": vit.arch.to_dict(), "searched_short": vit.arch.short(), "searched_macs": macs(vit.arch),
            "searched_params": param_count(vit.arch), "searched_val_inherited": res.val_acc,
            "searched_val_finetuned": st["history"][-1].get("val") if st["history"] else None,
            "searched_epochs": {"supernet": man.get("supernet", {}).get("epochs_done"),
                                "finetune": st["epochs_done"], "finetune_planned": st["epochs_planned"]},
            "searched_flash_bytes": dep["weights_bytes"], "searched_deploy": dep,
            "searched_instructions": (dep.get("mcu") or {}).get("instructions"),
            "search": {"candidates_scored": len(cands), "region": res.region.to_dict() if res.region else None,
                       "seconds": res.seconds},
        })
        # baselines: all candidates trained; the best on the validation split is "the" baseline
        bases = []
        for p in sorted(bundle.glob(f"base_{sram}_*.pt")):
            bv, bst = load_packed_vit(p)
            bases.append((bst["history"][-1].get("val", 0.0) if bst["history"] else 0.0, p.stem, bv, bst))
        if bases:
            val, stem, bv, bst = max(bases, key=lambda t: t[0])
            bfp32 = evaluate(bv, data.test)
            bdep = deploy_and_eval(bv, data, work, f"baseline_{sram}", a.qemu_images, a.skip_qemu, sram)
            row.update({
                "baseline_int8_top1": bdep["int8_top1"], "baseline_fp32_top1": bfp32,
                "baseline_sram_bytes": bdep["sram_bytes"], "baseline_flash_bytes": bdep["weights_bytes"],
                "baseline_arch": bv.arch.to_dict(), "baseline_short": bv.arch.short(), "baseline_macs": macs(bv.arch),
                "baseline_params": param_count(bv.arch), "baseline_val": val,
                "baseline_epochs": {"scratch": bst["epochs_done"], "planned": bst["epochs_planned"]},
                "baseline_deploy": bdep, "baseline_instructions": (bdep.get("mcu") or {}).get("instructions"),
                "baseline_candidates": [{"short": b[2].arch.short(), "val": b[0], "macs": macs(b[2].arch),
                                         "epochs_done": b[3]["epochs_done"]} for b in bases],
            })
        else:
            row.update({"baseline_int8_top1": None, "baseline_fp32_top1": None})
        row["trained_on"] = man.get("device")
        row["recipe"] = man.get("recipe")
        rows.append(row)
        write_json_atomic(work / "rows_partial.json", rows)
    doc = {
        "benchmark": "issue 5: searched sub-net vs best hand-designed uniform ViT, Fashion-MNIST 28x28",
        "rows": rows,
        "recipe": man.get("recipe"), "trained_on": man.get("device"), "train_timings": man.get("timings"),
        "supernet": man.get("supernet"), "pareto_candidates": pareto,
        "evaluated_on": "host CPU (int8: ExecuTorch runtime + MCUFormer C++ delegate, all 10k test images); "
                        "instructions: QEMU mps2-an500 Cortex-M7, TCG plugin",
        "date": time.strftime("%Y-%m-%d"),
    }
    save(doc)  # adds "shape240" from nas_shape240.json
    return 0
