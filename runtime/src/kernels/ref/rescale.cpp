// RESCALE (contract in mcuformer/kernels.h).
#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void rescale_s8(const int8_t* x, int8_t* y, size_t n, int32_t input_zp, int32_t output_zp, int32_t mult,
                int32_t shift) {
  for (size_t i = 0; i < n; ++i) {
    y[i] = qmath::sat8(qmath::requant(static_cast<int32_t>(x[i]) - input_zp, mult, shift) + output_zp);
  }
}

}  // namespace ref
}  // namespace mcuformer
