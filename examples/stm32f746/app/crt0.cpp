// C runtime start shared by the boards: the board's Reset_Handler enables the FPU and jumps here.
// Copies .data from flash, zeroes .bss, paints the stack, runs static constructors, calls main and ends the program
// with main's return value. Also the common fault handler: reports and exits with kAppFault instead of hanging.
#include <cstdint>
#include <cstring>

#include "app_status.h"
#include "board.h"
#include "console.h"
#include "mem_guard.h"

extern "C" {
extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
int main();

// Called by libc's __libc_init_array (not used here, but some objects reference them): nothing to do.
void _init(void) {}
void _fini(void) {}

[[noreturn]] void mcufw_start(void) {
  std::memcpy(&__data_start, &__data_load,
              static_cast<size_t>(reinterpret_cast<uint8_t*>(&__data_end) - reinterpret_cast<uint8_t*>(&__data_start)));
  std::memset(&__bss_start, 0,
              static_cast<size_t>(reinterpret_cast<uint8_t*>(&__bss_end) - reinterpret_cast<uint8_t*>(&__bss_start)));
  mcufw_paint_memory();
  for (void (**f)(void) = __init_array_start; f < __init_array_end; ++f) (*f)();
  board::exit(main());
}

void mcufw_fault_report(uint32_t ipsr, uint32_t cfsr, uint32_t pc) {
  mcufw::Line()
      .str("MCU_ERROR {\"code\":")
      .i64(mcufw::kAppFault)
      .str(",\"message\":\"cpu fault\",\"ipsr\":")
      .u64(ipsr)
      .str(",\"cfsr\":")
      .u64(cfsr)
      .str(",\"pc\":")
      .u64(pc)
      .str("}")
      .end();
  board::exit(mcufw::kAppFault);
}

// HardFault / MemManage / BusFault / UsageFault: take the faulting PC from the stacked frame (if the stack is
// usable), move to a fresh stack top and report.
__attribute__((naked)) void Fault_Handler(void) {
  __asm__ volatile(
      "tst lr, #4\n"
      "ite eq\n"
      "mrseq r2, msp\n"
      "mrsne r2, psp\n"
      "ldr r3, =__stack_limit\n"
      "cmp r2, r3\n"
      "ite hs\n"
      "ldrhs r2, [r2, #24]\n"  // stacked PC
      "movlo r2, #0\n"
      "ldr r0, =__stack_top\n"
      "msr msp, r0\n"
      "mrs r0, ipsr\n"
      "ldr r1, =0xE000ED28\n"  // CFSR
      "ldr r1, [r1]\n"
      "b mcufw_fault_report\n");
}
}
