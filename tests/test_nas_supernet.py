"""Supernet slices == extracted standalone networks; extracted networks export with torch.export(strict=True)."""

import random

import pytest
import torch

from mcuformer.nas.elastic import ElasticLowRankLinear, SuperNet
from mcuformer.nas.extract import extract
from mcuformer.nas.pipeline import export_subnet
from mcuformer.nas.space import FMNIST_SPACE, Arch, SearchSpace
from mcuformer.nas.vit import ViT

# A small space (fast) that still exercises every elastic dimension, including per-layer choices and patch resize.
TINY = SearchSpace(name="tiny", img_size=12, in_chans=1, num_classes=5, head_dim=4, patch_sizes=(6, 4, 3),
                   embed_dims=(8, 12), depths=(1, 2), num_heads=(1, 2), mlp_ratios=(1.0, 2.0),
                   rank_ratios=(0.5, 0.75, 1.0))


@pytest.fixture(scope="module")
def tiny_net():
    torch.manual_seed(0)
    net = SuperNet(TINY).eval()
    with torch.no_grad():  # non-trivial norms / biases so that slicing mistakes show
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def test_extracted_subnet_equals_supernet_slice(tiny_net):
    rng = random.Random(0)
    x = torch.randn(3, 1, 12, 12)
    archs = [TINY.largest(), TINY.smallest()] + [TINY.sample(rng) for _ in range(25)]
    for a in archs:
        vit = extract(tiny_net, a)
        assert type(vit) is ViT
        torch.testing.assert_close(vit(x), tiny_net(x, a), rtol=1e-5, atol=1e-5, msg=a.short)


def test_extracted_fmnist_subnets_equal_supernet():
    torch.manual_seed(1)
    net = SuperNet(FMNIST_SPACE).eval()
    x = torch.randn(2, 1, 28, 28)
    rng = random.Random(1)
    for a in [FMNIST_SPACE.largest(), FMNIST_SPACE.smallest()] + [FMNIST_SPACE.sample(rng) for _ in range(4)]:
        torch.testing.assert_close(extract(net, a)(x), net(x, a), rtol=1e-4, atol=1e-5)


def test_low_rank_structure_of_extracted_linears(tiny_net):
    a = Arch(12, 1, 5, 4, 12, 2, (2, 1), 4, (2.0, 1.0), (0.5, 1.0))
    vit = extract(tiny_net, a)
    qkv0 = vit.blocks[0].attn.qkv
    assert isinstance(qkv0, torch.nn.Sequential) and len(qkv0) == 2
    assert qkv0[0].bias is None and qkv0[1].bias is not None
    assert (qkv0[0].in_features, qkv0[0].out_features, qkv0[1].out_features) == (12, 6, 24)
    assert isinstance(vit.blocks[1].attn.qkv, torch.nn.Linear)  # rank 1.0: one full-rank linear
    assert vit.patch_embed_conv.kernel_size == (4, 4) and vit.patch_embed_conv.stride == (4, 4)
    assert vit.pos_embed.shape == (1, 10, 12)


def test_qkv_slices_keep_heads_of_q_k_v_together():
    lin = ElasticLowRankLinear(8, 3 * 8, groups=3)
    u, v, b = lin.active(8, 3 * 4, 1.0)
    full_v = lin.V.view(3, 8, 8)
    torch.testing.assert_close(v.view(3, 4, 8), full_v[:, :4, :])


def test_supernet_rejects_archs_outside_it(tiny_net):
    with pytest.raises(ValueError, match="not a sub-net"):
        tiny_net(torch.zeros(1, 1, 12, 12), TINY.largest().replace(embed_dim=64))


def test_export_strict_and_graph_uses_only_the_agreed_ops(tiny_net):
    a = TINY.sample(random.Random(5)).replace(rank_ratio=(0.5,) * TINY.sample(random.Random(5)).depth)
    vit = extract(tiny_net, a)
    ep = export_subnet(vit)
    x = torch.randn(1, 1, 12, 12)
    torch.testing.assert_close(ep.module()(x), vit(x))
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    allowed = {"aten.conv2d.default", "aten.flatten.using_ints", "aten.transpose.int", "aten.expand.default",
               "aten.cat.default", "aten.add.Tensor", "aten.layer_norm.default", "aten.linear.default",
               "aten.reshape.default", "aten.view.default", "aten.permute.default", "aten.select.int",
               "aten.unbind.int", "aten.matmul.default", "aten.mul.Tensor", "aten.softmax.int", "aten.gelu.default",
               "aten.slice.Tensor", "<built-in function getitem>"}
    assert ops <= allowed, ops - allowed
    assert {"aten.softmax.int", "aten.gelu.default", "aten.layer_norm.default"} <= ops
