// SHA-256 (FIPS 180-4) of a verdict's plaintext. Every decrypted record is hashed, so at
// replay speed this is as hot as the AEAD: with the x86 SHA extensions (SHA-NI) the
// compression function runs here in hardware; otherwise BoringSSL's SHA256() is used (the
// BoringSSL build linked here dispatches to its scalar code, ~4x slower).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace rl::replay {

void sha256(const uint8_t* data, size_t len, uint8_t out[32]);
// Which implementation sha256() uses: "sha-ni" or "boringssl".
const char* sha256_impl();
// The BoringSSL one, always (tests compare the two).
void sha256_reference(const uint8_t* data, size_t len, uint8_t out[32]);

}  // namespace rl::replay
