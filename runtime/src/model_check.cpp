// Semantic checks of a verified flatbuffer: after these pass, model_run cannot read or write outside the blob, the
// arena or the caller's I/O buffers, and no kernel can reach undefined behaviour. One rule per line, each returning
// kInvalidBlob (kUnsupportedOp for an op kind this runtime does not know).
#include "model_internal.h"

namespace mcuformer {
namespace detail {

namespace {

constexpr int32_t kMaxLayerNormC = 32768;
constexpr int32_t kMaxMeanReduce = 1 << 23;
constexpr int32_t kMaxMatmulK = 32768;
constexpr int64_t kMaxSpan = int64_t{1} << 33;
constexpr int64_t kMaxEps = int64_t{1} << 62;

bool zp_ok(int32_t zp) { return zp >= -128 && zp <= 127; }
bool shift_ok(int32_t s) { return s >= 1 && s <= 62; }

class Checker {
 public:
  Checker(const fb::Program* p, const uint8_t* blob, size_t blob_size) : p_(p), blob_(blob), blob_size_(blob_size) {}

  Status run() {
    if (p_->tensors() == nullptr || p_->ops() == nullptr || p_->inputs() == nullptr || p_->outputs() == nullptr) {
      return Status::kInvalidBlob;
    }
    num_tensors_ = static_cast<int32_t>(p_->tensors()->size());
    space_ = static_cast<uint64_t>(p_->arena_bytes()) + p_->input_pool_bytes();
    if (p_->input_pool_bytes() != 0 && !p_->input_overwrite()) return Status::kInvalidBlob;
    if (!io_lists_ok()) return Status::kInvalidBlob;
    for (int32_t t = 0; t < num_tensors_; ++t) {
      if (!tensor_ok(t)) return Status::kInvalidBlob;
    }
    const uint32_t n_ops = p_->ops()->size();
    for (uint32_t i = 0; i < n_ops; ++i) {
      while (depth_ > 0 && i >= loops_[depth_ - 1].end) --depth_;
      const fb::Op* op = p_->ops()->Get(i);
      if (op != nullptr && op->params_type() == fb::OpParams::LoopParams) {
        if (!loop_ok(op, i, depth_ > 0 ? loops_[depth_ - 1].end : n_ops)) return Status::kInvalidBlob;
        continue;
      }
      const Status s = op_ok(op);
      if (s != Status::kOk) return s;
    }
    return Status::kOk;
  }

 private:
  const fb::Tensor* tensor(int32_t t) const { return p_->tensors()->Get(static_cast<uint32_t>(t)); }
  bool is_constant(int32_t t) const { return tensor(t)->constant() >= 0; }
  fb::DType dtype(int32_t t) const { return tensor(t)->dtype(); }
  bool is_input(int32_t t) const { return find_index(p_->inputs(), t) >= 0; }
  bool is_output(int32_t t) const { return find_index(p_->outputs(), t) >= 0; }
  // The caller's buffer that holds the input pool: int8 input 0 when input_overwrite.
  bool pool_input(int32_t t) const {
    return t >= 0 && p_->input_overwrite() && p_->inputs()->size() > 0 && p_->inputs()->Get(0) == t &&
           dtype(t) == fb::DType::INT8;
  }
  Shape shape(int32_t t) const {
    Shape s;
    read_shape(tensor(t), &s);  // validated by tensor_ok before any op is checked
    return s;
  }
  const int32_t* const_i32(int32_t t) const {
    return reinterpret_cast<const int32_t*>(
        p_->constants()->Get(static_cast<uint32_t>(tensor(t)->constant()))->data()->data());
  }

