"""MCUFormerBackend inside ExecuTorch's own runtime: a quantized model lowered to our delegate runs through
executorch.runtime.Runtime bit-exact with the numpy reference; corrupted blobs, another schema version and wrong
inputs give ExecuTorch errors, not crashes."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from mcuformer.backend import MCUFormerPartitioner, MCUFormerQuantizer, load_runtime, reference
from mcuformer.backend.serialization.serialize import deserialize


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(16, 32)
        self.ln = torch.nn.LayerNorm(32)
        self.l2 = torch.nn.Linear(32, 10)

    def forward(self, x):
        return self.l2(torch.nn.functional.gelu(self.ln(self.l1(x))))


@pytest.fixture(scope="module")
def lowered():
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    torch.manual_seed(0)
    m = _Net().eval()
    x = torch.randn(4, 16)
    g = torch.export.export(m, (x,), strict=True).module(check_guards=False)
    g = prepare_pt2e(g, MCUFormerQuantizer())
    for _ in range(4):
        g(torch.randn(4, 16))
    g = convert_pt2e(g)
    ep = torch.export.export(g, (x,), strict=True)
    et = to_edge_transform_and_lower(ep, partitioner=[MCUFormerPartitioner()]).to_executorch(
        ExecutorchBackendConfig(extract_delegate_segments=False))
    blob = et.exported_program().graph_module.lowered_module_0.processed_bytes
    load_runtime()
    return bytes(et.buffer), bytes(blob)


def _method(pte: bytes):
    from executorch.runtime import Runtime

    return Runtime.get().load_program(pte).load_method("forward")


def test_backend_is_registered():
    load_runtime()
    from executorch.runtime import Runtime

    assert "MCUFormerBackend" in Runtime.get().backend_registry.registered_backend_names


def test_runs_bit_exact_with_reference(lowered):
    pte, blob = lowered
    method = _method(pte)
    program = deserialize(blob)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.standard_normal((4, 16)).astype(np.float32) * 2
        got = method.execute([torch.from_numpy(x)])[0].numpy()
        want = reference.run(program, [x])[0]
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), np.asarray(want, np.float32).reshape(got.shape).view(np.uint32))


# executorch::runtime::Error values (runtime/core/error.h) that ExecuTorch's Python runtime puts in its RuntimeError.
ERR_NOT_SUPPORTED, ERR_INVALID_ARGUMENT, ERR_INVALID_PROGRAM, ERR_DELEGATE_INCOMPATIBLE = 0x10, 0x12, 0x23, 0x30


def _error(code: int) -> str:
    return rf"error:? 0x:?{code:x}\b"


def _patched(pte: bytes, blob: bytes, edit) -> bytes:
    at = pte.find(blob)
    assert at >= 0 and pte.find(blob, at + 1) < 0
    new = bytearray(blob)
    edit(new)
    return pte[:at] + bytes(new) + pte[at + len(blob):]


@pytest.mark.parametrize("case, code", [("bit_flip", ERR_INVALID_PROGRAM), ("version", ERR_DELEGATE_INCOMPATIBLE),
                                        ("magic", ERR_INVALID_PROGRAM), ("size", ERR_INVALID_PROGRAM)])
def test_corrupted_blob_is_an_executorch_error(lowered, case, code):
    pte, blob = lowered
    edits = {
        "bit_flip": lambda b: b.__setitem__(len(b) // 2, b[len(b) // 2] ^ 0x10),
        "version": lambda b: b.__setitem__(slice(4, 8), struct.pack("<I", 2)),
        "magic": lambda b: b.__setitem__(slice(0, 4), b"NOPE"),
        "size": lambda b: b.__setitem__(slice(12, 16), struct.pack("<I", len(b) - 33)),  # claims one byte less
    }
    program = _patched(pte, blob, edits[case])
    with pytest.raises(RuntimeError, match=rf"Failed to load method forward, {_error(code)}"):
        _method(program)


def test_wrong_input_shape_and_dtype_are_errors(lowered):
    pte, _ = lowered
    method = _method(pte)
    with pytest.raises(RuntimeError, match=_error(ERR_NOT_SUPPORTED)):  # a static input cannot be resized
        method.execute([torch.randn(5, 16)])
    with pytest.raises(RuntimeError, match=_error(ERR_INVALID_ARGUMENT)):
        method.execute([torch.randint(-5, 5, (4, 16), dtype=torch.int8)])
    out = method.execute([torch.randn(4, 16)])[0]  # still usable afterwards
    assert out.shape == (4, 10)


def test_scheduled_vit_bit_exact_through_executorch():
    """A whole ViT (patch embedding, cls token, attention, MLP, LayerNorm, head), scheduled by the backend's passes
    (LOOPs over patch rows / tokens / heads, views, in-place ops) runs in ExecuTorch bit-exact with the reference."""
    from test_runtime_support import tiny_vit

    _, pte, blob = tiny_vit()
    program = deserialize(blob)
    assert any(op.kind == "Loop" for op in program.ops)
    method = _method(pte)
    rng = np.random.default_rng(2)
    for _ in range(10):
        x = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
        got = method.execute([torch.from_numpy(x)])[0].numpy()
        want = np.asarray(reference.run(program, [x])[0], np.float32).reshape(got.shape)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
