#include "profile.h"

#include "mcuformer/runtime.h"

extern "C" void mcu_prof_sled(void);

namespace mcufw {
namespace {

static_assert(kProfEntries == 1282, "keep profile_sled.S's .rept count in step");

inline void hit(int32_t entry) {
  // Thumb: bit 0 set. Each entry is one 2-byte `bx lr`.
  const uintptr_t addr = (reinterpret_cast<uintptr_t>(&mcu_prof_sled) & ~uintptr_t(1)) + 2u * uint32_t(entry);
  reinterpret_cast<void (*)(void)>(addr | 1u)();
}

}  // namespace

void prof_inference_begin() { hit(0); }
void prof_inference_end() { hit(1); }

}  // namespace mcufw

extern "C" void mcuformer_profile_op(int32_t op_index, int32_t op_kind) {
  using namespace mcufw;
  const int32_t kind = op_kind < 0 || op_kind >= kProfKinds ? kProfKinds - 1 : op_kind;
  int32_t slot = op_index + 1;
  if (slot < 0 || slot >= kProfMaxOps) slot = kProfMaxOps - 1;  // out of range: pooled in the last slot
  hit(kProfKindBase + kind);
  hit(kProfOpBase + slot);
}
