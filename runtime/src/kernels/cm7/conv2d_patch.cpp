// CONV2D patch embedding for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::conv2d_patch_s8).
// Each patch is a dot product of C*P*Q inputs with each of E weight rows (weight [E, C, P, Q] is [E, K] row-major,
// read in place). Up to 6 patches of a patch row form a tile (gemm.h): their rows of Q inputs are widened together,
// interleaved, then every weight row is read once per tile by the 6-row SMLAD loop. Long patches go in chunks of
// whole rows of Q (at most 6 x 768 inputs widened at a time), with 64 channel accumulators per patch kept on the
// stack across chunks. Q % 4 != 0 (no MCUFormer patch size) falls back to the reference kernel.
#include "../quant_math.h"
#include "gemm.h"
#include "gemv.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

void conv2d_patch_s8(const int8_t* x, int32_t C, int32_t H, int32_t W, const int8_t* weight, int32_t E, int32_t P,
                     int32_t Q, const int32_t* bias, const int32_t* mult, const int32_t* shift, int32_t output_zp,
                     bool tokens_layout, int8_t* y) {
  if (Q % 4 != 0 || Q > gemm::kTileWords * 2 / gemm::kMaxRows) {
    ref::conv2d_patch_s8(x, C, H, W, weight, E, P, Q, bias, mult, shift, output_zp, tokens_layout, y);
    return;
  }
  constexpr int32_t kChannels = 64;  // accumulators per patch kept across K chunks
  uint32_t* const xw = gemm::tile_buffer();
  int32_t acc[gemm::kMaxRows][kChannels];
  const int32_t Ho = H / P;
  const int32_t Wo = W / Q;
  const size_t plane = static_cast<size_t>(H) * static_cast<size_t>(W);
  const int32_t rows = C * P;  // patch rows of Q inputs, in weight order (c, u)
  const size_t k_len = static_cast<size_t>(rows) * static_cast<size_t>(Q);
  const int32_t rows_per_chunk = gemm::kTileWords * 2 / gemm::kMaxRows / Q;
  for (int32_t i = 0; i < Ho; ++i) {
    for (int32_t j0 = 0; j0 < Wo; j0 += gemm::kMaxRows) {
      const int32_t R = Wo - j0 < gemm::kMaxRows ? Wo - j0 : gemm::kMaxRows;
      for (int32_t e0 = 0; e0 < E; e0 += kChannels) {
        const int32_t ne = E - e0 < kChannels ? E - e0 : kChannels;
        for (int32_t r = 0; r < R; ++r) {
          for (int32_t e = 0; e < ne; ++e) acc[r][e] = bias[e0 + e];
        }
        for (int32_t q0 = 0; q0 < rows; q0 += rows_per_chunk) {
          const int32_t nq = rows - q0 < rows_per_chunk ? rows - q0 : rows_per_chunk;
          // the tile: block b (4 inputs) of patch r at xw[2 * (b * R + r)], blocks in weight order (c, u, v)
          for (int32_t r = 0; r < R; ++r) {
            uint32_t* out = xw + 2 * r;
            for (int32_t q = q0; q < q0 + nq; ++q) {
              const int32_t c = q / P, u = q % P;
              const int8_t* src = x + static_cast<size_t>(c) * plane +
                                  static_cast<size_t>(i * P + u) * static_cast<size_t>(W) +
                                  static_cast<size_t>(j0 + r) * static_cast<size_t>(Q);
              for (int32_t v = 0; v < Q; v += 4) {
                const uint32_t b = dsp::load4(src + v);
                out[0] = dsp::sxtb16(b);
                out[1] = dsp::sxtb16_ror8(b);
                out += 2 * R;
              }
            }
          }
          const int32_t nb = nq * Q / 4;
          const int8_t* w = weight + static_cast<size_t>(e0) * k_len + static_cast<size_t>(q0) * static_cast<size_t>(Q);
          for (int32_t e = 0; e < ne; ++e) {
            int32_t a[gemm::kMaxRows];
            for (int32_t r = 0; r < R; ++r) a[r] = acc[r][e];
            gemm::dot_rows(xw, w + static_cast<size_t>(e) * k_len, R, nb, a);
            for (int32_t r = 0; r < R; ++r) acc[r][e] = a[r];
          }
        }
        for (int32_t r = 0; r < R; ++r) {
          const size_t token = static_cast<size_t>(i) * static_cast<size_t>(Wo) + static_cast<size_t>(j0 + r);
          for (int32_t e = 0; e < ne; ++e) {
            const int32_t ch = e0 + e;
            const int8_t q = gemv::requant_sat8(acc[r][e], mult[ch], shift[ch], output_zp);
            if (tokens_layout) {
              y[token * static_cast<size_t>(E) + static_cast<size_t>(ch)] = q;
            } else {
              y[static_cast<size_t>(ch) * static_cast<size_t>(Ho) * static_cast<size_t>(Wo) + token] = q;
            }
          }
        }
      }
    }
  }
}

}  // namespace cm7
}  // namespace mcuformer
