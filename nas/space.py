"""Architectures as plain values, and the search spaces they are drawn from.

An :class:`Arch` describes one vision transformer completely (it is what the backend's memory planner, the MACs
counter and :func:`mcuformer.nas.extract.build_vit` read). It is immutable, hashable, and round-trips through
``to_dict`` / ``from_dict`` / ``to_json`` / ``from_json``::

    arch = FMNIST_SPACE.largest()
    assert Arch.from_json(arch.to_json()) == arch

Conventions shared with the backend (keep them in one place: here):

* tokens: ``grid = img_size // patch_size`` per side (a conv with kernel = stride = patch and no padding drops the
  remainder), ``num_patches = grid**2``, and ``num_tokens = num_patches + 1`` (the class token).
* attention width of layer ``i`` is ``num_heads[i] * head_dim`` (independent of ``embed_dim``, as in AutoFormer /
  MCUFormer); the MLP hidden width is ``round(mlp_ratio[i] * embed_dim)``.
* every linear of a block (qkv, proj, fc1, fc2) with ``rank_ratio[i] < 1`` is two factors
  ``in -> r`` (no bias) then ``r -> out`` (bias), with ``r = linear_rank(in, out, rank_ratio[i])`` (the backend's
  rule, ``mcuformer.backend.lowrank``); a linear whose factors would not be smaller than it (``linear_rank`` is None,
  always so at ``rank_ratio == 1.0``) is one plain full-rank linear. The patch embedding and the head are never
  factorized.

Sampling, mutation and crossover take an explicit ``random.Random``; every loop is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from mcuformer.backend.lowrank import linear_rank

__all__ = [
    "Arch",
    "SearchSpace",
    "Region",
    "NoFeasibleArch",
    "linear_rank",
    "layer_linears",
    "macs",
    "param_count",
    "PAPER_SPACE",
    "FMNIST_SPACE",
    "FMNIST_SMALL_SPACE",
    "flash_lower_bound",
    "SPACES",
    "iter_uniform",
]


@dataclass(frozen=True)
class Arch:
    """One ViT, completely. Per-layer fields are tuples of length ``depth``."""

    img_size: int
    in_chans: int
    num_classes: int
    patch_size: int
    embed_dim: int
    depth: int
    num_heads: tuple[int, ...]
    head_dim: int
    mlp_ratio: tuple[float, ...]
    rank_ratio: tuple[float, ...]

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON) but store tuples so the value stays hashable.
        for name, conv in (("num_heads", int), ("mlp_ratio", float), ("rank_ratio", float)):
            v = getattr(self, name)
            if isinstance(v, (int, float)):
                v = (v,) * self.depth
            object.__setattr__(self, name, tuple(conv(x) for x in v))
        for name in ("img_size", "in_chans", "num_classes", "patch_size", "embed_dim", "depth", "head_dim"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"Arch.{name} must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in ("num_heads", "mlp_ratio", "rank_ratio"):
            if len(getattr(self, name)) != self.depth:
                raise ValueError(f"Arch.{name} has {len(getattr(self, name))} entries, expected depth={self.depth}")
        if self.patch_size > self.img_size:
            raise ValueError(f"patch_size {self.patch_size} > img_size {self.img_size}")
        if any(h < 1 for h in self.num_heads):
            raise ValueError(f"num_heads must be >= 1, got {self.num_heads}")
        if any(m <= 0 for m in self.mlp_ratio):
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if any(not (0 < r <= 1) for r in self.rank_ratio):
            raise ValueError(f"rank_ratio must be in (0, 1], got {self.rank_ratio}")

    # ---- derived shapes -------------------------------------------------------------------------------------
    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid * self.grid

    @property
    def num_tokens(self) -> int:
        return self.num_patches + 1

    def attn_dim(self, layer: int) -> int:
        return self.num_heads[layer] * self.head_dim

    def mlp_hidden(self, layer: int) -> int:
        return int(round(self.mlp_ratio[layer] * self.embed_dim))

    # ---- value semantics ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("num_heads", "mlp_ratio", "rank_ratio"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Arch":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown Arch fields {sorted(unknown)}")
        return cls(**{k: d[k] for k in names if k in d})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "Arch":
        return cls.from_dict(json.loads(s))

    def replace(self, **changes: Any) -> "Arch":
        return dataclasses.replace(self, **changes)

    def short(self) -> str:
        """A one-line summary for logs and plot labels."""

        def per_layer(v: tuple) -> str:
            return str(v[0]) if len(set(v)) == 1 else "/".join(str(x) for x in v)

        return (
            f"p{self.patch_size} E{self.embed_dim} D{self.depth} H{per_layer(self.num_heads)}x{self.head_dim} "
            f"M{per_layer(self.mlp_ratio)} r{per_layer(self.rank_ratio)}"
        )


# ---- shape arithmetic shared by the MACs counter and the parameter counter ----------------------------------


def layer_linears(arch: Arch, layer: int) -> list[tuple[str, int, int]]:
    """``(name, in_features, out_features)`` of the four linears of block ``layer``."""
    e, a, h = arch.embed_dim, arch.attn_dim(layer), arch.mlp_hidden(layer)
    return [("qkv", e, 3 * a), ("proj", a, e), ("fc1", e, h), ("fc2", h, e)]


def _linear_cost(fin: int, fout: int, ratio: float) -> tuple[int, int]:
    """(multiply-accumulates per token, parameters incl. bias) of one possibly factorized linear."""
    r = linear_rank(fin, fout, ratio)
    if r is None:
        return fin * fout, fin * fout + fout
    return r * (fin + fout), r * (fin + fout) + fout


def macs(arch: Arch) -> int:
    """Multiply-accumulates of one inference (batch 1): convolutions, linears and the two attention matmuls."""
    n, e = arch.num_tokens, arch.embed_dim
    total = arch.num_patches * e * arch.in_chans * arch.patch_size**2  # patch embedding
    for i in range(arch.depth):
        for _, fin, fout in layer_linears(arch, i):
            total += n * _linear_cost(fin, fout, arch.rank_ratio[i])[0]
        total += 2 * arch.num_heads[i] * n * n * arch.head_dim  # q k^T and attn v
    total += e * arch.num_classes  # head on the class token
    return total


def param_count(arch: Arch) -> int:
    """Number of parameters of the extracted network (weights + biases + cls token + position embedding)."""
    e = arch.embed_dim
    total = e * arch.in_chans * arch.patch_size**2 + e  # conv
    total += e + arch.num_tokens * e  # cls token, pos embed
    for i in range(arch.depth):
        total += 4 * e  # two LayerNorms
        for _, fin, fout in layer_linears(arch, i):
            total += _linear_cost(fin, fout, arch.rank_ratio[i])[1]
    total += 2 * e + e * arch.num_classes + arch.num_classes  # final norm, head
    return total


# ---- search spaces -------------------------------------------------------------------------------------------


class NoFeasibleArch(RuntimeError):
    """No sampled architecture met the constraint within the bound on tries."""


@dataclass(frozen=True)
class Region:
    """A window of the (patch size, rank ratio) plane: the part of a space that search-space evolution moves."""

    patch_sizes: tuple[int, ...]
    rank_ratios: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"patch_sizes": list(self.patch_sizes), "rank_ratios": list(self.rank_ratios)}


@dataclass(frozen=True)
class SearchSpace:
    """The choices of every architecture field. ``patch_sizes`` is ordered largest patch (fewest tokens) first."""

    name: str
    img_size: int
    in_chans: int
    num_classes: int
    head_dim: int
    patch_sizes: tuple[int, ...]
    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    mlp_ratios: tuple[float, ...]
    rank_ratios: tuple[float, ...]
    # the supernet's largest dimensions may exceed every sub-net's (MCUFormer: supernet embed 256 vs 216)
    super_embed_dim: int | None = None
    super_num_heads: int | None = None
    super_mlp_ratio: float | None = None

    def __post_init__(self) -> None:
        for f in ("patch_sizes", "embed_dims", "depths", "num_heads", "mlp_ratios", "rank_ratios"):
            v = tuple(getattr(self, f))
            if not v:
                raise ValueError(f"SearchSpace.{f} is empty")
            object.__setattr__(self, f, v)
        object.__setattr__(self, "patch_sizes", tuple(sorted(self.patch_sizes, reverse=True)))
        for f in ("embed_dims", "depths", "num_heads", "mlp_ratios", "rank_ratios"):
            object.__setattr__(self, f, tuple(sorted(getattr(self, f))))

    # supernet maxima
    @property
    def max_embed(self) -> int:
        return max(self.super_embed_dim or 0, max(self.embed_dims))

    @property
    def max_heads(self) -> int:
        return max(self.super_num_heads or 0, max(self.num_heads))

    @property
    def max_mlp_ratio(self) -> float:
        return max(self.super_mlp_ratio or 0.0, max(self.mlp_ratios))

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    def linear_shapes(self) -> set[tuple[int, int]]:
        """Every (in, out) a block linear of some sub-net has (qkv, proj, fc1, fc2)."""
        shapes = set()
        for e in self.embed_dims:
            for h in self.num_heads:
                a = h * self.head_dim
                shapes |= {(e, 3 * a), (a, e)}
            for m in self.mlp_ratios:
                hidden = int(round(m * e))
                shapes |= {(e, hidden), (hidden, e)}
        return shapes

    def without_dominated_ranks(self) -> "SearchSpace":
        """The space without the rank ratios below 1 that factorize no linear of any sub-net (``linear_rank`` keeps
        a linear full rank where factors would not be smaller): such a ratio only duplicates rank 1.0."""
        shapes = self.linear_shapes()
        keep = tuple(r for r in self.rank_ratios
                     if r >= 1.0 or any(linear_rank(i, o, r) is not None for i, o in shapes))
        return dataclasses.replace(self, rank_ratios=keep)

    def within(self, other: "SearchSpace") -> bool:
        """Every sub-net of this space is one of ``other``'s (a restriction of it, such as an ablation's: then
        ``other``'s supernet serves its search)."""
        return (all(getattr(self, f) == getattr(other, f) for f in ("img_size", "in_chans", "num_classes", "head_dim"))
                and all(set(getattr(self, f)) <= set(getattr(other, f)) for f in
                        ("patch_sizes", "embed_dims", "depths", "num_heads", "mlp_ratios", "rank_ratios")))

    def full_region(self) -> Region:
        return Region(self.patch_sizes, self.rank_ratios)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchSpace":
        return cls(**d)

    def scale_patch(self, patch: int, img_size: int) -> int:
        """The patch size at ``img_size`` that keeps ``patch``'s token grid at this space's image size."""
        return max(1, min(img_size, round(patch * img_size / self.img_size)))

    def for_images(self, img_size: int, in_chans: int, num_classes: int) -> "SearchSpace":
        """The same space for another data set's images: patch sizes scaled to keep each token grid."""
        if (img_size, in_chans, num_classes) == (self.img_size, self.in_chans, self.num_classes):
            return self
        patches = tuple(sorted({self.scale_patch(p, img_size) for p in self.patch_sizes}, reverse=True))
        return dataclasses.replace(self, name=f"{self.name}@{img_size}x{img_size}x{in_chans}-{num_classes}",
                                   img_size=img_size, in_chans=in_chans, num_classes=num_classes,
                                   patch_sizes=patches)

    def _arch(self, patch: int, embed: int, depth: int, heads, mlps, ranks) -> Arch:
        return Arch(self.img_size, self.in_chans, self.num_classes, patch, embed, depth,
                    tuple(heads), self.head_dim, tuple(mlps), tuple(ranks))

    def largest(self, region: Region | None = None) -> Arch:
        """The largest sub-net (smallest patch, all choices at their maximum)."""
        r = region or self.full_region()
        d = max(self.depths)
        return self._arch(min(r.patch_sizes), max(self.embed_dims), d, [max(self.num_heads)] * d,
                          [max(self.mlp_ratios)] * d, [max(r.rank_ratios)] * d)

    def smallest(self, region: Region | None = None) -> Arch:
        r = region or self.full_region()
        d = min(self.depths)
        return self._arch(max(r.patch_sizes), min(self.embed_dims), d, [min(self.num_heads)] * d,
                          [min(self.mlp_ratios)] * d, [min(r.rank_ratios)] * d)

    def uniform(self, patch: int, embed: int, depth: int, heads: int, mlp: float, rank: float = 1.0) -> Arch:
        """A hand-designed uniform ViT (the same choice in every layer)."""
        return self._arch(patch, embed, depth, [heads] * depth, [mlp] * depth, [rank] * depth)

    def contains(self, arch: Arch, region: Region | None = None) -> bool:
        r = region or self.full_region()
        return (
            arch.img_size == self.img_size and arch.in_chans == self.in_chans
            and arch.num_classes == self.num_classes and arch.head_dim == self.head_dim
            and arch.patch_size in r.patch_sizes and arch.embed_dim in self.embed_dims
            and arch.depth in self.depths and all(h in self.num_heads for h in arch.num_heads)
            and all(m in self.mlp_ratios for m in arch.mlp_ratio)
            and all(x in r.rank_ratios for x in arch.rank_ratio)
        )

    # ---- sampling / mutation / crossover --------------------------------------------------------------------
    def sample(self, rng: random.Random, region: Region | None = None) -> Arch:
        """One uniformly random architecture (per-layer choices independent)."""
        r = region or self.full_region()
        d = rng.choice(self.depths)
        return self._arch(
            rng.choice(r.patch_sizes), rng.choice(self.embed_dims), d,
            [rng.choice(self.num_heads) for _ in range(d)],
            [rng.choice(self.mlp_ratios) for _ in range(d)],
            [rng.choice(r.rank_ratios) for _ in range(d)],
        )

    def sample_feasible(
        self,
        rng: random.Random,
        is_feasible: Callable[[Arch], bool],
        region: Region | None = None,
        max_tries: int = 1000,
    ) -> Arch:
        """A random architecture that satisfies ``is_feasible``; raises :class:`NoFeasibleArch` after ``max_tries``."""
        for _ in range(max_tries):
            a = self.sample(rng, region)
            if is_feasible(a):
                return a
        raise NoFeasibleArch(
            f"no architecture of space {self.name!r} met the constraint in {max_tries} random tries; "
            "raise the budget or shrink the space"
        )

    def mutate(self, arch: Arch, rng: random.Random, prob: float, region: Region | None = None) -> Arch:
        """Re-draw each field (and each layer's choices) with probability ``prob``."""
        r = region or self.full_region()
        patch = rng.choice(r.patch_sizes) if rng.random() < prob else arch.patch_size
        embed = rng.choice(self.embed_dims) if rng.random() < prob else arch.embed_dim
        depth = rng.choice(self.depths) if rng.random() < prob else arch.depth

        def per_layer(old: tuple, choices: Sequence) -> list:
            out = []
            for i in range(depth):
                keep = old[i] if i < len(old) else rng.choice(choices)
                out.append(rng.choice(choices) if rng.random() < prob else keep)
            return out

        ranks_old = tuple(x if x in r.rank_ratios else rng.choice(r.rank_ratios) for x in arch.rank_ratio)
        if patch not in r.patch_sizes:
            patch = rng.choice(r.patch_sizes)
        return self._arch(patch, embed, depth, per_layer(arch.num_heads, self.num_heads),
                          per_layer(arch.mlp_ratio, self.mlp_ratios), per_layer(ranks_old, r.rank_ratios))

    def crossover(self, a: Arch, b: Arch, rng: random.Random) -> Arch:
        """Each field from either parent; per-layer choices mixed position by position."""
        pick = lambda x, y: x if rng.random() < 0.5 else y  # noqa: E731
        depth = pick(a.depth, b.depth)

        def layers(xa: tuple, xb: tuple) -> list:
            out = []
            for i in range(depth):
                cands = [v[i] for v in (xa, xb) if i < len(v)]
                out.append(rng.choice(cands))
            return out

        return self._arch(pick(a.patch_size, b.patch_size), pick(a.embed_dim, b.embed_dim), depth,
                          layers(a.num_heads, b.num_heads), layers(a.mlp_ratio, b.mlp_ratio),
                          layers(a.rank_ratio, b.rank_ratio))


