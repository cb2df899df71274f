// CONV2D patch embedding for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::conv2d_patch_s8).
// Each patch is a dot product of C*P*Q inputs with each of E weight rows (weight [E, C, P, Q] is [E, K] row-major,
// read in place). Per token, the patch's rows of Q inputs are widened into int16 pairs on the stack (gemv.h; at most
// kMaxPairsK inputs at a time, longer patches in chunks of whole rows, with 64 channel accumulators kept on the stack
// across chunks), then 4 channels per pass run the shared SMLAD loop. Q % 4 != 0 (no MCUFormer patch size) falls
// back to the reference kernel.
#include "../quant_math.h"
#include "gemv.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

void conv2d_patch_s8(const int8_t* x, int32_t C, int32_t H, int32_t W, const int8_t* weight, int32_t E, int32_t P,
                     int32_t Q, const int32_t* bias, const int32_t* mult, const int32_t* shift, int32_t output_zp,
                     bool tokens_layout, int8_t* y) {
  if (Q % 4 != 0 || Q > gemv::kMaxPairsK) {
    ref::conv2d_patch_s8(x, C, H, W, weight, E, P, Q, bias, mult, shift, output_zp, tokens_layout, y);
    return;
  }
  constexpr int32_t kChannels = 64;  // accumulators kept across K chunks
  uint32_t xw[gemv::kMaxPairsK / 2];
  int32_t acc[kChannels];
  const int32_t Ho = H / P;
  const int32_t Wo = W / Q;
  const size_t plane = static_cast<size_t>(H) * static_cast<size_t>(W);
  const int32_t rows = C * P;  // patch rows of Q inputs, in weight order (c, u)
  const size_t k_len = static_cast<size_t>(rows) * static_cast<size_t>(Q);
  const int32_t rows_per_chunk = gemv::kMaxPairsK / Q;
  for (int32_t i = 0; i < Ho; ++i) {
    for (int32_t j = 0; j < Wo; ++j) {
      const size_t token = static_cast<size_t>(i) * static_cast<size_t>(Wo) + static_cast<size_t>(j);
      for (int32_t e0 = 0; e0 < E; e0 += kChannels) {
        const int32_t ne = E - e0 < kChannels ? E - e0 : kChannels;
        for (int32_t e = 0; e < ne; ++e) acc[e] = bias[e0 + e];
        for (int32_t r0 = 0; r0 < rows; r0 += rows_per_chunk) {
          const int32_t nr = rows - r0 < rows_per_chunk ? rows - r0 : rows_per_chunk;
          for (int32_t r = 0; r < nr; ++r) {
            const int32_t c = (r0 + r) / P, u = (r0 + r) % P;
            const int8_t* src = x + static_cast<size_t>(c) * plane +
                                static_cast<size_t>(i * P + u) * static_cast<size_t>(W) +
                                static_cast<size_t>(j) * static_cast<size_t>(Q);
            gemv::widen_pairs(src, Q, 0, xw + static_cast<size_t>(r) * static_cast<size_t>(Q / 2));
          }
          const int32_t len = nr * Q;
          const int8_t* w = weight + static_cast<size_t>(e0) * k_len + static_cast<size_t>(r0) * static_cast<size_t>(Q);
          int32_t e = 0;
          for (; e + 3 < ne; e += 4) gemv::dot4(xw, w + static_cast<size_t>(e) * k_len, k_len, len, acc + e);
          for (; e < ne; ++e) acc[e] = gemv::dot1(xw, w + static_cast<size_t>(e) * k_len, len, acc[e]);
        }
        for (int32_t e = 0; e < ne; ++e) {
          const int32_t ch = e0 + e;
          const int8_t q = gemv::requant_sat8(acc[e], mult[ch], shift[ch], output_zp);
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

}  // namespace cm7
}  // namespace mcuformer
