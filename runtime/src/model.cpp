// model_load (header, CRC, flatbuffers verifier, semantic checks) and model_run (dispatch by op kind).
#include <cstring>

#include "mcuformer/blob.h"
#include "model_internal.h"

// Weak, empty profiling hook (see runtime.h). The firmware overrides it.
extern "C" __attribute__((weak)) void mcuformer_profile_op(int32_t op_index, int32_t op_kind) {
  (void)op_index;
  (void)op_kind;
}

namespace mcuformer {

// Kernels with a Cortex-M7 DSP variant: used where the target has the DSP extension, unless forced to ref.
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(MCUFORMER_FORCE_REF_KERNELS)
namespace fast = cm7;
#else
namespace fast = ref;
#endif

using detail::fb::OpParams;
using detail::program_of;
using detail::Shape;
namespace fb = detail::fb;

const char* status_str(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kInvalidBlob: return "invalid blob";
    case Status::kVersionMismatch: return "blob schema version mismatch";
    case Status::kArenaTooSmall: return "arena too small";
    case Status::kBadInput: return "bad input or output";
    case Status::kUnsupportedOp: return "unsupported op";
    case Status::kMisaligned: return "misaligned buffer";
  }
  return "unknown status";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::kInt8: return 1;
    case DType::kInt16: return 2;
    case DType::kInt32: return 4;
    case DType::kFloat32: return 4;
  }
  return 0;
}

Status model_load(const void* blob, size_t size, Model* model) {
  if (model == nullptr) return Status::kInvalidBlob;
  *model = Model();
  const uint8_t* bytes = static_cast<const uint8_t*>(blob);
  if (bytes == nullptr || size < kBlobHeaderSize) return Status::kInvalidBlob;
  if (reinterpret_cast<uintptr_t>(bytes) % 16 != 0) return Status::kMisaligned;
  BlobView view;
  const Status hs = blob_parse_header(bytes, size, &view);
  if (hs != Status::kOk) return hs;
  flatbuffers::Verifier verifier(view.flatbuffer, view.flatbuffer_size);
  if (!fb::VerifyProgramBuffer(verifier)) return Status::kInvalidBlob;
  const fb::Program* p = fb::GetProgram(view.flatbuffer);
  const Status cs = detail::check_program(p, bytes, size);
  if (cs != Status::kOk) return cs;
  model->program = p;
  model->blob = bytes;
  model->blob_size = size;
  model->arena_bytes = p->arena_bytes();
  model->input_pool_bytes = p->input_pool_bytes();
  model->input_overwrite = p->input_overwrite();
  return Status::kOk;
}

uint32_t model_arena_bytes(const Model& model) { return model.arena_bytes; }

size_t model_num_inputs(const Model& model) {
  return model.program ? program_of(model)->inputs()->size() : 0;
}
size_t model_num_outputs(const Model& model) {
  return model.program ? program_of(model)->outputs()->size() : 0;
}
size_t model_num_ops(const Model& model) { return model.program ? program_of(model)->ops()->size() : 0; }

namespace {

const fb::Tensor* io_tensor(const Model& model, bool input, size_t i) {
  if (model.program == nullptr) return nullptr;
  const auto* list = input ? program_of(model)->inputs() : program_of(model)->outputs();
  if (i >= list->size()) return nullptr;
  return program_of(model)->tensors()->Get(static_cast<uint32_t>(list->Get(static_cast<uint32_t>(i))));
}

size_t numel_of(const fb::Tensor* t) {
  Shape s;
  return (t != nullptr && detail::read_shape(t, &s)) ? static_cast<size_t>(s.numel) : 0;
}

}  // namespace

size_t model_input_numel(const Model& model, size_t i) { return numel_of(io_tensor(model, true, i)); }
size_t model_output_numel(const Model& model, size_t i) { return numel_of(io_tensor(model, false, i)); }
DType model_input_dtype(const Model& model, size_t i) {
  const fb::Tensor* t = io_tensor(model, true, i);
  return t ? static_cast<DType>(t->dtype()) : DType::kInt8;
}
DType model_output_dtype(const Model& model, size_t i) {
  const fb::Tensor* t = io_tensor(model, false, i);
  return t ? static_cast<DType>(t->dtype()) : DType::kInt8;
}

