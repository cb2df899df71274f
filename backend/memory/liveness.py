"""Buffer records: every planned root buffer's (size, first step, last step), plus placement constraints.

Step i is op i. A buffer is live from the op that first touches it to the last op that reads it (inclusive).
Views (Tensor.view_of: a Reshape in place, a token row, a head of K) are accesses to their root buffer.
LOOP ops repeat their body: a buffer touched inside a loop and also outside it, or shifted by the loop (a different
row every iteration), is live over the whole loop; one used only inside a single iteration (per-token scratch) keeps
its short interval, so scratch buffers of successive body ops share memory.
Inputs in the input pool are live from step 0 and placed at offset 0. Int8 delegate outputs stay live to the end.
An anchored buffer is placed at a fixed byte distance from another one and may overlap it (the token buffer written
over the consumed input image: the schedule that writes it proves the overlap safe); `Program.memory_anchors`
(set by the passes) holds {tid: (anchor tid, byte delta)}.
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
    fixed: int | None = None  # a pinned offset (the pool input: 0)
    anchor: tuple[int, int] | None = None  # (tid, delta): placed at offset(tid) + delta, may overlap it


def root_of(program: Program, t: int) -> tuple[int, int]:
    """(root tensor, byte offset of t inside it)."""
    off = 0
    while program.tensors[t].view_of is not None:
        parent, o = program.tensors[t].view_of
        off += o
        t = parent
    return t, off


def loops(program: Program) -> list[tuple[int, int, dict[int, int]]]:
    """(loop step, last body step, {tensor: stride}) for every LOOP op."""
    out = []
    for k, op in enumerate(program.ops):
        if op.kind == "Loop":
            out.append((k, k + int(op.params["body"]), dict(zip(op.params["tensors"], op.params["strides"]))))
    return out


def buffers(program: Program) -> list[Buffer]:
    planned = set(program.activations())
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    touched_at: dict[int, list[int]] = {}

    def touch(t: int, step: int):
        if t not in planned:
            return
        r, _ = root_of(program, t)
        first[r] = min(first.get(r, step), step)
        last[r] = max(last.get(r, step), step)
        touched_at.setdefault(r, []).append(step)

    for i in program.inputs:
        touch(i, 0)
    for step, op in enumerate(program.ops):
        for t in op.outputs:
            touch(t, step)
        for t in op.inputs:
            touch(t, step)
    end = max(len(program.ops) - 1, 0)
    for t in program.outputs:
        if t in planned:
            r, _ = root_of(program, t)
            last[r] = end
    # innermost loops first: an extension over an inner loop is seen by the enclosing one
    for ls, le, strides in sorted(loops(program), key=lambda x: x[1] - x[0]):
        shifted = {root_of(program, t)[0] for t in strides}
        for r, steps in touched_at.items():
            if first[r] > le or last[r] < ls:
                continue
            if first[r] < ls or last[r] > le or r in shifted:
                first[r] = min(first[r], ls)
                last[r] = max(last[r], le)
    anchors = program.memory_anchors
    pool = set(i for i in program.inputs if i in planned)
    return [Buffer(r, program.tensors[r].nbytes, first[r], last[r], fixed=0 if r in pool else None,
                   anchor=anchors.get(r)) for r in sorted(first)]


def live_bytes(bufs: list[Buffer]) -> list[int]:
    """Bytes live at each step (the live-set lower bound per step), an anchored buffer's overlap with its anchor
    counted once."""
    if not bufs:
        return []
    n = max(b.last for b in bufs) + 1
    diff = [0] * (n + 1)
    by_tid = {b.tid: b for b in bufs}

    def add(lo, hi, v):
        diff[lo] += v
        diff[hi + 1] -= v

    for b in bufs:
        add(b.first, b.last, b.size)
        if b.anchor is not None and b.anchor[0] in by_tid:
            a = by_tid[b.anchor[0]]
            lo, hi = max(a.first, b.first), min(a.last, b.last)
            ov = min(a.size, b.anchor[1] + b.size) - max(0, b.anchor[1])
            if lo <= hi and ov > 0:
                add(lo, hi, -ov)
    out, run = [], 0
    for i in range(n):
        run += diff[i]
        out.append(run)
    return out


def live_set_bound(bufs: list[Buffer], pool: int = 0) -> int:
    """The smallest pool + arena any placement can reach: at every step the live bytes must fit, and with an input
    pool (a separate region no buffer straddles) the arena must hold what the pool cannot: at least the live bytes
    minus the largest subset of live buffers whose sizes fit in the pool (a subset sum, alignment ignored)."""
    live = live_bytes(bufs)
    if not pool:
        return max(live, default=0)
    bound = 0
    for step, total in enumerate(live):
        sizes = [b.size for b in bufs if b.first <= step <= b.last]
        reach = 1  # bit k set: some subset of live buffers sums to k bytes (k <= pool)
        mask = (1 << (pool + 1)) - 1
        for size in sizes:
            reach = (reach | (reach << size)) & mask
        in_pool = min(reach.bit_length() - 1, total)
        bound = max(bound, total, pool + total - in_pool)
    return bound