  bool io_lists_ok() const {
    const auto* ins = p_->inputs();
    const auto* outs = p_->outputs();
    for (uint32_t i = 0; i < ins->size(); ++i) {
      const int32_t t = ins->Get(i);
      if (t < 0 || t >= num_tensors_ || find_index(ins, t) != static_cast<int32_t>(i) || is_output(t)) return false;
    }
    for (uint32_t i = 0; i < outs->size(); ++i) {
      const int32_t t = outs->Get(i);
      if (t < 0 || t >= num_tensors_ || find_index(outs, t) != static_cast<int32_t>(i)) return false;
    }
    if (p_->input_pool_bytes() != 0 && !(ins->size() > 0 && tensor(ins->Get(0))->dtype() == fb::DType::INT8)) {
      return false;
    }
    if (pool_input(ins->size() > 0 ? ins->Get(0) : -1)) {  // the input pool: input 0 at offset 0, pool inside it
      const fb::Tensor* t0 = tensor(ins->Get(0));
      Shape s;
      if (t0->offset() != 0 || !read_shape(t0, &s) || s.numel < p_->input_pool_bytes()) return false;
    }
    return true;
  }

  bool tensor_ok(int32_t t) const {
    const fb::Tensor* tt = tensor(t);
    Shape s;
    if (!read_shape(tt, &s)) return false;
    const fb::DType d = tt->dtype();
    if (d != fb::DType::INT8 && d != fb::DType::INT32 && d != fb::DType::FLOAT32) return false;
    const uint64_t nbytes = s.numel * fb_dtype_size(d);
    const int32_t c = tt->constant();
    if (c >= 0) {
      if (p_->constants() == nullptr || static_cast<uint32_t>(c) >= p_->constants()->size()) return false;
      const auto* data = p_->constants()->Get(static_cast<uint32_t>(c))->data();
      if (data == nullptr || data->size() != nbytes) return false;
      const uint8_t* ptr = data->data();
      if (ptr < blob_ || ptr + nbytes > blob_ + blob_size_) return false;  // the verifier ensures it; belt and braces
      if (reinterpret_cast<uintptr_t>(ptr) % fb_dtype_size(d) != 0) return false;
      return !is_input(t) && !is_output(t);
    }
    if (c != -1) return false;
    const int32_t in = find_index(p_->inputs(), t);
    if (pool_input(t)) return true;  // the caller's buffer, [0, pool bytes) of it is the pool (io_lists_ok)
    if (in >= 0) return d == fb::DType::INT8 || d == fb::DType::FLOAT32;  // the caller's buffer; offset unused
    if (input_view_of(p_, tt) >= 0) {  // a view of a caller's input: its dtype, aligned, inside it (shifts: loop_ok)
      const fb::Tensor* root = tensor(tt->view_of());
      Shape rs;
      if (is_output(t) || root->view_of() >= 0 || root->dtype() != d || !read_shape(root, &rs)) return false;
      return tt->view_offset() % fb_dtype_size(d) == 0 && tt->view_offset() + nbytes <= rs.numel * fb_dtype_size(d);
    }
    if (d == fb::DType::FLOAT32) return is_output(t);  // float tensors exist only at the delegate boundary
    if (d != fb::DType::INT8) return false;
    // An int8 activation in the address space: wholly in the input pool or wholly in the arena.
    const uint64_t off = tt->offset();
    const uint64_t pool = p_->input_pool_bytes();
    if (off + nbytes > space_) return false;
    if (off < pool && off + nbytes > pool) return false;
    return true;
  }

  // Where an op may write: an int8 activation (not a delegate input or a view of one), or a float32 delegate output.
  bool writable(int32_t t) const { return !is_constant(t) && !is_input(t) && !input_view(t); }
  bool input_view(int32_t t) const { return input_view_of(p_, tensor(t)) >= 0; }

  bool same_shape(const Shape& a, const Shape& b) const {
    if (a.rank != b.rank) return false;
    for (int32_t i = 0; i < a.rank; ++i) {
      if (a.d[i] != b.d[i]) return false;
    }
    return true;
  }

  bool all_in(const flatbuffers::Vector<int32_t>* v, const int32_t* vals, int32_t lo, int32_t hi, uint32_t n) const {
    (void)v;
    for (uint32_t i = 0; i < n; ++i) {
      if (vals[i] < lo || vals[i] > hi) return false;
    }
    return true;
  }

