"""Residual / position-embedding add (two int8 operands, one shared shift) and multiplication or division by a
scalar (a requantization)."""
from __future__ import annotations

import numpy as np
import torch

from ..quant_math import dual_multiplier, quantize_multiplier
from ..values import Const, LoweringError, QVal
from .rule import Rule, aten_target, shape

aten = torch.ops.aten


def _strip(shape) -> tuple[int, ...]:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _roles(node):
    """(full, small): the operand index with the output's size and the one repeated over the output's leading dims."""
    out = shape(node)
    a, b = shape(node.args[0]), shape(node.args[1])
    full = 0 if int(np.prod(a)) == int(np.prod(out)) else 1
    return full, 1 - full


def _check_add(node):
    if len(node.args) > 2 or node.kwargs.get("alpha", 1) != 1:
        return "add with alpha != 1"
    if not all(isinstance(a, torch.fx.Node) for a in node.args[:2]):
        return "add of a scalar"
    out, a, b = shape(node), shape(node.args[0]), shape(node.args[1])
    n = int(np.prod(out))
    if int(np.prod(a)) != n and int(np.prod(b)) != n:
        return f"broadcast of both operands {list(a)} + {list(b)}"
    small = _strip(shape(node.args[_roles(node)[1]]))
    if small and out[len(out) - len(small):] != small:
        return f"broadcast over inner dims {list(a)} + {list(b)} (the kernel repeats an operand over leading dims only)"
    return None


def _operand(ctx, node, i: int, to_shape) -> QVal:
    """Operand i as an int8 tensor of shape to_shape (same elements: only size-1 dims differ), the form the ADD
    kernel takes: the full operand in the output's shape, the repeated one in the output's trailing dims."""
    arg = node.args[i]
    v = ctx.value(arg)
    if isinstance(v, Const) and v.per_tensor:
        v = Const(v.data.reshape(to_shape), v.scales, v.zps)
    q = ctx.qval(v if isinstance(v, Const) else arg, node)
    if ctx.program.tensors[q.tid].shape == tuple(to_shape):
        return q
    tid = ctx.program.add_tensor(f"{node.name}_in{i}", to_shape, "int8", q.scale, q.zp)
    ctx.program.add_op("Reshape", [q.tid], [tid], node.name)
    return QVal(tid, q.scale, q.zp)


def lower_add(ctx, node):
    full, small = _roles(node)
    out_shape = shape(node)
    a = _operand(ctx, node, full, out_shape)
    bs = shape(node.args[small])
    b = _operand(ctx, node, small, bs if out_shape[len(out_shape) - len(bs):] == bs else _strip(bs))
    out = ctx.act(node)
    ma, mb, s = dual_multiplier(a.scale / out.scale, b.scale / out.scale)
    ctx.program.add_op("Add", [a.tid, b.tid], [out.tid], node.name, a_zp=a.zp, b_zp=b.zp, output_zp=out.zp,
                       a_mult=ma, b_mult=mb, shift=s)
    return out


def _scalar(ctx, arg):
    v = ctx.value(arg) if isinstance(arg, torch.fx.Node) else arg
    if isinstance(v, Const) and v.data.size == 1:  # plain, or quantized per tensor (what the graph computes with)
        q = float(v.data.ravel()[0])
        return q if v.scales is None else (q - float(v.zps.ravel()[0])) * float(v.scales.ravel()[0])
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
    if "div" in str(aten_target(node)):
        k = 1.0 / k
    out = ctx.act(node)
    m, s = quantize_multiplier(k * x.scale / out.scale)
    ctx.program.add_op("Rescale", [x.tid], [out.tid], node.name, input_zp=x.zp, output_zp=out.zp, mult=m, shift=s)
    return out


ADD = Rule("add", (aten.add.Tensor,), lower_add, _check_add)
MUL_SCALAR = Rule("mul_scalar", (aten.mul.Tensor, aten.mul.Scalar, aten.div.Tensor, aten.div.Scalar), lower_mul,
                  _check_mul)
