// Exit codes of the firmware (QEMU's exit code is main's return value) and of host/pte_info.
// Ranges are distinct so a code alone says which layer failed; mcuformer/mcu.py maps them back to messages.
#pragma once
#include <cstdint>

#include "mcuformer/runtime.h"
#include "pte_loader.h"

namespace mcufw {

enum AppCode : int32_t {
  kAppOk = 0,
  kAppPteBase = 10,         // 10 + PteError: the .pte was rejected by the loader
  kAppModelLoadBase = 40,   // 40 + mcuformer::Status from model_load
  kAppModelRunBase = 50,    // 50 + mcuformer::Status from model_run
  kAppArenaTooSmall = 60,   // model_arena_bytes() > the arena linked into this firmware
  kAppIoMismatch = 61,      // the model's inputs/outputs do not match the buffers of this build
  kAppInputError = 62,      // input could not be read (missing file, size not a multiple of one input)
  kAppOutputError = 63,     // output could not be written
  kAppCanaryBefore = 70,    // guard words below the arena were overwritten
  kAppCanaryAfter = 71,     // guard words above the arena were overwritten
  kAppStackOverflow = 72,   // the stack watermark reached the stack's guard words
  kAppFault = 90,           // a CPU fault (HardFault/MemManage/BusFault/UsageFault) was caught
};

inline int32_t app_code_for(PteError e) { return kAppPteBase + int32_t(e); }
inline int32_t app_code_for(mcuformer::Status s) { return kAppModelLoadBase + int32_t(s); }
inline int32_t app_run_code_for(mcuformer::Status s) { return kAppModelRunBase + int32_t(s); }

}  // namespace mcufw