namespace {

// Resolves tensor indices to addresses for one run. Everything it relies on was checked by model_load.
class Runner {
 public:
  // The flatbuffer vectors every op call reads are looked up once per run (the per-call dispatch cost is measured
  // by benchmarks/mcu.py: instructions of the runner's functions per op call).
  Runner(const Model& m, uint8_t* arena, const IoTensor* ins, const IoTensor* outs)
      : m_(m), p_(program_of(m)), tensors_(p_->tensors()), constants_(p_->constants()), inputs_(p_->inputs()),
        arena_(arena), ins_(ins), outs_(outs) {}

  uint8_t* addr(int32_t t) const {
    const fb::Tensor* tt = tensors_->Get(static_cast<uint32_t>(t));
    const int32_t c = tt->constant();
    if (c >= 0) return const_cast<uint8_t*>(constants_->Get(static_cast<uint32_t>(c))->data()->data());
    const int32_t in = detail::find_index(inputs_, t);
    if (in >= 0) {
      uint8_t* base = static_cast<uint8_t*>(ins_[in].data);
      const bool pool = in == 0 && m_.input_overwrite && tt->dtype() == fb::DType::INT8;
      return pool ? base + tt->offset() : base;  // the pool input sits at offset 0 (checked at load)
    }
    const int32_t viewed = detail::input_view_of(p_, tt);  // a row of a caller's input, read in place
    if (viewed >= 0) return static_cast<uint8_t*>(ins_[viewed].data) + (tt->view_offset() + loop_shift(t));
    if (tt->dtype() == fb::DType::FLOAT32) return static_cast<uint8_t*>(outs_[detail::find_index(p_->outputs(), t)].data);
    const uint32_t off = tt->offset();
    const int64_t shift = loop_shift(t);  // keeps the address inside the same region (checked at load)
    if (off < m_.input_pool_bytes) return static_cast<uint8_t*>(ins_[0].data) + (off + shift);
    return arena_ + (off - m_.input_pool_bytes + shift);
  }

  // Byte shift of tensor t from the enclosing LOOP iterations (schema.fbs LoopParams).
  int64_t loop_shift(int32_t t) const {
    int64_t shift = 0;
    for (int32_t d = 0; d < depth_; ++d) {
      const Frame& f = loops_[d];
      for (uint32_t k = 0; k < f.n; ++k) {
        if (f.tensors->Get(k) == t) {  // listed once per loop
          shift += static_cast<int64_t>(f.iter) * f.strides->Get(k);
          break;
        }
      }
    }
    return shift;
  }

  // Runs ops [lo, hi); a LOOP runs its body `count` times with its tensors shifted, then execution continues.
  void run_range(uint32_t lo, uint32_t hi) {
    const auto* ops = p_->ops();
    uint32_t k = lo;
    while (k < hi) {
      const fb::Op* op = ops->Get(k);
      if (op->params_type() == OpParams::LoopParams) {
        const auto* q = op->params_as_LoopParams();
        const uint32_t end = k + 1 + static_cast<uint32_t>(q->body());
        const auto* ts = q->tensors();
        loops_[depth_] = Frame{ts, q->strides(), ts ? ts->size() : 0u, 0};
        ++depth_;
        for (int32_t it = 0; it < q->count(); ++it) {
          loops_[depth_ - 1].iter = it;
          run_range(k + 1, end);
        }
        --depth_;
        k = end;
        continue;
      }
      mcuformer_profile_op(static_cast<int32_t>(k), static_cast<int32_t>(op->params_type()));
      run_op(op);
      ++k;
    }
  }
  int8_t* s8(int32_t t) const { return reinterpret_cast<int8_t*>(addr(t)); }
  const int32_t* s32(int32_t t) const { return reinterpret_cast<const int32_t*>(addr(t)); }
  Shape shape(int32_t t) const {
    Shape s;
    detail::read_shape(tensors_->Get(static_cast<uint32_t>(t)), &s);
    return s;
  }

