// MATMUL for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::matmul_s8).
// sum_k (a - za)(b - zb) = sum_k a'_k b_k - zb * sum_k a'_k with a' = a - za (|a'| <= 255, an int16 lane): each row
// of a is widened once with its zero point removed (gemm.h's tile buffer, K <= 1024; longer rows use the reference
// kernel), so the
// inner loops are plain SMLAD dot products and nothing is summed over b.
//  - transpose_b (b [N, K], e.g. q k^T): rows of b are read like LINEAR weights: with M >= 2, tiles of up to 6 rows
//    of a share each row of b (gemm.h); a single row takes 4 rows of b per pass (gemv.h).
//  - b [K, N] (e.g. attention x V): a' in natural pairs [a'_k, a'_k+1]; for 4 columns, two rows of b are packed
//    into [b_k,n, b_k+1,n] lanes with PKHBT/PKHTB + SXTB16: per 2 k and 4 columns 2 LDR + 2 PKH + 4 SXTB16 + 4 SMLAD.
// With K <= 32768 (contract) no sum here can leave int32, so the result equals the reference's accumulator exactly.
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
  // Sum of a row's a - za (|sa| <= 32768 * 255), needed only when b has a zero point.
  auto row_sum = [&](const int8_t* ar) {
    if (b_zp == 0) return int32_t{0};
    int32_t k = 0, sx = 0;
    for (; k + 4 <= K; k += 4) {
      const uint32_t v = dsp::load4(ar + k);
      sx = dsp::smlad(dsp::sxtb16(v), 0x00010001u, sx);
      sx = dsp::smlad(dsp::sxtb16_ror8(v), 0x00010001u, sx);
    }
    for (; k < K; ++k) sx += ar[k];
    return sx - K * a_zp;
  };
  const int32_t tile = transpose_b ? gemm::tile_rows(K) : 0;
  for (int32_t bi = 0; bi < batch; ++bi) {
    const int8_t* ab = a + static_cast<size_t>(bi) * mk;
    const int8_t* bb = b + static_cast<size_t>(bi) * kn;
    int8_t* yb = y + static_cast<size_t>(bi) * mn;
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
