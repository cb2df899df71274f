"""Search stage: the hand-designed baselines each budget admits (planner-checked), the evolutionary search of one budget
over a trained supernet (then the fine-tune of its winner), and the 240 px shape-only search."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from mcuformer.io import write_json_atomic
from mcuformer.nas.space import FMNIST_SPACE, Arch, macs

from . import common
from .common import BUDGETS, KB, load_data, log, patches_of, setup_torch, space_of, train_config
from .report import load, save


def baseline_candidates(sram: int, flash: int, patches: tuple[int, ...] | None = None) -> list[Arch]:
    """For each patch size (all of FMNIST_SPACE's, or ``patches``), the largest-MACs standard uniform full-rank ViT
    of FMNIST_SPACE that fits both budgets."""
    from mcuformer.nas.predictors.memory import planner_predictor, sram_need
    from mcuformer.nas.search.common import Budget, MemoryCache
    from mcuformer.nas.space import iter_uniform

    mem = MemoryCache(planner_predictor(sram_budget=sram), Budget(sram, flash))
    out = []
    for p in patches or FMNIST_SPACE.patch_sizes:
        fit = [a for a in iter_uniform(FMNIST_SPACE, standard=True) if a.patch_size == p and mem.fits(a)]
        if fit:
            out.append(max(fit, key=lambda a: (macs(a), -sram_need(mem(a)))))
    return out


def cmd_plan(a: argparse.Namespace) -> int:
    plan = {str(s): {"flash_budget_bytes": f,
                     "baselines": [x.to_dict() for x in baseline_candidates(s, f, tuple(a.patches or ()))]}
            for s, f in BUDGETS}
    write_json_atomic(Path(a.out), plan)
    for k, v in plan.items():
        log(k, [Arch.from_dict(x).short() for x in v["baselines"]])
    return 0


def worker_search(a: argparse.Namespace) -> None:
    from mcuformer.nas import pipeline as P
    from mcuformer.nas.search.evolution import EvoConfig
    from mcuformer.nas.search.space_evolution import SpaceEvoConfig
    from mcuformer.nas.train import _resolve_device, load_supernet

    setup_torch()
    out = Path(a.out)
    data = load_data(a)
    device = _resolve_device(a.device)
    preset = P.Preset(
        supernet=train_config(a), finetune=train_config(a, epochs=a.finetune_epochs, lr=a.lr / 2),
        evo=EvoConfig(population=a.population, generations=a.generations, num_parents=a.parents),
        space_evo=SpaceEvoConfig(iterations=a.space_iters, samples_per_region=a.space_samples),
        train_patches=patches_of(a), val_limit=a.val_limit, space=space_of(a))
    flash = dict(BUDGETS)[a.budget]
    sn_path = out / "supernet" / "supernet.pt"
    sn = load_supernet(sn_path)
    res = P.search(a.budget, flash, supernet=sn, preset=preset, data=data, out_dir=out / f"search_{a.budget}",
                   progress=False, device=device)
    res.supernet_path = str(sn_path)
    res.save(out / f"search_{a.budget}" / f"search_{a.budget}.json")
    log(f"search {a.budget}: {res.arch.short()} val {res.val_acc:.4f} SRAM {res.sram_bytes} flash {res.flash_bytes} "
        f"({len(res.candidates)} scored, {res.seconds:.0f} s)")
    P.finetune_searched(res, a.finetune_epochs, supernet=sn, out_dir=out / f"ft_{a.budget}", preset=preset,
                        data=data, progress=False)


def cmd_shape240(a: argparse.Namespace) -> int:
    from mcuformer.nas.pipeline import shape_only_240
    from mcuformer.nas.search.evolution import EvoConfig

    torch.set_num_threads(1)
    t0 = time.time()
    rep = shape_only_240(320 * KB, evo=EvoConfig(population=a.population, generations=a.generations,
                                                  num_parents=10), samples=a.samples, progress=False).to_dict()
    rep["seconds"] = round(time.time() - t0, 1)
    rep["note"] = ("MCUFormer's space at 240 px (PAPER_SPACE), 320 KB SRAM, no flash limit; 'planner' = "
                   "mcuformer.backend.memory.plan_vit (int8 input overwritten in place), 'paper' = "
                   "E*[(N+1)*(1+M) + E*M*r] bytes at the worst layer; each list = the largest-MACs sub-nets an "
                   "evolutionary search (MACs as the score) found that fit by that predictor")
    write_json_atomic(common.RESULTS / "nas_shape240.json", rep)
    save(load())
    for name, r in rep["per_predictor"].items():
        t = r["top"][0] if r.get("top") else None
        log(f"{name}: {100 * r['fit_share']:.1f}% fit; largest {t['short'] if t else None} "
            f"{t['macs'] / 1e6 if t else 0:.0f} MMACs")
    return 0
