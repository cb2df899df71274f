// Fixed-point helpers shared by every kernel (reference and Cortex-M7). The exact integer semantics are those written
// in backend/serialization/schema.fbs; the numpy reference (backend/reference.py) implements the same formulas.
#pragma once
#include <cstdint>

namespace mcuformer {
namespace qmath {

// sat8(v) := clamp(v, -128, 127)
inline int8_t sat8(int64_t v) { return static_cast<int8_t>(v < -128 ? -128 : (v > 127 ? 127 : v)); }

// requant(acc, m, s) := (int64(acc) * m + (1 << (s - 1))) >> s, arithmetic shift, 1 <= s <= 62 (checked at load).
// With a 32-bit accumulator |acc * m| <= 2^62, so the int64 expression cannot overflow.
inline int64_t requant(int32_t acc, int32_t m, int32_t s) {
  return (static_cast<int64_t>(acc) * m + (int64_t{1} << (s - 1))) >> s;
}

// The same formula for a 64-bit accumulator (LAYERNORM's n_i * gamma_i + beta_i). Products that leave int64 wrap
// modulo 2^64 exactly like numpy's int64 arithmetic (computed in uint64, so no undefined behaviour); they cannot
// happen with the ranges a valid serializer produces.
inline int64_t requant64(int64_t acc, int32_t m, int32_t s) {
  const uint64_t p = static_cast<uint64_t>(acc) * static_cast<uint64_t>(static_cast<int64_t>(m)) +
                     (uint64_t{1} << (s - 1));
  return static_cast<int64_t>(p) >> s;
}

// Wrapping int32 accumulation (two's complement, like SMLAD and like numpy int32). Valid blobs never wrap; a hostile
// one must not reach undefined behaviour.
inline int32_t wrap_add(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// floor(sqrt(v)) for any uint64, exact (bit-by-bit, no floating point).
inline uint64_t isqrt64(uint64_t v) {
  uint64_t root = 0;
  uint64_t bit = uint64_t{1} << 62;
  while (bit > v) bit >>= 2;
  while (bit != 0) {
    if (v >= root + bit) {
      v -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
    bit >>= 2;
  }
  return root;
}

}  // namespace qmath
}  // namespace mcuformer
