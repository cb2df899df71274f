"""One canonical form before scheduling (issue 14): the same ViT written in every supported style (models.STYLES:
the project's ViT, separate q/k/v, fused qkv + SDPA, nn.MultiheadAttention, nn.TransformerEncoderLayer pre-/post-LN
with GELU or ReLU, Hugging Face's ViTForImageClassification eager and SDPA) and lowered through both ExecuTorch entry
points is fully delegated, bit-exact between ExecuTorch's runtime with our C++ delegate and the unfused numpy
reference, scheduled (attention per query row, token chains in place) and planned to plan_vit's arena."""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from models import STYLES, styled_model

from mcuformer.backend import reference
from mcuformer.backend.memory import plan_vit
from mcuformer.backend.memory.report import blob_report
from mcuformer.backend.pipeline import lower, quantize
from mcuformer.backend.runtime_loader import run_pte
from mcuformer.nas.space import Arch
from mcuformer.targets import model_sram_budget

A28 = Arch(img_size=28, in_chans=1, num_classes=10, patch_size=7, embed_dim=32, depth=2, num_heads=(2, 2),
           head_dim=16, mlp_ratio=(2.0, 2.0), rank_ratio=(1.0, 1.0))
A240 = Arch(img_size=240, in_chans=3, num_classes=10, patch_size=16, embed_dim=48, depth=1, num_heads=(2,),
            head_dim=24, mlp_ratio=(2.0,), rank_ratio=(1.0,))
POST_LN = {"encoder_post"}  # a different block (LayerNorm after the residual add): plan_vit within 2%


@functools.lru_cache(maxsize=None)
def lowered(arch: Arch, style: str, legacy: bool = False):
    """(Lowered, .pte bytes) of arch written in style: int8 image input the plan may overwrite (plan_vit's
    default), a handful of random calibration images."""
    model = styled_model(arch, style)
    shape = (1, arch.in_chans, arch.img_size, arch.img_size)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen)
    q = quantize(model, (x,), [torch.randn(shape, generator=gen) for _ in range(3)])
    low = lower(q, (x,), overwrite_input=True, int8_input=True, legacy=legacy)
    return low, low.to_pte()


def check_style(arch: Arch, style: str, legacy: bool = False):
    low, pte = lowered(arch, style, legacy)
    assert low.undelegated_ops() == [], low.partitioner.rejections
    (blob,) = low.programs()
    kinds = [op.kind for op in blob.ops]
    # scheduled: one attention loop over query rows (R per tile: the default budget tiles them, up to all N) with a
    # head loop inside, no [H, N, N] score tensor of several heads anywhere
    assert "Loop" in kinds
    n = arch.num_tokens
    assert not any(len(t.shape) >= 3 and t.shape[-2:] == (n, n) and math.prod(t.shape[:-2]) > 1
                   for t in blob.tensors), "whole score tensor"
    # bit-exact: ExecuTorch's runtime with our C++ delegate == the unfused numpy reference
    rng = np.random.default_rng(1)
    xs = rng.integers(-128, 128, (3, arch.in_chans, arch.img_size, arch.img_size)).astype(np.int8)
    got = run_pte(pte, xs)
    (golden,) = low.reference_programs()
    want = np.stack([reference.run(golden, [xs[i:i + 1]])[0].reshape(-1) for i in range(len(xs))])
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(want)) > 1
    # memory: the plan_vit of the same architecture
    got_rep, plan = blob_report(blob), plan_vit(arch)
    if style in POST_LN:
        assert got_rep.planned_bytes <= 1.02 * plan.planned_bytes, (got_rep.summary(), plan.summary())
    else:
        for k in ("arena_bytes", "bound_bytes", "input_pool_bytes", "total_sram_bytes"):
            assert getattr(got_rep, k) == getattr(plan, k), (k, got_rep.summary(), plan.summary())


@pytest.mark.parametrize("style", STYLES)
def test_style_28px(style):
    check_style(A28, style)


@pytest.mark.parametrize("style", STYLES)
def test_style_28px_to_edge_to_backend(style):
    check_style(A28, style, legacy=True)


@pytest.mark.parametrize("style", STYLES)
def test_style_240px(style):
    check_style(A240, style)


def test_encoder_240px_issue_case():
    """The issue's user: nn.TransformerEncoderLayer, E216, 4 heads, p16, depth 2 at 240 px: was 399,568 B with a
    float input (the whole 4 x 226 x 226 score tensor); now plan_vit's plan (int8 image, overwritten)."""
    a = Arch(img_size=240, in_chans=3, num_classes=10, patch_size=16, embed_dim=216, depth=2, num_heads=(4, 4),
             head_dim=54, mlp_ratio=(4.0, 4.0), rank_ratio=(1.0, 1.0))
    low, _ = lowered(a, "encoder")
    assert low.undelegated_ops() == []
    rep, plan = blob_report(low.programs()[0]), plan_vit(a)
    assert (rep.arena_bytes, rep.total_sram_bytes) == (plan.arena_bytes, plan.total_sram_bytes)
    # what it needs (one row per token loop); the default plan spends the rest of the F746's budget on tiles
    assert plan_vit(a, sram_budget=0).total_sram_bytes < 200_000 < rep.total_sram_bytes <= model_sram_budget(
        "stm32f746", 10)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_hf_vit_deit_tiny_shape(attn):
    """transformers' ViT at the DeiT-Tiny shape (224 px, p16, 192 wide, 3 heads, MLP 768; depth 1 to keep it
    quick): quantized (its all-true attention mask folded away, no observer on its integer tensors), fully delegated,
    the delegate's output close to the PT2E fake-quant model's, and plan_vit's arena."""
    from models import hf_vit

    a = Arch(img_size=224, in_chans=3, num_classes=10, patch_size=16, embed_dim=192, depth=1, num_heads=(3,),
             head_dim=64, mlp_ratio=(4.0,), rank_ratio=(1.0,))
    torch.manual_seed(0)
    model = hf_vit(a, attn)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((1, 3, 224, 224), generator=gen)
    q = quantize(model, (x,), [torch.randn((1, 3, 224, 224), generator=gen) for _ in range(3)])
    low = lower(q, (x,), overwrite_input=True)
    assert low.undelegated_ops() == [], low.partitioner.rejections
    (blob,) = low.programs()
    out = run_pte(low.to_pte(), x.numpy())[0]
    expected = q(x).detach().numpy().reshape(-1)
    step = blob.tensors[blob.ops[-1].inputs[0]].scale
    assert np.abs(out - expected).max() <= 4 * step + 0.1 * np.abs(expected).max()
    int8 = lower(q, (x,), overwrite_input=True, int8_input=True)
    rep, plan = blob_report(int8.programs()[0]), plan_vit(a)
    assert (rep.arena_bytes, rep.bound_bytes, rep.total_sram_bytes) == (
        plan.arena_bytes, plan.bound_bytes, plan.total_sram_bytes)
