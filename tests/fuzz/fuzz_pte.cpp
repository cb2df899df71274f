// libFuzzer target: the firmware's on-device .pte loader (examples/stm32f746/app/pte_loader.cpp, compiled for the
// host with the same flatbuffers code generated from ExecuTorch's program.fbs), then what the firmware does next:
// model_load on the delegate data it found, in place, and one model_run (see fuzz_common.h).
//
// The custom mutator repairs the CRC of the delegate blob inside the .pte after most mutations, so mutants reach the
// blob's verifier and semantic checks; crashing inputs are exact reproducers.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "pte_loader.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 8 == 0) return size;
  mcufuzz::AlignedCopy pte(data, size);
  mcufw::PteDelegate d;
  if (mcufw::pte_find_delegate(pte.ptr, size, &d) == mcufw::PteError::kOk) {
    mcufuzz::fix_blob_header(data + (d.data - pte.ptr), d.size);
  }
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcufuzz::AlignedCopy pte(data, size);
  mcufw::PteDelegate d;
  if (mcufw::pte_find_delegate(pte.ptr, size, &d) != mcufw::PteError::kOk) return 0;
  mcufuzz::trap_if(d.data < pte.ptr || d.size > size || d.data + d.size > pte.ptr + size,
                   "pte_find_delegate returned data outside the .pte");
  mcuformer::Model model;
  if (mcuformer::model_load(d.data, d.size, &model) != mcuformer::Status::kOk) return 0;
  mcufuzz::run_model(model);
  return 0;
}