def _steps(lo: float, hi: float, step: float) -> tuple[float, ...]:
    n = int(round((hi - lo) / step))
    return tuple(round(lo + i * step, 4) for i in range(n + 1))


# MCUFormer's ImageNet space at 240 px (ANCHORS.md). Supernet: embed 256, depth 14, 4 heads, MLP 4.
PAPER_SPACE = SearchSpace(
    name="mcuformer-240",
    img_size=240, in_chans=3, num_classes=1000, head_dim=64,
    patch_sizes=(32, 28, 24, 20, 16),
    embed_dims=(168, 192, 216),
    depths=(12, 13, 14),
    num_heads=(3, 4),
    mlp_ratios=(3.5, 4.0),
    rank_ratios=_steps(0.40, 0.95, 0.05),
    super_embed_dim=256, super_num_heads=4, super_mlp_ratio=4.0,
).without_dominated_ranks()

# Fashion-MNIST, wide enough that the 16/32/64 KB SRAM budgets bind under the backend's planner (plan_vit). Patches
# divide 28 (16 / 49 / 196 patches + the class token); heads of 16, up to 8 (attention width up to 128, wider than a
# small embedding: K and V of every token are live together, so the heads are what fills SRAM at patch 2).
# Measured with plan_vit on 200 random sub-nets: 42% / 65% / 85% fit 16 / 32 / 64 KB; no patch-2 sub-net with more
# than one head fits 16 KB, and the largest patch-2 sub-nets need ~110 KB. Depth and width are limited by flash
# (benchmarks pair each SRAM budget with a flash budget), not by SRAM: the planner runs one block at a time.
FMNIST_SPACE = SearchSpace(
    name="fmnist-28",
    img_size=28, in_chans=1, num_classes=10, head_dim=16,
    patch_sizes=(7, 4, 2),
    embed_dims=(32, 48, 64, 96, 128, 160, 192),
    depths=(2, 3, 4, 5, 6, 7, 8, 9, 10),
    num_heads=(1, 2, 3, 4, 6, 8),
    mlp_ratios=(2.0, 3.0, 4.0),
    rank_ratios=_steps(0.40, 1.00, 0.05),
).without_dominated_ranks()

