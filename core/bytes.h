// Big-endian loads and stores for wire formats (and the little-endian loads
// of the few formats that use them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace rl {

// The fixed-width forms compile to one load or store plus a byte swap; the
// byte loops stay for constant evaluation and odd widths.
constexpr uint16_t load_be16(const uint8_t* p) {
  if (std::is_constant_evaluated()) return uint16_t(p[0] << 8 | p[1]);
  uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
constexpr uint32_t load_be24(const uint8_t* p) { return uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2]; }
constexpr uint32_t load_be32(const uint8_t* p) {
  if (!std::is_constant_evaluated()) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
  }
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
constexpr uint64_t load_be(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}
constexpr uint64_t load_be48(const uint8_t* p) { return load_be(p, 6); }
constexpr uint64_t load_be64(const uint8_t* p) {
  if (std::is_constant_evaluated()) return load_be(p, 8);
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

// Little-endian loads (WireGuard's integers, BLAKE2s words): one load on x86.
constexpr uint32_t load_le32(const uint8_t* p) {
  if (!std::is_constant_evaluated()) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
constexpr uint64_t load_le64(const uint8_t* p) { return load_le32(p) | uint64_t{load_le32(p + 4)} << 32; }

constexpr void store_be(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = n; i-- > 0; v >>= 8) p[i] = static_cast<uint8_t>(v);
}
constexpr void store_be16(uint8_t* p, uint16_t v) {
  if (std::is_constant_evaluated()) return store_be(p, v, 2);
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
}
constexpr void store_be32(uint8_t* p, uint32_t v) {
  if (std::is_constant_evaluated()) return store_be(p, v, 4);
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
constexpr void store_be48(uint8_t* p, uint64_t v) { store_be(p, v, 6); }
constexpr void store_be64(uint8_t* p, uint64_t v) {
  if (std::is_constant_evaluated()) return store_be(p, v, 8);
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

}  // namespace rl
