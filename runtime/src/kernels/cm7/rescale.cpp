// RESCALE for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::rescale_s8).
// The same exact 32-bit split as ADD (cm7/add.cpp) with one operand: y = sat8(floor(T / 2^s)) with
// T = x * m + C, C = 2^(s-1) - input_zp * m + output_zp * 2^s (int64); m = 2^15 mh + ml (0 <= ml < 2^15),
// C = 2^15 Ch + Cl: floor(T / 2^s) = floor((x * mh + Ch + floor((x * ml + Cl) / 2^15)) / 2^(s - 15)), two MLAs,
// taken when |x * mh + Ch| + 256 < 2^31 for every int8 x (checked once per call); the reference runs otherwise.
#include "../quant_math.h"
#include "dsp.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

void rescale_s8(const int8_t* x, int8_t* y, size_t n, int32_t input_zp, int32_t output_zp, int32_t mult,
                int32_t shift) {
  if (shift >= 15 && shift <= 46) {
    const int64_t c = (int64_t{1} << (shift - 1)) - int64_t{input_zp} * mult +
                      int64_t{output_zp} * (int64_t{1} << shift);
    const int32_t mh = mult >> 15, ml = mult & 0x7FFF;
    const int64_t ch = c >> 15;
    const int64_t hmax = 128 * int64_t{mh < 0 ? -mh : mh} + (ch < 0 ? -ch : ch);
    if (hmax + 512 < (int64_t{1} << 31)) {
      const int32_t h0 = static_cast<int32_t>(ch), l0 = static_cast<int32_t>(c & 0x7FFF), f = shift - 15;
      for (size_t i = 0; i < n; ++i) {
        const int32_t xv = x[i];
        const int32_t r = (xv * mh + h0 + ((xv * ml + l0) >> 15)) >> f;
#ifdef MCUFORMER_CM7_DSP
        y[i] = static_cast<int8_t>(__ssat(r, 8));
#else
        y[i] = static_cast<int8_t>(r < -128 ? -128 : (r > 127 ? 127 : r));
#endif
      }
      return;
    }
  }
  ref::rescale_s8(x, y, n, input_zp, output_zp, mult, shift);
}

}  // namespace cm7
}  // namespace mcuformer
