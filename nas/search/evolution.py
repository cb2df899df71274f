"""Evolutionary search under a memory budget (MCUFormer / AutoFormer style).

    res = evolutionary_search(space, score_fn, MemoryCache(memory_fn, Budget(64 * 1024)), EvoConfig(seed=0))
    res.best.arch, res.candidates

Each generation keeps the ``num_parents`` best feasible candidates seen so far and makes ``population`` children,
half by mutation and half by crossover; children that do not fit the budget are re-drawn (bounded: at most
``max_tries`` draws per generation), duplicates are skipped. Only architectures that fit are scored, so the
(expensive) score function runs ``population * (generations + 1)`` times at most. Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from tqdm.auto import tqdm

from ..space import Arch, Region, SearchSpace
from .common import Candidate, MemoryCache, no_feasible

__all__ = ["EvoConfig", "EvoResult", "evolutionary_search"]


@dataclass(frozen=True)
class EvoConfig:
    population: int = 20
    generations: int = 8
    num_parents: int = 8
    mutation_prob: float = 0.3
    crossover_share: float = 0.5
    max_tries: int = 2000  # draws per generation (and for the initial population)
    seed: int = 0


@dataclass
class EvoResult:
    best: Candidate
    candidates: list[Candidate] = field(default_factory=list)  # every candidate scored, in order
    rejected: list[Candidate] = field(default_factory=list)  # drawn but over budget (not scored)
    generations: list[float] = field(default_factory=list)  # best score after each generation


def evolutionary_search(
    space: SearchSpace,
    score_fn: Callable[[Arch], float],
    mem: MemoryCache,
    cfg: EvoConfig = EvoConfig(),
    region: Region | None = None,
    progress: bool = True,
    desc: str = "evolution",
) -> EvoResult:
    rng = random.Random(f"evo:{cfg.seed}")
    region = region or space.full_region()
    seen: set[Arch] = set()
    scored: list[Candidate] = []
    rejected: list[Candidate] = []

    def consider(arch: Arch, source: str) -> bool:
        if arch in seen:
            return False
        seen.add(arch)
        if not mem.fits(arch):
            rejected.append(mem.candidate(arch, None, source))
            return False
        scored.append(mem.candidate(arch, float(score_fn(arch)), source))
        return True

    bar = tqdm(total=cfg.population * (cfg.generations + 1), desc=desc, unit="arch", disable=not progress,
               leave=False, dynamic_ncols=True)
    made = tries = 0
    while made < cfg.population and tries < cfg.max_tries:
        tries += 1
        if consider(space.sample(rng, region), "init"):
            made += 1
            bar.update(1)
    if not scored:
        bar.close()
        raise no_feasible(space, mem, region, tries)
    best_per_gen: list[float] = []
    for _ in range(cfg.generations):
        parents = sorted(scored, key=lambda c: -c.score)[: cfg.num_parents]
        made = tries = 0
        n_cross = int(round(cfg.population * cfg.crossover_share))
        while made < cfg.population and tries < cfg.max_tries:
            tries += 1
            if made < n_cross and len(parents) >= 2:
                a, b = rng.sample(parents, 2)
                child, src = space.crossover(a.arch, b.arch, rng), "crossover"
            else:
                child, src = space.mutate(rng.choice(parents).arch, rng, cfg.mutation_prob, region), "mutation"
            if consider(child, src):
                made += 1
                bar.update(1)
        best_per_gen.append(max(c.score for c in scored))
        bar.set_postfix(best=f"{best_per_gen[-1]:.4g}", refresh=False)
    bar.close()
    best = max(scored, key=lambda c: (c.score, -c.sram_bytes))
    return EvoResult(best, scored, rejected, best_per_gen)
