// AES-CTR (SRTP's AES-CM, RFC 3711 §4.1.1) with VAES and HMAC-SHA1
// (RFC 2104, FIPS 180-4) with the SHA extensions, written from the algorithm
// descriptions and Intel's SHA-extensions documentation.
//
// AES-CTR: a packet's keystream is cut into 64-byte chunks (one ZMM = four
// counter blocks); up to eight chunks of consecutive jobs with the same key
// run their rounds together, so a burst of short packets keeps 32 blocks in
// flight instead of waiting for one packet's 10-14 dependent rounds. Tails use
// AVX-512BW byte masks: nothing is read or written beyond a packet.
//
// SHA-1 (simd/sha1_shani.h, shared with the avx2 tier): up to four SHA-NI
// streams in lockstep, one block each per step; the tail blocks (message
// tail, b, padding, length) are built here with AVX-512BW masked loads.
// Bursts of 16 or more tags instead run sixteen streams in the 32-bit lanes
// of ZMM registers (plain FIPS 180-4 rounds with VPROLD/VPTERNLOGD, blocks
// transposed on load); 32 tags of one block count run as two such groups
// side by side, since one group's rounds wait on their own latency.
//
// A lone packet (cm_hmac_seal1/open1) runs its keystream and its tag in one
// loop: the single SHA-1 stream waits on SHA1RNDS4 latency (about 40 ns a
// block here), and the next 64-byte keystream chunk is computed in that
// shadow, so the AES work costs almost nothing.
#include "simd/avx512/srtp_avx512.h"

// GCC 12's _mm512_broadcast_i32x4 passes an undefined vector as the merge
// source of an all-ones mask; the warning is about that header, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include <openssl/mem.h>

#include "simd/cpu.h"
#include "simd/sha1_shani.h"
#include "simd/srtp_ctr.h"


namespace rl::avx512 {

bool srtp_kernels_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx512f && f.avx512bw && f.avx512vl && f.vaes && f.aesni && f.sha;
}

// ---------------------------------------------------------------------------
// AES-CTR

namespace {

using srtp_simd::Chunk;  // 1..64 bytes

// Big-endian counter block for each 128-bit lane from a little-endian lane
// value (low qword = low 64 bits of the counter).
inline __m512i to_be(__m512i le) {
  const __m512i rev = _mm512_broadcast_i32x4(
      _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  return _mm512_shuffle_epi8(le, rev);
}

// Counter lanes base + idx + {0,1,2,3}, with the carry into the high qword.
inline __m512i counters(__m512i base_le, uint64_t idx) {
  const __m512i lane = _mm512_set_epi64(0, 3, 0, 2, 0, 1, 0, 0);
  const __m512i add = _mm512_add_epi64(lane, _mm512_maskz_set1_epi64(0x55, static_cast<long long>(idx)));
  __m512i c = _mm512_add_epi64(base_le, add);
  const __mmask8 carry = _mm512_mask_cmplt_epu64_mask(0x55, c, base_le);
  c = _mm512_mask_add_epi64(c, static_cast<__mmask8>(carry << 1), c, _mm512_set1_epi64(1));
  return c;
}

// ctr[j]: counter blocks already XORed with round key 0 (for the table path
// that is one XOR per job, not per chunk). The last round takes the data in
// its round key: AESENCLAST ends with XOR round key, so E(ctr) ^ data is
// AESENCLAST(x, k_last ^ data), one op fewer per chunk than XORing after.
template <int K>
inline void run_chunks(const uint8_t* rk, int rounds, const __m512i* ctr, const Chunk* ch) {
  __m512i x[K];
#pragma GCC unroll 8
  for (int j = 0; j < K; ++j) x[j] = ctr[j];
  for (int r = 1; r < rounds; ++r) {
    const __m512i k =
        _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rk + 16 * r)));
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) x[j] = _mm512_aesenc_epi128(x[j], k);
  }
  const __m512i kl =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rk + 16 * rounds)));
#pragma GCC unroll 8
  for (int j = 0; j < K; ++j) {
    if (ch[j].n == 64) {
      const __m512i d = _mm512_loadu_si512(ch[j].p);
      _mm512_storeu_si512(ch[j].p, _mm512_aesenclast_epi128(x[j], _mm512_xor_si512(kl, d)));
    } else {
      const __mmask64 m = (uint64_t{1} << ch[j].n) - 1;
      const __m512i d = _mm512_maskz_loadu_epi8(m, ch[j].p);
      _mm512_mask_storeu_epi8(ch[j].p, m, _mm512_aesenclast_epi128(x[j], _mm512_xor_si512(kl, d)));
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < K; ++j) x[j] = _mm512_setzero_si512();
}

