// Board layer for QEMU's mps2-an500 (Cortex-M7), driven through ARM semihosting (bkpt 0xab):
// console on the semihosting console (QEMU's stdout), inputs from `input.bin` and outputs to `output.bin` in QEMU's
// working directory (the runner, mcuformer/mcu.py, prepares both), exit status = main's return value
// (SYS_EXIT_EXTENDED). No newlib stdio: every call below is one semihosting operation.
#include <cstddef>
#include <cstdint>

#include "board.h"

namespace {

enum : int32_t {
  kSysOpen = 0x01,
  kSysClose = 0x02,
  kSysWrite = 0x05,
  kSysRead = 0x06,
  kSysSeek = 0x0A,
  kSysFlen = 0x0C,
  kSysExitExtended = 0x20,
};
constexpr int32_t kModeRb = 1, kModeW = 4, kModeWb = 5;  // fopen modes "rb", "w", "wb"
constexpr uint32_t kAdpStoppedApplicationExit = 0x20026;

const char kInputName[] = "input.bin";
const char kOutputName[] = "output.bin";
const char kConsoleName[] = ":tt";

int32_t semihost(int32_t op, const void* args) {
  register int32_t r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = args;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

int32_t sh_open(const char* name, size_t len, int32_t mode) {
  const uint32_t args[3] = {reinterpret_cast<uint32_t>(name), uint32_t(mode), uint32_t(len)};
  return semihost(kSysOpen, args);
}

// Returns the number of bytes NOT transferred (0: all).
int32_t sh_write(int32_t fd, const void* p, size_t n) {
  const uint32_t args[3] = {uint32_t(fd), reinterpret_cast<uint32_t>(p), uint32_t(n)};
  return semihost(kSysWrite, args);
}
int32_t sh_read(int32_t fd, void* p, size_t n) {
  const uint32_t args[3] = {uint32_t(fd), reinterpret_cast<uint32_t>(p), uint32_t(n)};
  return semihost(kSysRead, args);
}
int32_t sh_seek(int32_t fd, uint32_t pos) {
  const uint32_t args[2] = {uint32_t(fd), pos};
  return semihost(kSysSeek, args);
}
int32_t sh_flen(int32_t fd) {
  const uint32_t args[1] = {uint32_t(fd)};
  return semihost(kSysFlen, args);
}
int32_t sh_close(int32_t fd) {
  const uint32_t args[1] = {uint32_t(fd)};
  return semihost(kSysClose, args);
}

int32_t g_console = -1;
int32_t g_input = -1;
int32_t g_output = -1;
int32_t g_next_index = 0;

}  // namespace

namespace board {

void init() { g_console = sh_open(kConsoleName, sizeof(kConsoleName) - 1, kModeW); }

const char* name() { return "qemu_mps2_an500"; }

void write(const char* s, size_t n) {
  if (g_console >= 0) sh_write(g_console, s, n);
}

int32_t input_open(size_t sample_bytes) {
  g_input = sh_open(kInputName, sizeof(kInputName) - 1, kModeRb);
  if (g_input < 0 || sample_bytes == 0) return -1;
  const int32_t len = sh_flen(g_input);
  if (len <= 0 || size_t(len) % sample_bytes != 0) return -1;
  g_next_index = 0;
  return int32_t(size_t(len) / sample_bytes);
}

bool input_read(int32_t index, void* dst, size_t sample_bytes) {
  if (g_input < 0) return false;
  if (index != g_next_index && sh_seek(g_input, uint32_t(size_t(index) * sample_bytes)) != 0) return false;
  g_next_index = index + 1;
  return sh_read(g_input, dst, sample_bytes) == 0;
}

bool output_open() {
  g_output = sh_open(kOutputName, sizeof(kOutputName) - 1, kModeWb);
  return g_output >= 0;
}

bool output_write(const void* src, size_t bytes) { return g_output >= 0 && sh_write(g_output, src, bytes) == 0; }

bool output_close() {
  const bool ok = g_output >= 0 && sh_close(g_output) == 0;
  g_output = -1;
  if (g_input >= 0) sh_close(g_input);
  g_input = -1;
  return ok;
}

uint32_t cycles() { return 0; }  // QEMU models no DWT cycle counter; the TCG plugin counts instructions instead

void exit(int32_t code) {
  const uint32_t args[2] = {kAdpStoppedApplicationExit, uint32_t(code)};
  for (;;) semihost(kSysExitExtended, args);
}

}  // namespace board
