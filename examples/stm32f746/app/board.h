// The board layer: the only code that differs between boards/qemu_mps2_an500 and boards/stm32f746.
// The application (app/) calls nothing else that is board specific.
#pragma once
#include <cstddef>
#include <cstdint>

namespace board {

// Clocks, console, cycle counter. Called once from main before anything else.
void init();
const char* name();

// Console output (semihosting on QEMU, USART1 on the STM32F746).
void write(const char* s, size_t n);

// Inputs: float32 samples, each `sample_bytes` long, read one at a time into the frame buffer (which lives outside
// the 320 KB SRAM: the SDRAM region). Returns the number of samples available, or a negative value on error.
int32_t input_open(size_t sample_bytes);
bool input_read(int32_t index, void* dst, size_t sample_bytes);

// Outputs: appended sample after sample; output_close flushes. Return false on error.
bool output_open();
bool output_write(const void* src, size_t bytes);
bool output_close();

// Free-running cycle counter (DWT CYCCNT on the STM32F746); QEMU has none and returns 0.
uint32_t cycles();

// Ends the program with `code` (QEMU: the emulator's exit status; STM32F746: reports, then waits for a debugger).
[[noreturn]] void exit(int32_t code);

}  // namespace board
