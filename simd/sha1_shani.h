// HMAC-SHA1 with the SHA extensions (RFC 2104, FIPS 180-4), shared by the
// avx2 and avx512 tiers' SRTP kernels. Only for tier files built with -msha
// and SSSE3/SSE4.1 or better (cmake/RlSimdFlags.cmake); each includer gets
// its own copy compiled with its own flags (everything here has internal
// linkage, so an AVX-512-encoded copy can never be picked for the avx2 tier).
//
// SHA-1: one 64-byte block is 20 groups of four rounds (SHA1RNDS4), the next
// group's E comes from SHA1NEXTE and the message schedule from SHA1MSG1 /
// XOR / SHA1MSG2. Each group depends on the previous one, so a single stream
// is latency bound; up to four streams (packets) run in lockstep, one block
// each per step, which fills the gaps. A stream's blocks are: the message
// blocks read in place, one or two tail blocks (message tail, b, padding,
// length) built by the tier (it knows how to load partial bytes), then the
// outer block (inner digest + padding) run from the precomputed outer state.
//
// A lone packet (cm_hmac_one) runs its keystream and its tag in one loop:
// the single SHA-1 stream waits on SHA1RNDS4 latency, and the next 64-byte
// keystream chunk is computed in that shadow, so the AES work costs almost
// nothing.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <openssl/mem.h>

#include "simd/srtp_jobs.h"

namespace rl::sha1ni {
namespace {

using srtp_simd::CmHmacJob;
using srtp_simd::HmacJob;

inline __m128i bswap_mask() {
  return _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// Four rounds of group g (0..19) for every lane; f = g / 5 selects the round
// function and constant (FIPS 180-4 §4.1.1, §4.2.1).
#define RL_SHA1_GROUP(g, f)                                                                  \
  _Pragma("GCC unroll 4") for (int l = 0; l < N; ++l) {                                      \
    if ((g) >= 4) {                                                                          \
      w[l][(g) % 4] = _mm_sha1msg2_epu32(                                                    \
          _mm_xor_si128(_mm_sha1msg1_epu32(w[l][(g) % 4], w[l][((g) + 1) % 4]),              \
                        w[l][((g) + 2) % 4]),                                                \
          w[l][((g) + 3) % 4]);                                                              \
    }                                                                                        \
    const __m128i ein = _mm_sha1nexte_epu32(prev[l], w[l][(g) % 4]);                         \
    prev[l] = a[l];                                                                          \
    a[l] = _mm_sha1rnds4_epu32(a[l], ein, f);                                                \
  }

// One block for each of N lanes. abcd holds A in its top dword (D in the
// lowest), e holds E in its top dword.
template <int N>
__attribute__((always_inline)) inline void sha1_step(__m128i* abcd, __m128i* e,
                                                    const uint8_t* const* blk) {
  const __m128i bs = bswap_mask();
  __m128i a[N], prev[N], w[N][4];
#pragma GCC unroll 4
  for (int l = 0; l < N; ++l) {
    a[l] = abcd[l];
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      w[l][t] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[l] + 16 * t)), bs);
    }
    prev[l] = a[l];
    a[l] = _mm_sha1rnds4_epu32(a[l], _mm_add_epi32(e[l], w[l][0]), 0);
  }
  RL_SHA1_GROUP(1, 0) RL_SHA1_GROUP(2, 0) RL_SHA1_GROUP(3, 0) RL_SHA1_GROUP(4, 0)
  RL_SHA1_GROUP(5, 1) RL_SHA1_GROUP(6, 1) RL_SHA1_GROUP(7, 1) RL_SHA1_GROUP(8, 1)
  RL_SHA1_GROUP(9, 1) RL_SHA1_GROUP(10, 2) RL_SHA1_GROUP(11, 2) RL_SHA1_GROUP(12, 2)
  RL_SHA1_GROUP(13, 2) RL_SHA1_GROUP(14, 2) RL_SHA1_GROUP(15, 3) RL_SHA1_GROUP(16, 3)
  RL_SHA1_GROUP(17, 3) RL_SHA1_GROUP(18, 3) RL_SHA1_GROUP(19, 3)
#pragma GCC unroll 4
  for (int l = 0; l < N; ++l) {
    e[l] = _mm_sha1nexte_epu32(prev[l], e[l]);
    abcd[l] = _mm_add_epi32(a[l], abcd[l]);
  }
}
#undef RL_SHA1_GROUP

inline __m128i load_abcd(const uint32_t* h) {
  return _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)), 0x1B);
}
inline __m128i load_e(const uint32_t* h) { return _mm_set_epi32(static_cast<int>(h[4]), 0, 0, 0); }

// Big-endian digest (20 bytes) from a lane's state.
inline void digest(__m128i abcd, __m128i e, uint8_t* out) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_shuffle_epi8(abcd, bswap_mask()));
  const uint32_t ev = __builtin_bswap32(static_cast<uint32_t>(_mm_extract_epi32(e, 3)));
  std::memcpy(out + 16, &ev, 4);
}

// A stream's blocks: ndirect read in place from job->a, ntail (1 or 2) from
// tail[], then the outer block. The tier's lane_start(Lane&, const HmacJob*)
// sets job, step = 0, ndirect = alen / 64, ntail, and fills tail[] with
// a[64 ndirect, alen) ‖ b ‖ 0x80 ‖ 0… ‖ the bit length of 64 + alen + blen.
struct Lane {
  const HmacJob* job;
  size_t step, ndirect, ntail;
  alignas(64) uint8_t tail[128];
  alignas(64) uint8_t outer[64];
};

