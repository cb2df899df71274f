// The application shared by every board: find the MCUFormer delegate in the linked-in .pte, load it with the
// mcuformer runtime, run it on every input sample, write the outputs, check the memory guards after every
// inference, and print one summary line:
//
//   MCU_SUMMARY {"status":0,"message":"ok","board":"qemu_mps2_an500","inferences":1000,...}
//
// Errors print `MCU_ERROR {"code":N,"message":"..."}` and end the program with that code (app_status.h).
#include <cstring>

#include "app_status.h"
#include "board.h"
#include "console.h"
#include "mcu_build_config.h"
#include "mcuformer/runtime.h"
#include "mem_guard.h"
#include "profile.h"
#include "pte_loader.h"

extern "C" const uint8_t mcu_pte_data[];
extern "C" const uint32_t mcu_pte_size;

namespace {

using mcufw::Line;

constexpr size_t kMaxIo = 8;

struct Stats {
  int32_t inferences = 0;
  uint64_t cycles_total = 0;
  uint32_t cycles_first = 0;
  size_t stack_peak = 0;
  mcufw::PteDelegate delegate;
  uint32_t model_arena = 0;
  size_t in_bytes = 0, out_bytes = 0;
};

Stats g_stats;

void print_summary(int32_t code, const char* message) {
  const Stats& s = g_stats;
  Line l;
  l.str("MCU_SUMMARY {\"status\":").i64(code).str(",\"message\":").json_str(message);
  l.str(",\"board\":").json_str(board::name());
  l.str(",\"inferences\":").i64(s.inferences);
  l.str(",\"pte_bytes\":").u64(mcu_pte_size);
  l.str(",\"pte_address\":").u64(reinterpret_cast<uintptr_t>(mcu_pte_data));
  l.str(",\"delegate_bytes\":").u64(s.delegate.size);
  l.str(",\"delegate_in_segment\":").str(s.delegate.in_segment ? "true" : "false");
  l.str(",\"et_planned_bytes\":").i64(s.delegate.et_planned_bytes);
  l.str(",\"arena_bytes\":").u64(s.model_arena);
  l.str(",\"arena_capacity\":").u64(mcufw::arena_capacity());
  l.str(",\"input_bytes\":").u64(s.in_bytes);
  l.str(",\"output_bytes\":").u64(s.out_bytes);
  l.str(",\"stack_bytes\":").u64(mcufw::stack_bytes());
  l.str(",\"stack_peak_bytes\":").u64(s.stack_peak);
  l.str(",\"canaries_ok\":").str(code == mcufw::kAppCanaryBefore || code == mcufw::kAppCanaryAfter ? "false" : "true");
  l.str(",\"stack_ok\":").str(code == mcufw::kAppStackOverflow ? "false" : "true");
  l.str(",\"cycles_total\":").u64(s.cycles_total);
  l.str(",\"cycles_first\":").u64(s.cycles_first);
  l.str("}").end();
}

[[noreturn]] void fail(int32_t code, const char* message) {
  Line().str("MCU_ERROR {\"code\":").i64(code).str(",\"message\":").json_str(message).str("}").end();
  g_stats.stack_peak = mcufw::stack_peak_bytes();
  print_summary(code, message);
  board::exit(code);
}

int32_t guard_code(mcufw::GuardStatus g) {
  switch (g) {
    case mcufw::GuardStatus::kCanaryBefore: return mcufw::kAppCanaryBefore;
    case mcufw::GuardStatus::kCanaryAfter: return mcufw::kAppCanaryAfter;
    case mcufw::GuardStatus::kStackOverflow: return mcufw::kAppStackOverflow;
    default: return mcufw::kAppOk;
  }
}

}  // namespace

