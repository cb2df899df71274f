// Shared by the libFuzzer targets: run a loaded model once with zero inputs inside a guarded, bounded arena.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mcuformer/blob.h"
#include "mcuformer/runtime.h"

namespace mcufuzz {

// Larger plans are only checked for kArenaTooSmall with a small arena: a fuzzed arena_bytes of 4 GB must not make
// the fuzzer allocate it.
constexpr size_t kMaxArena = size_t{4} << 20;
constexpr size_t kMaxIoBytes = size_t{4} << 20;
constexpr size_t kGuard = 64;
constexpr uint8_t kGuardByte = 0xA5;

// 16-byte aligned copy (model_load and pte_find_delegate require it; libFuzzer's data is not aligned).
struct AlignedCopy {
  std::vector<uint64_t> store;  // operator new: 16-byte aligned on x86-64 glibc; checked below
  uint8_t* ptr = nullptr;
  AlignedCopy(const uint8_t* data, size_t size) : store(size / 8 + 3) {
    ptr = reinterpret_cast<uint8_t*>(store.data());
    while (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) ptr += 8;
    if (size) std::memcpy(ptr, data, size);
  }
};

inline void trap_if(bool bad, const char* what) {
  if (bad) {
    std::fprintf(stderr, "mcufuzz: %s\n", what);
    std::abort();
  }
}

inline void fill_extremes(const std::vector<mcuformer::IoTensor>& ins) {
  static const float kF[] = {__builtin_nanf(""), __builtin_inff(), -__builtin_inff(), 1e30f, -1e30f, -0.0f, 1e-40f,
                             3.5f};
  static const int8_t kI[] = {-128, 127, 0, -1};
  for (const mcuformer::IoTensor& t : ins) {
    if (t.dtype == mcuformer::DType::kFloat32) {
      float* f = static_cast<float*>(t.data);
      for (size_t i = 0; i < t.nbytes / 4; ++i) f[i] = kF[i % 8];
    } else {
      int8_t* q = static_cast<int8_t*>(t.data);
      for (size_t i = 0; i < t.nbytes; ++i) q[i] = kI[i % 4];
    }
  }
}

// model_run with inputs/outputs sized by the model's own accessors. Aborts (a crash for libFuzzer) if the run writes
// outside the arena (guard bytes), if an accessor disagrees with model_run, or if a run with a too-small arena is not
// rejected.
inline void run_model(const mcuformer::Model& model) {
  using mcuformer::Status;
  std::vector<std::vector<uint64_t>> io_store;
  std::vector<mcuformer::IoTensor> ins, outs;
  size_t io_total = 0;
  for (int io = 0; io < 2; ++io) {
    const size_t n = io == 0 ? mcuformer::model_num_inputs(model) : mcuformer::model_num_outputs(model);
    for (size_t i = 0; i < n; ++i) {
      const mcuformer::DType d = io == 0 ? mcuformer::model_input_dtype(model, i) : mcuformer::model_output_dtype(model, i);
      const size_t numel = io == 0 ? mcuformer::model_input_numel(model, i) : mcuformer::model_output_numel(model, i);
      const size_t es = mcuformer::dtype_size(d);
      trap_if(es == 0, "loaded model reports an unknown I/O dtype");
      if (numel > kMaxIoBytes / es || io_total + numel * es > kMaxIoBytes) return;  // too big to run here
      io_total += numel * es;
      io_store.emplace_back(numel * es / 8 + 1, 0);
      (io == 0 ? ins : outs).push_back({io_store.back().data(), d, numel * es});
    }
  }
  const size_t planned = mcuformer::model_arena_bytes(model);
  // One byte short of the plan must be refused before anything runs.
  if (planned > 0) {
    std::vector<uint64_t> small(planned <= kMaxArena ? planned / 8 + 2 : 4);
    const size_t small_bytes = planned <= kMaxArena ? planned - 1 : 16;
    const Status s = mcuformer::model_run(model, reinterpret_cast<uint8_t*>(small.data()), small_bytes, ins.data(),
                                          ins.size(), outs.data(), outs.size());
    trap_if(s != Status::kArenaTooSmall, "model_run accepted an arena smaller than the plan");
  }
  if (planned > kMaxArena) return;
  std::vector<uint8_t> arena_store(planned + 2 * kGuard + 16, kGuardByte);
  uint8_t* base = arena_store.data();
  while (reinterpret_cast<uintptr_t>(base + kGuard) % 16 != 0) ++base;
  uint8_t* arena = base + kGuard;
  // Two runs: zero inputs, then extreme ones (float: NaN, +-inf, +-1e30, -0, a denormal; int8: -128, 127), which
  // reach the float->int conversions and saturation paths that users' inputs can reach through ExecuTorch.
  for (int fill = 0; fill < 2; ++fill) {
    if (fill == 1) fill_extremes(ins);
    const Status s = mcuformer::model_run(model, arena, planned, ins.data(), ins.size(), outs.data(), outs.size());
    trap_if(s != Status::kOk, "model_run refused I/O built from the model's own accessors");
    for (size_t i = 0; i < kGuard; ++i) {
      trap_if(base[i] != kGuardByte || arena[planned + i] != kGuardByte, "model_run wrote outside its arena");
    }
  }
  static const bool selftest = std::getenv("MCUFUZZ_SELFTEST") != nullptr;  // tests: the harness reports crashes
  trap_if(selftest, "self-test crash after a complete run");
  static const bool report = std::getenv("MCUFUZZ_REPORT") != nullptr;  // replay mode: tests check seeds ran
  if (report) std::fprintf(stderr, "mcufuzz: ran (%zu ops, arena %zu bytes)\n", mcuformer::model_num_ops(model), planned);
}

// Rewrites an MCUFormer blob header's flatbuffer size and CRC so that mutations of the flatbuffer reach the verifier
// and the semantic checks instead of dying at the CRC. Leaves magic/version alone (those are fuzzed as they are).
inline void fix_blob_header(uint8_t* blob, size_t size) {
  if (size < mcuformer::kBlobHeaderSize) return;
  const uint32_t fb = static_cast<uint32_t>(size - mcuformer::kBlobHeaderSize);
  const uint32_t crc = mcuformer::crc32(0, blob + mcuformer::kBlobHeaderSize, fb);
  for (int i = 0; i < 4; ++i) {
    blob[12 + i] = static_cast<uint8_t>(fb >> (8 * i));
    blob[16 + i] = static_cast<uint8_t>(crc >> (8 * i));
  }
}

}  // namespace mcufuzz
