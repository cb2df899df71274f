// MATMUL for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::matmul_s8).
// sum_k (a - za)(b - zb) = sum ab - zb sum a - za sum b + K za zb (mod 2^32, the accumulator's arithmetic), so the
// inner loop is a plain int8 dot product: SMLAD on SXTB16 pairs when b is [N, K] (transpose_b, e.g. q k^T). For
// b [K, N] (e.g. attention x V) each output row chunk is accumulated over k (b rows contiguous). Column sums of b
// are computed once per chunk of 32 columns (stack only; no scratch buffer).
#include "../quant_math.h"
#include "dsp.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

namespace {

inline uint32_t u(int32_t v) { return static_cast<uint32_t>(v); }

int32_t dot(const int8_t* a, const int8_t* b, int32_t K) {
  int32_t acc = 0;
  const int32_t k4 = K & ~3;
  for (int32_t k = 0; k < k4; k += 4) {
    const uint32_t av = dsp::load4(a + k), bv = dsp::load4(b + k);
    acc = dsp::smlad(dsp::sxtb16(av), dsp::sxtb16(bv), acc);
    acc = dsp::smlad(dsp::sxtb16_ror8(av), dsp::sxtb16_ror8(bv), acc);
  }
  for (int32_t k = k4; k < K; ++k) acc = qmath::wrap_add(acc, static_cast<int32_t>(a[k]) * b[k]);
  return acc;
}

// sum ab - zb sa - za sb + K za zb, in wrapping 32-bit arithmetic.
inline int32_t centered(int32_t ab, int32_t sa, int32_t sb, int32_t K, int32_t za, int32_t zb) {
  return static_cast<int32_t>(u(ab) - u(zb) * u(sa) - u(za) * u(sb) + u(K) * u(za) * u(zb));
}

constexpr int32_t kChunk = 32;  // output columns per pass: 2 x 128 B of stack for column sums / row accumulators

}  // namespace

void matmul_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t batch, int32_t M, int32_t K, int32_t N,
               bool transpose_b, int32_t a_zp, int32_t b_zp, int32_t output_zp, int32_t mult, int32_t shift) {
  const size_t mk = static_cast<size_t>(M) * static_cast<size_t>(K);
  const size_t kn = static_cast<size_t>(K) * static_cast<size_t>(N);
  const size_t mn = static_cast<size_t>(M) * static_cast<size_t>(N);
  const size_t row_b = static_cast<size_t>(transpose_b ? K : N);
  for (int32_t bi = 0; bi < batch; ++bi) {
    const int8_t* ab = a + static_cast<size_t>(bi) * mk;
    const int8_t* bb = b + static_cast<size_t>(bi) * kn;
    int8_t* yb = y + static_cast<size_t>(bi) * mn;
    for (int32_t n0 = 0; n0 < N; n0 += kChunk) {
      const int32_t nc = N - n0 < kChunk ? N - n0 : kChunk;
      int32_t sb[kChunk] = {0};  // column sums of b, needed when a_zp != 0 (|sb| <= 32768 * 128)
      if (a_zp != 0) {
        for (int32_t j = 0; j < nc; ++j) {
          for (int32_t k = 0; k < K; ++k) {
            sb[j] += transpose_b ? bb[static_cast<size_t>(n0 + j) * row_b + static_cast<size_t>(k)]
                                 : bb[static_cast<size_t>(k) * row_b + static_cast<size_t>(n0 + j)];
          }
        }
      }
      for (int32_t m = 0; m < M; ++m) {
        const int8_t* ar = ab + static_cast<size_t>(m) * static_cast<size_t>(K);
        int8_t* yr = yb + static_cast<size_t>(m) * static_cast<size_t>(N) + n0;
        int32_t sa = 0;
        if (b_zp != 0) {
          for (int32_t k = 0; k < K; ++k) sa += ar[k];
        }
        uint32_t acc[kChunk];
        if (transpose_b) {
          for (int32_t j = 0; j < nc; ++j) acc[j] = u(dot(ar, bb + static_cast<size_t>(n0 + j) * row_b, K));
        } else {
          for (int32_t j = 0; j < nc; ++j) acc[j] = 0;
          for (int32_t k = 0; k < K; ++k) {
            const int32_t av = ar[k];
            const int8_t* br = bb + static_cast<size_t>(k) * row_b + static_cast<size_t>(n0);
            for (int32_t j = 0; j < nc; ++j) acc[j] += u(av * br[j]);
          }
        }
        for (int32_t j = 0; j < nc; ++j) {
          const int32_t c = centered(static_cast<int32_t>(acc[j]), sa, sb[j], K, a_zp, b_zp);
          yr[j] = qmath::sat8(qmath::requant(c, mult, shift) + output_zp);
        }
      }
    }
  }
}

}  // namespace cm7
}  // namespace mcuformer
