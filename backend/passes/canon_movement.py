"""Canonical data movement: Reshapes collapse and move past row-wise ops to where the data is used.

Exporters place views differently (nn.MultiheadAttention runs its projections on [N, 1, E] after a batch-first
transpose, then views the result back); the schedulers expect token-wise ops on [1, N, E]. This pass
- folds Reshape(Reshape(x)) into one Reshape and drops a Reshape to the same shape,
- moves a Reshape that keeps the last dim past the row-wise op consuming it (Linear, Lut, Rescale, LayerNorm,
  Softmax all work per last-dim row, and such a Reshape keeps the rows in order),
- drops ops whose results nobody uses.
Exact: only the shapes the same bytes are seen with change.
"""
from __future__ import annotations

from ..ir import Op, Program
from ._graph import is_io, like

ROWWISE = {"Linear", "Lut", "Rescale", "LayerNorm", "Softmax"}


def remove_dead(program: Program) -> None:
    """Drops ops none of whose results is used (one backward sweep: the ops are in topological order)."""
    used, kept = set(program.outputs), []
    for op in reversed(program.ops):
        if op.kind == "Loop" or any(t in used for t in op.outputs):
            kept.append(op)
            used.update(op.inputs)
    program.ops = kept[::-1]


def _sink(program: Program) -> bool:
    """One forward sweep moving every Reshape that keeps the last dim past the row-wise op reading it."""
    prod = {t: op for op in program.ops for t in op.outputs}
    ops, changed = [], False
    for op in program.ops:
        r = prod.get(op.inputs[0]) if op.inputs else None
        if op.kind in ROWWISE and not op.params.get("tokens_layout") and r is not None and r.kind == "Reshape":
            x, y, z = r.inputs[0], op.inputs[0], op.outputs[0]
            xs, ys = program.tensors[x].shape, program.tensors[y].shape
            if xs[-1:] == ys[-1:] and len(xs) >= 2 and not program.tensors[x].is_constant:
                z2 = like(program, z, xs[:-1] + program.tensors[z].shape[-1:], f"{program.tensors[z].name}_rows")
                op.inputs, op.outputs = [x] + op.inputs[1:], [z2]
                back = Op("Reshape", [z2], [z], {}, op.name)
                prod[z2], prod[z] = op, back
                ops += [op, back]
                changed = True
                continue
        ops.append(op)
    program.ops = ops
    return changed


def _collapse(program: Program) -> bool:
    """One forward sweep: Reshape(Reshape(x)) -> Reshape(x); a Reshape to the same shape is dropped."""
    prod, alias = {}, {}
    ops, changed = [], False
    for op in program.ops:
        op.inputs = [alias.get(t, t) for t in op.inputs]
        if op.kind == "Reshape":
            src = prod.get(op.inputs[0])
            if src is not None and src.kind == "Reshape":
                op.inputs = [src.inputs[0]]
                changed = True
            x, y = op.inputs[0], op.outputs[0]
            if program.tensors[x].shape == program.tensors[y].shape and not is_io(program, y):
                alias[y] = x
                changed = True
                continue
        for t in op.outputs:
            prod[t] = op
        ops.append(op)
    program.ops = ops
    return changed


def run(program: Program) -> Program:
    while _sink(program) | _collapse(program):  # sink first: a collapse could hide the row shape to sink
        pass
    remove_dead(program)
    return program

