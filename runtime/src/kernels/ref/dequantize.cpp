// DEQUANTIZE int8 -> float32 (contract in mcuformer/kernels.h).
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void dequantize_s8_f32(const int8_t* x, float* y, size_t n, float scale, int32_t zero_point) {
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(static_cast<int32_t>(x[i]) - zero_point) * scale;
  }
}

}  // namespace ref
}  // namespace mcuformer