inline __m512i round_key0(const uint8_t* rk) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rk)));
}

void flush(const uint8_t* rk, int rounds, const __m512i* ctr, const Chunk* ch, int k) {
  switch (k) {
    case 1: run_chunks<1>(rk, rounds, ctr, ch); break;
    case 2: run_chunks<2>(rk, rounds, ctr, ch); break;
    case 3: run_chunks<3>(rk, rounds, ctr, ch); break;
    case 4: run_chunks<4>(rk, rounds, ctr, ch); break;
    case 5: run_chunks<5>(rk, rounds, ctr, ch); break;
    case 6: run_chunks<6>(rk, rounds, ctr, ch); break;
    case 7: run_chunks<7>(rk, rounds, ctr, ch); break;
    case 8: run_chunks<8>(rk, rounds, ctr, ch); break;
    default: break;
  }
}

using srtp_simd::load_be64;

// 128-bit counter hi ‖ lo in every lane, little-endian (for counters()).
inline __m512i counter_base(const uint8_t* iv) {
  const uint64_t hi = load_be64(iv), lo = load_be64(iv + 8);
  return _mm512_set_epi64(static_cast<long long>(hi), static_cast<long long>(lo),
                          static_cast<long long>(hi), static_cast<long long>(lo),
                          static_cast<long long>(hi), static_cast<long long>(lo),
                          static_cast<long long>(hi), static_cast<long long>(lo));
}

// The tier for srtp_simd::ctr_walk (simd/srtp_ctr.h).
struct Ctr512 {
  using V = __m512i;
  static constexpr int kMaxChunks = 8;  // ZMMs in flight (32 blocks)
  static V bcast(const uint8_t* p) { return round_key0(p); }
  static V row(const uint8_t* p) { return _mm512_load_si512(p); }
  static V xor_(V a, V b) { return _mm512_xor_si512(a, b); }
  static __m128i lo(V v) { return _mm512_castsi512_si128(v); }
  struct Ctr {
    __m512i base;
    explicit Ctr(const uint8_t* iv) : base(counter_base(iv)) {}
    V at(uint64_t blk) const { return to_be(counters(base, blk)); }
  };
  static void flush(const uint8_t* rk, int rounds, const V* ctr, const Chunk* ch, int k) {
    avx512::flush(rk, rounds, ctr, ch, k);
  }
};

}  // namespace

void aes_ctr_xor(const CtrJob* jobs, size_t n) { srtp_simd::ctr_walk<Ctr512>(jobs, n); }

// ---------------------------------------------------------------------------
// HMAC-SHA1