  // Reads the op's operand lists; checks arity, index ranges, dtypes (int8 unless noted) and writability.
  bool operands(const fb::Op* op, uint32_t min_in, uint32_t max_in, uint32_t num_out) {
    ins_ = op->inputs();
    outs_ = op->outputs();
    if (ins_ == nullptr || outs_ == nullptr) return false;
    if (ins_->size() < min_in || ins_->size() > max_in || outs_->size() != num_out) return false;
    for (uint32_t i = 0; i < ins_->size(); ++i) {
      const int32_t t = ins_->Get(i);
      if (t < 0 || t >= num_tensors_) return false;
    }
    for (uint32_t i = 0; i < outs_->size(); ++i) {
      const int32_t t = outs_->Get(i);
      if (t < 0 || t >= num_tensors_ || !writable(t)) return false;
    }
    return true;
  }
  int32_t in(uint32_t i) const { return ins_->Get(i); }
  int32_t out(uint32_t i) const { return outs_->Get(i); }
  bool i8(int32_t t) const { return dtype(t) == fb::DType::INT8; }
  bool i8_act(int32_t t) const { return i8(t) && !is_constant(t); }
  bool i32_vec(int32_t t, int32_t n) const {
    const Shape s = shape(t);
    return dtype(t) == fb::DType::INT32 && is_constant(t) && s.rank == 1 && s.d[0] == n;
  }
  bool i8_lut(int32_t t) const {
    const Shape s = shape(t);
    return i8(t) && s.rank == 1 && s.d[0] == 256;
  }

  // LOOP: the body [i + 1, end) lies inside the enclosing body; every listed tensor is an int8 activation of the
  // address space whose shifted range, over all iterations of all enclosing loops that list it, stays inside the
  // region (input pool or arena) its unshifted offset is in, or a view of a caller's input that stays inside that
  // input, shifted by whole elements (a float row stays 4-byte aligned).
  bool loop_ok(const fb::Op* op, uint32_t i, uint32_t parent_end) {
    const auto* q = op->params_as_LoopParams();
    if (q == nullptr || depth_ >= kMaxLoopDepth || q->count() < 1 || q->body() < 0) return false;
    if ((op->inputs() && op->inputs()->size() != 0) || (op->outputs() && op->outputs()->size() != 0)) return false;
    const uint64_t end = uint64_t{i} + 1 + static_cast<uint64_t>(q->body());
    if (end > parent_end) return false;
    const auto* ts = q->tensors();
    const auto* ss = q->strides();
    const uint32_t n = ts ? ts->size() : 0;
    if ((ss ? ss->size() : 0) != n) return false;
    loops_[depth_++] = Frame{q, static_cast<uint32_t>(end)};
    for (uint32_t j = 0; j < n; ++j) {
      const int32_t t = ts->Get(j);
      if (t < 0 || t >= num_tensors_ || is_constant(t) || is_input(t)) return false;
      const bool viewed = input_view(t);
      if (!viewed && dtype(t) != fb::DType::INT8) return false;
      const int64_t esize = static_cast<int64_t>(fb_dtype_size(dtype(t)));
      for (uint32_t k = 0; k < j; ++k) {
        if (ts->Get(k) == t) return false;
      }
      int64_t lo = 0, hi = 0;  // total shift range over the loop nest
      for (int32_t d = 0; d < depth_; ++d) {
        const auto* dts = loops_[d].p->tensors();
        for (uint32_t k = 0; dts && k < dts->size(); ++k) {
          if (dts->Get(k) != t) continue;
          const int64_t span = static_cast<int64_t>(loops_[d].p->count() - 1) * loops_[d].p->strides()->Get(k);
          if (span > kMaxSpan || span < -kMaxSpan) return false;  // beyond any address space; keeps sums exact
          if (loops_[d].p->strides()->Get(k) % esize != 0) return false;
          (span < 0 ? lo : hi) += span;
        }
      }
      const int64_t nbytes = static_cast<int64_t>(shape(t).numel) * esize;
      const int64_t pool = p_->input_pool_bytes();
      const int64_t off = viewed ? tensor(t)->view_offset() : tensor(t)->offset();
      const int64_t region_lo = viewed || off < pool ? 0 : pool;
      const int64_t region_hi = viewed ? static_cast<int64_t>(shape(tensor(t)->view_of()).numel) * esize
                                       : off < pool ? pool : static_cast<int64_t>(space_);
      if (off + lo < region_lo || off + hi + nbytes > region_hi) return false;
    }
    return true;
  }

