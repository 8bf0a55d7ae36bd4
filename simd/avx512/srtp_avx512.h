// SRTP's two non-AEAD kernels on the AVX-512 tier: AES counter mode with VAES
// (four blocks per ZMM, several packets' blocks in flight together) and
// HMAC-SHA1 with the SHA extensions (up to four independent SHA-1 streams
// interleaved). Reached only through core/srtp_kernels.cc after the CPU check
// (srtp_kernels_supported()); this header is plain C++.
#pragma once
#include <cstddef>
#include <cstdint>

#include "simd/srtp_jobs.h"

namespace rl::avx512 {

// True when this CPU/OS runs these kernels (AVX-512F/BW, VAES, SHA).
bool srtp_kernels_supported();

// The jobs (simd/srtp_jobs.h, shared with the avx2 tier).
using srtp_simd::CmHmacJob;
using srtp_simd::CtrJob;
using srtp_simd::HmacJob;
using srtp_simd::kHmacMaxB;

// Jobs sharing a key (same rk pointer) next to each other run their blocks
// together, up to 32 blocks in flight.
void aes_ctr_xor(const CtrJob* jobs, size_t n);

// out = HMAC-SHA1 over a ‖ b for each job (blen <= kHmacMaxB).
void hmac_sha1(const HmacJob* jobs, size_t n);

// One packet of an AES-CM + HMAC-SHA1 profile, keystream and tag interleaved
// block by block (a single SHA-1 stream is latency bound; the AES work fills
// its gaps).
// Seal: payload ^= keystream, then the tag over the ciphertext.
void cm_hmac_seal1(const CmHmacJob& j);
// Open: the tag over msg as it is (nothing written to msg); the payload's
// keystream goes to ks (mlen - hdr bytes rounded up to 64), for xor_into
// once the tag has been checked.
void cm_hmac_open1(const CmHmacJob& j, uint8_t* ks);
// data[0, len) ^= ks[0, len).
void xor_into(uint8_t* data, const uint8_t* ks, size_t len);

}  // namespace rl::avx512
