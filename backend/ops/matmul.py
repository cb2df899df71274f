"""Activation x activation matmul (attention scores Q.K^T and A.V): matmul / bmm, and mm when neither operand is a
constant weight (mm with a symmetric constant weight is a linear)."""
from __future__ import annotations

import numpy as np
import torch

from ..quant_math import quantize_multiplier
from ..values import Const
from .linear import lower_addmm
from .rule import Rule, aten_target, shape

aten = torch.ops.aten


def _check(node):
    a, b = shape(node.args[0]), shape(node.args[1])
    if len(a) < 2 or len(b) < 2:
        return "matmul operands must have rank >= 2"
    if a[:-2] != b[:-2]:
        return f"batch dims must match exactly (no broadcasting): {list(a)} @ {list(b)}"
    return None


def lower_matmul(ctx, node):
    w = ctx.value(node.args[1])
    if aten.mm.default == aten_target(node) and isinstance(w, Const) and \
            w.scales is not None and not np.any(w.zps):  # a symmetric weight: a Linear (else a constant operand)
        return lower_addmm(ctx, node)
    a, b = ctx.qval(node.args[0], node), ctx.qval(node.args[1], node)
    out = ctx.act(node)
    m, s = quantize_multiplier(a.scale * b.scale / out.scale)
    ctx.program.add_op("Matmul", [a.tid, b.tid], [out.tid], node.name, a_zp=a.zp, b_zp=b.zp, output_zp=out.zp,
                       mult=m, shift=s, transpose_b=False)
    return out


MATMUL = Rule("matmul", (aten.matmul.default, aten.bmm.default, aten.mm.default), lower_matmul, _check)