namespace {

using sha1ni::Lane;

// Bursts of at least this many tags take the 16-lane path. Measured on the
// AMD EPYC (Zen 4) here, seal of 32 packets: 8.9 vs 8.6 Mpkt/s at 160 B and
// 2.54 vs 2.36 Mpkt/s at 1200 B for the 16-lane and the SHA-NI paths.
// Interleaving SHA-NI streams (or the AES-CTR rounds) into the 16-lane
// rounds was measured too, on the same Zen 4: one 16-lane block step 167 ns,
// four SHA-NI blocks 54 ns, both interleaved 219 ns, sixteen 4-block AES
// chunks 44 ns, interleaved with the step 212 ns: the sums, since SHA-NI,
// VAES and the vector ALU ops share the FP pipes there. So a burst's tags
// stay on one engine and the keystream runs as its own pass. (Re-measured
// after the 16-lane rounds got their 3-cycle chain: a 10-op SHA-1 round mix
// takes ~6 cycles, and two SHA1RNDS4 or two VAESENC added to it cost about
// as much again as on their own; VPROLD costs ~0.55 cycles there, an add or
// VPTERNLOGD ~0.43, a shift ~0.2, a 128-bit insert or broadcast from memory
// ~0.4, so neither shifts-for-rotates nor load-side transposes pay.)
constexpr size_t kX16Min = 16;

template <class L>
void lane_start(L& ln, const HmacJob* j) {
  ln.job = j;
  ln.step = 0;
  ln.ndirect = j->alen / 64;
  const size_t rest = j->alen % 64;
  const size_t tlen = rest + j->blen;
  ln.ntail = tlen + 9 <= 64 ? 1 : 2;
  // The one or two tail blocks are built in registers and written with one
  // full 64-byte store each, so that the block loads that follow are
  // forwarded from those stores instead of waiting on byte stores (this
  // runs once per packet). Masked loads touch only the bytes they keep; the
  // b bytes are loaded from addresses shifted so they land at `rest`.
  auto mask = [](size_t from, size_t to) -> __mmask64 {  // bits [from, to), to <= 64
    const __mmask64 hi = to >= 64 ? ~__mmask64{0} : (__mmask64{1} << to) - 1;
    return hi & ~((__mmask64{1} << from) - 1);
  };
  const uintptr_t bp = reinterpret_cast<uintptr_t>(j->b);
  __m512i t0 = _mm512_maskz_loadu_epi8(mask(0, rest), j->a + 64 * ln.ndirect);
  __m512i t1 = _mm512_setzero_si512();
  if (j->blen != 0) {
    t0 = _mm512_mask_loadu_epi8(t0, mask(rest, tlen < 64 ? tlen : 64),
                                reinterpret_cast<const void*>(bp - rest));
    if (tlen > 64) {
      t1 = _mm512_maskz_loadu_epi8(mask(0, tlen - 64), reinterpret_cast<const void*>(bp + (64 - rest)));
    }
  }
  const __m512i pad = _mm512_set1_epi8(static_cast<char>(0x80));
  if (tlen < 64) {
    t0 = _mm512_mask_mov_epi8(t0, __mmask64{1} << tlen, pad);
  } else {
    t1 = _mm512_mask_mov_epi8(t1, __mmask64{1} << (tlen - 64), pad);
  }
  // Message length in bits, the ipad block included (RFC 2104), big-endian
  // in the last 8 bytes of the last tail block.
  const uint64_t bits = (uint64_t{64} + j->alen + j->blen) * 8;
  const __m512i len = _mm512_set1_epi64(static_cast<long long>(__builtin_bswap64(bits)));
  if (ln.ntail == 1) {
    t0 = _mm512_mask_mov_epi64(t0, 0x80, len);
  } else {
    t1 = _mm512_mask_mov_epi64(t1, 0x80, len);
  }
  _mm512_store_si512(ln.tail, t0);
  _mm512_store_si512(ln.tail + 64, t1);
  t0 = _mm512_setzero_si512();
  t1 = _mm512_setzero_si512();
}

// ---- Sixteen streams in the 32-bit lanes of ZMM registers (FIPS 180-4 §6.1.2
// word by word, each lane its own message). Per block this costs about as
// many vector instructions as one SHA-NI block costs SHA instructions, but it
// hashes sixteen blocks at once, so bursts of many packets go this way.

// VPROLD; a macro because the count must be an immediate even at -O0.
#define RL_ROL(x, n) _mm512_rol_epi32((x), (n))

// w[t] (lane i = big-endian word t of lane i's block) from sixteen 64-byte blocks.
inline void load_transposed(const uint8_t* const* blk, __m512i* w) {
  __m512i r[16], a[16];
  const __m512i bs = _mm512_broadcast_i32x4(_mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3));
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = _mm512_shuffle_epi8(_mm512_loadu_si512(blk[i]), bs);
#pragma GCC unroll 16
  for (int k = 0; k < 8; ++k) {
    a[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
    a[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
  }
  // r[4k + j], 128-bit lane L: word 4L + j of rows 4k..4k+3.
#pragma GCC unroll 16
  for (int k = 0; k < 4; ++k) {
    r[4 * k + 0] = _mm512_unpacklo_epi64(a[4 * k], a[4 * k + 2]);
    r[4 * k + 1] = _mm512_unpackhi_epi64(a[4 * k], a[4 * k + 2]);
    r[4 * k + 2] = _mm512_unpacklo_epi64(a[4 * k + 1], a[4 * k + 3]);
    r[4 * k + 3] = _mm512_unpackhi_epi64(a[4 * k + 1], a[4 * k + 3]);
  }
  // 4x4 transpose of 128-bit lanes among r[j], r[4+j], r[8+j], r[12+j].
#pragma GCC unroll 16
  for (int j = 0; j < 4; ++j) {
    const __m512i y0 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x44);
    const __m512i y1 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xEE);
    const __m512i y2 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x44);
    const __m512i y3 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xEE);
    w[0 + j] = _mm512_shuffle_i32x4(y0, y2, 0x88);
    w[4 + j] = _mm512_shuffle_i32x4(y0, y2, 0xDD);
    w[8 + j] = _mm512_shuffle_i32x4(y1, y3, 0x88);
    w[12 + j] = _mm512_shuffle_i32x4(y1, y3, 0xDD);
  }
}

