"""Flash of a deployed candidate: the firmware's own code and data plus the `.pte` (weights and program).

    est = predict_flash(arch)      # FlashEstimate(firmware_bytes, pte_bytes, weights_bytes); est.total_bytes

`pte_bytes` is the delegate blob the backend serializes for ViT(arch) (the planned program of plan_vit's builder,
constants included), plus the bytes per tensor the real blob holds beyond it (the edge graph's tensor names and
quantization fields: about 15 B each), plus ExecuTorch's program around it; `firmware_bytes` is the code and data
of the firmware without a model. The overheads are measured on built ELFs by the calibration benchmark
(`benchmarks/bench_latency.py`) and stored with the cost model (`calibration.json`, `meta["firmware"]`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from mcuformer.backend.cost import firmware_overheads
from mcuformer.backend.ir import Program
from mcuformer.backend.serialization.serialize import serialize

from ..space import Arch
from .latency import scheduled_program

__all__ = ["FlashEstimate", "flash_of", "predict_flash"]


@dataclass(frozen=True)
class FlashEstimate:
    firmware_bytes: int  # vectors, code, read-only data and .data's image of the firmware without a model
    pte_bytes: int  # the .pte linked into flash: ExecuTorch's program + the delegate blob
    weights_bytes: int  # the blob's constants (weights, biases, multipliers, tables): plan_vit's flash_bytes

    @property
    def total_bytes(self) -> int:
        """Internal flash when the .pte is linked there (what a flash budget is compared with)."""
        return self.firmware_bytes + self.pte_bytes


@functools.lru_cache(maxsize=4096)
def predict_flash(arch: Arch, sram_budget: int | None = None) -> FlashEstimate:
    """The flash of the blob MCUFormerPartitioner(sram_budget=...) deploys (None: MCUFormerPartitioner()'s)."""
    return flash_of(scheduled_program(arch, sram_budget))


def flash_of(program: Program) -> FlashEstimate:
    """The flash of a planned program's blob (plan_vit's builder: shape-only constants)."""
    fw = firmware_overheads()
    blob = len(serialize(program)) + round(fw["blob_bytes_per_tensor"] * len(program.tensors))
    return FlashEstimate(int(fw["flash_bytes"]), blob + int(fw["pte_overhead_bytes"]), program.weight_bytes())
