// LUT: any int8 -> int8 elementwise function (contract in mcuformer/kernels.h).
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void lut_s8(const int8_t* x, const int8_t* lut, int8_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = lut[static_cast<int32_t>(x[i]) + 128];
}

}  // namespace ref
}  // namespace mcuformer