// The round's dependency chain is a -> {VPROLD a,5 (2 cycles latency on
// Zen 4); f(b, c, d) with b = a} -> add -> add: three cycles if the sum is
// formed as rol5(a) + (f + (e + (K + W))), where e, K and W are ready rounds
// ahead. Written as (rol5(a) + f) + (e + (K + W)), GCC emitted rol5(a) + f,
// + (e + W), + K: five cycles a round. The empty asm makes each partial sum
// opaque, so the order written is the order run.
//
// G groups of sixteen lanes run step by step side by side. On the Zen 5
// here one group is latency-bound: its 80 rounds alone take ~350 cycles
// (~4.4 a round, not the 3 above), the schedule hiding beneath them, while
// two groups take ~350 cycles for both. With the block loads, transposes and
// the message schedule of both, a 16-lane block measured 372 cycles alone and
// 267 in a pair. c = rol30(b) is formed before f(b, c, d) so that VPTERNLOGD,
// which overwrites its first operand, may take b's register without a copy,
// and the schedule's VPTERNLOGD overwrites w[t-16], which dies there.
#define RL_OPAQUE(x) __asm__("" : "+v"(x))
#define RL_SHA1_X16_ROUNDS(first, last, fimm, kval)                                           \
  _Pragma("GCC unroll 20") for (int t = (first); t <= (last); ++t) {                          \
    const __m512i k = _mm512_set1_epi32(static_cast<int>(kval));                              \
    __m512i x[G], c30[G];                                                                     \
    _Pragma("GCC unroll 2") for (int g = 0; g < G; ++g) {                                     \
      if (t >= 16) {                                                                          \
        /* w[t-3] last: it is the one computed most recently. */                             \
        w[g][t & 15] = RL_ROL(                                                                \
            _mm512_xor_si512(_mm512_ternarylogic_epi32(w[g][t & 15], w[g][(t - 8) & 15],     \
                                                       w[g][(t - 14) & 15], 0x96),            \
                             w[g][(t - 3) & 15]),                                             \
            1);                                                                               \
      }                                                                                       \
    }                                                                                         \
    _Pragma("GCC unroll 2") for (int g = 0; g < G; ++g) {                                     \
      x[g] = _mm512_add_epi32(e[g], _mm512_add_epi32(k, w[g][t & 15]));                       \
      RL_OPAQUE(x[g]);                                                                        \
    }                                                                                         \
    _Pragma("GCC unroll 2") for (int g = 0; g < G; ++g) c30[g] = RL_ROL(b[g], 30);            \
    _Pragma("GCC unroll 2") for (int g = 0; g < G; ++g) {                                     \
      x[g] = _mm512_add_epi32(_mm512_ternarylogic_epi32(b[g], c[g], d[g], fimm), x[g]);       \
      RL_OPAQUE(x[g]);                                                                        \
    }                                                                                         \
    _Pragma("GCC unroll 2") for (int g = 0; g < G; ++g) {                                     \
      x[g] = _mm512_add_epi32(RL_ROL(a[g], 5), x[g]);                                         \
      e[g] = d[g];                                                                            \
      d[g] = c[g];                                                                            \
      c[g] = c30[g];                                                                          \
      b[g] = a[g];                                                                            \
      a[g] = x[g];                                                                            \
    }                                                                                         \
  }

// One block for each lane of G groups; st[g][k] holds word k of the state
// of every lane of group g, w[g][t] word t of every lane's block
// (overwritten).
template <int G>
inline void sha1_x16_words(__m512i (*st)[5], __m512i (*w)[16]) {
  __m512i a[G], b[G], c[G], d[G], e[G];
  for (int g = 0; g < G; ++g) {
    a[g] = st[g][0];
    b[g] = st[g][1];
    c[g] = st[g][2];
    d[g] = st[g][3];
    e[g] = st[g][4];
  }
  // Ch = 0xCA, Parity = 0x96, Maj = 0xE8 as three-input truth tables.
  RL_SHA1_X16_ROUNDS(0, 19, 0xCA, 0x5a827999u)
  RL_SHA1_X16_ROUNDS(20, 39, 0x96, 0x6ed9eba1u)
  RL_SHA1_X16_ROUNDS(40, 59, 0xE8, 0x8f1bbcdcu)
  RL_SHA1_X16_ROUNDS(60, 79, 0x96, 0xca62c1d6u)
  for (int g = 0; g < G; ++g) {
    st[g][0] = _mm512_add_epi32(st[g][0], a[g]);
    st[g][1] = _mm512_add_epi32(st[g][1], b[g]);
    st[g][2] = _mm512_add_epi32(st[g][2], c[g]);
    st[g][3] = _mm512_add_epi32(st[g][3], d[g]);
    st[g][4] = _mm512_add_epi32(st[g][4], e[g]);
  }
}
#undef RL_SHA1_X16_ROUNDS
#undef RL_OPAQUE
#undef RL_ROL

