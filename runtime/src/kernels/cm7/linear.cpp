// LINEAR for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::linear_s8).
// M >= 2 (token tiles): up to 6 rows are widened together (gemm.h) and every weight row is read once per tile,
// 75 instructions per 96 MACs in the loop body. M == 1 (or a row left over by the tiles): the row is widened into
// int16 pairs on the stack (gemv.h; K <= 1024 at a time, longer rows in chunks), then 4 output channels per pass
// share each pair load: per 4 inputs and 4 channels, 2 pair loads + 4 x (LDR + 2 SXTB16 + 2 SMLAD) = 22 instructions
// for 16 MACs. Weights are read in place (no copy, no reordering). The int32 accumulator wraps exactly like the
// reference's (gemv.h).
#include "../quant_math.h"
#include "gemm.h"
#include "gemv.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

namespace {
inline int8_t finish(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp, const int8_t* lut) {
  const int8_t q = gemv::requant_sat8(acc, mult, shift, output_zp);
  return lut ? lut[static_cast<int32_t>(q) + 128] : q;
}

// R rows x[0..R) (R >= 2, R * kp / 2 <= gemm::kTileWords) into y rows (stride N).
void rows_tile(const int8_t* x, const int8_t* weight, const int32_t* bias, const int32_t* mult, const int32_t* shift,
               const int8_t* lut, int32_t output_zp, int8_t* y, int32_t R, int32_t N, int32_t K, uint32_t* xw) {
  const size_t k_len = static_cast<size_t>(K);
  const int32_t k4 = K & ~3, kp = gemm::padded(K);
  gemm::widen_rows(x, k_len, R, K, 0, xw);
  // Rows whose kp-byte read stays inside the [N, K] weights run over kp (zero-padded tile), the last ones over k4 +
  // a scalar tail.
  const int64_t spare = static_cast<int64_t>(N) * K - kp;  // row n reads [n * K, n * K + kp)
  const int32_t n_full = K == kp ? N : (spare < 0 ? 0 : static_cast<int32_t>(spare / K) + 1);
  for (int32_t n = 0; n < N; ++n) {
    const int8_t* w = weight + static_cast<size_t>(n) * k_len;
    int32_t acc[gemm::kMaxRows];
    for (int32_t r = 0; r < R; ++r) acc[r] = bias[n];
    if (n < n_full) {
      gemm::dot_rows(xw, w, R, kp >> 2, acc);
    } else {
      gemm::dot_rows(xw, w, R, k4 >> 2, acc);
      for (int32_t r = 0; r < R; ++r) acc[r] = gemv::tail(x + static_cast<size_t>(r) * k_len, w, k4, K, 0, acc[r]);
    }
    const int32_t m = mult[n], s = shift[n];
    for (int32_t r = 0; r < R; ++r) y[static_cast<size_t>(r) * static_cast<size_t>(N) + n] = finish(acc[r], m, s, output_zp, lut);
  }
}

// One row (gemv.h).
void row(const int8_t* xr, const int8_t* weight, const int32_t* bias, const int32_t* mult, const int32_t* shift,
         const int8_t* lut, int32_t output_zp, int8_t* yr, int32_t N, int32_t K, uint32_t* xw) {
  const size_t k_len = static_cast<size_t>(K);
  const int32_t k4 = K & ~3;
  if (K <= gemv::kMaxPairsK) {
    // Rows whose kp-byte read stays inside the weights run over kp (zero-padded pairs, gemv.h), others over k4 + a tail.
    const int32_t kp = gemv::widen_pairs_padded(xr, K, 0, xw);
    // a read of kp bytes from row r stays inside the [N, K] weight tensor
    auto in_tensor = [&](int32_t r, int32_t len) {
      return static_cast<size_t>(r) * k_len + static_cast<size_t>(len) <= static_cast<size_t>(N) * k_len;
    };
    int32_t n = 0;
    for (; n + 3 < N; n += 4) {
      const int8_t* w = weight + static_cast<size_t>(n) * k_len;
      int32_t acc[4] = {bias[n], bias[n + 1], bias[n + 2], bias[n + 3]};
      if (in_tensor(n + 3, kp)) {
        gemv::dot4(xw, w, k_len, kp, acc);
      } else {
        gemv::dot4(xw, w, k_len, k4, acc);
        for (int32_t r = 0; r < 4; ++r) acc[r] = gemv::tail(xr, w + static_cast<size_t>(r) * k_len, k4, K, 0, acc[r]);
      }
      yr[n] = finish(acc[0], mult[n], shift[n], output_zp, lut);
      yr[n + 1] = finish(acc[1], mult[n + 1], shift[n + 1], output_zp, lut);
      yr[n + 2] = finish(acc[2], mult[n + 2], shift[n + 2], output_zp, lut);
      yr[n + 3] = finish(acc[3], mult[n + 3], shift[n + 3], output_zp, lut);
    }
    for (; n < N; ++n) {
      const int8_t* w = weight + static_cast<size_t>(n) * k_len;
      const int32_t a = in_tensor(n, kp) ? gemv::dot1(xw, w, kp, bias[n])
                                         : gemv::tail(xr, w, k4, K, 0, gemv::dot1(xw, w, k4, bias[n]));
      yr[n] = finish(a, mult[n], shift[n], output_zp, lut);
    }
    return;
  }
  // K > kMaxPairsK: one output channel at a time over K chunks (rare: no ViT linear in the search spaces).
  for (int32_t n = 0; n < N; ++n) {
    const int8_t* w = weight + static_cast<size_t>(n) * k_len;
    int32_t a = bias[n];
    for (int32_t k0 = 0; k0 < k4; k0 += gemv::kMaxPairsK) {
      const int32_t len = k4 - k0 < gemv::kMaxPairsK ? k4 - k0 : gemv::kMaxPairsK;
      gemv::widen_pairs(xr + k0, len, 0, xw);
      a = gemv::dot1(xw, w + k0, len, a);
    }
    yr[n] = finish(gemv::tail(xr, w, k4, K, 0, a), mult[n], shift[n], output_zp, lut);
  }
}
}  // namespace

void linear_s8(const int8_t* x, const int8_t* weight, const int32_t* bias, const int32_t* mult, const int32_t* shift,
               const int8_t* lut, int32_t output_zp, int8_t* y, int32_t M, int32_t N, int32_t K) {
  static_assert(gemm::kTileWords >= gemv::kMaxPairsK / 2, "one buffer serves both paths");
  uint32_t* const xw = gemm::tile_buffer();
  const size_t k_len = static_cast<size_t>(K), n_len = static_cast<size_t>(N);
  // Tiles of 4..6 rows where they fit the tile buffer (the 6-row loop is the fast one); single rows otherwise.
  const int32_t tile = gemm::tile_rows(K);
  int32_t m = 0;
  if (tile >= 4) {
    for (; M - m >= 2; ) {
      const int32_t R = M - m < tile ? M - m : tile;
      rows_tile(x + static_cast<size_t>(m) * k_len, weight, bias, mult, shift, lut, output_zp,
                y + static_cast<size_t>(m) * n_len, R, N, K, xw);
      m += R;
    }
  }
  for (; m < M; ++m) {
    row(x + static_cast<size_t>(m) * k_len, weight, bias, mult, shift, lut, output_zp, y + static_cast<size_t>(m) * n_len,
        N, K, xw);
  }
}

}  // namespace cm7
}  // namespace mcuformer
