"""Buffer records: every planned tensor's (size, first step, last step).

Step i is op i; a buffer is live from the op that writes it to the last op that reads it (inclusive). Inputs in the
input pool are live from step 0. Int8 delegate outputs stay live to the end (they are copied out after the last op).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Program

ALIGN = 16


@dataclass(frozen=True)
class Buffer:
    tid: int
    size: int
    first: int
    last: int
    align: int = ALIGN


def buffers(program: Program) -> list[Buffer]:
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    planned = set(program.activations())
    for i in program.inputs:
        if i in planned:
            first[i] = last[i] = 0
    for step, op in enumerate(program.ops):
        for t in op.outputs:
            if t in planned:
                first.setdefault(t, step)
                last[t] = max(last.get(t, step), step)
        for t in op.inputs:
            if t in planned:
                last[t] = step
    end = max(len(program.ops) - 1, 0)
    for t in program.outputs:
        if t in planned:
            last[t] = end
    return [Buffer(t, program.tensors[t].nbytes, first[t], last[t]) for t in sorted(first)]
