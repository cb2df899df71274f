// MATMUL for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::matmul_s8).
// sum_k (a - za)(b - zb) = sum_k a'_k b_k - zb * sum_k a'_k with a' = a - za (|a'| <= 255, an int16 lane), or
// symmetrically sum_k a_k b'_k - za * sum_k b'_k: one operand is widened with its zero point removed (gemm.h's tile
// buffer, K <= 1024; longer rows use the reference kernel), the other is read as int8, and the correction is one
// constant per widened row, so the inner loops are plain SMLAD dot products.
//  - transpose_b (b [N, K], e.g. q k^T, and attention x V^T): rows of b are read like LINEAR weights.
//    M >= 6 (token tiles): tiles of 6 rows of b are widened and every row of a streams through each (cols_transposed):
//    per 16 k 4 x (LDR + 2 SXTB16 + 3 LDM + 12 SMLAD); a row's 6 outputs are adjacent bytes of y, requantized by
//    SMMLA + ASR + SSAT + STRB each (zero point and rounding in one constant), all in one assembly loop over the rows.
//    2 <= M < 6: tiles of M rows of a share each row of b (gemm.h); a single row takes 4 rows of b per pass (gemv.h).
//  - b [K, N] (attention x V): a' in natural pairs [a'_k, a'_k+1]; for 4 columns, two rows of b are packed
//    into [b_k,n, b_k+1,n] lanes with PKHBT/PKHTB + SXTB16: per 2 k and 4 columns 2 LDR + 2 PKH + 4 SXTB16 + 4 SMLAD.
// With K <= 32768 (contract) no sum here can leave int32, so the result equals the reference's accumulator exactly.
#include <cstddef>

#include "../quant_math.h"
#include "gemm.h"
#include "gemv.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

