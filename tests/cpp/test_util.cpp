#include "test_util.h"

namespace t {

std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
int failures = 0;

std::vector<uint8_t> wrap(const uint8_t* fb, size_t size, uint32_t version) {
  std::vector<uint8_t> blob(mcuformer::kBlobHeaderSize + size, 0);
  auto put = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) blob[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  std::memcpy(blob.data(), "MCUB", 4);
  put(4, version);
  put(8, mcuformer::kBlobHeaderSize);
  put(12, static_cast<uint32_t>(size));
  put(16, mcuformer::crc32(0, fb, size));
  if (size) std::memcpy(blob.data() + mcuformer::kBlobHeaderSize, fb, size);
  return blob;
}

int ProgramBuilder::tensor(std::vector<int32_t> shape, mcuformer_fb::DType dtype, uint32_t offset) {
  auto s = fbb_.CreateVector(shape);
  tensors_.push_back(mcuformer_fb::CreateTensor(fbb_, s, dtype, 1.0f, 0, -1, offset));
  return static_cast<int>(tensors_.size() - 1);
}

void ProgramBuilder::op(mcuformer_fb::OpParams type, flatbuffers::Offset<void> params, std::vector<int32_t> ins,
                        std::vector<int32_t> outs) {
  auto i = fbb_.CreateVector(ins);
  auto o = fbb_.CreateVector(outs);
  ops_.push_back(mcuformer_fb::CreateOp(fbb_, type, params, i, o));
}

std::vector<uint8_t> ProgramBuilder::finish(std::vector<int32_t> inputs, std::vector<int32_t> outputs,
                                            uint32_t arena_bytes, bool input_overwrite, uint32_t input_pool_bytes) {
  auto tv = fbb_.CreateVector(tensors_);
  auto ov = fbb_.CreateVector(ops_);
  auto iv = fbb_.CreateVector(inputs);
  auto outv = fbb_.CreateVector(outputs);
  auto cv = fbb_.CreateVector(constants_);
  auto root = mcuformer_fb::CreateProgram(fbb_, tv, ov, iv, outv, cv, arena_bytes, input_overwrite, input_pool_bytes);
  mcuformer_fb::FinishProgramBuffer(fbb_, root);
  return wrap(fbb_.GetBufferPointer(), fbb_.GetSize());
}

mcuformer::Status run(const std::vector<uint8_t>& blob, std::vector<mcuformer::IoTensor> ins,
                      std::vector<mcuformer::IoTensor> outs, bool* guards_ok, size_t arena_override) {
  Aligned a(blob);
  mcuformer::Model model;
  *guards_ok = true;
  const mcuformer::Status ls = mcuformer::model_load(a.ptr, a.size, &model);
  if (ls != mcuformer::Status::kOk) return ls;
  size_t arena_bytes = arena_override == SIZE_MAX ? mcuformer::model_arena_bytes(model) : arena_override;
  if (arena_bytes > (size_t{1} << 20)) arena_bytes = 4096;  // fuzzed sizes: the run must answer kArenaTooSmall
  constexpr size_t kGuard = 32;
  std::vector<uint8_t> store(arena_bytes + 2 * kGuard + 16, 0x5A);
  uint8_t* base = store.data();
  while (reinterpret_cast<uintptr_t>(base + kGuard) % 16) ++base;
  const mcuformer::Status rs =
      mcuformer::model_run(model, base + kGuard, arena_bytes, ins.data(), ins.size(), outs.data(), outs.size());
  for (size_t i = 0; i < kGuard; ++i) {
    if (base[i] != 0x5A || base[kGuard + arena_bytes + i] != 0x5A) *guards_ok = false;
  }
  return rs;
}

uint64_t rng_next(uint64_t* s) {  // splitmix64
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace t

// --fuzz BUDGET FILE...: single-bit flips (CRC fixed) and extreme 32-bit words of each blob file, run with
// zero-filled inputs of the right sizes inside a guarded arena. Every byte outside weight data is mutated when that
// fits in about BUDGET mutants per file, else an evenly spaced subset of bytes. Seeds are real blobs written by the
// Python tests.
static int fuzz_files(size_t budget, int n, char** files) {
  for (int f = 0; f < n; ++f) {
    FILE* fp = std::fopen(files[f], "rb");
    if (fp == nullptr) {
      std::fprintf(stderr, "cannot open %s\n", files[f]);
      return 2;
    }
    std::vector<uint8_t> blob;
    uint8_t buf[4096];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, fp)) > 0) blob.insert(blob.end(), buf, buf + got);
    std::fclose(fp);
    t::Aligned a(blob);
    mcuformer::Model model;
    if (mcuformer::model_load(a.ptr, a.size, &model) != mcuformer::Status::kOk) {
      std::fprintf(stderr, "seed %s does not load\n", files[f]);
      return 2;
    }
    std::vector<std::vector<uint64_t>> store;  // 8-byte aligned I/O buffers
    std::vector<mcuformer::IoTensor> ins, outs;
    for (int io = 0; io < 2; ++io) {
      const size_t count = io == 0 ? mcuformer::model_num_inputs(model) : mcuformer::model_num_outputs(model);
      for (size_t i = 0; i < count; ++i) {
        const mcuformer::DType d = io == 0 ? mcuformer::model_input_dtype(model, i) : mcuformer::model_output_dtype(model, i);
        const size_t nbytes = (io == 0 ? mcuformer::model_input_numel(model, i) : mcuformer::model_output_numel(model, i)) *
                              mcuformer::dtype_size(d);
        store.emplace_back(nbytes / 8 + 1, 0);
        (io == 0 ? ins : outs).push_back({store.back().data(), d, nbytes});
      }
    }
    // Weight bytes are not interesting to mutate (any value is valid): skip each constant's data after its first
    // 16 bytes (the length prefix and alignment padding before it are still mutated).
    std::vector<std::pair<size_t, size_t>> skip;
    const auto* prog = static_cast<const mcuformer_fb::Program*>(model.program);
    for (uint32_t c = 0; prog->constants() && c < prog->constants()->size(); ++c) {
      const auto* d = prog->constants()->Get(c)->data();
      const size_t at = static_cast<size_t>(d->data() - a.ptr);
      if (d->size() > 16) skip.emplace_back(at + 16, at + d->size());
    }
    auto skipped = [&](size_t pos) {
      for (const auto& r : skip) {
        if (pos >= r.first && pos < r.second) return true;
      }
      return false;
    };
    const uint32_t extremes[] = {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 0xFFFFu, 0x10000u};
    size_t ran = 0, rejected = 0;
    auto attempt = [&](std::vector<uint8_t>& v) {
      v = t::wrap(v.data() + mcuformer::kBlobHeaderSize, v.size() - mcuformer::kBlobHeaderSize);
      bool guards = true;
      for (auto& s : store) std::fill(s.begin(), s.end(), 0);
      if (t::run(v, ins, outs, &guards) == mcuformer::Status::kOk) ++ran; else ++rejected;
      CHECK(guards);
    };
    size_t candidates = 0;
    for (size_t pos = mcuformer::kBlobHeaderSize; pos < blob.size(); ++pos) candidates += skipped(pos) ? 0 : 1;
    const size_t every = candidates * 10 / (budget ? budget : 1) + 1;  // ~10 mutants per chosen byte
    size_t seen = 0;
    for (size_t pos = mcuformer::kBlobHeaderSize; pos < blob.size(); ++pos) {
      if (skipped(pos) || seen++ % every != 0) continue;
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<uint8_t> v = blob;
        v[pos] ^= static_cast<uint8_t>(1u << bit);
        attempt(v);
      }
      if (pos + 4 <= blob.size() && (every > 1 || pos % 4 == 0)) {
        for (uint32_t val : extremes) {
          std::vector<uint8_t> v = blob;
          std::memcpy(v.data() + pos, &val, 4);
          attempt(v);
        }
      }
    }
    std::printf("fuzz %s: %zu bytes, %zu mutants ran, %zu rejected\n", files[f], blob.size(), ran, rejected);
  }
  std::printf("%d failed checks\n", t::failures);
  return t::failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc > 2 && std::strcmp(argv[1], "--fuzz") == 0) {
    return fuzz_files(std::strtoul(argv[2], nullptr, 10), argc - 3, argv + 3);
  }
  const char* only = argc > 1 ? argv[1] : nullptr;
  int ran = 0;
  for (const t::Case& c : t::registry()) {
    if (only && std::strstr(c.name, only) == nullptr) continue;
    const int before = t::failures;
    c.fn();
    std::printf("%s %s\n", t::failures == before ? "ok  " : "FAIL", c.name);
    ++ran;
  }
  std::printf("%d tests, %d failed checks\n", ran, t::failures);
  return t::failures == 0 && ran > 0 ? 0 : 1;
}
