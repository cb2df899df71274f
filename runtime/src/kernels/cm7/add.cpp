// ADD for Cortex-M7 (contract in mcuformer/kernels.h; bit-exact with ref::add_s8).
//
// The reference needs int64: ((a - za) * ma + (b - zb) * mb + 2^(s-1)) >> s with |ma|, |mb| ~ 2^30. Here the whole
// expression, zero points and output zero point included, is T = a * ma + b * mb + C (C = 2^(s-1) - za*ma - zb*mb
// + zo * 2^s, int64) and y = sat8(floor(T / 2^s)). Splitting ma = 2^15 * mah + mal (0 <= mal < 2^15), the same for
// mb and C, gives T = 2^15 * H + L with
//   H = a * mah + b * mbh + Ch,   L = a * mal + b * mbl + Cl,
// and floor(T / 2^s) = floor((H + floor(L / 2^15)) / 2^(s - 15)) exactly (s >= 15). With the lanes [a, b] as two
// int16 halves, H and L are one SMLAD each. This path is taken only when it is provably exact for every int8 a, b:
// mah, mbh fit int16 and |H| + 256 < 2^31 (checked once per call in int64; L always fits: |L| < 2^24);
// otherwise the reference formula runs.
#include "../quant_math.h"
#include "gemv.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace cm7 {

namespace {

struct AddConsts {
  uint32_t mh, ml;  // [mah, mbh], [mal, mbl]
  int32_t ch, cl;
};

template <int F>
inline int8_t finish(int32_t h, int32_t l, int32_t f_rt) {
  const int32_t v = h + (l >> 15);
  const int32_t sh = F >= 0 ? F : f_rt;
#ifdef MCUFORMER_CM7_DSP
  return static_cast<int8_t>(__ssat(v >> sh, 8));
#else
  const int32_t r = v >> sh;
  return static_cast<int8_t>(r < -128 ? -128 : (r > 127 ? 127 : r));
#endif
}

// One element from its [a, b] lanes.
template <int F>
inline int8_t one(uint32_t ab, const AddConsts& k, int32_t f_rt) {
  return finish<F>(dsp::smlad(ab, k.mh, k.ch), dsp::smlad(ab, k.ml, k.cl), f_rt);
}

// y[i] = add(a[i], b[i]) for i < len (no broadcast inside).
template <int F>
void run(const int8_t* a, const int8_t* b, int8_t* y, size_t len, const AddConsts& k, int32_t f_rt) {
  const int8_t* const end4 = a + (len & ~size_t{3});
  while (a != end4) {
    const uint32_t va = dsp::load4(a), vb = dsp::load4(b);
    a += 4;
    b += 4;
    const uint32_t ae = dsp::sxtb16(va), ao = dsp::sxtb16_ror8(va);
    const uint32_t be = dsp::sxtb16(vb), bo = dsp::sxtb16_ror8(vb);
    y[0] = one<F>(gemv::pkhbt16(ae, be), k, f_rt);
    y[1] = one<F>(gemv::pkhbt16(ao, bo), k, f_rt);
    y[2] = one<F>(gemv::pkhtb16(ae, be), k, f_rt);
    y[3] = one<F>(gemv::pkhtb16(ao, bo), k, f_rt);
    y += 4;
  }
  for (size_t i = 0; i < (len & 3); ++i) {
    y[i] = one<F>(gemv::pack16(a[i], b[i]), k, f_rt);
  }
}

template <int F>
void run_bcast(const int8_t* a, const int8_t* b, int8_t* y, size_t n, size_t nb, const AddConsts& k, int32_t f_rt) {
  for (size_t i = 0; i < n; i += nb) run<F>(a + i, b, y + i, nb, k, f_rt);
}

}  // namespace

void add_s8(const int8_t* a, const int8_t* b, int8_t* y, size_t n, size_t nb, int32_t a_zp, int32_t b_zp,
            int32_t output_zp, int32_t a_mult, int32_t b_mult, int32_t shift) {
  // s <= 46 keeps C inside int64 (|zo * 2^s| <= 2^53, |za * ma| <= 2^38).
  if (shift >= 15 && shift <= 46) {
    const int64_t c = (int64_t{1} << (shift - 1)) - int64_t{a_zp} * a_mult - int64_t{b_zp} * b_mult +
                      int64_t{output_zp} * (int64_t{1} << shift);
    const int32_t mah = a_mult >> 15, mbh = b_mult >> 15;  // arithmetic: floor
    const int32_t mal = a_mult & 0x7FFF, mbl = b_mult & 0x7FFF;
    const int64_t ch = c >> 15, cl = c & 0x7FFF;
    const int64_t hmax = 128 * (int64_t{mah < 0 ? -mah : mah} + int64_t{mbh < 0 ? -mbh : mbh}) +
                         (ch < 0 ? -ch : ch);
    if (mah >= -32768 && mah <= 32767 && mbh >= -32768 && mbh <= 32767 && hmax + 512 < (int64_t{1} << 31)) {
      const AddConsts k{gemv::pack16(mah, mbh), gemv::pack16(mal, mbl), static_cast<int32_t>(ch),
                        static_cast<int32_t>(cl)};
      const int32_t f = shift - 15;
      switch (f) {  // the final shift as an immediate (SSAT ..., ASR #f) for the usual shifts
        case 12: run_bcast<12>(a, b, y, n, nb, k, f); return;
        case 13: run_bcast<13>(a, b, y, n, nb, k, f); return;
        case 14: run_bcast<14>(a, b, y, n, nb, k, f); return;
        case 15: run_bcast<15>(a, b, y, n, nb, k, f); return;
        case 16: run_bcast<16>(a, b, y, n, nb, k, f); return;
        case 17: run_bcast<17>(a, b, y, n, nb, k, f); return;
        default: run_bcast<-1>(a, b, y, n, nb, k, f); return;
      }
    }
  }
  ref::add_s8(a, b, y, n, nb, a_zp, b_zp, output_zp, a_mult, b_mult, shift);
}

}  // namespace cm7
}  // namespace mcuformer