  void run_op(const fb::Op* op) const {
    const auto* in = op->inputs();
    const int32_t x = in->Get(0);
    const int32_t y = op->outputs()->Get(0);
    switch (op->params_type()) {
      case OpParams::QuantizeParams: {
        const auto* q = op->params_as_QuantizeParams();
        fast::quantize_f32_s8(reinterpret_cast<const float*>(addr(x)), s8(y), shape(x).numel, q->inv_scale(),
                             q->zero_point());
        break;
      }
      case OpParams::DequantizeParams: {
        const auto* q = op->params_as_DequantizeParams();
        ref::dequantize_s8_f32(s8(x), reinterpret_cast<float*>(addr(y)), shape(x).numel, q->scale(),
                               q->zero_point());
        break;
      }
      case OpParams::LinearParams: {
        const auto* q = op->params_as_LinearParams();
        const Shape xs = shape(x), ws = shape(in->Get(1));
        const int32_t K = ws.d[1], N = ws.d[0];
        const int32_t M = static_cast<int32_t>(xs.numel / static_cast<uint64_t>(K));
        fast::linear_s8(s8(x), s8(in->Get(1)), s32(in->Get(2)), s32(in->Get(3)), s32(in->Get(4)),
                       q->has_lut() ? s8(in->Get(5)) : nullptr, q->output_zp(), s8(y), M, N, K);
        break;
      }
      case OpParams::Conv2dParams: {
        const auto* q = op->params_as_Conv2dParams();
        const Shape xs = shape(x), ws = shape(in->Get(1));
        fast::conv2d_patch_s8(s8(x), xs.d[1], xs.d[2], xs.d[3], s8(in->Get(1)), ws.d[0], ws.d[2], ws.d[3],
                             s32(in->Get(2)), s32(in->Get(3)), s32(in->Get(4)), q->output_zp(), q->tokens_layout(),
                             s8(y));
        break;
      }
      case OpParams::MatmulParams: {
        const auto* q = op->params_as_MatmulParams();
        const Shape a = shape(x), b = shape(in->Get(1));
        const int32_t r = a.rank;
        const int32_t M = a.d[r - 2], K = a.d[r - 1];
        const int32_t N = q->transpose_b() ? b.d[r - 2] : b.d[r - 1];
        const int32_t batch = static_cast<int32_t>(a.numel / (static_cast<uint64_t>(M) * static_cast<uint64_t>(K)));
        fast::matmul_s8(s8(x), s8(in->Get(1)), s8(y), batch, M, K, N, q->transpose_b(), q->a_zp(), q->b_zp(),
                       q->output_zp(), q->mult(), q->shift());
        break;
      }
      case OpParams::AddParams: {
        const auto* q = op->params_as_AddParams();
        fast::add_s8(s8(x), s8(in->Get(1)), s8(y), shape(x).numel, shape(in->Get(1)).numel, q->a_zp(), q->b_zp(),
                     q->output_zp(), q->a_mult(), q->b_mult(), q->shift());
        break;
      }
      case OpParams::RescaleParams: {
        const auto* q = op->params_as_RescaleParams();
        fast::rescale_s8(s8(x), s8(y), shape(x).numel, q->input_zp(), q->output_zp(), q->mult(), q->shift());
        break;
      }
      case OpParams::LutParams:
        ref::lut_s8(s8(x), s8(in->Get(1)), s8(y), shape(x).numel);
        break;
      case OpParams::LayerNormParams: {
        const auto* q = op->params_as_LayerNormParams();
        const Shape xs = shape(x);
        const int32_t C = xs.last();
        fast::layernorm_s8(s8(x), s32(in->Get(1)), s32(in->Get(2)), s8(y), xs.numel / static_cast<uint64_t>(C), C,
                           q->eps(), q->output_zp(), q->mult(), q->shift());
        break;
      }
      case OpParams::SoftmaxParams: {
        const Shape xs = shape(x);
        const int32_t L = xs.last();
        fast::softmax_s8(s8(x), s32(in->Get(1)), s8(y), xs.numel / static_cast<uint64_t>(L), L);
        break;
      }
      case OpParams::MeanParams: {
        const auto* q = op->params_as_MeanParams();
        ref::mean_s8(s8(x), s8(y), q->outer(), q->reduce(), q->inner(), q->input_zp(), q->output_zp(), q->mult(),
                     q->shift());
        break;
      }
      case OpParams::PermuteParams: {
        const auto* q = op->params_as_PermuteParams();
        const Shape xs = shape(x);
        int32_t perm[ref::kMaxRank];
        for (int32_t d = 0; d < xs.rank; ++d) perm[d] = q->perm()->Get(static_cast<uint32_t>(d));
        ref::permute_s8(s8(x), s8(y), xs.rank, xs.d, perm);
        break;
      }
      case OpParams::SliceParams: {
        const auto* q = op->params_as_SliceParams();
        const Shape xs = shape(x), ys = shape(y);
        const int32_t axis = q->axis() < 0 ? q->axis() + xs.rank : q->axis();
        size_t outer = 1, inner = 1;
        for (int32_t i = 0; i < axis; ++i) outer *= static_cast<size_t>(xs.d[i]);
        for (int32_t i = axis + 1; i < xs.rank; ++i) inner *= static_cast<size_t>(xs.d[i]);
        ref::slice_s8(s8(x), s8(y), outer, xs.d[axis], inner, q->start(), q->step(), ys.d[axis]);
        break;
      }
      case OpParams::ConcatParams: {
        const auto* q = op->params_as_ConcatParams();
        const Shape ys = shape(y);
        const int32_t axis = q->axis() < 0 ? q->axis() + ys.rank : q->axis();
        size_t outer = 1, inner = 1;
        for (int32_t i = 0; i < axis; ++i) outer *= static_cast<size_t>(ys.d[i]);
        for (int32_t i = axis + 1; i < ys.rank; ++i) inner *= static_cast<size_t>(ys.d[i]);
        const int8_t* xs[detail::kMaxConcatInputs];
        int32_t lens[detail::kMaxConcatInputs];
        const int32_t count = static_cast<int32_t>(in->size());
        for (int32_t j = 0; j < count; ++j) {
          xs[j] = s8(in->Get(static_cast<uint32_t>(j)));
          lens[j] = shape(in->Get(static_cast<uint32_t>(j))).d[axis];
        }
        ref::concat_s8(xs, lens, count, outer, inner, s8(y));
        break;
      }
      case OpParams::ReshapeParams:
        ref::reshape_s8(s8(x), s8(y), shape(x).numel);
        break;
      default:
        break;  // unreachable: model_load rejects unknown kinds
    }
  }

