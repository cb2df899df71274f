// MATMUL int8 x int8 with zero points (contract in mcuformer/kernels.h).
#include "../quant_math.h"
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void matmul_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t batch, int32_t M, int32_t K, int32_t N,
               bool transpose_b, int32_t a_zp, int32_t b_zp, int32_t output_zp, int32_t mult, int32_t shift) {
  const size_t mk = static_cast<size_t>(M) * static_cast<size_t>(K);
  const size_t kn = static_cast<size_t>(K) * static_cast<size_t>(N);
  const size_t mn = static_cast<size_t>(M) * static_cast<size_t>(N);
  // b's stride along k and along n: [K, N] -> (N, 1); transposed [N, K] -> (1, K).
  const size_t sk = transpose_b ? 1 : static_cast<size_t>(N);
  const size_t sn = transpose_b ? static_cast<size_t>(K) : 1;
  for (int32_t bi = 0; bi < batch; ++bi) {
    const int8_t* ab = a + static_cast<size_t>(bi) * mk;
    const int8_t* bb = b + static_cast<size_t>(bi) * kn;
    int8_t* yb = y + static_cast<size_t>(bi) * mn;
    for (int32_t m = 0; m < M; ++m) {
      const int8_t* ar = ab + static_cast<size_t>(m) * static_cast<size_t>(K);
      for (int32_t n = 0; n < N; ++n) {
        const int8_t* bc = bb + static_cast<size_t>(n) * sn;
        uint32_t acc = 0;
        for (int32_t k = 0; k < K; ++k) {
          acc += static_cast<uint32_t>((static_cast<int32_t>(ar[k]) - a_zp) *
                                       (static_cast<int32_t>(bc[static_cast<size_t>(k) * sk]) - b_zp));
        }
        yb[static_cast<size_t>(m) * static_cast<size_t>(N) + static_cast<size_t>(n)] =
            qmath::sat8(qmath::requant(static_cast<int32_t>(acc), mult, shift) + output_zp);
      }
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