// Outer hash block: inner digest ‖ 0x80 ‖ 0… ‖ length of 64 + 20 bytes (672 bits).
inline void outer_block(__m128i abcd, __m128i e, uint8_t* ob) {
  std::memset(ob, 0, 64);
  digest(abcd, e, ob);
  ob[20] = 0x80;
  ob[62] = 0x02;
  ob[63] = 0xA0;
}

// Up to four SHA-NI streams: a job starts in a free slot as soon as one
// finishes.
template <class Start>
__attribute__((always_inline)) inline void hmac_streams(const HmacJob* jobs, size_t n,
                                                        Start&& lane_start) {
  constexpr int kLanes = 4;
  Lane lanes[kLanes];
  __m128i abcd[kLanes], e[kLanes];
  const uint8_t* blk[kLanes];
  int nact = 0;
  size_t next = 0;
  auto refill = [&](int slot) -> bool {
    if (next == n) return false;
    lane_start(lanes[slot], &jobs[next]);
    abcd[slot] = load_abcd(jobs[next].inner);
    e[slot] = load_e(jobs[next].inner);
    ++next;
    return true;
  };
  while (nact < kLanes && refill(nact)) ++nact;
  while (nact != 0) {
    for (int l = 0; l < nact; ++l) {
      Lane& ln = lanes[l];
      const size_t s = ln.step;
      if (s < ln.ndirect) {
        blk[l] = ln.job->a + 64 * s;
      } else if (s < ln.ndirect + ln.ntail) {
        blk[l] = ln.tail + 64 * (s - ln.ndirect);
      } else {
        outer_block(abcd[l], e[l], ln.outer);
        abcd[l] = load_abcd(ln.job->outer);
        e[l] = load_e(ln.job->outer);
        blk[l] = ln.outer;
      }
    }
    switch (nact) {
      case 4: sha1_step<4>(abcd, e, blk); break;
      case 3: sha1_step<3>(abcd, e, blk); break;
      case 2: sha1_step<2>(abcd, e, blk); break;
      default: sha1_step<1>(abcd, e, blk); break;
    }
    for (int l = 0; l < nact;) {
      Lane& ln = lanes[l];
      if (++ln.step < ln.ndirect + ln.ntail + 1) {
        ++l;
        continue;
      }
      digest(abcd[l], e[l], ln.job->out);
      if (refill(l)) {
        ++l;
        continue;
      }
      // Close the gap: the last active lane moves into slot l.
      --nact;
      if (l != nact) {
        std::memcpy(static_cast<void*>(&lanes[l]), &lanes[nact], sizeof(Lane));
        abcd[l] = abcd[nact];
        e[l] = e[nact];
      }
    }
  }
  // The tail and outer blocks held message and inner-digest bytes.
  OPENSSL_cleanse(lanes, sizeof lanes);
}

// One packet, keystream stitched with the tag. chunk(at, dst, n) computes the
// keystream for payload bytes [at, at + n) (at a multiple of 64, 1 <= n <=
// 64) and, sealing, XORs it into dst = payload + at; opening, stores it to
// dst = ks + at. Sealing hashes ciphertext: block s needs its bytes encrypted
// first, and the next block's keystream runs while block s is hashed.
template <bool kSeal, class Chunk, class Start>
__attribute__((always_inline)) inline void cm_hmac_one(const CmHmacJob& j, uint8_t* ks,
                                                       Chunk&& chunk, Start&& lane_start) {
  uint8_t* const pay = j.msg + j.hdr;
  const size_t plen = j.mlen - j.hdr;
  size_t done = 0;  // payload bytes whose keystream is done
  // Keystream up to message byte `end` (whole 64-byte payload chunks).
  auto upto = [&](size_t end) {
    const size_t want = end > j.hdr ? (end - j.hdr < plen ? end - j.hdr : plen) : 0;
    while (done < want) {
      const uint32_t n = plen - done < 64 ? static_cast<uint32_t>(plen - done) : 64u;
      chunk(done, kSeal ? pay + done : ks + done, n);
      done += 64;
    }
  };
  __m128i abcd = load_abcd(j.inner), e = load_e(j.inner);
  const size_t ndirect = j.mlen / 64;
  upto(64);
  for (size_t s = 0; s < ndirect; ++s) {
    upto(64 * (s + 2));
    const uint8_t* blk = j.msg + 64 * s;
    sha1_step<1>(&abcd, &e, &blk);
  }
  upto(j.mlen);
  const HmacJob hj{j.inner, j.outer, j.msg, j.mlen, j.b, j.blen, j.out};
  Lane ln;
  lane_start(ln, &hj);
  for (size_t t = 0; t < ln.ntail; ++t) {
    const uint8_t* blk = ln.tail + 64 * t;
    sha1_step<1>(&abcd, &e, &blk);
  }
  outer_block(abcd, e, ln.outer);
  abcd = load_abcd(j.outer);
  e = load_e(j.outer);
  const uint8_t* ob = ln.outer;
  sha1_step<1>(&abcd, &e, &ob);
  digest(abcd, e, j.out);
  OPENSSL_cleanse(&ln, sizeof ln);
}

}  // namespace
}  // namespace rl::sha1ni
