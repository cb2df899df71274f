// MEAN over the middle axis of [outer, reduce, inner] (contract in mcuformer/kernels.h).
#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void mean_s8(const int8_t* x, int8_t* y, int32_t outer, int32_t reduce, int32_t inner, int32_t input_zp,
             int32_t output_zp, int32_t mult, int32_t shift) {
  const size_t in_len = static_cast<size_t>(inner);
  for (int32_t o = 0; o < outer; ++o) {
    const int8_t* xo = x + static_cast<size_t>(o) * static_cast<size_t>(reduce) * in_len;
    for (size_t i = 0; i < in_len; ++i) {
      int32_t acc = 0;  // |acc| <= 2^23 * 255 < 2^31
      for (int32_t r = 0; r < reduce; ++r) acc += static_cast<int32_t>(xo[static_cast<size_t>(r) * in_len + i]) - input_zp;
      y[static_cast<size_t>(o) * in_len + i] = qmath::sat8(qmath::requant(acc, mult, shift) + output_zp);
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
