"""Data movement: views and reshapes (free when planned in place), permutes (a view when only size-1 dims move),
select / slice, concat, expand without real expansion. On constants they are folded ahead of time."""
from __future__ import annotations

import operator

import numpy as np
import torch

from ..values import Const, LoweringError, QVal
from .rule import Rule, aten_target, norm_dim, shape

aten = torch.ops.aten
_dim_order = getattr(torch.ops, "dim_order_ops", None)


def _emit(ctx, node, kind, src: QVal, out_shape, **params) -> QVal:
    out = ctx.act(node, out_shape, src.scale, src.zp)
    ctx.program.add_op(kind, [src.tid], [out.tid], node.name, **params)
    return out


def _fold_const(v: Const, fn, axis_map=None) -> Const:
    axis = v.axis
    if axis is not None and not v.per_tensor:
        if axis_map is None:
            raise LoweringError("data movement on a per-channel constant changes its channel axis")
        axis = axis_map(axis)
    return Const(fn(v.data), v.scales, v.zps, axis)


def lower_view(ctx, node):
    src = ctx.value(node.args[0])
    out_shape = shape(node)
    if isinstance(src, Const):
        keep = tuple(src.data.shape) == out_shape
        return _fold_const(src, lambda d: d.reshape(out_shape), (lambda a: a) if keep else None)
    src = ctx.qval(node.args[0], node)
    if ctx.program.tensors[src.tid].shape == out_shape:
        return src
    return _emit(ctx, node, "Reshape", src, out_shape)


def _perm(node) -> list[int]:
    t = aten_target(node)
    rank = len(shape(node.args[0]))
    if t in (aten.permute.default, aten.permute_copy.default):
        return [norm_dim(int(d), rank) for d in node.args[1]]
    if t in (aten.t.default, aten.t_copy.default):
        return [1, 0] if rank == 2 else [0]
    d0, d1 = norm_dim(int(node.args[1]), rank), norm_dim(int(node.args[2]), rank)
    perm = list(range(rank))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return perm


def lower_permute(ctx, node):
    perm = _perm(node)
    src = ctx.value(node.args[0])
    if isinstance(src, Const):
        return _fold_const(src, lambda d: np.ascontiguousarray(np.transpose(d, perm)), lambda a: perm.index(a))
    src = ctx.qval(node.args[0], node)
    in_shape = ctx.program.tensors[src.tid].shape
    moving = [p for p in perm if in_shape[p] != 1]
    if moving == sorted(moving):  # only size-1 dims move: same bytes
        return _emit(ctx, node, "Reshape", src, shape(node)) if shape(node) != in_shape else src
    return _emit(ctx, node, "Permute", src, shape(node), perm=perm)


def _slice_args(node):
    t = aten_target(node)
    in_shape = shape(node.args[0])
    axis = norm_dim(int(node.args[1]), len(in_shape))
    if t in (aten.select.int, aten.select_copy.int):
        idx = int(node.args[2])
        return axis, (idx + in_shape[axis] if idx < 0 else idx), 1, True
    start = node.args[2] if len(node.args) > 2 and node.args[2] is not None else 0
    step = int(node.args[4]) if len(node.args) > 4 else 1
    start = int(start) + (in_shape[axis] if int(start) < 0 else 0)
    return axis, max(0, min(start, in_shape[axis])), step, False


def lower_slice(ctx, node):
    axis, start, step, is_select = _slice_args(node)
    out_shape = shape(node)
    src = ctx.value(node.args[0])
    if isinstance(src, Const):
        n = 1 if is_select else out_shape[axis]
        def take(d):
            idx = [slice(None)] * d.ndim
            idx[axis] = slice(start, start + step * n, step)
            r = d[tuple(idx)]
            return np.ascontiguousarray(r.reshape(out_shape))
        return _fold_const(src, take, None if not src.per_tensor else (lambda a: a))
    src = ctx.qval(node.args[0], node)
    kept = list(ctx.program.tensors[src.tid].shape)
    kept[axis] = 1 if is_select else out_shape[axis]
    if tuple(kept) == ctx.program.tensors[src.tid].shape:
        sliced = src
    else:
        sliced = _emit(ctx, node, "Slice", src, tuple(kept), axis=axis, start=start, step=step)
    if tuple(kept) != out_shape:
        return _emit(ctx, node, "Reshape", sliced, out_shape)
    return sliced


def lower_cat(ctx, node):
    tensors = list(node.args[0])
    rank = len(shape(node))
    axis = norm_dim(int(node.args[1]) if len(node.args) > 1 else 0, rank)
    out_scale, out_zp = ctx.out_qparams(node)
    ins = [ctx.requant(ctx.qval(t, node), out_scale, out_zp, f"{node.name}_{i}") for i, t in enumerate(tensors)]
    out = ctx.act(node, shape(node), out_scale, out_zp)
    ctx.program.add_op("Concat", [v.tid for v in ins], [out.tid], node.name, axis=axis)
    return out


def _check_expand(node):
    if shape(node) != shape(node.args[0]):
        return f"expand that copies data ({list(shape(node.args[0]))} -> {list(shape(node))})"
    return None


def lower_expand(ctx, node):
    return ctx.value(node.args[0])


def lower_identity(ctx, node):
    return ctx.value(node.args[0])


def lower_getitem(ctx, node):
    parent = node.args[0]
    if node.args[1] != 0:
        raise LoweringError(f"{node.name}: only the first result of {parent.name} is supported")
    return ctx.value(parent)


def _check_getitem(node):
    return None if node.args[1] == 0 else f"uses result {node.args[1]} of {node.args[0].name}"


_views = [aten.view.default, aten.view_copy.default, aten.reshape.default, aten._unsafe_view.default,
          aten.flatten.using_ints, aten.unflatten.int, aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default,
          aten.squeeze_copy.dim, aten.squeeze_copy.dims, aten.unsqueeze.default, aten.unsqueeze_copy.default]
_identities = [aten.clone.default, aten.contiguous.default, aten.alias.default, aten.alias_copy.default,
               aten.dropout.default, aten.detach.default, aten.detach_copy.default]
if _dim_order is not None and hasattr(_dim_order, "_clone_dim_order"):
    _identities.append(_dim_order._clone_dim_order.default)

RULES = [
    Rule("view", tuple(_views), lower_view),
    Rule("identity", tuple(_identities), lower_identity),
    Rule("permute", (aten.permute.default, aten.permute_copy.default, aten.transpose.int, aten.transpose_copy.int,
                     aten.t.default, aten.t_copy.default), lower_permute),
    Rule("slice", (aten.select.int, aten.select_copy.int, aten.slice.Tensor, aten.slice_copy.Tensor), lower_slice),
    Rule("cat", (aten.cat.default,), lower_cat),
    Rule("expand", (aten.expand.default, aten.expand_copy.default), lower_expand, _check_expand),
    Rule("getitem", (operator.getitem,), lower_getitem, _check_getitem),
]
