// Minimal bare-metal start for the QEMU kernel test (mps2-an500): vector table, FPU on, .bss zeroed, semihosting
// (rdimon) for printf and the exit code.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
extern "C" {
extern uint32_t __stack_top, __bss_start__, __bss_end__;
int main();
void initialise_monitor_handles(void);
void _init(void) {}
void _fini(void) {}
[[noreturn]] void Reset_Handler(void) {
  *reinterpret_cast<volatile uint32_t*>(0xE000ED88) |= (0xFu << 20);  // CPACR: FPU
  __asm__ volatile("dsb\n\tisb");
  std::memset(&__bss_start__, 0, (char*)&__bss_end__ - (char*)&__bss_start__);
  initialise_monitor_handles();
  std::exit(main());
}
void Default_Handler(void) { std::exit(99); }
__attribute__((section(".vectors"), used)) void* const vectors[16] = {
    &__stack_top, (void*)Reset_Handler, (void*)Default_Handler, (void*)Default_Handler, (void*)Default_Handler,
    (void*)Default_Handler, (void*)Default_Handler, 0, 0, 0, 0, (void*)Default_Handler, (void*)Default_Handler, 0,
    (void*)Default_Handler, (void*)Default_Handler};
}
extern "C" {
void* __dso_handle = nullptr;
int getentropy(void*, size_t) { return -1; }
}
