// Startup for QEMU's mps2-an500 (Cortex-M7): vector table at 0x00000000, reset handler.
#include <cstdint>

extern "C" {
extern uint32_t __stack_top;
void mcufw_start(void);
void Fault_Handler(void);

// Reset: enable CP10/CP11 (the FPU) in CPACR before any floating-point instruction can run, then the C start.
__attribute__((naked, noreturn)) void Reset_Handler(void) {
  __asm__ volatile(
      "ldr r0, =0xE000ED88\n"
      "ldr r1, [r0]\n"
      "orr r1, r1, #(0xF << 20)\n"
      "str r1, [r0]\n"
      "dsb\n"
      "isb\n"
      "ldr r0, =__stack_top\n"
      "msr msp, r0\n"
      "b mcufw_start\n");
}
}

using Vector = void (*)(void);

// 16 core exceptions + the AN500's 32 external interrupts. Nothing enables interrupts; any exception other than
// reset is reported as a fault.
__attribute__((section(".vectors"), used)) const Vector g_vectors[16 + 32] = {
    reinterpret_cast<Vector>(&__stack_top),
    Reset_Handler,
    Fault_Handler,  // NMI
    Fault_Handler,  // HardFault
    Fault_Handler,  // MemManage
    Fault_Handler,  // BusFault
    Fault_Handler,  // UsageFault
    nullptr, nullptr, nullptr, nullptr,
    Fault_Handler,  // SVCall
    Fault_Handler,  // DebugMonitor
    nullptr,
    Fault_Handler,  // PendSV
    Fault_Handler,  // SysTick
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
};
