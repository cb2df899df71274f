"""The real backend end to end on the emulated Cortex-M7: a small ViT (tests/models.py) quantized and lowered by
mcuformer.backend runs in QEMU on 1000 Fashion-MNIST test images (random inputs when the data set is absent) with
outputs bit-identical to the host delegate (ExecuTorch runtime + the same runtime core), inside 320 KB of SRAM."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mcuformer import mcu

RAM_BUDGET = 320 * 1024


def _images(n: int) -> np.ndarray:
    try:
        from mcuformer.nas.data import load_fashion_mnist, normalize

        test = load_fashion_mnist().test
        return normalize(test.images[:n]).numpy().astype(np.float32)
    except Exception:  # noqa: BLE001 - no data set here: the bit-identity check does not need real images
        return np.random.default_rng(0).standard_normal((n, 1, 28, 28)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_vit_pte(tmp_path_factory):
    from models import TinyViT

    from mcuformer.backend.pipeline import lower, quantize

    torch.manual_seed(0)
    example = (torch.randn(1, 1, 28, 28),)
    calib = [torch.from_numpy(x[None]) for x in _images(16)]
    q = quantize(TinyViT("explicit").eval(), example, calib)
    lowered = lower(q, example)
    assert lowered.undelegated_ops() == []
    path = tmp_path_factory.mktemp("pte") / "tiny_vit.pte"
    path.write_bytes(lowered.to_pte())
    return path


def _host_outputs(pte, x: np.ndarray) -> np.ndarray:
    from executorch.runtime import Runtime

    from mcuformer.backend import load_runtime

    load_runtime()
    method = Runtime.get().load_program(str(pte)).load_method("forward")
    return np.stack([method.execute([torch.from_numpy(x[i:i + 1])])[0].numpy().reshape(-1) for i in range(len(x))])


def test_tiny_vit_1000_images_identical_to_host(tiny_vit_pte):
    x = _images(1000)
    out, s = mcu.run_mcu(tiny_vit_pte, x, runtime="real", timeout=300)
    ref = _host_outputs(tiny_vit_pte, x)
    assert out.shape == ref.shape == (1000, 10)
    mismatch = np.argwhere(out != ref)
    assert mismatch.size == 0, f"first mismatches at {mismatch[:5].tolist()}"
    assert s["inferences"] == 1000
    assert s["ram_bytes"] <= RAM_BUDGET
    assert s["arena_bytes"] <= s["arena_capacity"]
    assert s["canaries_ok"] and s["stack_ok"]
    assert s["instructions"] > 0 and len(s["per_op_instructions"]) > 5
