// LAYERNORM for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::layernorm_s8).
//
// Per row (integer identities, no rounding anywhere):
//  - one SMLAD pass gives s1 = sum x and sxx = sum x^2 (|sxx| <= 2^29); v / C = sum (C x_i - s1)^2 / C
//    = C * sxx - s1^2 exactly, so no 64-bit sum and no division by C. isqrt of that + eps: a float estimate
//    corrected to the exact floor (qmath::isqrt64 for very large values).
//  - n_i = (d_i * inv + 2^28) >> 29 with d_i = C x_i - s1 is floor((x_i * A + B) / 2^29), A = C * inv,
//    B = 2^28 - s1 * inv (int64). Split A = 2^23 Ah + Al, B = 2^23 Bh + Bl (0 <= Al, Bl < 2^23):
//    n_i = (x_i * Ah + Bh + ((x_i * Al + Bl) >> 23)) >> 6, all int32 when |x * Ah + Bh| + 256 < 2^31 for both
//    extreme x (checked per row; the reference formula runs the row otherwise).
//  - acc = n_i * gamma_i + beta_i by SMULL + ADDS/ADC; when it fits int32 (checked per element, else the int64
//    formula), requant(acc, mult, shift) + zo = (hi + K) >> (s - 32) with hi = (acc * mult) >> 32 and
//    K = 2^(s-33) + zo * 2^(s-32) (s >= 33, |K| + 2^30 < 2^31 checked once: gemv::FoldedRequant).
#include <cmath>

#include "../quant_math.h"
#include "dsp.h"
#include "gemv.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

namespace {

// floor(sqrt(u)) exactly.
inline uint64_t isqrt_fast(uint64_t u) {
  if (u >= (uint64_t{1} << 52)) return qmath::isqrt64(u);
  const float f = u < (uint64_t{1} << 32) ? static_cast<float>(static_cast<uint32_t>(u)) : static_cast<float>(u);
  uint64_t r = static_cast<uint32_t>(std::sqrt(f));  // < 2^26
  while (r * r > u) --r;
  while ((r + 1) * (r + 1) <= u) ++r;
  return r;
}

// The reference's per-element formula (rows or elements the fast path cannot prove exact).
__attribute__((noinline)) int8_t ref_elem(int32_t n, int32_t g, int32_t b, int32_t output_zp, int32_t mult, int32_t shift) {
  const int64_t acc = static_cast<int64_t>(static_cast<uint64_t>(int64_t{n}) * static_cast<uint64_t>(int64_t{g}) +
                                           static_cast<uint64_t>(int64_t{b}));
  return qmath::sat8(qmath::requant64(acc, mult, shift) + output_zp);
}

struct RowConsts {
  int32_t ah, bh, al, bl, mult, kq;
};

template <int F>
__attribute__((noinline)) void row(const int8_t* xr, const int32_t* gamma, const int32_t* beta, int8_t* yr, size_t c_len, const RowConsts& k,
         int32_t f_rt, int32_t output_zp, int32_t shift) {
  const int32_t ah = k.ah, bh = k.bh, al = k.al, bl = k.bl, mult = k.mult, kq = k.kq;
  for (size_t j = 0; j < c_len; ++j) {
    const int32_t xv = xr[j];
    const int32_t n = (xv * ah + bh + ((xv * al + bl) >> 23)) >> 6;
    const int64_t acc = int64_t{n} * gamma[j] + beta[j];
    int32_t acc32 = static_cast<int32_t>(acc);
    if (acc32 != acc) {
      yr[j] = ref_elem(n, gamma[j], beta[j], output_zp, mult, shift);
      continue;
    }
    const int32_t h = dsp::smmla(acc32, mult, kq);  // |hi| <= 2^30 and |kq| + 2^30 < 2^31: no wrap
    yr[j] = dsp::ssat8(h >> (F >= 0 ? F : f_rt));
  }
}

// (a * b + 2^31) >> 32 (SMMULR)
inline int32_t smmulr(int32_t a, int32_t b) {
#ifdef MCUFORMER_CM7_DSP
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return static_cast<int32_t>((int64_t{a} * b + (int64_t{1} << 31)) >> 32);
#endif
}

// The usual row: inv < 2^31. n_i = (d_i * inv + 2^28) >> 29 = (8 d_i * inv + 2^31) >> 32 = SMMULR(8 d_i, inv),
// 8 d_i = x_i * 8C - 8 s1 in one MLA (|8 d_i| <= 2^26).
template <int F>
__attribute__((noinline)) void row_r(const int8_t* xr, const int32_t* gamma, const int32_t* beta, int8_t* yr,
                                     size_t c_len, int32_t c8, int32_t s8, int32_t inv, int32_t mult, int32_t kq,
                                     int32_t f_rt, int32_t output_zp, int32_t shift) {
  size_t j = 0;
#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
  if (F >= 0) {
    // Thumb-2, 15 instructions per element; leaves the loop at the end or before an element whose acc does not fit
    // int32 (that one takes the C code below).
    const int8_t* xp = xr;
    const int8_t* const end = xr + c_len;
    const int32_t* gp = gamma;
    const int32_t* bp = beta;
    int8_t* yp = yr;
    alignas(8) const int32_t mk[2] = {mult, kq};  // reloaded per element (LDRD): 13 registers are all asm gets
    while (xp != end) {
      int32_t x, lo, hi, g;
      __asm__ volatile(
          "1:\n\t"
          "ldrsb  %[x], [%[xp]], #1\n\t"
          "ldr    %[lo], [%[bp]], #4\n\t"
          "ldr    %[g], [%[gp]], #4\n\t"
          "mla    %[x], %[x], %[c8], %[s8]\n\t"
          "smmulr %[x], %[x], %[inv]\n\t"
          "asr    %[hi], %[lo], #31\n\t"
          "smlal  %[lo], %[hi], %[x], %[g]\n\t"
          "cmp    %[hi], %[lo], asr #31\n\t"
          "bne    2f\n\t"
          "ldrd   %[x], %[g], %[mk]\n\t"
          "smmla  %[lo], %[lo], %[x], %[g]\n\t"
          "ssat   %[lo], #8, %[lo], asr %[f]\n\t"
          "strb   %[lo], [%[yp]], #1\n\t"
          "cmp    %[xp], %[end]\n\t"
          "bne    1b\n\t"
          "2:\n\t"
          : [x] "=&r"(x), [lo] "=&r"(lo), [hi] "=&r"(hi), [g] "=&r"(g), [xp] "+r"(xp), [gp] "+r"(gp),
            [bp] "+r"(bp), [yp] "+r"(yp)
          : [end] "r"(end), [c8] "r"(c8), [s8] "r"(s8), [inv] "r"(inv), [mk] "m"(mk),
            [f] "i"(F > 0 ? F : 1)
          : "cc", "memory");
      if (yp != xp - (xr - yr)) {  // left at element xp - 1: not int32
        const size_t k = static_cast<size_t>(xp - xr) - 1;
        *yp++ = ref_elem(smmulr(xr[k] * c8 + s8, inv), gamma[k], beta[k], output_zp, mult, shift);
      }
    }
    return;
  }
#endif
  for (; j < c_len; ++j) {
    const int32_t n = smmulr(xr[j] * c8 + s8, inv);
    const int64_t acc = int64_t{n} * gamma[j] + beta[j];
    const int32_t acc32 = static_cast<int32_t>(acc);
    if (acc32 != acc) {
      yr[j] = ref_elem(n, gamma[j], beta[j], output_zp, mult, shift);
      continue;
    }
    yr[j] = dsp::ssat8(dsp::smmla(acc32, mult, kq) >> (F >= 0 ? F : f_rt));
  }
}

}  // namespace

