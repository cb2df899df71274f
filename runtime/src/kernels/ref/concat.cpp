// CONCAT along one axis (contract in mcuformer/kernels.h). memmove: a hostile plan may overlap inputs and y.
#include <cstring>

#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void concat_s8(const int8_t* const* xs, const int32_t* lens, int32_t count, size_t outer, size_t inner, int8_t* y) {
  for (size_t o = 0; o < outer; ++o) {
    for (int32_t j = 0; j < count; ++j) {
      const size_t chunk = static_cast<size_t>(lens[j]) * inner;
      std::memmove(y, xs[j] + o * chunk, chunk);
      y += chunk;
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
