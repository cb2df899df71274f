// Loader and kernel tests for the runtime core. Built as mcuformer_cpp_tests; the sanitizer build (ASan + UBSan,
// -DMCUFORMER_SANITIZE=ON) runs the same binary, so every fuzzed blob below is also a memory-safety check.
#include <algorithm>
#include <cmath>

#include "../../runtime/src/kernels/quant_math.h"
#include "mcuformer/kernels.h"
#include "test_util.h"

using mcuformer::IoTensor;
using mcuformer::Status;
namespace fb = mcuformer_fb;
using DT = fb::DType;

namespace {

// One program using all 15 op kinds: a tiny ViT-like chain with float input and two outputs (float and int8).
struct AllOps {
  std::vector<uint8_t> blob;
  std::vector<float> x = std::vector<float>(32);
  std::vector<float> y = std::vector<float>(6);
  std::vector<int8_t> r = std::vector<int8_t>(30);
  std::vector<IoTensor> ins() { return {{x.data(), mcuformer::DType::kFloat32, x.size() * 4}}; }
  std::vector<IoTensor> outs() {
    return {{y.data(), mcuformer::DType::kFloat32, y.size() * 4}, {r.data(), mcuformer::DType::kInt8, r.size()}};
  }
};

std::vector<int8_t> ramp(size_t n, int start, int step) {
  std::vector<int8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<int8_t>((start + static_cast<int>(i) * step) % 256 - 128);
  return v;
}

AllOps build_all_ops() {
  AllOps m;
  for (size_t i = 0; i < m.x.size(); ++i) m.x[i] = std::sin(static_cast<float>(i)) * 3.0f;
  t::ProgramBuilder b;
  auto& f = b.fbb();
  const std::vector<int32_t> e6(6, 0), m6(6, 1 << 30), s6(6, 38), m12(12, 1 << 30), s12(12, 36);
  const int x = b.tensor({1, 2, 4, 4}, DT::FLOAT32);
  const int q = b.tensor({1, 2, 4, 4}, DT::INT8, 0);
  b.op(fb::OpParams::QuantizeParams, fb::CreateQuantizeParams(f, 20.0f, 3).Union(), {x}, {q});
  const int cw = b.constant({6, 2, 2, 2}, DT::INT8, ramp(48, 7, 37));
  const int cb = b.constant({6}, DT::INT32, std::vector<int32_t>{100, -100, 50, 0, 7, -9});
  const int cm = b.constant({6}, DT::INT32, m6);
  const int cs = b.constant({6}, DT::INT32, std::vector<int32_t>{33, 34, 35, 36, 37, 38});
  const int tok = b.tensor({4, 6}, DT::INT8, 32);
  b.op(fb::OpParams::Conv2dParams, fb::CreateConv2dParams(f, -5, true).Union(), {q, cw, cb, cm, cs}, {tok});
  const int cls = b.constant({1, 6}, DT::INT8, ramp(6, 3, 50));
  const int seq = b.tensor({5, 6}, DT::INT8, 56);
  b.op(fb::OpParams::ConcatParams, fb::CreateConcatParams(f, 0).Union(), {cls, tok}, {seq});
  const int gamma = b.constant({6}, DT::INT32, std::vector<int32_t>{2048, 1000, -3000, 4096, 1, 77});
  const int beta = b.constant({6}, DT::INT32, std::vector<int32_t>{0, 1 << 20, -(1 << 20), 5, 6, 7});
  const int ln = b.tensor({5, 6}, DT::INT8, 86);
  b.op(fb::OpParams::LayerNormParams, fb::CreateLayerNormParams(f, 1, 2, 1 << 30, 42).Union(), {seq, gamma, beta},
       {ln});
  const int lw = b.constant({12, 6}, DT::INT8, ramp(72, 11, 29));
  const int lb = b.constant({12}, DT::INT32, std::vector<int32_t>(12, 64));
  const int lm = b.constant({12}, DT::INT32, m12);
  const int ls = b.constant({12}, DT::INT32, s12);
  const int lut = b.constant({256}, DT::INT8, ramp(256, 0, 1));
  const int qkv = b.tensor({5, 12}, DT::INT8, 116);
  b.op(fb::OpParams::LinearParams, fb::CreateLinearParams(f, 4, true).Union(), {ln, lw, lb, lm, ls, lut}, {qkv});
  const int qq = b.tensor({5, 6}, DT::INT8, 176);
  const int kk = b.tensor({5, 6}, DT::INT8, 206);
  b.op(fb::OpParams::SliceParams, fb::CreateSliceParams(f, 1, 0, 1).Union(), {qkv}, {qq});
  b.op(fb::OpParams::SliceParams, fb::CreateSliceParams(f, -1, 6, 1).Union(), {qkv}, {kk});
  const int sc = b.tensor({5, 5}, DT::INT8, 236);
  b.op(fb::OpParams::MatmulParams, fb::CreateMatmulParams(f, 1, -2, 3, 1 << 30, 40, true).Union(), {qq, kk}, {sc});
  std::vector<int32_t> exp_lut(256);
  for (int d = 0; d < 256; ++d) exp_lut[d] = static_cast<int32_t>(std::lround(1048576.0 * std::exp(-d * 0.05)));
  const int el = b.constant({256}, DT::INT32, exp_lut);
  const int pr = b.tensor({5, 5}, DT::INT8, 261);
  b.op(fb::OpParams::SoftmaxParams, fb::CreateSoftmaxParams(f).Union(), {sc, el}, {pr});
  const int at = b.tensor({5, 6}, DT::INT8, 286);
  b.op(fb::OpParams::MatmulParams, fb::CreateMatmulParams(f, -128, 0, 0, 1 << 30, 38, false).Union(), {pr, qq},
       {at});
  const int r = b.tensor({5, 6}, DT::INT8, 316);
  b.op(fb::OpParams::AddParams, fb::CreateAddParams(f, 0, 1, -1, 1 << 29, 3 << 28, 30).Union(), {at, seq}, {r});
  const int rs = b.tensor({5, 6}, DT::INT8, 346);
  b.op(fb::OpParams::RescaleParams, fb::CreateRescaleParams(f, 1, 2, -(1 << 30), 31).Union(), {r}, {rs});
  const int g = b.tensor({5, 6}, DT::INT8, 376);
  b.op(fb::OpParams::LutParams, fb::CreateLutParams(f).Union(), {rs, lut}, {g});
  const int gp = b.tensor({6, 5}, DT::INT8, 406);
  b.op(fb::OpParams::PermuteParams, fb::CreatePermuteParams(f, f.CreateVector(std::vector<int32_t>{1, 0})).Union(),
       {g}, {gp});
  const int mn = b.tensor({6}, DT::INT8, 436);
  b.op(fb::OpParams::MeanParams, fb::CreateMeanParams(f, 6, 5, 1, 0, 0, 1 << 30, 32).Union(), {gp}, {mn});
  const int mr = b.tensor({1, 6}, DT::INT8, 442);
  b.op(fb::OpParams::ReshapeParams, fb::CreateReshapeParams(f).Union(), {mn}, {mr});
  const int y = b.tensor({1, 6}, DT::FLOAT32);
  b.op(fb::OpParams::DequantizeParams, fb::CreateDequantizeParams(f, 0.125f, 1).Union(), {mr}, {y});
  m.blob = b.finish({x}, {y, r}, 448);
  return m;
}

Status load(const std::vector<uint8_t>& blob) {
  t::Aligned a(blob);
  mcuformer::Model model;
  return mcuformer::model_load(a.ptr, a.size, &model);
}

std::vector<uint8_t> rewrap(const std::vector<uint8_t>& blob) {
  return t::wrap(blob.data() + mcuformer::kBlobHeaderSize, blob.size() - mcuformer::kBlobHeaderSize);
}

}  // namespace

