// ExecuTorch BackendInterface adapter for MCUFormer blobs (contract in mcuformer/delegate.h).
#include <cstdint>
#include <cstring>
#include <new>

#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/platform/log.h>

#include "mcuformer/delegate.h"
#include "mcuformer/runtime.h"

namespace mcuformer {
namespace {

using executorch::aten::ScalarType;
using executorch::runtime::ArrayRef;
using executorch::runtime::Backend;
using executorch::runtime::BackendExecutionContext;
using executorch::runtime::BackendInitContext;
using executorch::runtime::BackendInterface;
using executorch::runtime::CompileSpec;
using executorch::runtime::DelegateHandle;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::FreeableBuffer;
using executorch::runtime::MemoryAllocator;
using executorch::runtime::Result;
using executorch::runtime::Span;

constexpr size_t kMaxIo = 16;

#ifdef MCUFORMER_STATIC_ARENA_BYTES
alignas(16) uint8_t g_static_arena[MCUFORMER_STATIC_ARENA_BYTES];
#endif

// Built in place in the runtime allocator (FreeableBuffer cannot be move-assigned).
struct Handle {
  explicit Handle(FreeableBuffer&& b) : processed(std::move(b)) {}
  FreeableBuffer processed;  // owns the blob when it was used in place; empty when the blob was copied
  Model model;
  uint8_t* arena = nullptr;
  size_t arena_bytes = 0;
};

Error to_error(Status s) {
  switch (s) {
    case Status::kOk: return Error::Ok;
    case Status::kVersionMismatch: return Error::DelegateInvalidCompatibility;
    case Status::kUnsupportedOp: return Error::DelegateInvalidCompatibility;
    case Status::kInvalidBlob: return Error::InvalidProgram;
    case Status::kArenaTooSmall: return Error::DelegateMemoryAllocationFailed;
    case Status::kBadInput: return Error::InvalidArgument;
    case Status::kMisaligned: return Error::InvalidArgument;
  }
  return Error::Internal;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kFloat32: return "float32";
  }
  return "?";
}

bool matches(ScalarType st, DType d) {
  return (d == DType::kFloat32 && st == ScalarType::Float) || (d == DType::kInt8 && st == ScalarType::Char);
}

class MCUFormerBackend final : public BackendInterface {
 public:
  bool is_available() const override { return true; }

  Result<DelegateHandle*> init(BackendInitContext& context, FreeableBuffer* processed,
                               ArrayRef<CompileSpec> compile_specs) const override {
    (void)compile_specs;  // everything the runtime needs travels in the blob
    MemoryAllocator* alloc = context.get_runtime_allocator();
    if (processed == nullptr || alloc == nullptr) return Error::InvalidArgument;
    void* mem = alloc->allocate(sizeof(Handle), alignof(Handle));
    if (mem == nullptr) {
      ET_LOG(Error, "MCUFormerBackend: cannot allocate the delegate handle");
      return Error::MemoryAllocationFailed;
    }
    const uint8_t* blob = static_cast<const uint8_t*>(processed->data());
    const size_t size = processed->size();
    Handle* h = nullptr;
    if (reinterpret_cast<uintptr_t>(blob) % 16 == 0) {
      h = new (mem) Handle(std::move(*processed));
    } else {  // weights are read in place and need 16-byte alignment: copy once
      uint8_t* copy = static_cast<uint8_t*>(alloc->allocate(size, 16));
      if (copy == nullptr) {
        ET_LOG(Error, "MCUFormerBackend: blob at %p is misaligned and %u bytes for an aligned copy are not available",
               static_cast<const void*>(blob), static_cast<unsigned>(size));
        return Error::MemoryAllocationFailed;
      }
      std::memcpy(copy, blob, size);
      processed->Free();
      blob = copy;
      h = new (mem) Handle(FreeableBuffer());
    }
    const Status s = model_load(blob, size, &h->model);
    if (s != Status::kOk) {
      ET_LOG(Error, "MCUFormerBackend: rejected blob (%u bytes): %s", static_cast<unsigned>(size), status_str(s));
      h->~Handle();
      return to_error(s);
    }
    if (model_num_inputs(h->model) + model_num_outputs(h->model) > kMaxIo) {
      ET_LOG(Error, "MCUFormerBackend: %u inputs + outputs, at most %u supported",
             static_cast<unsigned>(model_num_inputs(h->model) + model_num_outputs(h->model)),
             static_cast<unsigned>(kMaxIo));
      h->~Handle();
      return Error::NotSupported;
    }
    const size_t need = model_arena_bytes(h->model);
#ifdef MCUFORMER_STATIC_ARENA_BYTES
    if (need > sizeof(g_static_arena)) {
      ET_LOG(Error,
             "MCUFormerBackend: blob needs an arena of %u bytes, the static arena has %u "
             "(MCUFORMER_STATIC_ARENA_BYTES): %u bytes missing",
             static_cast<unsigned>(need), static_cast<unsigned>(sizeof(g_static_arena)),
             static_cast<unsigned>(need - sizeof(g_static_arena)));
      h->~Handle();
      return Error::DelegateMemoryAllocationFailed;
    }
    h->arena = g_static_arena;
    h->arena_bytes = sizeof(g_static_arena);
#else
    if (need > 0) {
      // What the request costs: the arena plus the padding up to 16-byte alignment (read before allocating).
      const uintptr_t cur = reinterpret_cast<uintptr_t>(alloc->base_address()) + alloc->used_size();
      const size_t cost = need + static_cast<size_t>((16 - cur % 16) % 16);
      const size_t free_bytes = alloc->free_size();
      h->arena = static_cast<uint8_t*>(alloc->allocate(need, 16));
      if (h->arena == nullptr) {
        ET_LOG(Error,
               "MCUFormerBackend: blob needs an arena of %u bytes (%u with alignment), the runtime allocator has "
               "%u free: %u bytes missing",
               static_cast<unsigned>(need), static_cast<unsigned>(cost), static_cast<unsigned>(free_bytes),
               static_cast<unsigned>(cost > free_bytes ? cost - free_bytes : 0));
        h->~Handle();
        return Error::DelegateMemoryAllocationFailed;
      }
    }
    h->arena_bytes = need;
#endif
    return static_cast<DelegateHandle*>(h);
  }

