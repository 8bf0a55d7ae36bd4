// The TLS 1.2 PRF (RFC 5246 §5) and the key block of the AEAD suites
// (RFC 5246 §6.3), for the replay tool, tests and handshake libraries that
// export only the master secret (NSS key log CLIENT_RANDOM lines).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "simd/status.h"
#include "simd/suite.h"

namespace rl::tls {

// PRF(secret, label, seed) = P_<hash>(secret, label ‖ seed), `out.size()` bytes.
Status tls12_prf(Hash h, std::span<const uint8_t> secret, std::string_view label,
                 std::span<const uint8_t> seed, std::span<uint8_t> out);

// The AEAD suites' key block: client_write_key ‖ server_write_key ‖
// client_write_IV ‖ server_write_IV (no MAC keys; IV = 4-byte salt for AES-GCM,
// RFC 5288 §3, 12 bytes for ChaCha20-Poly1305, RFC 7905 §2). Wiped on destruction.
struct KeyBlock {
  uint8_t client_write_key[kMaxKeyLen] = {};
  uint8_t server_write_key[kMaxKeyLen] = {};
  uint8_t client_write_iv[kNonceLen] = {};
  uint8_t server_write_iv[kNonceLen] = {};
  uint8_t key_len = 0, iv_len = 0;

  std::span<const uint8_t> client_key() const { return {client_write_key, key_len}; }
  std::span<const uint8_t> server_key() const { return {server_write_key, key_len}; }
  std::span<const uint8_t> client_iv() const { return {client_write_iv, iv_len}; }
  std::span<const uint8_t> server_iv() const { return {server_write_iv, iv_len}; }
  ~KeyBlock();
};

// key_block = PRF(master_secret, "key expansion", server_random ‖ client_random)
// (RFC 5246 §6.3: the server random comes first here, unlike the master secret
// derivation). `prf_hash` is the suite's PRF hash: SHA-384 for
// *_AES_256_GCM_SHA384, SHA-256 for the AES-128-GCM and ChaCha20 suites, which
// is what suite_info(suite).hash says. Master secret 48 bytes, randoms 32.
Status tls12_key_block(Suite suite, Hash prf_hash, std::span<const uint8_t> master_secret,
                       std::span<const uint8_t> client_random,
                       std::span<const uint8_t> server_random, KeyBlock& out);

}  // namespace rl::tls
