// Board layer for the STM32F746 (e.g. 32F746G-DISCOVERY): 216 MHz from the 25 MHz HSE through the main PLL,
// USART1 console (PA9 TX, 115200 8N1: the board's ST-LINK virtual COM port), DWT cycle counter.
//
// Inputs: the frame buffer lives in the SDRAM region (0xC0000000); on hardware it is filled by the camera/DMA or by
// a debugger (e.g. `restore input.bin binary 0xC0000000` in GDB) before main runs; one sample per boot. Outputs are
// printed as hex words (`MCU_OUTPUT <hex>...`). This board only has to compile and link here (no hardware), so the
// FMC/SDRAM controller bring-up (MT48LC4M32B2 timings) is not done yet: see examples/stm32f746/README.md.
#include <cstddef>
#include <cstdint>

#include "board.h"

namespace {

inline volatile uint32_t& reg(uint32_t addr) { return *reinterpret_cast<volatile uint32_t*>(addr); }

// RCC
constexpr uint32_t RCC = 0x40023800;
constexpr uint32_t RCC_CR = RCC + 0x00, RCC_PLLCFGR = RCC + 0x04, RCC_CFGR = RCC + 0x08;
constexpr uint32_t RCC_AHB1ENR = RCC + 0x30, RCC_APB1ENR = RCC + 0x40, RCC_APB2ENR = RCC + 0x44;
// PWR, FLASH
constexpr uint32_t PWR_CR1 = 0x40007000, PWR_CSR1 = 0x40007004;
constexpr uint32_t FLASH_ACR = 0x40023C00;
// GPIOA, USART1
constexpr uint32_t GPIOA = 0x40020000;
constexpr uint32_t GPIOA_MODER = GPIOA + 0x00, GPIOA_OSPEEDR = GPIOA + 0x08, GPIOA_AFRH = GPIOA + 0x24;
constexpr uint32_t USART1 = 0x40011000;
constexpr uint32_t USART1_CR1 = USART1 + 0x00, USART1_BRR = USART1 + 0x0C, USART1_ISR = USART1 + 0x1C,
                   USART1_TDR = USART1 + 0x28;
// Core debug: DWT cycle counter
constexpr uint32_t DEMCR = 0xE000EDFC, DWT_CTRL = 0xE0001000, DWT_CYCCNT = 0xE0001004, DWT_LAR = 0xE0001FB0;

constexpr uint32_t kHseHz = 25000000, kSysclkHz = 216000000, kApb2Hz = kSysclkHz / 2;
constexpr uint32_t kBaud = 115200;

void wait_set(uint32_t addr, uint32_t mask) {
  for (uint32_t n = 0; (reg(addr) & mask) != mask && n < 10000000; ++n) {
  }
}

void clock_216mhz() {
  // HSE on (25 MHz crystal on the DISCO board).
  reg(RCC_CR) |= 1u << 16;  // HSEON
  wait_set(RCC_CR, 1u << 17);  // HSERDY
  // Voltage scale 1 and over-drive: required above 180 MHz.
  reg(RCC_APB1ENR) |= 1u << 28;  // PWREN
  reg(PWR_CR1) = (reg(PWR_CR1) & ~(3u << 14)) | (3u << 14);  // VOS = scale 1
  // PLL: VCO = HSE / M * N = 25 / 25 * 432 = 432 MHz; SYSCLK = VCO / P(2) = 216 MHz; 48 MHz domain = 432 / 9.
  constexpr uint32_t M = kHseHz / 1000000, N = 432, P_DIV2 = 0, Q = 9;
  reg(RCC_PLLCFGR) = M | (N << 6) | (P_DIV2 << 16) | (1u << 22) /* PLLSRC = HSE */ | (Q << 24);
  reg(RCC_CR) |= 1u << 24;  // PLLON
  reg(PWR_CR1) |= 1u << 16;  // ODEN
  wait_set(PWR_CSR1, 1u << 16);  // ODRDY
  reg(PWR_CR1) |= 1u << 17;  // ODSWEN
  wait_set(PWR_CSR1, 1u << 17);  // ODSWRDY
  wait_set(RCC_CR, 1u << 25);  // PLLRDY
  // Flash: 7 wait states at 216 MHz / 2.7-3.6 V, ART accelerator and prefetch.
  reg(FLASH_ACR) = 7u | (1u << 8) | (1u << 9);
  // AHB /1 (216 MHz), APB1 /4 (54 MHz), APB2 /2 (108 MHz), then switch SYSCLK to the PLL.
  reg(RCC_CFGR) = (reg(RCC_CFGR) & ~0xFCF0u) | (5u << 10) | (4u << 13);
  reg(RCC_CFGR) = (reg(RCC_CFGR) & ~3u) | 2u;  // SW = PLL
  for (uint32_t n = 0; ((reg(RCC_CFGR) >> 2) & 3u) != 2u && n < 10000000; ++n) {
  }
}

void usart1_init() {
  reg(RCC_AHB1ENR) |= 1u << 0;  // GPIOAEN
  reg(RCC_APB2ENR) |= 1u << 4;  // USART1EN
  // PA9: alternate function 7 (USART1_TX), high speed.
  reg(GPIOA_MODER) = (reg(GPIOA_MODER) & ~(3u << 18)) | (2u << 18);
  reg(GPIOA_OSPEEDR) |= 3u << 18;
  reg(GPIOA_AFRH) = (reg(GPIOA_AFRH) & ~(0xFu << 4)) | (7u << 4);
  reg(USART1_BRR) = (kApb2Hz + kBaud / 2) / kBaud;  // oversampling by 16
  reg(USART1_CR1) = (1u << 3) | (1u << 0);         // TE, UE
}

void dwt_init() {
  reg(DEMCR) |= 1u << 24;  // TRCENA
  reg(DWT_LAR) = 0xC5ACCE55;  // unlock (Cortex-M7)
  reg(DWT_CYCCNT) = 0;
  reg(DWT_CTRL) |= 1u;  // CYCCNTENA
}

void putc_raw(char c) {
  wait_set(USART1_ISR, 1u << 7);  // TXE
  reg(USART1_TDR) = static_cast<uint8_t>(c);
}

}  // namespace

namespace board {

void init() {
  clock_216mhz();
  usart1_init();
  dwt_init();
}

const char* name() { return "stm32f746"; }

void write(const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == '\n') putc_raw('\r');
    putc_raw(s[i]);
  }
}

int32_t input_open(size_t sample_bytes) { return sample_bytes > 0 ? 1 : -1; }  // one frame, already in SDRAM

bool input_read(int32_t index, void*, size_t) { return index == 0; }

bool output_open() { return true; }

bool output_write(const void* src, size_t bytes) {
  static const char digits[] = "0123456789abcdef";
  const auto* p = static_cast<const uint8_t*>(src);
  write("MCU_OUTPUT ", 11);
  for (size_t i = 0; i < bytes; ++i) {
    const char h[2] = {digits[p[i] >> 4], digits[p[i] & 0xf]};
    write(h, 2);
  }
  write("\n", 1);
  return true;
}

bool output_close() { return true; }

uint32_t cycles() { return reg(DWT_CYCCNT); }

void exit(int32_t code) {
  static const char msg[] = "MCU_EXIT ";
  write(msg, sizeof(msg) - 1);
  const char d[3] = {char('0' + (code / 100) % 10), char('0' + (code / 10) % 10), char('0' + code % 10)};
  write(d, 3);
  write("\n", 1);
  wait_set(USART1_ISR, 1u << 6);  // TC: last byte out
  for (;;) __asm__ volatile("wfi");
}

}  // namespace board
