"""Numpy reference of the IR: the golden model the C++ kernels are tested against, bit for bit.

One function per op kind, `(inputs, params, out_shape) -> output`, implementing the semantics written in
`serialization/schema.fbs`. `run` executes a whole Program, either on values or, with `arena=True`, inside a byte
arena at the planned offsets (so a wrong plan shows up as wrong numbers, as it would on the device).
"""
from __future__ import annotations

import numpy as np

from .ir import Program
from .memory.liveness import root_of
from .quant_math import dequantize_f32, isqrt_u64, quantize_f32, requant, sat8


def quantize(ins, p, shape):
    return quantize_f32(ins[0], p["inv_scale"], p["zero_point"]).reshape(shape)


def dequantize(ins, p, shape):
    return dequantize_f32(ins[0], p["scale"], p["zero_point"]).reshape(shape)


def _activation(y, p, ins, lut_index):
    return ins[lut_index][y.astype(np.int64) + 128] if p.get("has_lut") else y


def linear(ins, p, shape):
    x, w, bias, mult, shift = ins[:5]
    k = w.shape[1]
    acc = x.reshape(-1, k).astype(np.int32) @ w.astype(np.int32).T + bias
    y = sat8(requant(acc, mult, shift) + p["output_zp"])
    return _activation(y, p, ins, 5).reshape(shape)


def conv2d(ins, p, shape):
    x, w, bias, mult, shift = ins
    _, c, h, wd = x.shape
    e, _, ph, pw = w.shape
    gh, gw = h // ph, wd // pw
    patches = x.reshape(c, gh, ph, gw, pw).transpose(1, 3, 0, 2, 4).reshape(gh * gw, c * ph * pw)
    acc = patches.astype(np.int32) @ w.reshape(e, -1).astype(np.int32).T + bias
    y = sat8(requant(acc, mult, shift) + p["output_zp"])  # [tokens, E]
    if not p.get("tokens_layout"):
        y = y.T.reshape(1, e, gh, gw)
    return y.reshape(shape)


def matmul(ins, p, shape):
    a = ins[0].astype(np.int64) - p["a_zp"]
    b = ins[1].astype(np.int64) - p["b_zp"]
    if p.get("transpose_b"):
        b = np.swapaxes(b, -1, -2)
    return sat8(requant(a @ b, p["mult"], p["shift"]) + p["output_zp"]).reshape(shape)


def add(ins, p, shape):
    a = ins[0].astype(np.int64) - p["a_zp"]
    b = ins[1].astype(np.int64) - p["b_zp"]
    s = p["shift"]
    acc = (a * p["a_mult"] + b * p["b_mult"] + (1 << (s - 1))) >> s
    return sat8(acc + p["output_zp"]).reshape(shape)


def rescale(ins, p, shape):
    x = ins[0].astype(np.int64) - p["input_zp"]
    return sat8(requant(x, p["mult"], p["shift"]) + p["output_zp"]).reshape(shape)


def lut(ins, p, shape):
    return ins[1][ins[0].astype(np.int64) + 128].reshape(shape)


