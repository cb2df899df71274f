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

// acc[r] += sum_{k < k4} xw(k) * w[r * ldw + k] for the 4 weight rows r = 0..3 (xw: pairs, k4 multiple of 4).
inline void dot4_c(const uint32_t* xw, const int8_t* w, size_t ldw, int32_t k4, int32_t* acc) {
  const int8_t* p0 = w;
  const int8_t* p1 = w + ldw;
  const int8_t* p2 = p1 + ldw;
  const int8_t* p3 = p2 + ldw;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  const uint32_t* const end = xw + (k4 >> 1);
  while (xw != end) {
    const uint32_t xe = xw[0], xo = xw[1];
    xw += 2;
    uint32_t v = dsp::load4(p0);
    p0 += 4;
    a0 = dsp::smlad(xe, dsp::sxtb16(v), a0);
    a0 = dsp::smlad(xo, dsp::sxtb16_ror8(v), a0);
    v = dsp::load4(p1);
    p1 += 4;
    a1 = dsp::smlad(xe, dsp::sxtb16(v), a1);
    a1 = dsp::smlad(xo, dsp::sxtb16_ror8(v), a1);
    v = dsp::load4(p2);
    p2 += 4;
    a2 = dsp::smlad(xe, dsp::sxtb16(v), a2);
    a2 = dsp::smlad(xo, dsp::sxtb16_ror8(v), a2);
    v = dsp::load4(p3);
    p3 += 4;
    a3 = dsp::smlad(xe, dsp::sxtb16(v), a3);
    a3 = dsp::smlad(xo, dsp::sxtb16_ror8(v), a3);
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
// The same loop in Thumb-2, 8 inputs per iteration: 2 x (LDRD pairs + 4 x (LDR + 2 SXTB16 + 2 SMLAD)) + CMP/BNE =
// 44 instructions per 32 MACs. gcc keeps four row pointers in registers only by spilling; here rows 1 and 3 are
// register offsets (ldw) from rows 0 and 2, whose post-increment loads advance both. Unaligned LDR is allowed.
inline void dot4(const uint32_t* xw, const int8_t* w, size_t ldw, int32_t k4, int32_t* acc) {
  const int32_t k8 = k4 & ~7;
  if (k8 != 0) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t* p0 = w;
    const int8_t* p2 = w + 2 * ldw;
    const uint32_t* const end = xw + (k8 >> 1);
    uint32_t xe, xo, v, t;
    __asm__ volatile(
        "1:\n\t"
        "ldrd   %[xe], %[xo], [%[xw]], #8\n\t"
        "ldr    %[v], [%[p0], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a1], %[xe], %[t], %[a1]\n\t"
        "smlad  %[a1], %[xo], %[v], %[a1]\n\t"
        "ldr    %[v], [%[p0]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a0], %[xe], %[t], %[a0]\n\t"
        "smlad  %[a0], %[xo], %[v], %[a0]\n\t"
        "ldr    %[v], [%[p2], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a3], %[xe], %[t], %[a3]\n\t"
        "smlad  %[a3], %[xo], %[v], %[a3]\n\t"
        "ldr    %[v], [%[p2]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a2], %[xe], %[t], %[a2]\n\t"
        "smlad  %[a2], %[xo], %[v], %[a2]\n\t"
        "ldrd   %[xe], %[xo], [%[xw]], #8\n\t"
        "ldr    %[v], [%[p0], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a1], %[xe], %[t], %[a1]\n\t"
        "smlad  %[a1], %[xo], %[v], %[a1]\n\t"
        "ldr    %[v], [%[p0]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a0], %[xe], %[t], %[a0]\n\t"
        "smlad  %[a0], %[xo], %[v], %[a0]\n\t"
        "ldr    %[v], [%[p2], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a3], %[xe], %[t], %[a3]\n\t"
        "smlad  %[a3], %[xo], %[v], %[a3]\n\t"
        "ldr    %[v], [%[p2]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a2], %[xe], %[t], %[a2]\n\t"
        "smlad  %[a2], %[xo], %[v], %[a2]\n\t"
        "cmp    %[xw], %[end]\n\t"
        "bne    1b\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xw] "+r"(xw), [p0] "+r"(p0),
          [p2] "+r"(p2), [xe] "=&r"(xe), [xo] "=&r"(xo), [v] "=&r"(v), [t] "=&r"(t)
        : [ldw] "r"(ldw), [end] "r"(end)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    w = p0;  // advanced by k8 bytes
  }
  if (k4 != k8) dot4_c(xw, w, ldw, k4 - k8, acc);  // xw and w already advanced past k8
}
#else
inline void dot4(const uint32_t* xw, const int8_t* w, size_t ldw, int32_t k4, int32_t* acc) {
  dot4_c(xw, w, ldw, k4, acc);
}
#endif

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

}  // namespace gemv
}  // namespace cm7
}  // namespace mcuformer
