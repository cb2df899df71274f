"""Seed corpora for the libFuzzer targets, generated from real models at test time (nothing binary is committed).

Two tiny int8 models, quantized and lowered with ``mcuformer.backend.pipeline`` so that the seeds exercise every op
family the backend emits (patch conv, cls concat, position add, LayerNorm, qkv linear, matmul, softmax, GELU, mean
and cls pooling, LOOP schedules and views, the input pool with ``overwrite_input``). For each model: the delegate
blob (``Lowered.delegate_blobs()``) for ``fuzz_blob``, and the ``.pte`` with the blob in a segment and inline for
``fuzz_pte``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x):
        b, n, e = x.shape
        d = e // self.heads
        q, k, v = self.qkv(self.n1(x)).reshape(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-2, -1)) * d**-0.5).softmax(-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(b, n, e))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.n2(x))))


class _MicroViT(nn.Module):
    """8x8 image, 4x4 patches (4 tokens), one block; small enough that a model_run costs microseconds."""

    def __init__(self, dim: int = 8, heads: int = 2, pool: str = "cls", chans: int = 1):
        super().__init__()
        self.pool = pool
        self.pe = nn.Conv2d(chans, dim, 4, 4)
        tokens = 4 + (pool == "cls")
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.1)
        self.block = _Block(dim, heads)
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, 3)

    def forward(self, x):
        t = self.pe(x).flatten(2).transpose(1, 2)
        if self.pool == "cls":
            t = torch.cat([self.cls.expand(x.shape[0], -1, -1), t], 1)
        t = self.norm(self.block(t + self.pos))
        return self.head(t[:, 0] if self.pool == "cls" else t.mean(1))


# name -> (model kwargs, input channels, overwrite_input)
MODELS = {
    "vit_cls": (dict(pool="cls"), 1, False),
    "vit_mean_overwrite": (dict(pool="mean", dim=16, heads=4, chans=3), 3, True),
}


def lower_seed_model(name: str):
    """Returns (blob bytes, segment .pte bytes, inline .pte bytes) for one of MODELS."""
    from mcuformer.backend.pipeline import lower, quantize

    kwargs, chans, overwrite = MODELS[name]
    torch.manual_seed(sorted(MODELS).index(name))
    model = _MicroViT(**kwargs).eval()
    example = (torch.randn(1, chans, 8, 8),)
    calibration = [torch.randn(1, chans, 8, 8) for _ in range(4)]
    q = quantize(model, example, calibration)
    lowered = lower(q, example, overwrite_input=overwrite)
    blobs = lowered.delegate_blobs()
    assert len(blobs) == 1, f"{name}: expected one delegate, got {len(blobs)}"
    pte_segment = lowered.to_pte(inline=False)
    # to_executorch() mutates the EdgeProgramManager: lower again for the second config.
    pte_inline = lower(q, example, overwrite_input=overwrite).to_pte(inline=True)
    return blobs[0], pte_segment, pte_inline


def write_seeds(out: str | Path, models: tuple[str, ...] = tuple(MODELS)) -> dict[str, Path]:
    """Writes out/blob/<model>.blob and out/pte/<model>_{segment,inline}.pte; returns {"blob": dir, "pte": dir}."""
    out = Path(out)
    dirs = {"blob": out / "blob", "pte": out / "pte"}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for name in models:
        blob, seg, inline = lower_seed_model(name)
        (dirs["blob"] / f"{name}.blob").write_bytes(blob)
        (dirs["pte"] / f"{name}_segment.pte").write_bytes(seg)
        (dirs["pte"] / f"{name}_inline.pte").write_bytes(inline)
    return dirs
