#include "simd/aead_key.h"

#include <cstring>

#include <openssl/mem.h>

#include "simd/tiers.h"

namespace rl {
namespace {

const EVP_AEAD* evp_aead_for(Suite s) {
  switch (s) {
    case Suite::aes128_gcm: return EVP_aead_aes_128_gcm();
    case Suite::aes256_gcm: return EVP_aead_aes_256_gcm();
    case Suite::chacha20_poly1305: return EVP_aead_chacha20_poly1305();
  }
  return nullptr;
}

const EVP_CIPHER* evp_gcm_cipher_for(Suite s) {
  switch (s) {
    case Suite::aes128_gcm: return EVP_aes_128_gcm();
    case Suite::aes256_gcm: return EVP_aes_256_gcm();
    default: return nullptr;
  }
}

bool known_suite(Suite s) {
  return s == Suite::aes128_gcm || s == Suite::aes256_gcm || s == Suite::chacha20_poly1305;
}

}  // namespace

AeadKey::AeadKey() {
  std::memset(state_, 0, sizeof state_);
  std::memset(raw_, 0, sizeof raw_);
  EVP_AEAD_CTX_zero(&aead_);
}

AeadKey::~AeadKey() { wipe(); }

Status AeadKey::init(Suite suite, std::span<const uint8_t> key, size_t tag_len) {
  wipe();
  if (!known_suite(suite)) return Status::invalid_argument;
  const SuiteInfo info = suite_info(suite);
  if (key.size() != info.key_len) return Status::invalid_argument;
  if (tag_len == 0) tag_len = info.tag_len;
  // Tags shorter than 8 bytes are not used by any protocol here and are too weak.
  if (tag_len < 8 || tag_len > info.tag_len) return Status::invalid_argument;

  if (!EVP_AEAD_CTX_init(&aead_, evp_aead_for(suite), key.data(), key.size(), tag_len,
                         nullptr)) {
    wipe();
    return Status::invalid_argument;
  }
  if (const EVP_CIPHER* gcm = evp_gcm_cipher_for(suite)) {
    cipher_ = EVP_CIPHER_CTX_new();
    if (cipher_ == nullptr ||
        !EVP_CipherInit_ex(cipher_, gcm, nullptr, key.data(), nullptr, /*enc=*/0) ||
        !EVP_CIPHER_CTX_ctrl(cipher_, EVP_CTRL_GCM_SET_IVLEN, kNonceLen, nullptr)) {
      wipe();
      return Status::invalid_argument;
    }
  }
  std::memcpy(raw_, key.data(), key.size());
  tier_prepare_aead_key(suite, key.data(), state_);
  suite_ = suite;
  tag_len_ = static_cast<uint8_t>(tag_len);
  valid_ = true;
  return Status::ok;
}

void AeadKey::wipe() {
  EVP_AEAD_CTX_cleanup(&aead_);
  // The AES-GCM key schedule and H table live inline in the context.
  OPENSSL_cleanse(&aead_, sizeof aead_);
  EVP_AEAD_CTX_zero(&aead_);
  if (cipher_ != nullptr) {
    EVP_CIPHER_CTX_free(cipher_);  // BoringSSL cleanses freed memory
    cipher_ = nullptr;
  }
  OPENSSL_cleanse(raw_, sizeof raw_);
  OPENSSL_cleanse(state_, sizeof state_);
  valid_ = false;
  tag_len_ = 0;
}

Status MaskKey::init(Suite suite, std::span<const uint8_t> key) {
  wipe();
  if (!known_suite(suite)) return Status::invalid_argument;
  if (key.size() != suite_info(suite).hp_key_len) return Status::invalid_argument;
  if (suite == Suite::chacha20_poly1305) {
    std::memcpy(chacha_, key.data(), 32);
  } else if (AES_set_encrypt_key(key.data(), static_cast<unsigned>(key.size() * 8), &aes_) != 0) {
    return Status::invalid_argument;
  }
  if (suite != Suite::chacha20_poly1305)
    simd_rounds_ = static_cast<uint8_t>(tier_prepare_aes_key(key.data(), key.size(), simd_rk_));
  suite_ = suite;
  valid_ = true;
  return Status::ok;
}

void MaskKey::wipe() {
  OPENSSL_cleanse(&aes_, sizeof aes_);
  OPENSSL_cleanse(simd_rk_, sizeof simd_rk_);
  simd_rounds_ = 0;
  OPENSSL_cleanse(chacha_, sizeof chacha_);
  valid_ = false;
}

}  // namespace rl
