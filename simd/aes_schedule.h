// The AES key schedule (FIPS-197 §5.2) with AES-NI, shared by the SIMD tiers.
// Only called after the CPU check (every tier requires AES-NI); this header is
// plain C++ so that baseline code may include it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rl {

// AES-NI round keys for a 16- or 32-byte key: 11 or 15 16-byte round keys into
// `round_keys` (room for 15). Returns the number of rounds (10 or 14), 0 for
// another key length. Its own registers are cleared before it returns.
int aes_expand(const uint8_t* key, size_t key_len, uint8_t* round_keys);

}  // namespace rl
