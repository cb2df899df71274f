// Static memory of the firmware and its guards.
//
//  - The arena: one static, 16-byte-aligned array whose size comes from the build (mcu_build_config.h, generated
//    from the .pte's plan by the runner), with kGuardWords guard words on each side (canaries).
//  - The stack: a fixed-size region at the very bottom of SRAM (so an overflow runs into unmapped memory and faults
//    instead of corrupting data), painted with a pattern at boot; guard words at its low end.
//  - The frame buffer: where inputs are read to, in the SDRAM region (outside the 320 KB SRAM budget).
//
// After every inference the application calls check(): it verifies both canaries and the stack guard and measures
// the stack's high-water mark.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mcufw {

constexpr uint32_t kGuardWords = 4;
constexpr uint32_t kArenaCanary = 0xC0DEA5A5u;
constexpr uint32_t kStackPaint = 0x57ACB0B0u;
constexpr uint32_t kStackGuard = 0x5AFE57ACu;

uint8_t* arena();
size_t arena_capacity();  // bytes usable by the model (the build's MCU_ARENA_BYTES rounded up to 16)

uint8_t* frame_buffer();
size_t frame_buffer_capacity();

float* output_buffer();
size_t output_buffer_capacity();

size_t stack_bytes();
size_t stack_peak_bytes();  // high-water mark since boot (painted words overwritten)

enum class GuardStatus { kOk, kCanaryBefore, kCanaryAfter, kStackOverflow };
GuardStatus check_guards();
const char* guard_status_str(GuardStatus s);

}  // namespace mcufw

// Called by the board's reset handler before main: paints the stack below the current stack pointer and writes the
// guard words. Must not use more than a few words of stack itself.
extern "C" void mcufw_paint_memory(void);
