// Shared inner loops of the Cortex-M7 LINEAR / MATMUL / CONV2D kernels (internal to src/kernels/cm7/).
//
// The activation side is widened once to int16 with its zero point removed, in the lane order SXTB16 / SXTB16 ROR 8
// produce from a weight word: per 4 inputs x0..x3 two words [x0, x2] and [x1, x3] ("pairs"). Weights stay int8 and
// are read in place (flash): per 4 weights of a row, 1 LDR + 2 SXTB16 + 2 SMLAD. Blocking 4 weight rows per pass
// shares each pair load between them: 21 instructions per 16 MACs in the loop body.
//
// Exactness: SMLAD adds the two 16x16 products to the accumulator modulo 2^32, the reference adds the same products
// one by one modulo 2^32; both are the same sum in Z/2^32, whatever the order.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../quant_math.h"
#include "dsp.h"

namespace mcuformer {
namespace cm7 {
namespace gemv {

// Pairs buffer size (words) on the stack: up to kMaxPairsK inputs are widened at once (2 KB).
constexpr int32_t kMaxPairsK = 1024;

inline uint32_t pack16(int32_t lo, int32_t hi) {
  return (static_cast<uint32_t>(lo) & 0xFFFFu) | (static_cast<uint32_t>(hi) << 16);
}

#ifdef MCUFORMER_CM7_DSP
inline uint32_t ssub16(uint32_t a, uint32_t b) {
  return static_cast<uint32_t>(__ssub16(static_cast<int16x2_t>(a), static_cast<int16x2_t>(b)));
}
// [lo16(a), lo16(b)] and [hi16(a), hi16(b)]
inline uint32_t pkhbt16(uint32_t a, uint32_t b) {
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
  return r;
}
inline uint32_t pkhtb16(uint32_t a, uint32_t b) {
  uint32_t r;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
  return r;
}
#else
inline uint32_t ssub16(uint32_t a, uint32_t b) {
  return pack16(static_cast<int16_t>(a & 0xFFFF) - static_cast<int16_t>(b & 0xFFFF),
                static_cast<int16_t>(a >> 16) - static_cast<int16_t>(b >> 16));
}
inline uint32_t pkhbt16(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
inline uint32_t pkhtb16(uint32_t a, uint32_t b) { return (a >> 16) | (b & 0xFFFF0000u); }
#endif

// out[0 .. k4/2): pairs of (x[k] - zp) for k < k4 (k4 a multiple of 4). |x - zp| <= 255 fits an int16 lane.
inline void widen_pairs(const int8_t* x, int32_t k4, int32_t zp, uint32_t* out) {
  const uint32_t zz = pack16(zp, zp);
  for (int32_t k = 0; k < k4; k += 4) {
    const uint32_t v = dsp::load4(x + k);
    uint32_t e = dsp::sxtb16(v), o = dsp::sxtb16_ror8(v);
    if (zp != 0) {
      e = ssub16(e, zz);
      o = ssub16(o, zz);
    }
    *out++ = e;
    *out++ = o;
  }
}

// widen_pairs over all K inputs, the last partial block padded with zero lanes; returns kp = K rounded up to 4.
// A dot product over kp then reads up to 3 weight bytes past a row's end, multiplied by 0: callers use kp only
// where that read stays inside the same tensor (the following rows), k4 + tail() otherwise.
inline int32_t widen_pairs_padded(const int8_t* x, int32_t K, int32_t zp, uint32_t* out) {
  const int32_t k4 = K & ~3;
  widen_pairs(x, k4, zp, out);
  if (k4 == K) return K;
  int32_t v[4] = {0, 0, 0, 0};
  for (int32_t k = k4; k < K; ++k) v[k - k4] = static_cast<int32_t>(x[k]) - zp;
  out[k4 >> 1] = pack16(v[0], v[2]);
  out[(k4 >> 1) + 1] = pack16(v[1], v[3]);
  return k4 + 4;
}

// acc[r] += sum_{k < k4} xw(k) * w[r * ldw + k] for the 4 weight rows r = 0..3 (xw: pairs, k4 multiple of 4).
// Out of line (gemv.cpp): its Thumb-2 loop needs 13 registers, which inlined callers cannot spare.
void dot4(const uint32_t* xw, const int8_t* w, size_t ldw, int32_t k4, int32_t* acc);

// The same for one weight row.
inline int32_t dot1(const uint32_t* xw, const int8_t* w, int32_t k4, int32_t acc) {
  const uint32_t* const end = xw + (k4 >> 1);
  while (xw != end) {
    const uint32_t v = dsp::load4(w);
    w += 4;
    acc = dsp::smlad(xw[0], dsp::sxtb16(v), acc);
    acc = dsp::smlad(xw[1], dsp::sxtb16_ror8(v), acc);
    xw += 2;
  }
  return acc;
}

// Scalar tail: acc + sum_{k4 <= k < K} (x[k] - zp) * w[k], wrapping.
inline int32_t tail(const int8_t* x, const int8_t* w, int32_t k4, int32_t K, int32_t zp, int32_t acc) {
  for (int32_t k = k4; k < K; ++k) {
    acc = static_cast<int32_t>(static_cast<uint32_t>(acc) +
                               static_cast<uint32_t>((static_cast<int32_t>(x[k]) - zp) * w[k]));
  }
  return acc;
}

// sat8(requant(acc, m, s) + zp) exactly (qmath), cheaper for s >= 33 (the usual case: m is a Q31 multiplier):
// 2^(s-1) is then a multiple of 2^32, so floor((acc*m + 2^(s-1)) / 2^s) = floor((hi + 2^(s-33)) / 2^(s-32)) with
// hi = floor(acc*m / 2^32) (SMULL's high word); |hi| <= 2^30, so the int32 sums cannot overflow.
inline int8_t requant_sat8(int32_t acc, int32_t m, int32_t s, int32_t zp) {
  if (s >= 33) {
    const int32_t hi = static_cast<int32_t>(static_cast<uint64_t>(static_cast<int64_t>(acc) * m) >> 32);
    return dsp::ssat8(((hi + (int32_t{1} << (s - 33))) >> (s - 32)) + zp);
  }
  return qmath::sat8(qmath::requant(acc, m, s) + zp);
}

// The same with the zero point folded into the rounding constant, for a multiplier and shift fixed over many
// outputs: sat8((hi + off) >> sh) = SMMLA + ASR + SSAT, off = 2^(s-33) + zp * 2^(s-32) (a multiple of 2^sh added
// before the floor shift), sh = s - 32. Exact when ok: s >= 33 and |off| + 2^30 < 2^31 - 1 (no int32 wrap).
struct FoldedRequant {
  int32_t mult, off = 0, sh = 0;
  bool ok = false;
  FoldedRequant(int32_t m, int32_t s, int32_t zp) : mult(m) {
    if (s < 33) return;
    const int64_t o = (int64_t{1} << (s - 33)) + int64_t{zp} * (int64_t{1} << (s - 32));
    if ((o < 0 ? -o : o) + (int64_t{1} << 30) >= (int64_t{1} << 31) - 1) return;
    ok = true;
    off = static_cast<int32_t>(o);
    sh = s - 32;
  }
  int8_t operator()(int32_t acc) const { return dsp::ssat8(dsp::smmla(acc, mult, off) >> sh); }
};

}  // namespace gemv
}  // namespace cm7
}  // namespace mcuformer
