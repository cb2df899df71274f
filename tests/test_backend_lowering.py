"""Quantize -> partition -> lower for the ways people write ViTs; the IR the blob carries, run by the numpy
reference, agrees with PT2E's simulated-quantization model."""
import numpy as np
import pytest
import torch
from models import TinyViT

from mcuformer.backend import load_runtime, reference
from mcuformer.backend.pipeline import lower, quantize

STYLES = ["explicit", "sdpa", "mha", "encoder"]


def _quantized(style, pool="cls", seed=0):
    torch.manual_seed(seed)
    model = TinyViT(style, pool=pool).eval()
    x = torch.randn(1, 1, 28, 28)
    calib = [torch.randn(1, 1, 28, 28) for _ in range(8)]
    return model, quantize(model, (x,), calib), x


@pytest.mark.parametrize("legacy", [False, True], ids=["transform_and_lower", "to_edge_to_backend"])
@pytest.mark.parametrize("style", STYLES)
def test_whole_network_delegated_and_reference_matches_fake_quant(style, legacy):
    model, q, x = _quantized(style)
    lowered = lower(q, (x,), legacy=legacy)
    assert lowered.undelegated_ops() == [], lowered.partitioner.rejections
    (program,) = lowered.programs()
    kinds = {op.kind for op in program.ops}
    assert {"Quantize", "Conv2d", "LayerNorm", "Linear", "Matmul", "Softmax", "Add", "Dequantize"} <= kinds
    out = reference.run(program, [x.numpy()], arena=True)[0]
    expected = q(x).detach().numpy()
    step = program.tensors[program.ops[-1].inputs[0]].scale
    # integer kernels differ from PT2E's float simulation by rounding only (it accumulates over layers); a wrong
    # scale, zero point or layout shows up as errors of the order of the output itself
    assert np.abs(out - expected).max() <= 4 * step + 0.1 * np.abs(expected).max()
    # the C++ delegate inside ExecuTorch's runtime computes exactly what the unfused golden model computes
    load_runtime()
    from executorch.runtime import Runtime

    et_program = Runtime.get().load_program(lowered.to_pte())
    for seed in range(3):
        xi = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
        got = et_program.load_method("forward").execute([xi])[0].numpy()
        golden = reference.run(lowered.reference_programs()[0], [xi.numpy()])[0]
        np.testing.assert_array_equal(got, golden)


def test_mean_pooling_lowers():
    _, q, x = _quantized("explicit", pool="mean")
    lowered = lower(q, (x,))
    assert lowered.undelegated_ops() == []
    assert "Mean" in {op.kind for op in lowered.programs()[0].ops}


def test_unsupported_op_is_left_to_executorch_with_a_reason():
    class Padded(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 28 * 28, 10)

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))

    x = torch.randn(1, 1, 28, 28)
    q = quantize(Padded(), (x,), [x])
    lowered = lower(q, (x,))
    reasons = lowered.partitioner.rejections
    conv = [k for k in reasons if "convolution" in k]
    assert conv and "patch-embedding" in reasons[conv[0]]
    assert any("convolution" in n for n in lowered.undelegated_ops())
    # the linear part is still delegated
    assert "Linear" in {op.kind for p in lowered.programs() for op in p.ops}
