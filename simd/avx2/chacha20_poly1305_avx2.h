// The AVX2 tier's ChaCha20-Poly1305 (RFC 8439): seal up to 448 bytes (longer
// seals go to BoringSSL, measured faster) and open of any length; ChaCha20
// eight lanes per pass shared by several packets, or two blocks per pass for
// a lone packet; Poly1305 in scalar 64-bit arithmetic; batched ChaCha20
// header-protection masks. Only reached from simd/avx2/ after the tier's CPU
// check; this header is plain C++.
#pragma once
#include <cstddef>

#include "simd/jobs.h"

namespace rl::avx2 {

// One usable ChaCha20-Poly1305 job (key valid, buffers present), in place:
// seal takes at most 448 bytes, open any length. A failed open leaves the
// bytes as they arrived.
void chacha_seal_one(AeadJob& j);
void chacha_open_one(AeadJob& j);

// The same for n usable ChaCha20-Poly1305 jobs: packets of at most 448 bytes
// share eight-lane keystream passes (several per pass); longer ones are
// sealed by the portable backend (BoringSSL) and opened alone.
void chacha_seal_many(AeadJob* const* js, size_t n);
void chacha_open_many(AeadJob* const* js, size_t n);

// n >= 1 mask jobs under one valid ChaCha20 MaskKey with samples present.
void chacha_masks(MaskJob* m, size_t n);

}  // namespace rl::avx2