template <int G>
void sha1_x16(__m512i (*st)[5], const uint8_t* const (*blk)[16]) {
  __m512i w[G][16];
  for (int g = 0; g < G; ++g) load_transposed(blk[g], w[g]);
  sha1_x16_words<G>(st, w);
}

struct LaneX16 {
  const HmacJob* job;
  size_t step, ndirect, ntail;
  alignas(64) uint8_t tail[128];
  alignas(64) uint8_t outer[64];
};


// Word k of the state of every lane from h[l] (five words each): one
// broadcast per word when all lanes share a key, as a burst's packets do.
inline void states_x16(__m512i* v, const uint32_t* const* h) {
  bool same = true;
  for (int l = 1; l < 16; ++l) same = same && h[l] == h[0];
  if (same) {
    for (int k = 0; k < 5; ++k) v[k] = _mm512_set1_epi32(static_cast<int>(h[0][k]));
    return;
  }
  for (int k = 0; k < 5; ++k) {
    alignas(64) uint32_t col[16];
    for (int l = 0; l < 16; ++l) col[l] = h[l][k];
    v[k] = _mm512_load_si512(col);
  }
}

// 16 * G jobs whose messages have the same number of blocks (a burst of
// equal-sized packets, the usual case): every lane is in the same phase at
// every step, so the steps run without the per-lane bookkeeping of
// hmac_sha1_x16_mixed (which lets lanes finish and refill at different
// steps). `lanes` (16 * G) is scratch for the tail blocks.
constexpr size_t kPfAhead = 4;  // blocks ahead of each lane's next one

// The outer block of every lane of a group as 32-bit words: inner digest ‖
// 0x80 ‖ 0… ‖ 672 (bits of 64 + 20 bytes), the digest words being the
// group's state as it stands, so the block is built in registers, not
// stored and reloaded.
inline void outer_words(const __m512i* digest, __m512i* w) {
  for (int k = 0; k < 5; ++k) w[k] = digest[k];
  w[5] = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  for (int k = 6; k < 15; ++k) w[k] = _mm512_setzero_si512();
  w[15] = _mm512_set1_epi32(672);
}

// Lane i's digest (word k at st[k][i]) to out as one 16-byte and one 4-byte
// store: callers read the tag back in 8- and 2-byte pieces, which forward
// from these but not from five separate 4-byte stores.
inline void put_digest(const uint32_t (&st)[5][16], int i, uint8_t* out) {
  const __m128i d = _mm_set_epi32(static_cast<int>(st[3][i]), static_cast<int>(st[2][i]),
                                  static_cast<int>(st[1][i]), static_cast<int>(st[0][i]));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                   _mm_shuffle_epi8(d, _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3)));
  const uint32_t e4 = __builtin_bswap32(st[4][i]);
  std::memcpy(out + 16, &e4, 4);
}
template <int G>
void hmac_sha1_wave(const HmacJob* j, LaneX16* lanes) {
  const uint32_t* h[G][16];
  const uint8_t* blk[G][16];
  for (int g = 0; g < G; ++g) {
    for (int l = 0; l < 16; ++l) {
      lane_start(lanes[16 * g + l], &j[16 * g + l]);
      h[g][l] = j[16 * g + l].inner;
      blk[g][l] = j[16 * g + l].a;
    }
  }
  __m512i v[G][5];
  for (int g = 0; g < G; ++g) states_x16(v[g], h[g]);
  const size_t nd = lanes[0].ndirect, nt = lanes[0].ntail;
  for (size_t s = 0; s < nd; ++s) {
    // 16 * G streams at once are more than the hardware prefetchers follow
    // when received packets come from L3 (open/srtp's ring of 1024 packets
    // reads from L3: this took 7680 -> 7481 ns per 32 x 1200 B; seal, from
    // L1, unchanged).
    if (s + kPfAhead < nd) {
      for (int g = 0; g < G; ++g) {
        for (int l = 0; l < 16; ++l) {
          _mm_prefetch(reinterpret_cast<const char*>(blk[g][l] + 64 * kPfAhead), _MM_HINT_T0);
        }
      }
    }
    sha1_x16<G>(v, blk);
    for (int g = 0; g < G; ++g) {
      for (int l = 0; l < 16; ++l) blk[g][l] += 64;
    }
  }
  for (size_t t = 0; t < nt; ++t) {
    for (int g = 0; g < G; ++g) {
      for (int l = 0; l < 16; ++l) blk[g][l] = lanes[16 * g + l].tail + 64 * t;
    }
    sha1_x16<G>(v, blk);
  }
  __m512i w[G][16];
  for (int g = 0; g < G; ++g) {
    outer_words(v[g], w[g]);
    for (int l = 0; l < 16; ++l) h[g][l] = j[16 * g + l].outer;
    states_x16(v[g], h[g]);
  }
  sha1_x16_words<G>(v, w);
  for (int g = 0; g < G; ++g) {
    for (int k = 0; k < 16; ++k) w[g][k] = _mm512_setzero_si512();
  }
  alignas(64) uint32_t st[5][16];
  for (int g = 0; g < G; ++g) {
    for (int k = 0; k < 5; ++k) _mm512_store_si512(st[k], v[g][k]);
    for (int l = 0; l < 16; ++l) put_digest(st, l, j[16 * g + l].out);
  }
  OPENSSL_cleanse(st, sizeof st);
}

