// The unit of work of the hot path (DESIGN.md §3): every protocol reduces a
// packet to AEAD jobs and mask jobs, and a backend runs a whole burst of them.
#pragma once
#include <cstdint>
#include <span>

#include "simd/aead_key.h"
#include "simd/status.h"

namespace rl {

// One packet's AEAD work, in place. `data` is plaintext on seal and ciphertext
// on open; `tag` points at key->tag_len() bytes (written on seal, read on open).
// `aad` may overlap the bytes just before `data` (the header) but not `data`.
// On a failed open `data` is left exactly as it arrived.
struct AeadJob {
  const AeadKey* key = nullptr;
  uint8_t nonce[kNonceLen] = {};
  std::span<const uint8_t> aad;
  std::span<uint8_t> data;
  uint8_t* tag = nullptr;
  Status status = Status::ok;
};

// One header-protection mask: `mask` = AES-ECB(key, sample) for AES suites, or
// the ChaCha20 keystream with counter = sample[0..3] (LE) and nonce = sample[4..15]
// (RFC 9001 §5.4.3/§5.4.4, RFC 9147 §4.2.3). Protocols use the first 2–5 bytes.
struct MaskJob {
  const MaskKey* key = nullptr;
  const uint8_t* sample = nullptr;  // 16 bytes
  uint8_t mask[16] = {};
};

}  // namespace rl
