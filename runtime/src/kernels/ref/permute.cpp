// PERMUTE of an int8 tensor of rank <= 6 (contract in mcuformer/kernels.h). Walks the output in order with an
// odometer over the output dims and the matching input strides.
#include "mcuformer/kernels.h"

namespace mcuformer {
namespace ref {

void permute_s8(const int8_t* x, int8_t* y, int32_t rank, const int32_t* in_shape, const int32_t* perm) {
  size_t in_stride[kMaxRank];
  size_t stride = 1;
  for (int32_t d = rank - 1; d >= 0; --d) {
    in_stride[d] = stride;
    stride *= static_cast<size_t>(in_shape[d]);
  }
  const size_t total = stride;
  size_t out_dim[kMaxRank];
  size_t step[kMaxRank];  // input stride of each output dim
  size_t idx[kMaxRank] = {0, 0, 0, 0, 0, 0};
  for (int32_t d = 0; d < rank; ++d) {
    out_dim[d] = static_cast<size_t>(in_shape[perm[d]]);
    step[d] = in_stride[perm[d]];
  }
  size_t src = 0;
  for (size_t i = 0; i < total; ++i) {
    y[i] = x[src];
    for (int32_t d = rank - 1; d >= 0; --d) {  // advance the odometer
      src += step[d];
      if (++idx[d] < out_dim[d]) break;
      src -= step[d] * out_dim[d];
      idx[d] = 0;
    }
  }
}

}  // namespace ref
}  // namespace mcuformer
