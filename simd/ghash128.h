// GF(2^128) for GHASH on one 128-bit register, in the byte-reflected domain
// the SIMD tiers use (simd/avx512/aes_gcm_avx512.cc explains it): the
// reduction, one multiplication, H·x^-1, and the table of powers of H.
//
// For tier sources only (they include <immintrin.h> and are built with the
// tier's flags). Everything here has internal linkage, so each tier compiles
// its own copy with its own instruction set: a shared inline definition could
// let the linker hand an AVX-512 build of it to the AVX2 tier.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace rl {
namespace {  // NOLINT(google-build-namespaces): one copy per tier, see above

inline __m128i rev128() { return _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
inline __m128i bswap(__m128i x) { return _mm_shuffle_epi8(x, rev128()); }
inline __m128i poly() { return _mm_set_epi64x(static_cast<long long>(0xC200000000000000ULL), 1); }

// [hi:lo] (256 bits) -> 128 bits.
inline __attribute__((always_inline)) __m128i reduce(__m128i lo, __m128i hi) {
  const __m128i p = poly();
  __m128i t = _mm_clmulepi64_si128(lo, p, 0x10);
  lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), t);
  t = _mm_clmulepi64_si128(lo, p, 0x10);
  lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), t);
  return _mm_xor_si128(lo, hi);
}

// a · b where `hs` holds b·x^-1.
inline __m128i gf_mul(__m128i a, __m128i hs) {
  __m128i lo = _mm_clmulepi64_si128(a, hs, 0x00);
  __m128i hi = _mm_clmulepi64_si128(a, hs, 0x11);
  __m128i mid = _mm_xor_si128(_mm_clmulepi64_si128(a, hs, 0x01), _mm_clmulepi64_si128(a, hs, 0x10));
  lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
  hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
  return reduce(lo, hi);
}

// h·x^-1: shift the reflected value left by one bit and fold the bit that
// falls off (x^0 · x^-1 = x^127 + x^6 + x + 1) back in, without a branch.
inline __m128i times_x_inv(__m128i h) {
  const __m128i carry = _mm_srli_epi64(h, 63);
  __m128i s = _mm_or_si128(_mm_slli_epi64(h, 1), _mm_slli_si128(carry, 8));
  const __m128i top = _mm_srai_epi32(_mm_shuffle_epi32(h, 0xff), 31);  // all ones if bit 127
  return _mm_xor_si128(s, _mm_and_si128(top, poly()));
}

// From H = E(K, 0^128) (SP 800-38D §6.4) as AES returns it: H^i·x^-1
// (reflected) into hpow[n - i] for i = 1..n, highest power first, so that a
// group of k blocks reads its powers H^k..H^1 from hpow[n - k] on.
inline void store_powers(__m128i h, uint8_t (*hpow)[16], size_t n) {
  const __m128i hs = times_x_inv(bswap(h));
  __m128i p = hs;
  for (size_t i = 1; i <= n; ++i) {
    _mm_store_si128(reinterpret_cast<__m128i*>(hpow[n - i]), p);
    p = gf_mul(p, hs);  // (H^i·x^-1)·H = H^(i+1)·x^-1
  }
}

}  // namespace
}  // namespace rl
