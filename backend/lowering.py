"""Edge graph (quantized, delegated partition) -> IR Program.

The walk tracks `values.QVal` / `Const` / `FloatIO` per edge node; each op rule in `ops/` turns one edge node into
IR ops on these values (see ops/__init__.py). The same walk is the partitioner's check: `Lowering.failures` lowers a
proposed partition as preprocess will once ExecuTorch has cut it out, so a node is delegated only if it lowers.
"""
from __future__ import annotations

import operator

import numpy as np
import torch
import torchao.quantization.pt2e.utils  # noqa: F401  (registers the quantized_decomposed ops)
from torch._subclasses.fake_tensor import is_fake
from torch.export import ExportedProgram
from torch.fx import Node

from . import ir
from .ops import MOVEMENT_TARGETS
from .ops.rule import aten_target
from .quant_math import quantize_multiplier
from .values import Const, FloatIO, LoweringError, QVal

__all__ = ["Lowering", "LoweringError", "Const", "FloatIO", "QVal"]


Q = torch.ops.quantized_decomposed
QUANTIZE = {Q.quantize_per_tensor.default}
DEQUANTIZE = {Q.dequantize_per_tensor.default}
DEQUANTIZE_CHANNEL = {Q.dequantize_per_channel.default}


def is_quantize(n) -> bool:
    return isinstance(n, Node) and n.op == "call_function" and aten_target(n) in QUANTIZE


def is_dequantize(n) -> bool:
    return isinstance(n, Node) and n.op == "call_function" and aten_target(n) in DEQUANTIZE | DEQUANTIZE_CHANNEL


def constant_tensor(ep: ExportedProgram, node: Node) -> torch.Tensor | None:
    """The value of a lifted parameter / buffer / constant placeholder, or None for a user input."""
    if node.op != "placeholder":
        return None
    sig = ep.graph_signature
    name = node.target
    for mapping, store in ((sig.inputs_to_parameters, ep.state_dict), (sig.inputs_to_buffers, ep.state_dict),
                           (sig.inputs_to_lifted_tensor_constants, ep.constants)):
        if name in mapping:
            return store[mapping[name]]
    return None


def _array(t: torch.Tensor) -> np.ndarray:
    """A constant as numpy. ExecuTorch hands the partitioner a fake program (constants without data): there a
    constant stands in as a neutral array of its shape and dtype (1.0 for floats, 0 for integers), so the check
    covers shapes, dtypes and graph structure; preprocess gets the real values."""
    if is_fake(t):
        dtype = torch.empty(0, dtype=t.dtype).numpy().dtype
        return np.full(tuple(t.shape), 1 if t.dtype.is_floating_point else 0, dtype=dtype)
    return t.detach().cpu().numpy()


def _tensor_args(node: Node) -> list[Node]:
    """The nodes `node` reads, in argument order (lists such as cat's operands flattened)."""
    out = []
    for a in (*node.args, *node.kwargs.values()):
        for x in (a if isinstance(a, (list, tuple)) else (a,)):
            if isinstance(x, Node) and x not in out:
                out.append(x)
    return out


class _Unusable:
    """An outside value that cannot enter the delegate (the partitioner's check): any use raises its reason."""

    def __init__(self, reason: str):
        self.reason = reason


