// See pte_loader.h. Generated code: program_generated.h comes from the executorch wheel's program.fbs through
// Debian's flatc (--cpp --scoped-enums) at build time; it is never committed.
#include "pte_loader.h"

#include <cstring>

#include "program_generated.h"

namespace mcufw {

const char kMcuformerBackendId[] = "MCUFormerBackend";

namespace {

namespace fb = executorch_flatbuffer;

constexpr size_t kIdentifierOffset = 4;          // flatbuffer: u32 root offset, then 4 identifier bytes
constexpr size_t kExtendedHeaderOffset = 8;      // ExecuTorch: "eh00" header right after the identifier
constexpr size_t kExtendedHeaderMinBytes = 24;   // magic[4] length:u32 program_size:u64 segment_base_offset:u64
constexpr uintptr_t kAlign = 16;

uint32_t read_u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t read_u64(const uint8_t* p) { return uint64_t(read_u32(p)) | uint64_t(read_u32(p + 4)) << 32; }

struct ExtendedHeader {
  bool present = false;
  uint64_t program_size = 0;
  uint64_t segment_base_offset = 0;
};

PteError parse_extended_header(const uint8_t* p, size_t len, ExtendedHeader* h) {
  if (len < kExtendedHeaderOffset + 8 || std::memcmp(p + kExtendedHeaderOffset, "eh00", 4) != 0) {
    return PteError::kOk;  // optional: absent means the whole buffer is the flatbuffer and there are no segments
  }
  const uint32_t hdr_len = read_u32(p + kExtendedHeaderOffset + 4);
  if (hdr_len < kExtendedHeaderMinBytes || uint64_t(kExtendedHeaderOffset) + hdr_len > len) {
    return PteError::kBadExtendedHeader;
  }
  h->present = true;
  h->program_size = read_u64(p + kExtendedHeaderOffset + 8);
  h->segment_base_offset = read_u64(p + kExtendedHeaderOffset + 16);
  if (h->program_size < kExtendedHeaderOffset + hdr_len || h->program_size > len ||
      h->segment_base_offset < h->program_size || h->segment_base_offset > len) {
    return PteError::kBadExtendedHeader;
  }
  return PteError::kOk;
}

}  // namespace

const char* pte_error_str(PteError e) {
  switch (e) {
    case PteError::kOk: return "ok";
    case PteError::kTooSmall: return "pte buffer missing or too small";
    case PteError::kBadIdentifier: return "not an ExecuTorch program (identifier is not ET12)";
    case PteError::kBadExtendedHeader: return "inconsistent extended header (eh00)";
    case PteError::kVerifyFailed: return "flatbuffer verification failed";
    case PteError::kNotSingleMethod: return "program does not have exactly one method";
    case PteError::kNotSingleDelegateCall: return "method is not exactly one delegate call";
    case PteError::kWrongBackend: return "delegate id is not MCUFormerBackend";
    case PteError::kBadDataReference: return "delegate data reference missing or out of range";
    case PteError::kOutOfBounds: return "delegate segment outside the pte buffer";
    case PteError::kMisaligned: return "pte buffer or delegate data not 16-byte aligned";
  }
  return "unknown pte error";
}

PteError pte_find_delegate(const void* pte, size_t len, PteDelegate* out) {
  const auto* p = static_cast<const uint8_t*>(pte);
  if (p == nullptr || out == nullptr || len < kExtendedHeaderOffset) return PteError::kTooSmall;
  if (reinterpret_cast<uintptr_t>(p) % kAlign != 0) return PteError::kMisaligned;
  if (std::memcmp(p + kIdentifierOffset, fb::ProgramIdentifier(), 4) != 0) return PteError::kBadIdentifier;

  ExtendedHeader eh;
  PteError e = parse_extended_header(p, len, &eh);
  if (e != PteError::kOk) return e;
  const size_t program_bytes = eh.present ? size_t(eh.program_size) : len;
  if (program_bytes >= FLATBUFFERS_MAX_BUFFER_SIZE) return PteError::kTooSmall;

  flatbuffers::Verifier verifier(p, program_bytes);
  if (!fb::VerifyProgramBuffer(verifier)) return PteError::kVerifyFailed;
  const fb::Program* program = fb::GetProgram(p);

  const auto* plans = program->execution_plan();
  if (plans == nullptr || plans->size() != 1) return PteError::kNotSingleMethod;
  const fb::ExecutionPlan* plan = plans->Get(0);

  const auto* chains = plan->chains();
  if (chains == nullptr || chains->size() != 1) return PteError::kNotSingleDelegateCall;
  const auto* instructions = chains->Get(0)->instructions();
  if (instructions == nullptr || instructions->size() != 1) return PteError::kNotSingleDelegateCall;
  const fb::DelegateCall* call = instructions->Get(0)->instr_args_as_DelegateCall();
  if (call == nullptr || call->delegate_index() != 0) return PteError::kNotSingleDelegateCall;

  const auto* delegates = plan->delegates();
  if (delegates == nullptr || delegates->size() < 1) return PteError::kNotSingleDelegateCall;
  const fb::BackendDelegate* delegate = delegates->Get(0);
  const flatbuffers::String* id = delegate->id();
  if (id == nullptr || id->size() != sizeof(kMcuformerBackendId) - 1 ||
      std::memcmp(id->data(), kMcuformerBackendId, id->size()) != 0) {
    return PteError::kWrongBackend;
  }

  const fb::BackendDelegateDataReference* ref = delegate->processed();
  if (ref == nullptr) return PteError::kBadDataReference;
  PteDelegate d;
  d.index = ref->index();
  d.program_bytes = program_bytes;
  if (ref->location() == fb::DataLocation::INLINE) {
    const auto* blobs = program->backend_delegate_data();
    if (blobs == nullptr || d.index >= blobs->size()) return PteError::kBadDataReference;
    const auto* data = blobs->Get(d.index)->data();
    if (data == nullptr) return PteError::kBadDataReference;
    d.data = data->data();  // inside [p, p + program_bytes): the verifier checked the vector's extent
    d.size = data->size();
  } else if (ref->location() == fb::DataLocation::SEGMENT) {
    const auto* segments = program->segments();
    if (!eh.present || segments == nullptr || d.index >= segments->size()) return PteError::kBadDataReference;
    const fb::DataSegment* seg = segments->Get(d.index);
    const uint64_t offset = seg->offset();
    const uint64_t size = seg->size();
    const uint64_t room = uint64_t(len) - eh.segment_base_offset;  // segment_base_offset <= len (checked)
    if (offset > room || size > room - offset) return PteError::kOutOfBounds;
    d.in_segment = true;
    d.data = p + size_t(eh.segment_base_offset + offset);
    d.size = size_t(size);
  } else {
    return PteError::kBadDataReference;
  }
  if (reinterpret_cast<uintptr_t>(d.data) % kAlign != 0) return PteError::kMisaligned;

  if (const auto* sizes = plan->non_const_buffer_sizes()) {
    // The verifier checks this vector's extent but aligns it only to 4 bytes: read the int64s bytewise.
    const uint8_t* raw = reinterpret_cast<const uint8_t*>(sizes->Data());
    for (flatbuffers::uoffset_t i = 1; i < sizes->size(); ++i) {
      const int64_t s = static_cast<int64_t>(read_u64(raw + 8 * size_t(i)));
      if (s > 0 && d.et_planned_bytes <= INT64_MAX - s) d.et_planned_bytes += s;
    }
  }
  *out = d;
  return PteError::kOk;
}

}  // namespace mcufw