TEST(crc32_check_value) {
  const char* s = "123456789";
  CHECK_EQ(mcuformer::crc32(0, reinterpret_cast<const uint8_t*>(s), 9), 0xCBF43926u);
  CHECK_EQ(mcuformer::crc32(mcuformer::crc32(0, reinterpret_cast<const uint8_t*>(s), 4),
                            reinterpret_cast<const uint8_t*>(s) + 4, 5),
           0xCBF43926u);
}

TEST(isqrt64_exact) {
  using mcuformer::qmath::isqrt64;
  CHECK_EQ(isqrt64(0), 0);
  CHECK_EQ(isqrt64(1), 1);
  CHECK_EQ(isqrt64(3), 1);
  CHECK_EQ(isqrt64(4), 2);
  CHECK(isqrt64(UINT64_MAX) == 0xFFFFFFFFull);
  uint64_t s = 1;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t v = t::rng_next(&s) >> (t::rng_next(&s) % 64);
    const uint64_t r = isqrt64(v);
    CHECK(r * r <= v);
    CHECK(r == 0xFFFFFFFFull || (r + 1) * (r + 1) > v);
  }
  for (uint64_t r = 1; r < 5000000000ull; r = r * 3 + 1) {  // around perfect squares
    CHECK(isqrt64(r * r) == r);
    CHECK(isqrt64(r * r - 1) == r - 1);
  }
}

