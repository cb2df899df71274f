"""`plan_vit(arch) -> MemoryReport`: the deployed memory of a ViT from its architecture alone, no weights.

Builds the IR the lowering produces for `mcuformer.nas.vit.ViT(arch)` (shape-only constants: zero-stride arrays),
runs the same passes and the same planner as `MCUFormerBackend.preprocess`, and reports. Fast enough for a search
(one row per loop: a few ms for a 240 px, depth-14 network; a budget's tile choice adds ~0.1-0.6 s). Conventions
(shared with nas/space.py): tokens = (img // patch)^2 + 1;
attention width = heads * head_dim; MLP hidden = round(mlp_ratio * embed); a linear with rank_ratio < 1 is
Linear(in, r, no bias) -> Linear(r, out) with r = linear_rank(in, out, ratio) (backend/lowrank.py: None = full rank).

    rep = plan_vit(arch)                     # deployed default: int8 image the delegate may overwrite, tiles
                                             # for the default board (mcuformer.targets.DEFAULT_BOARD)
    rep.total_sram_bytes, rep.arena_bytes, rep.bound_bytes, rep.flash_bytes
    plan_vit(arch, sram_budget=0)            # one row per token loop: the least SRAM ViT(arch) runs in
"""
from __future__ import annotations

import numpy as np

from ..ir import Program, Tensor
from ..lowrank import linear_rank
from .report import MemoryReport, report_of


class _Builder:
    def __init__(self):
        self.p = Program()

    def const(self, name, shape, dtype=np.int8):
        data = np.broadcast_to(np.zeros((), dtype), tuple(shape))
        self.p.tensors.append(Tensor(name, tuple(shape), str(np.dtype(dtype)), data=data))
        return len(self.p.tensors) - 1

    def act(self, name, shape):
        return self.p.add_tensor(name, shape, "int8", 1.0, 0)

    def op(self, kind, ins, shape, name, **params):
        y = self.act(name, shape)
        self.p.add_op(kind, ins, [y], name, **params)
        return y

    def weighted(self, kind, x, w_shape, out_shape, name, **params):
        n = w_shape[0]
        ins = [x, self.const(f"{name}_w", w_shape)] + [self.const(f"{name}_{s}", (n,), np.int32) for s in "bms"]
        return self.op(kind, ins, out_shape, name, output_zp=0, **params)

    def linear(self, x, lead, fin, fout, ratio, name):
        r = linear_rank(fin, fout, ratio)
        if r is None:
            return self.weighted("Linear", x, (fout, fin), lead + (fout,), name, has_lut=False)
        u = self.weighted("Linear", x, (r, fin), lead + (r,), f"{name}_0", has_lut=False)
        return self.weighted("Linear", u, (fout, r), lead + (fout,), f"{name}_1", has_lut=False)

    def layer_norm(self, x, shape, e, name):
        ins = [x, self.const(f"{name}_g", (e,), np.int32), self.const(f"{name}_b", (e,), np.int32)]
        return self.op("LayerNorm", ins, shape, name, eps=0, output_zp=0, mult=1 << 30, shift=31)


