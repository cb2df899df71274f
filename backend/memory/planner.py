"""Placement of buffer records in one address space.

A planner is a pure function `(buffers) -> {tid: offset}`; PLANNERS maps names to planners so tests and benchmarks
run over all of them. `plan_program` runs the chosen planner(s), keeps the smallest arena and writes the offsets into
the Program.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Program
from .liveness import Buffer, buffers


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _overlap_in_time(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def first_fit(order: list[Buffer]) -> dict[int, int]:
    """Places buffers in the given order at the lowest aligned offset that clears every placed, time-overlapping one."""
    placed: list[tuple[Buffer, int]] = []
    offsets = {}
    for b in order:
        conflicts = sorted((o, o + p.size) for p, o in placed if _overlap_in_time(p, b))
        offset = 0
        for lo, hi in conflicts:
            if offset + b.size <= lo:
                break
            offset = max(offset, _align(hi, b.align))
        offsets[b.tid] = offset
        placed.append((b, offset))
    return offsets


def greedy_by_size(bufs: list[Buffer]) -> dict[int, int]:
    return first_fit(sorted(bufs, key=lambda b: (-b.size, b.first, b.tid)))


def greedy_by_lifetime(bufs: list[Buffer]) -> dict[int, int]:
    return first_fit(sorted(bufs, key=lambda b: (-(b.last - b.first), -b.size, b.tid)))


def greedy_by_area(bufs: list[Buffer]) -> dict[int, int]:
    return first_fit(sorted(bufs, key=lambda b: (-b.size * (b.last - b.first + 1), b.tid)))


def in_order(bufs: list[Buffer]) -> dict[int, int]:
    return first_fit(sorted(bufs, key=lambda b: (b.first, b.tid)))


PLANNERS = {"size": greedy_by_size, "lifetime": greedy_by_lifetime, "area": greedy_by_area, "order": in_order}


@dataclass(frozen=True)
class Placement:
    offsets: dict[int, int]
    arena_bytes: int
    planner: str


def extent(bufs: list[Buffer], offsets: dict[int, int]) -> int:
    return _align(max((offsets[b.tid] + b.size for b in bufs), default=0), 16)


def check_plan(bufs: list[Buffer], offsets: dict[int, int], arena_bytes: int) -> None:
    """Raises if two buffers live at the same step overlap in memory, or one falls outside the arena."""
    for b in bufs:
        o = offsets[b.tid]
        if o < 0 or o + b.size > arena_bytes:
            raise AssertionError(f"buffer t{b.tid} [{o}, {o + b.size}) outside arena of {arena_bytes} bytes")
        if o % b.align:
            raise AssertionError(f"buffer t{b.tid} at {o} not {b.align}-byte aligned")
    by_first = sorted(bufs, key=lambda b: b.first)
    for i, a in enumerate(by_first):
        for b in by_first[i + 1:]:
            if b.first > a.last:
                break
            oa, ob = offsets[a.tid], offsets[b.tid]
            if oa < ob + b.size and ob < oa + a.size and a.size and b.size:
                raise AssertionError(f"buffers t{a.tid} and t{b.tid} are live together and overlap in memory")


def place(bufs: list[Buffer], planners=None) -> Placement:
    best = None
    for name in planners or PLANNERS:
        offsets = PLANNERS[name](bufs)
        size = extent(bufs, offsets)
        if best is None or size < best.arena_bytes:
            best = Placement(offsets, size, name)
    check_plan(bufs, best.offsets, best.arena_bytes)
    return best


def plan_program(program: Program, planners=None) -> Placement:
    bufs = buffers(program)
    placement = place(bufs, planners)
    for b in bufs:
        program.tensors[b.tid].offset = placement.offsets[b.tid]
    program.arena_bytes = placement.arena_bytes
    return placement