namespace {

inline int8_t finish(int32_t dot, int32_t sa, int32_t zb, int32_t output_zp, int32_t mult, int32_t shift) {
  const int32_t acc = static_cast<int32_t>(static_cast<uint32_t>(dot) - static_cast<uint32_t>(zb) * static_cast<uint32_t>(sa));
  return gemv::requant_sat8(acc, mult, shift, output_zp);
}

void row_transposed(const int8_t* ar, const int8_t* bb, int8_t* yr, int32_t K, int32_t N, int32_t za, int32_t zb,
                    int32_t output_zp, int32_t mult, int32_t shift, uint32_t* xw, int32_t sa) {
  const int32_t k4 = K & ~3;
  const size_t k_len = static_cast<size_t>(K);
  // Rows whose kp-byte read stays inside b run over kp (zero-padded pairs, gemv.h), others over k4 + a tail.
  const int32_t kp = gemv::widen_pairs_padded(ar, K, za, xw);
  auto in_tensor = [&](int32_t r, int32_t len) {  // a read of len bytes from row r stays inside b [N, K]
    return static_cast<size_t>(r) * k_len + static_cast<size_t>(len) <= static_cast<size_t>(N) * k_len;
  };
  int32_t n = 0;
  for (; n + 3 < N; n += 4) {
    const int8_t* w = bb + static_cast<size_t>(n) * k_len;
    int32_t acc[4] = {0, 0, 0, 0};
    if (in_tensor(n + 3, kp)) {
      gemv::dot4(xw, w, k_len, kp, acc);
    } else {
      gemv::dot4(xw, w, k_len, k4, acc);
      for (int32_t r = 0; r < 4; ++r) acc[r] = gemv::tail(ar, w + static_cast<size_t>(r) * k_len, k4, K, za, acc[r]);
    }
    for (int32_t r = 0; r < 4; ++r) yr[n + r] = finish(acc[r], sa, zb, output_zp, mult, shift);
  }
  for (; n < N; ++n) {
    const int8_t* w = bb + static_cast<size_t>(n) * k_len;
    const int32_t d = in_tensor(n, kp) ? gemv::dot1(xw, w, kp, 0) : gemv::tail(ar, w, k4, K, za, gemv::dot1(xw, w, k4, 0));
    yr[n] = finish(d, sa, zb, output_zp, mult, shift);
  }
}

#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
// The 4-column A x V loop for a row stride NL known at compile time (head dims 16/32/64): the second row is an
// immediate offset and the first a post-indexed load, so no pointer add: 27 instructions per 16 MACs.
template <int NL>
inline void av4_fixed(const uint32_t*& q, const uint32_t* end, const int8_t*& p, int32_t& a0, int32_t& a1,
                      int32_t& a2, int32_t& a3) {
  uint32_t x01, x23, r0, r1, t;
  __asm__ volatile(
      "1:\n\t"
      "ldrd   %[x01], %[x23], [%[q]], #8\n\t"
      "ldr    %[r1], [%[p], #%c[nl]]\n\t"
      "ldr    %[r0], [%[p]], #%c[nl2]\n\t"
      "pkhbt  %[t], %[r0], %[r1], lsl #16\n\t"
      "pkhtb  %[r1], %[r1], %[r0], asr #16\n\t"
      "sxtb16 %[r0], %[t]\n\t"
      "sxtb16 %[t], %[t], ror #8\n\t"
      "smlad  %[a0], %[x01], %[r0], %[a0]\n\t"
      "smlad  %[a1], %[x01], %[t], %[a1]\n\t"
      "sxtb16 %[r0], %[r1]\n\t"
      "sxtb16 %[r1], %[r1], ror #8\n\t"
      "smlad  %[a2], %[x01], %[r0], %[a2]\n\t"
      "smlad  %[a3], %[x01], %[r1], %[a3]\n\t"
      "ldr    %[r1], [%[p], #%c[nl]]\n\t"
      "ldr    %[r0], [%[p]], #%c[nl2]\n\t"
      "pkhbt  %[t], %[r0], %[r1], lsl #16\n\t"
      "pkhtb  %[r1], %[r1], %[r0], asr #16\n\t"
      "sxtb16 %[r0], %[t]\n\t"
      "sxtb16 %[t], %[t], ror #8\n\t"
      "smlad  %[a0], %[x23], %[r0], %[a0]\n\t"
      "smlad  %[a1], %[x23], %[t], %[a1]\n\t"
      "sxtb16 %[r0], %[r1]\n\t"
      "sxtb16 %[r1], %[r1], ror #8\n\t"
      "smlad  %[a2], %[x23], %[r0], %[a2]\n\t"
      "smlad  %[a3], %[x23], %[r1], %[a3]\n\t"
      "cmp    %[q], %[end]\n\t"
      "bne    1b\n\t"
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [q] "+r"(q), [p] "+r"(p),
        [x01] "=&r"(x01), [x23] "=&r"(x23), [r0] "=&r"(r0), [r1] "=&r"(r1), [t] "=&r"(t)
      : [end] "r"(end), [nl] "i"(NL), [nl2] "i"(2 * NL)
      : "cc", "memory");
}
#endif

void row_plain(const int8_t* ar, const int8_t* bb, int8_t* yr, int32_t K, int32_t N, int32_t za, int32_t zb,
               int32_t output_zp, int32_t mult, int32_t shift, uint32_t* ap, int32_t sa) {
  const int32_t k2 = K & ~1;
  int32_t k0 = 0;
  {  // 4 at a time: [a0, a2], [a1, a3] less the zero point, repacked into [a0, a1], [a2, a3]
    const uint32_t zz = gemv::pack16(za, za);
    for (; k0 + 4 <= k2; k0 += 4) {
      const uint32_t v = dsp::load4(ar + k0);
      const uint32_t e = gemv::ssub16(dsp::sxtb16(v), zz), o = gemv::ssub16(dsp::sxtb16_ror8(v), zz);
      ap[k0 >> 1] = gemv::pkhbt16(e, o);
      ap[(k0 >> 1) + 1] = gemv::pkhtb16(e, o);
    }
  }
  for (int32_t k = k0; k < k2; k += 2) {
    ap[k >> 1] = gemv::pack16(static_cast<int32_t>(ar[k]) - za, static_cast<int32_t>(ar[k + 1]) - za);
  }
  const size_t n_len = static_cast<size_t>(N);
  const uint32_t* const ap_end = ap + (k2 >> 1);
  int32_t n = 0;
  for (; n + 3 < N; n += 4) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const int8_t* p = bb + n;
    const uint32_t* q = ap;
#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
    // Thumb-2, 4 rows of b (two a pairs, one LDRD) per iteration: 29 instructions per 16 MACs.
    const uint32_t* const ap_end4 = ap + ((k2 >> 1) & ~1);
    if (q != ap_end4 && (n_len == 16 || n_len == 32 || n_len == 64)) {
      if (n_len == 64) av4_fixed<64>(q, ap_end4, p, a0, a1, a2, a3);
      else if (n_len == 32) av4_fixed<32>(q, ap_end4, p, a0, a1, a2, a3);
      else av4_fixed<16>(q, ap_end4, p, a0, a1, a2, a3);
    } else if (q != ap_end4) {
      uint32_t x01, x23, r0, r1, t;
      __asm__ volatile(
          "1:\n\t"
          "ldrd   %[x01], %[x23], [%[q]], #8\n\t"
          "ldr    %[r0], [%[p]]\n\t"
          "ldr    %[r1], [%[p], %[nl]]\n\t"
          "add    %[p], %[p], %[nl], lsl #1\n\t"
          "pkhbt  %[t], %[r0], %[r1], lsl #16\n\t"
          "pkhtb  %[r1], %[r1], %[r0], asr #16\n\t"
          "sxtb16 %[r0], %[t]\n\t"
          "sxtb16 %[t], %[t], ror #8\n\t"
          "smlad  %[a0], %[x01], %[r0], %[a0]\n\t"
          "smlad  %[a1], %[x01], %[t], %[a1]\n\t"
          "sxtb16 %[r0], %[r1]\n\t"
          "sxtb16 %[r1], %[r1], ror #8\n\t"
          "smlad  %[a2], %[x01], %[r0], %[a2]\n\t"
          "smlad  %[a3], %[x01], %[r1], %[a3]\n\t"
          "ldr    %[r0], [%[p]]\n\t"
          "ldr    %[r1], [%[p], %[nl]]\n\t"
          "add    %[p], %[p], %[nl], lsl #1\n\t"
          "pkhbt  %[t], %[r0], %[r1], lsl #16\n\t"
          "pkhtb  %[r1], %[r1], %[r0], asr #16\n\t"
          "sxtb16 %[r0], %[t]\n\t"
          "sxtb16 %[t], %[t], ror #8\n\t"
          "smlad  %[a0], %[x23], %[r0], %[a0]\n\t"
          "smlad  %[a1], %[x23], %[t], %[a1]\n\t"
          "sxtb16 %[r0], %[r1]\n\t"
          "sxtb16 %[r1], %[r1], ror #8\n\t"
          "smlad  %[a2], %[x23], %[r0], %[a2]\n\t"
          "smlad  %[a3], %[x23], %[r1], %[a3]\n\t"
          "cmp    %[q], %[end]\n\t"
          "bne    1b\n\t"
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [q] "+r"(q), [p] "+r"(p),
            [x01] "=&r"(x01), [x23] "=&r"(x23), [r0] "=&r"(r0), [r1] "=&r"(r1), [t] "=&r"(t)
          : [nl] "r"(n_len), [end] "r"(ap_end4)
          : "cc", "memory");
    }
#endif
    for (; q != ap_end; ++q) {
      const uint32_t r0 = dsp::load4(p), r1 = dsp::load4(p + n_len);
      p += 2 * n_len;
      const uint32_t lo = gemv::pkhbt16(r0, r1), hi = gemv::pkhtb16(r0, r1);
      const uint32_t av = *q;
      a0 = dsp::smlad(av, dsp::sxtb16(lo), a0);
      a1 = dsp::smlad(av, dsp::sxtb16_ror8(lo), a1);
      a2 = dsp::smlad(av, dsp::sxtb16(hi), a2);
      a3 = dsp::smlad(av, dsp::sxtb16_ror8(hi), a3);
    }
    if (k2 != K) {
      const int32_t av = static_cast<int32_t>(ar[k2]) - za;
      const int8_t* br = bb + static_cast<size_t>(k2) * n_len + n;
      a0 = qmath::wrap_add(a0, av * br[0]);
      a1 = qmath::wrap_add(a1, av * br[1]);
      a2 = qmath::wrap_add(a2, av * br[2]);
      a3 = qmath::wrap_add(a3, av * br[3]);
    }
    yr[n] = finish(a0, sa, zb, output_zp, mult, shift);
    yr[n + 1] = finish(a1, sa, zb, output_zp, mult, shift);
    yr[n + 2] = finish(a2, sa, zb, output_zp, mult, shift);
    yr[n + 3] = finish(a3, sa, zb, output_zp, mult, shift);
  }
  for (; n < N; ++n) {
    int32_t acc = 0;
    for (int32_t k = 0; k < K; ++k) {
      acc = qmath::wrap_add(acc, (static_cast<int32_t>(ar[k]) - za) * bb[static_cast<size_t>(k) * n_len + n]);
    }
    yr[n] = finish(acc, sa, zb, output_zp, mult, shift);
  }
}

