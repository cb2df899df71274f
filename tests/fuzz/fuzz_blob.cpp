// libFuzzer target: the delegate blob loader (header, CRC, flatbuffers verifier, semantic checks) and, for whatever
// loads, one model_run with zero inputs in a guarded arena (see fuzz_common.h).
//
// The custom mutator repairs the header's size and CRC after most mutations (else nearly every mutant would stop at
// the CRC check); one in eight mutants keeps its header as mutated, so the header parser is fuzzed too. A crashing
// input is therefore an exact reproducer: the harness itself never rewrites what it runs.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 8 != 0) mcufuzz::fix_blob_header(data, size);
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcufuzz::AlignedCopy blob(data, size);
  mcuformer::Model model;
  const mcuformer::Status s = mcuformer::model_load(blob.ptr, size, &model);
  if (s != mcuformer::Status::kOk) {
    mcufuzz::trap_if(model.program != nullptr, "model_load failed but left a program behind");
    return 0;
  }
  mcufuzz::run_model(model);
  return 0;
}
