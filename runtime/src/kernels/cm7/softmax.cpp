// SOFTMAX for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::softmax_s8).
//  - row max 4 bytes at a time (SSUB8 sets the per-byte GE flags, SEL keeps the larger bytes);
//  - m - x_i for 4 bytes with one USUB8 (m >= x_i, so each byte is the exact difference in 0..255), each table
//    index then one UXTB; the sum of the table entries in 64 bits (ADDS/ADC);
//  - y_i = sat8(((e_i * recip + 2^31) >> 32) - 128): e_i, recip < 2^32 (e_i * recip <= 2^40 since e_i <= s) give
//    one UMULL, the +2^31 and -128 fold into ADDS/ADC, SSAT. recip >= 2^32 (s < 256) takes the 64-bit formula.
#include "../quant_math.h"
#include "dsp.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

namespace {

// bytewise signed max of two words
inline uint32_t max8x4(uint32_t a, uint32_t b) {
#ifdef MCUFORMER_CM7_DSP
  uint32_t t, r;
  __asm__("ssub8 %0, %2, %3\n\tsel %1, %2, %3" : "=&r"(t), "=r"(r) : "r"(a), "r"(b) : "cc");
  (void)t;
  return r;
#else
  uint32_t r = 0;
  for (int k = 0; k < 32; k += 8) {
    const int8_t x = static_cast<int8_t>(a >> k), z = static_cast<int8_t>(b >> k);
    r |= static_cast<uint32_t>(static_cast<uint8_t>(x > z ? x : z)) << k;
  }
  return r;
#endif
}

// bytewise (m - x) mod 256 of four bytes, m replicated in every byte of mm
inline uint32_t sub8x4(uint32_t mm, uint32_t v) {
#ifdef MCUFORMER_CM7_DSP
  return static_cast<uint32_t>(__usub8(static_cast<uint8x4_t>(mm), static_cast<uint8x4_t>(v)));
#else
  uint32_t r = 0;
  for (int k = 0; k < 32; k += 8) r |= ((((mm >> k) & 0xFFu) - ((v >> k) & 0xFFu)) & 0xFFu) << k;
  return r;
#endif
}

inline int8_t out_elem(uint32_t e, uint32_t recip) {
  // (e * recip + 2^31) >> 32, minus 128: |value| <= 128 fits, then saturate
  const uint64_t p = static_cast<uint64_t>(e) * recip + (uint64_t{1} << 31);
  const int32_t r = static_cast<int32_t>(static_cast<uint32_t>(p >> 32)) - 128;
#ifdef MCUFORMER_CM7_DSP
  return static_cast<int8_t>(__ssat(r, 8));
#else
  return static_cast<int8_t>(r > 127 ? 127 : r);
#endif
}

}  // namespace

void softmax_s8(const int8_t* x, const int32_t* exp_lut, int8_t* y, size_t rows, int32_t L) {
  const size_t len = static_cast<size_t>(L);
  const size_t len4 = len & ~size_t{3};
  const uint32_t* lut = reinterpret_cast<const uint32_t*>(exp_lut);  // entries >= 0 (contract)
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* xr = x + r * len;
    int8_t* yr = y + r * len;
    uint32_t mx = 0x80808080u;
    for (size_t i = 0; i < len4; i += 4) mx = max8x4(mx, dsp::load4(xr + i));
    int32_t m = -128;
    for (int k = 0; k < 32; k += 8) {
      const int32_t b = static_cast<int8_t>(mx >> k);
      m = b > m ? b : m;
    }
    for (size_t i = len4; i < len; ++i) m = xr[i] > m ? xr[i] : m;
    const uint32_t mm = (static_cast<uint32_t>(m) & 0xFFu) * 0x01010101u;
    uint64_t s = 0;
    for (size_t i = 0; i < len4; i += 4) {
      const uint32_t d = sub8x4(mm, dsp::load4(xr + i));
      s += lut[d & 0xFF];
      s += lut[(d >> 8) & 0xFF];
      s += lut[(d >> 16) & 0xFF];
      s += lut[d >> 24];
    }
    for (size_t i = len4; i < len; ++i) s += lut[m - xr[i]];
    const int64_t recip = (int64_t{1} << 40) / static_cast<int64_t>(s);
    if (recip >= (int64_t{1} << 32)) {
      for (size_t i = 0; i < len; ++i) {
        const int64_t e = exp_lut[m - xr[i]];
        yr[i] = qmath::sat8(((e * recip + (int64_t{1} << 31)) >> 32) - 128);
      }
      continue;
    }
    const uint32_t rc = static_cast<uint32_t>(recip);
    for (size_t i = 0; i < len4; i += 4) {
      const uint32_t d = sub8x4(mm, dsp::load4(xr + i));
      yr[i] = out_elem(lut[d & 0xFF], rc);
      yr[i + 1] = out_elem(lut[(d >> 8) & 0xFF], rc);
      yr[i + 2] = out_elem(lut[(d >> 16) & 0xFF], rc);
      yr[i + 3] = out_elem(lut[d >> 24], rc);
    }
    for (size_t i = len4; i < len; ++i) yr[i] = out_elem(lut[m - xr[i]], rc);
  }
}

}  // namespace cm7
}  // namespace mcuformer
