// LINEAR int8 x int8 -> int32 -> int8 (contract in mcuformer/kernels.h).
// Weight rows are contiguous in K, so the inner loop is a plain dot product; two output channels share each
// activation load (the Cortex-M7 DSP variant in src/kernels/cm7/ packs pairs with SXTB16 and uses SMLAD).
#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

namespace {
inline int8_t finish(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp, const int8_t* lut) {
  const int8_t q = qmath::sat8(qmath::requant(acc, mult, shift) + output_zp);
  return lut ? lut[static_cast<int32_t>(q) + 128] : q;
}
}  // namespace

void linear_s8(const int8_t* x, const int8_t* weight, const int32_t* bias, const int32_t* mult, const int32_t* shift,
               const int8_t* lut, int32_t output_zp, int8_t* y, int32_t M, int32_t N, int32_t K) {
  const size_t k_len = static_cast<size_t>(K);
  for (int32_t m = 0; m < M; ++m) {
    const int8_t* xr = x + static_cast<size_t>(m) * k_len;
    int8_t* yr = y + static_cast<size_t>(m) * static_cast<size_t>(N);
    int32_t n = 0;
    for (; n + 1 < N; n += 2) {
      const int8_t* w0 = weight + static_cast<size_t>(n) * k_len;
      const int8_t* w1 = w0 + k_len;
      uint32_t acc0 = static_cast<uint32_t>(bias[n]);
      uint32_t acc1 = static_cast<uint32_t>(bias[n + 1]);
      for (size_t k = 0; k < k_len; ++k) {
        const int32_t xv = xr[k];
        acc0 += static_cast<uint32_t>(xv * w0[k]);
        acc1 += static_cast<uint32_t>(xv * w1[k]);
      }
      yr[n] = finish(static_cast<int32_t>(acc0), mult[n], shift[n], output_zp, lut);
      yr[n + 1] = finish(static_cast<int32_t>(acc1), mult[n + 1], shift[n + 1], output_zp, lut);
    }
    if (n < N) {
      const int8_t* w0 = weight + static_cast<size_t>(n) * k_len;
      uint32_t acc0 = static_cast<uint32_t>(bias[n]);
      for (size_t k = 0; k < k_len; ++k) acc0 += static_cast<uint32_t>(static_cast<int32_t>(xr[k]) * w0[k]);
      yr[n] = finish(static_cast<int32_t>(acc0), mult[n], shift[n], output_zp, lut);
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
