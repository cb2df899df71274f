"""LayerNorm over all tokens followed by a token slice (the class token) ==> slice first, normalize the slice.
Exact: LayerNorm is per token."""
from __future__ import annotations

from ..ir import Op, Program
from ._graph import consumers, is_io, like


def run(program: Program) -> Program:
    cons = consumers(program)
    for k, ln in enumerate(program.ops):
        if ln.kind != "LayerNorm":
            continue
        y = ln.outputs[0]
        shape = program.tensors[y].shape
        if len(shape) < 2 or is_io(program, y) or len(cons.get(y, [])) != 1:
            continue
        sl = program.ops[cons[y][0]]
        if sl.kind != "Slice" or sl.params["axis"] % len(shape) == len(shape) - 1:
            continue
        xs = like(program, ln.inputs[0], program.tensors[sl.outputs[0]].shape, f"{ln.name}_rows")
        j = cons[y][0]
        program.ops[k] = Op("Slice", [ln.inputs[0]], [xs], dict(sl.params), sl.name)
        program.ops[j] = Op("LayerNorm", [xs] + ln.inputs[1:], [sl.outputs[0]], dict(ln.params), ln.name)
    return program
