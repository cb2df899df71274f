// SOFTMAX over the last dim through an exp table (contract in mcuformer/kernels.h). With entries >= 0 each
// e_i <= s, so e_i * recip <= 2^40 and nothing overflows.
#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void softmax_s8(const int8_t* x, const int32_t* exp_lut, int8_t* y, size_t rows, int32_t L) {
  const size_t len = static_cast<size_t>(L);
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* xr = x + r * len;
    int8_t* yr = y + r * len;
    int32_t m = -128;
    for (size_t i = 0; i < len; ++i) m = xr[i] > m ? xr[i] : m;
    int64_t s = 0;
    for (size_t i = 0; i < len; ++i) s += exp_lut[m - xr[i]];
    const int64_t recip = (int64_t{1} << 40) / s;
    for (size_t i = 0; i < len; ++i) {
      const int64_t e = exp_lut[m - xr[i]];
      yr[i] = qmath::sat8(((e * recip + (int64_t{1} << 31)) >> 32) - 128);
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
