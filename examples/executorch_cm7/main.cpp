// The MCUFormer firmware on ExecuTorch's own runtime: Program::load -> load_method -> execute, with the delegate
// registered by linking mcuformer_backend (no call needed). Board, console, start-up, memory guards and profiling
// markers are examples/stm32f746's (the same files); only this run loop differs.
//
// Memory, all static and sized from the .pte at build time (et_sizes.h, written by pte_sizes.py):
//   - the method pool: ExecuTorch's method allocator, which is also the delegate's runtime allocator, so it holds the
//     MCUFormer arena too (unless MCUFORMER_STATIC_ARENA_BYTES is set); it is the guarded `.arena` block of
//     mem_guard.cpp (canaries checked after every inference);
//   - the planned buffers (MethodMeta::memory_planned_buffer_size(i)): the method's input and output tensors;
//   - no temp allocator, no heap.
// Each sample is read into the frame buffer (SDRAM, outside the budget, like examples/stm32f746's), handed to the
// method with set_input (a copy into its planned input), executed, and its output tensor written out.
//
// Prints `MCU_SUMMARY {...}` like examples/stm32f746, plus method_pool_* and planned_bytes; errors print
// `MCU_ERROR {...}` (with ExecuTorch's Error value) and exit with app_status.h's codes, or kAppEt* below.
#include <cstring>

#include <executorch/extension/data_loader/buffer_data_loader.h>
#include <executorch/runtime/core/hierarchical_allocator.h>
#include <executorch/runtime/core/memory_allocator.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include "app_status.h"
#include "board.h"
#include "console.h"
#include "et_sizes.h"
#include "mem_guard.h"
#include "profile.h"

extern "C" const uint8_t mcu_pte_data[];
extern "C" const uint32_t mcu_pte_size;

namespace {

using executorch::extension::BufferDataLoader;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::HierarchicalAllocator;
using executorch::runtime::MemoryAllocator;
using executorch::runtime::MemoryManager;
using executorch::runtime::Method;
using executorch::runtime::Program;
using executorch::runtime::Span;
using mcufw::Line;

// Exit codes beyond app_status.h's: which ExecuTorch step failed (its Error value is printed).
enum : int32_t {
  kAppEtProgram = 80,   // Program::load
  kAppEtMethod = 81,    // load_method (a rejected blob, a too small pool: the ExecuTorch log line says which)
  kAppEtInput = 82,     // set_input
  kAppEtExecute = 83,   // execute
  kAppEtIo = 84,        // the method has not one input and one output tensor, or they do not fit the buffers
};
using mcufw::kAppCanaryAfter;
using mcufw::kAppCanaryBefore;
using mcufw::kAppInputError;
using mcufw::kAppOk;
using mcufw::kAppOutputError;
using mcufw::kAppStackOverflow;

constexpr size_t kPlannedSizes[] = ET_PLANNED_BUFFER_SIZES;
constexpr size_t kPlannedCount = ET_PLANNED_BUFFER_COUNT;
constexpr size_t round16(size_t n) { return (n + 15) / 16 * 16; }
constexpr size_t planned_total() {
  size_t t = 0;
  for (size_t i = 0; i < kPlannedCount; ++i) t += round16(kPlannedSizes[i]);
  return t > 0 ? t : 16;
}
alignas(16) uint8_t g_planned[planned_total()];

struct Stats {
  int32_t inferences = 0;
  size_t stack_peak = 0;
  size_t pool_used = 0;
  size_t in_bytes = 0, out_bytes = 0;
};
Stats g_stats;

void print_summary(int32_t code, const char* message) {
  const Stats& s = g_stats;
  Line l;
  l.str("MCU_SUMMARY {\"status\":").i64(code).str(",\"message\":").json_str(message);
  l.str(",\"board\":").json_str(board::name()).str(",\"runtime\":\"executorch\"");
  l.str(",\"inferences\":").i64(s.inferences);
  l.str(",\"pte_bytes\":").u64(mcu_pte_size);
  l.str(",\"method_pool_bytes\":").u64(mcufw::arena_capacity());
  l.str(",\"method_pool_used_bytes\":").u64(s.pool_used);
  l.str(",\"planned_bytes\":").u64(sizeof(g_planned));
  l.str(",\"arena_bytes\":").u64(MCUFORMER_PTE_ARENA_BYTES);
  l.str(",\"input_bytes\":").u64(s.in_bytes);
  l.str(",\"output_bytes\":").u64(s.out_bytes);
  l.str(",\"stack_bytes\":").u64(mcufw::stack_bytes());
  l.str(",\"stack_peak_bytes\":").u64(s.stack_peak);
  l.str("}").end();
}

[[noreturn]] void fail(int32_t code, const char* message, Error e = Error::Ok) {
  Line().str("MCU_ERROR {\"code\":").i64(code).str(",\"message\":").json_str(message)
      .str(",\"et_error\":").i64(static_cast<int32_t>(e)).str("}").end();
  g_stats.stack_peak = mcufw::stack_peak_bytes();
  print_summary(code, message);
  board::exit(code);
}

int32_t guard_code(mcufw::GuardStatus g) {
  switch (g) {
    case mcufw::GuardStatus::kCanaryBefore: return kAppCanaryBefore;
    case mcufw::GuardStatus::kCanaryAfter: return kAppCanaryAfter;
    case mcufw::GuardStatus::kStackOverflow: return kAppStackOverflow;
    default: return kAppOk;
  }
}

}  // namespace