TEST(requant_rounds_half_up_and_extremes) {
  using mcuformer::qmath::requant;
  CHECK_EQ(requant(3, 1, 1), 2);    // 1.5 -> 2
  CHECK_EQ(requant(-3, 1, 1), -1);  // -1.5 -> -1 (round half up, arithmetic shift)
  CHECK_EQ(requant(INT32_MIN, INT32_MIN, 1), (int64_t{1} << 61) + 0);
  CHECK_EQ(requant(INT32_MAX, INT32_MIN, 62), -1);
  CHECK_EQ(mcuformer::qmath::sat8(1000), 127);
  CHECK_EQ(mcuformer::qmath::sat8(-1000), -128);
}

TEST(quantize_ties_to_even_and_specials) {
  const float xs[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, NAN, INFINITY, -INFINITY, 1e30f, 126.5f, 127.5f};
  const int8_t want[] = {0, 2, 2, 0, -2, 0, 127, -128, 127, 126, 127};
  int8_t y[11];
  mcuformer::ref::quantize_f32_s8(xs, y, 11, 1.0f, 0);
  for (int i = 0; i < 11; ++i) CHECK_EQ(y[i], want[i]);
}

TEST(permute_matches_index_formula) {
  const int32_t shape[4] = {2, 3, 4, 5};
  const int32_t perm[4] = {2, 0, 3, 1};
  std::vector<int8_t> x(120), y(120);
  for (int i = 0; i < 120; ++i) x[i] = static_cast<int8_t>(i);
  mcuformer::ref::permute_s8(x.data(), y.data(), 4, shape, perm);
  size_t k = 0;
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 5; ++c)
        for (int d = 0; d < 3; ++d) CHECK_EQ(y[k++], x[((b * 3 + d) * 4 + a) * 5 + c]);
}

TEST(softmax_rows_sum_to_one) {
  std::vector<int32_t> lut(256);
  for (int d = 0; d < 256; ++d) lut[d] = static_cast<int32_t>(std::lround(1048576.0 * std::exp(-d * 0.1)));
  std::vector<int8_t> x = ramp(64, 5, 13), y(64);
  mcuformer::ref::softmax_s8(x.data(), lut.data(), y.data(), 4, 16);
  for (int r = 0; r < 4; ++r) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) sum += y[r * 16 + i] + 128;
    CHECK(sum >= 256 - 16 && sum <= 256 + 16);
  }
}

TEST(all_ops_program_runs) {
  AllOps m = build_all_ops();
  bool guards = false;
  CHECK(load(m.blob) == Status::kOk);
  CHECK(t::run(m.blob, m.ins(), m.outs(), &guards) == Status::kOk);
  CHECK(guards);
  const std::vector<float> y1 = m.y;
  const std::vector<int8_t> r1 = m.r;
  CHECK(t::run(m.blob, m.ins(), m.outs(), &guards) == Status::kOk);
  CHECK(m.y == y1 && m.r == r1);  // deterministic, and nothing depends on stale arena contents
  bool any_nonzero = false;
  for (float v : m.y) any_nonzero |= v != 0.0f;
  CHECK(any_nonzero);
}

