// 0 <= n <= 16 bytes, zero padded, for the avx2 tier's partial blocks (AAD,
// tails, Poly1305 blocks). AVX2 has no byte-masked loads; assembling the value
// from overlapping scalar loads reads nothing outside the buffer and avoids a
// copy to the stack, whose wide reload would stall on store forwarding (~20
// cycles on a 13-byte AAD). Only for files built with the avx2 tier's flags.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace rl::avx2 {

inline __attribute__((always_inline)) __m128i load16_part(const uint8_t* p, size_t n) {
  uint64_t lo = 0, hi = 0;
  if (n >= 8) {
    std::memcpy(&lo, p, 8);
    if (n > 8) {
      uint64_t t;
      std::memcpy(&t, p + n - 8, 8);  // bytes n-8 .. n-1: keep the top n-8
      hi = t >> (8 * (16 - n));
    }
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);  // overlapping bytes are equal, so OR them
    lo = a | (uint64_t{b} << (8 * (n - 4)));
  } else if (n > 0) {
    lo = p[0] | (uint64_t{p[n / 2]} << (8 * (n / 2))) | (uint64_t{p[n - 1]} << (8 * (n - 1)));
  }
  return _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo));
}

}  // namespace rl::avx2
