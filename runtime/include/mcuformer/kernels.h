// MCUFormer integer kernels: one function per op, one op per file (src/kernels/ref/<op>.cpp).
//
// The exact semantics of every op are the formulas in backend/serialization/schema.fbs; the numpy reference
// (mcuformer.backend.reference) is the golden model and every kernel here is bit-exact with it.
//
// Conventions for all kernels:
//  - Tensors are dense, row-major (C order), int8 unless stated. Dimensions are >= 1.
//  - No kernel allocates or needs planned scratch memory; every multiplier, shift, bias and table was computed ahead
//    of time. (The cm7 LINEAR / MATMUL widen their inputs into one fixed static buffer of the runtime, 9 KB:
//    src/kernels/cm7/gemm.h.)
//  - Parameter ranges below are guaranteed by model_load's semantic checks; kernels do not re-check them.
//  - Zero points of int8 tensors are in [-128, 127]; shifts in [1, 62]; multipliers any int32.
//  - 32-bit accumulators wrap (two's complement) instead of overflowing; valid blobs never wrap.
//  - Aliasing: the output may be exactly the input (same pointer) for the elementwise kernels (quantize excepted,
//    other dtype), rescale, lut, add (out == a), reshape (memmove); every other kernel needs disjoint input and
//    output buffers. Partial overlap is never allowed.
//  - Return: void. Kernels cannot fail once the model is loaded.
//
// Two implementations share these names and signatures: `mcuformer::ref` (portable C++, src/kernels/ref/) and
// `mcuformer::cm7` (Cortex-M7 DSP, src/kernels/cm7/, behind __ARM_FEATURE_DSP), bit-exact with each other; both
// run the same tests.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mcuformer {
namespace ref {

// QUANTIZE float32 -> int8: p = x[i] * inv_scale (float32 multiply, no FMA contraction); NaN -> 0;
// p = clamp(p, -256, 256); y[i] = sat8(rint_half_even(p) + zero_point) (nearbyintf, default rounding mode):
// bit-identical with numpy's np.rint(x.astype(np.float32) * np.float32(inv_scale)) (backend/quant_math.py).
void quantize_f32_s8(const float* x, int8_t* y, size_t n, float inv_scale, int32_t zero_point);

// DEQUANTIZE int8 -> float32: y[i] = float32(x[i] - zero_point) * scale (one float32 multiply).
void dequantize_s8_f32(const int8_t* x, float* y, size_t n, float scale, int32_t zero_point);

// LINEAR: x [M, K], weight [N, K], bias/mult/shift int32 [N], lut int8 [256] or nullptr, y [M, N].
// acc = bias[n] + sum_k x[m,k] * w[n,k] (int32); y = sat8(requant(acc, mult[n], shift[n]) + output_zp);
// with lut: y = lut[y + 128].
void linear_s8(const int8_t* x, const int8_t* weight, const int32_t* bias, const int32_t* mult, const int32_t* shift,
               const int8_t* lut, int32_t output_zp, int8_t* y, int32_t M, int32_t N, int32_t K);

// CONV2D patch embedding, kernel == stride, no padding: x [C, H, W] (batch 1), weight [E, C, P, Q],
// bias/mult/shift int32 [E]; H % P == 0, W % Q == 0. Output [E, H/P, W/Q] (tokens_layout false) or tokens
// [(H/P)*(W/Q), E] (tokens_layout true). acc as in LINEAR over (c, u, v).
void conv2d_patch_s8(const int8_t* x, int32_t C, int32_t H, int32_t W, const int8_t* weight, int32_t E, int32_t P,
                     int32_t Q, const int32_t* bias, const int32_t* mult, const int32_t* shift, int32_t output_zp,
                     bool tokens_layout, int8_t* y);

// MATMUL, `batch` independent products: a [batch, M, K], b [batch, K, N] (or [batch, N, K] with transpose_b),
// y [batch, M, N], K <= 32768 (so the int32 accumulator cannot wrap: 32768 * 255 * 255 < 2^31). acc = sum_k (a - a_zp) * (b - b_zp) (int32); y = sat8(requant(acc, mult, shift) + output_zp).
void matmul_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t batch, int32_t M, int32_t K, int32_t N,
               bool transpose_b, int32_t a_zp, int32_t b_zp, int32_t output_zp, int32_t mult, int32_t shift);

// ADD: a and y [n], b [nb] repeated over a (n % nb == 0; nb == n is the plain elementwise add).
// y = sat8(((int64(a - a_zp) * a_mult + int64(b - b_zp) * b_mult + (1 << (shift - 1))) >> shift) + output_zp).
void add_s8(const int8_t* a, const int8_t* b, int8_t* y, size_t n, size_t nb, int32_t a_zp, int32_t b_zp,
            int32_t output_zp, int32_t a_mult, int32_t b_mult, int32_t shift);

// RESCALE: y[i] = sat8(requant(x[i] - input_zp, mult, shift) + output_zp).
void rescale_s8(const int8_t* x, int8_t* y, size_t n, int32_t input_zp, int32_t output_zp, int32_t mult,
                int32_t shift);