// Whether jobs[0, n) have messages of the same block count, tails included.
inline bool same_blocks(const HmacJob* j, size_t n) {
  auto tails = [](const HmacJob& x) { return x.alen % 64 + x.blen + 9 <= 64 ? 1u : 2u; };
  const size_t nd = j[0].alen / 64;
  const unsigned nt = tails(j[0]);
  bool same = true;
  for (size_t l = 1; l < n; ++l) same = same && j[l].alen / 64 == nd && tails(j[l]) == nt;
  return same;
}

template <int G>
void hmac_sha1_x16_mixed(const HmacJob* jobs, size_t n);

// Whether jobs of mixed lengths go to two groups of lanes: when their mean
// block count is at least 0.55 of the longest. One group refills a lane as
// soon as its job is done; two groups have no lanes left to refill in a
// burst of 32, so a few long jobs among short ones keep a pair stepping for
// little work. Measured (32 tags, ns per tag, one group -> two): lengths
// 900-1212 B 167 -> 137, half 1212 B and half 172 B (mean 0.6) 179 -> 132,
// 8 x 1212 B then 24 x 172 B (0.39) 92 -> 117, one 16000 B among 172 B ones
// 839 -> 965.
inline bool pair_pays(const HmacJob* j, size_t n) {
  size_t sum = 0, most = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t b = (j[i].alen + j[i].blen + 9 + 63) / 64 + 1;  // inner blocks + outer
    sum += b;
    most = b > most ? b : most;
  }
  return 20 * sum >= 11 * n * most;
}

void hmac_sha1_x16(const HmacJob* jobs, size_t n) {
  size_t done = 0;
  if (same_blocks(jobs, 16)) {
    // Two groups of 16 side by side where 32 jobs agree (see the rounds).
    LaneX16 lanes[32];
    while (n - done >= 32 && same_blocks(jobs + done, 32)) {
      hmac_sha1_wave<2>(jobs + done, lanes);
      done += 32;
    }
    while (n - done >= 16 && same_blocks(jobs + done, 16)) {
      hmac_sha1_wave<1>(jobs + done, lanes);
      done += 16;
    }
    OPENSSL_cleanse(lanes, sizeof lanes);
  }
  if (done == n) return;
  if (n - done >= 32 && pair_pays(jobs + done, n - done)) {
    hmac_sha1_x16_mixed<2>(jobs + done, n - done);
  } else if (done == 0 || n - done >= kX16Min) {
    hmac_sha1_x16_mixed<1>(jobs + done, n - done);
  } else {
    hmac_sha1(jobs + done, n - done);
  }
}

