"""Mean over contiguous dims (mean pooling over tokens)."""
from __future__ import annotations

import numpy as np
import torch

from ..quant_math import quantize_multiplier
from .rule import Rule, norm_dim, shape

aten = torch.ops.aten


def _dims(node):
    rank = len(shape(node.args[0]))
    return sorted(norm_dim(int(d), rank) for d in node.args[1])


def _check(node):
    dims = _dims(node)
    if dims != list(range(dims[0], dims[-1] + 1)):
        return f"mean over non-contiguous dims {dims}"
    return None


def lower_mean(ctx, node):
    x = ctx.qval(node.args[0], node)
    xs, dims = shape(node.args[0]), _dims(node)
    outer, red, inner = (int(np.prod(xs[: dims[0]])), int(np.prod(xs[dims[0]: dims[-1] + 1])),
                         int(np.prod(xs[dims[-1] + 1:])))
    out = ctx.act(node)
    m, s = quantize_multiplier(x.scale / (red * out.scale))
    ctx.program.add_op("Mean", [x.tid], [out.tid], node.name, outer=outer, reduce=red, inner=inner, input_zp=x.zp,
                       output_zp=out.zp, mult=m, shift=s)
    return out


MEAN = Rule("mean", (aten.mean.dim,), lower_mean, _check)
