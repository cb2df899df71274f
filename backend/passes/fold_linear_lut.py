"""Linear -> Lut (GELU table) ==> Linear(has_lut): the table applied to the requantized output. Exact."""
from __future__ import annotations

from ..ir import Program
from ._graph import consumers, is_io


def run(program: Program) -> Program:
    cons = consumers(program)
    remove = set()
    for k, op in enumerate(program.ops):
        if op.kind != "Linear" or op.params.get("has_lut"):
            continue
        y = op.outputs[0]
        if is_io(program, y) or len(cons.get(y, [])) != 1:
            continue
        lut = program.ops[cons[y][0]]
        if lut.kind != "Lut" or lut.inputs[0] != y:
            continue
        op.params["has_lut"] = True
        op.inputs = op.inputs[:5] + [lut.inputs[1]]
        op.outputs = [lut.outputs[0]]
        remove.add(cons[y][0])
    program.ops = [op for k, op in enumerate(program.ops) if k not in remove]
    return program
