// Out-of-line part of gemv.h: the 4-row SMLAD dot product (Thumb-2 on Cortex-M7, portable C elsewhere).
#include "gemv.h"

namespace mcuformer {
namespace cm7 {
namespace gemv {

// acc[r] += sum_{k < k4} xw(k) * w[r * ldw + k] for the 4 weight rows r = 0..3 (xw: pairs, k4 multiple of 4).
static void dot4_c(const uint32_t* xw, const int8_t* w, size_t ldw, int32_t k4, int32_t* acc) {
  const int8_t* p0 = w;
  const int8_t* p1 = w + ldw;
  const int8_t* p2 = p1 + ldw;
  const int8_t* p3 = p2 + ldw;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  const uint32_t* const end = xw + (k4 >> 1);
  while (xw != end) {
    const uint32_t xe = xw[0], xo = xw[1];
    xw += 2;
    uint32_t v = dsp::load4(p0);
    p0 += 4;
    a0 = dsp::smlad(xe, dsp::sxtb16(v), a0);
    a0 = dsp::smlad(xo, dsp::sxtb16_ror8(v), a0);
    v = dsp::load4(p1);
    p1 += 4;
    a1 = dsp::smlad(xe, dsp::sxtb16(v), a1);
    a1 = dsp::smlad(xo, dsp::sxtb16_ror8(v), a1);
    v = dsp::load4(p2);
    p2 += 4;
    a2 = dsp::smlad(xe, dsp::sxtb16(v), a2);
    a2 = dsp::smlad(xo, dsp::sxtb16_ror8(v), a2);
    v = dsp::load4(p3);
    p3 += 4;
    a3 = dsp::smlad(xe, dsp::sxtb16(v), a3);
    a3 = dsp::smlad(xo, dsp::sxtb16_ror8(v), a3);
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

#if defined(MCUFORMER_CM7_DSP) && defined(__thumb2__)
// The same loop in Thumb-2, 8 inputs per iteration: 2 x (LDRD pairs + 4 x (LDR + 2 SXTB16 + 2 SMLAD)) + CMP/BNE =
// 44 instructions per 32 MACs. gcc keeps four row pointers in registers only by spilling; here rows 1 and 3 are
// register offsets (ldw) from rows 0 and 2, whose post-increment loads advance both. Unaligned LDR is allowed.
void dot4(const uint32_t* xw, const int8_t* w, size_t ldw, int32_t k4, int32_t* acc) {
  const int32_t k8 = k4 & ~7;
  if (k8 != 0) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t* p0 = w;
    const int8_t* p2 = w + 2 * ldw;
    const uint32_t* const end = xw + (k8 >> 1);
    uint32_t xe, xo, v, t;
    __asm__ volatile(
        "1:\n\t"
        "ldrd   %[xe], %[xo], [%[xw]], #8\n\t"
        "ldr    %[v], [%[p0], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a1], %[xe], %[t], %[a1]\n\t"
        "smlad  %[a1], %[xo], %[v], %[a1]\n\t"
        "ldr    %[v], [%[p0]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a0], %[xe], %[t], %[a0]\n\t"
        "smlad  %[a0], %[xo], %[v], %[a0]\n\t"
        "ldr    %[v], [%[p2], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a3], %[xe], %[t], %[a3]\n\t"
        "smlad  %[a3], %[xo], %[v], %[a3]\n\t"
        "ldr    %[v], [%[p2]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a2], %[xe], %[t], %[a2]\n\t"
        "smlad  %[a2], %[xo], %[v], %[a2]\n\t"
        "ldrd   %[xe], %[xo], [%[xw]], #8\n\t"
        "ldr    %[v], [%[p0], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a1], %[xe], %[t], %[a1]\n\t"
        "smlad  %[a1], %[xo], %[v], %[a1]\n\t"
        "ldr    %[v], [%[p0]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a0], %[xe], %[t], %[a0]\n\t"
        "smlad  %[a0], %[xo], %[v], %[a0]\n\t"
        "ldr    %[v], [%[p2], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a3], %[xe], %[t], %[a3]\n\t"
        "smlad  %[a3], %[xo], %[v], %[a3]\n\t"
        "ldr    %[v], [%[p2]], #4\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a2], %[xe], %[t], %[a2]\n\t"
        "smlad  %[a2], %[xo], %[v], %[a2]\n\t"
        "cmp    %[xw], %[end]\n\t"
        "bne    1b\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xw] "+r"(xw), [p0] "+r"(p0),
          [p2] "+r"(p2), [xe] "=&r"(xe), [xo] "=&r"(xo), [v] "=&r"(v), [t] "=&r"(t)
        : [ldw] "r"(ldw), [end] "r"(end)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    w = p0;  // advanced by k8 bytes
  }
  if (k4 != k8) {  // one block of 4 inputs left; xw and w already advanced past k8
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t* p2 = w + 2 * ldw;
    uint32_t xe, xo, v, t;
    __asm__ volatile(
        "ldrd   %[xe], %[xo], [%[xw]]\n\t"
        "ldr    %[v], [%[p0], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a1], %[xe], %[t], %[a1]\n\t"
        "smlad  %[a1], %[xo], %[v], %[a1]\n\t"
        "ldr    %[v], [%[p0]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a0], %[xe], %[t], %[a0]\n\t"
        "smlad  %[a0], %[xo], %[v], %[a0]\n\t"
        "ldr    %[v], [%[p2], %[ldw]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a3], %[xe], %[t], %[a3]\n\t"
        "smlad  %[a3], %[xo], %[v], %[a3]\n\t"
        "ldr    %[v], [%[p2]]\n\t"
        "sxtb16 %[t], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad  %[a2], %[xe], %[t], %[a2]\n\t"
        "smlad  %[a2], %[xo], %[v], %[a2]\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xe] "=&r"(xe), [xo] "=&r"(xo),
          [v] "=&r"(v), [t] "=&r"(t)
        : [xw] "r"(xw), [p0] "r"(w), [p2] "r"(p2), [ldw] "r"(ldw)
        : "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
  }
}
#else
void dot4(const uint32_t* xw, const int8_t* w, size_t ldw, int32_t k4, int32_t* acc) {
  dot4_c(xw, w, ldw, k4, acc);
}
#endif

}  // namespace gemv
}  // namespace cm7
}  // namespace mcuformer
