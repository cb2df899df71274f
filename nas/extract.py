"""Extract a sub-net of the supernet as a plain :class:`~mcuformer.nas.vit.ViT` with its inherited weights.

    vit = extract(supernet, arch)       # no elastic code left: ready for torch.export
"""

from __future__ import annotations

import torch

from .elastic.supernet import SuperNet
from .space import Arch
from .vit import ViT

__all__ = ["extract"]


@torch.no_grad()
def extract(supernet: SuperNet, arch: Arch) -> ViT:
    """Copy ``arch``'s slice of ``supernet`` into a freshly built standalone ``ViT(arch)`` (in eval mode)."""
    supernet.check(arch)
    e = arch.embed_dim
    vit = ViT(arch)
    vit.patch_embed_conv = supernet.patch_embed.materialize(arch.patch_size, e)
    vit.cls_token.copy_(supernet.cls_token[:, :, :e])
    vit.pos_embed.copy_(supernet.pos_embed(arch.grid, e))
    for i, blk in enumerate(vit.blocks):
        sb = supernet.blocks[i]
        r, a, hid = arch.rank_ratio[i], arch.attn_dim(i), arch.mlp_hidden(i)
        blk.norm1 = sb.norm1.materialize(e)
        blk.attn.qkv = sb.qkv.materialize(e, 3 * a, r)
        blk.attn.proj = sb.proj.materialize(a, e, r)
        blk.norm2 = sb.norm2.materialize(e)
        blk.mlp.fc1 = sb.fc1.materialize(e, hid, r)
        blk.mlp.fc2 = sb.fc2.materialize(hid, e, r)
    vit.norm = supernet.norm.materialize(e)
    vit.head = supernet.head.materialize(e)
    return vit.eval()
