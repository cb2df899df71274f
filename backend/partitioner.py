"""MCUFormerPartitioner: tags every node the backend can run, q/dq at the boundary included, for delegation.

One check, not two: a node is delegated when it lowers. The partitioner proposes partitions of the nodes that have an
op rule (or are int8 quantize / dequantize), then lowers each as preprocess will (`Lowering.failures`: the same walk,
the same rules and their conditions, on the partition as ExecuTorch will cut it out); nodes that do not lower are left
to ExecuTorch and partitions are proposed again until every partition lowers. Every rejection is logged with the node
and a one-line reason, and the reasons are kept in `self.rejections` for reports and tests.

What the check cannot see: ExecuTorch hands the partitioner constants without data (a fake program), so conditions on
constant values (a weight zero point that is not 0, a folded bias beyond int32, a requantization scale >= 2**30,
none of which MCUFormerQuantizer produces) are only met, with the node named, in preprocess.
"""
from __future__ import annotations

import logging

import torch
from executorch.exir.backend.compile_spec_schema import CompileSpec
from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult
from executorch.exir.backend.utils import tag_constant_data
from torch.export import ExportedProgram
from torch.fx import Node
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase

from .lowering import DEQUANTIZE, DEQUANTIZE_CHANNEL, QUANTIZE, Lowering, aten_target, is_dequantize, is_quantize
from .ops import MOVEMENT_TARGETS, RULES_BY_TARGET
from .passes.tile_tokens import check_budget_options

log = logging.getLogger(__name__)
aten = torch.ops.aten
BACKEND_ID = "MCUFormerBackend"
KEEP_WHOLE = (aten.linear.default, aten.gelu.default, aten.layer_norm.default, aten.matmul.default)


class _Candidates(OperatorSupportBase):
    """Nodes worth proposing: those with an op rule or q/dq, less the ones already found not to lower."""

    def __init__(self, rejected: dict[Node, str]):
        self.rejected = rejected

    def is_node_supported(self, submodules, node: Node) -> bool:
        if node.op != "call_function" or node in self.rejected:
            return False
        target = aten_target(node)
        if target in RULES_BY_TARGET or target in QUANTIZE | DEQUANTIZE | DEQUANTIZE_CHANNEL:
            return True
        self.rejected[node] = f"operator {target} has no MCUFormer kernel"
        return False


def _lowers_whole(ep: ExportedProgram, node: Node) -> bool:
    """Whether `node` lowers as one op: the lowering of the node with the dequantize nodes it reads and the quantize
    nodes its result reaches (both through data movement), as the smallest partition it can be delegated in."""
    if node.op != "call_function" or aten_target(node) not in KEEP_WHOLE:
        return False

    def moves(n) -> bool:
        return n.op == "call_function" and aten_target(n) in MOVEMENT_TARGETS

    members, up, down = {node}, list(node.all_input_nodes), [node]
    while up:
        a = up.pop()
        if a not in members and (is_dequantize(a) or moves(a)):
            members.add(a)
            up.extend(a.all_input_nodes if moves(a) else [])
    while down:
        for u in down.pop().users:
            if u not in members and (is_quantize(u) or moves(u)):
                members.add(u)
                down.append(u)
    return node not in Lowering(ep, RULES_BY_TARGET).failures([n for n in node.graph.nodes if n in members])


class MCUFormerPartitioner(Partitioner):
    """Delegates quantized ViTs to MCUFormerBackend.

    overwrite_input: allow the delegate to write over its int8 input buffer once consumed (the patch embedding
    writes tokens over the image rows it has read). Travels as the compile spec "overwrite_input".
    sram_budget: bytes of SRAM the delegate's plan may use (input pool + arena); the schedule runs token loops in
    multi-row tiles, the fastest that fit by the shared cost model (passes/tile_tokens.py). 0: one row per
    iteration (the smallest arena). Travels as the compile spec "sram_budget" (uint64 little-endian).
    target: a board of mcuformer.targets (e.g. "stm32h743"): the budget is then the board's SRAM less what the
    firmware itself needs, for the program's number of outputs (`model_sram_budget`). Travels as "target".
    Neither (the default): the budget of mcuformer.targets.DEFAULT_BOARD (the STM32F746), resolved in preprocess
    (tile_tokens.sram_budget_of); plan_vit(arch) and the search's predictors default to the same, and
    plan_vit(arch, sram_budget=...) predicts any budgeted blob exactly.
    """

    def __init__(self, overwrite_input: bool = False, compile_specs: list[CompileSpec] | None = None,
                 sram_budget: int | None = None, target: str | None = None):
        super().__init__()
        specs = list(compile_specs or [])
        specs.append(CompileSpec("overwrite_input", bytes([int(bool(overwrite_input))])))
        check_budget_options(sram_budget, target)
        if target is not None:
            from mcuformer.targets import board  # noqa: PLC0415

            specs.append(CompileSpec("target", board(target).name.encode()))
        if sram_budget is not None:
            specs.append(CompileSpec("sram_budget", int(sram_budget).to_bytes(8, "little")))
        self.delegation_spec = DelegationSpec(BACKEND_ID, specs)
        self.rejections: dict[str, str] = {}

    def ops_to_not_decompose(self, ep: ExportedProgram):
        """linear, gelu, layer_norm and matmul stay whole (one kernel each) where they lower whole: ExecuTorch has no
        kernel of its own for a whole linear, layer_norm or matmul, so one the partitioner would then reject must be
        decomposed instead (its parts are judged one by one)."""
        return list(KEEP_WHOLE), lambda node: _lowers_whole(ep, node)

    def partition(self, exported_program: ExportedProgram) -> PartitionResult:
        gm = exported_program.graph_module
        order = {n: i for i, n in enumerate(gm.graph.nodes)}
        rejected: dict[Node, str] = {}
        while True:
            proposed = CapabilityBasedPartitioner(gm, _Candidates(rejected), allows_single_node_partition=True)
            partitions, idle = [], []
            for p in proposed.propose_partitions():
                # a partition of only q/dq nodes computes nothing: leave it to ExecuTorch
                nodes = sorted(p.nodes, key=order.__getitem__)
                (idle if all(is_quantize(n) or is_dequantize(n) for n in nodes) else partitions).append(nodes)
            failed = {}
            for nodes in partitions:
                failed.update(Lowering(exported_program, RULES_BY_TARGET).failures(nodes))
            if not failed:
                break
            rejected.update(failed)
        for node in (n for nodes in idle for n in nodes):
            rejected[node] = "quantize / dequantize with no delegated op to serve"
        self.rejections = {}
        for node, reason in sorted(rejected.items(), key=lambda kv: order[kv[0]]):
            self.rejections[node.name] = reason
            log.info("MCUFormerPartitioner: not delegating %s (%s): %s", node.name, aten_target(node), reason)
        tags = {}
        for i, nodes in enumerate(partitions):
            tag = f"mcuformer_{i}"
            for node in nodes:
                node.meta["delegation_tag"] = tag
            tags[tag] = self.delegation_spec
        tag_constant_data(exported_program)
        return PartitionResult(tagged_exported_program=exported_program, partition_tags=tags)
