// QUANTIZE float32 -> int8 (contract in mcuformer/kernels.h). Compiled with -ffp-contract=off.
#include <cmath>

#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void quantize_f32_s8(const float* x, int8_t* y, size_t n, float inv_scale, int32_t zero_point) {
  for (size_t i = 0; i < n; ++i) {
    float p = x[i] * inv_scale;  // one float32 rounding, like numpy's float32 multiply
    if (!(p == p)) p = 0.0f;     // NaN counts as 0
    if (p > 256.0f) p = 256.0f;  // keeps infinities out of the integer conversion; never changes a result
    if (p < -256.0f) p = -256.0f;
    const float r = std::nearbyint(p);  // round half to even (default rounding mode)
    y[i] = qmath::sat8(static_cast<int64_t>(static_cast<int32_t>(r)) + zero_point);
  }
}

}  // namespace ref
}  // namespace mcuformer
