"""The 32-byte header that wraps the flatbuffer (mirrors runtime/include/mcuformer/blob.h).

[0:4] magic b"MCUB" · [4:8] schema version · [8:12] header size (32) · [12:16] flatbuffer size ·
[16:20] CRC-32 of the flatbuffer · [20:32] zero · [32:] flatbuffer. All little-endian.
"""
from __future__ import annotations

import struct
import zlib

MAGIC = b"MCUB"
SCHEMA_VERSION = 1
HEADER_SIZE = 32
_FMT = "<4sIIII12x"


class BlobError(ValueError):
    pass


def wrap(flatbuffer: bytes) -> bytes:
    return struct.pack(_FMT, MAGIC, SCHEMA_VERSION, HEADER_SIZE, len(flatbuffer), zlib.crc32(flatbuffer)) + flatbuffer


def unwrap(blob: bytes) -> bytes:
    """Returns the flatbuffer after checking magic, version, sizes and CRC."""
    if len(blob) < HEADER_SIZE:
        raise BlobError(f"blob of {len(blob)} bytes is shorter than its {HEADER_SIZE}-byte header")
    magic, version, header_size, size, crc = struct.unpack_from(_FMT, blob)
    if magic != MAGIC:
        raise BlobError(f"not an MCUFormer blob (magic {magic!r})")
    if version != SCHEMA_VERSION:
        raise BlobError(f"blob schema version {version}, this build reads version {SCHEMA_VERSION}")
    if header_size != HEADER_SIZE or header_size + size != len(blob):
        raise BlobError(f"blob sizes inconsistent: header says {header_size}+{size}, blob has {len(blob)} bytes")
    fb = bytes(blob[HEADER_SIZE:])
    if zlib.crc32(fb) != crc:
        raise BlobError("blob CRC mismatch: the data is corrupted")
    return fb
