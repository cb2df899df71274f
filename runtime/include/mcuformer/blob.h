// The fixed header that wraps an MCUFormer flatbuffer (mirrored in Python by backend/serialization/header.py).
//
// Layout, 32 bytes, little-endian:
//   [0:4]   magic "MCUB"
//   [4:8]   uint32 schema version (kSchemaVersion)
//   [8:12]  uint32 header size (32)
//   [12:16] uint32 flatbuffer size in bytes
//   [16:20] uint32 CRC-32 (IEEE 802.3, the same as Python's zlib.crc32) of the flatbuffer bytes
//   [20:32] zero
// The flatbuffer (file identifier "MCUF", schema backend/serialization/schema.fbs) starts at offset 32, so a blob
// placed at a 16-byte aligned address keeps the schema's 16-byte aligned constants aligned.
#pragma once
#include <cstddef>
#include <cstdint>

#include "mcuformer/runtime.h"

namespace mcuformer {

constexpr uint32_t kSchemaVersion = 1;
constexpr uint32_t kBlobHeaderSize = 32;
constexpr char kBlobMagic[4] = {'M', 'C', 'U', 'B'};
constexpr char kFlatbufferIdentifier[5] = "MCUF";

struct BlobView {
  const uint8_t* flatbuffer = nullptr;
  size_t flatbuffer_size = 0;
};

// CRC-32 (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), table-free (no RAM, ~1 KB less flash).
// crc32(0, p, n) equals zlib.crc32(bytes(p[:n])); pass a previous result to continue a running CRC.
uint32_t crc32(uint32_t crc, const uint8_t* data, size_t size);

// Checks the header only: size, magic, version, header size, flatbuffer size (must be exactly size - 32), CRC.
// Returns kInvalidBlob (or kVersionMismatch for another schema version) and never reads outside [blob, blob + size).
Status blob_parse_header(const uint8_t* blob, size_t size, BlobView* view);

}  // namespace mcuformer
