// SRTP's two non-AEAD kernels on the AVX2 tier (CPUs with VAES and SHA-NI but
// no AVX-512: Zen 3, Intel client cores): AES counter mode with VAES on YMM
// (two blocks per register, several packets' blocks in flight together) and
// HMAC-SHA1 with the SHA extensions (up to four SHA-1 streams interleaved,
// the code of simd/sha1_shani.h that the avx512 tier runs too). Reached only
// through core/srtp_kernels.cc after the CPU check (srtp_kernels_supported());
// this header is plain C++.
#pragma once
#include <cstddef>
#include <cstdint>

#include "simd/srtp_jobs.h"

namespace rl::avx2 {

// True when this CPU/OS runs these kernels (AVX2 with OS YMM state, VAES,
// AES-NI, SHA).
bool srtp_kernels_supported();

using srtp_simd::CmHmacJob;
using srtp_simd::CtrJob;
using srtp_simd::HmacJob;
using srtp_simd::kHmacMaxB;

// Jobs sharing a key (same rk pointer) next to each other run their blocks
// together, up to 24 blocks in flight. Nothing outside each job's data is
// read or written; jobs' data must not overlap (a job's partial last chunk
// is XORed in after the other chunks in flight with it).
void srtp_ctr_xor(const CtrJob* jobs, size_t n);

// out = HMAC-SHA1 over a ‖ b for each job (blen <= kHmacMaxB).
void srtp_hmac_sha1(const HmacJob* jobs, size_t n);

// One packet, keystream and tag interleaved block by block (a lone SHA-1
// stream is latency bound; the AES work fills its gaps).
// Seal: payload ^= keystream, then the tag over the ciphertext.
void srtp_cm_hmac_seal1(const CmHmacJob& j);
// Open: the tag over msg as it is (nothing written to msg); the payload's
// keystream goes to ks (mlen - hdr bytes rounded up to 64 are written), for
// srtp_xor_into once the tag has been checked.
void srtp_cm_hmac_open1(const CmHmacJob& j, uint8_t* ks);
// data[0, len) ^= ks[0, len).
void srtp_xor_into(uint8_t* data, const uint8_t* ks, size_t len);

}  // namespace rl::avx2
