// C entry points for host tests (see mcuformer/host_api.h).
#include "mcuformer/host_api.h"

#include <cstdlib>
#include <cstring>

#include "mcuformer/blob.h"
#include "mcuformer/runtime.h"

namespace {

using mcuformer::Status;

constexpr size_t kGuard = 64;
constexpr uint8_t kGuardByte = 0xA5;

// A 16-byte aligned heap copy, freed on scope exit.
class AlignedCopy {
 public:
  AlignedCopy(const void* src, size_t size) : size_(size) {
    ptr_ = static_cast<uint8_t*>(std::aligned_alloc(16, (size + 15) / 16 * 16 + 16));
    if (ptr_ != nullptr && size > 0) std::memcpy(ptr_, src, size);
  }
  ~AlignedCopy() { std::free(ptr_); }
  AlignedCopy(const AlignedCopy&) = delete;
  AlignedCopy& operator=(const AlignedCopy&) = delete;
  uint8_t* data() const { return ptr_; }
  size_t size() const { return size_; }

 private:
  uint8_t* ptr_ = nullptr;
  size_t size_;
};

int load(const AlignedCopy& copy, const void* blob, mcuformer::Model* model) {
  if (blob == nullptr || copy.data() == nullptr) return static_cast<int>(Status::kInvalidBlob);
  return static_cast<int>(mcuformer::model_load(copy.data(), copy.size(), model));
}

}  // namespace

extern "C" int mcuformer_host_run_arena(const void* blob, size_t size, size_t arena_bytes, int num_inputs,
                                        void* const* inputs, const size_t* input_nbytes, int num_outputs,
                                        void* const* outputs, const size_t* output_nbytes) {
  AlignedCopy copy(blob, size);
  mcuformer::Model model;
  const int ls = load(copy, blob, &model);
  if (ls != 0) return ls;
  if (num_inputs < 0 || num_outputs < 0 || num_inputs > 64 || num_outputs > 64 ||
      (num_inputs > 0 && (inputs == nullptr || input_nbytes == nullptr)) ||
      (num_outputs > 0 && (outputs == nullptr || output_nbytes == nullptr))) {
    return static_cast<int>(Status::kBadInput);
  }
  mcuformer::IoTensor ins[64];
  mcuformer::IoTensor outs[64];
  for (int i = 0; i < num_inputs; ++i) {
    ins[i] = {inputs[i], mcuformer::model_input_dtype(model, static_cast<size_t>(i)), input_nbytes[i]};
  }
  for (int i = 0; i < num_outputs; ++i) {
    outs[i] = {outputs[i], mcuformer::model_output_dtype(model, static_cast<size_t>(i)), output_nbytes[i]};
  }
  if (arena_bytes == MCUFORMER_HOST_ARENA_EXACT) arena_bytes = mcuformer::model_arena_bytes(model);
  const size_t total = kGuard + (arena_bytes + 15) / 16 * 16 + kGuard;
  uint8_t* block = static_cast<uint8_t*>(std::aligned_alloc(16, total));
  if (block == nullptr) return static_cast<int>(Status::kArenaTooSmall);
  std::memset(block, kGuardByte, total);
  uint8_t* arena = block + kGuard;
  std::memset(arena, 0, arena_bytes);
  int rs = static_cast<int>(mcuformer::model_run(model, arena, arena_bytes, ins, static_cast<size_t>(num_inputs),
                                                 outs, static_cast<size_t>(num_outputs)));
  for (size_t i = 0; i < total; ++i) {
    if ((i < kGuard || i >= kGuard + arena_bytes) && block[i] != kGuardByte) {
      rs = MCUFORMER_HOST_ARENA_CORRUPTED;
      break;
    }
  }
  std::free(block);
  return rs;
}

extern "C" int mcuformer_host_run(const void* blob, size_t size, int num_inputs, void* const* inputs,
                                  const size_t* input_nbytes, int num_outputs, void* const* outputs,
                                  const size_t* output_nbytes) {
  return mcuformer_host_run_arena(blob, size, MCUFORMER_HOST_ARENA_EXACT, num_inputs, inputs, input_nbytes,
                                  num_outputs, outputs, output_nbytes);
}

extern "C" int mcuformer_host_inspect(const void* blob, size_t size, uint32_t* arena_bytes, int* num_inputs,
                                      int* num_outputs) {
  AlignedCopy copy(blob, size);
  mcuformer::Model model;
  const int ls = load(copy, blob, &model);
  if (ls != 0) return ls;
  if (arena_bytes) *arena_bytes = mcuformer::model_arena_bytes(model);
  if (num_inputs) *num_inputs = static_cast<int>(mcuformer::model_num_inputs(model));
  if (num_outputs) *num_outputs = static_cast<int>(mcuformer::model_num_outputs(model));
  return 0;
}

extern "C" int mcuformer_host_io_info(const void* blob, size_t size, int is_input, int i, int* dtype, size_t* numel) {
  AlignedCopy copy(blob, size);
  mcuformer::Model model;
  const int ls = load(copy, blob, &model);
  if (ls != 0) return ls;
  const size_t n = is_input ? mcuformer::model_num_inputs(model) : mcuformer::model_num_outputs(model);
  if (i < 0 || static_cast<size_t>(i) >= n) return static_cast<int>(Status::kBadInput);
  const size_t idx = static_cast<size_t>(i);
  if (dtype) {
    *dtype = static_cast<int>(is_input ? mcuformer::model_input_dtype(model, idx)
                                       : mcuformer::model_output_dtype(model, idx));
  }
  if (numel) *numel = is_input ? mcuformer::model_input_numel(model, idx) : mcuformer::model_output_numel(model, idx);
  return 0;
}

extern "C" const char* mcuformer_host_status_str(int status) {
  if (status == MCUFORMER_HOST_ARENA_CORRUPTED) return "arena guard bytes overwritten";
  return mcuformer::status_str(static_cast<Status>(status));
}

extern "C" uint32_t mcuformer_host_schema_version(void) { return mcuformer::kSchemaVersion; }