// G groups of 16 lanes (see the rounds: two groups run in about the time of
// one), each lane taking the next job when its own finishes.
template <int G>
void hmac_sha1_x16_mixed(const HmacJob* jobs, size_t n) {
  constexpr int kL = 16 * G;
  static const uint8_t kZero[64] = {};
  LaneX16 lanes[kL];
  alignas(64) uint32_t st[G][5][16];
  bool live[kL] = {};
  const uint8_t* blk[G][16];
  auto block = [&blk](int l) -> const uint8_t*& { return blk[l >> 4][l & 15]; };
  size_t next = 0;
  int nlive = 0;
  // The state lives in v[]; st[] is its copy after each step, for reading
  // finished digests. Lanes are (re)loaded with masked broadcasts, so no
  // scalar store is ever read back as a vector.
  __m512i v[G][5];
  for (int g = 0; g < G; ++g) {
    for (int k = 0; k < 5; ++k) v[g][k] = _mm512_setzero_si512();
  }
  // New lane states are collected and merged just before the next block:
  // lanes of one key (the usual burst) take one masked broadcast per word.
  const uint32_t* pend_h[kL];
  uint32_t pend_mask[G] = {};
  auto set_state = [&](int l, const uint32_t* h) {
    pend_h[l] = h;
    pend_mask[l >> 4] |= 1u << (l & 15);
  };
  auto flush_state = [&]() {
    for (int g = 0; g < G; ++g) {
      const uint32_t pm = pend_mask[g];
      if (pm == 0) continue;
      const uint32_t* const* ph = pend_h + 16 * g;
      const uint32_t* h0 = ph[__builtin_ctz(pm)];
      bool same = true;
      for (uint32_t m = pm; m != 0; m &= m - 1) same = same && ph[__builtin_ctz(m)] == h0;
      if (same) {
        const __mmask16 mk = static_cast<__mmask16>(pm);
        for (int k = 0; k < 5; ++k) v[g][k] = _mm512_mask_set1_epi32(v[g][k], mk, static_cast<int>(h0[k]));
      } else {
        for (uint32_t m = pm; m != 0; m &= m - 1) {
          const int l = __builtin_ctz(m);
          const __mmask16 mk = static_cast<__mmask16>(1u << l);
          for (int k = 0; k < 5; ++k) {
            v[g][k] = _mm512_mask_set1_epi32(v[g][k], mk, static_cast<int>(ph[l][k]));
          }
        }
      }
      pend_mask[g] = 0;
    }
  };
  int glive[G] = {};  // live lanes per group
  auto refill = [&](int l) {
    live[l] = next < n;
    if (!live[l]) return;
    const HmacJob* j = &jobs[next];
    lane_start(lanes[l], j);
    set_state(l, j->inner);
    ++next;
    ++nlive;
    ++glive[l >> 4];
  };
  // Block steps run only the groups that have live lanes: a group whose
  // jobs are all done, with none left to refill it, drops out and the other
  // steps alone (a group costs ~70% of a pair). The group that steps alone,
  // or -1 for all of them:
  auto alone = [&]() -> int {
    if constexpr (G == 2) {
      if (glive[1] == 0) return 0;
      if (glive[0] == 0) return 1;
    }
    return -1;
  };
  auto step = [&]() {
    if (const int g = alone(); g >= 0) {
      sha1_x16<1>(&v[g], &blk[g]);
    } else {
      sha1_x16<G>(v, blk);
    }
  };
  for (int l = 0; l < kL; ++l) refill(l);
  while (nlive != 0) {
    // While every live lane is still inside its message (the bulk of a long
    // packet), run those blocks back to back: no per-lane phase branches and
    // no state copy per block, only pointer bumps (dead lanes stay on kZero).
    size_t run = ~size_t{0};
    for (int l = 0; l < kL; ++l) {
      if (!live[l]) continue;
      const size_t left = lanes[l].step < lanes[l].ndirect ? lanes[l].ndirect - lanes[l].step : 0;
      if (left < run) run = left;
    }
    if (run != 0) {
      size_t adv[kL];
      for (int l = 0; l < kL; ++l) {
        block(l) = live[l] ? lanes[l].job->a + 64 * lanes[l].step : kZero;
        adv[l] = live[l] ? 64 : 0;
      }
      flush_state();
      for (size_t r = 0; r < run; ++r) {
        step();
        for (int l = 0; l < kL; ++l) block(l) += adv[l];
      }
      for (int l = 0; l < kL; ++l) {
        if (live[l]) lanes[l].step += run;
      }
      continue;
    }
    bool all_outer = true;
    for (int l = 0; l < kL; ++l) {
      if (live[l] && lanes[l].step != lanes[l].ndirect + lanes[l].ntail) all_outer = false;
    }
    if (all_outer) {
      // Every live lane is at its outer block (outer_words).
      __m512i w[G][16];
      for (int g = 0; g < G; ++g) outer_words(v[g], w[g]);
      for (int l = 0; l < kL; ++l) {
        if (live[l]) set_state(l, lanes[l].job->outer);
      }
      flush_state();
      if (const int g = alone(); g >= 0) {
        sha1_x16_words<1>(&v[g], &w[g]);
      } else {
        sha1_x16_words<G>(v, w);
      }
      for (int g = 0; g < G; ++g) {
        for (int k = 0; k < 16; ++k) w[g][k] = _mm512_setzero_si512();
      }
    }
    for (int l = 0; l < kL && !all_outer; ++l) {
      if (!live[l]) {
        block(l) = kZero;
        continue;
      }
      LaneX16& ln = lanes[l];
      const size_t s = ln.step;
      if (s < ln.ndirect) {
        block(l) = ln.job->a + 64 * s;
      } else if (s < ln.ndirect + ln.ntail) {
        block(l) = ln.tail + 64 * (s - ln.ndirect);
      } else {
        std::memset(ln.outer, 0, sizeof ln.outer);
        for (int k = 0; k < 5; ++k) {
          const uint32_t be = __builtin_bswap32(st[l >> 4][k][l & 15]);
          std::memcpy(ln.outer + 4 * k, &be, 4);
        }
        ln.outer[20] = 0x80;
        ln.outer[62] = 0x02;
        ln.outer[63] = 0xA0;
        set_state(l, ln.job->outer);
        block(l) = ln.outer;
      }
    }
    if (!all_outer) {
      flush_state();
      step();
    }
    for (int g = 0; g < G; ++g) {
      for (int k = 0; k < 5; ++k) _mm512_store_si512(st[g][k], v[g][k]);
    }
    for (int l = 0; l < kL; ++l) {
      if (!live[l]) continue;
      LaneX16& ln = lanes[l];
      if (++ln.step < ln.ndirect + ln.ntail + 1) continue;
      put_digest(st[l >> 4], l & 15, ln.job->out);
      --nlive;
      --glive[l >> 4];
      refill(l);
    }
  }
  OPENSSL_cleanse(lanes, sizeof lanes);
  OPENSSL_cleanse(st, sizeof st);
}

}  // namespace

