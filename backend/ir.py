"""The delegate's operator IR: what `preprocess` lowers an edge graph to and what the runtime executes.

A `Program` is a flat list of tensors and an ordered list of ops. Op kinds and their parameter names are those of
`serialization/schema.fbs` (kind "Linear" <-> table LinearParams, params keys <-> its fields), which also states each
op's integer semantics; `reference.py` implements them in numpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

DTYPE_SIZE = {"int8": 1, "int16": 2, "int32": 4, "float32": 4}

OP_KINDS = (
    "Quantize", "Dequantize", "Linear", "Conv2d", "Matmul", "Add", "Rescale", "Lut", "LayerNorm", "Softmax",
    "Mean", "Permute", "Slice", "Concat", "Reshape",
    "Loop",  # appended: row-by-row scheduling (schema.fbs LoopParams; built by backend/passes)
)


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: float = 1.0
    zero_point: int = 0
    data: np.ndarray | None = None  # set for constants (weights, biases, tables)
    offset: int | None = None  # set by the planner for activations
    # A view: (parent tensor, byte offset in it). Views share their parent's buffer (Reshape in place, a token row,
    # a head of K); the planner places the root buffer and gives views root offset + byte offset.
    view_of: tuple[int, int] | None = None

    @property
    def numel(self) -> int:
        return int(math.prod(self.shape))  # exact; np.prod costs ~10x, and the tile choice asks ~10^4 times

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_SIZE[self.dtype]

    @property
    def is_constant(self) -> bool:
        return self.data is not None


@dataclass
class Op:
    kind: str
    inputs: list[int]
    outputs: list[int]
    params: dict = field(default_factory=dict)
    name: str = ""  # the edge node(s) it came from, for reports and errors

    def __post_init__(self):
        if self.kind not in OP_KINDS:
            raise ValueError(f"unknown op kind {self.kind!r}")


@dataclass
class Program:
    tensors: list[Tensor] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    arena_bytes: int = 0
    input_overwrite: bool = False
    input_pool_bytes: int = 0
    # {buffer: (anchor buffer, byte delta)}: placed at the anchor's offset + delta and allowed to overlap it (the
    # token buffer written over the consumed image); set by the passes, read by liveness and the planner
    memory_anchors: dict[int, tuple[int, int]] = field(default_factory=dict)
    buffer_records: bool = True  # views and anchors known (False: read from a blob of an older lowering)

    def add_tensor(self, name: str, shape, dtype: str = "int8", scale: float = 1.0, zero_point: int = 0) -> int:
        self.tensors.append(Tensor(name, tuple(int(d) for d in shape), dtype, float(scale), int(zero_point)))
        return len(self.tensors) - 1

    def add_constant(self, name: str, data: np.ndarray) -> int:
        data = np.require(data, requirements="C")  # keeps 0-d constants 0-d
        dtype = str(data.dtype)
        if dtype not in DTYPE_SIZE:
            raise TypeError(f"constant {name}: unsupported dtype {dtype}")
        self.tensors.append(Tensor(name, tuple(data.shape), dtype, data=data))
        return len(self.tensors) - 1

    def add_op(self, kind: str, inputs, outputs, name: str = "", **params) -> Op:
        op = Op(kind, list(inputs), list(outputs), params, name)
        self.ops.append(op)
        return op

    def is_planned(self, i: int) -> bool:
        """Whether tensor i lives in the planned memory. Constants live in the blob; float delegate I/O and int8
        inputs are the caller's buffers, except an int8 input the caller lets us overwrite (the input pool);
        int8 outputs are planned and copied out after the last op. A view is planned with its parent (a row of a
        caller's input is read in place)."""
        t = self.tensors[i]
        if t.is_constant:
            return False
        if t.view_of is not None:
            return self.is_planned(t.view_of[0])
        if i in self.inputs:
            return self.input_overwrite and t.dtype == "int8"
        if i in self.outputs:
            return t.dtype == "int8"
        return True

    def activations(self) -> list[int]:
        return [i for i in range(len(self.tensors)) if self.is_planned(i)]

    def weight_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors if t.is_constant)
