// AES-CTR (SRTP's AES-CM, RFC 3711 §4.1.1) with VAES on YMM registers and
// HMAC-SHA1 (RFC 2104) with the SHA extensions, for CPUs without AVX-512.
//
// AES-CTR: a packet's keystream is cut into 32-byte chunks (one YMM = two
// counter blocks); up to kMaxChunks chunks of consecutive jobs with the same
// key run their rounds together, so a burst of short packets keeps 24 blocks
// in flight instead of waiting for one packet's 10-14 dependent rounds.
// AVX2 has no byte-masked loads or stores: a chunk's partial tail is XORed in
// 16/8/4/2/1-byte pieces (from the keystream register in the lone-packet
// kernel; from a 32-byte stack slot, wiped afterwards, in the burst kernel),
// so nothing beyond a packet is read or written.
//
// SHA-1: simd/sha1_shani.h (the same code the avx512 tier runs, compiled here
// with this tier's flags); the tail blocks are built with overlapping in-bounds
// loads instead of AVX-512 byte masks.
#include "simd/avx2/srtp_avx2.h"

#include <immintrin.h>

#include <cstring>

#include <openssl/mem.h>

#include "simd/cpu.h"
#include "simd/sha1_shani.h"
#include "simd/srtp_ctr.h"

namespace rl::avx2 {

bool srtp_kernels_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.os_ymm && f.vaes && f.aesni && f.sha;
}

namespace {

// ---------------------------------------------------------------------------
// Partial chunks

// p[0, n) ^= the first n bytes of ks, n < 32, one piece per set bit of n.
__attribute__((always_inline)) inline void xor_part(uint8_t* p, __m256i ks, uint32_t n) {
  __m128i v = _mm256_castsi256_si128(ks);
  if (n & 16) {
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_xor_si128(d, v));
    v = _mm256_extracti128_si256(ks, 1);
    p += 16;
  }
  if (n & 8) {
    uint64_t d;
    std::memcpy(&d, p, 8);
    d ^= static_cast<uint64_t>(_mm_cvtsi128_si64(v));
    std::memcpy(p, &d, 8);
    v = _mm_srli_si128(v, 8);
    p += 8;
  }
  if (n & 4) {
    uint32_t d;
    std::memcpy(&d, p, 4);
    d ^= static_cast<uint32_t>(_mm_cvtsi128_si32(v));
    std::memcpy(p, &d, 4);
    v = _mm_srli_si128(v, 4);
    p += 4;
  }
  if (n & 2) {
    uint16_t d;
    std::memcpy(&d, p, 2);
    d ^= static_cast<uint16_t>(_mm_cvtsi128_si32(v));
    std::memcpy(p, &d, 2);
    v = _mm_srli_si128(v, 2);
    p += 2;
  }
  if (n & 1) *p ^= static_cast<uint8_t>(_mm_cvtsi128_si32(v));
}

// ---------------------------------------------------------------------------
// AES-CTR

using srtp_simd::Chunk;  // 1..32 bytes

inline __m256i bcast_key(const uint8_t* rk) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rk)));
}

// p[0, n) ^= ks[0, n), n < 32, in pieces (one per set bit of n).
__attribute__((always_inline)) inline void xor_part_mem(uint8_t* p, const uint8_t* ks, size_t n) {
  if (n & 16) {
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i k = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ks));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_xor_si128(d, k));
    p += 16;
    ks += 16;
  }
  if (n & 8) {
    uint64_t d, k;
    std::memcpy(&d, p, 8);
    std::memcpy(&k, ks, 8);
    d ^= k;
    std::memcpy(p, &d, 8);
    p += 8;
    ks += 8;
  }
  if (n & 4) {
    uint32_t d, k;
    std::memcpy(&d, p, 4);
    std::memcpy(&k, ks, 4);
    d ^= k;
    std::memcpy(p, &d, 4);
    p += 4;
    ks += 4;
  }
  if (n & 2) {
    uint16_t d, k;
    std::memcpy(&d, p, 2);
    std::memcpy(&k, ks, 2);
    d = static_cast<uint16_t>(d ^ k);
    std::memcpy(p, &d, 2);
    p += 2;
    ks += 2;
  }
  if (n & 1) *p ^= *ks;
}

