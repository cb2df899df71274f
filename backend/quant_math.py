"""Fixed-point arithmetic shared by the lowering (parameter computation) and the numpy reference.

Every function here is the definition the C++ kernels (runtime/src/kernels) reproduce bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Returns (m, s) with real ~= m * 2**-s, m a signed int32 with |m| in [2**30, 2**31), 1 <= s <= 62.

    A real too small to represent gives (0, 1): the result is then exactly the zero point.
    """
    if real == 0.0 or not math.isfinite(real):
        if not math.isfinite(real):
            raise ValueError(f"non-finite requantization scale {real}")
        return 0, 1
    mant, exp = math.frexp(abs(real))  # abs(real) = mant * 2**exp, mant in [0.5, 1)
    m = int(round(mant * (1 << 31)))
    if m == 1 << 31:
        m //= 2
        exp += 1
    s = 31 - exp
    if s > 62:
        return 0, 1
    if s < 1:
        raise ValueError(f"requantization scale {real} too large (>= 2**30)")
    return (m if real > 0 else -m), s


def quantize_multiplier_array(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).ravel()]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def requant(acc: np.ndarray, m, s) -> np.ndarray:
    """(int64(acc) * m + 2**(s-1)) >> s, with m, s scalars or broadcastable arrays."""
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    return (acc * m + (np.int64(1) << (s - 1))) >> s


def sat8(v: np.ndarray) -> np.ndarray:
    return np.clip(v, INT8_MIN, INT8_MAX).astype(np.int8)


def dual_multiplier(ra: float, rb: float) -> tuple[int, int, int]:
    """(ma, mb, s) with ra ~= ma * 2**-s and rb ~= mb * 2**-s sharing one shift (for ADD)."""
    big = max(abs(ra), abs(rb))
    if big == 0.0:
        return 0, 0, 1
    _, exp = math.frexp(big)
    s = min(62, max(1, 30 - exp))  # the larger multiplier lands in [2**29, 2**30): headroom for the sum
    return int(round(ra * 2.0**s)), int(round(rb * 2.0**s)), s


def isqrt_u64(v: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(v)) elementwise for 0 <= v < 2**63."""
    v = np.asarray(v, dtype=np.int64)
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    # float sqrt may be off by one for large v: correct to the exact floor
    r = np.where(r * r > v, r - 1, r)
    r = np.where((r + 1) * (r + 1) <= v, r + 1, r)
    return r


def quantize_f32(x: np.ndarray, inv_scale: float, zero_point: int) -> np.ndarray:
    """Float boundary: sat8(rint_half_even(clamp(x * inv_scale, -256, 256)) + zp), in float32 arithmetic.

    NaN counts as 0; the clamp only keeps infinities out of the integer conversion (it never changes a result).
    """
    p = np.asarray(x, dtype=np.float32) * np.float32(inv_scale)
    p = np.clip(np.nan_to_num(p, nan=0.0, posinf=256.0, neginf=-256.0), -256.0, 256.0)
    return sat8(np.rint(p).astype(np.int64) + zero_point)


def dequantize_f32(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.int32) - zero_point).astype(np.float32) * np.float32(scale)