TEST(header_rejections) {
  AllOps m = build_all_ops();
  for (size_t n = 0; n < m.blob.size(); ++n) {
    std::vector<uint8_t> cut(m.blob.begin(), m.blob.begin() + static_cast<long>(n));
    CHECK(load(cut) == Status::kInvalidBlob);
  }
  std::vector<uint8_t> v = m.blob;
  v[4] = 2;
  CHECK(load(v) == Status::kVersionMismatch);
  v = m.blob;
  v[0] = 'X';
  CHECK(load(v) == Status::kInvalidBlob);
  v = m.blob;
  v[40] ^= 1;  // CRC
  CHECK(load(v) == Status::kInvalidBlob);
  // misaligned blob
  std::vector<uint8_t> shifted(m.blob.size() + 1);
  std::memcpy(shifted.data() + 1, m.blob.data(), m.blob.size());
  t::Aligned a(shifted);
  mcuformer::Model model;
  CHECK(mcuformer::model_load(a.ptr + 1, m.blob.size(), &model) == Status::kMisaligned);
  CHECK(mcuformer::model_load(nullptr, 100, &model) == Status::kInvalidBlob);
}

TEST(run_rejections) {
  AllOps m = build_all_ops();
  bool guards = false;
  CHECK(t::run(m.blob, m.ins(), m.outs(), &guards, 447) == Status::kArenaTooSmall);
  auto ins = m.ins();
  ins[0].nbytes -= 4;
  CHECK(t::run(m.blob, ins, m.outs(), &guards) == Status::kBadInput);
  ins = m.ins();
  ins[0].dtype = mcuformer::DType::kInt8;
  CHECK(t::run(m.blob, ins, m.outs(), &guards) == Status::kBadInput);
  ins = m.ins();
  ins[0].data = nullptr;
  CHECK(t::run(m.blob, ins, m.outs(), &guards) == Status::kBadInput);
  auto outs = m.outs();
  outs.pop_back();
  CHECK(t::run(m.blob, m.ins(), outs, &guards) == Status::kBadInput);
  ins = m.ins();
  ins[0].data = reinterpret_cast<uint8_t*>(m.x.data()) + 1;
  ins[0].nbytes = 128;
  std::vector<float> big(40);
  ins[0].data = reinterpret_cast<uint8_t*>(big.data()) + 2;
  CHECK(t::run(m.blob, ins, m.outs(), &guards) == Status::kMisaligned);
}

// Every single-bit flip of the flatbuffer, with the CRC fixed so it reaches the verifier and the semantic checks.
TEST(fuzz_every_bit_flip) {
  AllOps m = build_all_ops();
  size_t loaded = 0, rejected = 0;
  for (size_t pos = mcuformer::kBlobHeaderSize; pos < m.blob.size(); ++pos) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> v = m.blob;
      v[pos] ^= static_cast<uint8_t>(1u << bit);
      v = rewrap(v);
      bool guards = true;
      const Status s = t::run(v, m.ins(), m.outs(), &guards);
      if (s == Status::kOk) ++loaded; else ++rejected;
      CHECK(guards);
    }
  }
  std::printf("     bit flips: %zu ran, %zu rejected\n", loaded, rejected);
  CHECK(rejected > 0);
}

// Every aligned 32-bit word replaced by extreme values (sizes, offsets, dims, indices, vtable entries).
TEST(fuzz_extreme_words) {
  AllOps m = build_all_ops();
  const uint32_t values[] = {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 0x0000FFFFu, 448u, 449u, 0xFFFFu << 16};
  size_t loaded = 0;
  for (size_t pos = mcuformer::kBlobHeaderSize; pos + 4 <= m.blob.size(); pos += 2) {
    for (uint32_t val : values) {
      std::vector<uint8_t> v = m.blob;
      std::memcpy(v.data() + pos, &val, 4);
      v = rewrap(v);
      bool guards = true;
      if (t::run(v, m.ins(), m.outs(), &guards) == Status::kOk) ++loaded;
      CHECK(guards);
    }
  }
  std::printf("     extreme words: %zu ran\n", loaded);
}

