// The ExecuTorch side of MCUFormer: the "MCUFormerBackend" BackendInterface (src/delegate/mcuformer_backend.cpp).
//
// It is a thin adapter over the core API in runtime.h:
//   init     verifies the blob with model_load (header, CRC, flatbuffers verifier, semantic checks) and builds a small
//            handle in place in the runtime allocator. The handle keeps the processed FreeableBuffer alive (moved in,
//            never move-assigned) because weights are read in place; when the buffer is not 16-byte aligned it is
//            copied once into the runtime allocator and freed.
//   execute  args = delegate inputs, then outputs. Each must be a tensor of the blob's dtype (float32 or int8) and
//            element count, else Error::InvalidArgument with an ET_LOG line naming the argument. Never allocates.
//   destroy  runs the handle's destructor (frees the processed buffer); the runtime allocator owns the memory.
//
// The arena (all activations):
//   - Device builds define MCUFORMER_STATIC_ARENA_BYTES (the firmware sizes it at build time from the .pte's plan):
//     one static 16-byte aligned block of that size shared by every MCUFormer delegate (delegates run one at a
//     time). init fails with Error::DelegateMemoryAllocationFailed when a blob's plan needs more.
//   - Host builds (no MCUFORMER_STATIC_ARENA_BYTES): each delegate's arena (exactly arena_bytes) is allocated once
//     at init from the BackendInitContext's runtime allocator; execute never allocates.
//
// Registration: the backend registers itself at static-init time. Code linking the static library
// mcuformer_backend (whose object file a linker may drop when nothing references it) calls
// mcuformer_register_backend() explicitly; it is idempotent and returns 0 on success.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

int mcuformer_register_backend(void);

#ifdef __cplusplus
}
#endif
