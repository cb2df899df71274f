// Instruction-count profiling markers for the QEMU TCG plugin (tools/qemu_plugin).
//
// QEMU 7.2 plugins cannot read registers or memory values, but they see which instruction addresses execute. So a
// marker is a call into a "sled" of `bx lr` instructions (mcu_prof_sled, one 2-byte entry per event): the entry's
// address encodes the event. The plugin finds the sled through the ELF's symbols and attributes every executed
// instruction to the op that is open, exactly and repeatably.
//
// Sled layout (entry = 2 bytes):
//   0                 inference begins
//   1                 inference ends
//   2 + kind          the next op has this kind (0..255), sent just before the op marker
//   258 + index + 1   op `index` begins (index -1: the last op ended), index in [-1, kMaxOps - 2]
#pragma once
#include <cstdint>

namespace mcufw {

constexpr int32_t kProfKinds = 256;
constexpr int32_t kProfMaxOps = 1024;
constexpr int32_t kProfKindBase = 2;
constexpr int32_t kProfOpBase = kProfKindBase + kProfKinds;
constexpr int32_t kProfEntries = kProfOpBase + kProfMaxOps;

void prof_inference_begin();
void prof_inference_end();

}  // namespace mcufw