TEST(input_pool_in_place) {
  // int8 input 0 is the pool (input_overwrite): RESCALE writes its result over the input, the output is copied out.
  t::ProgramBuilder b;
  const int x = b.tensor({16}, DT::INT8, 0);
  const int y = b.tensor({16}, DT::INT8, 0);
  b.op(fb::OpParams::RescaleParams, fb::CreateRescaleParams(b.fbb(), 0, 0, 1 << 30, 30).Union(), {x}, {y});
  const std::vector<uint8_t> blob = b.finish({x}, {y}, 0, true, 16);
  std::vector<int8_t> in = ramp(16, 0, 16), out(16);
  const std::vector<int8_t> want = in;
  bool guards = false;
  CHECK(t::run(blob, {{in.data(), mcuformer::DType::kInt8, 16}}, {{out.data(), mcuformer::DType::kInt8, 16}},
               &guards) == Status::kOk);
  CHECK(out == want);
  CHECK(guards);
}

// The Cortex-M7 kernels (host emulation of SXTB16/SMLAD here, the real instructions on the target) against the
// reference: random shapes (K not a multiple of 4, odd N, several column chunks), zero points, extreme values.
TEST(cm7_kernels_bit_exact_with_ref) {
  uint64_t s = 7;
  auto r8 = [&](std::vector<int8_t>& v, bool extreme) {
    for (auto& e : v) e = static_cast<int8_t>(extreme ? ((t::rng_next(&s) & 1) ? 127 : -128) : t::rng_next(&s));
  };
  for (int iter = 0; iter < 400; ++iter) {
    const bool extreme = iter % 5 == 0;
    // M >= 6 takes MATMUL(transpose_b)'s streamed 6-row tiles of b
    const int32_t M = 1 + t::rng_next(&s) % (iter % 2 ? 14 : 5), N = 1 + t::rng_next(&s) % 70, K = 1 + t::rng_next(&s) % 70;
    const int32_t batch = 1 + t::rng_next(&s) % 3;
    std::vector<int8_t> x(M * K), w(N * K), lut(256), y1(M * N), y2(M * N);
    r8(x, extreme);
    r8(w, extreme);
    r8(lut, false);
    std::vector<int32_t> bias(N), mult(N), shift(N);
    for (int32_t n = 0; n < N; ++n) {
      bias[n] = static_cast<int32_t>(t::rng_next(&s));  // any int32: wrap-around must agree too
      mult[n] = static_cast<int32_t>(t::rng_next(&s));
      shift[n] = 1 + static_cast<int32_t>(t::rng_next(&s) % 62);
    }
    const int8_t* l = iter % 2 ? lut.data() : nullptr;
    mcuformer::ref::linear_s8(x.data(), w.data(), bias.data(), mult.data(), shift.data(), l, 3, y1.data(), M, N, K);
    mcuformer::cm7::linear_s8(x.data(), w.data(), bias.data(), mult.data(), shift.data(), l, 3, y2.data(), M, N, K);
    CHECK(y1 == y2);

    std::vector<int8_t> a(batch * M * K), b(batch * K * N), z1(batch * M * N), z2(batch * M * N);
    r8(a, extreme);
    r8(b, extreme);
    const int32_t za = static_cast<int32_t>(t::rng_next(&s) % 256) - 128, zb = static_cast<int32_t>(t::rng_next(&s) % 256) - 128;
    const int32_t zo = static_cast<int32_t>(t::rng_next(&s) % 256) - 128;
    const int32_t mm = static_cast<int32_t>(t::rng_next(&s)), sh = 1 + static_cast<int32_t>(t::rng_next(&s) % (iter % 3 ? 40 : 62));
    for (int tb = 0; tb < 2; ++tb) {
      const int32_t zaa = iter % 7 == 0 ? 0 : za, zbb = iter % 11 == 0 ? 0 : zb;
      mcuformer::ref::matmul_s8(a.data(), b.data(), z1.data(), batch, M, K, N, tb, zaa, zbb, zo, mm, sh);
      mcuformer::cm7::matmul_s8(a.data(), b.data(), z2.data(), batch, M, K, N, tb, zaa, zbb, zo, mm, sh);
      CHECK(z1 == z2);
    }
  }
}

