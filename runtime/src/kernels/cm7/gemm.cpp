// Out-of-line part of gemm.h: one weight row against a widened tile of R activation rows.
#include "gemm.h"

namespace mcuformer {
namespace cm7 {
namespace gemm {

namespace {

template <int R>
void dot_rows_c(const uint32_t* xw, const int8_t* w, int32_t nb, int32_t* acc) {
  int32_t a[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) a[r] = acc[r];
  for (int32_t b = 0; b < nb; ++b) {
    const uint32_t v = dsp::load4(w);
    w += 4;
    const uint32_t e = dsp::sxtb16(v), o = dsp::sxtb16_ror8(v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      a[r] = dsp::smlad(xw[2 * r], e, a[r]);
      a[r] = dsp::smlad(xw[2 * r + 1], o, a[r]);
    }
    xw += 2 * R;
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = a[r];
}

#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
// R = 6, 16 inputs per iteration (75 instructions per 96 MACs). LDM needs ascending register numbers, so every operand is pinned; the end pointer
// lives on the stack and is reloaded into a dead pair register for the loop test.
void dot6_asm(const uint32_t* xw, const int8_t* w, int32_t nb4, int32_t* acc) {
  register int32_t a0 asm("r0") = acc[0];
  register int32_t a1 asm("r1") = acc[1];
  register int32_t a2 asm("r2") = acc[2];
  register int32_t a3 asm("r3") = acc[3];
  register int32_t a4 asm("r4") = acc[4];
  register int32_t a5 asm("r5") = acc[5];
  register const uint32_t* q asm("r10") = xw;
  register const int8_t* p asm("r11") = w;
  register uint32_t x0 asm("r6");
  register uint32_t x1 asm("r7");
  register uint32_t x2 asm("r8");
  register uint32_t x3 asm("r9");
  register uint32_t v asm("r12");
  register uint32_t t asm("lr");
  const int8_t* volatile end = w + 4 * nb4;
#define MCUFORMER_GEMM_BLOCK6                              \
  "ldr    %[v], [%[p]], #4\n\t"                           \
  "sxtb16 %[t], %[v]\n\t"                                 \
  "sxtb16 %[v], %[v], ror #8\n\t"                         \
  "ldmia  %[q]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"        \
  "smlad  %[a0], %[x0], %[t], %[a0]\n\t"                  \
  "smlad  %[a0], %[x1], %[v], %[a0]\n\t"                  \
  "smlad  %[a1], %[x2], %[t], %[a1]\n\t"                  \
  "smlad  %[a1], %[x3], %[v], %[a1]\n\t"                  \
  "ldmia  %[q]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"        \
  "smlad  %[a2], %[x0], %[t], %[a2]\n\t"                  \
  "smlad  %[a2], %[x1], %[v], %[a2]\n\t"                  \
  "smlad  %[a3], %[x2], %[t], %[a3]\n\t"                  \
  "smlad  %[a3], %[x3], %[v], %[a3]\n\t"                  \
  "ldmia  %[q]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"        \
  "smlad  %[a4], %[x0], %[t], %[a4]\n\t"                  \
  "smlad  %[a4], %[x1], %[v], %[a4]\n\t"                  \
  "smlad  %[a5], %[x2], %[t], %[a5]\n\t"                  \
  "smlad  %[a5], %[x3], %[v], %[a5]\n\t"
  __asm__ volatile(
      "1:\n\t"
      MCUFORMER_GEMM_BLOCK6
      MCUFORMER_GEMM_BLOCK6
      MCUFORMER_GEMM_BLOCK6
      MCUFORMER_GEMM_BLOCK6
      "ldr    %[x0], %[end]\n\t"
      "cmp    %[p], %[x0]\n\t"
      "bne    1b\n\t"
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), [a5] "+r"(a5), [q] "+r"(q),
        [p] "+r"(p), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [v] "=&r"(v), [t] "=&r"(t)
      : [end] "m"(end)
      : "cc", "memory");
#undef MCUFORMER_GEMM_BLOCK6
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  acc[4] = a4;
  acc[5] = a5;
}
#endif

alignas(8) uint32_t g_tile[kTileWords];

}  // namespace

uint32_t* tile_buffer() { return g_tile; }

void dot_rows(const uint32_t* xw, const int8_t* w, int32_t R, int32_t nb, int32_t* acc) {
  switch (R) {
    case 6: {
#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
      const int32_t nb4 = nb & ~3;
      if (nb4 != 0) dot6_asm(xw, w, nb4, acc);
      if (nb4 != nb) dot_rows_c<6>(xw + 2 * 6 * nb4, w + 4 * nb4, nb - nb4, acc);
#else
      dot_rows_c<6>(xw, w, nb, acc);
#endif
      break;
    }
    case 5: dot_rows_c<5>(xw, w, nb, acc); break;
    case 4: dot_rows_c<4>(xw, w, nb, acc); break;
    case 3: dot_rows_c<3>(xw, w, nb, acc); break;
    case 2: dot_rows_c<2>(xw, w, nb, acc); break;
    default: dot_rows_c<1>(xw, w, nb, acc); break;
  }
}

}  // namespace gemm
}  // namespace cm7
}  // namespace mcuformer