// LUT: y[i] = lut[x[i] + 128], lut int8 [256].
void lut_s8(const int8_t* x, const int8_t* lut, int8_t* y, size_t n);

// LAYERNORM over rows of C (1 <= C <= 32768): x, y [rows, C], gamma/beta int32 [C], eps >= 0.
// s1 = sum x; d_i = C*x_i - s1; v = sum d_i^2 (uint64); sd = max(1, isqrt(v / C + eps)); inv = (1 << 40) / sd;
// n_i = (d_i * inv + (1 << 28)) >> 29; y_i = sat8(requant(n_i * gamma_i + beta_i, mult, shift) + output_zp)
// (int64 arithmetic throughout).
void layernorm_s8(const int8_t* x, const int32_t* gamma, const int32_t* beta, int8_t* y, size_t rows, int32_t C,
                  int64_t eps, int32_t output_zp, int32_t mult, int32_t shift);

// SOFTMAX over rows of L: x, y [rows, L], exp_lut int32 [256] with entries >= 0 and exp_lut[0] >= 1.
// m = max x; e_i = exp_lut[m - x_i]; s = sum e_i (int64); recip = (1 << 40) / s;
// y_i = sat8(((e_i * recip + (1 << 31)) >> 32) - 128). Output scale 1/256, zero point -128.
void softmax_s8(const int8_t* x, const int32_t* exp_lut, int8_t* y, size_t rows, int32_t L);

// MEAN: x viewed as [outer, reduce, inner] (reduce <= 2^23), y [outer, inner].
// y[o, i] = sat8(requant(sum_r (x[o, r, i] - input_zp), mult, shift) + output_zp).
void mean_s8(const int8_t* x, int8_t* y, int32_t outer, int32_t reduce, int32_t inner, int32_t input_zp,
             int32_t output_zp, int32_t mult, int32_t shift);

// PERMUTE of bytes: x has `rank` (1..6) dims in_shape; y = x.permute(perm), y's shape[d] = in_shape[perm[d]].
constexpr int32_t kMaxRank = 6;
void permute_s8(const int8_t* x, int8_t* y, int32_t rank, const int32_t* in_shape, const int32_t* perm);

// SLICE along one axis: x viewed as [outer, in_len, inner]; y [outer, out_len, inner] with
// y[o, j, i] = x[o, start + j * step, i]; start >= 0, step >= 1, start + step * (out_len - 1) < in_len.
void slice_s8(const int8_t* x, int8_t* y, size_t outer, int32_t in_len, size_t inner, int32_t start, int32_t step,
              int32_t out_len);

// CONCAT along one axis of `count` inputs viewed as [outer, lens[j], inner]; y [outer, sum lens, inner].
void concat_s8(const int8_t* const* xs, const int32_t* lens, int32_t count, size_t outer, size_t inner, int8_t* y);

// RESHAPE: a byte copy (memmove; nothing when x == y).
void reshape_s8(const int8_t* x, int8_t* y, size_t nbytes);

}  // namespace ref

// Cortex-M7 DSP variants (src/kernels/cm7/): same contracts, bit-exact with ref. They build everywhere (a portable
// emulation of SXTB16/SMLAD stands in on the host, so host tests cover them); model_run uses them when the target
// has __ARM_FEATURE_DSP, unless the build sets MCUFORMER_KERNELS=ref (CMake) for a scalar baseline.
namespace cm7 {
void quantize_f32_s8(const float* x, int8_t* y, size_t n, float inv_scale, int32_t zero_point);
void linear_s8(const int8_t* x, const int8_t* weight, const int32_t* bias, const int32_t* mult, const int32_t* shift,
               const int8_t* lut, int32_t output_zp, int8_t* y, int32_t M, int32_t N, int32_t K);
void matmul_s8(const int8_t* a, const int8_t* b, int8_t* y, int32_t batch, int32_t M, int32_t K, int32_t N,
               bool transpose_b, int32_t a_zp, int32_t b_zp, int32_t output_zp, int32_t mult, int32_t shift);
void conv2d_patch_s8(const int8_t* x, int32_t C, int32_t H, int32_t W, const int8_t* weight, int32_t E, int32_t P,
                     int32_t Q, const int32_t* bias, const int32_t* mult, const int32_t* shift, int32_t output_zp,
                     bool tokens_layout, int8_t* y);
void add_s8(const int8_t* a, const int8_t* b, int8_t* y, size_t n, size_t nb, int32_t a_zp, int32_t b_zp,
            int32_t output_zp, int32_t a_mult, int32_t b_mult, int32_t shift);
void layernorm_s8(const int8_t* x, const int32_t* gamma, const int32_t* beta, int8_t* y, size_t rows, int32_t C,
                  int64_t eps, int32_t output_zp, int32_t mult, int32_t shift);
void softmax_s8(const int8_t* x, const int32_t* exp_lut, int8_t* y, size_t rows, int32_t L);
void rescale_s8(const int8_t* x, int8_t* y, size_t n, int32_t input_zp, int32_t output_zp, int32_t mult,
                int32_t shift);
}  // namespace cm7

}  // namespace mcuformer