// transpose_b, R rows of a (2 <= R, R * kp / 2 <= gemm::kTileWords) with sums sa[r] of a - za.
void rows_transposed(const int8_t* ar, const int8_t* bb, int8_t* yr, int32_t R, int32_t K, int32_t N, int32_t za,
                     int32_t zb, int32_t output_zp, int32_t mult, int32_t shift, uint32_t* xw, const int32_t* sa) {
  const size_t k_len = static_cast<size_t>(K), n_len = static_cast<size_t>(N);
  const int32_t k4 = K & ~3, kp = gemm::padded(K);
  gemm::widen_rows(ar, k_len, R, K, za, xw);
  const int64_t spare = static_cast<int64_t>(N) * K - kp;  // row n of b reads [n * K, n * K + kp)
  const int32_t n_full = K == kp ? N : (spare < 0 ? 0 : static_cast<int32_t>(spare / K) + 1);
  for (int32_t n = 0; n < N; ++n) {
    const int8_t* w = bb + static_cast<size_t>(n) * k_len;
    int32_t acc[gemm::kMaxRows] = {};
    if (n < n_full) {
      gemm::dot_rows(xw, w, R, kp >> 2, acc);
    } else {
      gemm::dot_rows(xw, w, R, k4 >> 2, acc);
      for (int32_t r = 0; r < R; ++r) acc[r] = gemv::tail(ar + static_cast<size_t>(r) * k_len, w, k4, K, za, acc[r]);
    }
    for (int32_t r = 0; r < R; ++r) yr[static_cast<size_t>(r) * n_len + n] = finish(acc[r], sa[r], zb, output_zp, mult, shift);
  }
}

