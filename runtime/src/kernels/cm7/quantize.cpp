// QUANTIZE float32 -> int8 for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::quantize_f32_s8).
// One VMUL and one VCVTR.S32.F32 per element: VCVTR rounds with the FPSCR mode (round to nearest even, the default
// the reference's nearbyintf also uses), converts NaN to 0 and saturates at the int32 range; SSAT to 10 bits then
// keeps r + zero_point inside int32 and equals the reference's clamp of p to [-256, 256] after the final sat8
// (|r| >= 256 saturates either way, |zero_point| <= 128).
#include "mcuformer/kernels.h"

#if defined(__ARM_FP) && defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define MCUFORMER_CM7_VCVT 1
#endif

namespace mcuformer {
namespace cm7 {

void quantize_f32_s8(const float* x, int8_t* y, size_t n, float inv_scale, int32_t zero_point) {
#ifdef MCUFORMER_CM7_VCVT
  for (size_t i = 0; i < n; ++i) {
    const float p = x[i] * inv_scale;
    float r;
    __asm__("vcvtr.s32.f32 %0, %1" : "=t"(r) : "t"(p));
    int32_t q;
    __asm__("vmov %0, %1" : "=r"(q) : "t"(r));
    y[i] = static_cast<int8_t>(__ssat(__ssat(q, 10) + zero_point, 8));
  }
#else
  ref::quantize_f32_s8(x, y, n, inv_scale, zero_point);
#endif
}

}  // namespace cm7
}  // namespace mcuformer
