// TEST-ONLY stand-in for the mcuformer runtime core (runtime/include/mcuformer/runtime.h).
//
// It understands only the fake "MCFT" blob written by make_fake_pte.py, so the firmware, the .pte loader, the memory
// budgets, the runner and the instruction profiler can be tested without the real backend. Product builds link the
// real runtime (runtime/src); this file is used only when the firmware is configured with -DMCU_STUB_RUNTIME=ON.
//
// Fake model: three "ops" so per-op profiling has something to attribute:
//   op 0 (kind 100): quantize input into the arena (int8, scale 1/16), touching arena_bytes bytes
//   op 1 (kind 101): a byte checksum over the blob's pad bytes (reads "weights" in place)
//   op 2 (kind 102): out[j] = 2 * in[j % in_numel] + j
// Fault injection (see make_fake_pte.py): overrun_bytes past the arena, stack_bytes of stack.
#include <cstring>

#include "mcuformer/runtime.h"

namespace mcuformer {
namespace {

constexpr size_t kHeaderBytes = 32;

struct FakeHeader {
  uint32_t arena_bytes, in_numel, out_numel, pad_bytes, overrun_bytes, stack_bytes;
};

uint32_t rd32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

FakeHeader header(const Model& m) {
  const uint8_t* b = m.blob;
  return FakeHeader{rd32(b + 8), rd32(b + 12), rd32(b + 16), rd32(b + 20), rd32(b + 24), rd32(b + 28)};
}

__attribute__((noinline)) void touch_stack(uint32_t n) {
  volatile uint8_t* p = static_cast<volatile uint8_t*>(__builtin_alloca(n));
  for (uint32_t i = 0; i < n; ++i) p[i] = 0;
}

}  // namespace

const char* status_str(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kInvalidBlob: return "invalid blob";
    case Status::kVersionMismatch: return "version mismatch";
    case Status::kArenaTooSmall: return "arena too small";
    case Status::kBadInput: return "bad input";
    case Status::kUnsupportedOp: return "unsupported op";
    case Status::kMisaligned: return "misaligned";
  }
  return "unknown";
}

Status model_load(const void* blob, size_t size, Model* model) {
  const auto* b = static_cast<const uint8_t*>(blob);
  if (b == nullptr || model == nullptr || size < kHeaderBytes || std::memcmp(b, "MCFT", 4) != 0) return Status::kInvalidBlob;
  if (rd32(b + 4) != 1) return Status::kVersionMismatch;
  if (reinterpret_cast<uintptr_t>(b) % 16 != 0) return Status::kMisaligned;
  const uint32_t in_numel = rd32(b + 12), out_numel = rd32(b + 16), pad = rd32(b + 20);
  if (in_numel == 0 || out_numel == 0 || pad > size - kHeaderBytes) return Status::kInvalidBlob;
  model->program = b;
  model->blob = b;
  model->blob_size = size;
  return Status::kOk;
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::kInt8: return 1;
    case DType::kInt16: return 2;
    case DType::kInt32:
    case DType::kFloat32: return 4;
  }
  return 0;
}
DType model_input_dtype(const Model&, size_t) { return DType::kFloat32; }
DType model_output_dtype(const Model&, size_t) { return DType::kFloat32; }
size_t model_num_ops(const Model&) { return 3; }

uint32_t model_arena_bytes(const Model& m) { return header(m).arena_bytes; }
size_t model_num_inputs(const Model&) { return 1; }
size_t model_num_outputs(const Model&) { return 1; }
size_t model_input_numel(const Model& m, size_t i) { return i == 0 ? header(m).in_numel : 0; }
size_t model_output_numel(const Model& m, size_t i) { return i == 0 ? header(m).out_numel : 0; }

Status model_run(const Model& m, uint8_t* arena, size_t arena_bytes, const IoTensor* inputs, size_t num_inputs,
                 const IoTensor* outputs, size_t num_outputs) {
  const FakeHeader h = header(m);
  if (arena == nullptr || reinterpret_cast<uintptr_t>(arena) % 16 != 0) return Status::kMisaligned;
  if (arena_bytes < h.arena_bytes) return Status::kArenaTooSmall;
  if (num_inputs != 1 || num_outputs != 1 || inputs[0].dtype != DType::kFloat32 ||
      outputs[0].dtype != DType::kFloat32 || inputs[0].nbytes != h.in_numel * 4 ||
      outputs[0].nbytes != h.out_numel * 4) {
    return Status::kBadInput;
  }
  const float* in = static_cast<const float*>(inputs[0].data);
  float* out = static_cast<float*>(outputs[0].data);

  mcuformer_profile_op(0, 100);
  for (uint32_t i = 0; i < h.arena_bytes; ++i) {
    const float v = in[i % h.in_numel] * 16.0f;
    arena[i] = static_cast<uint8_t>(static_cast<int8_t>(v > 127.f ? 127.f : (v < -128.f ? -128.f : v)));
  }
  mcuformer_profile_op(1, 101);
  uint32_t sum = 0;
  for (uint32_t i = 0; i < h.pad_bytes; ++i) sum += m.blob[kHeaderBytes + i];
  arena[0] ^= static_cast<uint8_t>(sum);
  // Fault injection (guard tests): write past the end of the arena (overrun_bytes > 0) or before its start (< 0, an
  // int32 in the header), use a lot of stack.
  const int32_t overrun = static_cast<int32_t>(h.overrun_bytes);
  for (int32_t i = 0; i < overrun; ++i) reinterpret_cast<volatile uint8_t*>(arena)[h.arena_bytes + i] = 0x5a;
  for (int32_t i = 1; i <= -overrun; ++i) reinterpret_cast<volatile uint8_t*>(arena)[-i] = 0x5a;
  if (h.stack_bytes > 0) touch_stack(h.stack_bytes);
  mcuformer_profile_op(2, 102);
  for (uint32_t j = 0; j < h.out_numel; ++j) out[j] = 2.0f * in[j % h.in_numel] + static_cast<float>(j);
  mcuformer_profile_op(-1, 0);
  return Status::kOk;
}

}  // namespace mcuformer

extern "C" __attribute__((weak)) void mcuformer_profile_op(int32_t, int32_t) {}
