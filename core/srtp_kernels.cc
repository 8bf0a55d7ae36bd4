// Portable (BoringSSL) AES-CM keystream and precomputed HMAC-SHA1. See
// srtp_kernels.h for why these two sit behind their own interface.
#include "core/srtp_kernels.h"

#include <cstring>

#include <openssl/mem.h>

namespace rl::srtp::detail {

bool cm_init(CmKey& k, std::span<const uint8_t> key) {
  cm_wipe(k);
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) return false;
  if (AES_set_encrypt_key(key.data(), static_cast<unsigned>(key.size() * 8), &k.aes) != 0) {
    return false;
  }
  k.bits = static_cast<uint16_t>(key.size() * 8);
  return true;
}

void cm_wipe(CmKey& k) {
  OPENSSL_cleanse(&k.aes, sizeof k.aes);
  k.bits = 0;
}

// Adds `blocks` to the 128-bit big-endian counter (RFC 3711 §4.1.1: IV + i mod 2^128).
static void ctr_add(uint8_t ctr[16], uint64_t blocks) {
  for (int i = 15; i >= 0 && blocks != 0; --i) {
    const uint64_t sum = uint64_t{ctr[i]} + (blocks & 0xff);
    ctr[i] = static_cast<uint8_t>(sum);
    blocks = (blocks >> 8) + (sum >> 8);
  }
}

void cm_keystream_xor(const CmKey& k, const uint8_t iv[16], uint8_t* data, size_t len,
                      uint64_t offset) {
  if (len == 0) return;
  alignas(16) uint8_t ctr[16];
  alignas(16) uint8_t ecount[16];
  std::memcpy(ctr, iv, 16);
  ctr_add(ctr, offset / 16);
  unsigned num = 0;
  if (offset % 16 != 0) {
    // Start inside a block: produce that block's keystream, use its tail.
    AES_encrypt(ctr, ecount, &k.aes);
    ctr_add(ctr, 1);
    num = static_cast<unsigned>(offset % 16);
  }
  // AES_ctr128_encrypt continues from `num` bytes into `ecount` and runs the
  // hardware AES-CTR path for whole blocks.
  AES_ctr128_encrypt(data, data, len, &k.aes, ctr, ecount, &num);
  OPENSSL_cleanse(ecount, sizeof ecount);
}

void hmac_sha1_init(HmacSha1Key& k, std::span<const uint8_t> key) {
  uint8_t block[SHA_CBLOCK];
  std::memset(block, 0, sizeof block);
  if (key.size() > SHA_CBLOCK) {
    SHA1(key.data(), key.size(), block);
  } else {
    std::memcpy(block, key.data(), key.size());
  }
  uint8_t pad[SHA_CBLOCK];
  for (size_t i = 0; i < SHA_CBLOCK; ++i) pad[i] = block[i] ^ 0x36;
  SHA1_Init(&k.inner);
  SHA1_Update(&k.inner, pad, sizeof pad);
  for (size_t i = 0; i < SHA_CBLOCK; ++i) pad[i] = block[i] ^ 0x5c;
  SHA1_Init(&k.outer);
  SHA1_Update(&k.outer, pad, sizeof pad);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(pad, sizeof pad);
  k.valid = true;
}

void hmac_sha1_wipe(HmacSha1Key& k) {
  OPENSSL_cleanse(&k.inner, sizeof k.inner);
  OPENSSL_cleanse(&k.outer, sizeof k.outer);
  k.valid = false;
}

void hmac_sha1_tag(const HmacSha1Key& k, std::span<const uint8_t> a, std::span<const uint8_t> b,
                   uint8_t out[20]) {
  SHA_CTX c = k.inner;
  SHA1_Update(&c, a.data(), a.size());
  if (!b.empty()) SHA1_Update(&c, b.data(), b.size());
  // The outer hash is always one block: inner digest ‖ 0x80 ‖ zeros ‖ the
  // bit length of (64-byte key block + 20-byte digest) = 672. Build it and
  // run one compression on a copy of the outer state.
  alignas(16) uint8_t blk[SHA_CBLOCK] = {};
  SHA1_Final(blk, &c);
  blk[SHA_DIGEST_LENGTH] = 0x80;
  blk[62] = 0x02;  // 672 = 0x02A0 bits
  blk[63] = 0xA0;
  std::memcpy(c.h, k.outer.h, sizeof c.h);
  SHA1_Transform(&c, blk);
  for (size_t i = 0; i < 5; ++i) {
    out[4 * i] = static_cast<uint8_t>(c.h[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(c.h[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(c.h[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(c.h[i]);
  }
  OPENSSL_cleanse(&c, sizeof c);
  OPENSSL_cleanse(blk, sizeof blk);
}

}  // namespace rl::srtp::detail
