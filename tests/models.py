"""Small ViTs written the three ways people write attention, shared by the tests."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ExplicitAttention(nn.Module):
    def __init__(self, dim: int, heads: int, use_sdpa: bool = False):
        super().__init__()
        self.heads, self.use_sdpa = heads, use_sdpa
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.use_sdpa:
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            a = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
            o = a @ v
        return self.proj(o.transpose(1, 2).reshape(b, n, c))


class MHAAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, style: str, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MHAAttention(dim, heads) if style == "mha" else ExplicitAttention(dim, heads, style == "sdpa")
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """style: "explicit" (qkv/reshape/permute/softmax), "sdpa" (F.scaled_dot_product_attention),
    "mha" (nn.MultiheadAttention), "encoder" (nn.TransformerEncoderLayer(norm_first=True, activation="gelu"))."""

    def __init__(self, style: str = "explicit", img: int = 28, chans: int = 1, patch: int = 7, dim: int = 32,
                 depth: int = 2, heads: int = 2, classes: int = 10, pool: str = "cls"):
        super().__init__()
        self.pool = pool
        self.patch_embed = nn.Conv2d(chans, dim, patch, patch)
        n = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        if style == "encoder":
            self.blocks = nn.Sequential(*[nn.TransformerEncoderLayer(
                dim, heads, 2 * dim, dropout=0.0, activation="gelu", norm_first=True, batch_first=True)
                for _ in range(depth)])
        else:
            self.blocks = nn.Sequential(*[Block(dim, heads, style) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0] if self.pool == "cls" else x.mean(dim=1))
