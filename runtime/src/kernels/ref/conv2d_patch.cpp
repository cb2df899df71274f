// CONV2D patch embedding (kernel == stride, no padding), contract in mcuformer/kernels.h.
#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void conv2d_patch_s8(const int8_t* x, int32_t C, int32_t H, int32_t W, const int8_t* weight, int32_t E, int32_t P,
                     int32_t Q, const int32_t* bias, const int32_t* mult, const int32_t* shift, int32_t output_zp,
                     bool tokens_layout, int8_t* y) {
  const int32_t Ho = H / P;
  const int32_t Wo = W / Q;
  const size_t plane = static_cast<size_t>(H) * static_cast<size_t>(W);
  const size_t w_per_e = static_cast<size_t>(C) * static_cast<size_t>(P) * static_cast<size_t>(Q);
  for (int32_t i = 0; i < Ho; ++i) {
    for (int32_t j = 0; j < Wo; ++j) {
      const size_t token = static_cast<size_t>(i) * static_cast<size_t>(Wo) + static_cast<size_t>(j);
      for (int32_t e = 0; e < E; ++e) {
        const int8_t* we = weight + static_cast<size_t>(e) * w_per_e;
        uint32_t acc = static_cast<uint32_t>(bias[e]);
        for (int32_t c = 0; c < C; ++c) {
          const int8_t* xc = x + static_cast<size_t>(c) * plane;
          for (int32_t u = 0; u < P; ++u) {
            const int8_t* xrow = xc + static_cast<size_t>(i * P + u) * static_cast<size_t>(W) +
                                 static_cast<size_t>(j) * static_cast<size_t>(Q);
            for (int32_t v = 0; v < Q; ++v) acc += static_cast<uint32_t>(static_cast<int32_t>(xrow[v]) * *we++);
          }
        }
        const int8_t q = qmath::sat8(qmath::requant(static_cast<int32_t>(acc), mult[e], shift[e]) + output_zp);
        if (tokens_layout) {
          y[token * static_cast<size_t>(E) + static_cast<size_t>(e)] = q;
        } else {
          y[static_cast<size_t>(e) * static_cast<size_t>(Ho) * static_cast<size_t>(Wo) + token] = q;
        }
      }
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
