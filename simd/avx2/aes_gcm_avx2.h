// The AVX2 tier (VAES + VPCLMULQDQ on 256-bit registers) for CPUs without
// AVX-512: AES-GCM seal and open, ChaCha20-Poly1305, batched AES-ECB and
// ChaCha20 masks. Only reached through simd/tiers.cc after the CPU check
// (AVX2, VAES, VPCLMULQDQ, AES-NI, BMI2, OS YMM state); this header is plain
// C++ so baseline code may include it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "simd/jobs.h"

namespace rl::avx2 {

// Bytes of AeadKey state this tier lays out (AES round keys, H^1..H^16).
inline constexpr size_t kStateSize = 1024;

// Fills this tier's region of an AeadKey's state (32-aligned, kStateSize
// bytes) with the AES round keys and powers of H for an AES-GCM key; zeroes
// it for ChaCha20-Poly1305 (which reads the raw key).
void gcm_prepare(Suite suite, const uint8_t* key, uint8_t* state);

void seal(std::span<AeadJob> jobs);
void open(std::span<AeadJob> jobs);
void mask(std::span<MaskJob> jobs);

}  // namespace rl::avx2
