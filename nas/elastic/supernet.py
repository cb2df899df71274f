"""The weight-entangled supernet: one network whose slices are every architecture of a search space.

    net = SuperNet(FMNIST_SPACE)
    logits = net(images, arch)          # arch: an Arch of the space, passed explicitly on every call

The forward computes exactly what :class:`mcuformer.nas.vit.ViT` built by :func:`mcuformer.nas.extract.extract`
computes for the same arch (tested).
"""

from __future__ import annotations

import torch
from torch import nn

from ..space import Arch, SearchSpace
from .layers import ElasticLayerNorm, ElasticLinear, ElasticLowRankLinear, ElasticPatchEmbed, ElasticPosEmbed

__all__ = ["SuperNet", "SuperBlock"]


class SuperBlock(nn.Module):
    def __init__(self, embed_max: int, attn_max: int, hidden_max: int) -> None:
        super().__init__()
        self.norm1 = ElasticLayerNorm(embed_max)
        self.qkv = ElasticLowRankLinear(embed_max, 3 * attn_max, groups=3)
        self.proj = ElasticLowRankLinear(attn_max, embed_max)
        self.norm2 = ElasticLayerNorm(embed_max)
        self.fc1 = ElasticLowRankLinear(embed_max, hidden_max)
        self.act = nn.GELU()
        self.fc2 = ElasticLowRankLinear(hidden_max, embed_max)

    def forward(self, x: torch.Tensor, arch: Arch, i: int) -> torch.Tensor:
        B, N, _ = x.shape
        e, h, d, r = arch.embed_dim, arch.num_heads[i], arch.head_dim, arch.rank_ratio[i]
        a, hid = h * d, arch.mlp_hidden(i)
        y = self.norm1(x, e)
        qkv = self.qkv(y, e, 3 * a, r).reshape(B, N, 3, h, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * d**-0.5).softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(B, N, a)
        x = x + self.proj(y, a, e, r)
        y = self.fc2(self.act(self.fc1(self.norm2(x, e), e, hid, r)), hid, e, r)
        return x + y


class SuperNet(nn.Module):
    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        e = space.max_embed
        self.embed_max = e
        self.attn_max = space.max_heads * space.head_dim
        self.hidden_max = int(round(space.max_mlp_ratio * e))
        self.patch_embed = ElasticPatchEmbed(space.in_chans, e, max(space.patch_sizes))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, e))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.pos_embed = ElasticPosEmbed(e, space.img_size // min(space.patch_sizes))
        self.blocks = nn.ModuleList(
            [SuperBlock(e, self.attn_max, self.hidden_max) for _ in range(space.max_depth)]
        )
        self.norm = ElasticLayerNorm(e)
        self.head = ElasticLinear(e, space.num_classes)

    def check(self, arch: Arch) -> None:
        s = self.space
        problems = []
        if (arch.img_size, arch.in_chans, arch.num_classes, arch.head_dim) != (
            s.img_size, s.in_chans, s.num_classes, s.head_dim
        ):
            problems.append("img_size/in_chans/num_classes/head_dim differ from the space")
        if arch.embed_dim > self.embed_max:
            problems.append(f"embed {arch.embed_dim} > {self.embed_max}")
        if arch.depth > len(self.blocks):
            problems.append(f"depth {arch.depth} > {len(self.blocks)}")
        if max(arch.num_heads) * arch.head_dim > self.attn_max:
            problems.append(f"heads {max(arch.num_heads)} > {self.attn_max // arch.head_dim}")
        if max(arch.mlp_hidden(i) for i in range(arch.depth)) > self.hidden_max:
            problems.append(f"MLP hidden > {self.hidden_max}")
        if arch.patch_size > self.patch_embed.max_patch:
            problems.append(f"patch {arch.patch_size} > {self.patch_embed.max_patch}")
        if problems:
            raise ValueError(f"arch {arch.short()} is not a sub-net of this supernet: " + "; ".join(problems))

    def forward(self, img: torch.Tensor, arch: Arch) -> torch.Tensor:
        self.check(arch)
        B, e = img.shape[0], arch.embed_dim
        x = self.patch_embed(img, arch.patch_size, e)
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token[:, :, :e].expand(B, -1, -1), x], dim=1)
        x = x + self.pos_embed(arch.grid, e)
        for i in range(arch.depth):
            x = self.blocks[i](x, arch, i)
        x = self.norm(x, e)
        return self.head(x[:, 0], e)
