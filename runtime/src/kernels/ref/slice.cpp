// SLICE along one axis with a step (contract in mcuformer/kernels.h). memmove: a hostile plan may overlap x and y.
#include <cstring>

#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void slice_s8(const int8_t* x, int8_t* y, size_t outer, int32_t in_len, size_t inner, int32_t start, int32_t step,
              int32_t out_len) {
  for (size_t o = 0; o < outer; ++o) {
    const int8_t* xo = x + o * static_cast<size_t>(in_len) * inner;
    int8_t* yo = y + o * static_cast<size_t>(out_len) * inner;
    for (int32_t j = 0; j < out_len; ++j) {
      std::memmove(yo + static_cast<size_t>(j) * inner,
                  xo + (static_cast<size_t>(start) + static_cast<size_t>(j) * static_cast<size_t>(step)) * inner,
                  inner);
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