// ExecuTorch's platform layer: its log lines (ET_MIN_LOG_LEVEL and up) go to the console; abort ends the program.
extern "C" void et_pal_emit_log_message(et_timestamp_t, et_pal_log_level_t level, const char*, const char*, size_t,
                                        const char* message, size_t) {
  const char lv[2] = {static_cast<char>(level), 0};
  Line().str("ET_LOG ").str(lv).str(" ").str(message).end();
}

extern "C" [[noreturn]] void et_pal_abort(void) { fail(kAppEtExecute, "ExecuTorch aborted"); }

int main() {
  board::init();
  executorch::runtime::runtime_init();
  Line().str("MCU_BOOT {\"board\":").json_str(board::name()).str(",\"runtime\":\"executorch\"}").end();

  BufferDataLoader loader(mcu_pte_data, mcu_pte_size);
  auto program = Program::load(&loader, Program::Verification::InternalConsistency);
  if (!program.ok()) fail(kAppEtProgram, "Program::load failed", program.error());

  Span<uint8_t> planned_spans[kPlannedCount > 0 ? kPlannedCount : 1];
  size_t at = 0;
  for (size_t i = 0; i < kPlannedCount; ++i) {
    planned_spans[i] = {g_planned + at, kPlannedSizes[i]};
    at += round16(kPlannedSizes[i]);
  }
  HierarchicalAllocator planned({planned_spans, kPlannedCount});
  MemoryAllocator method_pool(static_cast<uint32_t>(mcufw::arena_capacity()), mcufw::arena());
  MemoryManager memory(&method_pool, &planned);

  auto method = program->load_method("forward", &memory);
  if (!method.ok()) fail(kAppEtMethod, "load_method failed", method.error());
  g_stats.pool_used = method_pool.used_size();

  if (method->inputs_size() != 1 || method->outputs_size() != 1) fail(kAppEtIo, "expected one input, one output");
  const EValue& in0 = method->get_input(0);
  if (!in0.isTensor()) fail(kAppEtIo, "input 0 is not a tensor");
  executorch::aten::Tensor input = in0.toTensor();
  g_stats.in_bytes = input.nbytes();
  if (g_stats.in_bytes > mcufw::frame_buffer_capacity()) fail(kAppEtIo, "input larger than the frame buffer");
  // A tensor over the frame buffer, of the input's shape and dtype: set_input copies it into the planned input.
  executorch::aten::TensorImpl frame_impl(input.scalar_type(), input.dim(),
                                          const_cast<executorch::aten::SizesType*>(input.sizes().data()),
                                          mcufw::frame_buffer(),
                                          const_cast<executorch::aten::DimOrderType*>(input.dim_order().data()),
                                          const_cast<executorch::aten::StridesType*>(input.strides().data()));
  executorch::aten::Tensor frame(&frame_impl);

  const int32_t count = board::input_open(g_stats.in_bytes);
  if (count < 0) fail(kAppInputError, "cannot read the input (missing, or not a whole number of samples)");
  if (!board::output_open()) fail(kAppOutputError, "cannot open the output");

  for (int32_t k = 0; k < count; ++k) {
    if (!board::input_read(k, mcufw::frame_buffer(), g_stats.in_bytes)) fail(kAppInputError, "input read failed");
    Error e = method->set_input(EValue(frame), 0);
    if (e != Error::Ok) fail(kAppEtInput, "set_input failed", e);
    mcufw::prof_inference_begin();
    e = method->execute();
    mcufw::prof_inference_end();
    const mcufw::GuardStatus g = mcufw::check_guards();
    const size_t peak = mcufw::stack_peak_bytes();
    if (peak > g_stats.stack_peak) g_stats.stack_peak = peak;
    if (g != mcufw::GuardStatus::kOk) fail(guard_code(g), mcufw::guard_status_str(g));
    if (e != Error::Ok) fail(kAppEtExecute, "execute failed", e);
    const EValue& out0 = method->get_output(0);
    if (!out0.isTensor()) fail(kAppEtIo, "output 0 is not a tensor");
    const executorch::aten::Tensor& out = out0.toTensor();
    g_stats.out_bytes = out.nbytes();
    g_stats.inferences = k + 1;
    if (!board::output_write(out.const_data_ptr(), out.nbytes())) fail(kAppOutputError, "output write failed");
  }
  if (!board::output_close()) fail(kAppOutputError, "output close failed");

  print_summary(kAppOk, "ok");
  return kAppOk;
}
