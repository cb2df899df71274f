"""The standalone ViT: plain modules, static shapes, built from an :class:`~mcuformer.nas.space.Arch`.

This is the network that is fine-tuned, exported with ``torch.export`` and handed to the backend, which
pattern-matches its graph. Its forward passes are therefore written in one fixed, timm-like style and use only:
``nn.Conv2d`` (kernel = stride = patch, no padding), ``flatten``/``transpose``, ``cat`` with the expanded class
token, the position-embedding add, ``nn.LayerNorm``, ``nn.Linear`` (a low-rank linear is an ``nn.Sequential`` of
two ``nn.Linear``, bias on the last only), ``reshape``/``permute``, ``@``, ``* scale``, ``softmax(dim=-1)``,
``nn.GELU()``, the residual adds, ``x[:, 0]``. Do not add other ops here without telling the backend.
"""

from __future__ import annotations

import torch
from torch import nn

from .space import Arch, linear_rank

__all__ = ["ViT", "Attention", "Mlp", "Block", "make_linear"]

LN_EPS = 1e-6


def make_linear(in_features: int, out_features: int, rank_ratio: float) -> nn.Module:
    """``nn.Linear`` at ``rank_ratio == 1``; else ``Sequential(Linear(in, r, bias=False), Linear(r, out))``."""
    r = linear_rank(in_features, out_features, rank_ratio)
    if r is None:
        return nn.Linear(in_features, out_features)
    return nn.Sequential(nn.Linear(in_features, r, bias=False), nn.Linear(r, out_features))


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, head_dim: int, rank_ratio: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.scale = head_dim**-0.5
        self.qkv = make_linear(dim, 3 * num_heads * head_dim, rank_ratio)
        self.proj = make_linear(num_heads * head_dim, dim, rank_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, self.num_heads * self.head_dim)
        x = self.proj(x)
        return x


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, rank_ratio: float) -> None:
        super().__init__()
        self.fc1 = make_linear(dim, hidden, rank_ratio)
        self.act = nn.GELU()
        self.fc2 = make_linear(hidden, dim, rank_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1(x)
        x = self.act(x)
        x = self.fc2(x)
        return x


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, head_dim: int, hidden: int, rank_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads, head_dim, rank_ratio)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, hidden, rank_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class ViT(nn.Module):
    """A ViT exactly as described by ``arch`` (randomly initialised; see ``extract`` for inherited weights)."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        self.arch = arch
        e = arch.embed_dim
        self.patch_embed_conv = nn.Conv2d(arch.in_chans, e, kernel_size=arch.patch_size, stride=arch.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, e))
        self.pos_embed = nn.Parameter(torch.zeros(1, arch.num_tokens, e))
        self.blocks = nn.Sequential(
            *[
                Block(e, arch.num_heads[i], arch.head_dim, arch.mlp_hidden(i), arch.rank_ratio[i])
                for i in range(arch.depth)
            ]
        )
        self.norm = nn.LayerNorm(e, eps=LN_EPS)
        self.head = nn.Linear(e, arch.num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        B = img.shape[0]
        x = self.patch_embed_conv(img)
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)
        x = x + self.pos_embed
        x = self.blocks(x)
        x = self.norm(x)
        x = x[:, 0]
        x = self.head(x)
        return x
