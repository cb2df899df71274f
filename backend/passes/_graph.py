"""Small helpers shared by the passes: who produces / consumes a tensor, new scratch tensors and views."""
from __future__ import annotations

import numpy as np

from ..ir import Op, Program, Tensor


def consumers(program: Program) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for k, op in enumerate(program.ops):
        for t in op.inputs:
            out.setdefault(t, []).append(k)
    return out


def producers(program: Program) -> dict[int, int]:
    out: dict[int, int] = {}
    for k, op in enumerate(program.ops):
        for t in op.outputs:
            out.setdefault(t, k)
    return out


def in_loop(program: Program) -> set[int]:
    """Indices of ops inside some LOOP body."""
    inside = set()
    for k, op in enumerate(program.ops):
        if op.kind == "Loop":
            inside.update(range(k + 1, k + 1 + int(op.params["body"])))
    return inside


def is_io(program: Program, t: int) -> bool:
    return t in program.inputs or t in program.outputs


def like(program: Program, src: int, shape, name: str) -> int:
    """A new int8 activation with src's quantization."""
    s = program.tensors[src]
    return program.add_tensor(name, shape, s.dtype, s.scale, s.zero_point)


def view(program: Program, parent: int, byte_offset: int, shape, name: str, qsrc: int | None = None) -> int:
    """A view of `parent` at `byte_offset` with `shape` (quantization of qsrc, default the parent)."""
    q = program.tensors[parent if qsrc is None else qsrc]
    program.tensors.append(Tensor(name, tuple(int(d) for d in shape), q.dtype, q.scale, q.zero_point,
                                  view_of=(parent, int(byte_offset))))
    return len(program.tensors) - 1


def make_view_of(program: Program, t: int, parent: int, byte_offset: int = 0) -> None:
    program.tensors[t].view_of = (parent, int(byte_offset))


def slice_rows(program: Program, op: Op, lo: int, hi: int, name: str) -> list[int]:
    """Constants of a weighted op (weight, bias, mult, shift[, lut]) restricted to output channels [lo, hi)."""
    ins = []
    for j, t in enumerate(op.inputs[1:5]):
        data = program.tensors[t].data
        ins.append(program.add_constant(f"{name}_{j}", np.ascontiguousarray(data[lo:hi])))
    return ins + list(op.inputs[5:])


def replace_ops(program: Program, remove: set[int], insert_at: int, new_ops: list[Op]) -> None:
    ops = []
    for k, op in enumerate(program.ops):
        if k == insert_at:
            ops.extend(new_ops)
        if k not in remove:
            ops.append(op)
    if insert_at >= len(program.ops):
        ops.extend(new_ops)
    program.ops = ops


def loop(count: int, body: list[Op], strides: dict[int, int], name: str) -> list[Op]:
    """A LOOP op followed by its body (nested loops inside `body` count toward it)."""
    head = Op("Loop", [], [], {"count": int(count), "body": len(body), "tensors": list(strides),
                               "strides": [int(s) for s in strides.values()]}, name)
    return [head] + body
