// The AES-CTR job walk of SRTP's SIMD tiers (simd/avx2/srtp_avx2,
// simd/avx512/srtp_avx512), written once: jobs with the same key next to
// each other are cut into chunks of consecutive counter blocks (one vector
// register each) and up to kMaxChunks chunks run their rounds together, so a
// burst of short packets keeps many blocks in flight instead of waiting for
// one packet's 10-14 dependent rounds. The tier supplies what differs: the
// vector width, its counter blocks and the kernel that runs a set of chunks.
// Only for tier files built with VAES (cmake/RlSimdFlags.cmake); everything
// here has internal linkage, so each tier gets a copy compiled with its own
// flags (as simd/sha1_shani.h).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include <openssl/mem.h>

#include "simd/srtp_jobs.h"

namespace rl::srtp_simd {
namespace {

// n bytes at p; n is the tier's chunk size except for a job's last chunk.
struct Chunk {
  uint8_t* p;
  uint32_t n;
};

// T, the tier:
//   V                     the vector type; kBytes (its width) = chunk size
//   kMaxChunks            chunks in flight
//   bcast(p)              the 16 bytes at p in every 128-bit lane
//   row(p)                the kBytes at p (aligned)
//   xor_(a, b)
//   Ctr{iv}.at(blk)       counter blocks blk, blk + 1, ... (mod 2^128) after
//                         iv, big-endian, one per lane
//   lo(v)                 lane 0 of v
//   flush(rk, rounds, ctr, ch, k)   ch[j] ^= E(ctr[j]) for j < k, ctr[j]
//                         already XORed with round key 0
template <class T>
__attribute__((always_inline)) inline void ctr_walk(const CtrJob* jobs, size_t n) {
  using V = typename T::V;
  constexpr uint32_t kBytes = sizeof(V);
  V ctr[T::kMaxChunks];
  Chunk ch[T::kMaxChunks];
  int k = 0;
  const uint8_t* cur_rk = nullptr;
  int cur_rounds = 0;
  for (size_t i = 0; i < n; ++i) {
    const CtrJob& j = jobs[i];
    if (j.len == 0) continue;
    if (k != 0 && j.rk != cur_rk) {
      T::flush(cur_rk, cur_rounds, ctr, ch, k);
      k = 0;
    }
    cur_rk = j.rk;
    cur_rounds = j.rounds;
    uint8_t* p = j.data;
    size_t left = j.len;
    auto push = [&](V c, uint32_t m) {  // one chunk of m bytes at p
      ctr[k] = c;
      ch[k] = Chunk{p, m};
      if (++k == T::kMaxChunks) {
        T::flush(cur_rk, cur_rounds, ctr, ch, k);
        k = 0;
      }
      p += m;
      left -= m;
    };
    const V k0 = T::bcast(j.rk);
    if (j.offset == 0 && (j.iv[14] | j.iv[15]) == 0 && left <= sizeof(kCtrTab.b)) {
      // The usual SRTP job: counter blocks from the table (srtp_jobs.h), the
      // IV and round key 0 XORed in once per job.
      const V iv = T::xor_(T::bcast(j.iv), k0);
      const uint8_t* row = kCtrTab.b[0];
      while (left != 0) {  // (push() advances p and left)
        push(T::xor_(iv, T::row(row)), left < kBytes ? static_cast<uint32_t>(left) : kBytes);
        row += kBytes;
      }
      continue;
    }
    // An offset (RFC 6904, cryptex) or low IV bits set: counters added in
    // 128 bits.
    const typename T::Ctr ctrs{j.iv};
    uint64_t blk = j.offset / 16;
    const unsigned skip = static_cast<unsigned>(j.offset % 16);
    if (skip != 0) {
      // Start inside a block: that block on its own, its tail used.
      __m128i x = T::lo(T::xor_(ctrs.at(blk), k0));
      for (int r = 1; r < j.rounds; ++r) {
        x = _mm_aesenc_si128(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(j.rk + 16 * r)));
      }
      x = _mm_aesenclast_si128(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(j.rk + 16 * j.rounds)));
      alignas(16) uint8_t ks[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(ks), x);
      const size_t take = left < 16 - skip ? left : 16 - skip;
      for (size_t t = 0; t < take; ++t) p[t] ^= ks[skip + t];
      OPENSSL_cleanse(ks, sizeof ks);
      p += take;
      left -= take;
      ++blk;
    }
    while (left != 0) {
      push(T::xor_(ctrs.at(blk), k0), left < kBytes ? static_cast<uint32_t>(left) : kBytes);
      blk += kBytes / 16;
    }
  }
  if (k != 0) T::flush(cur_rk, cur_rounds, ctr, ch, k);
}

}  // namespace
}  // namespace rl::srtp_simd
