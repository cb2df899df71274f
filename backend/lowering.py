"""Edge graph (quantized, delegated partition) -> IR Program.

Values flowing through the edge graph are tracked as
- `QVal`: an int8 IR tensor with its quantization (what every dequantize node stands for),
- `Const`: a constant from the program (weights, tables, embeddings), with per-tensor/per-channel quantization
  when it was dequantized, or plain float (LayerNorm affine parameters),
- `FloatIO`: a float32 delegate input or output.
Each op rule in `ops/` turns one edge node into IR ops on these values (see ops/__init__.py).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import torch
import torchao.quantization.pt2e.utils  # noqa: F401  (registers the quantized_decomposed ops)
from torch.export import ExportedProgram
from torch.fx import Node

from . import ir
from .quant_math import quantize_multiplier


class LoweringError(RuntimeError):
    """An edge node the backend cannot lower; the message names the node and the reason."""


@dataclass
class QVal:
    tid: int
    scale: float
    zp: int


@dataclass
class Const:
    data: np.ndarray
    scales: np.ndarray | None = None  # None: float constant
    zps: np.ndarray | None = None
    axis: int | None = None  # per-channel axis

    @property
    def per_tensor(self) -> bool:
        return self.scales is not None and self.scales.size == 1


@dataclass
class FloatIO:
    tid: int


def aten_target(node: Node):
    """The ATen overload behind an edge op (edge ops wrap them)."""
    return getattr(node.target, "_op", node.target)


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
    sig = ep.graph_signature
    name = node.target
    for mapping, store in ((sig.inputs_to_parameters, ep.state_dict), (sig.inputs_to_buffers, ep.state_dict),
                           (sig.inputs_to_lifted_tensor_constants, ep.constants)):
        if name in mapping:
            return store[mapping[name]]
    return None


class Lowering:
    def __init__(self, ep: ExportedProgram, rules: dict):
        self.ep = ep
        self.rules = rules
        self.program = ir.Program()
        self.vals: dict[Node, object] = {}

    # -- building blocks used by the op rules ---------------------------------------------------------------------
    def shape(self, node: Node) -> tuple[int, ...]:
        return tuple(int(d) for d in node.meta["val"].shape)

    def act(self, node: Node, shape=None, scale=None, zp=None) -> QVal:
        """A new int8 activation for `node`'s result, quantized as the graph quantizes it downstream."""
        if scale is None:
            scale, zp = self.out_qparams(node)
        tid = self.program.add_tensor(node.name, shape or self.shape(node), "int8", scale, zp)
        return QVal(tid, scale, zp)

    def out_qparams(self, node: Node) -> tuple[float, int]:
        """Quantization of a float result: found on the quantize node it flows into (through data movement)."""
        from .ops import MOVEMENT_TARGETS

        seen = []
        for u in node.users:
            if is_quantize(u):
                seen.append((float(u.args[1]), int(u.args[2])))
            elif aten_target(u) in MOVEMENT_TARGETS or aten_target(u) is operator.getitem:
                seen.append(self.out_qparams(u))
            else:
                raise LoweringError(f"{node.name}: result used by {u.name} ({u.target}) without being quantized")
        if not seen:
            raise LoweringError(f"{node.name}: result is never quantized")
        if any(abs(s - seen[0][0]) > 1e-12 * seen[0][0] or z != seen[0][1] for s, z in seen):
            raise LoweringError(f"{node.name}: result quantized with different parameters by its users")
        return seen[0]

    def value(self, arg):
        if isinstance(arg, Node):
            if arg not in self.vals:
                raise LoweringError(f"{arg.name} is used before it is lowered")
            return self.vals[arg]
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
        raise LoweringError(f"{user.name}: operand {getattr(arg, 'name', arg)} is not an int8 tensor")

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
                self._output(node)
        return self.program

    def _placeholder(self, node: Node):
        t = constant_tensor(self.ep, node)
        if t is not None:
            self.vals[node] = Const(t.detach().cpu().numpy())
            return
        val = node.meta["val"]
        if val.dtype == torch.float32:
            tid = self.program.add_tensor(node.name, tuple(val.shape), "float32")
            self.vals[node] = FloatIO(tid)
        elif val.dtype == torch.int8:
            dq = next((u for u in node.users if is_dequantize(u)), None)
            if dq is None:
                raise LoweringError(f"int8 input {node.name} is not dequantized")
            tid = self.program.add_tensor(node.name, tuple(val.shape), "int8", float(dq.args[1]), int(dq.args[2]))
            self.vals[node] = QVal(tid, float(dq.args[1]), int(dq.args[2]))
        else:
            raise LoweringError(f"input {node.name}: dtype {val.dtype} unsupported (float32 or int8)")
        self.program.inputs.append(tid)

    def _call(self, node: Node):
        target = aten_target(node)
        if target in QUANTIZE:
            return self._quantize(node)
        if target in DEQUANTIZE | DEQUANTIZE_CHANNEL:
            return self._dequantize(node)
        rule = self.rules.get(target)
        if rule is None:
            raise LoweringError(f"{node.name}: operator {target} is not supported by MCUFormerBackend")
        reason = rule.check(node)  # the partitioner's rule, checked again: preprocess may be called directly
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
        if isinstance(src, QVal):
            return src
        if isinstance(src, Const):
            if aten_target(node) in DEQUANTIZE_CHANNEL:
                scales = self.value(node.args[1])
                zps = self.value(node.args[2])
                scales = scales.data if isinstance(scales, Const) else np.asarray(scales)
                zps = zps.data if isinstance(zps, Const) else np.zeros_like(scales, dtype=np.int64)
                return Const(src.data, np.asarray(scales, np.float64), np.asarray(zps, np.int64), int(node.args[3]))
            return Const(src.data, np.array([float(node.args[1])]), np.array([int(node.args[2])]))
        raise LoweringError(f"{node.name}: cannot dequantize {node.args[0]}")

    def _output(self, node: Node):
        for arg in node.args[0]:
            v = self.value(arg)
            if is_dequantize(arg) or isinstance(v, FloatIO):
                if not isinstance(v, QVal):
                    raise LoweringError(f"output {arg.name} is not computed by the delegate")
                tid = self.program.add_tensor(arg.name, self.shape(arg), "float32")
                self.program.add_op("Dequantize", [v.tid], [tid], arg.name, scale=v.scale, zero_point=v.zp)
            elif isinstance(v, QVal):
                tid = v.tid
            else:
                raise LoweringError(f"output {getattr(arg, 'name', arg)} is not a tensor the delegate computes")
            self.program.outputs.append(tid)
