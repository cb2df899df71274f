// RESHAPE: same bytes, new shape (contract in mcuformer/kernels.h).
#include <cstring>

#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void reshape_s8(const int8_t* x, int8_t* y, size_t nbytes) {
  if (x != y) std::memmove(y, x, nbytes);
}

}  // namespace ref
}  // namespace mcuformer
