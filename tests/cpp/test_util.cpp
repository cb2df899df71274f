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

int main(int argc, char** argv) {
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