int main() {
  board::init();
  Line().str("MCU_BOOT {\"board\":").json_str(board::name()).str("}").end();

  mcufw::PteDelegate& d = g_stats.delegate;
  const mcufw::PteError pe = mcufw::pte_find_delegate(mcu_pte_data, mcu_pte_size, &d);
  if (pe != mcufw::PteError::kOk) fail(mcufw::app_code_for(pe), mcufw::pte_error_str(pe));

  mcuformer::Model model;
  const mcuformer::Status ls = mcuformer::model_load(d.data, d.size, &model);
  if (ls != mcuformer::Status::kOk) fail(mcufw::app_code_for(ls), mcuformer::status_str(ls));

  g_stats.model_arena = mcuformer::model_arena_bytes(model);
  if (g_stats.model_arena > mcufw::arena_capacity()) {
    fail(mcufw::kAppArenaTooSmall, "model arena larger than the arena linked into this firmware");
  }

  // Inputs sit back to back (4-byte aligned) in the frame buffer, outputs likewise in the output buffer; the input
  // file holds, per sample, every input in order in the model's dtype (the runner writes exactly this layout).
  const size_t n_in = mcuformer::model_num_inputs(model), n_out = mcuformer::model_num_outputs(model);
  if (n_in == 0 || n_in > kMaxIo || n_out == 0 || n_out > kMaxIo) fail(mcufw::kAppIoMismatch, "unsupported io count");
  mcuformer::IoTensor ins[kMaxIo], outs[kMaxIo];
  size_t in_bytes = 0, out_bytes = 0;
  for (size_t i = 0; i < n_in; ++i) {
    const mcuformer::DType dt = mcuformer::model_input_dtype(model, i);
    const size_t nb = mcuformer::model_input_numel(model, i) * mcuformer::dtype_size(dt);
    in_bytes = (in_bytes + 3) / 4 * 4;  // float buffers must be 4-byte aligned
    ins[i] = {mcufw::frame_buffer() + in_bytes, dt, nb};
    in_bytes += nb;
  }
  for (size_t i = 0; i < n_out; ++i) {
    const mcuformer::DType dt = mcuformer::model_output_dtype(model, i);
    const size_t nb = mcuformer::model_output_numel(model, i) * mcuformer::dtype_size(dt);
    out_bytes = (out_bytes + 3) / 4 * 4;
    outs[i] = {reinterpret_cast<uint8_t*>(mcufw::output_buffer()) + out_bytes, dt, nb};
    out_bytes += nb;
  }
  g_stats.in_bytes = in_bytes;
  g_stats.out_bytes = out_bytes;
  if (in_bytes == 0 || in_bytes > mcufw::frame_buffer_capacity()) {
    fail(mcufw::kAppIoMismatch, "model input larger than the frame buffer of this build");
  }
  if (out_bytes == 0 || out_bytes > mcufw::output_buffer_capacity()) {
    fail(mcufw::kAppIoMismatch, "model output larger than the output buffer of this build");
  }

  const int32_t count = board::input_open(in_bytes);
  if (count < 0) fail(mcufw::kAppInputError, "cannot read the input (missing, or not a whole number of samples)");
  if (!board::output_open()) fail(mcufw::kAppOutputError, "cannot open the output");

  for (int32_t k = 0; k < count; ++k) {
    if (!board::input_read(k, mcufw::frame_buffer(), in_bytes)) fail(mcufw::kAppInputError, "input read failed");
    const uint32_t c0 = board::cycles();
    mcufw::prof_inference_begin();
    const mcuformer::Status rs = mcuformer::model_run(model, mcufw::arena(), mcufw::arena_capacity(), ins, n_in,
                                                      outs, n_out);
    mcufw::prof_inference_end();
    const uint32_t dc = board::cycles() - c0;
    if (k == 0) g_stats.cycles_first = dc;
    g_stats.cycles_total += dc;
    const mcufw::GuardStatus g = mcufw::check_guards();
    const size_t peak = mcufw::stack_peak_bytes();
    if (peak > g_stats.stack_peak) g_stats.stack_peak = peak;
    if (g != mcufw::GuardStatus::kOk) fail(guard_code(g), mcufw::guard_status_str(g));
    if (rs != mcuformer::Status::kOk) fail(mcufw::app_run_code_for(rs), mcuformer::status_str(rs));
    g_stats.inferences = k + 1;
    if (!board::output_write(mcufw::output_buffer(), out_bytes)) fail(mcufw::kAppOutputError, "output write failed");
  }
  if (!board::output_close()) fail(mcufw::kAppOutputError, "output close failed");

  print_summary(mcufw::kAppOk, "ok");
  return mcufw::kAppOk;
}
