// The AVX-512 tier (VAES + VPCLMULQDQ on 512-bit registers): AES-GCM seal and
// open, batched AES-ECB masks. Only reached through simd/tiers.cc after the
// CPU check; this header is plain C++ so baseline code may include it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "simd/jobs.h"

namespace rl::avx512 {

// Fills an AeadKey's backend_state() (64-aligned, AeadKey::kBackendStateSize
// bytes) with the AES round keys and the powers H^1..H^16 for an AES-GCM key.
void gcm_prepare(Suite suite, const uint8_t* key, uint8_t* state);

void seal(std::span<AeadJob> jobs);
void open(std::span<AeadJob> jobs);
void mask(std::span<MaskJob> jobs);
// BackendOps::seal_masked: a ChaCha20-Poly1305 job with a ChaCha20 mask key
// takes the mask into its own keystream passes (chacha_seal_masked); anything
// else seals, then masks.
void seal_masked(AeadJob& job, MaskJob& m);
// BackendOps::open_masked, the same way (chacha_open_masked), else mask, then open.
void open_masked(AeadJob& job, MaskJob& m);

}  // namespace rl::avx512
