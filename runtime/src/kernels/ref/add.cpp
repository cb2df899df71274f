// ADD with broadcast of b over a's leading dims (contract in mcuformer/kernels.h).
#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void add_s8(const int8_t* a, const int8_t* b, int8_t* y, size_t n, size_t nb, int32_t a_zp, int32_t b_zp,
            int32_t output_zp, int32_t a_mult, int32_t b_mult, int32_t shift) {
  const int64_t round = int64_t{1} << (shift - 1);
  size_t j = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = (static_cast<int64_t>(static_cast<int32_t>(a[i]) - a_zp) * a_mult +
                       static_cast<int64_t>(static_cast<int32_t>(b[j]) - b_zp) * b_mult + round) >>
                      shift;
    y[i] = qmath::sat8(v + output_zp);
    if (++j == nb) j = 0;
  }
}

}  // namespace ref
}  // namespace mcuformer