void layernorm_s8(const int8_t* x, const int32_t* gamma, const int32_t* beta, int8_t* y, size_t rows, int32_t C,
                  int64_t eps, int32_t output_zp, int32_t mult, int32_t shift) {
  const size_t c_len = static_cast<size_t>(C);
  // requant constant (s >= 33 path); otherwise every element takes the int64 formula
  const gemv::FoldedRequant fold(mult, shift, output_zp);
  const bool fast_q = fold.ok;
  const int32_t kq = fold.off, fq = fold.sh;
  const uint32_t ones = 0x00010001u;
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* xr = x + r * c_len;
    int8_t* yr = y + r * c_len;
    int32_t s1 = 0, sxx = 0;
    size_t i = 0;
    for (; i + 4 <= c_len; i += 4) {
      const uint32_t v = dsp::load4(xr + i);
      const uint32_t e = dsp::sxtb16(v), o = dsp::sxtb16_ror8(v);
      s1 = dsp::smlad(e, ones, s1);
      sxx = dsp::smlad(e, e, sxx);
      s1 = dsp::smlad(o, ones, s1);
      sxx = dsp::smlad(o, o, sxx);
    }
    for (; i < c_len; ++i) {
      s1 += xr[i];
      sxx += xr[i] * xr[i];
    }
    const uint64_t u = static_cast<uint64_t>(int64_t{C} * sxx - int64_t{s1} * s1) + static_cast<uint64_t>(eps);
    uint64_t sd = isqrt_fast(u);
    if (sd < 1) sd = 1;
    const int64_t inv = (int64_t{1} << 40) / static_cast<int64_t>(sd);
    const int64_t A = int64_t{C} * inv, B = (int64_t{1} << 28) - int64_t{s1} * inv;
    const int64_t ah = A >> 23, bh = B >> 23;
    const int64_t hmax1 = 128 * ah + bh, hmax2 = -128 * ah + bh;
    const int64_t lim = (int64_t{1} << 31) - 512;
    if (!fast_q || hmax1 >= lim || hmax1 <= -lim || hmax2 >= lim || hmax2 <= -lim) {
      for (size_t j = 0; j < c_len; ++j) {
        const int64_t d = int64_t{C} * xr[j] - s1;
        yr[j] = ref_elem(static_cast<int32_t>((d * inv + (int64_t{1} << 28)) >> 29), gamma[j], beta[j], output_zp, mult, shift);
      }
      continue;
    }
    if (inv < (int64_t{1} << 31)) {
      const int32_t c8 = 8 * C, s8 = -8 * s1, iv = static_cast<int32_t>(inv);
      switch (fq) {
        case 14: row_r<14>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        case 15: row_r<15>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        case 16: row_r<16>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        case 17: row_r<17>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        case 18: row_r<18>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        case 19: row_r<19>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        case 20: row_r<20>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        case 21: row_r<21>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        case 22: row_r<22>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
        default: row_r<-1>(xr, gamma, beta, yr, c_len, c8, s8, iv, mult, kq, fq, output_zp, shift); continue;
      }
    }
    const RowConsts k{static_cast<int32_t>(ah), static_cast<int32_t>(bh), static_cast<int32_t>(A & 0x7FFFFF),
                      static_cast<int32_t>(B & 0x7FFFFF), mult, kq};
    switch (fq) {  // the final shift as SSAT's immediate for the usual shifts (s - 32)
      case 14: row<14>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      case 15: row<15>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      case 16: row<16>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      case 17: row<17>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      case 18: row<18>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      case 19: row<19>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      case 20: row<20>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      case 21: row<21>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      case 22: row<22>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
      default: row<-1>(xr, gamma, beta, yr, c_len, k, fq, output_zp, shift); break;
    }
  }
}

}  // namespace cm7
}  // namespace mcuformer
