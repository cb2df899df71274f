"""Rescale that is the identity (same zero point, multiplier 2^(shift-1) * 2: mult == 2^(shift - 1) * 2 means
real 1.0 exactly, e.g. (2^30, 30)) is removed; its consumers read the input. Exact: requant(v, 2^s, s) == v."""
from __future__ import annotations

from ..ir import Program
from ._graph import is_io


def is_identity(p: dict) -> bool:
    s = int(p["shift"])
    return p["input_zp"] == p["output_zp"] and 1 <= s <= 62 and int(p["mult"]) == 1 << s


def run(program: Program) -> Program:
    alias: dict[int, int] = {}
    kept = []
    for op in program.ops:
        op.inputs = [alias.get(t, t) for t in op.inputs]
        if op.kind == "Rescale" and is_identity(op.params) and not is_io(program, op.outputs[0]) \
                and program.tensors[op.inputs[0]].shape == program.tensors[op.outputs[0]].shape:
            alias[op.outputs[0]] = op.inputs[0]
            continue
        kept.append(op)
    program.ops = kept
    return program
