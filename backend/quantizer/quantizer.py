"""MCUFormerQuantizer: PT2E annotations for integer-only int8 vision transformers.

Every tensor that crosses an op of the network becomes int8, so the whole graph lowers to integer kernels:
- activations: per-tensor affine int8 (histogram observer);
- linear / conv weights: per-channel symmetric int8; biases: int32 with scale input_scale * weight_scale;
- softmax output: fixed scale 1/256, zero point -128 (what the integer softmax kernel produces);
- data-movement ops (reshape, permute, select, cat, ...) share their input's parameters, so they stay copies;
- constants used as activations (position embedding, class token) are quantized per tensor;
- LayerNorm's affine parameters stay float here; preprocess turns them into the kernel's integer format.

Only floating-point tensors are annotated: integer and bool tensors (index arithmetic, masks) are never observed.

`transform_for_annotation` first folds what does not depend on the input (Hugging Face's attention mask: arange ->
compare -> where) into constants and drops adding an all-zero one (an all-true mask), and dtype casts to the same
dtype; then it rewrites `F.scaled_dot_product_attention` into matmul / softmax / matmul, so the ways people write
attention (explicit, SDPA, nn.MultiheadAttention, transformers) reach the annotator as the same pattern and the
attention scores get an observer of their own.
"""
from __future__ import annotations

import math
import operator

import torch
from torch.fx import GraphModule, Node
from torchao.quantization.pt2e.observer import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver
from torchao.quantization.pt2e.quantizer import (
    DerivedQuantizationSpec,
    FixedQParamsQuantizationSpec,
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
    SharedQuantizationSpec,
)

aten = torch.ops.aten

ACT = QuantizationSpec(torch.int8, HistogramObserver.with_args(eps=2**-20), -128, 127, torch.per_tensor_affine)
CONST = QuantizationSpec(torch.int8, MinMaxObserver.with_args(eps=2**-20), -128, 127, torch.per_tensor_affine)
WEIGHT = QuantizationSpec(torch.int8, PerChannelMinMaxObserver.with_args(eps=2**-20), -127, 127,
                          torch.per_channel_symmetric, ch_axis=0)
SOFTMAX_OUT = FixedQParamsQuantizationSpec(torch.int8, 1.0 / 256.0, -128, -128, 127, torch.per_tensor_affine)

# Ops that only move or view data: their output shares the input's quantization.
SHARING_OPS = {
    aten.reshape.default, aten.view.default, aten._unsafe_view.default, aten.flatten.using_ints,
    aten.unflatten.int, aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default, aten.unsqueeze.default,
    aten.permute.default, aten.transpose.int, aten.t.default, aten.contiguous.default, aten.clone.default,
    aten.select.int, aten.slice.Tensor, aten.expand.default, aten.dropout.default, aten.alias.default,
    aten.detach.default, aten.unbind.int,
}
WEIGHTED_OPS = {aten.linear.default, aten.conv2d.default}
BINARY_OPS = {aten.add.Tensor, aten.matmul.default, aten.bmm.default}
UNARY_OPS = {aten.gelu.default, aten.relu.default, aten.mean.dim, aten.layer_norm.default, aten.mul.Tensor, aten.mul.Scalar,
             aten.div.Tensor, aten.div.Scalar}
SOFTMAX_OPS = {aten.softmax.int, aten._softmax.default}


def _derive_bias_qparams(observers):
    act, weight = observers
    act_scale, _ = act.calculate_qparams()
    weight_scale, _ = weight.calculate_qparams()
    scale = (act_scale * weight_scale).to(torch.float32)
    return scale, torch.zeros_like(scale, dtype=torch.int32)


def _bias_spec(node: Node) -> DerivedQuantizationSpec:
    return DerivedQuantizationSpec(
        derived_from=[(node.args[0], node), (node.args[1], node)], derive_qparams_fn=_derive_bias_qparams,
        dtype=torch.int32, quant_min=-(2**31), quant_max=2**31 - 1, qscheme=torch.per_channel_symmetric,
        ch_axis=0)


