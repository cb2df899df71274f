"""Conv2d (patch embedding) -> Reshape [1, E, T] -> Permute [0, 2, 1]  ==>  Conv2d(tokens_layout) -> [1, T, E].
Exact: the same values written in token-major order."""
from __future__ import annotations

from ..ir import Program
from ._graph import consumers, is_io


def run(program: Program) -> Program:
    cons = consumers(program)
    remove = set()
    for k, op in enumerate(program.ops):
        if op.kind != "Conv2d" or op.params.get("tokens_layout"):
            continue
        y = op.outputs[0]
        if is_io(program, y) or len(cons.get(y, [])) != 1:
            continue
        r = program.ops[cons[y][0]]
        if r.kind != "Reshape" or len(cons.get(r.outputs[0], [])) != 1 or is_io(program, r.outputs[0]):
            continue
        p = program.ops[cons[r.outputs[0]][0]]
        _, e, gh, gw = program.tensors[y].shape
        if p.kind != "Permute" or list(p.params["perm"]) != [0, 2, 1] or \
                program.tensors[r.outputs[0]].shape != (1, e, gh * gw):
            continue
        op.params["tokens_layout"] = True
        op.outputs = [p.outputs[0]]
        remove |= {cons[y][0], cons[r.outputs[0]][0]}
    program.ops = [op for k, op in enumerate(program.ops) if k not in remove]
    return program
