"""Non-linearities. GELU, ReLU (and any int8 -> int8 elementwise function) is a 256-entry table computed ahead of time:
exact by construction and one load per element. Softmax is integer: a 256-entry exp table over (max - x), an integer
sum and one reciprocal per row (schema.fbs, SoftmaxParams)."""
from __future__ import annotations

import math

import numpy as np
import torch

from .rule import Rule, norm_dim, shape

aten = torch.ops.aten
EXP_Q = 20  # fractional bits of the exp table
SOFTMAX_SCALE, SOFTMAX_ZP = 1.0 / 256.0, -128


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x.ravel()]).reshape(x.shape)


def lut_table(fn, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    q = np.arange(-128, 128, dtype=np.float64)
    y = fn((q - in_zp) * in_scale)
    return np.clip(np.round(y / out_scale) + out_zp, -128, 127).astype(np.int8)


def _lower_lut(ctx, node, fn):
    x = ctx.qval(node.args[0], node)
    out = ctx.act(node)
    table = lut_table(fn, x.scale, x.zp, out.scale, out.zp)
    ctx.program.add_op("Lut", [x.tid, ctx.const(f"{node.name}_lut", table)], [out.tid], node.name)
    return out


def lower_gelu(ctx, node):
    approximate = node.kwargs.get("approximate", node.args[1] if len(node.args) > 1 else "none")
    return _lower_lut(ctx, node, lambda v: gelu(v, approximate))


def lower_relu(ctx, node):
    return _lower_lut(ctx, node, lambda v: np.maximum(v, 0.0))


def exp_table(in_scale: float) -> np.ndarray:
    d = np.arange(256, dtype=np.float64)
    return np.round(np.exp(-d * in_scale) * 2.0**EXP_Q).astype(np.int32)


def _check_softmax(node):
    rank = len(shape(node.args[0]))
    if norm_dim(int(node.args[1]), rank) != rank - 1:
        return "softmax only over the last dim"
    return None


def lower_softmax(ctx, node):
    x = ctx.qval(node.args[0], node)
    scale, zp = ctx.out_qparams(node)
    out = ctx.act(node, scale=SOFTMAX_SCALE, zp=SOFTMAX_ZP)
    ctx.program.add_op("Softmax", [x.tid, ctx.const(f"{node.name}_exp", exp_table(x.scale))], [out.tid], node.name)
    return ctx.requant(out, scale, zp, node.name)


GELU = Rule("gelu", (aten.gelu.default,), lower_gelu)
RELU = Rule("relu", (aten.relu.default,), lower_relu)
SOFTMAX = Rule("softmax", (aten.softmax.int, aten._softmax.default), lower_softmax, _check_softmax)