def _is_constant(gm: GraphModule, n) -> bool:
    return isinstance(n, Node) and n.op == "get_attr"


def _is_float32(n: Node) -> bool:
    v = n.meta.get("val")
    return not isinstance(v, torch.Tensor) or v.dtype == torch.float32


def _tensor_args(node: Node) -> list[Node]:
    args = [a for a in node.args if isinstance(a, Node)]
    if node.target == aten.layer_norm.default:
        return args[:1]  # gamma / beta stay float: preprocess makes them integer
    return args


def _act_spec(gm: GraphModule, n: Node):
    """An activation operand keeps the quantization its producer gave it (no requantization on the edge)."""
    if _is_constant(gm, n):
        return CONST
    producer = n.meta.get("quantization_annotation") if isinstance(n, Node) else None
    if producer is not None and producer.output_qspec is not None:
        return SharedQuantizationSpec(n)
    return ACT


def _is_float(n) -> bool:
    v = n.meta.get("val") if isinstance(n, Node) else None
    return isinstance(v, torch.Tensor) and v.dtype.is_floating_point


def _no_mask(m) -> bool:
    """An attention mask that masks nothing: all true (bool) or all zero (additive)."""
    if not isinstance(m, torch.Tensor):
        return False
    return bool(m.all()) if m.dtype == torch.bool else not bool(m.any())


def _fold_input_independent(gm: GraphModule) -> None:
    """Evaluates nodes that depend on no graph input and no parameter (shape-derived index and mask arithmetic) and
    removes the identities they make: x + 0 (an all-true additive mask; only when it does not broadcast x), an
    SDPA mask that masks nothing, and x.to(x.dtype). What folds is computed once here, exactly as the graph would compute it on every call."""
    static: dict[Node, object] = {}
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        args = node.all_input_nodes
        if all(a in static for a in args) and node.target != aten._assert_tensor_metadata.default:
            env = lambda a: static[a] if isinstance(a, Node) else a  # noqa: E731
            try:
                static[node] = node.target(*torch.fx.node.map_aggregate(node.args, env),
                                           **torch.fx.node.map_aggregate(node.kwargs, env))
            except Exception:  # not evaluable eagerly (e.g. a random op): leave it in the graph
                continue
        if node.target == aten.add.Tensor and len(node.args) == 2 and not node.kwargs:
            x, other = node.args
            z = static.get(other) if isinstance(other, Node) else None
            if isinstance(x, Node) and isinstance(z, torch.Tensor) and z.dtype.is_floating_point and _no_mask(z) and \
                    tuple(torch.broadcast_shapes(x.meta["val"].shape, z.shape)) == tuple(x.meta["val"].shape):
                node.replace_all_uses_with(x)
        elif node.target == aten.scaled_dot_product_attention.default and len(node.args) > 3 and \
                isinstance(node.args[3], Node) and _no_mask(static.get(node.args[3])):
            node.args = node.args[:3] + (None,) + node.args[4:]
        elif node.target in (aten.to.dtype, aten._to_copy.default) and isinstance(node.args[0], Node) and \
                node.meta["val"].dtype == node.args[0].meta["val"].dtype and len(node.args) <= 2:
            node.replace_all_uses_with(node.args[0])
    for node in reversed(list(gm.graph.nodes)):  # what folded is dead now; export checked its metadata asserts
        if node.op == "call_function" and not node.users and (
                not node.is_impure() or node.target == aten._assert_tensor_metadata.default):
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()


