"""Shape-only search (no data, no training): the largest networks, by MACs, that fit a budget.

Used at MCUFormer's own scale (240 px, ImageNet space, 320 KB) to compare what fits by the backend's planner with
what fits by the paper's formula:

    rep = shape_only_search(PAPER_SPACE, {"planner": planner_predictor(latency=False, sram_budget=0),
                                          "paper": paper_formula_predictor},
                            Budget(320 * 1024))
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from ..predictors.memory import MemoryFn, paper_formula_bytes, sram_need
from ..space import Arch, NoFeasibleArch, SearchSpace, macs, param_count
from .common import Budget, MemoryCache
from .evolution import EvoConfig, evolutionary_search

__all__ = ["shape_only_search", "ShapeOnlyReport"]


@dataclass
class ShapeOnlyReport:
    budget: Budget
    space: str
    per_predictor: dict[str, dict[str, Any]] = field(default_factory=dict)
    agreement: dict[str, int] = field(default_factory=dict)  # on a shared random sample
    samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"budget_bytes": self.budget.sram_bytes, "flash_budget_bytes": self.budget.flash_bytes,
                "space": self.space, "samples": self.samples, "agreement": self.agreement,
                "per_predictor": self.per_predictor}


def _row(arch: Arch, mems: dict[str, MemoryCache]) -> dict[str, Any]:
    row = {"arch": arch.to_dict(), "short": arch.short(), "macs": macs(arch), "params": param_count(arch),
           "paper_formula_bytes": paper_formula_bytes(arch)}
    for name, m in mems.items():
        e = m(arch)
        row[f"{name}_sram_bytes"] = sram_need(e)  # what it needs (one row per loop), what the budget judges
        row[f"{name}_flash_bytes"] = int(e.flash_bytes)
        row[f"fits_{name}"] = m.fits(arch)
    return row


def shape_only_search(
    space: SearchSpace,
    memory_fns: dict[str, MemoryFn],
    budget: Budget,
    cfg: EvoConfig = EvoConfig(population=50, generations=20, num_parents=10),
    samples: int = 1000,
    top: int = 5,
    progress: bool = True,
) -> ShapeOnlyReport:
    """For each named memory predictor: the ``top`` largest-MACs sub-nets that fit, and the share that fit among
    ``samples`` shared random sub-nets (with a cross table of which predictors agree)."""
    mems = {name: MemoryCache(fn, budget) for name, fn in memory_fns.items()}
    rep = ShapeOnlyReport(budget, space.name, samples=samples)
    rng = random.Random(f"shape-only:{cfg.seed}")
    sample = [space.sample(rng) for _ in range(samples)]
    fits = {name: [m.fits(a) for a in tqdm(sample, desc=f"{name}: random sample", disable=not progress,
                                             leave=False)] for name, m in mems.items()}
    names = list(mems)
    for i in range(samples):
        key = "+".join(n for n in names if fits[n][i]) or "none"
        rep.agreement[key] = rep.agreement.get(key, 0) + 1
    for name, m in mems.items():
        try:
            res = evolutionary_search(space, lambda a: float(macs(a)), m, cfg, progress=progress,
                                      desc=f"{name}: largest that fits")
        except NoFeasibleArch as e:
            rep.per_predictor[name] = {"fit_share": 0.0, "error": str(e), "top": []}
            continue
        best = sorted(res.candidates, key=lambda c: -c.score)[:top]
        rep.per_predictor[name] = {
            "fit_share": sum(fits[name]) / max(1, samples),
            "top": [_row(c.arch, mems) for c in best],
            "evaluated": len(res.candidates) + len(res.rejected),
        }
    return rep
