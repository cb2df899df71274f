"""Weight-entangled elastic supernet over embed dim, depth, heads, MLP ratio, low-rank ratio and patch size."""

from .layers import ElasticLayerNorm, ElasticLinear, ElasticLowRankLinear, ElasticPatchEmbed, ElasticPosEmbed
from .supernet import SuperBlock, SuperNet

__all__ = [
    "SuperNet",
    "SuperBlock",
    "ElasticLowRankLinear",
    "ElasticLinear",
    "ElasticLayerNorm",
    "ElasticPatchEmbed",
    "ElasticPosEmbed",
]
