// Blob header parsing and CRC-32 (see mcuformer/blob.h).
#include "mcuformer/blob.h"

namespace mcuformer {

namespace {
uint32_t read_u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
}  // namespace

uint32_t crc32(uint32_t crc, const uint8_t* data, size_t size) {
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

Status blob_parse_header(const uint8_t* blob, size_t size, BlobView* view) {
  if (blob == nullptr || view == nullptr || size < kBlobHeaderSize) return Status::kInvalidBlob;
  for (int i = 0; i < 4; ++i) {
    if (blob[i] != static_cast<uint8_t>(kBlobMagic[i])) return Status::kInvalidBlob;
  }
  if (read_u32le(blob + 4) != kSchemaVersion) return Status::kVersionMismatch;
  if (read_u32le(blob + 8) != kBlobHeaderSize) return Status::kInvalidBlob;
  const uint32_t fb_size = read_u32le(blob + 12);
  if (static_cast<uint64_t>(fb_size) != static_cast<uint64_t>(size) - kBlobHeaderSize) return Status::kInvalidBlob;
  for (uint32_t i = 20; i < kBlobHeaderSize; ++i) {
    if (blob[i] != 0) return Status::kInvalidBlob;
  }
  if (crc32(0, blob + kBlobHeaderSize, fb_size) != read_u32le(blob + 16)) return Status::kInvalidBlob;
  view->flatbuffer = blob + kBlobHeaderSize;
  view->flatbuffer_size = fb_size;
  return Status::kOk;
}

}  // namespace mcuformer
