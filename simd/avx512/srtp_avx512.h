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
// round keys (rl::aes_expand(), simd/aes_schedule.h), rounds 10 or 14.
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

// One packet of an AES-CM + HMAC-SHA1 profile, keystream and tag interleaved
// block by block (a single SHA-1 stream is latency bound; the AES work fills
// its gaps). The packet is msg[0, mlen): header msg[0, hdr), payload after
// it; the tag is HMAC-SHA1 over msg ‖ b (blen <= kHmacMaxB), 20 bytes to out.
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
// Seal: payload ^= keystream, then the tag over the ciphertext.
void cm_hmac_seal1(const CmHmacJob& j);
// Open: the tag over msg as it is (nothing written to msg); the payload's
// keystream goes to ks (mlen - hdr bytes rounded up to 64), for xor_into
// once the tag has been checked.
void cm_hmac_open1(const CmHmacJob& j, uint8_t* ks);
// data[0, len) ^= ks[0, len).
void xor_into(uint8_t* data, const uint8_t* ks, size_t len);

}  // namespace rl::avx512
