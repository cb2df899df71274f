"""Every C++ kernel, bit-exact against the numpy reference (mcuformer.backend.reference) on random shapes and
quantization parameters, saturation and extremes included. Each example is a one-op blob run through the host
library's C entry point (no ExecuTorch)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_runtime_support import Const, assert_bit_exact, single_op

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

zps = st.integers(-128, 127)
shifts = st.one_of(st.integers(1, 62), st.integers(20, 40))
mults = st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(2**30, 2**31 - 1), st.just(0))
seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, 9)


def rng_of(seed):
    return np.random.default_rng(seed)


def i8(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


def per_channel(rng, n, mult_mode, shift_lo, shift_hi):
    if mult_mode == 0:
        mult = rng.integers(2**30, 2**31, size=n) * rng.choice([-1, 1], size=n)
    else:
        mult = rng.integers(-(2**31), 2**31, size=n)
    shift = rng.integers(shift_lo, shift_hi + 1, size=n)
    return mult.astype(np.int32), shift.astype(np.int32)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 300), zp=zps,
       inv_scale=st.one_of(st.floats(0.001, 1000.0).map(lambda v: float(np.float32(v))), st.just(1.0), st.floats(-10, 10).map(lambda v: float(np.float32(v)))))
def test_quantize(seed, n, zp, inv_scale):
    rng = rng_of(seed)
    x = (rng.standard_normal(n) * rng.choice([0.1, 10, 1000])).astype(np.float32)
    x[: n // 4] = np.round(x[: n // 4]) + 0.5  # ties: round half to even
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 2.5, -2.5], dtype=np.float32)
    x[: min(n, len(specials))] = specials[: min(n, len(specials))]
    p, feeds = single_op("Quantize", [x], x.shape, inv_scale=float(inv_scale), zero_point=zp)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 300), zp=zps, scale=st.floats(1e-6, 1e3).map(lambda v: float(np.float32(v))))
def test_dequantize(seed, n, zp, scale):
    x = i8(rng_of(seed), (n,))
    p, feeds = single_op("Dequantize", [x], x.shape, out_dtype="float32", scale=float(scale), zero_point=zp)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, lead=st.lists(dims, min_size=1, max_size=3), k=st.integers(1, 70), n=st.integers(1, 20),
       out_zp=zps, has_lut=st.booleans(), mult_mode=st.integers(0, 1), shift_lo=st.integers(1, 40))
def test_linear(seed, lead, k, n, out_zp, has_lut, mult_mode, shift_lo):
    rng = rng_of(seed)
    x, w = i8(rng, (*lead, k)), i8(rng, (n, k))
    bias = rng.integers(-(2**20), 2**20, size=n).astype(np.int32)
    mult, shift = per_channel(rng, n, mult_mode, shift_lo, min(62, shift_lo + 22))
    ins = [x, Const(w), Const(bias), Const(mult), Const(shift)]
    if has_lut:
        ins.append(Const(i8(rng, (256,))))
    p, feeds = single_op("Linear", ins, (*lead, n), output_zp=out_zp, has_lut=has_lut)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, c=st.integers(1, 4), gh=st.integers(1, 4), gw=st.integers(1, 4), ph=st.integers(1, 5),
       pw=st.integers(1, 5), e=st.integers(1, 12), tokens=st.booleans(), out_zp=zps, shift_lo=st.integers(1, 40))
def test_conv2d_patch(seed, c, gh, gw, ph, pw, e, tokens, out_zp, shift_lo):
    rng = rng_of(seed)
    x, w = i8(rng, (1, c, gh * ph, gw * pw)), i8(rng, (e, c, ph, pw))
    bias = rng.integers(-(2**20), 2**20, size=e).astype(np.int32)
    mult, shift = per_channel(rng, e, 0, shift_lo, min(62, shift_lo + 20))
    out_shape = (gh * gw, e) if tokens else (1, e, gh, gw)
    p, feeds = single_op("Conv2d", [x, Const(w), Const(bias), Const(mult), Const(shift)], out_shape,
                         output_zp=out_zp, tokens_layout=tokens)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, batch=st.lists(st.integers(1, 3), max_size=2), m=dims, k=st.integers(1, 40), n=dims,
       transpose_b=st.booleans(), a_zp=zps, b_zp=zps, out_zp=zps, mult=mults, shift=shifts,
       b_const=st.booleans())
def test_matmul(seed, batch, m, k, n, transpose_b, a_zp, b_zp, out_zp, mult, shift, b_const):
    rng = rng_of(seed)
    a = i8(rng, (*batch, m, k))
    b = i8(rng, (*batch, n, k) if transpose_b else (*batch, k, n))
    p, feeds = single_op("Matmul", [a, Const(b) if b_const else b], (*batch, m, n), a_zp=a_zp, b_zp=b_zp,
                         output_zp=out_zp, mult=mult, shift=shift, transpose_b=transpose_b)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, shape=st.lists(dims, min_size=1, max_size=4), b_rank=st.integers(0, 4), a_zp=zps, b_zp=zps,
       out_zp=zps, a_mult=mults, b_mult=mults, shift=shifts, b_const=st.booleans())
def test_add(seed, shape, b_rank, a_zp, b_zp, out_zp, a_mult, b_mult, shift, b_const):
    rng = rng_of(seed)
    b_rank = max(b_rank, 1) if b_const else b_rank  # ir.Program.add_constant stores a 0-d constant as shape (1,)
    b_shape = tuple(shape[len(shape) - min(b_rank, len(shape)):])
    a, b = i8(rng, tuple(shape)), i8(rng, b_shape)
    p, feeds = single_op("Add", [a, Const(b) if b_const else b], tuple(shape), a_zp=a_zp, b_zp=b_zp,
                         output_zp=out_zp, a_mult=a_mult, b_mult=b_mult, shift=shift)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 300), in_zp=zps, out_zp=zps, mult=mults, shift=shifts)
def test_rescale(seed, n, in_zp, out_zp, mult, shift):
    x = i8(rng_of(seed), (n,))
    p, feeds = single_op("Rescale", [x], x.shape, input_zp=in_zp, output_zp=out_zp, mult=mult, shift=shift)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, shape=st.lists(dims, min_size=1, max_size=3))
def test_lut(seed, shape):
    rng = rng_of(seed)
    x = i8(rng, tuple(shape))
    p, feeds = single_op("Lut", [x, Const(i8(rng, (256,)))], x.shape)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, rows=st.integers(1, 6), c=st.one_of(st.integers(1, 80), st.sampled_from([192, 768, 4096])),
       eps=st.one_of(st.just(0), st.integers(0, 2**40)), out_zp=zps, mult=mults, shift=shifts,
       gamma_bits=st.integers(0, 30), constant_rows=st.booleans())
def test_layernorm(seed, rows, c, eps, out_zp, mult, shift, gamma_bits, constant_rows):
    rng = rng_of(seed)
    x = i8(rng, (rows, c))
    if constant_rows:
        x[0, :] = x[0, 0]  # zero variance: sd = max(1, ...)
    gamma = rng.integers(-(2**gamma_bits), 2**gamma_bits + 1, size=c).astype(np.int32)
    beta = rng.integers(-(2**30), 2**30, size=c).astype(np.int32)
    p, feeds = single_op("LayerNorm", [x, Const(gamma), Const(beta)], x.shape, eps=eps, output_zp=out_zp,
                         mult=mult, shift=shift)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, rows=st.integers(1, 6), length=st.integers(1, 200), scale=st.floats(1e-4, 2.0),
       random_lut=st.booleans())
def test_softmax(seed, rows, length, scale, random_lut):
    rng = rng_of(seed)
    x = i8(rng, (rows, length))
    if random_lut:
        lut = rng.integers(0, 2**31 - 1, size=256)
        lut[0] = max(1, lut[0])
    else:
        lut = np.round(2.0**20 * np.exp(-np.arange(256) * scale))
    p, feeds = single_op("Softmax", [x, Const(lut.astype(np.int32))], x.shape)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, outer=st.integers(1, 4), reduce=st.integers(1, 70), inner=st.integers(1, 12), in_zp=zps,
       out_zp=zps, mult=mults, shift=shifts)
def test_mean(seed, outer, reduce, inner, in_zp, out_zp, mult, shift):
    x = i8(rng_of(seed), (outer, reduce, inner))
    p, feeds = single_op("Mean", [x], (outer, inner), outer=outer, reduce=reduce, inner=inner, input_zp=in_zp,
                         output_zp=out_zp, mult=mult, shift=shift)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, shape=st.lists(st.integers(1, 4), min_size=1, max_size=6), data=st.data())
def test_permute(seed, shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    x = i8(rng_of(seed), tuple(shape))
    p, feeds = single_op("Permute", [x], tuple(shape[d] for d in perm), perm=list(perm))
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, shape=st.lists(st.integers(1, 7), min_size=1, max_size=4), data=st.data())
def test_slice(seed, shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    start = data.draw(st.integers(0, shape[axis] - 1))
    step = data.draw(st.integers(1, 3))
    out_len = data.draw(st.integers(1, (shape[axis] - 1 - start) // step + 1))
    out_shape = list(shape)
    out_shape[axis] = out_len
    x = i8(rng_of(seed), tuple(shape))
    p, feeds = single_op("Slice", [x], tuple(out_shape), axis=axis, start=start, step=step)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), count=st.integers(1, 4),
       data=st.data(), const_first=st.booleans())
def test_concat(seed, shape, count, data, const_first):
    rng = rng_of(seed)
    axis = data.draw(st.integers(0, len(shape) - 1))
    parts = []
    for _ in range(count):
        s = list(shape)
        s[axis] = data.draw(st.integers(1, 4))
        parts.append(i8(rng, tuple(s)))
    out_shape = list(shape)
    out_shape[axis] = sum(x.shape[axis] for x in parts)
    ins = [Const(parts[0]) if const_first else parts[0], *parts[1:]]  # e.g. the cls token is a constant
    p, feeds = single_op("Concat", ins, tuple(out_shape), axis=axis)
    assert_bit_exact(p, feeds)


@SETTINGS
@given(seed=seeds, shape=st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_reshape(seed, shape):
    x = i8(rng_of(seed), tuple(shape))
    p, feeds = single_op("Reshape", [x], (int(np.prod(shape)),))
    assert_bit_exact(p, feeds)


def test_quantize_matches_numpy_rint_on_all_ties():
    """Every x.5 tie in the int8 range rounds half to even, like np.rint."""
    x = (np.arange(-300, 300, dtype=np.float32) + np.float32(0.5))
    p, feeds = single_op("Quantize", [x], x.shape, inv_scale=1.0, zero_point=0)
    assert_bit_exact(p, feeds)
