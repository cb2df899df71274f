// LAYERNORM, integer only (contract in mcuformer/kernels.h). Ranges (C <= 32768, int8 input) keep every
// intermediate inside its type: |d_i| <= 2^23, v <= 2^61, |d_i * inv| < 2^50.
#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void layernorm_s8(const int8_t* x, const int32_t* gamma, const int32_t* beta, int8_t* y, size_t rows, int32_t C,
                  int64_t eps, int32_t output_zp, int32_t mult, int32_t shift) {
  const size_t c_len = static_cast<size_t>(C);
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* xr = x + r * c_len;
    int8_t* yr = y + r * c_len;
    int32_t s1 = 0;
    for (size_t i = 0; i < c_len; ++i) s1 += xr[i];
    uint64_t v = 0;
    for (size_t i = 0; i < c_len; ++i) {
      const int64_t d = static_cast<int64_t>(C) * xr[i] - s1;
      v += static_cast<uint64_t>(d * d);
    }
    uint64_t sd = qmath::isqrt64(v / static_cast<uint64_t>(C) + static_cast<uint64_t>(eps));
    if (sd < 1) sd = 1;
    const int64_t inv = (int64_t{1} << 40) / static_cast<int64_t>(sd);
    for (size_t i = 0; i < c_len; ++i) {
      const int64_t d = static_cast<int64_t>(C) * xr[i] - s1;
      const int64_t n = (d * inv + (int64_t{1} << 28)) >> 29;
      const int64_t acc = static_cast<int64_t>(static_cast<uint64_t>(n) * static_cast<uint64_t>(int64_t{gamma[i]}) +
                                               static_cast<uint64_t>(int64_t{beta[i]}));
      yr[i] = qmath::sat8(qmath::requant64(acc, mult, shift) + output_zp);
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
