// SRTP's two non-AEAD kernels on the AVX-512 tier: AES counter mode with VAES
// (four blocks per ZMM, several packets' blocks in flight together) and
// HMAC-SHA1 with the SHA extensions (up to four independent SHA-1 streams
// interleaved). Reached only through core/srtp_kernels.cc after the CPU check
// (avx512_srtp_supported()); this header is plain C++.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rl::avx512 {

// True when this CPU/OS runs these kernels (AVX-512F/BW, VAES, SHA).
bool srtp_kernels_supported();

// data ^= AES-CTR keystream, block i = E(rk, iv + offset/16 + i mod 2^128),
// starting offset%16 bytes into the first block. rk: rounds+1 16-byte AES-NI
// round keys (aes_expand()), rounds 10 or 14.
struct CtrJob {
  const uint8_t* rk;
  int rounds;
  uint8_t iv[16];
  uint8_t* data;
  size_t len;
  uint64_t offset;
};
// Jobs sharing a key (same rk pointer) next to each other run their blocks
// together, up to 32 blocks in flight.
void aes_ctr_xor(const CtrJob* jobs, size_t n);

// out = HMAC-SHA1 over a ‖ b, from the precomputed states after the ipad and
// opad blocks (five words each, FIPS 180-4 H0..H4). blen <= kMaxTail.
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
void hmac_sha1(const HmacJob* jobs, size_t n);

}  // namespace rl::avx512