// The Cortex-M7 ADD / LAYERNORM / SOFTMAX against the reference: realistic parameters (the serializer's ranges, which
// take the fast paths) and arbitrary ones (which must fall back exactly), broadcast, lengths not a multiple of 4.
TEST(cm7_elementwise_bit_exact_with_ref) {
  uint64_t s = 11;
  auto rnd = [&]() { return t::rng_next(&s); };
  auto r8 = [&](std::vector<int8_t>& v, int mode) {
    for (auto& e : v) {
      const uint64_t q = rnd();
      e = static_cast<int8_t>(mode == 0 ? q : (mode == 1 ? ((q & 1) ? 127 : -128) : static_cast<int>(q % 7) - 3));
    }
  };
  for (int iter = 0; iter < 3000; ++iter) {
    const int mode = iter % 3;
    const bool wild = iter % 4 == 3;
    // ADD
    {
      const size_t nb = 1 + rnd() % 40, reps = 1 + rnd() % 3;
      const size_t n = iter % 2 ? nb * reps : nb;
      std::vector<int8_t> a(n), b(nb), y1(n), y2(n);
      r8(a, mode);
      r8(b, mode);
      const int32_t za = static_cast<int32_t>(rnd() % 256) - 128, zb = static_cast<int32_t>(rnd() % 256) - 128;
      const int32_t zo = static_cast<int32_t>(rnd() % 256) - 128;
      int32_t ma, mb, sh;
      if (wild) {
        ma = static_cast<int32_t>(rnd());
        mb = static_cast<int32_t>(rnd());
        sh = 1 + static_cast<int32_t>(rnd() % 62);
      } else {  // dual_multiplier: the larger in [2^29, 2^30), one shift
        sh = 20 + static_cast<int32_t>(rnd() % 20);
        ma = static_cast<int32_t>((int64_t{1} << 29) + static_cast<int64_t>(rnd() % (1u << 29)));
        mb = static_cast<int32_t>(rnd() % (1u << 30)) - (1 << 29);
        if (rnd() & 1) ma = -ma;
        if (rnd() & 1) std::swap(ma, mb);
      }
      mcuformer::ref::add_s8(a.data(), b.data(), y1.data(), n, nb, za, zb, zo, ma, mb, sh);
      mcuformer::cm7::add_s8(a.data(), b.data(), y2.data(), n, nb, za, zb, zo, ma, mb, sh);
      CHECK(y1 == y2);
      std::vector<int8_t> a2 = a;  // in place (out == a)
      mcuformer::cm7::add_s8(a2.data(), b.data(), a2.data(), n, nb, za, zb, zo, ma, mb, sh);
      CHECK(a2 == y1);
      mcuformer::ref::rescale_s8(a.data(), y1.data(), n, za, zo, ma, sh);  // RESCALE with the same numbers
      mcuformer::cm7::rescale_s8(a.data(), y2.data(), n, za, zo, ma, sh);
      CHECK(y1 == y2);
    }
    // LAYERNORM
    {
      const int32_t C = iter % 50 == 0 ? 2048 : 1 + static_cast<int32_t>(rnd() % 200);
      const size_t rows = 1 + rnd() % 3;
      std::vector<int8_t> x(rows * C), y1(rows * C), y2(rows * C);
      r8(x, mode);
      if (iter % 7 == 0) std::fill(x.begin(), x.begin() + C, static_cast<int8_t>(rnd()));  // zero variance
      std::vector<int32_t> g(C), bt(C);
      for (int32_t i = 0; i < C; ++i) {
        g[i] = wild ? static_cast<int32_t>(rnd()) : static_cast<int32_t>(rnd() % 8191) - 4095;
        bt[i] = wild ? static_cast<int32_t>(rnd()) : static_cast<int32_t>(rnd() % (1u << 23)) - (1 << 22);
      }
      const int64_t eps = wild ? static_cast<int64_t>(rnd() >> (rnd() % 64)) : static_cast<int64_t>(rnd() % 1000);
      const int32_t zo = static_cast<int32_t>(rnd() % 256) - 128;
      const int32_t mult = wild ? static_cast<int32_t>(rnd()) : static_cast<int32_t>((1u << 30) + rnd() % (1u << 30));
      const int32_t sh = wild ? 1 + static_cast<int32_t>(rnd() % 62) : 44 + static_cast<int32_t>(rnd() % 7);
      mcuformer::ref::layernorm_s8(x.data(), g.data(), bt.data(), y1.data(), rows, C, eps, zo, mult, sh);
      mcuformer::cm7::layernorm_s8(x.data(), g.data(), bt.data(), y2.data(), rows, C, eps, zo, mult, sh);
      CHECK(y1 == y2);
    }
    // SOFTMAX
    {
      const int32_t L = 1 + static_cast<int32_t>(rnd() % 160);
      const size_t rows = 1 + rnd() % 3;
      std::vector<int8_t> x(rows * L), y1(rows * L), y2(rows * L);
      r8(x, mode);
      std::vector<int32_t> lut(256);
      const int kind = static_cast<int>(rnd() % 3);
      for (int d = 0; d < 256; ++d) {
        if (kind == 0) lut[d] = static_cast<int32_t>(1048576.0 * std::exp(-d * 0.05) + 0.5);
        else if (kind == 1) lut[d] = static_cast<int32_t>(rnd() & 0x7FFFFFFF);
        else lut[d] = static_cast<int32_t>(rnd() % 3);
      }
      if (lut[0] < 1) lut[0] = 1;
      mcuformer::ref::softmax_s8(x.data(), lut.data(), y1.data(), rows, L);
      mcuformer::cm7::softmax_s8(x.data(), lut.data(), y2.data(), rows, L);
      CHECK(y1 == y2);
    }
  }
}

