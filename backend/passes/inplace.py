"""Elementwise ops (Rescale, Lut, Softmax rows, Add) write over their input when it dies there: the output
becomes a view of the input. Safe for these kernels: element i is read before it is written, and a softmax row is
read whole (max, sum) before any element of it is written."""
from __future__ import annotations

from ..ir import Program
from ..memory.liveness import buffers, root_of
from ._graph import is_io

ELEMENTWISE = {"Rescale", "Lut", "Softmax", "Add"}


def run(program: Program) -> Program:
    bufs = {b.tid: b for b in buffers(program)}
    anchored = set(program.memory_anchors) | {a for a, _ in program.memory_anchors.values()}
    last = {t: b.last for t, b in bufs.items()}
    for k, op in enumerate(program.ops):
        if op.kind not in ELEMENTWISE:
            continue
        y = op.outputs[0]
        ty = program.tensors[y]
        if ty.view_of is not None or is_io(program, y) or y not in bufs or bufs[y].first != k or y in anchored:
            continue
        for x in op.inputs[:2 if op.kind == "Add" else 1]:
            tx = program.tensors[x]
            if tx.is_constant or not program.is_planned(x) or tx.nbytes != ty.nbytes or tx.dtype != ty.dtype:
                continue
            r, off = root_of(program, x)
            if r in program.inputs or r in anchored or last.get(r) != k or is_io(program, r):
                continue
            if op.kind == "Add":  # x + (x or a view of x): the other operand would be read after it is written
                other = op.inputs[1] if x == op.inputs[0] else op.inputs[0]
                if root_of(program, other)[0] == r:
                    continue
            program.tensors[y].view_of = (x, 0)
            last[r] = max(last[r], bufs[y].last)
            break
    return program
