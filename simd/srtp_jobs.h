// The jobs SRTP's SIMD kernels take (simd/avx512/srtp_avx512, simd/avx2/
// srtp_avx2): one set of types for both tiers, so that core/srtp_kernels.cc
// fills the same structs whichever tier runs them. Plain C++.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace rl::srtp_simd {

// A 64-bit big-endian word (the halves of a counter block).
inline uint64_t load_be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

// data ^= AES-CTR keystream, block i = E(rk, iv + offset/16 + i mod 2^128),
// starting offset%16 bytes into the first block. rk: rounds+1 16-byte AES-NI
// round keys (rl::aes_expand(), simd/aes_schedule.h), rounds 10 or 14.
struct CtrJob {
  const uint8_t* rk;
  int rounds;
  uint8_t iv[16];
  uint8_t* data;
  size_t len;
  uint64_t offset;
};

// out = HMAC-SHA1 over a ‖ b, from the precomputed states after the ipad and
// opad blocks (five words each, FIPS 180-4 H0..H4). blen <= kHmacMaxB.
struct HmacJob {
  const uint32_t* inner;
  const uint32_t* outer;
  const uint8_t* a;
  size_t alen;
  const uint8_t* b;
  size_t blen;
  uint8_t* out;  // 20 bytes
};
inline constexpr size_t kHmacMaxB = 32;

// One packet of an AES-CM + HMAC-SHA1 profile: header msg[0, hdr), payload
// msg[hdr, mlen) (keystream block 0 = iv); the tag is HMAC-SHA1 over msg ‖ b
// (blen <= kHmacMaxB), 20 bytes to out.
struct CmHmacJob {
  const uint8_t* rk;
  int rounds;
  uint8_t iv[16];  // keystream block 0 (payload offset 0)
  uint8_t* msg;
  size_t mlen, hdr;
  const uint8_t* b;
  size_t blen;
  const uint32_t* inner;
  const uint32_t* outer;
  uint8_t* out;
};

// SRTP's counter blocks start with their low 16 bits zero (RFC 3711 §4.1.1:
// IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16); the PRF's IV is
// x * 2^16, §4.3.1), so block i < 2^16 is the IV with i in its last two
// bytes: no carry, and big-endian i can be XORed in from a table instead of
// adding in little-endian and byte-swapping. kCtrTab.b[c] holds blocks
// 4c..4c+3 (i in bytes 14-15 of each 16-byte lane); read as one array, block
// i sits at byte 16 i, so a tier reads it in whatever width it works in.
inline constexpr int kTabChunks = 64;  // 64-byte rows: payloads up to 4 KiB
struct CtrTab {
  alignas(64) uint8_t b[kTabChunks][64];
};
constexpr CtrTab make_ctr_tab() {
  CtrTab t{};
  for (int c = 0; c < kTabChunks; ++c) {
    for (int j = 0; j < 4; ++j) {
      const int i = 4 * c + j;
      t.b[c][16 * j + 14] = static_cast<uint8_t>(i >> 8);
      t.b[c][16 * j + 15] = static_cast<uint8_t>(i);
    }
  }
  return t;
}
inline constexpr CtrTab kCtrTab = make_ctr_tab();

}  // namespace rl::srtp_simd
