"""plan_vit is the deployed plan, always (issue 14): 30 random architectures drawn from FMNIST_SPACE,
FMNIST_SMALL_SPACE and the 240 px paper space, each written in two styles (the project's ViT and separate q/k/v or
fused qkv + SDPA), quantized, lowered through ExecuTorch with an int8 image the plan may overwrite (plan_vit's
default), and the blob's arena, live-set bound and total SRAM compared with plan_vit(arch) exactly.

Cheap enough for the suite: random weights, two calibration images, shallow networks (the plan is one block at a
time), and one export per group of networks (each network has its own input, so each is its own delegate)."""
from __future__ import annotations

import random

import pytest
import torch
from models import styled_model
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

from mcuformer.backend import MCUFormerPartitioner, MCUFormerQuantizer
from mcuformer.backend.memory import plan_vit
from mcuformer.backend.memory.report import blob_report
from mcuformer.backend.serialization.serialize import deserialize
from mcuformer.nas.space import FMNIST_SMALL_SPACE, FMNIST_SPACE, PAPER_SPACE


def _draw(space, count: int, max_depth: int, seed: int):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        a = space.sample(rng)
        d = rng.randint(1, min(max_depth, a.depth))
        out.append(a.replace(depth=d, num_heads=a.num_heads[:d], mlp_ratio=a.mlp_ratio[:d],
                             rank_ratio=a.rank_ratio[:d]))
    return out


GROUPS = {
    "fmnist": _draw(FMNIST_SPACE, 12, 3, 14),
    "fmnist_small": _draw(FMNIST_SMALL_SPACE, 10, 3, 15),
    "paper_240": _draw(PAPER_SPACE, 8, 2, 16),
}


class _Several(torch.nn.Module):
    """Independent networks in one program (one input each): one export, quantization and lowering for all."""

    def __init__(self, nets):
        super().__init__()
        self.nets = torch.nn.ModuleList(nets)

    def forward(self, *xs):
        return tuple(net(x) for net, x in zip(self.nets, xs))


@pytest.mark.parametrize("group", list(GROUPS))
def test_deployed_plan_is_plan_vit(group):
    from executorch.exir import to_edge_transform_and_lower
    from executorch.exir.passes.quantize_io_pass import quantize_input

    archs = GROUPS[group]
    cases = [(a, style) for i, a in enumerate(archs) for style in ("vit", ("explicit", "sdpa")[i % 2])]
    nets = [styled_model(a, style) for a, style in cases]
    gen = torch.Generator().manual_seed(0)

    def images():
        return tuple(torch.randn((1, a.in_chans, a.img_size, a.img_size), generator=gen) for a, _ in cases)

    xs = images()
    gm = torch.export.export(_Several(nets).eval(), xs, strict=True).module(check_guards=False)
    prepared = prepare_pt2e(gm, MCUFormerQuantizer())
    with torch.no_grad():
        for _ in range(2):
            prepared(*images())
    ep = torch.export.export(convert_pt2e(prepared), xs, strict=True)
    for i in range(len(cases)):
        quantize_input(ep, i)  # int8 images, as plan_vit's default models
    part = MCUFormerPartitioner(overwrite_input=True)
    edge = to_edge_transform_and_lower(ep, partitioner=[part])
    gm = edge.exported_program().graph_module
    blobs = [deserialize(getattr(gm, n.target).processed_bytes) for n in gm.graph.nodes
             if n.op == "get_attr" and n.target.startswith("lowered_module")]
    assert len(blobs) == len(cases), part.rejections
    for (a, style), blob in zip(cases, blobs):
        got, want = blob_report(blob), plan_vit(a)
        assert blob.input_pool_bytes > 0, (style, a.short())
        for k in ("arena_bytes", "bound_bytes", "total_sram_bytes", "input_pool_bytes", "flash_bytes"):
            assert getattr(got, k) == getattr(want, k), (k, style, a.short(), got.summary(), want.summary())