def build_vit_ir(arch, int8_input: bool = True, overwrite_input: bool = True) -> Program:
    """The unfused IR of ViT(arch), as lowering produces it (constants are zero-stride placeholders)."""
    b = _Builder()
    p = b.p
    c, img, ps, e = arch.in_chans, arch.img_size, arch.patch_size, arch.embed_dim
    g = img // ps
    n = g * g + 1
    rq = dict(input_zp=0, output_zp=0, mult=1 << 30, shift=30)  # the lowering's attention-scale Rescale: identity
    if int8_input:
        x = b.act("img", (1, c, img, img))
        p.inputs.append(x)
    else:
        xf = p.add_tensor("img", (1, c, img, img), "float32")
        p.inputs.append(xf)
        x = b.op("Quantize", [xf], (1, c, img, img), "quantize", inv_scale=1.0, zero_point=0)
    p.input_overwrite = overwrite_input and int8_input
    t = b.weighted("Conv2d", x, (e, c, ps, ps), (1, e, g, g), "patch_embed", tokens_layout=False)
    t = b.op("Reshape", [t], (1, e, g * g), "flatten")
    t = b.op("Permute", [t], (1, g * g, e), "transpose", perm=[0, 2, 1])
    t = b.op("Concat", [b.const("cls", (1, 1, e)), t], (1, n, e), "cat", axis=1)
    x = b.op("Add", [t, b.const("pos", (1, n, e))], (1, n, e), "pos", a_zp=0, b_zp=0, output_zp=0, a_mult=1 << 29,
             b_mult=1 << 29, shift=29)
    add = dict(a_zp=0, b_zp=0, output_zp=0, a_mult=1 << 29, b_mult=1 << 29, shift=29)
    for i in range(arch.depth):
        h, d = arch.num_heads[i], arch.head_dim
        a_dim, hidden, ratio = h * d, int(round(arch.mlp_ratio[i] * e)), arch.rank_ratio[i]
        nm = f"blocks{i}"
        y = b.layer_norm(x, (1, n, e), e, f"{nm}_norm1")
        y = b.linear(y, (1, n), e, 3 * a_dim, ratio, f"{nm}_qkv")
        y = b.op("Reshape", [y], (1, n, 3, h, d), f"{nm}_qkv_reshape")
        y = b.op("Permute", [y], (3, 1, h, n, d), f"{nm}_qkv_permute", perm=[2, 0, 3, 1, 4])
        qkv = []
        for j in range(3):
            s = b.op("Slice", [y], (1, 1, h, n, d), f"{nm}_select{j}", axis=0, start=j, step=1)
            qkv.append(b.op("Reshape", [s], (1, h, n, d), f"{nm}_select{j}_view"))
        kt = b.op("Permute", [qkv[1]], (1, h, d, n), f"{nm}_kT", perm=[0, 1, 3, 2])
        s = b.op("Matmul", [qkv[0], kt], (1, h, n, n), f"{nm}_qk", a_zp=0, b_zp=0, output_zp=0, mult=1 << 30,
                 shift=31, transpose_b=False)
        s = b.op("Rescale", [s], (1, h, n, n), f"{nm}_scale", **rq)
        s = b.op("Softmax", [s, b.const(f"{nm}_exp", (256,), np.int32)], (1, h, n, n), f"{nm}_softmax")
        o = b.op("Matmul", [s, qkv[2]], (1, h, n, d), f"{nm}_av", a_zp=0, b_zp=0, output_zp=0, mult=1 << 30,
                 shift=31, transpose_b=False)
        if h == 1:  # only a size-1 dim moves: the lowering emits a Reshape
            o = b.op("Reshape", [o], (1, n, h, d), f"{nm}_transpose")
        else:
            o = b.op("Permute", [o], (1, n, h, d), f"{nm}_transpose", perm=[0, 2, 1, 3])
        o = b.op("Reshape", [o], (1, n, a_dim), f"{nm}_merge")
        o = b.linear(o, (1, n), a_dim, e, ratio, f"{nm}_proj")
        x = b.op("Add", [x, o], (1, n, e), f"{nm}_res1", **add)
        y = b.layer_norm(x, (1, n, e), e, f"{nm}_norm2")
        y = b.linear(y, (1, n), e, hidden, ratio, f"{nm}_fc1")
        y = b.op("Lut", [y, b.const(f"{nm}_gelu", (256,))], (1, n, hidden), f"{nm}_gelu")
        y = b.linear(y, (1, n), hidden, e, ratio, f"{nm}_fc2")
        x = b.op("Add", [x, y], (1, n, e), f"{nm}_res2", **add)
    y = b.layer_norm(x, (1, n, e), e, "norm")
    y = b.op("Slice", [y], (1, 1, e), "cls_select", axis=1, start=0, step=1)
    y = b.op("Reshape", [y], (1, e), "cls_view")
    y = b.weighted("Linear", y, (arch.num_classes, e), (1, arch.num_classes), "head", has_lut=False)
    out = p.add_tensor("logits", (1, arch.num_classes), "float32")
    p.add_op("Dequantize", [y], [out], "dequantize", scale=1.0, zero_point=0)
    p.outputs.append(out)
    return p


def planned_vit(arch, int8_input: bool = True, overwrite_input: bool = True, passes=None,
                sram_budget: int | None = None) -> tuple[Program, MemoryReport]:
    """plan_vit's planned program (the blob's, constants shape-only) with its report, for predictors that read
    more from the program (the cost model, the serialized size) without running the passes again."""
    from ..passes import plan_within_budget  # noqa: PLC0415 - the passes import this package (tile_tokens plans)

    program, placement = plan_within_budget(lambda: build_vit_ir(arch, int8_input, overwrite_input), sram_budget,
                                            passes=passes)
    return program, report_of(program, placement, arch=arch)


def plan_vit(arch, int8_input: bool = True, overwrite_input: bool = True, passes=None,
             sram_budget: int | None = None) -> MemoryReport:
    """Plans ViT(arch) as the backend would deploy it. Default: an int8 image input the delegate may overwrite
    (MCUFormerPartitioner(overwrite_input=True)), in SRAM. int8_input=False models the float-input export: the
    float frame is read in place and quantized patch row by patch row (one patch row of int8 pixels in the arena),
    so it does not count against SRAM. sram_budget: MCUFormerPartitioner's, token loops in the multi-row tiles
    that fit it, chosen as the backend chooses them: None the default board's budget (what
    MCUFormerPartitioner() deploys), 0 one row per iteration (the least SRAM the network runs in)."""
    return planned_vit(arch, int8_input, overwrite_input, passes, sram_budget)[1]
