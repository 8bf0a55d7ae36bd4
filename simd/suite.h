// The AEAD suites the engine runs, and the facts each protocol needs about them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rl {

enum class Suite : uint8_t { aes128_gcm, aes256_gcm, chacha20_poly1305 };
inline constexpr Suite kAllSuites[] = {Suite::aes128_gcm, Suite::aes256_gcm,
                                       Suite::chacha20_poly1305};

enum class Hash : uint8_t { sha256, sha384 };

struct SuiteInfo {
  const char* name;   // as in benchmark names (DESIGN.md §7b)
  uint8_t key_len;    // AEAD key bytes
  uint8_t nonce_len;  // always 12 here
  uint8_t tag_len;    // full tag; protocols may truncate (ESP ICV 8/12)
  uint8_t hp_key_len; // header-protection / record-number key bytes
  Hash hash;          // TLS 1.3 / QUIC / DTLS 1.3 cipher-suite hash
};

constexpr SuiteInfo suite_info(Suite s) {
  switch (s) {
    case Suite::aes128_gcm: return {"aes128gcm", 16, 12, 16, 16, Hash::sha256};
    case Suite::aes256_gcm: return {"aes256gcm", 32, 12, 16, 32, Hash::sha384};
    case Suite::chacha20_poly1305: return {"chacha20poly1305", 32, 12, 16, 32, Hash::sha256};
  }
  return {"?", 0, 0, 0, 0, Hash::sha256};
}

constexpr size_t hash_len(Hash h) { return h == Hash::sha256 ? 32 : 48; }

inline constexpr size_t kNonceLen = 12;
inline constexpr size_t kMaxTagLen = 16;
inline constexpr size_t kMaxKeyLen = 32;

}  // namespace rl
