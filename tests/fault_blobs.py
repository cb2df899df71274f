"""Faulty delegate blobs and .pte files made from real ones, for tests/test_faults.py and its ExecuTorch child.

Every edit keeps the blob's length, so the blob can be spliced back into the .pte it came from (inline or segment)
and the result is an ExecuTorch program whose only defect is the one made here. Edits inside the flatbuffer fix the
header CRC afterwards, so they reach the verifier and the semantic checks instead of stopping at the CRC.
"""
from __future__ import annotations

import struct
import zlib

from mcuformer.backend.serialization import schema_generated as fbgen
from mcuformer.backend.serialization.header import HEADER_SIZE, SCHEMA_VERSION

_TENSOR_OFFSET_VT = 14    # Tensor.offset: field 5 -> vtable entry 4 + 2 * 5
_PROGRAM_ARENA_VT = 14    # Program.arena_bytes: field 5
_PROGRAM_RECORDS_VT = 20  # Program.buffer_records: field 8


def _fix_crc(blob: bytearray) -> bytes:
    struct.pack_into("<I", blob, 16, zlib.crc32(bytes(blob[HEADER_SIZE:])))
    return bytes(blob)


def _program(blob: bytes) -> fbgen.Program:
    return fbgen.Program.GetRootAs(bytearray(blob[HEADER_SIZE:]), 0)


def _patch_u32(blob: bytes, table, vt: int, value: int) -> bytes:
    o = table._tab.Offset(vt)
    assert o != 0, "field not stored (default value): cannot patch it in place"
    out = bytearray(blob)
    struct.pack_into("<I", out, HEADER_SIZE + table._tab.Pos + o, value)
    return _fix_crc(out)


def other_version(blob: bytes, version: int = SCHEMA_VERSION + 1) -> bytes:
    """The same blob labelled with another schema version (header bytes 4..8)."""
    out = bytearray(blob)
    struct.pack_into("<I", out, 4, version)
    return bytes(out)


def arena_bytes(blob: bytes) -> int:
    return _program(blob).ArenaBytes()


def with_arena_bytes(blob: bytes, value: int) -> bytes:
    """The same program planning an arena of `value` bytes (still valid when larger: offsets stay inside)."""
    out = _patch_u32(blob, _program(blob), _PROGRAM_ARENA_VT, value)
    assert arena_bytes(out) == value
    return out


def without_buffer_records(blob: bytes) -> bytes:
    """The blob as an older lowering wrote it: Program.buffer_records false (views and anchors not recorded)."""
    prog = _program(blob)
    o = prog._tab.Offset(_PROGRAM_RECORDS_VT)
    assert o != 0 and prog.BufferRecords(), "buffer_records not stored as true"
    out = bytearray(blob)
    out[HEADER_SIZE + prog._tab.Pos + o] = 0
    out = _fix_crc(out)
    assert not _program(out).BufferRecords()
    return out


def offset_outside(blob: bytes) -> tuple[bytes, str]:
    """Moves the first planned int8 activation to start at the arena's end (its bytes lie outside the arena).
    Returns the blob and the tensor's name."""
    prog = _program(blob)
    arena = prog.ArenaBytes()
    for i in range(prog.TensorsLength()):
        t = prog.Tensors(i)
        if t.Constant() == -1 and t.Dtype() == fbgen.DType.INT8 and t._tab.Offset(_TENSOR_OFFSET_VT) != 0:
            out = _patch_u32(blob, t, _TENSOR_OFFSET_VT, arena)
            assert _program(out).Tensors(i).Offset() == arena
            return out, t.Name().decode()
    raise AssertionError("no planned int8 activation with a stored offset")


def splice(pte: bytes, old_blob: bytes, new_blob: bytes) -> bytes:
    """The .pte with its delegate blob replaced by a same-length one."""
    assert len(old_blob) == len(new_blob)
    at = pte.find(old_blob)
    assert at >= 0 and pte.find(old_blob, at + 1) < 0, "blob not found exactly once in the .pte"
    return pte[:at] + new_blob + pte[at + len(old_blob):]
