// Multi-row core of the Cortex-M7 LINEAR and MATMUL(transpose_b) kernels when M >= 2 (internal to src/kernels/cm7/;
// MATMUL with M >= 6 widens tiles of b's rows instead and reads the rows of a as the "weights", matmul.cpp).
//
// A tile of R <= kMaxRows activation rows is widened once to int16 (zero point removed), interleaved per
// block of 4 inputs: block b of row r is the pair words [x0, x2], [x1, x3] at xw[2 * (b * R + r)] (the lane order
// SXTB16 / SXTB16 ROR 8 produce from a weight word). Then each weight row is read ONCE per tile: per 4 weights
// 1 LDR + 2 SXTB16, reused by the R rows, whose pair words come with LDM (4 words = 2 rows per instruction).
// With R = 6 and 16 inputs per iteration: 4 x (1 + 2 + 3 LDM + 12 SMLAD) + 3 = 75 instructions per 96 MACs.
// Exactness as in gemv.h: SMLAD sums the same products modulo 2^32.
#pragma once
#include <cstddef>
#include <cstdint>

#include "gemv.h"

namespace mcuformer {
namespace cm7 {
namespace gemm {

constexpr int32_t kMaxRows = 6;
// Words of the widened tile: R rows of kp inputs need R * kp / 2 words; 6 rows of the ViTs' widest input (an MLP
// hidden layer of 768) fit. 9 KB is more than the firmware's 8 KB stack can spare, so the tile is one static buffer
// of the runtime (firmware RAM next to the stack, not the planned arena), shared by the LINEAR and MATMUL kernels,
// which never run concurrently (one model_run at a time, as on the device).
constexpr int32_t kTileWords = 6 * 768 / 2;

// The tile buffer (kTileWords words, 8-byte aligned for LDM/LDRD).
uint32_t* tile_buffer();

// K rounded up to 16: the tile is zero-padded to whole 16-input iterations of the R = 6 loop.
inline int32_t padded(int32_t K) { return (K + 15) & ~15; }

// Rows per tile for K inputs: as many as the tile buffer holds, at most kMaxRows (0: none fits).
inline int32_t tile_rows(int32_t K) {
  const int32_t r = kTileWords * 2 / padded(K);
  return r < kMaxRows ? r : kMaxRows;
}

// Widens rows x[r * ldx + k] - zp (r < R, k < K) into the interleaved tile, zero-padded to padded(K) inputs.
inline void widen_rows(const int8_t* x, size_t ldx, int32_t R, int32_t K, int32_t zp, uint32_t* xw) {
  const int32_t k4 = K & ~3;
  const uint32_t zz = gemv::pack16(zp, zp);
  for (int32_t r = 0; r < R; ++r) {
    const int8_t* xr = x + static_cast<size_t>(r) * ldx;
    uint32_t* out = xw + 2 * r;
    for (int32_t k = 0; k < k4; k += 4) {
      const uint32_t v = dsp::load4(xr + k);
      out[0] = gemv::ssub16(dsp::sxtb16(v), zz);
      out[1] = gemv::ssub16(dsp::sxtb16_ror8(v), zz);
      out += 2 * R;
    }
    for (int32_t k = k4; k < padded(K); k += 4) {
      int32_t v[4] = {0, 0, 0, 0};
      for (int32_t j = k; j < K && j < k + 4; ++j) v[j - k] = static_cast<int32_t>(xr[j]) - zp;
      out[0] = gemv::pack16(v[0], v[2]);
      out[1] = gemv::pack16(v[1], v[3]);
      out += 2 * R;
    }
  }
}

// acc[r] += sum over nb blocks of 4 inputs of tile row r times the weight row w (r < R). Out of line (gemm.cpp):
// the R = 6 Thumb-2 loop pins all 14 allocatable registers.
void dot_rows(const uint32_t* xw, const int8_t* w, int32_t R, int32_t nb, int32_t* acc);

}  // namespace gemm
}  // namespace cm7
}  // namespace mcuformer
