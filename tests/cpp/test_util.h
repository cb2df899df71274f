// Minimal test harness and blob builder for the runtime's C++ tests (no external framework).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "mcuformer/blob.h"
#include "mcuformer/runtime.h"
#include "schema_generated.h"

namespace t {

struct Case {
  const char* name;
  void (*fn)();
};
std::vector<Case>& registry();
extern int failures;

struct Register {
  Register(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

#define TEST(name)                                    \
  static void test_##name();                          \
  static ::t::Register register_##name(#name, test_##name); \
  static void test_##name()

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "  FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
      ++::t::failures;                                                           \
    }                                                                            \
  } while (0)

#define CHECK_EQ(a, b)                                                                                   \
  do {                                                                                                   \
    const long long va_ = static_cast<long long>(a), vb_ = static_cast<long long>(b);                    \
    if (va_ != vb_) {                                                                                    \
      std::fprintf(stderr, "  FAILED %s:%d: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b, va_, vb_); \
      ++::t::failures;                                                                                   \
    }                                                                                                    \
  } while (0)

// A 16-byte aligned byte buffer.
struct Aligned {
  explicit Aligned(const std::vector<uint8_t>& bytes) : size(bytes.size()) {
    ptr = static_cast<uint8_t*>(std::aligned_alloc(16, (size + 16) / 16 * 16 + 16));
    if (size) std::memcpy(ptr, bytes.data(), size);
  }
  ~Aligned() { std::free(ptr); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
  uint8_t* ptr;
  size_t size;
};

// Wraps a flatbuffer in the 32-byte blob header.
std::vector<uint8_t> wrap(const uint8_t* fb, size_t size, uint32_t version = mcuformer::kSchemaVersion);

// Builds MCUFormer programs with the generated flatbuffers API.
class ProgramBuilder {
 public:
  int tensor(std::vector<int32_t> shape, mcuformer_fb::DType dtype, uint32_t offset = 0);
  template <typename T>
  int constant(std::vector<int32_t> shape, mcuformer_fb::DType dtype, const std::vector<T>& values);
  void op(mcuformer_fb::OpParams type, flatbuffers::Offset<void> params, std::vector<int32_t> ins,
          std::vector<int32_t> outs);
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }
  std::vector<uint8_t> finish(std::vector<int32_t> inputs, std::vector<int32_t> outputs, uint32_t arena_bytes,
                              bool input_overwrite = false, uint32_t input_pool_bytes = 0);

 private:
  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<flatbuffers::Offset<mcuformer_fb::Tensor>> tensors_;
  std::vector<flatbuffers::Offset<mcuformer_fb::Constant>> constants_;
  std::vector<flatbuffers::Offset<mcuformer_fb::Op>> ops_;
};

template <typename T>
int ProgramBuilder::constant(std::vector<int32_t> shape, mcuformer_fb::DType dtype, const std::vector<T>& values) {
  fbb_.ForceVectorAlignment(values.size() * sizeof(T), 1, 16);
  auto data = fbb_.CreateVector(reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(T));
  constants_.push_back(mcuformer_fb::CreateConstant(fbb_, data));
  auto s = fbb_.CreateVector(shape);
  tensors_.push_back(mcuformer_fb::CreateTensor(fbb_, s, dtype, 1.0f, 0, static_cast<int32_t>(constants_.size() - 1), 0));
  return static_cast<int>(tensors_.size() - 1);
}

// Loads and runs a blob with an exact arena surrounded by guard bytes; returns the status, and sets *guards_ok.
mcuformer::Status run(const std::vector<uint8_t>& blob, std::vector<mcuformer::IoTensor> ins,
                      std::vector<mcuformer::IoTensor> outs, bool* guards_ok, size_t arena_override = SIZE_MAX);

uint64_t rng_next(uint64_t* state);

}  // namespace t
