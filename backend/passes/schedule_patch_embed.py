"""Patch-embedding decomposition: the image is embedded patch-row by patch-row and the tokens are written over the
image rows already consumed.

    image [1,C,H,W] -> Conv2d(tokens_layout) -> Concat(cls, .) -> Add(pos)
==> LOOP patch rows g < G:  LOOP channels c < C: copy image rows [g*P, g*P+P) of channel c -> gather [1,C,P,W]
                            Conv2d(gather) -> tokens rows [1 + g*G, 1 + (g+1)*G)
    copy cls -> token 0;  Add(tokens, pos) in place

A float input (the delegate quantizes it: Quantize(frame) -> image) is never copied whole: the per-channel copy is
that Quantize, applied to a view of the caller's float frame (read in place, e.g. from SDRAM), so the only int8
pixels in memory are the one-patch-row gather.

With an int8 image in the input pool (overwrite_input: ours to overwrite), the token buffer is anchored at the
image's offset (it may overlap it) when it fits inside the image and every patch row's tokens end before the first
image byte not yet consumed: E*(1 + (g+1)*G) <= (g+1)*P*W for g < G-1 (NCHW: channel 0's unread rows come first).
Bit-exact: the same Quantize/Conv2d/Add arithmetic per row.
"""
from __future__ import annotations

from ..ir import DTYPE_SIZE, Op, Program
from ._graph import consumers, is_io, like, loop, make_view_of, producers, replace_ops, view


def overwrite_safe(c: int, h: int, w: int, p: int, g: int, e: int) -> bool:
    return all(e * (1 + (i + 1) * g) <= (i + 1) * p * w for i in range(g - 1))


def run(program: Program) -> Program:
    cons, prod = consumers(program), producers(program)
    for k, conv in enumerate(program.ops):
        if conv.kind != "Conv2d" or not conv.params.get("tokens_layout"):
            continue
        img, tok = conv.inputs[0], conv.outputs[0]
        if len(cons.get(img, [])) != 1 or len(cons.get(tok, [])) != 1 or is_io(program, tok):
            continue
        cat = program.ops[cons[tok][0]]
        if cat.kind != "Concat" or len(cat.inputs) != 2 or cat.inputs[1] != tok or cat.params["axis"] != 1:
            continue
        cls = cat.inputs[0]
        x0 = cat.outputs[0]
        if not program.tensors[cls].is_constant or len(cons.get(x0, [])) != 1 or is_io(program, x0):
            continue
        add = program.ops[cons[x0][0]]
        if add.kind != "Add" or add.inputs[0] != x0 or not program.tensors[add.inputs[1]].is_constant:
            continue
        _, c, h, w = program.tensors[img].shape
        e, _, ph, pw = program.tensors[conv.inputs[1]].shape
        g_rows, g_cols = h // ph, w // pw
        ntok = g_rows * g_cols + 1
        if program.tensors[x0].shape != (1, ntok, e) or program.tensors[img].view_of is not None:
            continue
        quant = program.ops[prod[img]] if img in prod else None
        if quant is not None and quant.kind == "Quantize" and not program.is_planned(quant.inputs[0]):
            frame, copy = quant.inputs[0], quant  # the float frame: its rows are quantized, never copied whole
        elif program.is_planned(img):
            frame, copy, quant = img, Op("Reshape", [], [], {}, f"{conv.name}_gather"), None
        else:  # an int8 caller's buffer, not ours to overwrite: the whole-image Conv2d reads it in place
            continue
        px = DTYPE_SIZE[program.tensors[frame].dtype]  # bytes per source pixel (float32 frame: 4)
        gather = like(program, img, (1, c, ph, w), f"{conv.name}_gather")
        src = view(program, frame, 0, (1, 1, ph, w), f"{conv.name}_src")
        dst = view(program, gather, 0, (1, 1, ph, w), f"{conv.name}_dst")
        rows = view(program, x0, e, (1, g_cols, e), f"{conv.name}_rows", qsrc=tok)
        inner = loop(c, [Op(copy.kind, [src], [dst], dict(copy.params), copy.name)],
                     {src: h * w * px, dst: ph * w}, f"{conv.name}_channels")
        body = inner + [Op("Conv2d", [gather] + conv.inputs[1:], [rows], dict(conv.params), conv.name)]
        new = loop(g_rows, body, {src: ph * w * px, rows: g_cols * e}, f"{conv.name}_patch_rows")
        new.append(Op("Reshape", [cls], [view(program, x0, 0, (1, 1, e), f"{cat.name}_cls")], {}, cat.name))
        make_view_of(program, add.outputs[0], x0, 0)  # position embedding added in place
        new.append(add)
        ours = img in program.inputs and program.input_overwrite
        if ours and program.tensors[x0].nbytes <= program.tensors[img].nbytes and \
                overwrite_safe(c, h, w, ph, g_cols, e):
            program.memory_anchors[x0] = (img, 0)
        replace_ops(program, {k, cons[tok][0], cons[x0][0]} | ({prod[img]} if quant is not None else set()), k, new)
        return program  # one patch embedding per program
    return program
