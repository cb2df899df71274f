"""The whole ahead-of-time path in one call: export -> quantize -> partition/lower -> .pte bytes.

This is what the CLI, the NAS export step, benchmarks and tests use; users can write the same few lines themselves
(README, "Python API").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from executorch.exir import EdgeProgramManager, ExecutorchBackendConfig, to_edge, to_edge_transform_and_lower
from executorch.exir.passes.quantize_io_pass import quantize_input
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

from .lowering import Lowering
from .ops import RULES_BY_TARGET
from .partitioner import MCUFormerPartitioner
from .quant_math import quantize_f32
from .quantizer import MCUFormerQuantizer
from .serialization.serialize import deserialize


def quantize(model: torch.nn.Module, example: tuple, calibration: Iterable[torch.Tensor]) -> torch.fx.GraphModule:
    """PT2E: export, annotate with MCUFormerQuantizer, calibrate, convert."""
    model = model.eval()
    gm = torch.export.export(model, example, strict=True).module(check_guards=False)
    prepared = prepare_pt2e(gm, MCUFormerQuantizer())
    with torch.no_grad():
        for x in calibration:
            prepared(x)
    return convert_pt2e(prepared)


@dataclass
class Lowered:
    edge: EdgeProgramManager
    partitioner: MCUFormerPartitioner
    input_qparams: tuple[float, int] | None = None  # (scale, zero point) when the program takes an int8 input

    def quantize_input(self, x) -> np.ndarray:
        """A float image as the int8 input of an int8-input program: the same rounding the delegate's own QUANTIZE
        op applies to a float input."""
        scale, zp = self.input_qparams
        return quantize_f32(np.asarray(x, dtype=np.float32), 1.0 / scale, zp)

    def _lowered_modules(self):
        gm = self.edge.exported_program().graph_module
        return [getattr(gm, n.target) for n in gm.graph.nodes
                if n.op == "get_attr" and n.target.startswith("lowered_module")]

    def delegate_blobs(self) -> list[bytes]:
        return [m.processed_bytes for m in self._lowered_modules()]

    def programs(self):
        """The IR each delegate blob carries (scheduled and planned), read back from the blob."""
        return [deserialize(b) for b in self.delegate_blobs()]

    def reference_programs(self):
        """The golden model: each partition lowered op by op, before fusion and scheduling (fast to run in numpy)."""
        return [Lowering(m.original_module, RULES_BY_TARGET).run() for m in self._lowered_modules()]

    def undelegated_ops(self) -> list[str]:
        """Compute ops ExecuTorch would run itself (everything but the delegate calls and tuple unpacking)."""
        gm = self.edge.exported_program().graph_module
        return [n.name for n in gm.graph.nodes if n.op == "call_function"
                and "executorch_call_delegate" not in str(n.target) and "getitem" not in str(n.target)]

    def to_pte(self, inline: bool = False) -> bytes:
        import executorch.kernels.quantized  # noqa: F401, PLC0415  (out variants for q/dq left to ExecuTorch)

        config = ExecutorchBackendConfig(extract_delegate_segments=not inline)
        return self.edge.to_executorch(config).buffer


def lower(quantized: torch.fx.GraphModule, example: tuple, overwrite_input: bool = False,
          legacy: bool = False, int8_input: bool = False, sram_budget: int | None = None) -> Lowered:
    """Lowers a quantized module; legacy=True uses to_edge(...).to_backend(...) (decomposed ops).

    int8_input=True makes the program take its image already quantized (ExecuTorch's quantize_input): what a camera
    delivers on a microcontroller, and, with overwrite_input=True, the image buffer the plan may reuse (the setting
    plan_vit and the memory benchmarks assume). sram_budget: MCUFormerPartitioner's (multi-row tiles that fit it;
    None: the default board's budget, as plan_vit(arch); 0: one row per iteration).
    """
    ep = torch.export.export(quantized, example, strict=True)
    qparams = tuple(quantize_input(ep, 0)[:2]) if int8_input else None
    partitioner = MCUFormerPartitioner(overwrite_input=overwrite_input, sram_budget=sram_budget)
    if legacy:
        edge = to_edge(ep).to_backend(partitioner)
    else:
        edge = to_edge_transform_and_lower(ep, partitioner=[partitioner])
    return Lowered(edge, partitioner, qparams)
