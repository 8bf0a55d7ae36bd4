// The two non-AEAD kernels of SRTP's AES-CM + HMAC-SHA1 profiles, behind the
// smallest interface the protocol needs, so that a SIMD tier can replace them
// (several packets' keystreams at once, multi-buffer SHA-1) without touching
// core/srtp.cc. The portable versions run on BoringSSL; when the active
// backend is avx512 or avx2 and the CPU has VAES and SHA-NI, the same calls
// run that tier's kernels, simd/avx512/srtp_avx512 or simd/avx2/srtp_avx2
// (bit-identical, tested side by side).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include <openssl/aes.h>
#include <openssl/sha.h>

#include "simd/backend.h"

namespace rl::srtp::detail {

// An expanded AES key for counter mode (SRTP session key, PRF master key,
// RFC 6904 header key). Wiped by its owner.
struct CmKey {
  AES_KEY aes{};
  alignas(16) uint8_t rk[15 * 16] = {};  // AES-NI round keys for the SIMD tier
  uint8_t rounds = 0;                     // 10 or 14 when rk is set, else 0
  uint16_t bits = 0;                      // 128, 192 or 256; 0 = unset
};
bool cm_init(CmKey& k, std::span<const uint8_t> key);
void cm_wipe(CmKey& k);

// data ^= AES-CM keystream starting at keystream byte `offset`, with
// keystream block i = E(k, iv + i mod 2^128) (RFC 3711 §4.1.1). In place.
void cm_keystream_xor(const CmKey& k, const uint8_t iv[16], uint8_t* data, size_t len,
                      uint64_t offset = 0);

// A burst: each job's data ^= its keystream (as cm_keystream_xor). Jobs with
// the same key next to each other share the SIMD pipeline.
struct CmJob {
  const CmKey* key;
  uint8_t iv[16];
  uint8_t* data;
  size_t len;
  uint64_t offset;
};
void cm_keystream_xor_burst(std::span<const CmJob> jobs);

// HMAC-SHA1 with the ipad/opad compression already done once per session key
// (RFC 2104 §4 "precomputed" form): per packet, only the message blocks and
// the two final blocks are hashed.
struct HmacSha1Key {
  SHA_CTX inner{};
  SHA_CTX outer{};
  bool valid = false;
};
void hmac_sha1_init(HmacSha1Key& k, std::span<const uint8_t> key);
void hmac_sha1_wipe(HmacSha1Key& k);
// out = HMAC-SHA1(k, a ‖ b) (full 20 bytes; callers truncate).
void hmac_sha1_tag(const HmacSha1Key& k, std::span<const uint8_t> a, std::span<const uint8_t> b,
                   uint8_t out[20]);

// A burst of tags: out = HMAC-SHA1(key, a ‖ b) for each job (20 bytes each).
struct TagJob {
  const HmacSha1Key* key;
  const uint8_t* a;
  size_t alen;
  const uint8_t* b;
  size_t blen;
  uint8_t* out;
};
void hmac_sha1_tags(std::span<const TagJob> jobs);

// One packet of an AES-CM + HMAC-SHA1 profile on the SIMD tier, keystream
// stitched with the tag (a lone SHA-1 stream is latency bound; the AES work
// runs in its gaps). msg[0, mlen) is header msg[0, hdr) ‖ payload; the tag is
// HMAC-SHA1(mac, msg ‖ roc). The caller asks cm_hmac_one_kernels() once and
// hands its answer to the calls that follow (one backend lookup a packet).
inline constexpr size_t kOneMaxPayload = 2048;  // open: size of the keystream buffer
struct SimdKernels;  // a tier's kernel table (core/srtp_kernels.cc)
// The active tier's kernels when they can run key k, else nullptr (BoringSSL).
const SimdKernels* cm_hmac_one_kernels(const CmKey& k);
// Seal: payload ^= keystream (offset 0), then out = tag over the ciphertext.
void cm_seal_one(const SimdKernels& s, const CmKey& k, const uint8_t iv[16], const HmacSha1Key& mac,
                 uint8_t* msg, size_t mlen, size_t hdr, const uint8_t roc[4], uint8_t out[20]);
// Open: out = tag over msg as it arrived (msg unchanged); ks = the payload's
// keystream (mlen - hdr <= kOneMaxPayload; ks holds kOneMaxPayload bytes),
// to be applied with xor_into() only if the tag matches.
void cm_open_one(const SimdKernels& s, const CmKey& k, const uint8_t iv[16], const HmacSha1Key& mac,
                 const uint8_t* msg, size_t mlen, size_t hdr, const uint8_t roc[4], uint8_t out[20],
                 uint8_t* ks);
// data[0, len) ^= ks[0, len) with tier s.
void xor_into(const SimdKernels& s, uint8_t* data, const uint8_t* ks, size_t len);

// Whether the calls above run the SIMD kernels now (active backend avx512 or
// avx2 on a CPU with VAES + SHA-NI), and which tier's: Backend::portable
// when they run on BoringSSL.
bool simd_kernels_active();
Backend simd_kernels_tier();

}  // namespace rl::srtp::detail
