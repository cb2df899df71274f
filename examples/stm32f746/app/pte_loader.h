// Finds the MCUFormer delegate blob inside an ExecuTorch `.pte`, in place, without ExecuTorch's runtime.
//
// Usage:
//   mcufw::PteDelegate d;
//   mcufw::PteError e = mcufw::pte_find_delegate(pte, pte_len, &d);
//   if (e != mcufw::PteError::kOk) return report(mcufw::pte_error_str(e));
//   mcuformer::model_load(d.data, d.size, &model);   // d.data points into `pte` (flash/QSPI): nothing is copied
//
// Accepted programs: exactly one method (execution plan) whose only chain holds exactly one instruction, a
// DelegateCall on delegates[0], whose id is "MCUFormerBackend". The delegate's processed data may be inline
// (Program.backend_delegate_data[index]) or in a segment (Program.segments[index], located through the extended
// header "eh00" at byte 8 of the file, which gives the flatbuffer size and the segment base offset).
//
// Contract:
//  - `pte` must be 16-byte aligned (kMisaligned otherwise); so is the returned blob (inline data is force_align 16,
//    segments are 128-byte aligned in the file).
//  - Never reads outside [pte, pte + len): the flatbuffer is verified (flatbuffers Verifier, identifier ET12) over
//    its own extent before any field is read, and every offset/size is checked against len with 64-bit arithmetic.
//  - Any malformed input returns a nonzero PteError; it never asserts, faults, allocates or copies.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mcufw {

enum class PteError : int32_t {
  kOk = 0,
  kTooSmall = 1,               // null buffer, or shorter than a flatbuffer root offset + identifier
  kBadIdentifier = 2,          // file identifier (bytes 4..8) is not "ET12"
  kBadExtendedHeader = 3,      // "eh00" header present but its length/sizes are inconsistent with the buffer
  kVerifyFailed = 4,           // the flatbuffers verifier rejected the program
  kNotSingleMethod = 5,        // not exactly one execution plan
  kNotSingleDelegateCall = 6,  // the method is not exactly one DelegateCall on delegates[0]
  kWrongBackend = 7,           // delegates[0].id is not "MCUFormerBackend"
  kBadDataReference = 8,       // processed-data reference missing, or its index out of range
  kOutOfBounds = 9,            // segment offset/size outside the buffer
  kMisaligned = 10,            // buffer or delegate data not 16-byte aligned
};
const char* pte_error_str(PteError e);

struct PteDelegate {
  const uint8_t* data = nullptr;  // the delegate's processed bytes, inside the .pte buffer
  size_t size = 0;
  bool in_segment = false;        // false: Program.backend_delegate_data[index]; true: Program.segments[index]
  uint32_t index = 0;
  size_t program_bytes = 0;       // extent of the flatbuffer (the whole buffer when there is no extended header)
  int64_t et_planned_bytes = 0;   // ExecuTorch's own plan for boundary tensors: sum of non_const_buffer_sizes[1..]
};

extern const char kMcuformerBackendId[];  // "MCUFormerBackend"

PteError pte_find_delegate(const void* pte, size_t len, PteDelegate* out);

}  // namespace mcufw
