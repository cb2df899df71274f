// The Armv7E-M DSP instructions the Cortex-M7 kernels use, with a portable emulation so the same kernel source
// runs (and is tested bit-exact against the reference) on the host.
//   sxtb16(x)      : sign-extend bytes 0 and 2 of x into two int16 lanes
//   sxtb16_ror8(x) : the same for bytes 1 and 3 (SXTB16 with ROR #8)
//   smlad(a, b, c) : c + a.lo16 * b.lo16 + a.hi16 * b.hi16, 32-bit wrap-around (only the Q flag notes overflow)
//   smmla(a, b, c) : c + floor(a * b / 2^32) (the high word of the 64-bit product), 32-bit wrap-around
//   ssat8(x)       : clamp(x, -128, 127)
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define MCUFORMER_CM7_DSP 1
#endif

namespace mcuformer {
namespace cm7 {
namespace dsp {

inline uint32_t load4(const int8_t* p) {  // unaligned 32-bit load (LDR handles it on Cortex-M7)
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

#ifdef MCUFORMER_CM7_DSP
inline uint32_t sxtb16(uint32_t x) { return static_cast<uint32_t>(__sxtb16(static_cast<int32_t>(x))); }
inline uint32_t sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
inline int32_t smlad(uint32_t a, uint32_t b, int32_t c) {
  return __smlad(static_cast<int16x2_t>(a), static_cast<int16x2_t>(b), c);
}
inline int32_t smmla(int32_t a, int32_t b, int32_t c) {
  int32_t r;
  __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
  return r;
}
inline int8_t ssat8(int32_t x) { return static_cast<int8_t>(__ssat(x, 8)); }
#else
inline uint32_t lanes(int32_t lo, int32_t hi) {
  return (static_cast<uint32_t>(lo) & 0xFFFFu) | (static_cast<uint32_t>(hi) << 16);
}
inline uint32_t sxtb16(uint32_t x) {
  return lanes(static_cast<int8_t>(x & 0xFF), static_cast<int8_t>((x >> 16) & 0xFF));
}
inline uint32_t sxtb16_ror8(uint32_t x) { return sxtb16((x >> 8) | (x << 24)); }
inline int32_t smlad(uint32_t a, uint32_t b, int32_t c) {
  const int32_t p0 = static_cast<int16_t>(a & 0xFFFF) * static_cast<int16_t>(b & 0xFFFF);
  const int32_t p1 = static_cast<int16_t>(a >> 16) * static_cast<int16_t>(b >> 16);
  return static_cast<int32_t>(static_cast<uint32_t>(c) + static_cast<uint32_t>(p0) + static_cast<uint32_t>(p1));
}
inline int32_t smmla(int32_t a, int32_t b, int32_t c) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(int64_t{a} * b) >> 32) +
                              static_cast<uint32_t>(c));
}
inline int8_t ssat8(int32_t x) { return static_cast<int8_t>(x < -128 ? -128 : (x > 127 ? 127 : x)); }
#endif

}  // namespace dsp
}  // namespace cm7
}  // namespace mcuformer
