// Bit-exactness of the cm7 kernels against ref on the Cortex-M7 itself (run by tests/test_cm7_kernels_qemu.py).
// Random shapes and parameters (realistic ones on the fast paths, arbitrary ones on the int64 fallbacks).
#include <cmath>
#include <cstdio>
#include <vector>
#include "mcuformer/kernels.h"
static uint64_t st = 12345;
static uint32_t rnd() { st = st * 6364136223846793005ull + 1442695040888963407ull; return static_cast<uint32_t>(st >> 32); }
static int fails = 0;
#define CHECK(c) do { if (!(c)) { ++fails; std::printf("FAIL line %d iter %d\n", __LINE__, iter); } } while (0)
static void r8(std::vector<int8_t>& v, int mode) {
  for (auto& e : v) { const uint32_t q = rnd(); e = static_cast<int8_t>(mode == 0 ? q : (mode == 1 ? ((q & 1) ? 127 : -128) : static_cast<int>(q % 7) - 3)); }
}
int main() {
  long ln_fast = 0, ln_info = 0;
  for (int iter = 0; iter < 600; ++iter) {
    const int mode = iter % 3;
    const int wild = iter % 4 == 3;
    { // LAYERNORM, incl. gamma/beta that overflow int32 acc for some elements
      const int32_t C = 1 + static_cast<int32_t>(rnd() % 200);
      const size_t rows = 1 + rnd() % 2;
      std::vector<int8_t> x(rows * C), y1(rows * C), y2(rows * C);
      r8(x, mode);
      std::vector<int32_t> g(C), b(C);
      const int big = iter % 5 == 1;
      for (int32_t i = 0; i < C; ++i) {
        g[i] = (wild || (big && rnd() % 3 == 0)) ? static_cast<int32_t>(rnd()) : static_cast<int32_t>(rnd() % 8191) - 4095;
        b[i] = (wild || (big && rnd() % 3 == 0)) ? static_cast<int32_t>(rnd()) : static_cast<int32_t>(rnd() % (1u << 23)) - (1 << 22);
      }
      const int64_t eps = wild ? static_cast<int64_t>((uint64_t(rnd()) << 32 | rnd()) >> (rnd() % 64)) : static_cast<int64_t>(rnd() % 1000);
      const int32_t zo = static_cast<int32_t>(rnd() % 256) - 128;
      const int32_t mult = wild ? static_cast<int32_t>(rnd()) : static_cast<int32_t>((1u << 30) + rnd() % (1u << 30));
      const int32_t sh = wild ? 1 + static_cast<int32_t>(rnd() % 62) : 44 + static_cast<int32_t>(rnd() % 7);
      mcuformer::ref::layernorm_s8(x.data(), g.data(), b.data(), y1.data(), rows, C, eps, zo, mult, sh);
      mcuformer::cm7::layernorm_s8(x.data(), g.data(), b.data(), y2.data(), rows, C, eps, zo, mult, sh);
      CHECK(y1 == y2);
      ln_fast += !wild;
      for (auto v : y1) ln_info += (v != 127 && v != -128);
    }
    { // ADD
      const size_t nb = 1 + rnd() % 40, n = (iter % 2) ? nb * (1 + rnd() % 3) : nb;
      std::vector<int8_t> a(n), b(nb), y1(n), y2(n);
      r8(a, mode); r8(b, mode);
      const int32_t za = static_cast<int32_t>(rnd() % 256) - 128, zb = static_cast<int32_t>(rnd() % 256) - 128, zo = static_cast<int32_t>(rnd() % 256) - 128;
      int32_t ma = static_cast<int32_t>(rnd()), mb = static_cast<int32_t>(rnd()), sh = 1 + static_cast<int32_t>(rnd() % 62);
      if (!wild) { sh = 20 + static_cast<int32_t>(rnd() % 20); ma = static_cast<int32_t>((1u << 29) + rnd() % (1u << 29)); mb = static_cast<int32_t>(rnd() % (1u << 30)) - (1 << 29); }
      mcuformer::ref::add_s8(a.data(), b.data(), y1.data(), n, nb, za, zb, zo, ma, mb, sh);
      mcuformer::cm7::add_s8(a.data(), b.data(), y2.data(), n, nb, za, zb, zo, ma, mb, sh);
      CHECK(y1 == y2);
      mcuformer::ref::rescale_s8(a.data(), y1.data(), n, za, zo, ma, sh);
      mcuformer::cm7::rescale_s8(a.data(), y2.data(), n, za, zo, ma, sh);
      CHECK(y1 == y2);
    }
    { // SOFTMAX
      const int32_t L = 1 + static_cast<int32_t>(rnd() % 160);
      std::vector<int8_t> x(2 * L), y1(2 * L), y2(2 * L);
      r8(x, mode);
      std::vector<int32_t> lut(256);
      const int kind = static_cast<int>(rnd() % 3);
      for (int d = 0; d < 256; ++d) lut[d] = kind == 0 ? static_cast<int32_t>(1048576.0f * std::exp(-d * 0.05f) + 0.5f) : (kind == 1 ? static_cast<int32_t>(rnd() & 0x7FFFFFFF) : static_cast<int32_t>(rnd() % 3));
      if (lut[0] < 1) lut[0] = 1;
      mcuformer::ref::softmax_s8(x.data(), lut.data(), y1.data(), 2, L);
      mcuformer::cm7::softmax_s8(x.data(), lut.data(), y2.data(), 2, L);
      CHECK(y1 == y2);
    }
    { // MATMUL (both layouts; N 16/32/64 take the fixed-stride A x V loop; transpose_b with M >= 6 streams rows of
      // a through 6-row tiles of b, N % 6 any, shifts 33..62 with and without the one-constant requantization)
      static const int32_t Ns[] = {16, 32, 64, 1, 5, 13, 70, 6, 145};
      // M up to 20: 6-row tiles (gemm.h) with every remainder; K up to 160 and 1000 (fewer rows per tile)
      const int32_t N = Ns[rnd() % 9], K = 1 + static_cast<int32_t>(rnd() % (iter % 8 == 5 ? 1000 : 160));
      const int32_t M = 1 + static_cast<int32_t>(rnd() % (iter % 2 ? 20 : 3));
      std::vector<int8_t> a(M * K), b(K * N), z1(M * N), z2(M * N);
      r8(a, mode); r8(b, mode);
      const int32_t za = static_cast<int32_t>(rnd() % 256) - 128, zb = static_cast<int32_t>(rnd() % 256) - 128, zo = static_cast<int32_t>(rnd() % 256) - 128;
      const int32_t mm = static_cast<int32_t>(rnd()), sh = 1 + static_cast<int32_t>(rnd() % (iter % 3 ? 40 : 62));
      for (int tb = 0; tb < 2; ++tb) {
        mcuformer::ref::matmul_s8(a.data(), b.data(), z1.data(), 1, M, K, N, tb, za, zb, zo, mm, sh);
        mcuformer::cm7::matmul_s8(a.data(), b.data(), z2.data(), 1, M, K, N, tb, za, zb, zo, mm, sh);
        CHECK(z1 == z2);
      }
    }
  }
  // LINEAR: single rows (gemv.h) and 6-row tiles (gemm.h) with every remainder, K = 1..800 (tiles of fewer rows,
  // tails, rows read past the weights' end), with and without a LUT
  for (int iter = 0; iter < 300; ++iter) {
    const int mode = iter % 3;
    static const int32_t Ks[] = {192, 64, 172, 768, 576};
    const int32_t K = iter % 2 ? Ks[rnd() % 5] : 1 + static_cast<int32_t>(rnd() % 800);
    const int32_t N = 1 + static_cast<int32_t>(rnd() % 40), M = 1 + static_cast<int32_t>(rnd() % 14);
    std::vector<int8_t> x(M * K), w(N * K), lut(256), y1(M * N), y2(M * N);
    r8(x, mode); r8(w, mode); r8(lut, 0);
    std::vector<int32_t> bias(N), mult(N), shift(N);
    for (int32_t n = 0; n < N; ++n) {
      bias[n] = static_cast<int32_t>(rnd() % (1u << 21)) - (1 << 20);
      mult[n] = iter % 4 == 3 ? static_cast<int32_t>(rnd()) : static_cast<int32_t>((1u << 30) + rnd() % (1u << 30));
      shift[n] = iter % 4 == 3 ? 1 + static_cast<int32_t>(rnd() % 62) : 30 + static_cast<int32_t>(rnd() % 16);
    }
    const int32_t zo = static_cast<int32_t>(rnd() % 256) - 128;
    const int8_t* l = (iter % 3 == 1) ? lut.data() : nullptr;
    mcuformer::ref::linear_s8(x.data(), w.data(), bias.data(), mult.data(), shift.data(), l, zo, y1.data(), M, N, K);
    mcuformer::cm7::linear_s8(x.data(), w.data(), bias.data(), mult.data(), shift.data(), l, zo, y2.data(), M, N, K);
    CHECK(y1 == y2);
  }
  // CONV2D patch: tiles of up to 6 patches with every remainder, K chunks (C*P*Q up to 1200, e.g. 3 x 20 x 20),
  // channel blocks of 64 with a remainder, both output layouts, Q % 4 != 0 (reference fallback)
  for (int iter = 0; iter < 40; ++iter) {
    static const int32_t Qs[] = {4, 8, 12, 16, 20, 7};
    const int32_t C = 1 + static_cast<int32_t>(rnd() % 3), P = iter % 4 == 0 ? 20 : 1 + static_cast<int32_t>(rnd() % 8);
    const int32_t Q = iter % 4 == 0 ? 20 : Qs[rnd() % 6], gh = 1 + static_cast<int32_t>(rnd() % 3);
    const int32_t gw = 1 + static_cast<int32_t>(rnd() % 13), E = 1 + static_cast<int32_t>(rnd() % 80);
    const int32_t H = P * gh, W = Q * gw;
    std::vector<int8_t> x(C * H * W), w(E * C * P * Q), y1(E * gh * gw), y2(E * gh * gw);
    r8(x, iter % 3); r8(w, iter % 3);
    std::vector<int32_t> bias(E), mult(E), shift(E);
    for (int32_t e = 0; e < E; ++e) {
      bias[e] = static_cast<int32_t>(rnd() % (1u << 21)) - (1 << 20);
      mult[e] = static_cast<int32_t>((1u << 30) + rnd() % (1u << 30));
      shift[e] = 30 + static_cast<int32_t>(rnd() % 16);
    }
    const int32_t zo = static_cast<int32_t>(rnd() % 256) - 128;
    const bool tl = iter % 2;
    mcuformer::ref::conv2d_patch_s8(x.data(), C, H, W, w.data(), E, P, Q, bias.data(), mult.data(), shift.data(), zo, tl, y1.data());
    mcuformer::cm7::conv2d_patch_s8(x.data(), C, H, W, w.data(), E, P, Q, bias.data(), mult.data(), shift.data(), zo, tl, y2.data());
    CHECK(y1 == y2);
  }
  // QUANTIZE: random scales and values, ties, NaN, infinities, huge values, every zero point sign
  {
    int iter = -2;
    std::vector<float> x(4096);
    std::vector<int8_t> y1(4096), y2(4096);
    for (int rep = 0; rep < 8; ++rep) {
      for (size_t i = 0; i < x.size(); ++i) {
        const float u = static_cast<float>(static_cast<int32_t>(rnd())) / 2147483648.0f;
        x[i] = (i % 5 == 0) ? std::floor(u * 300.0f) + 0.5f : u * (rep % 2 ? 1000.0f : 3.0f);
      }
      const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f, -1e30f, 2.5f, -2.5f, 255.5f, -256.5f};
      for (size_t i = 0; i < sizeof(specials) / sizeof(float); ++i) x[i] = specials[i];
      const float inv = rep == 0 ? 1.0f : static_cast<float>(rnd() % 1000 + 1) / 97.0f;
      const int32_t zo = static_cast<int32_t>(rnd() % 256) - 128;
      mcuformer::ref::quantize_f32_s8(x.data(), y1.data(), x.size(), inv, zo);
      mcuformer::cm7::quantize_f32_s8(x.data(), y2.data(), x.size(), inv, zo);
      CHECK(y1 == y2);
    }
  }
  // ADD over all pairs
  {
    int iter = -1;
    std::vector<int8_t> a(65536), b(65536), y1(65536), y2(65536);
    for (int i = 0; i < 65536; ++i) { a[i] = static_cast<int8_t>(i & 0xFF); b[i] = static_cast<int8_t>(i >> 8); }
    mcuformer::ref::add_s8(a.data(), b.data(), y1.data(), 65536, 65536, 3, -7, 127, 536870913, 123456789, 29);
    mcuformer::cm7::add_s8(a.data(), b.data(), y2.data(), 65536, 65536, 3, -7, 127, 536870913, 123456789, 29);
    CHECK(y1 == y2);
  }
  std::printf("ktest: %d failures (%ld layernorm cases, %ld unsaturated outputs)\n", fails, ln_fast, ln_info);
  return fails ? 1 : 0;
}
