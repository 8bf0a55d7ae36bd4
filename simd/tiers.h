// The SIMD tiers this build has. A tier's ops are nullptr until its kernels
// exist; backend.cc checks the CPU before handing one out.
#pragma once
#include <cstddef>
#include <cstdint>

#include "simd/backend.h"

namespace rl {
const BackendOps* tier_avx2_ops();
const BackendOps* tier_avx512_ops();

// Called by AeadKey::init: lays out the SIMD tier's expanded key (AES round
// keys, powers of H) in `state` (AeadKey::backend_state()) when this CPU runs
// a SIMD tier; leaves it zero otherwise. wipe() cleanses it.
void tier_prepare_aead_key(Suite suite, const uint8_t* key, uint8_t* state);
// Called by MaskKey::init: AES-NI round keys (room for 15) when this CPU runs
// a SIMD tier; returns the number of rounds, or 0 when no tier will read them.
int tier_prepare_aes_key(const uint8_t* key, size_t key_len, uint8_t* round_keys);
}  // namespace rl
