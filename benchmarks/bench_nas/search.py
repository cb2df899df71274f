"""Search stage: the uniform baselines each budget admits (planner-checked), the evolutionary search of one budget (in
the space or an ablation of it) over a trained supernet (then the fine-tune of its winner), the ranking study, and the
240 px shape-only search."""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from mcuformer.io import write_json_atomic
from mcuformer.nas.predictors.memory import MemoryFn, planner_predictor
from mcuformer.nas.search.common import Budget
from mcuformer.nas.space import Arch, SearchSpace

from . import common
from .common import (KB, ablated, budget_key, budget_of, budgets, load_data, log, patches_of, run_name, setup_torch,
                     space_of, train_config)
from .report import load, save


def baseline_candidates(space: SearchSpace, budget: Budget, patches: tuple[int, ...] | None = None,
                        memory_fn: MemoryFn | None = None) -> list[tuple[Arch, str]]:
    """For each patch size (all of the space's, or ``patches``), the best uniform ViT of ``space`` under ``budget``
    (``best_uniform_baseline``: the largest MACs, full rank) and the constraint that binds it."""
    from mcuformer.nas.pipeline import best_uniform_baseline
    from mcuformer.nas.search.common import MemoryCache
    from mcuformer.nas.space import NoFeasibleArch

    mem = MemoryCache(memory_fn or planner_predictor(sram_budget=budget.sram_bytes), budget)
    out = []
    for p in patches or space.patch_sizes:
        try:
            arch = best_uniform_baseline(space, budget, memory_fn=mem, patches=(p,))
        except NoFeasibleArch:
            continue
        out.append((arch, budget.binding(mem(arch))))
    return out


def cmd_plan(a: argparse.Namespace) -> int:
    space = space_of(a)
    bs = budgets()
    pred = planner_predictor(sram_budget=bs[0].sram_bytes)  # one SRAM budget (the board's): one memoized planner
    plan = {budget_key(b): {"budget": b.to_dict(), "baselines": [
        {"arch": x.to_dict(), "binding": k} for x, k in baseline_candidates(space, b, tuple(a.patches or ()), pred)]}
        for b in bs}
    write_json_atomic(Path(a.out), plan)
    for k, v in plan.items():
        log(k, [(Arch.from_dict(x["arch"]).short(), x["binding"]) for x in v["baselines"]])
    return 0


def search_preset(a: argparse.Namespace, space: SearchSpace):
    """The search's preset from the stage's flags: the main job's shape (no augmentation in these short schedules,
    the rerank step), sized by the flags."""
    from mcuformer.nas import pipeline as P
    from mcuformer.nas.search.evolution import EvoConfig
    from mcuformer.nas.search.space_evolution import SpaceEvoConfig

    return P.Preset(
        supernet=train_config(a), finetune=train_config(a, epochs=a.finetune_epochs, lr=a.lr / 2),
        evo=EvoConfig(population=a.population, generations=a.generations, num_parents=a.parents),
        space_evo=SpaceEvoConfig(iterations=a.space_iters, samples_per_region=a.space_samples),
        train_patches=patches_of(a), val_limit=a.val_limit, space=space, rerank_top=a.rerank_top,
        rerank=replace(P.MAIN_JOB.rerank, train_subset=min(P.MAIN_JOB.rerank.train_subset, a.train_subset or 55000),
                       eval_size=a.val_limit, device=a.device, num_threads=a.threads))


def worker_search(a: argparse.Namespace) -> None:
    """One budget's search (in the space, or its ``--ablation``) over the trained supernet, then the fine-tune of
    its winner from the inherited weights. Both resume: the scores are journaled, the fine-tune checkpointed."""
    from mcuformer.nas import pipeline as P
    from mcuformer.nas.train import _resolve_device, load_supernet

    setup_torch()
    out = Path(a.out)
    data = load_data(a)
    device = _resolve_device(a.device)
    budget = budget_of(a.budget)
    space = ablated(space_of(a), a.ablation)
    preset = search_preset(a, space)
    sn_path = out / "supernet" / "supernet.pt"
    sn = load_supernet(sn_path)
    name = run_name("search", budget, a.ablation)
    done = out / name / f"{name}.json"
    if done.exists():
        res = P.SearchResult.load(done)
    else:
        res = P.search(budget, space=space, supernet=sn, preset=preset, data=data, out_dir=out / name,
                       progress=False, device=device)
        res.supernet_path = str(sn_path)
        res.save(done)
    log(f"{name}: {res.arch.short()} val {res.val_acc:.4f} SRAM {res.sram_bytes} flash {res.flash_bytes} "
        f"latency {res.latency_ms:.2f} ms, binding {res.binding} ({len(res.candidates)} scored, {res.seconds:.0f} s)")
    P.finetune_searched(res, a.finetune_epochs, supernet=sn, out_dir=out / run_name("ft", budget, a.ablation),
                        preset=preset, data=data, progress=False)


def worker_ranking(a: argparse.Namespace) -> None:
    """Kendall's tau on this benchmark's supernet, per budget: sub-nets that fit it, spread by MACs, ranked by
    inherited accuracy and by the search's rerank (a short fine-tune) against training from scratch."""
    from mcuformer.nas.ranking import ranking_study, spread_subnets
    from mcuformer.nas.search.common import MemoryCache
    from mcuformer.nas.space import Region
    from mcuformer.nas.train import load_supernet

    out = Path(a.out)
    data = load_data(a)
    space = space_of(a)
    sn = load_supernet(out / "supernet" / "supernet.pt")
    preset = search_preset(a, space)
    # the from-scratch reference: the baselines' recipe, shortened
    cfg = train_config(a, epochs=a.ranking_epochs, train_subset=a.ranking_subset, warmup_steps=20)
    bs = budgets()
    pred = planner_predictor(sram_budget=bs[0].sram_bytes)
    for b in bs:
        mem = MemoryCache(pred, b)
        archs = spread_subnets(space, a.ranking_n, fits=mem.fits, region=Region(patches_of(a), space.rank_ratios))
        _, taus = ranking_study(sn, archs, data, cfg, out / run_name("ranking", b), val_limit=a.val_limit,
                                progress=False, short=preset.rerank)
        log(f"ranking {budget_key(b)}: Kendall tau {taus}")


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
