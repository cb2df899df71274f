"""Elastic layers: each holds its largest weight and computes with the active slice (weight entanglement).

The active sizes are arguments of ``forward`` (no hidden "active sub-net" state). Each layer can also
``materialize(...)`` its slice as a plain ``nn`` module holding copies of the inherited weights.

Low-rank linears (MCUFormer factorizes every linear of a block). We use **two factors**: ``U`` (rank x in, no bias)
then ``V`` (out x rank, with bias), i.e. ``y = V (U x) + b``; MCUFormer's three-factor form ``V S U`` has the same
function class at the same rank (``S`` can be folded into ``V``) and one more intermediate buffer, so two factors
are what the backend has to run. Entanglement: all ranks share the leading rows of ``U`` / columns of ``V``
(initialised from an SVD, so leading components carry the most energy). A sub-layer with rank ratio 1.0 computes
with rank ``min(in, out)`` through the same factors and is materialized as one full-rank ``nn.Linear``
(``W = V U``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..space import linear_rank
from ..vit import LN_EPS

__all__ = ["ElasticLowRankLinear", "ElasticLayerNorm", "ElasticPatchEmbed", "ElasticPosEmbed", "ElasticLinear"]


class ElasticLowRankLinear(nn.Module):
    """``out_max x in_max`` linear held as factors ``V`` (out_max x R) ``U`` (R x in_max), ``R = min(in, out)``.

    ``groups`` splits the output into equal interleaved groups sliced independently (qkv: 3 groups, so that the
    first ``h`` heads of q, k and v stay together when ``out`` shrinks).
    """

    def __init__(self, in_max: int, out_max: int, groups: int = 1) -> None:
        super().__init__()
        if out_max % groups:
            raise ValueError(f"out_max {out_max} not divisible by groups {groups}")
        self.in_max, self.out_max, self.groups = in_max, out_max, groups
        self.rank_max = min(in_max, out_max)
        w = torch.empty(out_max, in_max)
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))  # nn.Linear's default; tiny ViTs train faster than at std 0.02
        # SVD init: leading rank components first, balanced scale between factors.
        p, s, qh = torch.linalg.svd(w, full_matrices=False)
        sq = s.sqrt()
        self.U = nn.Parameter((sq[:, None] * qh).contiguous())  # R x in
        self.V = nn.Parameter((p * sq[None, :]).contiguous())  # out x R
        self.bias = nn.Parameter(torch.zeros(out_max))

    def active(self, fin: int, fout: int, ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The active ``(U, V, bias)`` slices for ``fin -> fout`` at ``ratio``."""
        r = linear_rank(fin, fout, ratio) or min(fin, fout)
        if fin > self.in_max or fout > self.out_max or r > self.rank_max:
            raise ValueError(f"active {fin}->{fout} (rank {r}) exceeds supernet {self.in_max}->{self.out_max}")
        u = self.U[:r, :fin]
        if self.groups == 1:
            v, b = self.V[:fout, :r], self.bias[:fout]
        else:
            g = self.groups
            v = self.V.view(g, self.out_max // g, self.rank_max)[:, : fout // g, :r].reshape(fout, r)
            b = self.bias.view(g, self.out_max // g)[:, : fout // g].reshape(fout)
        return u, v, b

    def forward(self, x: torch.Tensor, fin: int, fout: int, ratio: float) -> torch.Tensor:
        u, v, b = self.active(fin, fout, ratio)
        return F.linear(F.linear(x, u), v, b)

    @torch.no_grad()
    def materialize(self, fin: int, fout: int, ratio: float) -> nn.Module:
        u, v, b = self.active(fin, fout, ratio)
        if linear_rank(fin, fout, ratio) is None:
            lin = nn.Linear(fin, fout)
            lin.weight.copy_(v @ u)
            lin.bias.copy_(b)
            return lin
        first, second = nn.Linear(fin, u.shape[0], bias=False), nn.Linear(u.shape[0], fout)
        first.weight.copy_(u)
        second.weight.copy_(v)
        second.bias.copy_(b)
        return nn.Sequential(first, second)


class ElasticLinear(nn.Module):
    """A plain (never factorized) linear sliced on its input: the classifier head."""

    def __init__(self, in_max: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_max))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor, fin: int) -> torch.Tensor:
        return F.linear(x, self.weight[:, :fin], self.bias)

    @torch.no_grad()
    def materialize(self, fin: int) -> nn.Linear:
        lin = nn.Linear(fin, self.weight.shape[0])
        lin.weight.copy_(self.weight[:, :fin])
        lin.bias.copy_(self.bias)
        return lin