  void copy_int8_outputs() const {
    const auto* outs = p_->outputs();
    for (uint32_t i = 0; i < outs->size(); ++i) {
      const int32_t t = outs->Get(i);
      if (p_->tensors()->Get(static_cast<uint32_t>(t))->dtype() != fb::DType::INT8) continue;
      const uint8_t* src = addr(t);
      if (src != outs_[i].data) std::memmove(outs_[i].data, src, outs_[i].nbytes);
    }
  }

 private:
  const Model& m_;
  const fb::Program* p_;
  const flatbuffers::Vector<flatbuffers::Offset<fb::Tensor>>* tensors_;
  const flatbuffers::Vector<flatbuffers::Offset<fb::Constant>>* constants_;
  const flatbuffers::Vector<int32_t>* inputs_;
  uint8_t* arena_;
  const IoTensor* ins_;
  const IoTensor* outs_;
  struct Frame {
    const flatbuffers::Vector<int32_t>* tensors;
    const flatbuffers::Vector<int32_t>* strides;
    uint32_t n;
    int32_t iter;
  };
  Frame loops_[detail::kMaxLoopDepth] = {};
  int32_t depth_ = 0;  // nesting checked at load (<= kMaxLoopDepth)
};

bool io_ok(const Model& model, bool input, const IoTensor* io, size_t count) {
  if (count != (input ? model_num_inputs(model) : model_num_outputs(model))) return false;
  if (count > 0 && io == nullptr) return false;
  for (size_t i = 0; i < count; ++i) {
    const DType d = input ? model_input_dtype(model, i) : model_output_dtype(model, i);
    const size_t numel = input ? model_input_numel(model, i) : model_output_numel(model, i);
    if (io[i].dtype != d || io[i].nbytes != numel * dtype_size(d) || io[i].data == nullptr) return false;
  }
  return true;
}

bool aligned_ok(const IoTensor* io, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (io[i].dtype == DType::kFloat32 && reinterpret_cast<uintptr_t>(io[i].data) % 4 != 0) return false;
  }
  return true;
}

}  // namespace

Status model_run(const Model& model, uint8_t* arena, size_t arena_bytes, const IoTensor* inputs, size_t num_inputs,
                 const IoTensor* outputs, size_t num_outputs) {
  if (model.program == nullptr) return Status::kInvalidBlob;
  if (!io_ok(model, true, inputs, num_inputs) || !io_ok(model, false, outputs, num_outputs)) return Status::kBadInput;
  if (!aligned_ok(inputs, num_inputs) || !aligned_ok(outputs, num_outputs)) return Status::kMisaligned;
  if (arena_bytes < model.arena_bytes) return Status::kArenaTooSmall;
  if (model.arena_bytes > 0 && arena == nullptr) return Status::kArenaTooSmall;
  if (reinterpret_cast<uintptr_t>(arena) % 16 != 0) return Status::kMisaligned;
  Runner runner(model, arena, inputs, outputs);
  runner.run_range(0, program_of(model)->ops()->size());
  mcuformer_profile_op(-1, 0);
  runner.copy_int8_outputs();
  return Status::kOk;
}

}  // namespace mcuformer
