"""Passes: fused / scheduled execution is bit-exact with the unfused reference, pass by pass, on ViTs built by the
shape-only builder and filled with random valid constants; every plan passes the checker."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from mcuformer.backend import reference
from mcuformer.backend.memory import check_plan, plan_program, plan_vit
from mcuformer.backend.memory.vit import build_vit_ir
from mcuformer.backend.ops.activation import exp_table
from mcuformer.backend.passes import PASSES
from mcuformer.backend.serialization.serialize import deserialize, serialize
from mcuformer.nas.space import Arch
from mcuformer.targets import model_sram_budget


def arch(img=16, chans=2, patch=4, embed=16, depth=2, heads=2, head_dim=8, mlp=2.0, rank=0.5, classes=5):
    return Arch(img_size=img, in_chans=chans, num_classes=classes, patch_size=patch, embed_dim=embed, depth=depth,
                num_heads=(heads,) * depth, head_dim=head_dim, mlp_ratio=(mlp,) * depth,
                rank_ratio=(rank,) * depth)


def randomize(p, rng):
    """Random but sensible integer parameters (outputs neither all saturated nor all zero)."""
    for t in p.tensors:
        if not t.is_constant:
            continue
        n, shape = t.name, t.shape
        if t.dtype == "int8":
            t.data = rng.integers(-60, 60, shape).astype(np.int8)
        elif n.endswith("_exp"):
            t.data = exp_table(0.06)
        elif n.endswith("_m"):
            t.data = rng.integers(2**30, 2**31 - 1, shape).astype(np.int32)
        elif n.endswith("_s"):
            t.data = rng.integers(36, 40, shape).astype(np.int32)
        elif n.endswith("_g"):
            t.data = rng.integers(1000, 4095, shape).astype(np.int32)
        else:  # biases, LayerNorm beta
            t.data = rng.integers(-3000, 3000, shape).astype(np.int32)
    for op in p.ops:
        if op.kind == "LayerNorm":
            op.params.update(mult=2**30, shift=48, output_zp=int(rng.integers(-5, 5)))
        elif op.kind == "Matmul":
            op.params.update(mult=int(rng.integers(2**30, 2**31 - 1)), shift=37, a_zp=3, b_zp=-2, output_zp=1)
        elif op.kind == "Rescale":
            op.params.update(mult=2**30 + 12345, shift=30, input_zp=1, output_zp=-3)
        elif op.kind == "Add":
            op.params.update(a_zp=2, b_zp=-1, output_zp=0, a_mult=2**29 + 77, b_mult=2**28 + 5, shift=29)
        elif op.kind == "Quantize":
            op.params.update(inv_scale=1.0, zero_point=0)
        elif op.kind == "Dequantize":
            op.params.update(scale=0.5, zero_point=0)
    return p


def _run(p, x):
    plan_program(p)  # plans and checks the plan (check_plan)
    return reference.run(p, [x], arena=True)[0]


CASES = [
    dict(),
    dict(rank=1.0, heads=1, mlp=3.0),
    dict(img=12, chans=3, patch=3, embed=24, depth=1, heads=3, rank=0.7),
    dict(img=28, chans=1, patch=7, embed=32, depth=2, heads=2, head_dim=16, rank=0.45),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("int8_input,overwrite", [(True, True), (True, False), (False, False)])
def test_passes_bit_exact(case, int8_input, overwrite):
    a = arch(**CASES[case])
    rng = np.random.default_rng(case)
    base = randomize(build_vit_ir(a, int8_input, overwrite), rng)
    if int8_input:
        x = rng.integers(-128, 128, (1, a.in_chans, a.img_size, a.img_size)).astype(np.int8)
    else:
        x = (rng.standard_normal((1, a.in_chans, a.img_size, a.img_size)) * 60).astype(np.float32)
    ref_prog = copy.deepcopy(base)
    want = _run(ref_prog, x.copy())
    assert len(np.unique(want)) > 1
    cur = copy.deepcopy(base)
    for name, fn in PASSES:
        cur = fn(cur)
        got = _run(copy.deepcopy(cur), x.copy())
        assert np.array_equal(got, want), f"after pass {name}"
    # the scheduled program: smaller, checked, round-trips through the blob and still runs bit-exact
    assert any(op.kind == "Loop" for op in cur.ops)
    plan_program(cur)
    assert cur.arena_bytes + cur.input_pool_bytes < ref_prog.arena_bytes + ref_prog.input_pool_bytes
    blob = deserialize(serialize(cur))
    assert np.array_equal(reference.run(blob, [x.copy()], arena=True)[0], want)
    if overwrite and int8_input:  # the input was written over: the caller allowed it
        assert cur.input_pool_bytes == x.nbytes


@pytest.mark.parametrize("int8_input,overwrite", [(True, True), (False, False)], ids=["int8_overwrite", "float"])
def test_plan_vit_is_the_deployed_plan(int8_input, overwrite):
    """plan_vit against an independent value: the blob a real ViT(arch) becomes through quantize -> partition ->
    preprocess, read back from the .pte."""
    import torch

    from mcuformer.backend.memory.report import blob_report, delegate_blobs
    from mcuformer.backend.pipeline import lower, quantize
    from mcuformer.nas.vit import ViT

    a = arch()
    torch.manual_seed(0)
    x = torch.randn(1, a.in_chans, a.img_size, a.img_size)
    q = quantize(ViT(a).eval(), (x,), [torch.randn_like(x) for _ in range(2)])
    pte = lower(q, (x,), overwrite_input=overwrite, int8_input=int8_input).to_pte()
    got, want = blob_report(deserialize(delegate_blobs(pte)[0])), plan_vit(a, int8_input, overwrite)
    assert got.arena_bytes > 0 and (got.input_pool_bytes > 0) == (int8_input and overwrite)
    for k in ("arena_bytes", "input_pool_bytes", "bound_bytes", "input_bytes", "total_sram_bytes", "flash_bytes"):
        assert getattr(got, k) == getattr(want, k), k
    # the int8 input is the pool the plan overwrites (SRAM); a float input is read in place, outside the arena
    assert want.input_in_sram == (int8_input and overwrite)
    assert want.total_sram_bytes == want.input_in_sram * want.input_bytes + want.arena_bytes
    assert want.bound_bytes <= want.planned_bytes


def test_plan_vit_fits_paper_largest():
    # (its speed is the search's concern and measured in benchmarks, not asserted here)
    big = arch(img=240, chans=3, patch=16, embed=216, depth=14, heads=4, head_dim=64, mlp=4.0, rank=0.95,
               classes=1000)
    rep = plan_vit(big, sram_budget=0)  # one row per token loop: the least SRAM it runs in
    assert rep.total_sram_bytes <= 320 * 1024 - 32 * 1024  # room for stack and runtime state
    assert rep.planned_bytes <= rep.bound_bytes * 1.02
    # the default (the STM32F746's budget) spends what is left on tiles, within the board's model budget
    assert rep.total_sram_bytes <= plan_vit(big).total_sram_bytes <= model_sram_budget("stm32f746", 1000)