class ElasticLayerNorm(nn.Module):
    def __init__(self, dim_max: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim_max))
        self.bias = nn.Parameter(torch.zeros(dim_max))

    def forward(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        return F.layer_norm(x, (dim,), self.weight[:dim], self.bias[:dim], LN_EPS)

    @torch.no_grad()
    def materialize(self, dim: int) -> nn.LayerNorm:
        ln = nn.LayerNorm(dim, eps=LN_EPS)
        ln.weight.copy_(self.weight[:dim])
        ln.bias.copy_(self.bias[:dim])
        return ln


class ElasticPatchEmbed(nn.Module):
    """One ``embed_max x C x K x K`` kernel (``K`` = the largest patch) serving every patch size.

    For patch ``p < K`` the kernel is resized to ``p x p`` (bilinear, anti-aliased) and scaled by ``K^2 / p^2`` so
    that a flat image patch gives the same response at every patch size (FlexiViT-like); channels are sliced.
    """

    def __init__(self, in_chans: int, embed_max: int, max_patch: int) -> None:
        super().__init__()
        self.max_patch = max_patch
        self.weight = nn.Parameter(torch.empty(embed_max, in_chans, max_patch, max_patch))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's default
        self.bias = nn.Parameter(torch.zeros(embed_max))

    def kernel(self, patch: int, embed: int) -> torch.Tensor:
        w = self.weight[:embed]
        if patch == self.max_patch:
            return w
        w = F.interpolate(w, size=(patch, patch), mode="bilinear", align_corners=False,
                          antialias=patch < self.max_patch)
        return w * (self.max_patch**2 / patch**2)

    def forward(self, img: torch.Tensor, patch: int, embed: int) -> torch.Tensor:
        return F.conv2d(img, self.kernel(patch, embed), self.bias[:embed], stride=patch)

    @torch.no_grad()
    def materialize(self, patch: int, embed: int) -> nn.Conv2d:
        w = self.kernel(patch, embed)
        conv = nn.Conv2d(w.shape[1], embed, kernel_size=patch, stride=patch)
        conv.weight.copy_(w)
        conv.bias.copy_(self.bias[:embed])
        return conv


class ElasticPosEmbed(nn.Module):
    """A class-token position plus a ``max_grid x max_grid`` grid of positions, resized to each token grid."""

    def __init__(self, embed_max: int, max_grid: int) -> None:
        super().__init__()
        self.max_grid = max_grid
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, embed_max))
        self.grid_pos = nn.Parameter(torch.zeros(1, embed_max, max_grid, max_grid))
        nn.init.trunc_normal_(self.cls_pos, std=0.02)
        nn.init.trunc_normal_(self.grid_pos, std=0.02)

    def forward(self, grid: int, embed: int) -> torch.Tensor:
        """``1 x (grid^2 + 1) x embed``: class-token position first, then row-major patch positions."""
        g = self.grid_pos[:, :embed]
        if grid != self.max_grid:
            g = F.interpolate(g, size=(grid, grid), mode="bilinear", align_corners=False,
                              antialias=grid < self.max_grid)
        return torch.cat([self.cls_pos[:, :, :embed], g.flatten(2).transpose(1, 2)], dim=1)