class Lowering:
    def __init__(self, ep: ExportedProgram, rules: dict):
        self.ep = ep
        self.rules = rules
        self.program = ir.Program()
        self.vals: dict[Node, object] = {}
        self.members: set[Node] | None = None  # the partition being checked (None: the whole graph)

    # -- building blocks used by the op rules ---------------------------------------------------------------------
    def shape(self, node: Node) -> tuple[int, ...]:
        return tuple(int(d) for d in node.meta["val"].shape)

    def act(self, node: Node, shape=None, scale=None, zp=None) -> QVal:
        """A new int8 activation for `node`'s result, quantized as the graph quantizes it downstream."""
        if scale is None:
            scale, zp = self.out_qparams(node)
        tid = self.program.add_tensor(node.name, shape or self.shape(node), "int8", scale, zp)
        return QVal(tid, scale, zp)

    def inside(self, node: Node) -> bool:
        """Whether `node` is part of what is being lowered (the graph's output node is, in a delegated program)."""
        return self.members is None or node in self.members

    def out_qparams(self, node: Node) -> tuple[float, int]:
        """Quantization of a float result: found on the quantize node it flows into (through data movement)."""
        seen = []
        for u in node.users:
            if not self.inside(u):
                raise LoweringError(f"{node.name}: result leaves the delegate (used by {u.name}) without being "
                                    "quantized")
            if is_quantize(u):
                seen.append((float(u.args[1]), int(u.args[2])))
            elif aten_target(u) in MOVEMENT_TARGETS or aten_target(u) is operator.getitem:
                seen.append(self.out_qparams(u))
            else:
                raise LoweringError(f"{node.name}: result used by {u.name} ({u.target}) without being quantized "
                                    "(run MCUFormerQuantizer before lowering)")
        if not seen:
            raise LoweringError(f"{node.name}: result is never quantized")
        if any(abs(s - seen[0][0]) > 1e-12 * seen[0][0] or z != seen[0][1] for s, z in seen):
            raise LoweringError(f"{node.name}: result quantized with different parameters by its users")
        return seen[0]

    def value(self, arg):
        if isinstance(arg, Node):
            if arg not in self.vals:
                raise LoweringError(f"{arg.name} is used before it is lowered")
            v = self.vals[arg]
            if isinstance(v, _Unusable):
                raise LoweringError(v.reason)
            return v
        return arg

    def qval(self, arg, user: Node) -> QVal:
        """An int8 activation operand; quantized constants become IR constants."""
        v = self.value(arg)
        if isinstance(v, QVal):
            return v
        if isinstance(v, Const) and v.per_tensor:
            tid = self.program.add_constant(f"{getattr(arg, 'name', 'const')}", v.data.astype(np.int8))
            self.program.tensors[tid].scale = float(v.scales.ravel()[0])
            self.program.tensors[tid].zero_point = int(v.zps.ravel()[0])
            return QVal(tid, float(v.scales.ravel()[0]), int(v.zps.ravel()[0]))
        raise LoweringError(f"{user.name}: operand {getattr(arg, 'name', arg)} is not an int8 tensor (not quantized: "
                            "run MCUFormerQuantizer before lowering)")

    def const(self, name: str, data: np.ndarray) -> int:
        return self.program.add_constant(name, data)

    def requant(self, src: QVal, scale: float, zp: int, name: str) -> QVal:
        """Rescale src to (scale, zp) when it differs."""
        if abs(src.scale - scale) <= 1e-12 * scale and src.zp == zp:
            return src
        shape = self.program.tensors[src.tid].shape
        out = QVal(self.program.add_tensor(name + "_rq", shape, "int8", scale, zp), scale, zp)
        m, s = quantize_multiplier(src.scale / scale)
        self.program.add_op("Rescale", [src.tid], [out.tid], name, input_zp=src.zp, output_zp=zp, mult=m, shift=s)
        return out

    # -- the walk -------------------------------------------------------------------------------------------------
    def run(self) -> ir.Program:
        graph = self.ep.graph_module.graph
        for node in graph.nodes:
            if node.op == "placeholder":
                self._placeholder(node)
            elif node.op == "call_function":
                self.vals[node] = self._call(node)
            elif node.op == "output":
                for arg in node.args[0]:
                    self.program.outputs.append(self._output(arg))
        return self.program

    def failures(self, nodes: list[Node]) -> dict[Node, str]:
        """The partitioner's check: lowers `nodes` (call_function nodes of the graph, in graph order) as preprocess
        will once ExecuTorch has cut them out: values from outside enter as delegate inputs, results used outside
        leave as outputs. Returns {node: one-line reason} for the nodes that do not lower; such a node is treated
        from then on as an input from outside (what it becomes when the partitioner leaves it out)."""
        self.members = set(nodes)
        failed: dict[Node, str] = {}

        def enter(n: Node):  # a value from outside, as the delegated program's placeholder
            try:
                self._placeholder(n)
            except Exception as e:  # noqa: BLE001  (any failure is the reason the consumer cannot be delegated)
                self.vals[n] = _Unusable(_reason(e))

        for node in nodes:
            for arg in _tensor_args(node):
                if arg not in self.vals and not self.inside(arg):
                    enter(arg)
            try:
                self.vals[node] = self._call(node)
            except Exception as e:  # noqa: BLE001  (a rule that raises anything is a node not to delegate)
                failed[node] = _reason(e, node)
                self.members.discard(node)
                enter(node)
        for node in nodes:
            if node in self.members and any(not self.inside(u) for u in node.users):
                try:
                    self._output(node)
                except Exception as e:  # noqa: BLE001
                    failed[node] = _reason(e, node)
        return failed

    def _placeholder(self, node: Node):
        t = constant_tensor(self.ep, node)
        if t is not None:
            self.vals[node] = Const(_array(t))
            return
        val = node.meta["val"]
        if not isinstance(val, torch.Tensor):
            raise LoweringError(f"input {node.name} is not a tensor")
        if val.dtype == torch.float32:
            tid = self.program.add_tensor(node.name, tuple(val.shape), "float32")
            self.vals[node] = FloatIO(tid)
        elif val.dtype == torch.int8:
            dq = next((u for u in node.users if is_dequantize(u) and self.inside(u)), None)
            if dq is None:
                raise LoweringError(f"int8 input {node.name} is not dequantized")
            tid = self.program.add_tensor(node.name, tuple(val.shape), "int8", float(dq.args[1]), int(dq.args[2]))
            self.vals[node] = QVal(tid, float(dq.args[1]), int(dq.args[2]))
        else:
            raise LoweringError(f"input {node.name}: dtype {val.dtype} unsupported (float32 or int8)")
        self.program.inputs.append(tid)

    def _call(self, node: Node):
        target = aten_target(node)
        if target in QUANTIZE | DEQUANTIZE | DEQUANTIZE_CHANNEL:
            at = 6 if target in DEQUANTIZE_CHANNEL else 5  # (x, scale(s), zp(s), [axis,] qmin, qmax, dtype)
            dtype = node.kwargs.get("dtype", node.args[at] if len(node.args) > at else None)
            bias = target not in QUANTIZE and isinstance(self.value(node.args[0]), Const)  # int32 biases
            if dtype != torch.int8 and not (bias and dtype == torch.int32):
                raise LoweringError(f"{node.name}: quantization to {dtype} (int8 only)")
            if node.kwargs.get("out_dtype") not in (None, torch.float32):
                raise LoweringError(f"{node.name}: dequantization to {node.kwargs['out_dtype']} (float32 only)")
            return self._quantize(node) if target in QUANTIZE else self._dequantize(node)
        rule = self.rules.get(target)
        if rule is None:
            raise LoweringError(f"{node.name}: operator {target} has no MCUFormer kernel")
        reason = rule.check(node)  # the rule's conditions on shapes and arguments, before it builds anything
        if reason:
            raise LoweringError(f"{node.name}: {reason}")
        return rule.lower(self, node)

    def _quantize(self, node: Node):
        src = self.value(node.args[0])
        scale, zp = float(node.args[1]), int(node.args[2])
        if isinstance(src, FloatIO):
            tid = self.program.add_tensor(node.name, self.shape(node), "int8", scale, zp)
            self.program.add_op("Quantize", [src.tid], [tid], node.name, inv_scale=1.0 / scale, zero_point=zp)
            return QVal(tid, scale, zp)
        if isinstance(src, QVal):
            return self.requant(src, scale, zp, node.name)
        if isinstance(src, Const) and (src.scales is None or src.per_tensor):
            if src.per_tensor and abs(float(src.scales.ravel()[0]) - scale) <= 1e-12 * scale and \
                    int(src.zps.ravel()[0]) == zp:
                return src
            real = src.data if src.scales is None else (src.data.astype(np.float64) - src.zps) * src.scales
            q = np.clip(np.round(real / scale) + zp, -128, 127).astype(np.int8)
            return Const(q, np.array([scale]), np.array([zp]))
        raise LoweringError(f"{node.name}: cannot quantize {node.args[0]}")

    def _dequantize(self, node: Node):
        src = self.value(node.args[0])
        per_channel = aten_target(node) in DEQUANTIZE_CHANNEL
        if isinstance(src, QVal) and not per_channel:
            return src
        if isinstance(src, Const):
            if per_channel:
                scales = self.value(node.args[1])
                zps = self.value(node.args[2])
                scales = scales.data if isinstance(scales, Const) else np.asarray(scales)
                zps = zps.data if isinstance(zps, Const) else np.zeros_like(scales, dtype=np.int64)
                return Const(src.data, np.asarray(scales, np.float64), np.asarray(zps, np.int64), int(node.args[3]))
            return Const(src.data, np.array([float(node.args[1])]), np.array([int(node.args[2])]))
        what = "per-channel dequantize of an activation" if per_channel else f"cannot dequantize {node.args[0]}"
        raise LoweringError(f"{node.name}: {what}")

    def _output(self, arg) -> int:
        """The tensor id of one delegate output, of the dtype the graph gives it there: int8 as computed, float32
        through a Dequantize op (a dequantized value, or a view of one)."""
        v = self.value(arg)
        if not isinstance(v, QVal):
            raise LoweringError(f"output {getattr(arg, 'name', arg)}: a value would leave the delegate without being "
                                "computed in it")
        dtype = arg.meta["val"].dtype
        if dtype == torch.int8:
            return v.tid
        if dtype != torch.float32:
            raise LoweringError(f"output {arg.name}: dtype {dtype} (float32 or int8)")
        tid = self.program.add_tensor(arg.name, self.shape(arg), "float32")
        self.program.add_op("Dequantize", [v.tid], [tid], arg.name, scale=v.scale, zero_point=v.zp)
        return tid


def _reason(e: Exception, node: Node | None = None) -> str:
    """One line: a LoweringError's own message (less the node's name, which the caller keys it by), or the exception
    type and message."""
    msg = str(e) if isinstance(e, LoweringError) else f"cannot be lowered ({type(e).__name__}: {e})"
    if node is not None and msg.startswith(f"{node.name}: "):
        msg = msg[len(node.name) + 2:]
    return msg.splitlines()[0] if msg else type(e).__name__
