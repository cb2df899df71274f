#include "mem_guard.h"

#include "mcu_build_config.h"  // generated: MCU_ARENA_BYTES, MCU_FRAME_BYTES, MCU_OUTPUT_BYTES, MCU_STACK_BYTES

namespace mcufw {
namespace {

constexpr size_t round16(size_t n) { return (n + 15) / 16 * 16; }
constexpr size_t kArenaBytes = round16(MCU_ARENA_BYTES > 0 ? MCU_ARENA_BYTES : 16);

// Canaries are adjacent to the arena by construction (one struct), in their own NOLOAD output section.
struct alignas(16) GuardedArena {
  uint32_t before[kGuardWords];
  uint8_t bytes[kArenaBytes];
  uint32_t after[kGuardWords];
};
__attribute__((section(".arena"), used)) GuardedArena g_arena;

__attribute__((section(".frame"), aligned(16), used)) uint8_t g_frame[round16(MCU_FRAME_BYTES > 0 ? MCU_FRAME_BYTES : 16)];
alignas(16) float g_output[(MCU_OUTPUT_BYTES > 0 ? MCU_OUTPUT_BYTES : 16) / sizeof(float) + 1];

static_assert(MCU_STACK_BYTES % 8 == 0 && MCU_STACK_BYTES >= 1024, "MCU_STACK_BYTES: a multiple of 8, >= 1 KB");
__attribute__((section(".stack"), aligned(8), used)) uint32_t g_stack[MCU_STACK_BYTES / 4];

// The canaries are written at boot from here; volatile accesses keep the compiler from assuming their values.
void write_canaries() {
  volatile uint32_t* b = g_arena.before;
  volatile uint32_t* a = g_arena.after;
  for (uint32_t i = 0; i < kGuardWords; ++i) {
    b[i] = kArenaCanary ^ i;
    a[i] = kArenaCanary ^ (i + 0x100);
  }
}

}  // namespace

uint8_t* arena() { return g_arena.bytes; }
size_t arena_capacity() { return kArenaBytes; }
uint8_t* frame_buffer() { return g_frame; }
size_t frame_buffer_capacity() { return sizeof(g_frame); }
float* output_buffer() { return g_output; }
size_t output_buffer_capacity() { return MCU_OUTPUT_BYTES; }
size_t stack_bytes() { return sizeof(g_stack); }

size_t stack_peak_bytes() {
  const volatile uint32_t* s = g_stack;
  size_t i = kGuardWords;
  const size_t n = sizeof(g_stack) / 4;
  while (i < n && s[i] == kStackPaint) ++i;
  return (n - i) * 4;
}

GuardStatus check_guards() {
  const volatile uint32_t* b = g_arena.before;
  const volatile uint32_t* a = g_arena.after;
  const volatile uint32_t* s = g_stack;
  for (uint32_t i = 0; i < kGuardWords; ++i) {
    if (s[i] != kStackGuard) return GuardStatus::kStackOverflow;
  }
  if (s[kGuardWords] != kStackPaint) return GuardStatus::kStackOverflow;  // watermark reached the guard
  for (uint32_t i = 0; i < kGuardWords; ++i) {
    if (b[i] != (kArenaCanary ^ i)) return GuardStatus::kCanaryBefore;
    if (a[i] != (kArenaCanary ^ (i + 0x100))) return GuardStatus::kCanaryAfter;
  }
  return GuardStatus::kOk;
}

const char* guard_status_str(GuardStatus s) {
  switch (s) {
    case GuardStatus::kOk: return "ok";
    case GuardStatus::kCanaryBefore: return "arena canary below the arena overwritten";
    case GuardStatus::kCanaryAfter: return "arena canary above the arena overwritten";
    case GuardStatus::kStackOverflow: return "stack watermark reached the stack guard";
  }
  return "unknown";
}

}  // namespace mcufw

extern "C" void mcufw_paint_memory(void) {
  uint32_t* s = mcufw::g_stack;
  uint32_t* sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  uint32_t* const stop = sp - 16;  // leave this function's own frame alone
  for (uint32_t i = 0; i < mcufw::kGuardWords; ++i) s[i] = mcufw::kStackGuard;
  for (uint32_t* p = s + mcufw::kGuardWords; p < stop; ++p) *p = mcufw::kStackPaint;
  mcufw::write_canaries();
}