// Sum of r[k] - zp over K <= 32768 inputs (|sum| <= 32768 * 255).
int32_t sum_less(const int8_t* r, int32_t K, int32_t zp) {
  int32_t k = 0, sx = 0;
  for (; k + 4 <= K; k += 4) {
    const uint32_t v = dsp::load4(r + k);
    sx = dsp::smlad(dsp::sxtb16(v), 0x00010001u, sx);
    sx = dsp::smlad(dsp::sxtb16_ror8(v), 0x00010001u, sx);
  }
  for (; k < K; ++k) sx += r[k];
  return sx - K * zp;
}

#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
// The frame of stream6 (offsets fixed in its assembly).
struct Stream6 {
  int32_t init[6];          // 0: accumulator start values
  const uint32_t* xw;       // 24: the widened tile
  const uint32_t* xw_end4;  // 28: the tile after the 16-input iterations (> xw)
  const uint32_t* xw_end;   // 32: the tile after all blocks of 4 inputs
  int32_t adj;              // 36: a row's stride less the bytes its blocks read
  int32_t mult, off, sh;    // 40, 44, 48: gemv::FoldedRequant
  int8_t* y;                // 52: the first row's 6 outputs
  int32_t ldy;              // 56: y's row stride
  int8_t* y_end;            // 60: y after the last row
};
static_assert(sizeof(Stream6) == 64 && offsetof(Stream6, xw) == 24 && offsetof(Stream6, adj) == 36 &&
                  offsetof(Stream6, mult) == 40 && offsetof(Stream6, y_end) == 60,
              "stream6's assembly reads these offsets");