def _decompose_sdpa(gm: GraphModule) -> None:
    """scaled_dot_product_attention(q, k, v) -> softmax(q @ k^T * scale) @ v (no mask, no dropout)."""
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target != aten.scaled_dot_product_attention.default:
            continue
        q, k, v = node.args[:3]
        kwargs = dict(zip(["attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"], node.args[3:]))
        kwargs.update(node.kwargs)
        if kwargs.get("attn_mask") is not None or kwargs.get("is_causal") or kwargs.get("dropout_p", 0.0):
            continue  # left as is: the partitioner will name it as unsupported
        scale = kwargs.get("scale") or 1.0 / math.sqrt(q.meta["val"].shape[-1])
        with gm.graph.inserting_before(node):
            kt = gm.graph.call_function(aten.transpose.int, (k, -2, -1))
            scores = gm.graph.call_function(aten.matmul.default, (q, kt))
            scaled = gm.graph.call_function(aten.mul.Tensor, (scores, scale))
            probs = gm.graph.call_function(aten.softmax.int, (scaled, -1))
            out = gm.graph.call_function(aten.matmul.default, (probs, v))
        for n in (kt, scores, scaled, probs, out):
            n.meta["stack_trace"] = node.meta.get("stack_trace")
        node.replace_all_uses_with(out)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    # fill in meta["val"] for the new nodes (annotation looks at shapes)
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp
    from torch._subclasses.fake_tensor import FakeTensorMode

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    FakeTensorProp(gm, mode).propagate(*[mode.from_tensor(p.meta["val"]) for p in placeholders])


class MCUFormerQuantizer(Quantizer):
    """Annotates a `torch.export`-ed ViT for `prepare_pt2e` / `convert_pt2e` (integer-only int8)."""

    def transform_for_annotation(self, model: GraphModule) -> GraphModule:
        _fold_input_independent(model)
        if any(n.target == aten.scaled_dot_product_attention.default for n in model.graph.nodes):
            _decompose_sdpa(model)
        return model

    def annotate(self, model: GraphModule) -> GraphModule:
        for node in model.graph.nodes:  # topological: producers are annotated before their users
            if node.op != "call_function" or not (_is_float(node) or node.target == aten.unbind.int):
                continue  # integer / bool results (index arithmetic, masks) are never observed
            t = node.target
            if t in WEIGHTED_OPS:
                qmap = {node.args[0]: _act_spec(model, node.args[0]), node.args[1]: WEIGHT}
                if len(node.args) > 2 and isinstance(node.args[2], Node):
                    qmap[node.args[2]] = _bias_spec(node)
                self._set(node, qmap, ACT)
            elif t in BINARY_OPS or t in UNARY_OPS or t == aten.mean.dim:
                self._set(node, {a: _act_spec(model, a) for a in _tensor_args(node)}, ACT)
            elif t in SOFTMAX_OPS:
                self._set(node, {node.args[0]: _act_spec(model, node.args[0])}, SOFTMAX_OUT)
            elif t == aten.cat.default:
                inputs = list(node.args[0])
                first = inputs[0]
                qmap = {first: _act_spec(model, first)}
                shared = SharedQuantizationSpec((first, node))
                qmap.update({a: shared for a in inputs[1:]})
                self._set(node, qmap, shared)
            elif t in SHARING_OPS and isinstance(node.args[0], Node):
                src = node.args[0]
                if t == aten.unbind.int:
                    continue  # its getitem users carry the annotation
                self._set(node, {src: _act_spec(model, src)}, SharedQuantizationSpec((src, node)))
            elif t == operator.getitem and node.args[0].target == aten.unbind.int:
                src = node.args[0].args[0]
                self._set(node, {}, SharedQuantizationSpec(src))
        return model

    @staticmethod
    def _set(node: Node, qmap, out_spec) -> None:
        # float32 tensors only: integer / bool tensors (indices, masks, dtype= results) are not observed or quantized
        qmap = {a: spec for a, spec in qmap.items() if _is_float32(a)}
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map=qmap, output_qspec=out_spec if _is_float32(node) else None, _annotated=True)

    def validate(self, model: GraphModule) -> None:
        """The base class requires it: checks the annotator's contract (observers on floating-point tensors only)."""
        for node in model.graph.nodes:
            ann = node.meta.get("quantization_annotation")
            if ann is None:
                continue
            bad = [a.name for a in ann.input_qspec_map if not _is_float(a)]
            if bad or (ann.output_qspec is not None and not _is_float(node)):
                raise ValueError(f"MCUFormerQuantizer: {node.name} annotated on a non-float tensor {bad or node.name}")
