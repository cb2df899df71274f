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
// The arena (all activations), chosen by the CMake cache variable MCUFORMER_STATIC_ARENA_BYTES:
//   - 0 (default): each delegate's arena (exactly arena_bytes, 16-byte aligned) is allocated once at init from the
//     BackendInitContext's runtime allocator (ExecuTorch's method allocator); execute never allocates.
//   - N > 0: one static 16-byte aligned block of N bytes shared by every MCUFormer delegate (delegates run one at a
//     time); the firmware sizes it at build time from the .pte's plan.
//   Either way init fails with Error::DelegateMemoryAllocationFailed and an ET_LOG line saying how many bytes the
//   arena needs, how many it was given and how many are missing. The size a .pte needs:
//   `python examples/executorch_cm7/pte_sizes.py model.pte --cmake` (or `mcuformer memory model.pte`).
//
// Registration: the backend registers itself at static-init time. mcuformer_backend carries whole-archive link
// options (as ExecuTorch's own backend libraries do), so linking it is enough: its registration object is never
// dropped. mcuformer_register_backend() is kept for code that loads the host library by hand (ctypes); it is
// idempotent and returns 0 on success.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

int mcuformer_register_backend(void);

#ifdef __cplusplus
}
#endif
