// Startup for the STM32F746 (Cortex-M7): vector table at the start of flash (0x08000000), reset handler.
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

constexpr int kExternalInterrupts = 98;  // STM32F74x/75x: IRQ 0..97

struct VectorTable {
  Vector core[16];
  Vector irq[kExternalInterrupts];
};

// Nothing enables interrupts; any exception other than reset is reported as a fault.
__attribute__((section(".vectors"), used)) const VectorTable g_vectors = {
    {
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
    },
    {
#define F4 Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler
        F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4, F4,  // 96
        Fault_Handler, Fault_Handler,                                                                    // 98
#undef F4
    },
};