// ctr[j]: counter blocks already XORed with round key 0. The last round
// takes the data in its round key: AESENCLAST ends with XOR round key, so
// E(ctr) ^ data is AESENCLAST(x, k_last ^ data). A partial chunk's keystream
// is parked on the stack and applied after the loop: with the piecewise XOR
// inline among the K live registers, GCC spilled most of them inside the
// round loop (AVX2 has 16 YMM registers), halving the AES rate; so did a
// round loop with a run-time count, hence R (10 or 14) as a constant.
template <int K, int R>
inline void run_chunks(const uint8_t* rk, const __m256i* ctr, const Chunk* ch) {
  constexpr int rounds = R;
  __m256i x[K];
#pragma GCC unroll 12
  for (int j = 0; j < K; ++j) x[j] = ctr[j];
#pragma GCC unroll 14
  for (int r = 1; r < rounds; ++r) {
    const __m256i k = bcast_key(rk + 16 * r);
#pragma GCC unroll 12
    for (int j = 0; j < K; ++j) x[j] = _mm256_aesenc_epi128(x[j], k);
  }
  const __m256i kl = bcast_key(rk + 16 * rounds);
  alignas(32) uint8_t part[32];
  int partial = -1;  // at most one partial chunk per job, and jobs end a chunk
#pragma GCC unroll 12
  for (int j = 0; j < K; ++j) {
    if (ch[j].n == 32) {
      const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ch[j].p));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ch[j].p),
                          _mm256_aesenclast_epi128(x[j], _mm256_xor_si256(kl, d)));
    } else {
      if (partial >= 0) xor_part_mem(ch[partial].p, part, ch[partial].n);
      _mm256_store_si256(reinterpret_cast<__m256i*>(part), _mm256_aesenclast_epi128(x[j], kl));
      partial = j;
    }
  }
  if (partial >= 0) {
    xor_part_mem(ch[partial].p, part, ch[partial].n);
    _mm256_store_si256(reinterpret_cast<__m256i*>(part), _mm256_setzero_si256());
    __asm__ volatile("" : : "r"(part) : "memory");  // keep the wipe
  }
}

template <int R>
void flush_r(const uint8_t* rk, const __m256i* ctr, const Chunk* ch, int k) {
  switch (k) {
    case 1: run_chunks<1, R>(rk, ctr, ch); break;
    case 2: run_chunks<2, R>(rk, ctr, ch); break;
    case 3: run_chunks<3, R>(rk, ctr, ch); break;
    case 4: run_chunks<4, R>(rk, ctr, ch); break;
    case 5: run_chunks<5, R>(rk, ctr, ch); break;
    case 6: run_chunks<6, R>(rk, ctr, ch); break;
    case 7: run_chunks<7, R>(rk, ctr, ch); break;
    case 8: run_chunks<8, R>(rk, ctr, ch); break;
    case 9: run_chunks<9, R>(rk, ctr, ch); break;
    case 10: run_chunks<10, R>(rk, ctr, ch); break;
    case 11: run_chunks<11, R>(rk, ctr, ch); break;
    case 12: run_chunks<12, R>(rk, ctr, ch); break;
    default: break;
  }
}

void flush(const uint8_t* rk, int rounds, const __m256i* ctr, const Chunk* ch, int k) {
  if (rounds == 10) {
    flush_r<10>(rk, ctr, ch, k);
  } else {
    flush_r<14>(rk, ctr, ch, k);
  }
}

// The table of SRTP counter blocks (simd/srtp_jobs.h), read 32 bytes (two
// blocks) at a time; jobs with an offset or low IV bits set take the general
// path, which adds in 128 bits.
constexpr size_t kTabBytes = sizeof(srtp_simd::kCtrTab.b);
inline const uint8_t* tab() { return srtp_simd::kCtrTab.b[0]; }
using srtp_simd::load_be64;

// Counter blocks blk and blk + 1 (mod 2^128) after the IV hi ‖ lo, big-endian.
inline __m256i counters2(uint64_t hi, uint64_t lo, uint64_t blk) {
  const unsigned __int128 base = (static_cast<unsigned __int128>(hi) << 64) | lo;
  const unsigned __int128 c0 = base + blk, c1 = c0 + 1;
  return _mm256_set_epi64x(static_cast<long long>(__builtin_bswap64(static_cast<uint64_t>(c1))),
                           static_cast<long long>(__builtin_bswap64(static_cast<uint64_t>(c1 >> 64))),
                           static_cast<long long>(__builtin_bswap64(static_cast<uint64_t>(c0))),
                           static_cast<long long>(__builtin_bswap64(static_cast<uint64_t>(c0 >> 64))));
}

// The tier for srtp_simd::ctr_walk (simd/srtp_ctr.h).
struct Ctr256 {
  using V = __m256i;
  static constexpr int kMaxChunks = 12;  // YMMs in flight (24 blocks)
  static V bcast(const uint8_t* p) { return bcast_key(p); }
  static V row(const uint8_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
  static V xor_(V a, V b) { return _mm256_xor_si256(a, b); }
  static __m128i lo(V v) { return _mm256_castsi256_si128(v); }
  struct Ctr {
    uint64_t hi, lo;
    explicit Ctr(const uint8_t* iv) : hi(load_be64(iv)), lo(load_be64(iv + 8)) {}
    V at(uint64_t blk) const { return counters2(hi, lo, blk); }
  };
  static void flush(const uint8_t* rk, int rounds, const V* ctr, const Chunk* ch, int k) {
    avx2::flush(rk, rounds, ctr, ch, k);
  }
};

}  // namespace

void srtp_ctr_xor(const CtrJob* jobs, size_t n) { srtp_simd::ctr_walk<Ctr256>(jobs, n); }

// ---------------------------------------------------------------------------
// HMAC-SHA1

