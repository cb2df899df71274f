"""The real backend end to end on the emulated Cortex-M7: the trained Fashion-MNIST model of the host path
(tests/fmnist_model.py) runs in QEMU on 1000 Fashion-MNIST test images with outputs bit-identical to the host
delegate (ExecuTorch runtime + the same runtime core), inside 320 KB of SRAM and its own planned budget."""
from __future__ import annotations

import numpy as np
import pytest

from mcuformer import mcu
from mcuformer.backend.runtime_loader import run_pte

RAM_BUDGET = 320 * 1024


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory):
    from fmnist_model import deployed_fmnist

    _, lowered, data = deployed_fmnist()
    assert lowered.undelegated_ops() == []
    path = tmp_path_factory.mktemp("pte") / "fmnist_vit.pte"
    path.write_bytes(lowered.to_pte())
    return path, data


def test_fmnist_model_1000_test_images_identical_to_host(fmnist):
    from mcuformer.nas.data import normalize

    pte, data = fmnist
    x = normalize(data.test.images[:1000]).numpy().astype(np.float32)
    out, s = mcu.run_mcu(pte, x, runtime="real", timeout=300)
    ref = run_pte(pte, x)
    assert out.shape == ref.shape == (1000, 10)
    mismatch = np.argwhere(out != ref)
    assert mismatch.size == 0, f"first mismatches at {mismatch[:5].tolist()}"
    assert s["inferences"] == 1000
    assert s["ram_bytes"] <= RAM_BUDGET
    assert s["arena_bytes"] <= s["arena_capacity"]
    assert s["canaries_ok"] and s["stack_ok"]
    assert s["instructions"] > 0 and len(s["per_op_instructions"]) > 5
