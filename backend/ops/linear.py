"""Weighted ops: linear (and its decomposed forms addmm / mm with a transposed weight) and the patch-embedding
convolution. Weights per-channel symmetric int8, bias int32 at input_scale * weight_scale; the input zero point is
folded into the bias ahead of time (schema.fbs, LinearParams / Conv2dParams)."""
from __future__ import annotations

import numpy as np
import torch

from ..quant_math import quantize_multiplier_array
from ..values import Const, LoweringError
from .rule import Rule, aten_target, shape

aten = torch.ops.aten


def _weight(ctx, arg, node, axis_of_out: int) -> tuple[np.ndarray, np.ndarray]:
    w = ctx.value(arg)
    if not isinstance(w, Const) or w.scales is None:
        raise LoweringError(f"{node.name}: weight {getattr(arg, 'name', arg)} is not a quantized constant")
    if np.any(w.zps != 0):
        raise LoweringError(f"{node.name}: weight is not symmetric (zero point != 0)")
    scales = np.broadcast_to(w.scales.ravel(), (w.data.shape[axis_of_out],)).astype(np.float64)
    return w.data, scales


def _bias(ctx, arg, node, bias_scales: np.ndarray) -> np.ndarray:
    n = bias_scales.shape[0]
    if arg is None:
        return np.zeros(n, np.int64)
    b = ctx.value(arg)
    if not isinstance(b, Const):
        raise LoweringError(f"{node.name}: bias is not a constant")
    if b.scales is None:  # float bias: quantize it here
        return np.round(b.data.astype(np.float64) / bias_scales).astype(np.int64)
    real = (b.data.astype(np.float64) - b.zps) * np.broadcast_to(b.scales.ravel(), (n,))
    q = b.data.astype(np.int64)
    if not np.allclose(np.broadcast_to(b.scales.ravel(), (n,)), bias_scales, rtol=1e-6):
        q = np.round(real / bias_scales).astype(np.int64)
    return q


def emit_weighted(ctx, node, kind, x_arg, w_arg, bias_arg, weight_transposed=False, **extra):
    """Shared by linear, addmm/mm and conv: reads the int8 weight (arriving as [K, N] when weight_transposed) and the
    bias, folds the input zero point into the bias, computes per-channel multipliers and emits the op."""
    x = ctx.qval(x_arg, node)
    w_int8, w_scales = _weight(ctx, w_arg, node, 1 if weight_transposed else 0)
    if weight_transposed:
        w_int8 = np.ascontiguousarray(w_int8.T)
    bias_q = _bias(ctx, bias_arg, node, x.scale * w_scales)
    out = ctx.act(node, shape(node))
    n = w_int8.shape[0]
    folded = bias_q - x.zp * w_int8.reshape(n, -1).astype(np.int64).sum(axis=1)
    if np.any(np.abs(folded) >= 2**31):
        raise LoweringError(f"{node.name}: bias out of int32 range")
    mult, sh = quantize_multiplier_array(x.scale * w_scales / out.scale)
    ins = [x.tid, ctx.const(f"{node.name}_w", w_int8.astype(np.int8)),
           ctx.const(f"{node.name}_b", folded.astype(np.int32)),
           ctx.const(f"{node.name}_m", mult), ctx.const(f"{node.name}_s", sh)]
    ctx.program.add_op(kind, ins, [out.tid], node.name, output_zp=out.zp, **extra)
    return out


def _bias_arg(node, index: int):
    return node.args[index] if len(node.args) > index else None


def lower_linear(ctx, node):
    return emit_weighted(ctx, node, "Linear", node.args[0], node.args[1], _bias_arg(node, 2), has_lut=False)


def lower_addmm(ctx, node):  # addmm(bias, x, w^T) / mm(x, w^T): the weight arrives transposed to [K, N]
    bias, x, wt = (node.args[0], node.args[1], node.args[2]) if len(node.args) == 3 else (None, *node.args[:2])
    return emit_weighted(ctx, node, "Linear", x, wt, bias, weight_transposed=True, has_lut=False)


def _check_conv(node):
    args = list(node.args) + [None] * 9
    x, w = node.args[0], node.args[1]
    stride, padding, dilation = args[3] or [1, 1], args[4] or [0, 0], args[5] or [1, 1]
    transposed, groups = (args[6] if aten.convolution.default == aten_target(node) else False), \
        (args[8] if aten.convolution.default == aten_target(node) else args[6]) or 1
    kshape = tuple(w.meta["val"].shape)
    if len(kshape) != 4:
        return "only 2-D convolution"
    if list(stride) != list(kshape[2:]) or any(padding) or any(d != 1 for d in dilation) or transposed or groups != 1:
        return (f"only patch-embedding convolutions (kernel == stride, no padding/dilation, groups 1); got kernel "
                f"{list(kshape[2:])}, stride {list(stride)}, padding {list(padding)}, groups {groups}")
    xs = tuple(x.meta["val"].shape)
    if xs[0] != 1 or xs[2] % kshape[2] or xs[3] % kshape[3]:
        return f"input {list(xs)} must be batch 1 and divisible into {list(kshape[2:])} patches"
    return None


def lower_conv(ctx, node):
    return emit_weighted(ctx, node, "Conv2d", node.args[0], node.args[1], _bias_arg(node, 2), tokens_layout=False)


LINEAR = Rule("linear", (aten.linear.default,), lower_linear)
ADDMM = Rule("addmm", (aten.addmm.default,), lower_addmm)
CONV = Rule("conv2d", (aten.convolution.default, aten.conv2d.default), lower_conv, _check_conv)