// ADD over every (a, b) pair of int8 values, for multipliers at the edges of the 32-bit path's conditions.
TEST(cm7_add_exhaustive_pairs) {
  std::vector<int8_t> a(65536), b(65536), y1(65536), y2(65536);
  for (int i = 0; i < 65536; ++i) {
    a[i] = static_cast<int8_t>(i & 0xFF);
    b[i] = static_cast<int8_t>(i >> 8);
  }
  const int32_t params[][6] = {
      {-128, 127, 5, (1 << 30) - 1, -((1 << 30) - 1), 30}, {127, -128, -128, (1 << 30) - 1, (1 << 30) - 1, 31},
      {0, 0, 0, 1 << 29, 1 << 29, 29},  {3, -7, 127, 536870913, 123456789, 29},
      {-5, 9, -77, -(1 << 30), 32767, 33}, {1, 2, 3, 2147483647, -2147483647 - 1, 46},
      {1, 2, 3, 805306368, 12345, 16},   {-1, -2, -3, 805306368, 12345, 15},
  };
  std::vector<int8_t> r1(65536), r2(65536);
  for (const auto& p : params) {
    mcuformer::ref::rescale_s8(a.data(), r1.data(), 65536, p[0], p[2], p[3], p[5]);
    mcuformer::cm7::rescale_s8(a.data(), r2.data(), 65536, p[0], p[2], p[3], p[5]);
    CHECK(r1 == r2);
    mcuformer::cm7::rescale_s8(a.data(), a.data(), 256, p[0], p[2], p[3], p[5]);  // in place
    CHECK(std::equal(a.begin(), a.begin() + 256, r1.begin()));
    for (int i = 0; i < 256; ++i) a[i] = static_cast<int8_t>(i & 0xFF);
    mcuformer::ref::add_s8(a.data(), b.data(), y1.data(), 65536, 65536, p[0], p[1], p[2], p[3], p[4], p[5]);
    mcuformer::cm7::add_s8(a.data(), b.data(), y2.data(), 65536, 65536, p[0], p[1], p[2], p[3], p[4], p[5]);
    CHECK(y1 == y2);
  }
}
