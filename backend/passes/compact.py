"""Drops tensors no op, input or output refers to (weights of folded ops, unused intermediates) and renumbers."""
from __future__ import annotations

from ..ir import Program


def run(program: Program) -> Program:
    used = set(program.inputs) | set(program.outputs)
    for op in program.ops:
        used.update(op.inputs)
        used.update(op.outputs)
        if op.kind == "Loop":
            used.update(op.params["tensors"])
    stack = list(used)
    while stack:
        t = stack.pop()
        v = program.tensors[t].view_of
        if v is not None and v[0] not in used:
            used.add(v[0])
            stack.append(v[0])
    anchors = program.memory_anchors
    for t, (a, _) in anchors.items():
        used.add(a) if t in used else None
    order = sorted(used)
    new = {old: i for i, old in enumerate(order)}
    program.tensors = [program.tensors[t] for t in order]
    for t in program.tensors:
        if t.view_of is not None:
            t.view_of = (new[t.view_of[0]], t.view_of[1])
    for op in program.ops:
        op.inputs = [new[t] for t in op.inputs]
        op.outputs = [new[t] for t in op.outputs]
        if op.kind == "Loop":
            op.params["tensors"] = [new[t] for t in op.params["tensors"]]
    program.inputs = [new[t] for t in program.inputs]
    program.outputs = [new[t] for t in program.outputs]
    program.memory_anchors = {new[t]: (new[a], d) for t, (a, d) in anchors.items() if t in new and a in new}
    return program
