"""Cortex-M7 latency of a candidate from its architecture alone, by the backend's cost model.

    lat = LatencyPredictor()                 # the committed calibration (mcuformer.backend.cost)
    lat.instructions(arch)                   # per inference, as QEMU counts them on the real firmware
    lat.ms(arch, clock_hz=216e6)             # one instruction per cycle: QEMU models no caches or wait states

The program is the one the backend deploys for ViT(arch): `build_vit_ir` (plan_vit's builder) and the backend's
passes and planner; the cost of each of its ops is `CostModel`'s. Nothing here knows a kernel.
"""
from __future__ import annotations

import functools

from mcuformer.backend.cost import CostModel, default_model
from mcuformer.backend.ir import Program
from mcuformer.backend.memory.vit import planned_vit

from ..space import Arch

__all__ = ["LatencyPredictor", "scheduled_program"]


def scheduled_program(arch: Arch, sram_budget: int | None = None) -> Program:
    """The fused, scheduled and planned program of ViT(arch) (plan_vit's), deployed default: an int8 image it may
    overwrite; sram_budget: MCUFormerPartitioner(sram_budget=...)'s, token loops in the tiles the backend picks for
    it (None: the default board's budget, as MCUFormerPartitioner(); 0: one row per iteration)."""
    return planned_vit(arch, sram_budget=sram_budget)[0]


class LatencyPredictor:
    """sram_budget: predicts the blob MCUFormerPartitioner(sram_budget=...) deploys (None: MCUFormerPartitioner()'s,
    the default board's budget; 0: one row per iteration)."""

    def __init__(self, model: CostModel | None = None, sram_budget: int | None = None) -> None:
        self.model = model or default_model()
        self.sram_budget = sram_budget
        self.instructions = functools.lru_cache(maxsize=None)(self._instructions)

    def _instructions(self, arch: Arch) -> float:
        return self.model.instructions(scheduled_program(arch, self.sram_budget))

    def ms(self, arch: Arch, clock_hz: float) -> float:
        return self.instructions(arch) / clock_hz * 1e3
