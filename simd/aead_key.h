// Expanded AEAD and header-protection keys. One object per key; never copied,
// wiped when it dies. The backends in simd/ read them; nothing else looks inside.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include <openssl/aead.h>
#include <openssl/aes.h>
#include <openssl/cipher.h>

#include "simd/status.h"
#include "simd/suite.h"

namespace rl {

// An expanded AEAD key for one suite. Seal may run on several threads at once;
// open uses per-key scratch state in the portable backend, so one key is opened
// by one thread at a time (protocol objects are single-threaded anyway).
class AeadKey {
 public:
  AeadKey();
  ~AeadKey();
  AeadKey(const AeadKey&) = delete;
  AeadKey& operator=(const AeadKey&) = delete;

  // `tag_len` may truncate the tag (ESP ICV 8 or 12); 0 means the suite's full tag.
  // Refuses a key of the wrong length with invalid_argument and leaves *this empty.
  Status init(Suite suite, std::span<const uint8_t> key, size_t tag_len = 0);
  void wipe();

  bool valid() const { return valid_; }
  Suite suite() const { return suite_; }
  size_t tag_len() const { return tag_len_; }
  std::span<const uint8_t> raw() const { return {raw_, suite_info(suite_).key_len}; }

  // Backend-private state (BoringSSL contexts, and room for expanded schedules
  // of the SIMD tiers). Exposed to simd/ only.
  const EVP_AEAD_CTX* evp() const { return &aead_; }
  EVP_CIPHER_CTX* evp_cipher() const { return cipher_; }
  uint8_t* backend_state() { return state_; }
  const uint8_t* backend_state() const { return state_; }
  static constexpr size_t kBackendStateSize = 2112;  // avx512 AES-GCM: schedule, broadcast keys, powers of H
  // The AVX2 tier's state follows the first region (both tiers may run one
  // key on a CPU that has both): backend_state() + kBackendStateSize.
  static constexpr size_t kAvx2StateSize = 1024;

  // Test hook: every byte that held key material, to show that wipe() cleared it.
  std::span<const uint8_t> debug_raw_bytes() const { return {raw_, sizeof raw_}; }
  std::span<const uint8_t> debug_state_bytes() const { return {state_, sizeof state_}; }  // both regions

 private:
  alignas(64) uint8_t state_[kBackendStateSize + kAvx2StateSize];
  alignas(16) uint8_t raw_[kMaxKeyLen];
  EVP_AEAD_CTX aead_;
  EVP_CIPHER_CTX* cipher_ = nullptr;  // AES-GCM non-destructive open
  Suite suite_ = Suite::aes128_gcm;
  uint8_t tag_len_ = 0;
  bool valid_ = false;
};

// A header-protection / record-number-encryption key (QUIC §5.4, DTLS 1.3 §4.2.3).
class MaskKey {
 public:
  MaskKey() = default;
  ~MaskKey() { wipe(); }
  MaskKey(const MaskKey&) = delete;
  MaskKey& operator=(const MaskKey&) = delete;

  Status init(Suite suite, std::span<const uint8_t> key);
  void wipe();
  bool valid() const { return valid_; }
  Suite suite() const { return suite_; }
  const AES_KEY& aes() const { return aes_; }
  const uint8_t* chacha_key() const { return chacha_; }
  // Test hooks: the bytes that held key material.
  std::span<const uint8_t> debug_aes_bytes() const {
    return {reinterpret_cast<const uint8_t*>(&aes_), sizeof aes_};
  }
  std::span<const uint8_t> debug_chacha_bytes() const { return {chacha_, sizeof chacha_}; }
  // AES-NI round keys for the SIMD tiers (filled by init when a tier is
  // supported; simd_rounds() is 0 otherwise, and always for ChaCha20).
  const uint8_t* simd_round_keys() const { return simd_rk_; }
  int simd_rounds() const { return simd_rounds_; }
  std::span<const uint8_t> debug_simd_bytes() const { return {simd_rk_, sizeof simd_rk_}; }

 private:
  AES_KEY aes_{};
  alignas(16) uint8_t simd_rk_[15 * 16]{};
  uint8_t simd_rounds_ = 0;
  alignas(16) uint8_t chacha_[32]{};
  Suite suite_ = Suite::aes128_gcm;
  bool valid_ = false;
};

}  // namespace rl
