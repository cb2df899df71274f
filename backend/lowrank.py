"""The rank of a low-rank factorized linear: one rule for the backend's builder (plan_vit) and the search space.

A linear in -> out at rank ratio rho < 1 is two factors in -> r (no bias) and r -> out (bias), with
r = max(1, round(rho * min(in, out))). Factors hold r * (in + out) weights and cost as many MACs per token, against
in * out for the full linear: at r >= in * out / (in + out) they cost more (or the same, with a second kernel call
and an intermediate buffer) and save nothing, so such a linear stays full rank.
"""
from __future__ import annotations


def linear_rank(in_features: int, out_features: int, rank_ratio: float) -> int | None:
    """The factorization's rank, or None when the linear is full rank (rank_ratio >= 1, or no saving)."""
    if rank_ratio >= 1.0:
        return None
    r = max(1, int(round(rank_ratio * min(in_features, out_features))))
    return r if r * (in_features + out_features) < in_features * out_features else None
