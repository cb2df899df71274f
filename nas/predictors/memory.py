"""Memory of a candidate, from the same planner function that deploys it.

    mem = planner_predictor()           # wraps mcuformer.backend.memory.plan_vit (imported lazily)
    est = mem(arch)                     # MemoryEstimate(total_sram_bytes, arena_bytes, flash_bytes)

The search takes any ``MemoryFn`` (``Arch -> MemoryEstimate``-like object with ``total_sram_bytes`` and
``flash_bytes``) as an argument; it never computes memory itself. Tests inject fakes explicitly.

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
]


class MemoryReport(Protocol):
    total_sram_bytes: int
    flash_bytes: int


MemoryFn = Callable[[Arch], MemoryReport]


@dataclass(frozen=True)
class MemoryEstimate:
    total_sram_bytes: int
    arena_bytes: int
    flash_bytes: int


class PlannerUnavailable(ImportError):
    pass


def _load_plan_vit() -> Callable[[Any], Any]:
    try:
        from mcuformer.backend.memory import plan_vit  # noqa: PLC0415 - lazy on purpose
    except ImportError as e:
        raise PlannerUnavailable(
            "the backend's memory planner mcuformer.backend.memory.plan_vit is not importable "
            f"({e}); the search needs it as its memory predictor. Pass memory_fn=... explicitly "
            "(tests inject a fake), or use the paper's formula by name (paper_formula_predictor) for comparisons."
        ) from e
    return plan_vit


def planner_predictor(cache: bool = True) -> MemoryFn:
    """The backend planner as a ``MemoryFn`` (memoized per Arch: Arch is hashable)."""
    plan_vit = _load_plan_vit()

    def predict(arch: Arch) -> MemoryEstimate:
        rep = plan_vit(arch)
        return MemoryEstimate(int(rep.total_sram_bytes), int(getattr(rep, "arena_bytes", rep.total_sram_bytes)),
                              int(rep.flash_bytes))

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
