// Internal helpers shared by the loader (model_check.cpp) and the executor (model.cpp). Not installed.
#pragma once
#include <cstdint>

#include "mcuformer/kernels.h"
#include "mcuformer/runtime.h"
#include "schema_generated.h"  // generated at build time by flatc from backend/serialization/schema.fbs

namespace mcuformer {
namespace detail {

namespace fb = ::mcuformer_fb;

constexpr int32_t kMaxConcatInputs = 16;
constexpr int32_t kMaxLoopDepth = 8;  // LOOP nesting (patch rows x channels, blocks x tokens x heads...)

inline const fb::Program* program_of(const Model& m) { return static_cast<const fb::Program*>(m.program); }

// A tensor's shape, read once from the flatbuffer (rank <= kMaxRank after model_load).
struct Shape {
  int32_t rank = 0;
  int32_t d[ref::kMaxRank] = {1, 1, 1, 1, 1, 1};
  uint64_t numel = 1;
  int32_t last() const { return rank > 0 ? d[rank - 1] : 1; }
};

// Reads a verified tensor's shape. Returns false (leaving a partial shape) for rank > kMaxRank, a dim < 1 or
// numel > 2^32; the loader rejects such blobs, so after model_load this always returns true.
inline bool read_shape(const fb::Tensor* t, Shape* s) {
  *s = Shape();
  const auto* shape = t->shape();
  if (shape == nullptr) return true;  // rank 0: a scalar
  if (shape->size() > static_cast<uint32_t>(ref::kMaxRank)) return false;
  s->rank = static_cast<int32_t>(shape->size());
  for (int32_t i = 0; i < s->rank; ++i) {
    const int32_t v = shape->Get(static_cast<uint32_t>(i));
    if (v < 1) return false;
    s->d[i] = v;
    s->numel *= static_cast<uint64_t>(v);
    if (s->numel > (uint64_t{1} << 32)) return false;
  }
  return true;
}

inline size_t fb_dtype_size(fb::DType d) {
  switch (d) {
    case fb::DType::INT8: return 1;
    case fb::DType::INT16: return 2;
    case fb::DType::INT32: return 4;
    case fb::DType::FLOAT32: return 4;
  }
  return 0;
}

// Index of tensor t among the delegate inputs / outputs, or -1.
inline int32_t find_index(const flatbuffers::Vector<int32_t>* v, int32_t t) {
  if (v == nullptr) return -1;
  for (uint32_t i = 0; i < v->size(); ++i) {
    if (v->Get(i) == t) return static_cast<int32_t>(i);
  }
  return -1;
}

// The caller's buffer behind tensor t when t is a view of a delegate input outside the input pool (a patch row of
// the float frame, read in place): that input's index, or -1. Such a view is addressed in the caller's buffer at
// its view_offset (+ LOOP shifts), not in the address space.
inline int32_t input_view_of(const fb::Program* p, const fb::Tensor* t) {
  const int32_t root = t->view_of();
  if (root < 0 || p->tensors() == nullptr || static_cast<uint32_t>(root) >= p->tensors()->size()) return -1;
  const int32_t in = find_index(p->inputs(), root);
  const bool pool = in == 0 && p->input_overwrite() && p->tensors()->Get(static_cast<uint32_t>(root))->dtype() ==
                                                            fb::DType::INT8;
  return pool ? -1 : in;
}

Status check_program(const fb::Program* p, const uint8_t* blob, size_t blob_size);

}  // namespace detail
}  // namespace mcuformer
