"""Residual / position-embedding add (two int8 operands, one shared shift) and multiplication or division by a
scalar (a requantization)."""
from __future__ import annotations

import numpy as np
import torch

from ..lowering import Const, LoweringError
from ..quant_math import dual_multiplier, quantize_multiplier
from .rule import Rule, shape

aten = torch.ops.aten


def _trailing(small, big) -> bool:
    small = tuple(small)
    while small and small[0] == 1 and len(small) > 0:
        small = small[1:]
    return tuple(big[len(big) - len(small):]) == small if small else True


def _check_add(node):
    if len(node.args) > 2 or node.kwargs.get("alpha", 1) != 1:
        return "add with alpha != 1"
    if not all(isinstance(a, torch.fx.Node) for a in node.args[:2]):
        return "add of a scalar"
    a, b = shape(node.args[0]), shape(node.args[1])
    out = shape(node)
    if tuple(a) != out and tuple(b) != out:
        return f"broadcast of both operands {list(a)} + {list(b)}"
    if not (_trailing(b, out) if tuple(a) == out else _trailing(a, out)):
        return f"broadcast only over leading dims: {list(a)} + {list(b)}"
    return None


def lower_add(ctx, node):
    a, b = ctx.qval(node.args[0], node), ctx.qval(node.args[1], node)
    if ctx.program.tensors[a.tid].numel < ctx.program.tensors[b.tid].numel:
        a, b = b, a
    out = ctx.act(node)
    ma, mb, s = dual_multiplier(a.scale / out.scale, b.scale / out.scale)
    ctx.program.add_op("Add", [a.tid, b.tid], [out.tid], node.name, a_zp=a.zp, b_zp=b.zp, output_zp=out.zp,
                       a_mult=ma, b_mult=mb, shift=s)
    return out


def _scalar(ctx, arg):
    v = ctx.value(arg) if isinstance(arg, torch.fx.Node) else arg
    if isinstance(v, Const) and v.data.size == 1 and v.scales is None:
        return float(v.data.ravel()[0])
    if isinstance(v, (int, float)):
        return float(v)
    return None


def _check_mul(node):
    if not isinstance(node.args[0], torch.fx.Node):
        return "first operand is not a tensor"
    other = node.args[1]
    if isinstance(other, torch.fx.Node) and int(np.prod(shape(other))) != 1:
        return "multiplication of two tensors (only by a scalar)"
    return None


def lower_mul(ctx, node):
    x = ctx.qval(node.args[0], node)
    k = _scalar(ctx, node.args[1])
    if k is None:
        raise LoweringError(f"{node.name}: the multiplier is not a constant scalar")
    if "div" in str(getattr(node.target, "_op", node.target)):
        k = 1.0 / k
    out = ctx.act(node)
    m, s = quantize_multiplier(k * x.scale / out.scale)
    ctx.program.add_op("Rescale", [x.tid], [out.tid], node.name, input_zp=x.zp, output_zp=out.zp, mult=m, shift=s)
    return out


ADD = Rule("add", (aten.add.Tensor,), lower_add, _check_add)
MUL_SCALAR = Rule("mul_scalar", (aten.mul.Tensor, aten.mul.Scalar, aten.div.Tensor, aten.div.Scalar), lower_mul,
                  _check_mul)