namespace {

using sha1ni::Lane;

// dst[0, n) = src[0, n) for n < 64 with in-bounds loads that may overlap
// (the bytes they both cover are equal), no call to memcpy.
__attribute__((always_inline)) inline void copy_small(uint8_t* dst, const uint8_t* src, size_t n) {
  if (n >= 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + n - 32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), a);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + n - 32), b);
  } else if (n >= 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + n - 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), a);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + n - 16), b);
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else if (n != 0) {
    const uint8_t a = src[0], b = src[n / 2], c = src[n - 1];
    dst[0] = a;
    dst[n / 2] = b;
    dst[n - 1] = c;
  }
}

// The one or two tail blocks of a stream: a's last alen % 64 bytes, b,
// 0x80, zeros, and the message length in bits with the ipad block counted
// (RFC 2104), big-endian in the last 8 bytes.
void lane_start(Lane& ln, const HmacJob* j) {
  ln.job = j;
  ln.step = 0;
  ln.ndirect = j->alen / 64;
  const size_t rest = j->alen % 64;
  const size_t tlen = rest + j->blen;
  ln.ntail = tlen + 9 <= 64 ? 1 : 2;
  const __m256i z = _mm256_setzero_si256();
  for (int i = 0; i < 4; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(ln.tail + 32 * i), z);
  copy_small(ln.tail, j->a + 64 * ln.ndirect, rest);
  copy_small(ln.tail + rest, j->b, j->blen);
  ln.tail[tlen] = 0x80;
  const uint64_t bits = __builtin_bswap64((uint64_t{64} + j->alen + j->blen) * 8);
  std::memcpy(ln.tail + 64 * ln.ntail - 8, &bits, 8);
}

}  // namespace

// Four SHA-NI streams, as on the avx512 tier, although four streams' state
// (six registers each) does not fit AVX2's 16 XMM registers and spills: two
// or three streams (no spills), six or eight were each slower here (Zen 4,
// 8 tags of 160 B: 4 streams 70 ns a tag, 3: 78, 2: 88, 6: 80, 8: 79; of
// 1200 B: 307, 355, 402, 354, 334 ns).
void srtp_hmac_sha1(const HmacJob* jobs, size_t n) { sha1ni::hmac_streams(jobs, n, lane_start); }

// ---------------------------------------------------------------------------
// One packet, keystream stitched with the tag

namespace {

template <bool kSeal>
void cm_hmac_one(const CmHmacJob& j, uint8_t* ks) {
  const size_t plen = j.mlen - j.hdr;
  const __m256i k0 = bcast_key(j.rk);
  const __m256i ivk = _mm256_xor_si256(
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(j.iv))), k0);
  const bool use_tab = (j.iv[14] | j.iv[15]) == 0 && plen <= kTabBytes;
  const uint64_t hi = load_be64(j.iv), lo = load_be64(j.iv + 8);
  // Keystream for payload bytes [at, at + n), at a multiple of 64: two YMMs.
  auto chunk = [&](size_t at, uint8_t* dst, uint32_t n) {
    __m256i x0, x1;
    if (use_tab) {
      x0 = _mm256_xor_si256(ivk, _mm256_load_si256(reinterpret_cast<const __m256i*>(tab() + at)));
      x1 = _mm256_xor_si256(ivk, _mm256_load_si256(reinterpret_cast<const __m256i*>(tab() + at + 32)));
    } else {
      x0 = _mm256_xor_si256(counters2(hi, lo, at / 16), k0);
      x1 = _mm256_xor_si256(counters2(hi, lo, at / 16 + 2), k0);
    }
    for (int r = 1; r < j.rounds; ++r) {
      const __m256i k = bcast_key(j.rk + 16 * r);
      x0 = _mm256_aesenc_epi128(x0, k);
      x1 = _mm256_aesenc_epi128(x1, k);
    }
    const __m256i kl = bcast_key(j.rk + 16 * j.rounds);
    x0 = _mm256_aesenclast_epi128(x0, kl);
    x1 = _mm256_aesenclast_epi128(x1, kl);
    if (!kSeal) {
      // ks has room for the payload rounded up to 64 bytes.
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), x0);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32), x1);
    } else if (n == 64) {
      const __m256i d0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst));
      const __m256i d1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + 32));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_xor_si256(d0, x0));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32), _mm256_xor_si256(d1, x1));
    } else if (n >= 32) {
      const __m256i d0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_xor_si256(d0, x0));
      if (n != 32) xor_part(dst + 32, x1, n - 32);
    } else {
      xor_part(dst, x0, n);
    }
    x0 = x1 = _mm256_setzero_si256();
  };
  sha1ni::cm_hmac_one<kSeal>(j, ks, chunk, lane_start);
}

}  // namespace

void srtp_cm_hmac_seal1(const CmHmacJob& j) { cm_hmac_one<true>(j, nullptr); }
void srtp_cm_hmac_open1(const CmHmacJob& j, uint8_t* ks) { cm_hmac_one<false>(j, ks); }

void srtp_xor_into(uint8_t* data, const uint8_t* ks, size_t len) {
  for (; len >= 32; data += 32, ks += 32, len -= 32) {
    const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data));
    const __m256i k = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ks));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(data), _mm256_xor_si256(d, k));
  }
  xor_part_mem(data, ks, len);
}

}  // namespace rl::avx2