def layer_norm(ins, p, shape):
    x, gamma, beta = ins
    c = x.shape[-1]
    x = x.reshape(-1, c).astype(np.int64)
    d = c * x - x.sum(axis=1, keepdims=True)
    v = (d * d).sum(axis=1, keepdims=True)
    sd = np.maximum(1, isqrt_u64(v // c + p["eps"]))
    inv = (np.int64(1) << 40) // sd
    n = (d * inv + (1 << 28)) >> 29
    acc = n * gamma.astype(np.int64) + beta.astype(np.int64)
    return sat8(requant(acc, p["mult"], p["shift"]) + p["output_zp"]).reshape(shape)


def softmax(ins, p, shape):
    x, exp_lut = ins
    x = x.reshape(-1, x.shape[-1]).astype(np.int64)
    e = exp_lut.astype(np.int64)[x.max(axis=1, keepdims=True) - x]
    recip = (np.int64(1) << 40) // e.sum(axis=1, keepdims=True)
    return sat8(((e * recip + (1 << 31)) >> 32) - 128).reshape(shape)


def mean(ins, p, shape):
    x = ins[0].reshape(p["outer"], p["reduce"], p["inner"]).astype(np.int64) - p["input_zp"]
    return sat8(requant(x.sum(axis=1), p["mult"], p["shift"]) + p["output_zp"]).reshape(shape)


def permute(ins, p, shape):
    return np.ascontiguousarray(np.transpose(ins[0], p["perm"])).reshape(shape)


def slice_(ins, p, shape):
    x, axis = ins[0], p["axis"]
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(p["start"], p["start"] + p["step"] * shape[axis], p["step"])
    return np.ascontiguousarray(x[tuple(idx)]).reshape(shape)


def concat(ins, p, shape):
    return np.concatenate(ins, axis=p["axis"]).reshape(shape)


def reshape(ins, p, shape):
    return ins[0].reshape(shape)


KERNELS = {
    "Quantize": quantize, "Dequantize": dequantize, "Linear": linear, "Conv2d": conv2d, "Matmul": matmul,
    "Add": add, "Rescale": rescale, "Lut": lut, "LayerNorm": layer_norm, "Softmax": softmax, "Mean": mean,
    "Permute": permute, "Slice": slice_, "Concat": concat, "Reshape": reshape,
}

_NP = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


def loop_body_end(program: Program, i: int) -> int:
    """Index just past the body of the Loop op at i (nested loops are part of the body)."""
    return i + 1 + int(program.ops[i].params["body"])


def is_scheduled(program: Program) -> bool:
    """Whether the program uses views or loops (then it only runs at its planned offsets)."""
    return any(op.kind == "Loop" for op in program.ops) or any(t.view_of is not None for t in program.tensors)


def run(program: Program, inputs: list[np.ndarray], arena: bool = False) -> list[np.ndarray]:
    """Executes the program. With arena=True every planned tensor is stored at its offset in one byte array
    (input pool first, as the runtime lays it out), so overlapping placements corrupt results as on the device.
    Scheduled programs (views, LOOP) always run in the byte array; in LOOP iteration i a listed tensor is addressed
    at offset + i * stride (schema.fbs LoopParams), a view of a caller's input at its byte offset in that input."""
    values: dict[int, np.ndarray] = {}
    arena = arena or is_scheduled(program)
    memory = np.zeros(program.input_pool_bytes + program.arena_bytes, dtype=np.uint8) if arena else None
    shift: dict[int, int] = {}  # tensor -> byte shift from the enclosing loops' iterations

    def where(i: int) -> int:
        return program.tensors[i].offset + shift.get(i, 0)

    def store(i: int, v: np.ndarray):
        t = program.tensors[i]
        v = np.ascontiguousarray(v, dtype=_NP[t.dtype]).reshape(t.shape)
        if arena and program.is_planned(i):
            o = where(i)
            if o < 0 or o + t.nbytes > memory.size:
                raise IndexError(f"{t.name}: [{o}, {o + t.nbytes}) outside the planned memory ({memory.size} B)")
            memory[o:o + t.nbytes] = v.view(np.uint8).ravel()
        else:
            values[i] = v

    def load(i: int) -> np.ndarray:
        t = program.tensors[i]
        if t.is_constant:
            return t.data
        if arena and program.is_planned(i):
            o = where(i)
            if o < 0 or o + t.nbytes > memory.size:
                raise IndexError(f"{t.name}: [{o}, {o + t.nbytes}) outside the planned memory ({memory.size} B)")
            return memory[o:o + t.nbytes].view(_NP[t.dtype]).reshape(t.shape).copy()
        if t.view_of is not None:  # a view into a caller's input (a row of the float frame, read in place)
            r, off = root_of(program, i)
            o = off + shift.get(i, 0)
            raw = values[r].view(np.uint8).ravel()
            if o < 0 or o + t.nbytes > raw.size:
                raise IndexError(f"{t.name}: [{o}, {o + t.nbytes}) outside input {program.tensors[r].name}")
            return raw[o:o + t.nbytes].view(_NP[t.dtype]).reshape(t.shape).copy()
        return values[i]

    if len(inputs) != len(program.inputs):
        raise ValueError(f"expected {len(program.inputs)} inputs, got {len(inputs)}")
    for i, x in zip(program.inputs, inputs):
        t = program.tensors[i]
        x = np.asarray(x)
        if x.size != t.numel or x.dtype != _NP[t.dtype]:
            raise ValueError(f"input {t.name}: expected {t.dtype}{list(t.shape)}, got {x.dtype}{list(x.shape)}")
        store(i, x)

    def execute(lo: int, hi: int):
        k = lo
        while k < hi:
            op = program.ops[k]
            if op.kind == "Loop":
                end = loop_body_end(program, k)
                p = op.params
                for it in range(int(p["count"])):
                    for t, st in zip(p["tensors"], p["strides"]):
                        shift[t] = shift.get(t, 0) + (st if it else 0)
                    execute(k + 1, end)
                for t, st in zip(p["tensors"], p["strides"]):
                    shift[t] = shift.get(t, 0) - st * (int(p["count"]) - 1)
                k = end
                continue
            out = program.tensors[op.outputs[0]]
            store(op.outputs[0], KERNELS[op.kind]([load(i) for i in op.inputs], op.params, out.shape))
            k += 1

    execute(0, len(program.ops))
    return [load(i) for i in program.outputs]
