// Host tool: reads a .pte with the firmware's own loader and runtime (same sources as on the device) and prints
// what the firmware build needs to size its static buffers, as one JSON object on stdout:
//
//   pte_info MODEL.pte
//   {"error":0,"message":"ok","pte_bytes":..,"program_bytes":..,"delegate_bytes":..,"in_segment":true,
//    "et_planned_bytes":..,"model_status":0,"arena_bytes":..,"inputs":[784],"outputs":[10],
//    "input_dtypes":[2],"output_dtypes":[2]}      (numel per input/output; dtypes are mcuformer::DType values)
//
// Exit code: 0 when the delegate was found and model_load accepted it; 1 on I/O errors; otherwise 10 + PteError or
// 40 + mcuformer::Status (the same codes the firmware returns, see app/app_status.h).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "app_status.h"
#include "mcuformer/runtime.h"
#include "pte_loader.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL.pte\n", argv[0]);
    return 1;
  }
  std::FILE* f = std::fopen(argv[1], "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 1;
  }
  std::vector<unsigned char> bytes;
  unsigned char chunk[65536];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  std::fclose(f);

  // The firmware links the .pte 128-byte aligned; do the same here.
  void* buf = std::aligned_alloc(128, (bytes.size() + 127) / 128 * 128 + 128);
  std::memcpy(buf, bytes.data(), bytes.size());

  mcufw::PteDelegate d;
  const mcufw::PteError e = mcufw::pte_find_delegate(buf, bytes.size(), &d);
  std::printf("{\"error\":%d,\"message\":\"%s\",\"pte_bytes\":%lu", int(e), mcufw::pte_error_str(e),
              static_cast<unsigned long>(bytes.size()));
  int rc = 0;
  if (e != mcufw::PteError::kOk) {
    rc = mcufw::app_code_for(e);
  } else {
    std::printf(",\"program_bytes\":%lu,\"delegate_bytes\":%lu,\"delegate_offset\":%lu,\"in_segment\":%s,"
                "\"et_planned_bytes\":%lld",
                static_cast<unsigned long>(d.program_bytes), static_cast<unsigned long>(d.size),
                static_cast<unsigned long>(d.data - static_cast<const uint8_t*>(buf)),
                d.in_segment ? "true" : "false", static_cast<long long>(d.et_planned_bytes));
    mcuformer::Model model;
    const mcuformer::Status s = mcuformer::model_load(d.data, d.size, &model);
    std::printf(",\"model_status\":%d,\"model_message\":\"%s\"", int(s), mcuformer::status_str(s));
    if (s != mcuformer::Status::kOk) {
      rc = mcufw::app_code_for(s);
    } else {
      std::printf(",\"arena_bytes\":%lu,\"inputs\":[", static_cast<unsigned long>(mcuformer::model_arena_bytes(model)));
      for (size_t i = 0; i < mcuformer::model_num_inputs(model); ++i) {
        std::printf("%s%lu", i ? "," : "", static_cast<unsigned long>(mcuformer::model_input_numel(model, i)));
      }
      std::printf("],\"outputs\":[");
      for (size_t i = 0; i < mcuformer::model_num_outputs(model); ++i) {
        std::printf("%s%lu", i ? "," : "", static_cast<unsigned long>(mcuformer::model_output_numel(model, i)));
      }
      std::printf("],\"input_dtypes\":[");
      for (size_t i = 0; i < mcuformer::model_num_inputs(model); ++i) {
        std::printf("%s%d", i ? "," : "", int(mcuformer::model_input_dtype(model, i)));
      }
      std::printf("],\"output_dtypes\":[");
      for (size_t i = 0; i < mcuformer::model_num_outputs(model); ++i) {
        std::printf("%s%d", i ? "," : "", int(mcuformer::model_output_dtype(model, i)));
      }
      std::printf("]");
    }
  }
  std::printf("}\n");
  std::free(buf);
  return rc;
}