# The main job's small space (2 CPU cores, ~10 minutes): every sub-net fits 16 KB, so it is the flash budget and the
# region (patches 7 and 4) that bound it. The benchmarks use FMNIST_SPACE.
FMNIST_SMALL_SPACE = SearchSpace(
    name="fmnist-28-small",
    img_size=28, in_chans=1, num_classes=10, head_dim=16,
    patch_sizes=(7, 4, 2),
    embed_dims=(32, 48, 64, 96),
    depths=(3, 4, 5, 6),
    num_heads=(1, 2, 3, 4),
    mlp_ratios=(2.0, 3.0, 4.0),
    rank_ratios=_steps(0.40, 1.00, 0.05),
).without_dominated_ranks()

SPACES: dict[str, SearchSpace] = {s.name: s for s in (PAPER_SPACE, FMNIST_SPACE, FMNIST_SMALL_SPACE)}


def iter_uniform(space: SearchSpace, region: Region | None = None, standard: bool = False) -> Iterable[Arch]:
    """Every uniform architecture of a space (used for the hand-designed baselines).

    ``standard=True``: only the usual ViT design rule, attention width == embedding (heads * head_dim == embed)."""
    r = region or space.full_region()
    k = 1.0 if 1.0 in r.rank_ratios else max(r.rank_ratios)  # hand-designed networks are not factorized
    for p in r.patch_sizes:
        for e in space.embed_dims:
            for d in space.depths:
                for h in space.num_heads:
                    if standard and h * space.head_dim != e:
                        continue
                    for m in space.mlp_ratios:
                        yield space.uniform(p, e, d, h, m, k)


def flash_lower_bound(arch: Arch) -> int:
    """A lower bound of the deployed flash bytes: every parameter is stored as at least one byte (int8 weights;
    biases, norms and the position embedding take as much or more). Lets a search reject a candidate that cannot
    meet a flash budget without planning it; whatever passes is still checked by the planner."""
    return param_count(arch)
