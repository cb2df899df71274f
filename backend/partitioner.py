"""MCUFormerPartitioner: tags every node the backend can run, q/dq at the boundary included, for delegation.

A node is taken when an op rule exists for it and its `check` passes; compute ops must also be quantized (their
operands come from dequantize nodes, their results go to quantize nodes). Every rejection is logged with the node and
a one-line reason, and the reasons are kept in `self.rejections` for reports and tests.
"""
from __future__ import annotations

import logging
import operator

import torch
from executorch.exir.backend.compile_spec_schema import CompileSpec
from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult
from executorch.exir.backend.utils import tag_constant_data
from torch.export import ExportedProgram
from torch.fx import Node
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase

from .lowering import DEQUANTIZE, DEQUANTIZE_CHANNEL, QUANTIZE, aten_target, is_dequantize, is_quantize
from .ops import MOVEMENT_TARGETS, RULES_BY_TARGET

log = logging.getLogger(__name__)
aten = torch.ops.aten
BACKEND_ID = "MCUFormerBackend"


def _quantized_source(n) -> bool:
    """Whether a value reaches this point as dequantized int8 (possibly through data movement) or a constant."""
    while isinstance(n, Node) and n.op == "call_function" and (
            aten_target(n) in MOVEMENT_TARGETS and aten_target(n) is not operator.getitem):
        n = n.args[0] if not isinstance(n.args[0], (list, tuple)) else n.args[0][0]
    return not isinstance(n, Node) or is_dequantize(n) or n.op == "placeholder"


def _quantized_sink(n: Node) -> bool:
    return all(is_quantize(u) or (aten_target(u) in MOVEMENT_TARGETS and _quantized_sink(u)) for u in n.users) \
        and len(n.users) > 0


class _Support(OperatorSupportBase):
    def __init__(self, rejections: dict):
        self.rejections = rejections

    def is_node_supported(self, submodules, node: Node) -> bool:
        if node.op != "call_function":
            return False
        reason = self.reason(node)
        if reason is not None:
            if node.name not in self.rejections:
                self.rejections[node.name] = reason
                log.info("MCUFormerPartitioner: not delegating %s (%s): %s", node.name, aten_target(node), reason)
            return False
        return True

    @staticmethod
    def reason(node: Node) -> str | None:
        if node.op != "call_function":
            return "not an operator call"
        target = aten_target(node)
        if target in QUANTIZE or target in DEQUANTIZE:
            return None if node.args[5] == torch.int8 else f"quantization to {node.args[5]} (int8 only)"
        if target in DEQUANTIZE_CHANNEL:
            return None if node.args[0].op == "placeholder" else "per-channel dequantize of an activation"
        rule = RULES_BY_TARGET.get(target)
        if rule is None:
            return f"operator {target} has no MCUFormer kernel"
        try:
            reason = rule.check(node)
        except Exception as e:  # a malformed node is a rejection, never a crash of the partitioner
            reason = f"cannot be checked ({e})"
        if reason:
            return reason
        if target in MOVEMENT_TARGETS:
            return None
        tensors = [a for a in node.args if isinstance(a, Node)] + [
            a for arg in node.args if isinstance(arg, (list, tuple)) for a in arg if isinstance(a, Node)]
        if not all(_quantized_source(a) for a in tensors):
            return "not quantized (run MCUFormerQuantizer before lowering)"
        result = node
        if isinstance(node.meta.get("val"), (tuple, list)):  # native_layer_norm: (out, mean, rstd)
            result = next((u for u in node.users if u.args[1] == 0), node)
        if not _quantized_sink(result):
            return "result not quantized (run MCUFormerQuantizer before lowering)"
        return None


class MCUFormerPartitioner(Partitioner):
    """Delegates quantized ViTs to MCUFormerBackend.

    overwrite_input: allow the delegate to write over its int8 input buffer once consumed (the patch embedding
    writes tokens over the image rows it has read). Travels as the compile spec "overwrite_input".
    sram_budget: bytes of SRAM the delegate's plan may use (input pool + arena); the schedule then runs token loops in
    multi-row tiles, the fastest that fit (passes/tile_tokens.py; passes.tile_tokens.F746_SRAM_BUDGET is the
    STM32F746's 320 KB less the firmware's own needs). None: the smallest arena, one row per iteration (what
    plan_vit and the search predict). Travels as the compile spec "sram_budget" (uint64 little-endian).
    """

    def __init__(self, overwrite_input: bool = False, compile_specs: list[CompileSpec] | None = None,
                 sram_budget: int | None = None):
        super().__init__()
        specs = list(compile_specs or [])
        specs.append(CompileSpec("overwrite_input", bytes([int(bool(overwrite_input))])))
        if sram_budget is not None:
            if int(sram_budget) <= 0:
                raise ValueError(f"sram_budget must be a positive number of bytes, got {sram_budget}")
            specs.append(CompileSpec("sram_budget", int(sram_budget).to_bytes(8, "little")))
        self.delegation_spec = DelegationSpec(BACKEND_ID, specs)
        self.rejections: dict[str, str] = {}

    def ops_to_not_decompose(self, ep: ExportedProgram):
        keep = [aten.linear.default, aten.gelu.default, aten.layer_norm.default, aten.matmul.default]
        return keep, None

    def partition(self, exported_program: ExportedProgram) -> PartitionResult:
        self.rejections = {}
        gm = exported_program.graph_module
        partitioner = CapabilityBasedPartitioner(gm, _Support(self.rejections), allows_single_node_partition=True)
        tags = {}
        for partition in partitioner.propose_partitions():
            # a partition of only q/dq nodes computes nothing: leave it to ExecuTorch
            if all(is_quantize(n) or is_dequantize(n) for n in partition.nodes):
                continue
            tag = f"mcuformer_{partition.id}"
            for node in partition.nodes:
                node.meta["delegation_tag"] = tag
            tags[tag] = self.delegation_spec
        tag_constant_data(exported_program)
        return PartitionResult(tagged_exported_program=exported_program, partition_tags=tags)
