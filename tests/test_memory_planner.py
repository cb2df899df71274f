"""Planner: tiny TFLM-style tables with exact offsets, the input pool and anchors, hypothesis-generated lifetimes
through every planner and the checker, the live-set bound."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuformer.backend.memory import PLANNERS, Buffer, check_plan, live_bytes, live_set_bound, place
from mcuformer.backend.memory.planner import first_fit


def test_table_reuse_after_death():
    bufs = [Buffer(0, 100, 0, 1), Buffer(1, 50, 1, 2), Buffer(2, 100, 2, 3)]
    p = place(bufs, ["size"])
    assert p.offsets == {0: 0, 1: 112, 2: 0}
    assert p.arena_bytes == 176
    assert live_set_bound(bufs) == 150


def test_table_first_gap():
    # a: 0..3 at 0; b: 0..0 at 64; c: 1..3 fits the gap b leaves; d: 2..3 goes after a
    bufs = [Buffer(0, 64, 0, 3), Buffer(1, 32, 0, 0), Buffer(2, 32, 1, 3), Buffer(3, 16, 2, 3)]
    offsets = first_fit(bufs)
    assert offsets == {0: 0, 1: 64, 2: 64, 3: 96}
    check_plan(bufs, offsets, 112)


def test_alignment_and_checker():
    bufs = [Buffer(0, 10, 0, 1), Buffer(1, 10, 0, 1)]
    assert first_fit(bufs) == {0: 0, 1: 16}
    with pytest.raises(AssertionError, match="overlap"):
        check_plan(bufs, {0: 0, 1: 0}, 32)
    with pytest.raises(AssertionError, match="aligned"):
        check_plan(bufs, {0: 0, 1: 12}, 32)
    with pytest.raises(AssertionError, match="outside"):
        check_plan(bufs, {0: 0, 1: 32}, 32)


def test_pool_no_straddle_and_pinned_input():
    # the pool input (100 B) is pinned at 0; a 40 B buffer after it fits in the pool's tail? no: pool is 100 B
    bufs = [Buffer(0, 100, 0, 1, fixed=0), Buffer(1, 48, 2, 3), Buffer(2, 48, 2, 3), Buffer(3, 64, 1, 2)]
    p = place(bufs, ["size"], pool=100)
    assert p.offsets[0] == 0
    assert p.offsets[3] == 100  # live with the input: goes to the arena (offset 0 there)
    assert {p.offsets[1], p.offsets[2]} == {0, 48}  # after the input dies, both fit in the pool
    check_plan(bufs, p.offsets, p.arena_bytes, pool=100)
    with pytest.raises(AssertionError, match="straddles"):
        check_plan(bufs, {0: 0, 1: 64, 2: 0, 3: 112}, 100, pool=100)


def test_anchor_overlap_allowed_and_bound():
    img = Buffer(0, 100, 0, 2, fixed=0)
    tok = Buffer(1, 60, 1, 5, anchor=(0, 0))
    kv = Buffer(2, 32, 3, 5)
    p = place([img, tok, kv], pool=100)
    assert p.offsets == {0: 0, 1: 0, 2: 64}
    assert p.arena_bytes == 0
    assert live_bytes([img, tok, kv]) == [100, 100, 100, 92, 92, 92]


@st.composite
def lifetimes(draw):
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        first = draw(st.integers(0, 20))
        out.append(Buffer(i, draw(st.integers(1, 300)), first, first + draw(st.integers(0, 8)),
                          align=draw(st.sampled_from([1, 4, 16]))))
    return out


@settings(max_examples=60, deadline=None)
@given(lifetimes(), st.sampled_from([0, 128, 512]))
def test_every_planner_valid(bufs, pool):
    for name, fn in PLANNERS.items():
        offsets = fn(bufs, pool)
        from mcuformer.backend.memory.planner import extent
        check_plan(bufs, offsets, extent(bufs, offsets, pool), pool)
    best = place(bufs, pool=pool)
    # the live-set bound (with a pool: the subset-sum bound) is a true lower bound of any valid placement
    assert pool + best.arena_bytes >= live_set_bound(bufs, pool)


def test_pool_bound_counts_what_the_pool_cannot_hold():
    # after the 784-byte image is consumed: tokens, K and V of 544 bytes each and an 81-byte row are live.
    # The pool holds at most 544 + 81 of them, so the arena needs >= 1713 - 625 bytes: 784 + 1088 = 1872 in all.
    image = Buffer(0, 784, 0, 0, fixed=0)
    later = [Buffer(1, 544, 1, 3), Buffer(2, 544, 1, 3), Buffer(3, 544, 1, 3), Buffer(4, 81, 2, 2)]
    assert live_set_bound([image, *later]) == 1713
    assert live_set_bound([image, *later], pool=784) == 1872
    best = place([image, *later], pool=784)
    assert best.total_bytes == 1872
