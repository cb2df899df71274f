// LINEAR for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::linear_s8).
// Two output channels per pass share each activation word: per 4 inputs, 1 load + 2 SXTB16 for x, and per
// channel 1 load + 2 SXTB16 + 2 SMLAD. The int32 accumulator wraps exactly like the reference's.
#include "../quant_math.h"
#include "dsp.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

namespace {
inline int8_t finish(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp, const int8_t* lut) {
  const int8_t q = qmath::sat8(qmath::requant(acc, mult, shift) + output_zp);
  return lut ? lut[static_cast<int32_t>(q) + 128] : q;
}
inline int32_t tail(const int8_t* x, const int8_t* w, int32_t k, int32_t K, int32_t acc) {
  for (; k < K; ++k) acc = qmath::wrap_add(acc, static_cast<int32_t>(x[k]) * w[k]);
  return acc;
}
}  // namespace

void linear_s8(const int8_t* x, const int8_t* weight, const int32_t* bias, const int32_t* mult, const int32_t* shift,
               const int8_t* lut, int32_t output_zp, int8_t* y, int32_t M, int32_t N, int32_t K) {
  const size_t k_len = static_cast<size_t>(K);
  const int32_t k4 = K & ~3;
  for (int32_t m = 0; m < M; ++m) {
    const int8_t* xr = x + static_cast<size_t>(m) * k_len;
    int8_t* yr = y + static_cast<size_t>(m) * static_cast<size_t>(N);
    int32_t n = 0;
    for (; n + 1 < N; n += 2) {
      const int8_t* w0 = weight + static_cast<size_t>(n) * k_len;
      const int8_t* w1 = w0 + k_len;
      int32_t acc0 = bias[n];
      int32_t acc1 = bias[n + 1];
      for (int32_t k = 0; k < k4; k += 4) {
        const uint32_t xv = dsp::load4(xr + k);
        const uint32_t x02 = dsp::sxtb16(xv), x13 = dsp::sxtb16_ror8(xv);
        const uint32_t a = dsp::load4(w0 + k);
        acc0 = dsp::smlad(x02, dsp::sxtb16(a), acc0);
        acc0 = dsp::smlad(x13, dsp::sxtb16_ror8(a), acc0);
        const uint32_t b = dsp::load4(w1 + k);
        acc1 = dsp::smlad(x02, dsp::sxtb16(b), acc1);
        acc1 = dsp::smlad(x13, dsp::sxtb16_ror8(b), acc1);
      }
      acc0 = tail(xr, w0, k4, K, acc0);
      acc1 = tail(xr, w1, k4, K, acc1);
      yr[n] = finish(acc0, mult[n], shift[n], output_zp, lut);
      yr[n + 1] = finish(acc1, mult[n + 1], shift[n + 1], output_zp, lut);
    }
    if (n < N) {
      const int8_t* w0 = weight + static_cast<size_t>(n) * k_len;
      int32_t acc0 = bias[n];
      for (int32_t k = 0; k < k4; k += 4) {
        const uint32_t xv = dsp::load4(xr + k);
        const uint32_t a = dsp::load4(w0 + k);
        acc0 = dsp::smlad(dsp::sxtb16(xv), dsp::sxtb16(a), acc0);
        acc0 = dsp::smlad(dsp::sxtb16_ror8(xv), dsp::sxtb16_ror8(a), acc0);
      }
      yr[n] = finish(tail(xr, w0, k4, K, acc0), mult[n], shift[n], output_zp, lut);
    }
  }
}

}  // namespace cm7
}  // namespace mcuformer