void hmac_sha1(const HmacJob* jobs, size_t n) {
  if (n >= kX16Min) {
    hmac_sha1_x16(jobs, n);
    return;
  }
  sha1ni::hmac_streams(jobs, n, [](Lane& ln, const HmacJob* j) { lane_start(ln, j); });
}

// ---------------------------------------------------------------------------
// One packet, keystream stitched with the tag

namespace {

// Keystream for payload bytes [at, at + n) (at a multiple of 64, n <= 64):
// XORed into p (kXor) or stored to p.
template <bool kXor>
inline void ctr_chunk(const uint8_t* rk, int rounds, __m512i base, size_t at, uint8_t* p,
                      uint32_t n) {
  __m512i x = _mm512_xor_si512(to_be(counters(base, at / 16)),
                               _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rk))));
  for (int r = 1; r < rounds; ++r) {
    x = _mm512_aesenc_epi128(
        x, _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rk + 16 * r))));
  }
  x = _mm512_aesenclast_epi128(
      x, _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rk + 16 * rounds))));
  const __mmask64 m = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
  if (kXor) x = _mm512_xor_si512(x, _mm512_maskz_loadu_epi8(m, p));
  _mm512_mask_storeu_epi8(p, m, x);
  x = _mm512_setzero_si512();
}

template <bool kSeal>
void cm_hmac_one(const CmHmacJob& j, uint8_t* ks) {
  const __m512i base = counter_base(j.iv);
  sha1ni::cm_hmac_one<kSeal>(
      j, ks,
      [&](size_t at, uint8_t* dst, uint32_t n) { ctr_chunk<kSeal>(j.rk, j.rounds, base, at, dst, n); },
      [](Lane& ln, const HmacJob* hj) { lane_start(ln, hj); });
}

}  // namespace

void cm_hmac_seal1(const CmHmacJob& j) { cm_hmac_one<true>(j, nullptr); }
void cm_hmac_open1(const CmHmacJob& j, uint8_t* ks) { cm_hmac_one<false>(j, ks); }

void xor_into(uint8_t* data, const uint8_t* ks, size_t len) {
  while (len != 0) {
    const size_t n = len < 64 ? len : 64;
    const __mmask64 m = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
    _mm512_mask_storeu_epi8(data, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, data),
                                                      _mm512_maskz_loadu_epi8(m, ks)));
    data += n;
    ks += n;
    len -= n;
  }
}

}  // namespace rl::avx512
