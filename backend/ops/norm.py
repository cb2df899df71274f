"""LayerNorm over the last dim, integer-only: mean and variance in integers, an exact integer square root, the
normalized value in Q11, gamma as 12-bit integers and beta at the matching scale (schema.fbs, LayerNormParams)."""
from __future__ import annotations

import numpy as np
import torch

from ..quant_math import quantize_multiplier
from ..values import Const, LoweringError
from .rule import Rule, shape

aten = torch.ops.aten
NORM_Q = 11  # fractional bits of the normalized value (fixed by the kernel)
GAMMA_MAX = 4095  # gamma quantized to 12 bits: keeps n * gamma + beta inside int32 for C <= 2048


def _check(node):
    normalized = list(node.args[1])
    if len(normalized) != 1:
        return f"only normalization over the last dim (normalized_shape {normalized})"
    if normalized[0] > 2048:
        return f"normalized size {normalized[0]} > 2048"
    return None


def _float_param(ctx, arg, default: float, c: int) -> np.ndarray:
    if arg is None:
        return np.full(c, default, np.float64)
    v = ctx.value(arg)
    if not isinstance(v, Const):
        raise LoweringError(f"LayerNorm parameter {arg} is not a constant")
    data = v.data.astype(np.float64)
    return (data - v.zps) * v.scales if v.scales is not None else data


def lower_layer_norm(ctx, node):
    x = ctx.qval(node.args[0], node)
    c = int(node.args[1][0])
    gamma = _float_param(ctx, node.args[2] if len(node.args) > 2 else None, 1.0, c)
    beta = _float_param(ctx, node.args[3] if len(node.args) > 3 else None, 0.0, c)
    eps = float(node.args[4]) if len(node.args) > 4 else 1e-5
    # native_layer_norm returns (out, mean, rstd); the quantized result is element 0
    out_node = next(iter(u for u in node.users if u.args[1] == 0), None) if isinstance(
        node.meta["val"], (tuple, list)) else node
    if out_node is None:
        raise LoweringError(f"{node.name}: normalized output unused")
    out = ctx.act(out_node, shape(out_node))
    g_scale = max(float(np.abs(gamma).max()), 1e-12) / GAMMA_MAX
    acc_scale = g_scale * 2.0**-NORM_Q
    g = np.round(gamma / g_scale).astype(np.int32)
    b = np.clip(np.round(beta / acc_scale), -(2**29), 2**29).astype(np.int32)
    m, s = quantize_multiplier(acc_scale / out.scale)
    eps_q = int(round(c * c * eps / (x.scale * x.scale)))
    ctx.program.add_op("LayerNorm", [x.tid, ctx.const(f"{node.name}_gamma", g), ctx.const(f"{node.name}_beta", b)],
                       [out.tid], node.name, eps=eps_q, output_zp=out.zp, mult=m, shift=s)
    return out


LAYER_NORM = Rule("layer_norm", (aten.layer_norm.default, aten.native_layer_norm.default), lower_layer_norm, _check)