  Error execute(BackendExecutionContext& context, DelegateHandle* handle, Span<EValue*> args) const override {
    (void)context;
    if (handle == nullptr) return Error::DelegateInvalidHandle;
    Handle* h = static_cast<Handle*>(handle);
    const size_t n_in = model_num_inputs(h->model);
    const size_t n_out = model_num_outputs(h->model);
    if (args.size() != n_in + n_out) {
      ET_LOG(Error, "MCUFormerBackend: expected %u inputs + %u outputs, got %u arguments", static_cast<unsigned>(n_in),
             static_cast<unsigned>(n_out), static_cast<unsigned>(args.size()));
      return Error::InvalidArgument;
    }
    IoTensor io[kMaxIo];
    for (size_t i = 0; i < args.size(); ++i) {
      const bool is_in = i < n_in;
      const size_t k = is_in ? i : i - n_in;
      const DType want = is_in ? model_input_dtype(h->model, k) : model_output_dtype(h->model, k);
      const size_t numel = is_in ? model_input_numel(h->model, k) : model_output_numel(h->model, k);
      if (args[i] == nullptr || !args[i]->isTensor()) {
        ET_LOG(Error, "MCUFormerBackend: %s %u is not a tensor", is_in ? "input" : "output", static_cast<unsigned>(k));
        return Error::InvalidArgument;
      }
      executorch::aten::Tensor& t = args[i]->toTensor();
      if (!matches(t.scalar_type(), want) || static_cast<size_t>(t.numel()) != numel) {
        ET_LOG(Error, "MCUFormerBackend: %s %u must be %s with %u elements (got scalar type %d, %u elements)",
               is_in ? "input" : "output", static_cast<unsigned>(k), dtype_name(want), static_cast<unsigned>(numel),
               static_cast<int>(t.scalar_type()), static_cast<unsigned>(t.numel()));
        return Error::InvalidArgument;
      }
      io[i] = IoTensor{t.mutable_data_ptr(), want, t.nbytes()};
    }
    const Status s = model_run(h->model, h->arena, h->arena_bytes, io, n_in, io + n_in, n_out);
    if (s != Status::kOk) {
      ET_LOG(Error, "MCUFormerBackend: execute failed: %s", status_str(s));
      return to_error(s);
    }
    return Error::Ok;
  }

  void destroy(DelegateHandle* handle) const override {
    if (handle != nullptr) static_cast<Handle*>(handle)->~Handle();
  }
};

MCUFormerBackend g_backend;
bool g_registered = false;

int register_once() {
  if (g_registered) return 0;
  const Error e = executorch::runtime::register_backend(Backend{"MCUFormerBackend", &g_backend});
  if (e != Error::Ok) return static_cast<int>(e);
  g_registered = true;
  return 0;
}

const int g_static_registration = register_once();

}  // namespace
}  // namespace mcuformer

extern "C" int mcuformer_register_backend(void) {
  (void)mcuformer::g_static_registration;
  return mcuformer::register_once();
}
