"""What a deployed candidate needs, from the backend's own functions: SRAM (its planner), flash and latency.

    mem = planner_predictor(sram_budget=b)  # mcuformer.backend.memory.planned_vit (imported lazily) + flash + latency
    est = mem(arch)                       # MemoryEstimate(total_sram_bytes, arena_bytes, flash_bytes, instructions,
                                          #                min_sram_bytes)

The deployed blob (MCUFormerPartitioner(sram_budget=...)) runs its token loops in the fastest multi-row tiles that
fit the budget, so its plan fills what the budget leaves: SRAM is that plan's input + arena (``total_sram_bytes``),
flash the firmware's code and data plus its `.pte` (predictors/flash.py), instructions its cost by the Cortex-M7
cost model (predictors/latency.py), all of one program. What the network NEEDS is the one-row plan
(``min_sram_bytes``): whether a candidate fits the SRAM budget, and how much of it it uses, are judged on that
(``sram_need``). The search takes any ``MemoryFn`` (``Arch -> MemoryEstimate``-like object with
``total_sram_bytes``, ``flash_bytes``, optionally ``min_sram_bytes`` and, for a latency budget, ``instructions``)
as an argument; it never computes these itself. Tests inject fakes explicitly.

``paper_formula_bytes`` is MCUFormer's published estimate, E*[(N+1)*(1+M) + E*M*r] elements (int8: bytes), taken
at the worst layer. It is here for comparison only (the 240 px report); it is not a predictor the search uses
unless asked to by name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..space import Arch, param_count

__all__ = [
    "MemoryEstimate",
    "MemoryFn",
    "PlannerUnavailable",
    "planner_predictor",
    "paper_formula_bytes",
    "paper_formula_predictor",
    "sram_need",
]


class MemoryReport(Protocol):
    total_sram_bytes: int
    flash_bytes: int


MemoryFn = Callable[[Arch], MemoryReport]


@dataclass(frozen=True)
class MemoryEstimate:
    total_sram_bytes: int  # deployed: input + arena of the blob tiled for the budget
    arena_bytes: int  # of the deployed blob
    flash_bytes: int
    instructions: float | None = None  # Cortex-M7 instructions per inference (None: not predicted)
    min_sram_bytes: int | None = None  # one row per token loop: the least SRAM it runs in (None: total_sram_bytes)


def sram_need(mem: Any) -> int:
    """The SRAM a candidate needs (what budgets judge): its one-row plan, else (no tiles predicted) its total."""
    need = getattr(mem, "min_sram_bytes", None)
    return int(mem.total_sram_bytes if need is None else need)


class PlannerUnavailable(ImportError):
    pass


def _load_planned_vit() -> Callable[..., Any]:
    try:
        from mcuformer.backend.memory import planned_vit  # noqa: PLC0415 - lazy on purpose
    except ImportError as e:
        raise PlannerUnavailable(
            "the backend's memory planner mcuformer.backend.memory.plan_vit is not importable "
            f"({e}); the search needs it as its memory predictor. Pass memory_fn=... explicitly "
            "(tests inject a fake), or use the paper's formula by name (paper_formula_predictor) for comparisons."
        ) from e
    return planned_vit


def planner_predictor(cache: bool = True, latency: bool = True, sram_budget: int | None = None) -> MemoryFn:
    """The backend's planner, flash and latency predictors as one ``MemoryFn`` for the blob
    MCUFormerPartitioner(sram_budget=sram_budget) deploys (None: the default board's budget, as
    MCUFormerPartitioner(); the search passes its ``Budget.sram_bytes``), memoized per Arch (Arch is hashable).
    The one-row plan (a few ms) comes first: a candidate that needs more than the budget deploys it as it is
    (no tile fits), so only the ones that fit pay for the tile choice (~100-200 ms), once. ``latency=False``
    skips the cost model (instructions None)."""
    planned_vit = _load_planned_vit()
    from mcuformer.backend.cost import default_model  # noqa: PLC0415 - after _load_planned_vit's clear error
    from mcuformer.backend.passes.tile_tokens import sram_budget_of  # noqa: PLC0415

    from .flash import flash_of  # noqa: PLC0415

    model = default_model() if latency else None

    def predict(arch: Arch) -> MemoryEstimate:
        program, rep = planned_vit(arch, sram_budget=0)
        need = int(rep.total_sram_bytes)
        if need <= sram_budget_of(program, sram_budget):
            program, rep = planned_vit(arch, sram_budget=sram_budget)
        return MemoryEstimate(int(rep.total_sram_bytes), int(rep.arena_bytes), flash_of(program).total_bytes,
                              model.instructions(program) if model else None, need)

    return functools.lru_cache(maxsize=None)(predict) if cache else predict


def paper_formula_bytes(arch: Arch, bytes_per_element: int = 1) -> int:
    """MCUFormer's peak-memory formula E*[(N+1)*(1+M) + E*M*r], maximised over layers (N = patches)."""
    e, n = arch.embed_dim, arch.num_patches
    worst = max(e * ((n + 1) * (1 + m) + e * m * r) for m, r in zip(arch.mlp_ratio, arch.rank_ratio))
    return int(round(worst)) * bytes_per_element


def paper_formula_predictor(arch: Arch) -> MemoryEstimate:
    """The paper's formula dressed as a ``MemoryFn`` (flash: int8 parameter bytes). For comparisons only."""
    b = paper_formula_bytes(arch)
    return MemoryEstimate(b, b, param_count(arch))
