// Plain C entry points of the host shared library (mcuformer_host), for tests and tools driving single-op programs
// through ctypes without ExecuTorch. Host only (uses the heap); the firmware calls runtime.h directly.
//
// Return values are mcuformer::Status codes (0 = ok), or kHostArenaCorrupted when the run wrote into the guard
// bytes placed around the arena (a runtime bug: the planned arena was not respected).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MCUFORMER_HOST_ARENA_CORRUPTED 100
#define MCUFORMER_HOST_ARENA_EXACT ((size_t)-1)

// Copies the blob to a 16-byte aligned buffer, loads it, allocates an arena of exactly model_arena_bytes
// (or arena_bytes when it is not MCUFORMER_HOST_ARENA_EXACT) with guard bytes on both sides, and runs once.
// Input i is inputs[i] with input_nbytes[i] bytes (dtype: the model's, see mcuformer_host_io_info).
int mcuformer_host_run(const void* blob, size_t size, int num_inputs, void* const* inputs, const size_t* input_nbytes,
                       int num_outputs, void* const* outputs, const size_t* output_nbytes);
int mcuformer_host_run_arena(const void* blob, size_t size, size_t arena_bytes, int num_inputs, void* const* inputs,
                             const size_t* input_nbytes, int num_outputs, void* const* outputs,
                             const size_t* output_nbytes);

// Loads the blob (aligned copy) and reports its arena size and I/O counts. Returns the load Status.
int mcuformer_host_inspect(const void* blob, size_t size, uint32_t* arena_bytes, int* num_inputs, int* num_outputs);

// dtype (mcuformer::DType value) and element count of input (is_input = 1) or output i. Returns the load Status.
int mcuformer_host_io_info(const void* blob, size_t size, int is_input, int i, int* dtype, size_t* numel);

// Status code -> short English text.
const char* mcuformer_host_status_str(int status);

// The blob schema version this runtime reads.
uint32_t mcuformer_host_schema_version(void);

#ifdef __cplusplus
}
#endif
