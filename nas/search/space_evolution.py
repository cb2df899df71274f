"""Search-space evolution (MCUFormer): move the (rank ratio, patch size) region along fitted trends.

A region is a window of ``patch_window`` consecutive patch sizes and ``rank_window`` consecutive rank ratios of the
space. Each iteration looks at the current window and its neighbours (rank window shifted by one step either way,
patch window shifted by one patch size either way). In each it samples ``samples_per_region`` random sub-nets and
measures

* ``fit``: the share of them that fit the budget (the backend planner's SRAM, and flash), and
* ``acc``: the mean validation accuracy (inherited weights) of the best ``top_k`` that fit.

It fits two linear trends by least squares over those points, ``acc ~ a0 + a_r * rank + a_p * patch_index`` and
``fit ~ f0 + f_r * rank + f_p * patch_index``, and moves the window one step along each axis where the trend of the
objective ``acc + fit_weight * fit`` is positive and the predicted ``fit`` stays above ``min_fit`` (a region where
almost nothing fits is useless to the evolutionary search that follows). It stops when no move helps or after
``iterations``. The trends, not the raw best neighbour, decide the move, so noisy single regions do not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from ..space import Arch, Region, SearchSpace
from .common import Candidate, MemoryCache

__all__ = ["SpaceEvoConfig", "RegionStats", "SpaceEvoResult", "evolve_space", "region_at"]


@dataclass(frozen=True)
class SpaceEvoConfig:
    iterations: int = 3
    samples_per_region: int = 12
    top_k: int = 3
    patch_window: int = 2
    rank_window: int = 7  # 7 steps of 0.05 = a 0.30 wide rank window
    fit_weight: float = 0.2
    min_fit: float = 0.15
    max_tries_factor: int = 1  # sampled sub-nets per region = samples_per_region * this (all counted for fit)
    seed: int = 0


@dataclass(frozen=True)
class RegionStats:
    rank_start: int  # index of the window's first rank ratio
    patch_start: int  # index of the window's first (largest) patch size
    region: Region
    fit: float
    acc: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"rank_start": self.rank_start, "patch_start": self.patch_start, "region": self.region.to_dict(),
                "fit": self.fit, "acc": self.acc, "n": self.n}


@dataclass
class SpaceEvoResult:
    region: Region
    history: list[dict[str, Any]] = field(default_factory=list)  # per iteration: regions measured, trends, move
    candidates: list[Candidate] = field(default_factory=list)


def region_at(space: SearchSpace, rank_start: int, patch_start: int, cfg: SpaceEvoConfig,
              allowed_patches: tuple[int, ...] | None = None) -> Region:
    patches = allowed_patches or space.patch_sizes
    return Region(tuple(patches[patch_start : patch_start + cfg.patch_window]),
                  tuple(space.rank_ratios[rank_start : rank_start + cfg.rank_window]))


def _lstsq_trend(points: list[tuple[float, float, float]]) -> np.ndarray:
    """[c0, c_rank, c_patch] of a least-squares plane through (rank, patch_index, value) (ridge-stabilised)."""
    a = np.array([[1.0, r, p] for r, p, _ in points])
    b = np.array([v for _, _, v in points])
    lam = 1e-6 * np.eye(3)
    return np.linalg.solve(a.T @ a + lam, a.T @ b)


def evolve_space(
    space: SearchSpace,
    acc_fn: Callable[[Arch], float],
    mem: MemoryCache,
    cfg: SpaceEvoConfig = SpaceEvoConfig(),
    start: Region | None = None,
    allowed_patches: tuple[int, ...] | None = None,
    progress: bool = True,
) -> SpaceEvoResult:
    """Move a (rank, patch) window of ``space`` towards accurate sub-nets that fit ``mem.budget``.

    ``allowed_patches`` limits the windows to the patch sizes the supernet was trained on (default: all).
    ``start`` picks the initial window (default: the highest ranks and the largest allowed patches).
    """
    patches = tuple(allowed_patches or space.patch_sizes)
    ranks = space.rank_ratios
    pw, rw = min(cfg.patch_window, len(patches)), min(cfg.rank_window, len(ranks))
    cfg = SpaceEvoConfig(**{**cfg.__dict__, "patch_window": pw, "rank_window": rw})
    max_r, max_p = len(ranks) - rw, len(patches) - pw
    if start is not None:
        r0 = max(0, min(max_r, ranks.index(min(start.rank_ratios)) if min(start.rank_ratios) in ranks else max_r))
        p0 = max(0, min(max_p, patches.index(max(start.patch_sizes)) if max(start.patch_sizes) in patches else 0))
    else:
        r0, p0 = max_r, 0
    rng = random.Random(f"space-evo:{cfg.seed}")
    stats: dict[tuple[int, int], RegionStats] = {}
    all_cands: list[Candidate] = []
    history: list[dict[str, Any]] = []

    def measure(ri: int, pi: int) -> RegionStats:
        if (ri, pi) in stats:
            return stats[(ri, pi)]
        reg = region_at(space, ri, pi, cfg, patches)
        n = cfg.samples_per_region * cfg.max_tries_factor
        archs = [space.sample(rng, reg) for _ in range(n)]
        fitting = [a for a in archs if mem.fits(a)]
        scored = sorted(((acc_fn(a), a) for a in fitting), key=lambda t: -t[0])
        for s, a in scored:
            all_cands.append(mem.candidate(a, s, "region-sample"))
        top = [s for s, _ in scored[: cfg.top_k]]
        st = RegionStats(ri, pi, reg, len(fitting) / n, float(np.mean(top)) if top else None, n)
        stats[(ri, pi)] = st
        return st

    bar = tqdm(total=cfg.iterations, desc="space evolution", unit="iter", disable=not progress, leave=False)
    for it in range(cfg.iterations):
        here = (r0, p0)
        neigh = {here, (max(0, r0 - 1), p0), (min(max_r, r0 + 1), p0), (r0, max(0, p0 - 1)), (r0, min(max_p, p0 + 1))}
        measured = [measure(*k) for k in sorted(neigh)]
        pts = [(m.rank_start, m.patch_start) for m in measured]
        acc_default = min([m.acc for m in measured if m.acc is not None], default=0.0)
        a_tr = _lstsq_trend([(r, p, m.acc if m.acc is not None else acc_default) for (r, p), m in zip(pts, measured)])
        f_tr = _lstsq_trend([(r, p, m.fit) for (r, p), m in zip(pts, measured)])
        obj = a_tr + cfg.fit_weight * f_tr
        move = [0, 0]
        for axis, limit, cur in ((0, max_r, r0), (1, max_p, p0)):
            g = obj[1 + axis]
            step = 1 if g > 1e-9 else -1 if g < -1e-9 else 0
            if step == 0 or not 0 <= cur + step <= limit:
                continue
            new = [r0, p0]
            new[axis] += step
            pred_fit = f_tr[0] + f_tr[1] * new[0] + f_tr[2] * new[1]
            if pred_fit >= cfg.min_fit:
                move[axis] = step
        cur_stats = stats[here]
        history.append({
            "iteration": it, "region": cur_stats.region.to_dict(), "fit": cur_stats.fit, "acc": cur_stats.acc,
            "measured": [m.to_dict() for m in measured],
            "acc_trend": {"const": float(a_tr[0]), "rank": float(a_tr[1]), "patch": float(a_tr[2])},
            "fit_trend": {"const": float(f_tr[0]), "rank": float(f_tr[1]), "patch": float(f_tr[2])},
            "move": {"rank_steps": move[0], "patch_steps": move[1]},
        })
        bar.update(1)
        if move == [0, 0]:
            break
        r0, p0 = r0 + move[0], p0 + move[1]
    bar.close()
    final = region_at(space, r0, p0, cfg, patches)
    # if the final window has nothing that fits, fall back to the measured window with the best fit share
    fm = stats.get((r0, p0))
    if fm is not None and fm.fit == 0:
        final = max(stats.values(), key=lambda s: (s.fit > 0, s.acc or 0.0, s.fit)).region
    return SpaceEvoResult(final, history, all_cands)
