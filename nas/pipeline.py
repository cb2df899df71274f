"""The NAS stage end to end: train the supernet, evolve the search space, search, fine-tune, export.

    from mcuformer.nas import pipeline as nas
    res = nas.search(64 * 1024, flash_budget=None, epochs=3, out_dir="runs/nas")   # SearchResult
    vit = nas.finetune_searched(res, epochs=3)                                     # standalone ViT, fine-tuned
    ep = nas.export_subnet(vit)                                                    # torch.export, strict=True
    rep = nas.shape_only_240()                                                     # 240 px, 320 KB, no data

Memory always comes from ``memory_fn`` (default: the backend's planner, ``planner_predictor(sram_budget=...)`` for
the search's SRAM budget, so what it predicts is the blob lowered with that budget); it is the only thing that
decides whether a candidate fits.

Defaults are sized for the main job on a 2-core CPU (about 6 minutes for supernet + search + fine-tune):
``MAIN_JOB`` below. ``BENCHMARK`` is the full recipe (all 55k training images, more epochs).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mcuformer.io import write_text_atomic

from .data import FMNIST, load_fashion_mnist
from .elastic.supernet import SuperNet
from .extract import extract
from .predictors.memory import MemoryFn, paper_formula_predictor, planner_predictor, sram_need
from .search.common import Budget, Candidate, MemoryCache, inherited_accuracy, no_feasible
from .search.evolution import EvoConfig, evolutionary_search
from .search.rerank import rerank
from .search.shape_only import ShapeOnlyReport, shape_only_search
from .search.space_evolution import SpaceEvoConfig, evolve_space
from .space import FMNIST_SMALL_SPACE, FMNIST_SPACE, PAPER_SPACE, Arch, Region, SearchSpace, iter_uniform, macs
from .train import TrainConfig, evaluate, finetune, load_supernet, train_supernet
from .vit import ViT

__all__ = [
    "Preset",
    "MAIN_JOB",
    "BENCHMARK",
    "SearchResult",
    "search",
    "finetune_searched",
    "best_uniform_baseline",
    "export_subnet",
    "shape_only_240",
    "test_accuracy",
]


@dataclass(frozen=True)
class Preset:
    """Everything a run needs besides the budget."""

    supernet: TrainConfig
    finetune: TrainConfig
    evo: EvoConfig
    space_evo: SpaceEvoConfig | None
    train_patches: tuple[int, ...]  # the supernet's training region (patch sizes)
    val_limit: int  # validation images per inherited-accuracy evaluation
    space: SearchSpace = FMNIST_SPACE  # the search space this preset trains and searches
    # before choosing, the rerank_top best by inherited accuracy are fine-tuned briefly (rerank) and the best after
    # that is chosen (search/rerank.py: it ranks sub-nets far better than inherited accuracy alone)
    rerank_top: int = 0
    rerank: TrainConfig | None = None


# Main job on 2 CPU cores: the small space (FMNIST_SMALL_SPACE: embed <= 96, depth <= 6) at patch 7, 3 supernet epochs
# on 20k images, a short evolution, then 6 fine-tuning epochs on all 55k. Measured on the 2-core VM (one thread, 6
# epochs from scratch, lr 2e-3): without augmentation p7 E96 D5 reaches 89.3% val / 88.8% test, with crop + flip
# 86.6% / 86.7% (augmentation pays only in long schedules); patch 4 costs 1.6x per epoch for less accuracy per second
# (p4 E64 D3: 55 s/epoch, 81.0% after one epoch; p7 E96 D5: 34 s, 82.5%), so the main job trains patch 7 only.
MAIN_JOB = Preset(
    supernet=TrainConfig(epochs=3, train_subset=20000, num_random=1, eval_size=1000, augment=False),
    finetune=TrainConfig(epochs=6, lr=1.5e-3, warmup_steps=100, eval_size=None, augment=False),
    evo=EvoConfig(population=16, generations=6, num_parents=6),
    space_evo=SpaceEvoConfig(iterations=2, samples_per_region=8),
    train_patches=(7,),
    val_limit=1000,
    space=FMNIST_SMALL_SPACE,
    rerank_top=4,
    rerank=TrainConfig(epochs=1, train_subset=5000, lr=1.5e-3, warmup_steps=20, eval_size=2000, augment=False),
)

# A long recipe for a GPU (issue 5): the wide space (FMNIST_SPACE, all patch sizes), the whole training set, longer
# schedules, the paper's population/generations. benchmarks/bench_nas runs a time-boxed version of it.
BENCHMARK = Preset(
    supernet=TrainConfig(epochs=40, num_random=2, eval_size=2000),
    finetune=TrainConfig(epochs=30, lr=5e-4, warmup_steps=200, eval_size=None),
    evo=EvoConfig(population=50, generations=20, num_parents=10),
    space_evo=SpaceEvoConfig(iterations=4, samples_per_region=16),
    train_patches=(7, 4, 2),
    val_limit=5000,
)


def preset_for_data(preset: Preset, image_shape: tuple[int, int, int], num_classes: int) -> Preset:
    """The preset for a data set of C x H x W images (square) and ``num_classes`` classes: its space at that image
    size (each patch size scaled to keep its token grid), and the training region scaled alike."""
    c, h, w = image_shape
    if h != w:
        raise ValueError(f"images are {h} x {w}: the ViT takes square images (pass --img-size N to resize)")
    space = preset.space.for_images(h, c, num_classes)
    if space is preset.space:
        return preset
    return replace(preset, space=space, train_patches=tuple(preset.space.scale_patch(p, h) for p in preset.train_patches))


@dataclass
class SearchResult:
    arch: Arch
    val_acc: float  # inherited weights, on the search validation split
    sram_bytes: int  # deployed: the plan tiled for budget.sram_bytes (what the .pte's memory report shows)
    flash_bytes: int
    budget: Budget
    candidates: list[Candidate] = field(default_factory=list)  # every candidate scored (arch, val acc, sram)
    region: Region | None = None
    region_history: list[dict[str, Any]] = field(default_factory=list)
    supernet_path: str | None = None
    seconds: float = 0.0
    instructions: float | None = None  # predicted Cortex-M7 instructions per inference
    binding: str = "sram"  # the constraint with the least slack for the chosen sub-net
    used: dict[str, float] = field(default_factory=dict)  # share of each budget the chosen sub-net uses
    rejections: dict[str, int] = field(default_factory=dict)  # distinct rejected sub-nets per broken constraint
    min_sram_bytes: int | None = None  # what the chosen sub-net needs: one row per token loop (the SRAM budget's)
    reranked: list[dict[str, Any]] = field(default_factory=list)  # the short fine-tunes before choosing (rerank)

    @property
    def latency_ms(self) -> float | None:
        return None if self.instructions is None else self.instructions / self.budget.clock_hz * 1e3

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch.to_dict(), "short": self.arch.short(), "val_acc": self.val_acc,
            "sram_bytes": self.sram_bytes, "flash_bytes": self.flash_bytes, "macs": macs(self.arch),
            "instructions": self.instructions, "latency_ms": self.latency_ms,
            "budget_bytes": self.budget.sram_bytes, "flash_budget_bytes": self.budget.flash_bytes,
            "latency_budget_ms": self.budget.latency_ms, "clock_hz": self.budget.clock_hz,
            "binding": self.binding, "used": self.used, "rejections": self.rejections,
            "min_sram_bytes": self.min_sram_bytes,
            "region": self.region.to_dict() if self.region else None, "region_history": self.region_history,
            "supernet_path": self.supernet_path, "seconds": self.seconds,
            "candidates": [c.to_dict() for c in self.candidates], "reranked": self.reranked,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchResult":
        reg = d.get("region")
        budget = Budget(d["budget_bytes"], d.get("flash_budget_bytes"), d.get("latency_budget_ms"),
                        d.get("clock_hz", Budget.clock_hz))
        return cls(Arch.from_dict(d["arch"]), d["val_acc"], d["sram_bytes"], d["flash_bytes"], budget,
                   [Candidate.from_dict(c) for c in d.get("candidates", [])],
                   Region(tuple(reg["patch_sizes"]), tuple(reg["rank_ratios"])) if reg else None,
                   d.get("region_history", []), d.get("supernet_path"), d.get("seconds", 0.0),
                   d.get("instructions"), d.get("binding", "sram"), d.get("used", {}), d.get("rejections", {}),
                   d.get("min_sram_bytes"), d.get("reranked", []))

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1))  # mcuformer/io.py: temp + fsync + rename

    @classmethod
    def load(cls, path: str | Path) -> "SearchResult":
        return cls.from_dict(json.loads(Path(path).read_text()))


def training_region(preset: Preset, space: SearchSpace | None = None, mem: MemoryCache | None = None) -> Region:
    """The part of the space the preset's supernet is trained on (its patch sizes, every rank ratio). With the
    budgets (``mem``), a patch size whose smallest sub-net breaks them is left out: the search could never pick it,
    and training it would take steps from those it can (at 28 px a 50 ms latency budget rules out patch 2)."""
    space = space or preset.space
    patches = tuple(p for p in space.patch_sizes if p in preset.train_patches) or space.patch_sizes
    if mem is not None:
        patches = tuple(p for p in patches if mem.fits(space.smallest(Region((p,), space.rank_ratios)))) or patches
    return Region(patches, space.rank_ratios)


def _budget(budget_bytes: int | Budget, flash_budget: int | None, latency_ms: float | None,
            clock_hz: float | None) -> Budget:
    if isinstance(budget_bytes, Budget):
        return budget_bytes
    return Budget(int(budget_bytes), None if flash_budget is None else int(flash_budget), latency_ms,
                  Budget.clock_hz if clock_hz is None else float(clock_hz))


def search(
    budget_bytes: int | Budget,
    flash_budget: int | None = None,
    space: SearchSpace | None = None,
    epochs: int | None = None,
    *,
    latency_ms: float | None = None,
    clock_hz: float | None = None,
    out_dir: str | Path = "runs/nas",
    memory_fn: MemoryFn | None = None,
    supernet: SuperNet | str | Path | None = None,
    preset: Preset = MAIN_JOB,
    data: FMNIST | None = None,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> SearchResult:
    """Find the most accurate sub-net (inherited weights, validation split; with the preset's ``rerank``, the best of
    its ``rerank_top`` after a short fine-tune each) that fits the budgets: SRAM
    (``budget_bytes``), flash (``flash_budget``: firmware + .pte) and latency (``latency_ms`` at ``clock_hz``,
    default the STM32F746's 216 MHz), or one :class:`Budget` as ``budget_bytes`` (``Budget.for_board("stm32f746",
    latency_ms=50)``).

    ``supernet``: a trained :class:`SuperNet`, a checkpoint path, or None to train one into ``out_dir`` (resumes
    if a checkpoint is there; ``epochs`` overrides the preset's). ``space`` defaults to the given supernet's space,
    else the preset's; with a given supernet it may be a restriction of the supernet's (an ablation's space). ``device``: where inherited accuracies are computed. Raises ``NoFeasibleArch`` naming the
    SRAM, flash and latency the smallest sub-net needs when nothing fits (before any training). The result names
    the constraint that binds (least slack for the chosen sub-net) and counts the rejections per constraint.
    """
    t0 = time.time()
    sn_path = None
    if isinstance(supernet, (str, Path)):
        sn_path = str(supernet)
        supernet = load_supernet(supernet)
    if space is None:
        space = supernet.space if isinstance(supernet, SuperNet) else preset.space
    budget = _budget(budget_bytes, flash_budget, latency_ms, clock_hz)
    memory_fn = memory_fn if memory_fn is not None else planner_predictor(sram_budget=budget.sram_bytes)
    mem = MemoryCache(memory_fn, budget)
    train_region = training_region(preset, space, mem)
    # fail early (before any training) when even the smallest sub-net is over budget
    if not mem.fits(space.smallest(train_region)):
        raise no_feasible(space, mem, train_region, 1)
    out_dir = Path(out_dir)
    if supernet is None:
        cfg = replace(preset.supernet, seed=seed, **({"epochs": epochs} if epochs is not None else {}))
        data = data if data is not None else load_fashion_mnist()
        supernet = train_supernet(space, cfg, out_dir, region=train_region, data=data, progress=progress)
        sn_path = str(out_dir / "supernet.pt")
    if not space.within(supernet.space):
        raise ValueError(f"the supernet was trained on space {supernet.space.name!r}, the search is over "
                         f"{space.name!r}, which is not a restriction of it")
    supernet = supernet.to(device).eval()
    data = data if data is not None else load_fashion_mnist()
    # scores are journaled: an interrupted search, rerun, replays them instead of recomputing (same seed, same order)
    acc_fn = inherited_accuracy(supernet, data.val, limit=preset.val_limit, device=device,
                                journal=out_dir / "search_scores.jsonl")
    region, history, cands = train_region, [], []
    if preset.space_evo is not None and (len(train_region.patch_sizes) > 1 or len(space.rank_ratios) > 1):
        sres = evolve_space(space, acc_fn, mem, replace(preset.space_evo, seed=seed),
                            allowed_patches=train_region.patch_sizes, progress=progress)
        region, history, cands = sres.region, sres.history, list(sres.candidates)
    evo = evolutionary_search(space, acc_fn, mem, replace(preset.evo, seed=seed), region=region, progress=progress)
    best = max(cands + evo.candidates, key=lambda c: (c.score, -c.sram_bytes))
    reranked = []
    if preset.rerank is not None and preset.rerank_top > 1:
        best, reranked = rerank(supernet, cands + evo.candidates, data, replace(preset.rerank, seed=seed),
                                out_dir / "rerank", preset.rerank_top, progress)
    m = mem(best.arch)
    res = SearchResult(best.arch, best.score, best.sram_bytes, best.flash_bytes, budget, cands + evo.candidates,
                       region, history, sn_path, round(time.time() - t0, 1), best.instructions,
                       budget.binding(m), budget.used(m), mem.rejections(), best.min_sram_bytes, reranked)
    res.save(out_dir / f"search_{budget.sram_bytes}.json")
    return res


def finetune_searched(
    result: SearchResult,
    epochs: int | None = None,
    *,
    supernet: SuperNet | str | Path | None = None,
    out_dir: str | Path | None = None,
    preset: Preset = MAIN_JOB,
    data: FMNIST | None = None,
    seed: int = 0,
    progress: bool = True,
) -> ViT:
    """Extract the searched sub-net with its inherited weights and fine-tune it (resumable)."""
    sn = supernet if supernet is not None else result.supernet_path
    if sn is None:
        raise ValueError("no supernet: pass supernet= (module or checkpoint path)")
    sn = load_supernet(sn) if isinstance(sn, (str, Path)) else sn
    init = extract(sn.cpu(), result.arch)
    cfg = replace(preset.finetune, seed=seed, **({"epochs": epochs} if epochs is not None else {}))
    out = Path(out_dir) if out_dir else Path(result.supernet_path or "runs/nas").parent / f"ft_{result.budget.sram_bytes}"
    return finetune(result.arch, cfg, out, init=init, data=data, progress=progress).cpu().eval()


def best_uniform_baseline(
    space: SearchSpace,
    budget_bytes: int | Budget,
    flash_budget: int | None = None,
    memory_fn: MemoryFn | None = None,
    patches: tuple[int, ...] | None = None,
    standard: bool = False,
    latency_ms: float | None = None,
    clock_hz: float | None = None,
) -> Arch:
    """The hand-designed baseline: the largest (MACs) uniform, full-rank ViT of ``space`` that fits the budgets
    (as in :func:`search`). ``standard``: only ViTs whose attention width equals the embedding."""
    budget = _budget(budget_bytes, flash_budget, latency_ms, clock_hz)
    mem = MemoryCache(memory_fn if memory_fn is not None else planner_predictor(sram_budget=budget.sram_bytes), budget)
    region = Region(tuple(patches or space.patch_sizes), space.rank_ratios)
    fitting = [a for a in iter_uniform(space, region, standard=standard) if mem.fits(a)]
    if not fitting:
        raise no_feasible(space, mem, region, 0)
    return max(fitting, key=lambda a: (macs(a), -sram_need(mem(a))))


def test_accuracy(vit: torch.nn.Module, data: FMNIST | None = None) -> float:
    """Top-1 on the Fashion-MNIST test set (final reporting only)."""
    data = data if data is not None else load_fashion_mnist()
    return evaluate(vit.eval(), data.test)


def export_subnet(model: ViT, example: torch.Tensor | None = None) -> torch.export.ExportedProgram:
    """``torch.export.export(model, (example,), strict=True)``; the example defaults to one zero image."""
    if example is None:
        a = model.arch
        example = torch.zeros(1, a.in_chans, a.img_size, a.img_size)
    return torch.export.export(model.eval(), (example,), strict=True)


def shape_only_240(
    budget_bytes: int = 320 * 1024,
    memory_fn: MemoryFn | None = None,
    space: SearchSpace = PAPER_SPACE,
    evo: EvoConfig = EvoConfig(population=50, generations=20, num_parents=10),
    samples: int = 1000,
    flash_budget: int | None = None,
    progress: bool = True,
) -> ShapeOnlyReport:
    """MCUFormer's space at 240 px: largest networks (MACs) that fit by the backend planner vs the paper formula."""
    # what fits is judged on the one-row plan; nothing is deployed here, so no tiles (~0.6 s each at 240 px) or latency
    planner = planner_predictor(latency=False, sram_budget=0) if memory_fn is None else memory_fn
    fns = {"planner": planner, "paper": paper_formula_predictor}
    return shape_only_search(space, fns, Budget(int(budget_bytes), flash_budget), evo, samples=samples,
                             progress=progress)
