// mcuformer runtime core: loads a verified MCUFormer blob and runs it in one caller-provided arena.
//
// This is the ExecuTorch-independent core. The ExecuTorch BackendInterface adapter (src/delegate/) and the
// bare-metal firmware (examples/stm32f746/) both call exactly this API, so host and device run the same code.
//
// Usage:
//   mcuformer::Model model;
//   if (mcuformer::model_load(blob, blob_size, &model) != mcuformer::Status::kOk) { ...reject... }
//   static uint8_t arena[...];                       // >= model_arena_bytes(model), 16-byte aligned
//   mcuformer::IoTensor in{input_ptr, DType::kFloat32, nbytes}, out{output_ptr, DType::kFloat32, nbytes};
//   mcuformer::model_run(model, arena, sizeof(arena), &in, 1, &out, 1);
//
// Contract:
//  - model_load never reads outside [blob, blob + size) and accepts only blobs that pass the flatbuffers verifier
//    and the semantic checks (versions, tensor sizes, every offset inside the arena, every constant inside the blob).
//  - The blob's constants (weights, tables) are read in place: the blob must outlive the Model and stay where it is
//    (on a microcontroller it lives in flash).
//  - model_run never allocates; all activations live in the arena at offsets fixed at compile time.
//  - After model_load returned kOk, model_run reads only the blob, the arena and the caller's I/O buffers and
//    writes only the arena and the caller's output buffers (plus input 0 when the blob says input_overwrite).
//  - Delegate inputs/outputs are float32 (QUANTIZE / DEQUANTIZE at the boundary read/write the caller's buffer) or
//    int8 (inputs are read in place, or used as the input pool with input_overwrite; int8 outputs are copied out of
//    the arena after the last op). model_input_dtype / model_output_dtype say which.
//  - Float buffers must be 4-byte aligned; the arena 16-byte aligned (kMisaligned otherwise); the blob 16-byte
//    aligned (model_load returns kMisaligned otherwise: int32 constants are read in place).
//
// Arena ownership: the core never allocates it. The bare-metal firmware passes one static block sized at build time
// from the plan; the host ExecuTorch adapter allocates it once per loaded delegate at init() from the runtime
// MemoryAllocator (never in execute()).
#pragma once
#include <cstddef>
#include <cstdint>

namespace mcuformer {

enum class Status : int32_t {
  kOk = 0,
  kInvalidBlob = 1,       // bad magic/length/flatbuffer, or a semantic check failed
  kVersionMismatch = 2,   // blob written for another schema version
  kArenaTooSmall = 3,     // caller's arena smaller than the planned arena
  kBadInput = 4,          // wrong number, dtype or byte size of inputs/outputs
  kUnsupportedOp = 5,     // op kind unknown to this runtime
  kMisaligned = 6,        // arena or blob not suitably aligned
};
const char* status_str(Status s);

// Values equal the schema's DType enum.
enum class DType : int32_t { kInt8 = 0, kInt32 = 1, kFloat32 = 2, kInt16 = 3 };
size_t dtype_size(DType d);

struct IoTensor {
  void* data;
  DType dtype;    // must equal model_input_dtype / model_output_dtype
  size_t nbytes;  // must equal numel * dtype_size
};

// A verified view of a blob. Plain data: pointers into the blob, no ownership.
struct Model {
  const void* program = nullptr;  // the verified flatbuffer root (mcuformer_fb::Program)
  const uint8_t* blob = nullptr;
  size_t blob_size = 0;
  uint32_t arena_bytes = 0;       // Program.arena_bytes
  uint32_t input_pool_bytes = 0;  // Program.input_pool_bytes (0 unless input_overwrite)
  bool input_overwrite = false;
};

Status model_load(const void* blob, size_t size, Model* model);

uint32_t model_arena_bytes(const Model& model);
size_t model_num_inputs(const Model& model);
size_t model_num_outputs(const Model& model);
// Element count and dtype the caller passes for input/output i (the delegate's float boundary).
size_t model_input_numel(const Model& model, size_t i);
size_t model_output_numel(const Model& model, size_t i);
DType model_input_dtype(const Model& model, size_t i);
DType model_output_dtype(const Model& model, size_t i);
size_t model_num_ops(const Model& model);

// Runs one inference. inputs/outputs: model_*_numel elements of model_*_dtype each, in delegate order.
// Returns kBadInput (count, dtype, byte size or null data), kMisaligned, kArenaTooSmall; never a partial run.
Status model_run(const Model& model, uint8_t* arena, size_t arena_bytes, const IoTensor* inputs, size_t num_inputs,
                 const IoTensor* outputs, size_t num_outputs);

}  // namespace mcuformer

// Profiling hook: called before every op (op_index, op_kind) and once with op_index == -1 after the last op.
// Weak and empty by default; the firmware's QEMU build uses it to attribute executed instructions per op.
extern "C" void mcuformer_profile_op(int32_t op_index, int32_t op_kind);
