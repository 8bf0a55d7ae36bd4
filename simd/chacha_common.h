// Scalar pieces of ChaCha20 (RFC 8439 §2.3) shared by the SIMD tiers'
// ChaCha20-Poly1305 kernels. The tiers are compiled with different -m flags,
// so nothing here may have external linkage: an inline function with external
// linkage would be emitted by every tier and the linker would keep one copy,
// possibly one built for AVX-512, for all of them. Hence `static` functions
// and constexpr (internal) constants; the struct is a plain type.
#pragma once
#include <cstdint>
#include <cstring>

#include "simd/jobs.h"

namespace rl::chacha {

constexpr uint32_t kSigma[4] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};  // §2.3

// BoringSSL's limit: the 32-bit block counter must not wrap (§2.8: at most
// 2^38 - 64 bytes), block 0 being the Poly1305 key.
constexpr uint64_t kMaxChaChaBytes = (uint64_t{1} << 38) - 64;

// The state words a job contributes: key (words 4..11) and nonce (13..15).
struct ChaChaInput {
  uint32_t key[8];
  uint32_t nonce[3];
};

static inline __attribute__((always_inline)) uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);  // x86 is little-endian, as §2.3 wants
  return v;
}

static inline __attribute__((always_inline)) ChaChaInput input_for(const AeadJob& j) {
  ChaChaInput in;
  const uint8_t* k = j.key->raw().data();
  for (int i = 0; i < 8; ++i) in.key[i] = le32(k + 4 * i);
  for (int i = 0; i < 3; ++i) in.nonce[i] = le32(j.nonce + 4 * i);
  return in;
}

}  // namespace rl::chacha
