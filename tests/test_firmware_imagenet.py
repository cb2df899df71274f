"""An ImageNet-shaped network on the emulated Cortex-M7: a 240x240x3 ViT from MCUFormer's search space (embed 192,
3 heads of 64, MLP ratio 4, rank ratio 0.9, patch 20 -> 145 tokens, 1000 classes), random weights, quantized with
mcuformer.backend.pipeline.quantize on a few random images, lowered, its .pte linked into the QSPI stand-in region
(it does not fit the 1 MB internal flash), run in QEMU.

* float32 input (a camera frame in SDRAM, outside the 320 KB): outputs identical to the host delegate (ExecuTorch's
  runtime + the same runtime core), SRAM (arena + stack + .data/.bss) within 320 KB, with the DSP kernels and with
  the scalar reference kernels (bit-identical with each other).
* int8 input (ExecuTorch's quantize_input) the model may overwrite (MCUFormerPartitioner(overwrite_input=True)): the
  image itself is linked into SRAM (frame_region="RAM"), tokens overlap it; image + arena + stack + .data/.bss within
  320 KB, outputs identical to the host.

Depth is reduced to DEPTH blocks to keep the test's wall time modest: every block has the same shapes, so the arena
does not depend on depth (benchmarks/bench_mcu.py runs the full 12-block network).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mcuformer import mcu
from mcuformer.backend.runtime_loader import run_pte

RAM_BUDGET = 320 * 1024
DEPTH = 2
IMAGE_BYTES = 3 * 240 * 240


def imagenet_arch(depth: int = DEPTH):
    from mcuformer.nas.space import Arch

    return Arch(img_size=240, in_chans=3, num_classes=1000, patch_size=20, embed_dim=192, depth=depth,
                num_heads=3, head_dim=64, mlp_ratio=4.0, rank_ratio=0.9)


@pytest.fixture(scope="module")
def ptes(tmp_path_factory):
    from mcuformer.backend.pipeline import lower, quantize
    from mcuformer.nas.vit import ViT

    torch.manual_seed(0)
    example = (torch.randn(1, 3, 240, 240),)
    q = quantize(ViT(imagenet_arch()).eval(), example, [torch.randn(1, 3, 240, 240) for _ in range(4)])
    out = tmp_path_factory.mktemp("imagenet")

    lowered = lower(q, example)
    assert lowered.undelegated_ops() == []
    f32 = out / "vit240_f32.pte"
    f32.write_bytes(lowered.to_pte())

    lowered8 = lower(q, example, overwrite_input=True, int8_input=True)
    assert lowered8.undelegated_ops() == []
    program = lowered8.programs()[0]
    assert program.input_overwrite and program.input_pool_bytes >= IMAGE_BYTES
    s8 = out / "vit240_s8.pte"
    s8.write_bytes(lowered8.to_pte())
    return {"f32": f32, "s8": s8, "lowered8": lowered8}


def _check_summary(s, region: str = "QSPI"):
    assert s["pte_region"] == region
    assert s["ram_bytes"] <= RAM_BUDGET
    assert s["arena_bytes"] <= s["arena_capacity"]
    assert s["canaries_ok"] and s["stack_ok"]
    assert s["instructions"] > 0


def test_imagenet_float_input_dsp_and_ref_identical_to_host(ptes):
    x = np.random.default_rng(1).standard_normal((2, 3, 240, 240)).astype(np.float32)
    ref = run_pte(ptes["f32"], x)
    assert ref.shape == (2, 1000)
    by_kernels = {}
    for kernels in ("cm7", "ref"):
        out, s = mcu.run_mcu(ptes["f32"], x, runtime="real", kernels=kernels, timeout=600)
        mismatch = np.argwhere(out != ref)
        assert mismatch.size == 0, f"{kernels}: first mismatches at {mismatch[:5].tolist()}"
        _check_summary(s)
        assert s["kernels"] == kernels and s["frame_region"] == "SDRAM"
        assert s["sections"][".frame"] >= x[0].nbytes and s["sdram_bytes"] >= x[0].nbytes  # the frame is outside SRAM
        by_kernels[kernels] = s
    # The DSP kernels run fewer instructions than the scalar reference on the linear/matmul/conv work.
    assert by_kernels["cm7"]["instructions"] < by_kernels["ref"]["instructions"]


def test_imagenet_int8_input_in_sram_identical_to_host(ptes):
    img = np.random.default_rng(2).standard_normal((2, 3, 240, 240)).astype(np.float32)
    x = ptes["lowered8"].quantize_input(img)
    ref = run_pte(ptes["s8"], x.copy())  # the delegate may overwrite an int8 input: x goes to the firmware next
    out, s = mcu.run_mcu(ptes["s8"], x, runtime="real", frame_region="RAM", timeout=600)
    mismatch = np.argwhere(out != ref)
    assert mismatch.size == 0, f"first mismatches at {mismatch[:5].tolist()}"
    _check_summary(s)
    # The image is linked into SRAM and counted: image + arena + stack + .data/.bss within 320 KB.
    assert s["frame_region"] == "RAM" and s["sdram_bytes"] == 0
    assert s["sections"][".frame"] >= IMAGE_BYTES
    assert s["ram_bytes"] >= IMAGE_BYTES + s["arena_bytes"]
