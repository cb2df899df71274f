"""The C++ loader rejects malformed blobs with the right Status and never crashes: truncation, bit flips (CRC),
other schema versions, offsets outside the arena, inconsistent ops; and model_run rejects bad I/O and small arenas.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from mcuformer.backend.serialization import schema_generated as fbgen
from mcuformer.backend.serialization.header import HEADER_SIZE, wrap
from mcuformer.backend.serialization.serialize import serialize
from test_runtime_support import (ARENA_CORRUPTED, ARENA_TOO_SMALL, BAD_INPUT, INVALID_BLOB, OK, UNSUPPORTED_OP,
                                  VERSION_MISMATCH, Const, lib, run_blob, single_op)
import ctypes


def linear_program():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(3, 8)).astype(np.int8)
    w = rng.integers(-128, 128, size=(4, 8)).astype(np.int8)
    p, feeds = single_op("Linear", [x, Const(w), Const(np.zeros(4, np.int32)), Const(np.full(4, 2**30, np.int32)),
                                    Const(np.full(4, 31, np.int32))], (3, 4), output_zp=0, has_lut=False)
    return p, feeds


def load_status(blob: bytes) -> int:
    arena = ctypes.c_uint32()
    return lib().mcuformer_host_inspect(blob, len(blob), ctypes.byref(arena), None, None)


def rewrap(blob: bytes, fb: bytes | None = None) -> bytes:
    """Fixes the header (size, CRC) after the flatbuffer was edited, so the edit reaches the verifier."""
    return wrap(bytes(blob[HEADER_SIZE:]) if fb is None else fb)


@pytest.fixture(scope="module")
def good():
    p, feeds = linear_program()
    return p, feeds, serialize(p)


def test_valid_blob_loads_and_runs(good):
    p, feeds, blob = good
    assert load_status(blob) == OK
    st, _ = run_blob(blob, feeds, [((3, 4), "int8")])
    assert st == OK


def test_every_truncation_is_rejected(good):
    _, _, blob = good
    for n in range(len(blob)):
        assert load_status(blob[:n]) == INVALID_BLOB, n


def test_extra_trailing_bytes_are_rejected(good):
    _, _, blob = good
    assert load_status(blob + b"\0" * 16) == INVALID_BLOB


def test_bit_flip_fails_crc(good):
    _, _, blob = good
    for pos in range(HEADER_SIZE, len(blob), 7):
        bad = bytearray(blob)
        bad[pos] ^= 1 << (pos % 8)
        assert load_status(bytes(bad)) == INVALID_BLOB, pos


def test_header_fields(good):
    _, _, blob = good
    assert load_status(b"XCUB" + blob[4:]) == INVALID_BLOB
    assert load_status(blob[:4] + struct.pack("<I", 2) + blob[8:]) == VERSION_MISMATCH
    assert load_status(blob[:4] + struct.pack("<I", 0) + blob[8:]) == VERSION_MISMATCH
    assert load_status(blob[:8] + struct.pack("<I", 48) + blob[12:]) == INVALID_BLOB
    assert load_status(blob[:20] + b"\1" + blob[21:]) == INVALID_BLOB  # reserved bytes must be zero


def test_wrong_file_identifier(good):
    _, _, blob = good
    fb = bytearray(blob[HEADER_SIZE:])
    fb[4:8] = b"ET12"
    assert load_status(rewrap(blob, bytes(fb))) == INVALID_BLOB


def test_every_bit_flip_with_valid_crc_is_rejected_or_runs_safely(good):
    """Flips a bit in each byte of the flatbuffer and fixes the CRC, so the flip reaches the verifier and the semantic
    checks. Whatever loads must run without touching memory outside the arena (guard bytes) or crashing. (The C++
    test runner flips every bit, under ASan/UBSan.)"""
    _, feeds, blob = good
    fb = bytes(blob[HEADER_SIZE:])
    outcomes = {}
    for pos in range(len(fb)):
        for bit in (pos % 8,):
            bad = bytearray(fb)
            bad[pos] ^= 1 << bit
            b = wrap(bytes(bad))
            st = load_status(b)
            if st == OK:
                st, _ = run_blob(b, feeds, [((3, 4), "int8")])
                assert st != ARENA_CORRUPTED, (pos, bit)
            outcomes[st] = outcomes.get(st, 0) + 1
    assert outcomes.get(INVALID_BLOB, 0) > 0


def test_offset_outside_arena():
    p, feeds = linear_program()
    p.tensors[p.outputs[0]].offset = p.arena_bytes - 11  # 12-byte output that ends one byte past the arena
    assert load_status(serialize(p)) == INVALID_BLOB
    p.tensors[p.outputs[0]].offset = 2**32 - 4  # would wrap a 32-bit sum
    assert load_status(serialize(p)) == INVALID_BLOB


def test_buffer_straddling_pool_and_arena():
    x = np.zeros((16,), np.int8)
    p, feeds = single_op("Rescale", [x], (16,), input_zp=0, output_zp=0, mult=2**30, shift=30)
    p.input_overwrite, p.input_pool_bytes = True, 16
    p.tensors[p.inputs[0]].offset = 0
    p.tensors[p.outputs[0]].offset = 8  # [8, 24) crosses the pool end at 16
    p.arena_bytes = 16
    assert load_status(serialize(p)) == INVALID_BLOB
    p.tensors[p.outputs[0]].offset = 0  # in place in the input pool: allowed
    blob = serialize(p)
    assert load_status(blob) == OK


def test_semantic_checks():
    def status_with(mutate):
        p, _ = linear_program()
        mutate(p)
        return load_status(serialize(p))

    def set_shift(p, v):
        p.tensors[p.ops[0].inputs[4]].data = np.full(4, v, np.int32)

    assert status_with(lambda p: set_shift(p, 0)) == INVALID_BLOB
    assert status_with(lambda p: set_shift(p, 63)) == INVALID_BLOB
    assert status_with(lambda p: set_shift(p, 62)) == OK
    # weight [N, K] must match x's last dim
    assert status_with(lambda p: setattr(p.tensors[p.ops[0].inputs[1]], "data", np.zeros((4, 7), np.int8))) \
        == INVALID_BLOB
    # bias of the wrong length
    assert status_with(lambda p: setattr(p.tensors[p.ops[0].inputs[2]], "data", np.zeros(5, np.int32))) \
        == INVALID_BLOB
    # has_lut without a LUT operand
    assert status_with(lambda p: p.ops[0].params.update(has_lut=True)) == INVALID_BLOB
    # tensor index out of range
    assert status_with(lambda p: p.ops[0].inputs.__setitem__(0, 99)) == INVALID_BLOB
    assert status_with(lambda p: p.outputs.__setitem__(0, -1)) == INVALID_BLOB
    # an op writing into a constant or a delegate input
    assert status_with(lambda p: p.ops[0].outputs.__setitem__(0, p.ops[0].inputs[1])) == INVALID_BLOB
    assert status_with(lambda p: p.ops[0].outputs.__setitem__(0, p.inputs[0])) == INVALID_BLOB
    # zero point outside int8
    assert status_with(lambda p: p.ops[0].params.update(output_zp=200)) == INVALID_BLOB


def test_lut_must_have_256_entries():
    x = np.zeros((4,), np.int8)
    p, _ = single_op("Lut", [x, Const(np.zeros(255, np.int8))], (4,))
    assert load_status(serialize(p)) == INVALID_BLOB


def test_softmax_table_must_be_positive():
    x = np.zeros((2, 4), np.int8)
    p, _ = single_op("Softmax", [x, Const(np.zeros(256, np.int32))], (2, 4))  # sum could be 0: division by zero
    assert load_status(serialize(p)) == INVALID_BLOB


def test_unknown_op_kind_is_unsupported(good):
    _, _, blob = good
    fb = bytearray(blob[HEADER_SIZE:])
    root = fbgen.Program.GetRootAs(bytes(fb), 0)
    op = root.Ops(0)
    field = op._tab.Offset(4)  # params_type, the union's type byte
    assert field != 0
    fb[op._tab.Pos + field] = 99
    assert load_status(wrap(bytes(fb))) == UNSUPPORTED_OP


def test_arena_too_small_and_bad_io(good):
    p, feeds, blob = good
    specs = [((3, 4), "int8")]
    assert run_blob(blob, feeds, specs, arena_bytes=p.arena_bytes - 1)[0] == ARENA_TOO_SMALL
    assert run_blob(blob, feeds, specs, arena_bytes=p.arena_bytes + 100)[0] == OK
    assert run_blob(blob, [feeds[0][:2]], specs)[0] == BAD_INPUT  # wrong input size
    assert run_blob(blob, [feeds[0].astype(np.float32)], specs)[0] == BAD_INPUT  # wrong byte size
    assert run_blob(blob, feeds, [((3, 5), "int8")])[0] == BAD_INPUT  # wrong output size
    assert run_blob(blob, [], specs)[0] == BAD_INPUT  # wrong count
    assert run_blob(blob, feeds + feeds, specs)[0] == BAD_INPUT


def test_status_strings_and_version():
    assert lib().mcuformer_host_schema_version() == 1
    assert lib().mcuformer_host_status_str(VERSION_MISMATCH) == b"blob schema version mismatch"
    assert zlib.crc32(b"123456789") == 0xCBF43926  # the CRC the header uses (same check value in blob.cpp tests)
