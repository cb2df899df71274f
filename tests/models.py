"""Small ViTs written the three ways people write attention, shared by the tests."""
from __future__ import annotations

import math

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


# ---- one architecture (mcuformer.nas.space.Arch), many ways of writing it (issue 14) ------------------------------
# Every style computes ViT(arch)'s function with its own module code, so the backend must give each the schedule and
# the arena of plan_vit(arch). "vit", "explicit" and "sdpa" take any Arch (low rank, attention width != embed); the
# PyTorch-module styles need attention width == embed and full rank; "encoder_post" is the post-LN block (norm_first
# False), a different network of the same size; HF styles are transformers' ViTForImageClassification.
STYLES = ("vit", "explicit", "sdpa", "mha", "encoder", "encoder_post", "encoder_relu", "hf", "hf_sdpa")
ANY_ARCH_STYLES = ("vit", "explicit", "sdpa")


class SeparateQKV(nn.Module):
    """q, k, v as three projections (sharing a low-rank first factor when rank < 1, so the weights are ViT(arch)'s),
    heads split with view + transpose."""

    def __init__(self, dim: int, heads: int, head_dim: int, rank_ratio: float, use_sdpa: bool = False):
        super().__init__()
        from mcuformer.nas.space import linear_rank
        from mcuformer.nas.vit import make_linear

        self.heads, self.head_dim, self.use_sdpa = heads, head_dim, use_sdpa
        a = heads * head_dim
        r = linear_rank(dim, 3 * a, rank_ratio)  # None: factors no smaller than the linear (kept full rank)
        if r is not None:
            self.factor = nn.Linear(dim, r, bias=False)
        else:
            r, self.factor = dim, nn.Identity()
        self.q, self.k, self.v = nn.Linear(r, a), nn.Linear(r, a), nn.Linear(r, a)
        self.proj = make_linear(a, dim, rank_ratio)

    def forward(self, x):
        b, n, _ = x.shape
        u = self.factor(x)
        q, k, v = (f(u).view(b, n, self.heads, self.head_dim).transpose(1, 2) for f in (self.q, self.k, self.v))
        if self.use_sdpa:
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = torch.softmax(torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim), dim=-1) @ v
        return self.proj(o.transpose(1, 2).contiguous().view(b, n, self.heads * self.head_dim))


class FusedSDPA(nn.Module):
    """A fused qkv projection, unbind, F.scaled_dot_product_attention."""

    def __init__(self, dim: int, heads: int, head_dim: int, rank_ratio: float):
        super().__init__()
        from mcuformer.nas.vit import make_linear

        self.heads, self.head_dim = heads, head_dim
        self.qkv = make_linear(dim, 3 * heads * head_dim, rank_ratio)
        self.proj = make_linear(heads * head_dim, dim, rank_ratio)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        o = F.scaled_dot_product_attention(q, k, v)
        return self.proj(o.transpose(1, 2).reshape(b, n, -1))


class StyledBlock(nn.Module):
    def __init__(self, arch, i: int, style: str):
        super().__init__()
        from mcuformer.nas.vit import LN_EPS, Mlp

        e = arch.embed_dim
        self.norm1, self.norm2 = nn.LayerNorm(e, eps=LN_EPS), nn.LayerNorm(e, eps=LN_EPS)
        if style == "mha":
            self.attn = MHAAttention(e, arch.num_heads[i])
        else:
            self.attn = SeparateQKV(e, arch.num_heads[i], arch.head_dim, arch.rank_ratio[i]) if style == "explicit" \
                else FusedSDPA(e, arch.num_heads[i], arch.head_dim, arch.rank_ratio[i])
        self.mlp = Mlp(e, arch.mlp_hidden(i), arch.rank_ratio[i])

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class StyledViT(nn.Module):
    """ViT(arch) written in one of STYLES (not the HF ones: hf_vit)."""

    def __init__(self, arch, style: str):
        super().__init__()
        from mcuformer.nas.vit import LN_EPS

        e = arch.embed_dim
        if style not in ANY_ARCH_STYLES and (any(h * arch.head_dim != e for h in arch.num_heads)
                                            or any(r < 1.0 for r in arch.rank_ratio)):
            raise ValueError(f"style {style} needs attention width == embed and full rank: {arch}")
        self.patch_embed = nn.Conv2d(arch.in_chans, e, arch.patch_size, arch.patch_size)
        self.cls_token = nn.Parameter(torch.randn(1, 1, e) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, arch.num_tokens, e) * 0.02)
        if style.startswith("encoder"):
            self.blocks = nn.Sequential(*[nn.TransformerEncoderLayer(
                e, arch.num_heads[i], arch.mlp_hidden(i), dropout=0.0, layer_norm_eps=LN_EPS,
                activation="relu" if style == "encoder_relu" else "gelu", norm_first=style != "encoder_post",
                batch_first=True) for i in range(arch.depth)])
        else:
            self.blocks = nn.Sequential(*[StyledBlock(arch, i, style) for i in range(arch.depth)])
        self.norm = nn.LayerNorm(e, eps=LN_EPS)
        self.head = nn.Linear(e, arch.num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def hf_vit(arch, attn_implementation: str = "eager") -> nn.Module:
    """transformers' ViTForImageClassification of arch's shape, built from a ViTConfig (random weights, nothing
    downloaded). Uniform depth only (ViTConfig has one width for all layers)."""
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(image_size=arch.img_size, patch_size=arch.patch_size, num_channels=arch.in_chans,
                    hidden_size=arch.embed_dim, num_hidden_layers=arch.depth, num_attention_heads=arch.num_heads[0],
                    intermediate_size=arch.mlp_hidden(0), hidden_act="gelu", layer_norm_eps=1e-6,
                    num_labels=arch.num_classes, attn_implementation=attn_implementation)
    return _Logits(ViTForImageClassification(cfg).eval())


class _Logits(nn.Module):
    """The logits tensor of an HF model (its forward returns an output dataclass)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(pixel_values=x).logits


def styled_model(arch, style: str) -> nn.Module:
    torch.manual_seed(0)
    if style in ("hf", "hf_sdpa"):
        return hf_vit(arch, "sdpa" if style == "hf_sdpa" else "eager")
    if style == "vit":
        from mcuformer.nas.vit import ViT

        return ViT(arch).eval()
    return StyledViT(arch, style).eval()
