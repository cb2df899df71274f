"""Reshape, and a Slice of one contiguous block, become views of their input (no copy, no new buffer)."""
from __future__ import annotations

import numpy as np

from ..ir import DTYPE_SIZE, Program
from ._graph import in_loop, is_io, make_view_of


def _contiguous_slice(program: Program, op) -> int | None:
    xs = program.tensors[op.inputs[0]].shape
    ys = program.tensors[op.outputs[0]].shape
    a = op.params["axis"] % len(xs)
    if int(np.prod(xs[:a], dtype=np.int64)) != 1 or (op.params["step"] != 1 and ys[a] != 1):
        return None
    inner = int(np.prod(xs[a + 1:], dtype=np.int64))
    return int(op.params["start"]) * inner * DTYPE_SIZE[program.tensors[op.inputs[0]].dtype]


def run(program: Program) -> Program:
    looped = in_loop(program)
    written = {}
    for op in program.ops:
        for t in op.outputs:
            written[t] = written.get(t, 0) + 1
    kept = []
    for k, op in enumerate(program.ops):
        if op.kind in ("Reshape", "Slice") and k not in looped:
            x, y = op.inputs[0], op.outputs[0]
            tx, ty = program.tensors[x], program.tensors[y]
            ok = (not tx.is_constant and program.is_planned(x) and not is_io(program, y) and written.get(y) == 1
                  and ty.view_of is None and tx.dtype == ty.dtype)
            off = 0 if op.kind == "Reshape" else _contiguous_slice(program, op)
            if ok and off is not None:
                make_view_of(program, y, x, off)
                continue
        kept.append(op)
    program.ops = kept
    return program
