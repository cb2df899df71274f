"""Never accept what cannot lower and run: a generated sweep over every op family the partitioner claims.

Each case is a tiny module (one op, or a few around it) that goes the whole way a user's model goes: PT2E with
MCUFormerQuantizer -> `to_edge_transform_and_lower` with MCUFormerPartitioner -> `.pte` -> ExecuTorch's runtime with
our C++ delegate. No exception may escape any stage, and the outcome is one of two:
- "run": everything is delegated and what ExecuTorch's runtime computes equals the numpy reference bit for bit;
- a rejection: the op is left to ExecuTorch with a one-line reason (the expected words are part of the case), and
  every node left outside has its reason in `partitioner.rejections`.
The grid covers broadcast shapes with size-1 dims, every `padding_mode`, integer dtypes and `dtype=` arguments,
ranks 2-4, `keepdim`, negative dims and non-contiguous permutes / strided slices.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mcuformer.backend import reference
from mcuformer.backend.pipeline import lower, quantize
from mcuformer.backend.runtime_loader import run_pte

RUN = "run"


class Fn(nn.Module):
    """A module around a function of x (with optional parameters, so weights and constants take part)."""

    def __init__(self, fn, **params):
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            setattr(self, k, v if isinstance(v, nn.Module) else nn.Parameter(v, requires_grad=False))

    def forward(self, x):
        return self.fn(self, x)


def case(name, shape, expect, fn, legacy=False, **params):
    return pytest.param(shape, expect, fn, params, legacy, id=name)


def _strip(s):
    s = tuple(s)
    while s and s[0] == 1:
        s = s[1:]
    return s


def _dims(s) -> str:
    return "x".join(map(str, s)) or "scalar"


def _add_cases():
    """x + c and x + (a slice of x) over broadcast shapes: the kernel repeats the smaller operand over the output's
    leading dims (after dropping its leading size-1 dims); anything else is a broadcast it must reject."""
    out = []
    for xs, cs in [((1, 4, 3), (1, 1, 3)), ((1, 4, 3), (3,)), ((1, 2, 4), (1, 4)), ((1, 2, 3, 4), (2, 1, 4)),
                   ((1, 4, 3), (4, 1)), ((1, 2, 1, 3), (2, 3)), ((1, 2, 3, 4), (1, 1, 3, 4)), ((1, 2, 3, 4), (2, 1, 1, 4)),
                   ((1, 4, 3), ()), ((1, 4, 3), (1, 1, 1))]:
        full = torch.broadcast_shapes(xs, cs)
        n = int(np.prod(full))
        small = _strip(cs if int(np.prod(xs)) == n else xs)
        ok = (int(np.prod(xs)) == n or int(np.prod(cs)) == n) and (not small or full[len(full) - len(small):] == small)
        expect = RUN if ok else ("both operands" if int(np.prod(xs)) != n and int(np.prod(cs)) != n else "inner dims")
        out.append(case(f"add_const_{_dims(xs)}+{_dims(cs)}", xs, expect, lambda m, x: x + m.c, c=torch.randn(cs)))
    # activation + activation over a size-1 dim (the case) and its mirror image
    out.append(case("add_act_size1_dim", (1, 4, 3), RUN, lambda m, x: x + x[:, :1]))
    out.append(case("add_act_size1_dim_first", (1, 4, 3), RUN, lambda m, x: x[:, 1:2] + x))
    out.append(case("add_act_keepdim_mean", (1, 4, 6), "inner dims", lambda m, x: x + x.mean(-1, keepdim=True)))
    out.append(case("add_act_legacy", (1, 4, 3), RUN, lambda m, x: x + x[:, :1], legacy=True))
    out.append(case("add_alpha", (1, 4, 3), "alpha", lambda m, x: torch.add(x, x, alpha=2)))
    return out


def _conv_cases():
    out = [case("conv_patch", (1, 2, 8, 8), RUN, lambda m, x: m.conv(x), conv=nn.Conv2d(2, 4, 4, 4)),
           case("conv_patch_rect_nobias", (1, 1, 6, 8), RUN, lambda m, x: m.conv(x),
                conv=nn.Conv2d(1, 3, (3, 2), (3, 2), bias=False)),
           case("conv_patch_legacy", (1, 1, 8, 8), RUN, lambda m, x: m.conv(x), legacy=True,
                conv=nn.Conv2d(1, 4, 4, 4)),
           case("conv_3x3_stride1", (1, 1, 6, 6), "patch-embedding", lambda m, x: m.conv(x),
                conv=nn.Conv2d(1, 2, 3)),
           case("conv_groups", (1, 2, 8, 8), "patch-embedding", lambda m, x: m.conv(x),
                conv=nn.Conv2d(2, 2, 4, 4, groups=2)),
           case("conv_indivisible", (1, 1, 9, 8), "divisible", lambda m, x: m.conv(x), conv=nn.Conv2d(1, 2, 4, 4))]
    for mode in ("zeros", "reflect", "replicate", "circular"):
        # padding happens in ExecuTorch (index / slice ops on float data); the padded conv is no patch embedding
        out.append(case(f"conv_padding_{mode}", (1, 1, 8, 8), "patch", lambda m, x: m.conv(x),
                        conv=nn.Conv2d(1, 2, 4, 4, padding=1, padding_mode=mode)))
    return out


def _linear_cases():
    out = []
    for rank, bias in itertools.product((2, 3, 4), (True, False)):
        shape = (1, *(2, 3, 5)[4 - rank:])
        out.append(case(f"linear_rank{rank}_bias{int(bias)}", shape, RUN, lambda m, x: m.fc(x),
                        fc=nn.Linear(5, 3, bias=bias)))
    out.append(case("linear_legacy", (1, 3, 5), RUN, lambda m, x: m.fc(x), legacy=True, fc=nn.Linear(5, 4)))
    out.append(case("linear_gelu_linear", (1, 3, 5), RUN, lambda m, x: m.b(F.gelu(m.a(x))),
                    a=nn.Linear(5, 8), b=nn.Linear(8, 2)))
    out.append(case("matmul_const", (1, 3, 5), RUN, lambda m, x: x @ m.w, w=torch.randn(5, 4)))
    return out


def _matmul_cases():
    return [case("matmul_qkT_rank3", (1, 4, 6), RUN, lambda m, x: x @ x.transpose(-2, -1)),
            case("matmul_rank4", (1, 2, 3, 4), RUN, lambda m, x: x @ x.transpose(-1, -2)),
            case("matmul_rank2", (1, 12), RUN, lambda m, x: x.reshape(3, 4) @ x.reshape(3, 4).t()),
            case("bmm", (1, 24), RUN, lambda m, x: torch.bmm(x.reshape(2, 3, 4), x.reshape(2, 3, 4).transpose(1, 2))),
            case("matmul_legacy", (1, 4, 6), RUN, lambda m, x: x @ x.transpose(-2, -1), legacy=True),
            # not kept whole (its batch dims differ): decomposed, and the expand it becomes is no view
            case("matmul_broadcast_batch", (1, 2, 3, 4), "expand that copies data",
                 lambda m, x: x[:, :1] @ x.transpose(-1, -2))]


def _norm_act_cases():
    return [case("layer_norm", (1, 4, 8), RUN, lambda m, x: m.ln(x), ln=nn.LayerNorm(8)),
            case("layer_norm_rank2_noaffine", (1, 24), RUN, lambda m, x: m.ln(x.reshape(3, 8)),
                 ln=nn.LayerNorm(8, elementwise_affine=False)),
            case("layer_norm_legacy", (1, 4, 8), RUN, lambda m, x: m.ln(x), legacy=True, ln=nn.LayerNorm(8)),
            case("layer_norm_two_dims", (1, 4, 8), "normalization over the last dim", lambda m, x: m.ln(x),
                 ln=nn.LayerNorm((4, 8))),
            case("gelu", (1, 4, 5), RUN, lambda m, x: F.gelu(x)),
            case("gelu_tanh", (1, 10), RUN, lambda m, x: F.gelu(x.reshape(2, 5), approximate="tanh")),
            case("softmax_last", (1, 2, 3, 5), RUN, lambda m, x: x.softmax(-1)),
            case("softmax_last_positive_dim", (1, 3, 5), RUN, lambda m, x: torch.softmax(x, 2)),
            case("softmax_dtype", (1, 3, 5), RUN, lambda m, x: torch.softmax(x, -1, dtype=torch.float32)),
            case("softmax_dim1", (1, 3, 5), "last dim", lambda m, x: x.softmax(1))]


def _mean_cases():
    out = []
    for shape, dims, keepdim in [((1, 4, 6), (1,), False), ((1, 4, 6), (-1,), True), ((1, 2, 3, 4), (1, 2), False),
                                 ((1, 2, 3, 4), (-2, -1), True), ((1, 3, 4), (0,), False), ((1, 4, 6), (-1,), True)]:
        out.append(case(f"mean_{_dims(shape)}_dims{_dims(dims)}_keep{int(keepdim)}", shape, RUN,
                        lambda m, x, d=dims, k=keepdim: x.mean(d, keepdim=k)))
    out.append(case("mean_noncontiguous_dims", (1, 2, 3, 4), "non-contiguous", lambda m, x: x.mean((1, 3))))
    out.append(case("mean_dtype_float32", (1, 4, 3), RUN, lambda m, x: torch.mean(x, 1, dtype=torch.float32)))
    # the case: an int64 operand (the quantizer observes float32 tensors only) and a float64 result
    out.append(case("mean_int64_input", (1, 4, 3), "int64",
                    lambda m, x: torch.mean((x * 4).to(torch.int64), 1, dtype=torch.float32)))
    out.append(case("mean_dtype_float64", (1, 4, 3), "quantized",
                    lambda m, x: torch.mean(x, 1, dtype=torch.float64).to(torch.float32)))
    return out


def _scalar_cases():
    return [case("mul_scalar", (1, 4, 3), RUN, lambda m, x: x * 0.5),
            case("div_scalar", (1, 2, 3), RUN, lambda m, x: x / 3.0),
            case("mul_const_numel1", (1, 4, 3), RUN, lambda m, x: x * m.k, k=torch.tensor([1.5])),
            case("mul_tensors", (1, 4, 3), "two tensors", lambda m, x: x * x),
            case("integer_ops", (1, 4, 3), "no MCUFormer kernel",
                 lambda m, x: ((x * 8).to(torch.int32) + 1).to(torch.float32))]


def _movement_cases():
    return [case("permute_rank3", (1, 3, 4), RUN, lambda m, x: x.permute(0, 2, 1) * 1.0),
            case("permute_rank4_negative", (1, 2, 3, 4), RUN, lambda m, x: x.permute(0, -1, 1, -2).contiguous() * 1.0),
            case("transpose_then_linear", (1, 3, 4), RUN, lambda m, x: m.fc(x.transpose(1, 2)), fc=nn.Linear(3, 2)),
            case("t_rank2", (1, 12), RUN, lambda m, x: x.reshape(3, 4).t() * 2.0),
            case("reshape_flatten", (1, 2, 3, 4), RUN, lambda m, x: x.reshape(1, 6, 4).flatten(1) * 1.0),
            case("unflatten_squeeze_unsqueeze", (1, 6, 4), RUN,
                 lambda m, x: x.unflatten(1, (2, 3)).unsqueeze(0).squeeze(0) * 1.0),
            case("slice_step2", (1, 6, 4), RUN, lambda m, x: x[:, 1::2] * 1.0),
            case("slice_negative_start", (1, 6, 4), RUN, lambda m, x: x[:, -3:] * 1.0),
            case("slice_last_dim_step", (1, 3, 8), RUN, lambda m, x: x[..., ::3] * 1.0),
            case("select_negative", (1, 4, 5), RUN, lambda m, x: x[:, -1] * 1.0),
            case("cat_tokens", (1, 3, 4), RUN, lambda m, x: torch.cat([m.cls.expand(1, -1, -1), x], 1) + m.pos,
                 cls=torch.randn(1, 1, 4), pos=torch.randn(1, 4, 4)),
            case("cat_negative_dim", (1, 3, 4), RUN, lambda m, x: torch.cat([x, x * 0.5], -1)),
            case("clone_noncontiguous", (1, 3, 4), RUN, lambda m, x: x.transpose(1, 2).clone() * 1.0),
            case("expand_copy", (1, 1, 4), "expand", lambda m, x: x.expand(1, 3, 4) * 1.0)]


CASES = (_add_cases() + _conv_cases() + _linear_cases() + _matmul_cases() + _norm_act_cases() + _mean_cases()
         + _scalar_cases() + _movement_cases())


def _inputs(shape, n, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) for _ in range(n)]


@pytest.mark.parametrize("shape,expect,fn,params,legacy", CASES)
def test_op_is_delegated_and_bit_exact_or_left_out_with_a_reason(shape, expect, fn, params, legacy):
    torch.manual_seed(0)
    model = Fn(fn, **params).eval()
    x = _inputs(shape, 1, 0)[0]
    q = quantize(model, (x,), _inputs(shape, 4, 1))
    lowered = lower(q, (x,), legacy=legacy)
    reasons = lowered.partitioner.rejections
    assert all(r and "\n" not in r for r in reasons.values()), reasons
    outside = lowered.undelegated_ops()
    samples = np.stack([t.numpy() for t in _inputs(shape, 2, 2)])
    got = run_pte(lowered.to_pte(), samples.reshape(2, *shape[1:]))  # [1, ...] per call, as on the device
    if expect == RUN:
        assert outside == [], reasons
        (golden_program,) = lowered.reference_programs()
        for i, xi in enumerate(samples):
            want = np.asarray(reference.run(golden_program, [xi])[0], np.float32).ravel()
            np.testing.assert_array_equal(got[i].view(np.uint32), want.view(np.uint32))
        return
    # left out: the op the case is about is named with the expected reason, and nothing leaves silently
    assert outside, f"expected a rejection ({expect}), but everything was delegated"
    assert any(expect in r for r in reasons.values()), reasons
    silent = [n for n in outside if n not in reasons]
    assert silent == [], f"left outside without a reason: {silent} (reasons: {reasons})"
    # what is delegated still runs beside ExecuTorch's own kernels, and the program computes the quantized model
    # (up to the integer kernels' rounding: a wrong layout or scale errs by the order of the output itself)
    for i, xi in enumerate(samples):
        want = q(torch.from_numpy(xi)).detach().numpy().ravel()
        assert got[i].shape == want.shape and np.all(np.isfinite(got[i]))
        assert np.abs(got[i] - want).max() <= 0.1 * np.abs(want).max() + 1e-6
