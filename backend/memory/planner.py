"""Placement of buffer records in one address space: the input pool [0, pool) then the arena [pool, pool + arena).

A planner is a pure function `(buffers, pool) -> {tid: offset}`; PLANNERS maps names to planners so tests and
benchmarks run over all of them. Each is first-fit (TinyEngine / TFLM style) under one ordering: a buffer goes to the
lowest aligned offset that clears every placed buffer it is live with, never straddling the pool/arena boundary
(alignment counts from the start of its region). Pinned buffers (the pool input, offset 0) are placed first; an
anchored buffer travels with its anchor as one unit. `plan_program` runs them all and keeps the smallest.

    bufs = [Buffer(0, 100, 0, 1), Buffer(1, 50, 1, 2), Buffer(2, 100, 2, 3)]
    place(bufs).offsets  # {0: 0, 1: 112, 2: 0}
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Program
from .liveness import Buffer, buffers


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _exempt(a: Buffer, b: Buffer) -> bool:
    return (a.anchor is not None and a.anchor[0] == b.tid) or (b.anchor is not None and b.anchor[0] == a.tid)


def _units(order: list[Buffer]) -> list[list[tuple[Buffer, int]]]:
    """Buffers grouped with those anchored to them (relative offsets), in the order of their first member."""
    by_tid = {b.tid: b for b in order}
    members: dict[int, list[tuple[Buffer, int]]] = {}
    head_of: dict[int, int] = {}
    for b in order:
        if b.anchor is not None and b.anchor[0] in by_tid:
            a = b.anchor[0]
            members.setdefault(a, [(by_tid[a], 0)]).append((b, b.anchor[1]))
            head_of[b.tid] = a
    units, seen = [], set()
    for b in order:
        h = head_of.get(b.tid, b.tid)
        if h in seen:
            continue
        seen.add(h)
        units.append(members.get(h, [(by_tid[h], 0)]))
    return units


def _fits_region(off: int, b: Buffer, pool: int) -> bool:
    if off < pool:
        return off + b.size <= pool and off % b.align == 0
    return (off - pool) % b.align == 0


def first_fit(order: list[Buffer], pool: int = 0) -> dict[int, int]:
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    units = _units(order)
    units.sort(key=lambda u: 0 if any(b.fixed is not None for b, _ in u) else 1)  # pinned first (stable)
    for unit in units:
        conflicts = []  # (member rel, lo, hi)
        for b, rel in unit:
            bf, bl = b.first, b.last
            for p, o in placed:
                if p.first <= bl and bf <= p.last and p.size and b.size and not _exempt(p, b):
                    conflicts.append((b, rel, o, o + p.size))
        pinned = next(((b, rel) for b, rel in unit if b.fixed is not None), None)
        if pinned is not None:
            base = pinned[0].fixed - pinned[1]
        else:
            lo_rel = min(rel for _, rel in unit)
            cands = {-lo_rel, pool - lo_rel}
            for b, rel, lo, hi in conflicts:
                cands.add(hi - rel)
                cands.add(_align(hi - pool, b.align) + pool - rel if hi >= pool else _align(hi, b.align) - rel)
            base = None
            for c in sorted(x for x in cands if x + lo_rel >= 0):
                ok = True
                for b, rel in unit:
                    o = c + rel
                    if not _fits_region(o, b, pool):
                        ok = False
                        break
                if ok:
                    for b, rel, lo, hi in conflicts:
                        o = c + rel
                        if o < hi and lo < o + b.size:
                            ok = False
                            break
                if ok:
                    base = c
                    break
            if base is None:  # past everything: always valid
                top = max([hi for _, _, _, hi in conflicts] + [pool])
                base = pool + _align(top - pool, ALIGN_MAX) - lo_rel
        for b, rel in unit:
            offsets[b.tid] = base + rel
            placed.append((b, base + rel))
    return offsets


ALIGN_MAX = 64


def greedy_by_size(bufs: list[Buffer], pool: int = 0) -> dict[int, int]:
    return first_fit(sorted(bufs, key=lambda b: (-b.size, b.first, b.tid)), pool)


def greedy_by_lifetime(bufs: list[Buffer], pool: int = 0) -> dict[int, int]:
    return first_fit(sorted(bufs, key=lambda b: (-(b.last - b.first), -b.size, b.tid)), pool)


def greedy_by_area(bufs: list[Buffer], pool: int = 0) -> dict[int, int]:
    return first_fit(sorted(bufs, key=lambda b: (-b.size * (b.last - b.first + 1), b.tid)), pool)


def in_order(bufs: list[Buffer], pool: int = 0) -> dict[int, int]:
    return first_fit(sorted(bufs, key=lambda b: (b.first, -b.size, b.tid)), pool)


def reverse_order(bufs: list[Buffer], pool: int = 0) -> dict[int, int]:
    """Last-used first: the mirror of in_order (packs a tail of short scratch rows under long-lived K/V)."""
    return first_fit(sorted(bufs, key=lambda b: (-b.last, -b.size, b.tid)), pool)


def size_then_order(bufs: list[Buffer], pool: int = 0) -> dict[int, int]:
    """Large buffers (>= 1/8 of the largest) by size, the rest in execution order."""
    big = max((b.size for b in bufs), default=0) / 8
    return first_fit(sorted(bufs, key=lambda b: (0, -b.size, b.tid) if b.size >= big else (1, b.first, b.tid)), pool)


PLANNERS = {"size": greedy_by_size, "lifetime": greedy_by_lifetime, "area": greedy_by_area, "order": in_order,
            "reverse": reverse_order, "size_then_order": size_then_order}


@dataclass(frozen=True)
class Placement:
    offsets: dict[int, int]
    arena_bytes: int  # bytes past the input pool
    planner: str
    pool_bytes: int = 0
    buffers: tuple = ()

    @property
    def total_bytes(self) -> int:
        return self.pool_bytes + self.arena_bytes


def extent(bufs: list[Buffer], offsets: dict[int, int], pool: int = 0) -> int:
    """Arena bytes (past the pool) the placement needs, rounded to 16."""
    top = max((offsets[b.tid] + b.size for b in bufs), default=0)
    return _align(max(top - pool, 0), 16)


def check_plan(bufs: list[Buffer], offsets: dict[int, int], arena_bytes: int, pool: int = 0) -> None:
    """Raises if two buffers live at the same step overlap in memory (anchored pairs excepted), one falls outside
    the address space, straddles the pool/arena boundary or is misaligned in its region."""
    space = pool + arena_bytes
    for b in bufs:
        o = offsets[b.tid]
        if o < 0 or o + b.size > space:
            raise AssertionError(f"buffer t{b.tid} [{o}, {o + b.size}) outside the {space}-byte address space")
        if o < pool < o + b.size:
            raise AssertionError(f"buffer t{b.tid} [{o}, {o + b.size}) straddles the input pool end {pool}")
        if (o - (pool if o >= pool else 0)) % b.align:
            raise AssertionError(f"buffer t{b.tid} at {o} not {b.align}-byte aligned in its region")
        if b.fixed is not None and o != b.fixed:
            raise AssertionError(f"buffer t{b.tid} pinned at {b.fixed} placed at {o}")
        if b.anchor is not None and b.anchor[0] in offsets and o != offsets[b.anchor[0]] + b.anchor[1]:
            raise AssertionError(f"buffer t{b.tid} not at its anchor t{b.anchor[0]} + {b.anchor[1]}")
    by_first = sorted(bufs, key=lambda b: b.first)
    for i, a in enumerate(by_first):
        for b in by_first[i + 1:]:
            if b.first > a.last:
                break
            if _exempt(a, b):
                continue
            oa, ob = offsets[a.tid], offsets[b.tid]
            if oa < ob + b.size and ob < oa + a.size and a.size and b.size:
                raise AssertionError(f"buffers t{a.tid} and t{b.tid} are live together and overlap in memory")


def place(bufs: list[Buffer], planners=None, pool: int = 0) -> Placement:
    """Runs the planners in order, keeps the smallest arena; stops early once the live-set bound is reached
    (no placement can do better)."""
    from .liveness import live_set_bound

    floor = live_set_bound(bufs, pool)
    best = None
    for name in planners or PLANNERS:
        offsets = PLANNERS[name](bufs, pool)
        size = extent(bufs, offsets, pool)
        if best is None or size < best.arena_bytes:
            best = Placement(offsets, size, name, pool)
        if planners is None and pool + best.arena_bytes <= _align(floor, 16):
            break
    check_plan(bufs, best.offsets, best.arena_bytes, pool)
    return best


def pool_bytes(program: Program) -> int:
    if not program.input_overwrite:
        return 0
    return sum(program.tensors[i].nbytes for i in program.inputs[:1] if program.is_planned(i))


def plan_program(program: Program, planners=None) -> Placement:
    bufs = buffers(program)
    pool = pool_bytes(program)
    placement = place(bufs, planners, pool)
    placement = Placement(placement.offsets, placement.arena_bytes, placement.planner, pool, tuple(bufs))
    for b in bufs:
        program.tensors[b.tid].offset = placement.offsets[b.tid]
    for i, t in enumerate(program.tensors):  # views: root offset + their byte offset
        if t.view_of is not None:
            from .liveness import root_of
            r, off = root_of(program, i)
            t.offset = (program.tensors[r].offset or 0) + off
    program.input_pool_bytes = pool
    program.arena_bytes = placement.arena_bytes
    return placement
