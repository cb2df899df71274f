"""Seed corpora for the libFuzzer targets, generated from real models at test time (nothing binary is committed).

Two tiny int8 models, quantized and lowered with ``mcuformer.backend.pipeline`` so that the seeds exercise every op
family the backend emits (patch conv, cls concat, position add, LayerNorm, qkv linear, matmul, softmax, GELU, mean
and cls pooling, LOOP schedules and views, the input pool with ``overwrite_input``). For each model: the delegate
blob (``Lowered.delegate_blobs()``) for ``fuzz_blob``, and the ``.pte`` with the blob in a segment and inline for
``fuzz_pte``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared model definitions
from models import TinyViT  # noqa: E402

# 8x8 image, 4x4 patches (4 tokens + cls), one block: small enough that a model_run costs microseconds.
MICRO = dict(style="explicit", img=8, patch=4, dim=8, depth=1, heads=2, classes=3)

# name -> (TinyViT kwargs over MICRO, input channels, overwrite_input)
MODELS = {
    "vit_cls": (dict(pool="cls"), 1, False),
    "vit_mean_overwrite": (dict(pool="mean", dim=16, heads=4), 3, True),
}


def lower_seed_model(name: str):
    """Returns (blob bytes, segment .pte bytes, inline .pte bytes) for one of MODELS."""
    from mcuformer.backend.pipeline import lower, quantize

    kwargs, chans, overwrite = MODELS[name]
    torch.manual_seed(sorted(MODELS).index(name))
    model = TinyViT(**{**MICRO, **kwargs, "chans": chans}).eval()
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