// For each row of a (from a, (y_end - y) / ldy rows): the 6 dot products with the tile plus init, requantized into
// y[0..6), then y += ldy. The frame is copied to the stack, where the loop constants live: the dot product pins all
// 14 allocatable registers (r0-r5 sums, r6-r9 tile words, r10 tile, r11 a, r12 and lr one word of a). noipa: the
// compiler must not infer from the assembly-only body that it reads or writes no memory.
__attribute__((naked, noipa)) void stream6(const Stream6*, const int8_t*) {
#define MCUFORMER_STREAM6_BLOCK       \
  "ldr    r12, [r11], #4\n\t"         \
  "sxtb16 lr, r12\n\t"                \
  "sxtb16 r12, r12, ror #8\n\t"       \
  "ldmia  r10!, {r6, r7, r8, r9}\n\t" \
  "smlad  r0, r6, lr, r0\n\t"         \
  "smlad  r0, r7, r12, r0\n\t"        \
  "smlad  r1, r8, lr, r1\n\t"         \
  "smlad  r1, r9, r12, r1\n\t"        \
  "ldmia  r10!, {r6, r7, r8, r9}\n\t" \
  "smlad  r2, r6, lr, r2\n\t"         \
  "smlad  r2, r7, r12, r2\n\t"        \
  "smlad  r3, r8, lr, r3\n\t"         \
  "smlad  r3, r9, r12, r3\n\t"        \
  "ldmia  r10!, {r6, r7, r8, r9}\n\t" \
  "smlad  r4, r6, lr, r4\n\t"         \
  "smlad  r4, r7, r12, r4\n\t"        \
  "smlad  r5, r8, lr, r5\n\t"         \
  "smlad  r5, r9, r12, r5\n\t"
#define MCUFORMER_STREAM6_OUT(acc, i) \
  "smmla  lr, " acc ", r6, r7\n\t"    \
  "asr    lr, lr, r8\n\t"             \
  "ssat   lr, #8, lr\n\t"             \
  "strb   lr, [r9, #" i "]\n\t"
  __asm__ volatile(
      "push   {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
      "sub    sp, sp, #64\n\t"
      "mov    r11, r1\n\t"
      "ldmia  r0!, {r1, r2, r3, r4, r5, r6, r7, r8}\n\t"
      "stmia  sp, {r1, r2, r3, r4, r5, r6, r7, r8}\n\t"
      "ldmia  r0, {r1, r2, r3, r4, r5, r6, r7, r8}\n\t"
      "add    r9, sp, #32\n\t"
      "stmia  r9, {r1, r2, r3, r4, r5, r6, r7, r8}\n\t"
      "1:\n\t"
      "ldmia  sp, {r0, r1, r2, r3, r4, r5}\n\t"
      "ldr    r10, [sp, #24]\n\t"
      "2:\n\t"
      MCUFORMER_STREAM6_BLOCK
      MCUFORMER_STREAM6_BLOCK
      MCUFORMER_STREAM6_BLOCK
      MCUFORMER_STREAM6_BLOCK
      "ldr    r6, [sp, #28]\n\t"
      "cmp    r10, r6\n\t"
      "bne    2b\n\t"
      "ldr    r6, [sp, #32]\n\t"
      "cmp    r10, r6\n\t"
      "beq    4f\n\t"
      "3:\n\t"
      MCUFORMER_STREAM6_BLOCK
      "ldr    r6, [sp, #32]\n\t"
      "cmp    r10, r6\n\t"
      "bne    3b\n\t"
      "4:\n\t"
      "ldr    r6, [sp, #36]\n\t"
      "add    r11, r11, r6\n\t"
      "add    lr, sp, #40\n\t"
      "ldmia  lr, {r6, r7, r8, r9, r10, r12}\n\t"
      MCUFORMER_STREAM6_OUT("r0", "0")
      MCUFORMER_STREAM6_OUT("r1", "1")
      MCUFORMER_STREAM6_OUT("r2", "2")
      MCUFORMER_STREAM6_OUT("r3", "3")
      MCUFORMER_STREAM6_OUT("r4", "4")
      MCUFORMER_STREAM6_OUT("r5", "5")
      "add    r9, r9, r10\n\t"
      "str    r9, [sp, #52]\n\t"
      "cmp    r9, r12\n\t"
      "bne    1b\n\t"
      "add    sp, sp, #64\n\t"
      "pop    {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
#undef MCUFORMER_STREAM6_BLOCK
#undef MCUFORMER_STREAM6_OUT
}
#endif

// transpose_b with M >= 6 and 6 rows of K inputs in the tile buffer: tiles of R <= 6 rows of b widened with zb
// removed, every row of a streamed through each: y[m, n0 + r] = requant(init[r] + sum_k a[m, k] b'[n0 + r, k]),
// init[r] = -za * sum_k b'[n0 + r, k].
void cols_transposed(const int8_t* ab, const int8_t* bb, int8_t* yb, int32_t M, int32_t K, int32_t N, int32_t za,
                     int32_t zb, int32_t output_zp, int32_t mult, int32_t shift, uint32_t* xw) {
  const size_t k_len = static_cast<size_t>(K), n_len = static_cast<size_t>(N);
  const int32_t k4 = K & ~3, nb = (K + 3) >> 2;
  // Rows of a whose 4 * nb-byte read stays inside a (the padded block reads into the next row, times zero lanes).
  const int64_t spare = static_cast<int64_t>(M) * K - 4 * nb;
  const int32_t m_full = K == k4 ? M : (spare < 0 ? 0 : static_cast<int32_t>(spare / K) + 1);
  const gemv::FoldedRequant rq(mult, shift, output_zp);
  for (int32_t n0 = 0; n0 < N; n0 += gemm::kMaxRows) {
    const int32_t R = N - n0 < gemm::kMaxRows ? N - n0 : gemm::kMaxRows;
    const int8_t* br = bb + static_cast<size_t>(n0) * k_len;
    gemm::widen_rows(br, k_len, R, K, zb, xw);
    int32_t init[gemm::kMaxRows] = {};
    if (za != 0) {
      for (int32_t r = 0; r < R; ++r) init[r] = -za * sum_less(br + static_cast<size_t>(r) * k_len, K, zb);
    }
    int32_t m = 0;
#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
    if (R == gemm::kMaxRows && rq.ok && nb >= 4 && m_full > 0) {
      Stream6 f;
      for (int32_t r = 0; r < R; ++r) f.init[r] = init[r];
      f.xw = xw;
      f.xw_end4 = xw + 2 * R * (nb & ~3);
      f.xw_end = xw + 2 * R * nb;
      f.adj = K - 4 * nb;
      f.mult = rq.mult;
      f.off = rq.off;
      f.sh = rq.sh;
      f.y = yb + n0;
      f.ldy = N;
      f.y_end = yb + n0 + static_cast<size_t>(m_full) * n_len;
      stream6(&f, ab);
      m = m_full;
    }
#endif
    for (; m < M; ++m) {
      const int8_t* ar = ab + static_cast<size_t>(m) * k_len;
      int8_t* yr = yb + static_cast<size_t>(m) * n_len + n0;
      int32_t acc[gemm::kMaxRows];
      for (int32_t r = 0; r < R; ++r) acc[r] = init[r];
      if (m < m_full) {
        gemm::dot_rows(xw, ar, R, nb, acc);
      } else {
        gemm::dot_rows(xw, ar, R, k4 >> 2, acc);
        for (int32_t r = 0; r < R; ++r) acc[r] = gemv::tail(br + static_cast<size_t>(r) * k_len, ar, k4, K, zb, acc[r]);
      }
      for (int32_t r = 0; r < R; ++r) yr[r] = rq.ok ? rq(acc[r]) : gemv::requant_sat8(acc[r], mult, shift, output_zp);
    }
  }
}

}  // namespace

