"""Program <-> blob bytes, through the flatbuffers code generated from schema.fbs (schema_generated.py).

Op params are mapped generically: kind "Linear" <-> table LinearParams, params key "output_zp" <-> field OutputZp,
so the .fbs stays the only place an op's parameters are declared.
"""
from __future__ import annotations

import re

import flatbuffers
import numpy as np

from .. import ir
from . import schema_generated as fb
from .header import unwrap, wrap

_DTYPES = {"int8": fb.DType.INT8, "int32": fb.DType.INT32, "float32": fb.DType.FLOAT32, "int16": fb.DType.INT16}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}
_NP = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _snake(name: str) -> str:
    return "_".join(w.lower() for w in re.findall(r"[A-Z][a-z0-9]*", name))


def _fields(table: str) -> list[str]:
    """Field names (snake_case) of a params table, read off the generated builder functions."""
    prefix = f"{table}Add"
    return [_snake(n[len(prefix):]) for n in dir(fb) if n.startswith(prefix)]


def _int_vector(b: flatbuffers.Builder, values) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(list(values)):
        b.PrependInt32(int(v))
    return b.EndVector()


def serialize(program: ir.Program) -> bytes:
    b = flatbuffers.Builder(1024)
    const_index: dict[int, int] = {}
    const_offsets = []
    for i, t in enumerate(program.tensors):
        if t.is_constant:
            raw = np.ascontiguousarray(t.data, dtype=_NP[t.dtype]).view(np.uint8).ravel()
            b.StartVector(1, len(raw), 16)  # 16-byte aligned: kernels read weights in place
            b.head = b.head - len(raw)
            b.Bytes[b.head:b.head + len(raw)] = raw.tobytes()
            vec = b.EndVector()
            fb.ConstantStart(b)
            fb.ConstantAddData(b, vec)
            const_index[i] = len(const_offsets)
            const_offsets.append(fb.ConstantEnd(b))

    tensor_offsets = []
    for i, t in enumerate(program.tensors):
        name = b.CreateString(t.name)
        shape = _int_vector(b, t.shape)
        fb.TensorStart(b)
        fb.TensorAddShape(b, shape)
        fb.TensorAddDtype(b, _DTYPES[t.dtype])
        fb.TensorAddScale(b, float(t.scale))
        fb.TensorAddZeroPoint(b, int(t.zero_point))
        fb.TensorAddConstant(b, const_index.get(i, -1))
        fb.TensorAddOffset(b, int(t.offset or 0))
        fb.TensorAddName(b, name)
        if t.view_of is not None:
            fb.TensorAddViewOf(b, int(t.view_of[0]))
            fb.TensorAddViewOffset(b, int(t.view_of[1]))
        if i in program.memory_anchors:
            fb.TensorAddAnchorOf(b, int(program.memory_anchors[i][0]))
            fb.TensorAddAnchorDelta(b, int(program.memory_anchors[i][1]))
        tensor_offsets.append(fb.TensorEnd(b))

    op_offsets = []
    for op in program.ops:
        table = f"{op.kind}Params"
        known = set(_fields(table))
        unknown = set(op.params) - known
        if unknown:
            raise ValueError(f"op {op.kind} ({op.name}): params {sorted(unknown)} not in schema table {table}")
        vectors = {k: _int_vector(b, v) for k, v in op.params.items() if isinstance(v, (list, tuple))}
        getattr(fb, f"{table}Start")(b)
        for k, v in op.params.items():
            getattr(fb, f"{table}Add{_camel(k)}")(b, vectors.get(k, v))
        params = getattr(fb, f"{table}End")(b)
        ins, outs = _int_vector(b, op.inputs), _int_vector(b, op.outputs)
        fb.OpStart(b)
        fb.OpAddParamsType(b, getattr(fb.OpParams, table))
        fb.OpAddParams(b, params)
        fb.OpAddInputs(b, ins)
        fb.OpAddOutputs(b, outs)
        op_offsets.append(fb.OpEnd(b))

    def table_vector(offsets):
        b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    tensors, ops, consts = table_vector(tensor_offsets), table_vector(op_offsets), table_vector(const_offsets)
    ins, outs = _int_vector(b, program.inputs), _int_vector(b, program.outputs)
    fb.ProgramStart(b)
    fb.ProgramAddTensors(b, tensors)
    fb.ProgramAddOps(b, ops)
    fb.ProgramAddInputs(b, ins)
    fb.ProgramAddOutputs(b, outs)
    fb.ProgramAddConstants(b, consts)
    fb.ProgramAddArenaBytes(b, int(program.arena_bytes))
    fb.ProgramAddInputOverwrite(b, bool(program.input_overwrite))
    fb.ProgramAddInputPoolBytes(b, int(program.input_pool_bytes))
    fb.ProgramAddBufferRecords(b, bool(program.buffer_records))
    b.Finish(fb.ProgramEnd(b), file_identifier=b"MCUF")
    return wrap(bytes(b.Output()))


def deserialize(blob: bytes) -> ir.Program:
    """Reads a blob back (checked header); used by reports and tests."""
    buf = unwrap(blob)
    root = fb.Program.GetRootAs(buf, 0)
    program = ir.Program(arena_bytes=root.ArenaBytes(), input_overwrite=bool(root.InputOverwrite()),
                         input_pool_bytes=root.InputPoolBytes(), buffer_records=bool(root.BufferRecords()))
    for i in range(root.TensorsLength()):
        t = root.Tensors(i)
        dtype = _DTYPE_NAMES[t.Dtype()]
        shape = tuple(int(t.Shape(j)) for j in range(t.ShapeLength()))
        data = None
        if t.Constant() >= 0:
            data = root.Constants(t.Constant()).DataAsNumpy().view(_NP[dtype]).reshape(shape).copy()
        program.tensors.append(ir.Tensor(t.Name().decode(), shape, dtype, t.Scale(), t.ZeroPoint(), data,
                                         None if data is not None else t.Offset(),
                                         (t.ViewOf(), t.ViewOffset()) if t.ViewOf() >= 0 else None))
        if t.AnchorOf() >= 0:
            program.memory_anchors[i] = (t.AnchorOf(), t.AnchorDelta())
    names = {getattr(fb.OpParams, n): n for n in dir(fb.OpParams) if n.endswith("Params")}
    for i in range(root.OpsLength()):
        o = root.Ops(i)
        table = names[o.ParamsType()]
        p = getattr(fb, table)()
        p.Init(o.Params().Bytes, o.Params().Pos)
        params = {}
        for f in _fields(table):
            if hasattr(p, f"{_camel(f)}Length"):
                params[f] = [int(getattr(p, _camel(f))(j)) for j in range(getattr(p, f"{_camel(f)}Length")())]
            else:
                params[f] = getattr(p, _camel(f))()
        program.ops.append(ir.Op(table[: -len("Params")], [int(o.Inputs(j)) for j in range(o.InputsLength())],
                                 [int(o.Outputs(j)) for j in range(o.OutputsLength())], params))
    program.inputs = [int(root.Inputs(j)) for j in range(root.InputsLength())]
    program.outputs = [int(root.Outputs(j)) for j in range(root.OutputsLength())]
    return program
