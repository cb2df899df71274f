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
from ._graph import is_io, like, producers

ROWWISE = {"Linear", "Lut", "Rescale", "LayerNorm", "Softmax"}


def _alias(program: Program, old: int, new: int) -> None:
    for op in program.ops:
        op.inputs = [new if t == old else t for t in op.inputs]


def remove_dead(program: Program) -> None:
    """Drops ops none of whose results is used (iterated: chains die whole)."""
    while True:
        used = set(program.outputs) | {t for op in program.ops for t in op.inputs}
        kept = [op for op in program.ops if op.kind == "Loop" or any(t in used for t in op.outputs)]
        if len(kept) == len(program.ops):
            return
        program.ops = kept


def _sink(program: Program) -> bool:
    prod = producers(program)
    for k, op in enumerate(program.ops):
        if op.kind not in ROWWISE or op.params.get("tokens_layout"):
            continue
        y = op.inputs[0]
        r = prod.get(y)
        if r is None or program.ops[r].kind != "Reshape":
            continue
        x = program.ops[r].inputs[0]
        xs, ys = program.tensors[x].shape, program.tensors[y].shape
        if xs[-1:] != ys[-1:] or len(xs) < 2 or program.tensors[x].is_constant:
            continue
        z = op.outputs[0]
        z2 = like(program, z, xs[:-1] + program.tensors[z].shape[-1:], f"{program.tensors[z].name}_rows")
        op.inputs = [x] + op.inputs[1:]
        op.outputs = [z2]
        program.ops.insert(k + 1, Op("Reshape", [z2], [z], {}, op.name))
        return True
    return False


def _collapse(program: Program) -> bool:
    prod = producers(program)
    for k, op in enumerate(program.ops):
        if op.kind != "Reshape":
            continue
        x, y = op.inputs[0], op.outputs[0]
        src = prod.get(x)
        if src is not None and program.ops[src].kind == "Reshape":
            op.inputs = [program.ops[src].inputs[0]]  # Reshape of a Reshape: one Reshape
            return True
        if program.tensors[x].shape == program.tensors[y].shape and not is_io(program, y):
            _alias(program, y, x)
            program.ops.pop(k)
            return True
    return False


def run(program: Program) -> Program:
    while _sink(program) or _collapse(program):  # sink first: a collapse could hide the row shape to sink
        pass
    remove_dead(program)
    return program

