"""Permute swapping the last two dims -> Matmul operand b  ==>  Matmul(transpose_b). Exact (same products)."""
from __future__ import annotations

from ..ir import Program
from ._graph import consumers, is_io, producers


def run(program: Program) -> Program:
    cons, prod = consumers(program), producers(program)
    remove = set()
    for k, op in enumerate(program.ops):
        if op.kind != "Matmul" or op.params.get("transpose_b"):
            continue
        b = op.inputs[1]
        if b not in prod or is_io(program, b) or len(cons.get(b, [])) != 1:
            continue
        p = program.ops[prod[b]]
        rank = len(program.tensors[b].shape)
        swap = list(range(rank - 2)) + [rank - 1, rank - 2]
        if p.kind != "Permute" or list(p.params["perm"]) != swap:
            continue
        op.inputs = [op.inputs[0], p.inputs[0]]
        op.params["transpose_b"] = True
        remove.add(prod[b])
    program.ops = [op for k, op in enumerate(program.ops) if k not in remove]
    return program
