// The AVX-512 tier's ChaCha20-Poly1305 (RFC 8439): ChaCha20 sixteen (or
// eight) blocks per pass, Poly1305 with AVX512-IFMA, and batched ChaCha20
// header-protection masks. Only reached from simd/avx512/ after the tier's CPU
// check (which includes IFMA); this header is plain C++.
#pragma once
#include <cstddef>

#include "simd/jobs.h"

namespace rl::avx512 {

// One usable ChaCha20-Poly1305 job (key valid, buffers present), in place.
// Open verifies the tag over the ciphertext first and decrypts only when it
// matches, so a failed open leaves the bytes as they arrived.
void chacha_seal_one(AeadJob& j);
void chacha_open_one(AeadJob& j);
// The same for n usable ChaCha20-Poly1305 jobs: packets of at most 448 bytes
// share keystream passes (several per 16-lane pass); on seal, packets of
// 449..1472 bytes are pipelined (each one's Poly1305 inside the next one's
// ChaCha20 rounds); longer ones run alone.
void chacha_seal_many(AeadJob* const* js, size_t n);
void chacha_open_many(AeadJob* const* js, size_t n);

// One usable ChaCha20-Poly1305 job sealed, then (when it sealed) mask job m,
// a valid ChaCha20 MaskKey whose 16-byte sample lies in the job's data: a
// packet's last keystream pass computes the mask in a spare lane when the
// sample is ciphertext by then (packets of more than 960 bytes whose last pass
// is not full), else the mask runs after the seal.
void chacha_seal_masked(AeadJob& j, MaskJob& m);

// One usable ChaCha20-Poly1305 job opened, and mask job m (as above) computed
// over its sample as it arrived: for packets of up to 2048 bytes in a spare
// lane of the open's keystream passes (their data changes only once the tag
// matched), for longer ones before the open.
void chacha_open_masked(AeadJob& j, MaskJob& m);

// n >= 1 mask jobs under one valid ChaCha20 MaskKey with samples present.
void chacha_masks(MaskJob* m, size_t n);

}  // namespace rl::avx512
