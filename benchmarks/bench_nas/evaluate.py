"""Evaluation stage (CPU): for each budget, the searched network, its architecture from scratch, the uniform baseline
and the ablations' searched networks: fp32 top-1, int8 through ExecuTorch's runtime + the C++ delegate on all 10k test
images, memory (plan_vit and the .pte's own plan), Cortex-M7 instructions in QEMU (outputs compared to the host's)."""
from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from mcuformer.io import write_json_atomic
from mcuformer.nas.space import Arch, macs, param_count

from .common import ABLATIONS, BOARD, budget_key, budgets, log, run_name
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
    row = {"int8_top1": int8_top1, "test_images": len(data.test), "host_seconds": round(host_s, 1),
           "lower_seconds": round(lower_s, 1), "sram_bytes": rep.total_sram_bytes,
           "plan_vit_sram_bytes": plan.total_sram_bytes, "sram_matches_plan_vit": rep.total_sram_bytes ==
           plan.total_sram_bytes, "arena_bytes": rep.arena_bytes, "weights_bytes": rep.flash_bytes,
           "pte_bytes": len(pte), "input_scale": float(scale), "input_zero_point": int(zp)}
    log(f"{name}: int8 {100 * int8_top1:.2f}% on {len(data.test)} ({host_s:.0f} s), SRAM {rep.total_sram_bytes} "
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
        nets = [(f"{side}_{r['budget']}", r, side) for side in ("searched", "baseline")]
        nets += [(f"searched_{r['budget']}_{ab}", r["ablation"][ab], "searched") for ab in r.get("ablation", {})]
        for name, d, side in nets:
            dep = d.get(f"{side}_deploy")
            if not dep or (dep.get("mcu") or {}).get("instructions") and not a.force:
                continue
            pte = Path(a.work) / f"{name}.pte"
            x8 = quantize_f32(xs, 1.0 / dep["input_scale"], dep["input_zero_point"])
            dep["mcu"] = qemu_row(pte, x8, run_pte(pte, x8), name)
            d[f"{side}_instructions"] = dep["mcu"].get("instructions")
            d[f"{side}_latency_ms_measured"] = _ms(dep["mcu"].get("instructions"), r["clock_hz"])
    save(doc)
    return 0


def _ms(instructions: float | None, clock_hz: float) -> float | None:
    return None if not instructions else instructions / clock_hz * 1e3


def evaluate_net(side: str, packed: Path, data, work: Path, name: str, budget, qemu_images: int,
                 skip_qemu: bool) -> dict[str, Any]:
    """One deployed network's `side`_* keys: fp32 and int8 test top-1, memory, latency (predicted and measured in
    QEMU) and the constraint of ``budget`` that binds it (least slack, by the predictors the search uses). Kept in
    work/<name>.json with what it was computed from, so that an interrupted evaluation resumes."""
    from mcuformer.nas.predictors.memory import planner_predictor
    from mcuformer.nas.train import evaluate

    key = {"weights_sha256": hashlib.sha256(packed.read_bytes()).hexdigest(), "test_images": len(data.test),
           "qemu_images": 0 if skip_qemu else qemu_images}
    cache = work / f"{name}.json"
    if cache.exists() and json.loads(cache.read_text())["key"] == key:
        return json.loads(cache.read_text())["row"]
    vit, _ = load_packed_vit(packed)
    m = planner_predictor(sram_budget=budget.sram_bytes)(vit.arch)
    dep = deploy_and_eval(vit, data, work, name, qemu_images, skip_qemu or not qemu_images, budget.sram_bytes)
    ins = (dep.get("mcu") or {}).get("instructions")
    out = {"int8_top1": dep["int8_top1"], "fp32_top1": evaluate(vit, data.test), "arch": vit.arch.to_dict(),
           "short": vit.arch.short(), "macs": macs(vit.arch), "params": param_count(vit.arch),
           "sram_bytes": dep["sram_bytes"], "flash_bytes": dep["weights_bytes"], "binding": budget.binding(m),
           "used": budget.used(m), "latency_ms_predicted": budget.latency_of(m), "instructions": ins,
           "latency_ms_measured": _ms(ins, budget.clock_hz), "deploy": dep}
    row = {f"{side}_{k}": v for k, v in out.items()}
    write_json_atomic(cache, {"key": key, "row": row})
    return row


def _tau(bundle: Path, key: str) -> dict[str, Any]:
    rj = bundle / f"ranking_{key}.json"
    if not rj.exists():
        return {"kendall_tau": None}
    r = json.loads(rj.read_text())
    return {"kendall_tau": r["kendall_tau"].get("short_finetune"), "kendall_tau_inherited": r["kendall_tau"]["inherited"],
            "kendall_tau_subnets": len(r["rows"]),
            "kendall_tau_source": "ranking_study on this benchmark's supernet: sub-nets that fit this budget, ranked "
                                  "by the search's rerank step (short fine-tune from inherited weights; "
                                  "kendall_tau_inherited: by inherited accuracy alone) against training from "
                                  f"scratch ({r['train']['epochs']} epochs on {r['train']['train_subset']} images)"}


def cmd_evaluate(a: argparse.Namespace) -> int:
    from mcuformer.nas.data import load_fashion_mnist
    from mcuformer.nas.pipeline import SearchResult

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
    if a.test_limit:
        data = replace(data, test=data.test.subset(a.test_limit))
    net = lambda side, packed, name, b, q=a.qemu_images: evaluate_net(  # noqa: E731
        side, packed, data, work, name, b, q, a.skip_qemu)
    rows = []
    pareto: dict[str, Any] = {}
    for b in budgets():
        key = budget_key(b)
        if a.budgets and key not in a.budgets:
            continue
        name = run_name("search", b)
        if not (bundle / f"{name}.json").exists() or not (bundle / f"{run_name('ft', b)}.pt").exists():
            log(f"budget {key}: no searched model in the bundle")
            continue
        res = SearchResult.load(bundle / f"{name}.json")
        cands = [c for c in res.candidates if c.fits and c.score is not None]
        pareto[key] = [{"sram_bytes": c.sram_bytes, "val_acc": c.score, "short": c.arch.short(),
                        "latency_ms": b.latency_of(c)} for c in cands]
        ft = bundle / f"{run_name('ft', b)}.pt"
        st = torch.load(ft, map_location="cpu", weights_only=True)
        # budget_bytes: the SRAM budget (the board's, the same at every latency point)
        row: dict[str, Any] = {"budget": key, "budget_bytes": b.sram_bytes, "flash_budget_bytes": b.flash_bytes,
                               "latency_budget_ms": b.latency_ms, "clock_hz": b.clock_hz, "board": BOARD,
                               "binding": res.binding}
        # (a) the searched network as deployed: inherited weights + fine-tune
        row.update(net("searched", ft, f"searched_{key}", b))
        row.update({
            "sram_bytes": row["searched_sram_bytes"], "searched_val_inherited": res.val_acc,
            "searched_val_finetuned": st["history"][-1].get("val") if st["history"] else None,
            "searched_epochs": {"supernet": man.get("supernet", {}).get("epochs_done"),
                                "finetune": st["epochs_done"], "finetune_planned": st["epochs_planned"]},
            "search": {"candidates_scored": len(cands), "region": res.region.to_dict() if res.region else None,
                       "seconds": res.seconds, "used": res.used, "rejections": res.rejections,
                       "reranked": res.reranked},
        })
        # (b) the searched architecture from scratch, the baselines' recipe and epochs (same arch: no QEMU rerun)
        sp = bundle / f"{run_name('scratch', b)}.pt"
        if sp.exists():
            row.update(net("scratch", sp, f"scratch_{key}", b, 0))
            row["scratch_epochs"] = torch.load(sp, map_location="cpu", weights_only=True)["epochs_done"]
        else:
            row["scratch_int8_top1"] = None
        # (c) the uniform baselines: all candidates trained; the best on the validation split is "the" baseline
        bases = []
        for p in sorted(bundle.glob(f"{run_name('base', b)}_*.pt")):
            bv, bst = load_packed_vit(p)
            bases.append((bst["history"][-1].get("val", 0.0) if bst["history"] else 0.0, p, bv, bst))
        if bases:
            val, path, bv, bst = max(bases, key=lambda t: t[0])
            row.update(net("baseline", path, f"baseline_{key}", b))
            row.update({
                "baseline_val": val, "baseline_epochs": {"scratch": bst["epochs_done"], "planned": bst["epochs_planned"]},
                "baseline_candidates": [{"short": x[2].arch.short(), "val": x[0], "macs": macs(x[2].arch),
                                         "epochs_done": x[3]["epochs_done"]} for x in bases],
            })
        else:
            row["baseline_int8_top1"] = None
        # the ablations: the same budget searched in the space without low-rank / patch-size choices
        row["ablation"] = {}
        for ab in ABLATIONS:
            ap, aj = bundle / f"{run_name('ft', b, ab)}.pt", bundle / f"{run_name('search', b, ab)}.json"
            if ap.exists() and aj.exists():
                ares = SearchResult.load(aj)
                row["ablation"][ab] = {"binding": ares.binding, "searched_val_inherited": ares.val_acc,
                                       "space": ares.region.to_dict() if ares.region else None,
                                       **net("searched", ap, f"searched_{key}_{ab}", b)}
        row.update(_tau(bundle, key))
        row["trained_on"] = man.get("device")
        rows.append(row)
        write_json_atomic(work / "rows_partial.json", rows)
    doc = {
        "benchmark": "issue 11: searched sub-net vs its architecture from scratch vs the best uniform ViT, "
                     f"Fashion-MNIST 28x28, latency budgets on the {BOARD}",
        "rows": rows,
        "recipe": man.get("recipe"), "trained_on": man.get("device"), "train_timings": man.get("timings"),
        "supernet": man.get("supernet"), "pareto_candidates": pareto,
        "evaluated_on": f"host CPU (int8: ExecuTorch runtime + MCUFormer C++ delegate, {len(data.test)} test images); "
                        f"QEMU mps2-an500 Cortex-M7 (TCG plugin) on the first {a.qemu_images}, compared to the host",
        "date": time.strftime("%Y-%m-%d"),
    }
    save(doc)  # adds "shape240" from nas_shape240.json
    return 0
