"""Helpers for the runtime tests (no tests here): build single-op programs, run them in the C++ runtime through the
host library's C entry points, and compare with the numpy reference."""
from __future__ import annotations

import ctypes

import numpy as np

from mcuformer.backend import ir, reference
from mcuformer.backend.runtime_loader import load_runtime
from mcuformer.backend.serialization.serialize import serialize

OK, INVALID_BLOB, VERSION_MISMATCH, ARENA_TOO_SMALL, BAD_INPUT, UNSUPPORTED_OP, MISALIGNED = range(7)
ARENA_CORRUPTED = 100
_NP = {"int8": np.int8, "int32": np.int32, "float32": np.float32}


def lib() -> ctypes.CDLL:
    return load_runtime()


def plan_sequential(program: ir.Program) -> None:
    """Gives every planned activation its own slot (no reuse): enough for single-op and small test programs."""
    offset = program.input_pool_bytes
    for i in program.activations():
        t = program.tensors[i]
        if i in program.inputs and program.input_overwrite:
            t.offset = 0
            continue
        t.offset = offset
        offset += t.nbytes
    for i, t in enumerate(program.tensors):
        if t.offset is None and not t.is_constant:
            t.offset = 0  # caller's buffers: the offset is unused
    program.arena_bytes = offset - program.input_pool_bytes


def single_op(kind: str, inputs: list, out_shape, out_dtype: str = "int8", **params) -> tuple[ir.Program, list]:
    """A program with one op. `inputs`: numpy arrays; those wrapped in Const(...) become constants, the others
    delegate inputs (in order). Returns (program, runtime inputs)."""
    p = ir.Program()
    idx, feeds = [], []
    for x in inputs:
        if isinstance(x, Const):
            idx.append(p.add_constant(f"c{len(idx)}", x.data))
        else:
            x = np.asarray(x)  # (not ascontiguousarray: it turns a 0-d array into shape (1,))
            i = p.add_tensor(f"in{len(idx)}", x.shape, str(x.dtype))
            p.inputs.append(i)
            idx.append(i)
            feeds.append(x)
    y = p.add_tensor("out", out_shape, out_dtype)
    p.outputs.append(y)
    p.add_op(kind, idx, [y], **params)
    plan_sequential(p)
    return p, feeds


class Const:
    def __init__(self, data):
        self.data = np.require(data, requirements="C")


def io_info(blob: bytes, is_input: bool, i: int) -> tuple[int, int]:
    dtype, numel = ctypes.c_int(), ctypes.c_size_t()
    st = lib().mcuformer_host_io_info(blob, len(blob), int(is_input), i, ctypes.byref(dtype), ctypes.byref(numel))
    assert st == OK, st
    return dtype.value, numel.value


def run_blob(blob: bytes, inputs: list[np.ndarray], out_specs: list[tuple[tuple, str]],
             arena_bytes: int | None = None) -> tuple[int, list[np.ndarray]]:
    """Runs a blob once in the C++ runtime. Returns (status, outputs)."""
    ins = [np.require(x, requirements="C") for x in inputs]
    outs = [np.zeros(shape, dtype=_NP[dt]) for shape, dt in out_specs]
    n_in, n_out = len(ins), len(outs)
    in_ptrs = (ctypes.c_void_p * max(n_in, 1))(*[x.ctypes.data for x in ins])
    in_sizes = (ctypes.c_size_t * max(n_in, 1))(*[x.nbytes for x in ins])
    out_ptrs = (ctypes.c_void_p * max(n_out, 1))(*[y.ctypes.data for y in outs])
    out_sizes = (ctypes.c_size_t * max(n_out, 1))(*[y.nbytes for y in outs])
    arena = ctypes.c_size_t(-1).value if arena_bytes is None else arena_bytes
    st = lib().mcuformer_host_run_arena(blob, len(blob), arena, n_in, in_ptrs, in_sizes, n_out, out_ptrs, out_sizes)
    return st, outs


def run_program(program: ir.Program, inputs: list[np.ndarray]) -> list[np.ndarray]:
    blob = serialize(program)
    specs = [(program.tensors[i].shape, program.tensors[i].dtype) for i in program.outputs]
    st, outs = run_blob(blob, inputs, specs)
    assert st == OK, f"runtime returned {st}: {lib().mcuformer_host_status_str(st).decode()}"
    return outs


def assert_bit_exact(program: ir.Program, inputs: list[np.ndarray]) -> None:
    got = run_program(program, inputs)
    want = reference.run(program, [np.copy(x) for x in inputs])
    for k, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w).reshape(g.shape)
        if g.dtype == np.float32:
            same = g.view(np.uint32) == w.astype(np.float32).view(np.uint32)
        else:
            same = g == w
        if not np.all(same):
            bad = np.argwhere(~same)[:5]
            raise AssertionError(f"output {k}: {int((~same).sum())} mismatches, first at {bad.tolist()}: "
                                 f"runtime {g[tuple(bad[0])]} reference {w[tuple(bad[0])]}")


_VIT_CACHE: dict = {}


def tiny_vit(overwrite_input: bool = False):
    """tests/models.py TinyViT("explicit") (28x28 gray, patch 7, embed 32, 2 heads, 2 blocks), quantized with MCUFormerQuantizer and lowered
    whole to MCUFormerBackend (scheduled: LOOPs and views). Returns (model, pte bytes, delegate blob). Cached."""
    if overwrite_input in _VIT_CACHE:
        return _VIT_CACHE[overwrite_input]
    import torch
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from models import TinyViT
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from mcuformer.backend import MCUFormerPartitioner, MCUFormerQuantizer

    torch.manual_seed(0)
    m = TinyViT("explicit").eval()
    x = torch.randn(1, 1, 28, 28)
    g = torch.export.export(m, (x,), strict=True).module(check_guards=False)
    g = prepare_pt2e(g, MCUFormerQuantizer())
    for _ in range(8):
        g(torch.randn(1, 1, 28, 28))
    g = convert_pt2e(g)
    ep = torch.export.export(g, (x,), strict=True)
    et = to_edge_transform_and_lower(ep, partitioner=[MCUFormerPartitioner(overwrite_input=overwrite_input)]) \
        .to_executorch(ExecutorchBackendConfig(extract_delegate_segments=False))
    blob = bytes(et.exported_program().graph_module.lowered_module_0.processed_bytes)
    _VIT_CACHE[overwrite_input] = (m, bytes(et.buffer), blob)
    return _VIT_CACHE[overwrite_input]