  Status op_ok(const fb::Op* op) {
    if (op == nullptr) return Status::kInvalidBlob;
    const bool ok = op_ok_bool(op);
    if (unsupported_) return Status::kUnsupportedOp;
    return ok ? Status::kOk : Status::kInvalidBlob;
  }

  bool op_ok_bool(const fb::Op* op) {
    if (op->params_type() != fb::OpParams::NONE && op->params() == nullptr) return false;
    switch (op->params_type()) {
      case fb::OpParams::QuantizeParams: {
        const auto* q = op->params_as_QuantizeParams();
        if (!operands(op, 1, 1, 1)) return false;
        return dtype(in(0)) == fb::DType::FLOAT32 && (is_input(in(0)) || input_view(in(0))) && i8_act(out(0)) &&
               zp_ok(q->zero_point()) && same_shape(shape(in(0)), shape(out(0)));
      }
      case fb::OpParams::DequantizeParams: {
        const auto* q = op->params_as_DequantizeParams();
        if (!operands(op, 1, 1, 1)) return false;
        return i8(in(0)) && dtype(out(0)) == fb::DType::FLOAT32 && is_output(out(0)) && zp_ok(q->zero_point()) &&
               same_shape(shape(in(0)), shape(out(0)));
      }
      case fb::OpParams::LinearParams: {
        const auto* q = op->params_as_LinearParams();
        const uint32_t n_in = q->has_lut() ? 6 : 5;
        if (!operands(op, n_in, n_in, 1)) return false;
        const Shape x = shape(in(0)), w = shape(in(1)), y = shape(out(0));
        if (!i8(in(0)) || !i8(in(1)) || !i8_act(out(0)) || !zp_ok(q->output_zp())) return false;
        if (x.rank < 1 || w.rank != 2 || w.d[1] != x.last() || y.rank != x.rank || y.last() != w.d[0]) return false;
        for (int32_t i = 0; i + 1 < x.rank; ++i) {
          if (x.d[i] != y.d[i]) return false;
        }
        const int32_t N = w.d[0];
        if (!i32_vec(in(2), N) || !i32_vec(in(3), N) || !i32_vec(in(4), N)) return false;
        if (!all_in(nullptr, const_i32(in(4)), 1, 62, static_cast<uint32_t>(N))) return false;
        return !q->has_lut() || i8_lut(in(5));
      }
      case fb::OpParams::Conv2dParams: {
        const auto* q = op->params_as_Conv2dParams();
        if (!operands(op, 5, 5, 1)) return false;
        const Shape x = shape(in(0)), w = shape(in(1)), y = shape(out(0));
        if (!i8(in(0)) || !i8(in(1)) || !i8_act(out(0)) || !zp_ok(q->output_zp())) return false;
        if (x.rank != 4 || x.d[0] != 1 || w.rank != 4 || w.d[1] != x.d[1]) return false;
        const int32_t E = w.d[0], P = w.d[2], Q = w.d[3];
        if (x.d[2] % P != 0 || x.d[3] % Q != 0) return false;
        const int32_t Ho = x.d[2] / P, Wo = x.d[3] / Q;
        if (q->tokens_layout()) {
          if (y.last() != E || y.numel != static_cast<uint64_t>(Ho) * static_cast<uint64_t>(Wo) * E) return false;
        } else {
          if (y.rank != 4 || y.d[0] != 1 || y.d[1] != E || y.d[2] != Ho || y.d[3] != Wo) return false;
        }
        if (!i32_vec(in(2), E) || !i32_vec(in(3), E) || !i32_vec(in(4), E)) return false;
        return all_in(nullptr, const_i32(in(4)), 1, 62, static_cast<uint32_t>(E));
      }
      case fb::OpParams::MatmulParams: {
        const auto* q = op->params_as_MatmulParams();
        if (!operands(op, 2, 2, 1)) return false;
        if (!i8(in(0)) || !i8(in(1)) || !i8_act(out(0))) return false;
        if (!zp_ok(q->a_zp()) || !zp_ok(q->b_zp()) || !zp_ok(q->output_zp()) || !shift_ok(q->shift())) return false;
        const Shape a = shape(in(0)), b = shape(in(1)), y = shape(out(0));
        const int32_t r = a.rank;
        if (r < 2 || b.rank != r || y.rank != r) return false;
        for (int32_t i = 0; i + 2 < r; ++i) {
          if (a.d[i] != b.d[i] || a.d[i] != y.d[i]) return false;
        }
        const int32_t M = a.d[r - 2], K = a.d[r - 1];
        const int32_t bk = q->transpose_b() ? b.d[r - 1] : b.d[r - 2];
        const int32_t N = q->transpose_b() ? b.d[r - 2] : b.d[r - 1];
        return K <= kMaxMatmulK && bk == K && y.d[r - 2] == M && y.d[r - 1] == N;
      }
      case fb::OpParams::AddParams: {
        const auto* q = op->params_as_AddParams();
        if (!operands(op, 2, 2, 1)) return false;
        if (!i8(in(0)) || !i8(in(1)) || !i8_act(out(0))) return false;
        if (!zp_ok(q->a_zp()) || !zp_ok(q->b_zp()) || !zp_ok(q->output_zp()) || !shift_ok(q->shift())) return false;
        const Shape a = shape(in(0)), b = shape(in(1)), y = shape(out(0));
        if (b.rank > a.rank || !same_shape(a, y)) return false;
        for (int32_t i = 0; i < b.rank; ++i) {
          if (b.d[i] != a.d[a.rank - b.rank + i]) return false;
        }
        return true;
      }
      case fb::OpParams::RescaleParams: {
        const auto* q = op->params_as_RescaleParams();
        if (!operands(op, 1, 1, 1)) return false;
        return i8(in(0)) && i8_act(out(0)) && zp_ok(q->input_zp()) && zp_ok(q->output_zp()) &&
               shift_ok(q->shift()) && same_shape(shape(in(0)), shape(out(0)));
      }
      case fb::OpParams::LutParams: {
        if (!operands(op, 2, 2, 1)) return false;
        return i8(in(0)) && i8_lut(in(1)) && i8_act(out(0)) && same_shape(shape(in(0)), shape(out(0)));
      }
      case fb::OpParams::LayerNormParams: {
        const auto* q = op->params_as_LayerNormParams();
        if (!operands(op, 3, 3, 1)) return false;
        const Shape x = shape(in(0));
        const int32_t C = x.last();
        if (!i8(in(0)) || !i8_act(out(0)) || !same_shape(x, shape(out(0))) || x.rank < 1) return false;
        if (C > kMaxLayerNormC || !i32_vec(in(1), C) || !i32_vec(in(2), C)) return false;
        return q->eps() >= 0 && q->eps() <= kMaxEps && zp_ok(q->output_zp()) && shift_ok(q->shift());
      }
      case fb::OpParams::SoftmaxParams: {
        if (!operands(op, 2, 2, 1)) return false;
        const Shape x = shape(in(0));
        if (!i8(in(0)) || !i8_act(out(0)) || !same_shape(x, shape(out(0))) || x.rank < 1) return false;
        if (!i32_vec(in(1), 256)) return false;
        const int32_t* lut = const_i32(in(1));
        return lut[0] >= 1 && all_in(nullptr, lut, 0, INT32_MAX, 256);
      }
      case fb::OpParams::MeanParams: {
        const auto* q = op->params_as_MeanParams();
        if (!operands(op, 1, 1, 1)) return false;
        if (!i8(in(0)) || !i8_act(out(0)) || !zp_ok(q->input_zp()) || !zp_ok(q->output_zp())) return false;
        if (!shift_ok(q->shift()) || q->outer() < 1 || q->reduce() < 1 || q->inner() < 1) return false;
        if (q->reduce() > kMaxMeanReduce) return false;
        const uint64_t oi = static_cast<uint64_t>(q->outer()) * static_cast<uint64_t>(q->inner());
        return oi * static_cast<uint64_t>(q->reduce()) == shape(in(0)).numel && oi == shape(out(0)).numel;
      }
      case fb::OpParams::PermuteParams: {
        const auto* q = op->params_as_PermuteParams();
        if (!operands(op, 1, 1, 1)) return false;
        const Shape x = shape(in(0)), y = shape(out(0));
        const auto* perm = q->perm();
        if (!i8(in(0)) || !i8_act(out(0)) || perm == nullptr || x.rank < 1) return false;
        if (y.rank != x.rank || perm->size() != static_cast<uint32_t>(x.rank)) return false;
        bool seen[ref::kMaxRank] = {false, false, false, false, false, false};
        for (int32_t d = 0; d < x.rank; ++d) {
          const int32_t pd = perm->Get(static_cast<uint32_t>(d));
          if (pd < 0 || pd >= x.rank || seen[pd] || y.d[d] != x.d[pd]) return false;
          seen[pd] = true;
        }
        return true;
      }
      case fb::OpParams::SliceParams: {
        const auto* q = op->params_as_SliceParams();
        if (!operands(op, 1, 1, 1)) return false;
        const Shape x = shape(in(0)), y = shape(out(0));
        if (!i8(in(0)) || !i8_act(out(0)) || x.rank < 1 || y.rank != x.rank) return false;
        const int32_t axis = q->axis() < 0 ? q->axis() + x.rank : q->axis();
        if (axis < 0 || axis >= x.rank || q->step() < 1 || q->start() < 0) return false;
        for (int32_t i = 0; i < x.rank; ++i) {
          if (i != axis && x.d[i] != y.d[i]) return false;
        }
        const int64_t last = static_cast<int64_t>(q->start()) + static_cast<int64_t>(q->step()) * (y.d[axis] - 1);
        return last < x.d[axis];
      }
      case fb::OpParams::ConcatParams: {
        const auto* q = op->params_as_ConcatParams();
        if (!operands(op, 1, kMaxConcatInputs, 1)) return false;
        const Shape y = shape(out(0));
        if (!i8_act(out(0)) || y.rank < 1) return false;
        const int32_t axis = q->axis() < 0 ? q->axis() + y.rank : q->axis();
        if (axis < 0 || axis >= y.rank) return false;
        int64_t sum = 0;
        for (uint32_t j = 0; j < ins_->size(); ++j) {
          const Shape x = shape(in(j));
          if (!i8(in(j)) || x.rank != y.rank) return false;
          for (int32_t i = 0; i < y.rank; ++i) {
            if (i != axis && x.d[i] != y.d[i]) return false;
          }
          sum += x.d[axis];
        }
        return sum == y.d[axis];
      }
      case fb::OpParams::ReshapeParams: {
        if (!operands(op, 1, 1, 1)) return false;
        return i8(in(0)) && i8_act(out(0)) && shape(in(0)).numel == shape(out(0)).numel;
      }
      case fb::OpParams::NONE:
        return false;
      default:
        unsupported_ = true;  // appended to the schema after this runtime was built
        return false;
    }
  }

  const fb::Program* p_;
  const uint8_t* blob_;
  size_t blob_size_;
  int32_t num_tensors_ = 0;
  uint64_t space_ = 0;
  const flatbuffers::Vector<int32_t>* ins_ = nullptr;
  const flatbuffers::Vector<int32_t>* outs_ = nullptr;
  bool unsupported_ = false;
  struct Frame {
    const fb::LoopParams* p;
    uint32_t end;
  };
  Frame loops_[kMaxLoopDepth] = {};
  int32_t depth_ = 0;
};

}  // namespace

Status check_program(const fb::Program* p, const uint8_t* blob, size_t blob_size) {
  Checker checker(p, blob, blob_size);
  return checker.run();
}

}  // namespace detail
}  // namespace mcuformer
