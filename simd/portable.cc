// The portable backend: BoringSSL, one packet at a time. It is the reference
// every other tier must match bit for bit.
//
// Open is non-destructive on failure (DESIGN.md §3). EVP_AEAD's open zeroes its
// output when the tag is wrong, so in-place open cannot use it directly:
//   - AES-GCM goes through the key's EVP_CIPHER context, which decrypts in
//     place and reports the tag check at the end; on a mismatch the same
//     counter-mode pass is applied again, which restores the ciphertext.
//   - ChaCha20-Poly1305 verifies the Poly1305 tag first (RFC 8439 §2.8) and
//     decrypts only when it matches.
#include <cstring>

#include <openssl/chacha.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/poly1305.h>

#include "simd/backend.h"

namespace rl::portable {
namespace {

bool usable(const AeadJob& j) {
  return j.key != nullptr && j.key->valid() && (j.data.empty() || j.data.data() != nullptr) &&
         j.tag != nullptr;
}

void seal_one(AeadJob& j) {
  size_t tag_len = 0;
  if (EVP_AEAD_CTX_seal_scatter(j.key->evp(), j.data.data(), j.tag, &tag_len, j.key->tag_len(),
                                j.nonce, kNonceLen, j.data.data(), j.data.size(), nullptr, 0,
                                j.aad.data(), j.aad.size()) != 1) {
    ERR_clear_error();
    j.status = Status::invalid_argument;
    return;
  }
  j.status = Status::ok;
}

// CTR pass of AES-GCM with the key's EVP_CIPHER context; `enc` only selects
// which way the GHASH runs, the data transform is the same keystream XOR.
bool gcm_pass(EVP_CIPHER_CTX* c, const AeadJob& j, int enc) {
  int outl = 0;
  if (!EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, j.nonce, enc)) return false;
  if (!j.aad.empty() &&
      !EVP_CipherUpdate(c, nullptr, &outl, j.aad.data(), static_cast<int>(j.aad.size())))
    return false;
  if (!j.data.empty() && !EVP_CipherUpdate(c, j.data.data(), &outl, j.data.data(),
                                           static_cast<int>(j.data.size())))
    return false;
  return true;
}

void open_gcm(AeadJob& j) {
  EVP_CIPHER_CTX* c = j.key->evp_cipher();
  if (!gcm_pass(c, j, 0)) {
    ERR_clear_error();
    j.status = Status::invalid_argument;
    return;
  }
  int outl = 0;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(j.key->tag_len()), j.tag) &&
      EVP_DecryptFinal_ex(c, nullptr, &outl) == 1) {
    j.status = Status::ok;
    return;
  }
  ERR_clear_error();
  gcm_pass(c, j, 1);  // re-apply the keystream: the bytes are as they arrived
  j.status = Status::auth_failed;
}

void poly1305_pad(poly1305_state* st, size_t len) {
  static const uint8_t zeros[16] = {};
  if (len % 16 != 0) CRYPTO_poly1305_update(st, zeros, 16 - len % 16);
}

void open_chacha(AeadJob& j) {
  const uint8_t* key = j.key->raw().data();
  // RFC 8439 §2.6: the one-time Poly1305 key is the first 32 bytes of block 0.
  uint8_t block0[64] = {};
  CRYPTO_chacha_20(block0, block0, sizeof block0, key, j.nonce, 0);
  poly1305_state st;
  CRYPTO_poly1305_init(&st, block0);
  CRYPTO_poly1305_update(&st, j.aad.data(), j.aad.size());
  poly1305_pad(&st, j.aad.size());
  CRYPTO_poly1305_update(&st, j.data.data(), j.data.size());
  poly1305_pad(&st, j.data.size());
  uint8_t lens[16];
  const uint64_t alen = j.aad.size(), clen = j.data.size();
  for (int i = 0; i < 8; ++i) {
    lens[i] = static_cast<uint8_t>(alen >> (8 * i));
    lens[8 + i] = static_cast<uint8_t>(clen >> (8 * i));
  }
  CRYPTO_poly1305_update(&st, lens, sizeof lens);
  uint8_t mac[16];
  CRYPTO_poly1305_finish(&st, mac);
  OPENSSL_cleanse(block0, sizeof block0);
  const bool good = CRYPTO_memcmp(mac, j.tag, j.key->tag_len()) == 0;
  OPENSSL_cleanse(mac, sizeof mac);
  if (!good) {
    j.status = Status::auth_failed;
    return;
  }
  CRYPTO_chacha_20(j.data.data(), j.data.data(), j.data.size(), key, j.nonce, 1);
  j.status = Status::ok;
}

}  // namespace

void seal(std::span<AeadJob> jobs) {
  for (AeadJob& j : jobs) {
    if (!usable(j)) {
      j.status = (j.key != nullptr && !j.key->valid()) ? Status::key_expired
                                                        : Status::invalid_argument;
      continue;
    }
    seal_one(j);
  }
}

void open(std::span<AeadJob> jobs) {
  for (AeadJob& j : jobs) {
    if (!usable(j)) {
      j.status = (j.key != nullptr && !j.key->valid()) ? Status::key_expired
                                                        : Status::invalid_argument;
      continue;
    }
    if (j.key->suite() == Suite::chacha20_poly1305)
      open_chacha(j);
    else
      open_gcm(j);
  }
}

void mask(std::span<MaskJob> jobs) {
  static const uint8_t zeros[16] = {};
  for (MaskJob& m : jobs) {
    if (m.key == nullptr || !m.key->valid() || m.sample == nullptr) {
      std::memset(m.mask, 0, sizeof m.mask);
      continue;
    }
    if (m.key->suite() == Suite::chacha20_poly1305) {
      const uint32_t counter = uint32_t{m.sample[0]} | uint32_t{m.sample[1]} << 8 |
                               uint32_t{m.sample[2]} << 16 | uint32_t{m.sample[3]} << 24;
      CRYPTO_chacha_20(m.mask, zeros, sizeof zeros, m.key->chacha_key(), m.sample + 4, counter);
    } else {
      AES_encrypt(m.sample, m.mask, &m.key->aes());
    }
  }
}

}  // namespace rl::portable