void matmul_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t batch, int32_t M, int32_t K, int32_t N,
               bool transpose_b, int32_t a_zp, int32_t b_zp, int32_t output_zp, int32_t mult, int32_t shift) {
  if (K > gemv::kMaxPairsK) {  // longer than the pairs buffer: not a ViT attention shape
    ref::matmul_s8(a, b, y, batch, M, K, N, transpose_b, a_zp, b_zp, output_zp, mult, shift);
    return;
  }
  static_assert(gemm::kTileWords >= gemv::kMaxPairsK / 2, "one buffer serves both paths");
  uint32_t* const xw = gemm::tile_buffer();
  const size_t mk = static_cast<size_t>(M) * static_cast<size_t>(K);
  const size_t kn = static_cast<size_t>(K) * static_cast<size_t>(N);
  const size_t mn = static_cast<size_t>(M) * static_cast<size_t>(N);
  const size_t k_len = static_cast<size_t>(K), n_len = static_cast<size_t>(N);
  // Sum of a row's a - za, needed only when b has a zero point.
  auto row_sum = [&](const int8_t* ar) { return b_zp == 0 ? int32_t{0} : sum_less(ar, K, a_zp); };
  const int32_t tile = transpose_b ? gemm::tile_rows(K) : 0;
  for (int32_t bi = 0; bi < batch; ++bi) {
    const int8_t* ab = a + static_cast<size_t>(bi) * mk;
    const int8_t* bb = b + static_cast<size_t>(bi) * kn;
    int8_t* yb = y + static_cast<size_t>(bi) * mn;
    if (tile == gemm::kMaxRows && M >= gemm::kMaxRows) {
      cols_transposed(ab, bb, yb, M, K, N, a_zp, b_zp, output_zp, mult, shift, xw);
      continue;
    }
    int32_t m = 0;
    if (tile >= 4) {
      while (M - m >= 2) {
        const int32_t R = M - m < tile ? M - m : tile;
        int32_t sa[gemm::kMaxRows];
        for (int32_t r = 0; r < R; ++r) sa[r] = row_sum(ab + static_cast<size_t>(m + r) * k_len);
        rows_transposed(ab + static_cast<size_t>(m) * k_len, bb, yb + static_cast<size_t>(m) * n_len, R, K, N, a_zp,
                        b_zp, output_zp, mult, shift, xw, sa);
        m += R;
      }
    }
    for (; m < M; ++m) {
      const int8_t* ar = ab + static_cast<size_t>(m) * k_len;
      int8_t* yr = yb + static_cast<size_t>(m) * n_len;
      const int32_t sa = row_sum(ar);
      if (transpose_b) {
        row_transposed(ar, bb, yr, K, N, a_zp, b_zp, output_zp, mult, shift, xw, sa);
      } else {
        row_plain(ar, bb, yr, K, N, a_zp, b_zp, output_zp, mult, shift, xw, sa);
      }
    }
  }
}

}  // namespace cm7
}  // namespace mcuformer
