"""What a deployed candidate needs, from the backend's own functions: SRAM (its planner), flash and latency.

    mem = planner_predictor()           # mcuformer.backend.memory.plan_vit (imported lazily) + flash + latency
    est = mem(arch)                     # MemoryEstimate(total_sram_bytes, arena_bytes, flash_bytes, instructions)

SRAM is plan_vit's input + arena; flash is the firmware's code and data plus the `.pte` (predictors/flash.py);
instructions are the Cortex-M7 cost model's (predictors/latency.py). The search takes any ``MemoryFn``
(``Arch -> MemoryEstimate``-like object with ``total_sram_bytes``, ``flash_bytes`` and, for a latency budget,
``instructions``) as an argument; it never computes these itself. Tests inject fakes explicitly.

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
    instructions: float | None = None  # Cortex-M7 instructions per inference (None: not predicted)


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


def planner_predictor(cache: bool = True, latency: bool = True) -> MemoryFn:
    """The backend's planner, flash and latency predictors as one ``MemoryFn`` (memoized per Arch: Arch is
    hashable). ``latency=False`` skips the cost model (instructions None)."""
    plan_vit = _load_plan_vit()
    from .flash import predict_flash  # noqa: PLC0415 - after _load_plan_vit's clear error
    from .latency import LatencyPredictor  # noqa: PLC0415

    cost = LatencyPredictor() if latency else None

    def predict(arch: Arch) -> MemoryEstimate:
        rep = plan_vit(arch)
        return MemoryEstimate(int(rep.total_sram_bytes), int(rep.arena_bytes), predict_flash(arch).total_bytes,
                              cost.instructions(arch) if cost else None)

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
