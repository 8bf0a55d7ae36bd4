// AES-GCM (NIST SP 800-38D) on 512-bit registers: VAES runs four counter
// blocks per ZMM, VPCLMULQDQ multiplies four GHASH blocks per ZMM.
//
// GHASH works in the byte-reflected domain (Intel's carry-less multiplication
// white paper): every block is byte-reversed so that a 128-bit little-endian
// integer holds the coefficient of x^0 in its top bit. A carry-less product of
// two such values is the field product shifted by one bit; instead of shifting
// every product we store H·x^-1 ("H<<1 mod P") once, and reduce the 256-bit
// product with two multiplications by the constant 0xC2000000_00000000 (the
// reflected, Montgomery-style reduction modulo x^128 + x^7 + x^2 + x + 1).
// Many blocks are multiplied by their own powers of H (up to H^36 are kept),
// summed unreduced and reduced once ("aggregated reduction"): one reduction
// per 512 bytes of bulk data, and one for a whole short packet (AAD, data and
// length block together). The 512-byte groups multiply with Karatsuba (three
// VPCLMULQDQ per ZMM; the lo^hi halves of H^1..H^32 are kept with the powers):
// on Zen 4 a 512-bit VPCLMULQDQ holds its pipe for two cycles and VAES shares
// those pipes, so the multiplication count is what bounds the stitched loop.
// (Measured there: VAES on ZMM 1 per cycle; VPCLMULQDQ one per 2 cycles at
// any width, so only ZMM products are worth issuing; eight VAES and three
// VPCLMULQDQ take 11 cycles. ZMM byte shuffles (VPSHUFB, VPERMB, VPERMQ,
// VSHUFI64X2) also take VAES slots, about half a cycle each; VPSHUFD, VPXOR
// and VPTERNLOG did not. The GHASH byte reflection costs ~3% at 16 KiB for
// that reason, and nothing measurable at 1350 bytes, where the loop is not
// bound by its pipes.)
//
// Paths: packets with AAD and data of at most 64 bytes run eight (or four) at
// a time with their AES rounds interleaved (small_n), with 65..192 bytes of
// data four at a time (two or three ZMMs of counters each); longer ones run alone
// (gcm_run) with a 512-byte main loop whose GHASH trails the AES by one chunk.
// Its GHASH multiplications are stitched into the AES rounds in program order
// (one ZMM of products after each round), so VAES and VPCLMULQDQ issue side
// by side instead of the rounds filling the scheduler first.
//
// Lengths that are not multiples of 16 or 64 use AVX-512BW byte masks: masked
// loads read nothing beyond the buffer and masked stores write nothing beyond it.
//
// Open: short packets are verified before anything is written; longer ones are
// authenticated while decrypting and, when the tag does not match, the same
// counter-mode pass runs again, which gives the bytes back as they arrived
// (DESIGN.md §3). Tags are compared without data-dependent branches (only the
// verdict is branched on); no memory index depends on key or data; lengths,
// nonces and counters are public and may steer branches.
#include "simd/avx512/aes_gcm_avx512.h"
#include "simd/mask_runs.h"

// GCC 12's AVX-512 headers build "undefined" vectors from self-initialised
// variables, which -Wuninitialized flags inside the headers' own inlines.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "simd/aes_schedule.h"
#include "simd/ghash128.h"
#include "simd/avx512/chacha20_poly1305_avx512.h"
#include "simd/backend.h"
#include "simd/cpu.h"

namespace rl::avx512 {
namespace {

// The GHASH helpers pass three-ZMM accumulators around: out of line they go
// through memory (and 512-bit store-to-load forwarding), so force them inline.
#define RL_INLINE inline __attribute__((always_inline))

constexpr size_t kPowers = 36;

struct alignas(64) GcmState {
  uint8_t rk[15][16];  // AES round keys, AES-NI byte order
  uint32_t rounds;     // 10 or 14
  uint32_t magic;      // kMagic once prepared
  uint8_t pad_[8];
  // hpow[i] = H^(36-i)·x^-1 in the reflected domain for i < 36; hpow[36..39]
  // are zero so that the last ZMM load of powers for a short group stays
  // inside the state (those lanes multiply zero blocks).
  alignas(64) uint8_t hpow[kPowers + 4][16];
  // Karatsuba halves for the 32-block groups (H^32..H^1): lane l of hk[m]
  // holds lo^hi of H^(32-8m-l)·x^-1 in its low qword and of H^(28-8m-l)·x^-1
  // in its high qword, so ZMM group 2m of a group uses the low qwords and
  // group 2m+1 the high ones (VPCLMULQDQ picks the qword by immediate).
  alignas(64) uint8_t hk[4][64];
  // The round keys again, each broadcast to 64 bytes: VAES can take a ZMM
  // round key straight from memory (see MemKeys).
  alignas(64) uint8_t bk[15][64];
};
static_assert(sizeof(GcmState) <= AeadKey::kBackendStateSize);
constexpr uint32_t kMagic = 0x67636d35u;

// ---- GF(2^128) in the reflected domain (one block: simd/ghash128.h) -------------

RL_INLINE __m128i xor_lanes(__m512i z) {
  const __m256i t = _mm256_xor_si256(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64(z, 1));
  return _mm_xor_si128(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

inline __m512i xor3(__m512i a, __m512i b, __m512i c) {
  return _mm512_ternarylogic_epi64(a, b, c, 0x96);
}

inline uint64_t byte_mask(size_t n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }
inline __m512i rev512() { return _mm512_broadcast_i32x4(rev128()); }

// Byte-masked load/store of n bytes (n may exceed 64: a whole ZMM); whole
// ZMMs use plain moves, which are cheaper than masked ones on some cores.
// Masked lanes are neither read nor written, so nothing past the buffer is touched.
inline __m512i load_n(const uint8_t* p, size_t n) {
  return n >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(byte_mask(n), p);
}
inline void store_n(uint8_t* p, size_t n, __m512i v) {
  if (n >= 64)
    _mm512_storeu_si512(p, v);
  else
    _mm512_mask_storeu_epi8(p, byte_mask(n), v);
}
inline size_t blocks(size_t n) { return (n + 15) / 16; }

// A job's 12-byte nonce with bytes 12..15 zeroed, from ONE plain 16-byte load:
// AeadJob keeps at least 4 bytes after `nonce` inside the job (checked here),
// and the protocols write the nonce with one 16-byte store (core/job_fill.h).
// A plain load contained in that store forwards from it; a masked load may
// not forward on Zen 4 and then waits for the store to reach the cache.
static_assert(offsetof(AeadJob, aad) >= offsetof(AeadJob, nonce) + 16,
              "a 16-byte nonce load must stay inside AeadJob");
inline __m128i load_nonce(const AeadJob& j) {
  return _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(j.nonce)), _mm_set_epi32(0, -1, -1, -1));
}

#if defined(__SANITIZE_ADDRESS__)
#define RL_GCM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RL_GCM_ASAN 1
#endif
#endif

// 1..16 bytes at p, zero-padded (a header as AAD). When the 16 bytes from p
// stay inside p's 4 KiB page, one plain load (which can forward from a wider
// or equal store just made) then zeroing in-register; otherwise (or under
// ASan, which would flag the harmless over-read) a masked load that touches
// nothing past the n bytes. The branch depends on the address only.
inline __m128i load_short(const uint8_t* p, size_t n) {
  const auto m = static_cast<__mmask16>(byte_mask(n));
#if !defined(RL_GCM_ASAN)
  if ((reinterpret_cast<uintptr_t>(p) & 4095) <= 4096 - 16)
    return _mm_maskz_mov_epi8(m, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
#endif
  return _mm_maskz_loadu_epi8(m, p);
}

// Aggregated GHASH: products of many blocks with their powers of H are summed
// unreduced and reduced once. A group whose first block is multiplied by H^P
// reads its powers from powers(s, P).
struct Acc {
  __m512i lo, hi, mid;
};
inline Acc acc_zero() { return {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()}; }
inline const uint8_t* powers(const GcmState& s, size_t p) { return s.hpow[kPowers - p]; }

// K ZMMs of reflected, zero-padded blocks times the powers at h.
template <int K>
RL_INLINE void acc_add(Acc& a, const __m512i* d, const uint8_t* h) {
  for (int i = 0; i < K; ++i) {
    const __m512i hp = _mm512_loadu_si512(h + 64 * i);
    a.lo = _mm512_xor_si512(a.lo, _mm512_clmulepi64_epi128(d[i], hp, 0x00));
    a.hi = _mm512_xor_si512(a.hi, _mm512_clmulepi64_epi128(d[i], hp, 0x11));
    a.mid = xor3(a.mid, _mm512_clmulepi64_epi128(d[i], hp, 0x01),
                 _mm512_clmulepi64_epi128(d[i], hp, 0x10));
  }
}

RL_INLINE void acc_add_block(Acc& a, __m128i d, __m128i h) {
  a.lo = _mm512_xor_si512(a.lo, _mm512_zextsi128_si512(_mm_clmulepi64_si128(d, h, 0x00)));
  a.hi = _mm512_xor_si512(a.hi, _mm512_zextsi128_si512(_mm_clmulepi64_si128(d, h, 0x11)));
  a.mid = _mm512_xor_si512(
      a.mid, _mm512_zextsi128_si512(_mm_xor_si128(_mm_clmulepi64_si128(d, h, 0x01),
                                                   _mm_clmulepi64_si128(d, h, 0x10))));
}

RL_INLINE __m128i acc_reduce(const Acc& a) {
  const __m512i lo = _mm512_xor_si512(a.lo, _mm512_bslli_epi128(a.mid, 8));
  const __m512i hi = _mm512_xor_si512(a.hi, _mm512_bsrli_epi128(a.mid, 8));
  return reduce(xor_lanes(lo), xor_lanes(hi));
}

// Lane l of the result = the sum of the four lanes of v[l] (a 4x4 transpose
// folded with XOR), so four packets' products reduce in one ZMM.
inline __m512i lane_sums(const __m512i* v) {
  const __m512i u = _mm512_xor_si512(_mm512_shuffle_i64x2(v[0], v[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_i64x2(v[0], v[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512i w = _mm512_xor_si512(_mm512_shuffle_i64x2(v[2], v[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_i64x2(v[2], v[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_xor_si512(_mm512_shuffle_i64x2(u, w, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i64x2(u, w, _MM_SHUFFLE(3, 1, 3, 1)));
}

// reduce() on four independent 256-bit values, one per lane.
inline __m512i reduce4(__m512i lo, __m512i hi) {
  const __m512i p = _mm512_broadcast_i32x4(poly());
  __m512i t = _mm512_clmulepi64_epi128(lo, p, 0x10);
  lo = _mm512_xor_si512(_mm512_shuffle_epi32(lo, _MM_PERM_BADC), t);
  t = _mm512_clmulepi64_epi128(lo, p, 0x10);
  return xor3(_mm512_shuffle_epi32(lo, _MM_PERM_BADC), t, hi);
}

// The running hash enters a group by being added to its first block.
inline __m512i with_x(__m512i d, __m128i x) { return _mm512_xor_si512(d, _mm512_zextsi128_si512(x)); }

// GHASH of 0 < len <= 64K bytes at p (zero-padded) into a, as a group whose
// first block gets H^P, with x added to that first block.
template <int K>
RL_INLINE void acc_bytes(Acc& a, const GcmState& s, const uint8_t* p, size_t len, size_t P, __m128i x) {
  __m512i d[K];
  for (int i = 0; i < K; ++i)
    d[i] = _mm512_shuffle_epi8(load_n(p + 64 * i, len - 64 * i), rev512());
  d[0] = with_x(d[0], x);
  acc_add<K>(a, d, powers(s, P));
}

RL_INLINE void acc_bytes_any(Acc& a, const GcmState& s, const uint8_t* p, size_t len, size_t P, __m128i x) {
  if (len <= 16) {  // one block (a TLS, DTLS or QUIC header as AAD): one XMM product
    const __m128i d = _mm_xor_si128(bswap(load_short(p, len)), x);
    return acc_add_block(a, d, _mm_load_si128(reinterpret_cast<const __m128i*>(powers(s, P))));
  }
  switch ((len + 63) / 64) {
    case 1: return acc_bytes<1>(a, s, p, len, P, x);
    case 2: return acc_bytes<2>(a, s, p, len, P, x);
    case 3: return acc_bytes<3>(a, s, p, len, P, x);
    case 4: return acc_bytes<4>(a, s, p, len, P, x);
    default: return;
  }
}

// Reduced GHASH of a byte string of any length (zero-padded), 256 bytes per reduction.
RL_INLINE __m128i ghash_bytes(const GcmState& s, __m128i x, const uint8_t* p, size_t len) {
  while (len > 0) {
    const size_t n = len < 256 ? len : 256;
    Acc a = acc_zero();
    acc_bytes_any(a, s, p, n, blocks(n), x);
    x = acc_reduce(a);
    p += n;
    len -= n;
  }
  return x;
}

enum class Mode { seal, open, ctr };

// The round keys as R + 1 ZMMs, broadcast once per packet: GCC keeps them in
// registers where it can.
template <int R>
struct RoundKeys {
  __m512i k[R + 1];
  explicit RoundKeys(const GcmState& s) {
    for (int i = 0; i <= R; ++i)
      k[i] = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(s.rk[i])));
  }
};

// The same keys read from the state's broadcast copies (GcmState::bk) at
// each use, as VAES memory operands: that leaves 11 or 15 ZMMs to the GHASH
// accumulators, the deferred tail and the data, where with the keys in
// registers GCC spills. Zen 4, core cycles per 1350-byte packet in bursts of
// 32: AES-128 seal 416 -> 400, AES-256 seal 491 -> 478 and open 460 -> 451;
// AES-128 open went the other way (4 KiB +2%), so it keeps RoundKeys.
template <int R>
struct MemKeys {
  const __m512i* k;
  explicit MemKeys(const GcmState& s) : k(reinterpret_cast<const __m512i*>(s.bk)) {}
};

// AES of K ZMMs that already hold block ^ round key 0 (see counters()).
template <int R, int K, class RK>
RL_INLINE void aes_zmm(const RK& rk, __m512i* b) {
  for (int r = 1; r < R; ++r)
    for (int i = 0; i < K; ++i) b[i] = _mm512_aesenc_epi128(b[i], rk.k[r]);
  for (int i = 0; i < K; ++i) b[i] = _mm512_aesenclast_epi128(b[i], rk.k[R]);
}

template <int R, class RK>
inline __m128i aes_block(const RK& rk, __m128i b) {
  b = _mm_xor_si128(b, _mm512_castsi512_si128(rk.k[0]));
  for (int r = 1; r < R; ++r) b = _mm_aesenc_si128(b, _mm512_castsi512_si128(rk.k[r]));
  return _mm_aesenclast_si128(b, _mm512_castsi512_si128(rk.k[R]));
}


// AES rounds on K ZMMs with other work stitched in: after round r (1 <= r <
// R) work(r - 1) runs. Interleaving the GHASH multiplications with the rounds
// in program order lets VAES and VPCLMULQDQ issue side by side; issued one
// after the other, the AES rounds fill the scheduler first and the GHASH of
// the group waits behind them. b holds block ^ round key 0 (see counters()).
template <int R, int K, class RK, class F>
RL_INLINE void aes_stitched(const RK& rk, __m512i* b, F&& work) {
#pragma GCC unroll 16
  for (int r = 1; r < R; ++r) {
    for (int i = 0; i < K; ++i) b[i] = _mm512_aesenc_epi128(b[i], rk.k[r]);
    work(r - 1);
  }
  for (int i = 0; i < K; ++i) b[i] = _mm512_aesenclast_epi128(b[i], rk.k[R]);
}

// Counter blocks, already XORed with round key 0 (AES's first step). Every
// group of the data starts at counter 2 + 32k, so its 32 counters are n =
// 32k + o for o = 2..33: for o < 32 that is (32k) XOR o, and for o = 32, 33
// it is 32(k+1) XOR (o - 32), since a multiple of 32 has its five low bits
// clear. So with X(m) = (counter block of m) ^ round key 0, block j of the
// group is X(32k) or X(32k + 32) with one byte XORed in: one XOR per ZMM,
// instead of an add for the counter and an XOR for the round key. The
// counters are public; nothing here depends on data.
struct Ctr {
  __m512i base;  // reflected block of counter 32k in every lane (the counter is the low dword)
  __m512i x;     // X(32k), wire byte order
};

inline Ctr ctr_start(__m128i nonce, __m512i rk0) {  // nonce: bytes 12..15 zero (counter 0)
  return {_mm512_broadcast_i32x4(bswap(nonce)), _mm512_xor_si512(_mm512_broadcast_i32x4(nonce), rk0)};
}

// Byte 15 (the counter's low byte) of block 4i+l of a group, l = lane: o mod 32.
inline __m512i ctr_offsets(int i) {
  auto o = [&](int l) { return ((2 + 4 * i + l) & 31) << 24; };
  return _mm512_set_epi32(o(3), 0, 0, 0, o(2), 0, 0, 0, o(1), 0, 0, 0, o(0), 0, 0, 0);
}

// The K ZMMs of the next group (K <= 8); c moves on by 32 blocks.
template <int K>
RL_INLINE void counters(Ctr& c, __m512i rk0, __m512i* b) {
  c.base = _mm512_add_epi32(c.base, _mm512_set_epi32(0, 0, 0, 32, 0, 0, 0, 32, 0, 0, 0, 32, 0, 0, 0, 32));
  const __m512i next = _mm512_xor_si512(_mm512_shuffle_epi8(c.base, rev512()), rk0);
  for (int i = 0; i < K; ++i) b[i] = _mm512_xor_si512(c.x, ctr_offsets(i));
  // Blocks 30 and 31 of a full group (lanes 2 and 3 of ZMM 7) are counters 32(k+1) + 0, 1.
  if constexpr (K == 8) b[7] = _mm512_mask_xor_epi64(b[7], 0xf0, next, ctr_offsets(7));
  c.x = next;
}

// 32-block groups multiply with Karatsuba: lo·lo, hi·hi and (lo^hi)·(lo^hi)
// (three VPCLMULQDQ per ZMM instead of four; on Zen 4 a 512-bit VPCLMULQDQ
// takes its pipe for two cycles and shares it with VAES). An accumulator in
// Karatsuba form holds mid' = mid ^ lo ^ hi; kara_enter/kara_leave convert.
RL_INLINE void kara_enter(Acc& a) { a.mid = xor3(a.mid, a.lo, a.hi); }
RL_INLINE void kara_leave(Acc& a) { a.mid = xor3(a.mid, a.lo, a.hi); }

// One ZMM (four blocks, index i of a 32-block group at q) of GHASH products,
// into an accumulator in Karatsuba form. Even i leave their products in e;
// odd i add both ZMMs' products with one three-way XOR per part.
RL_INLINE void hash_zmm(Acc& a, Acc& e, const GcmState& s, const uint8_t* q, int i, __m128i x) {
  __m512i d = _mm512_shuffle_epi8(_mm512_loadu_si512(q + 64 * i), rev512());
  if (i == 0) d = with_x(d, x);
  const __m512i hp = _mm512_load_si512(powers(s, 32) + 64 * i);
  const __m512i hk = _mm512_load_si512(s.hk[i / 2]);
  const __m512i dk = _mm512_xor_si512(d, _mm512_shuffle_epi32(d, _MM_PERM_BADC));
  const __m512i lo = _mm512_clmulepi64_epi128(d, hp, 0x00);
  const __m512i hi = _mm512_clmulepi64_epi128(d, hp, 0x11);
  if (i % 2 == 0) {
    e = {lo, hi, _mm512_clmulepi64_epi128(dk, hk, 0x00)};
  } else {
    a.lo = xor3(a.lo, e.lo, lo);
    a.hi = xor3(a.hi, e.hi, hi);
    a.mid = xor3(a.mid, e.mid, _mm512_clmulepi64_epi128(dk, hk, 0x10));
  }
}

// Seal of a burst of long packets defers each packet's last GHASH group to
// the next long packet: that group can only be hashed once its own AES pass
// is done, so at the end of its packet its products and reduction run with
// the AES pipes idle, while the next packet's first 512-byte pass (which on
// seal has no GHASH of its own) runs its AES rounds with the multiplier
// idle. The group's reflected ciphertext (running hash folded in), the
// length block (the rest of the packet's hash is already in x), E(K, J0)
// and where the tag goes wait here; the next packet multiplies them in its
// first pass's rounds and stores the tag. A run's last packet takes the
// plain path (seal_long_run).
//
// The next packet loads these right after they were stored (a few hundred
// instructions apart at most), so they go through memory as 256-bit halves:
// Zen 4 forwards a 256-bit store to a 256-bit load, while a 512-bit load
// from 512-bit stores still in flight waits until they commit.
struct alignas(64) SealTail {
  __m256i d[16];     // ZMM i as halves 2i (low) and 2i + 1
  __m128i lens, ekj0;
  const uint8_t* h;  // powers for d[0]
  const uint8_t* h1; // H^1
  uint8_t* tag;
  int k;             // ZMMs in d; 0: nothing pending
  __mmask16 tm;
  bool lens_in;      // the length block rides in a spare lane of d (see crypt_group)
};

// A pending tail of K ZMMs being finished: work(i) multiplies ZMM i of the
// group (a no-op past its end), done() reduces and stores the tag. K is a
// template argument: with a run-time bound per slot GCC keeps the
// accumulator in memory.
template <int K>
struct TailRun {
  Acc a;
  const SealTail& t;
  RL_INLINE explicit TailRun(const SealTail& tail) : a(acc_zero()), t(tail) {
    if (!t.lens_in) acc_add_block(a, t.lens, _mm_load_si128(reinterpret_cast<const __m128i*>(t.h1)));
  }
  RL_INLINE void work(int i) {
    if (i < K) {
      const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_load_si256(t.d + 2 * i)),
                                           _mm256_load_si256(t.d + 2 * i + 1), 1);
      acc_add<1>(a, &v, t.h + 64 * i);
    }
  }
  RL_INLINE void done() {
    _mm_mask_storeu_epi8(t.tag, t.tm, _mm_xor_si128(bswap(acc_reduce(a)), t.ekj0));
  }
};

template <int K>
void tail_finish_k(const SealTail& t) {
  TailRun<K> r(t);
  for (int i = 0; i < K; ++i) r.work(i);
  r.done();
}

inline void tail_finish(SealTail& t) {
  switch (t.k) {
    case 1: tail_finish_k<1>(t); break;
    case 2: tail_finish_k<2>(t); break;
    case 3: tail_finish_k<3>(t); break;
    case 4: tail_finish_k<4>(t); break;
    case 5: tail_finish_k<5>(t); break;
    case 6: tail_finish_k<6>(t); break;
    case 7: tail_finish_k<7>(t); break;
    case 8: tail_finish_k<8>(t); break;
    default: break;
  }
  t.k = 0;
}

// Counter mode over 0 < len <= 64K bytes at p (K <= 8), and the GHASH of its
// ciphertext (the input on open, the output on seal) into a as a group whose
// first block gets H^P, with x added to that first block. On seal with
// kPending, the 512 bytes of ciphertext at `pending` are hashed (and reduced
// into x) during this group's AES rounds first.
// Seal with kOut: the group's reflected ZMMs go to out->d for a later
// packet to multiply (SealTail) instead of into a.
// A packet's last group ends with the length block, whose power is H^1: the
// lane right after the last data block, where the powers from H^P reach H^1.
// When that lane is in the group's last ZMM (lens_lane: its four dword mask
// bits; 0 if the data fills that ZMM), the length block goes there and costs
// no products of its own, and nothing after the group's products but the
// reduction stands between them and the tag. On Zen 4 that took a burst of
// 32 x 1350-byte opens from 3727 to 3499 ns (AES-128) and 4482 to 4162
// (AES-256), AES-256 seal 4532 -> 4460; AES-128 seal (whose tail is finished
// in the next packet's first pass) did not change.
template <int R, Mode M, int K, bool kPending = false, bool kOut = false, class RK>
RL_INLINE __m128i crypt_group(const GcmState& s, const RK& rk, Ctr& ctr, uint8_t* p,
                        size_t len, Acc& a, size_t P, __m128i& x, __m128i lens, __mmask16 lens_lane,
                        const uint8_t* pending = nullptr, SealTail* out = nullptr, __m128i j0 = __m128i{},
                        bool j0_lane = false) {
  const __m512i rv = rev512();
  __m512i b[K], d[K];
  uint64_t m[K];
  counters<K>(ctr, rk.k[0], b);
  if (j0_lane)  // J0 in the last ZMM's lane 3, past the data (see gcm_run)
    b[K - 1] = _mm512_mask_broadcast_i32x4(b[K - 1], 0xf000, _mm_xor_si128(j0, _mm512_castsi512_si128(rk.k[0])));
  for (int i = 0; i < K; ++i) {
    m[i] = byte_mask(len - 64 * i);
    d[i] = load_n(p + 64 * i, len - 64 * i);
  }
  if constexpr (M == Mode::open) {
    // The input's GHASH rides along with the AES rounds.
    const uint8_t* h = powers(s, P);
    aes_stitched<R, K>(rk, b, [&](int i) {
      if (i < K) {
        __m512i t = _mm512_shuffle_epi8(d[i], rv);
        if (i == 0) t = with_x(t, x);
        if (i == K - 1) t = _mm512_mask_broadcast_i32x4(t, lens_lane, lens);
        acc_add<1>(a, &t, h + 64 * i);
      }
    });
  } else if constexpr (M == Mode::seal && kPending) {
    kara_enter(a);
    Acc e;
    aes_stitched<R, K>(rk, b, [&](int i) {
      if (i < 8) hash_zmm(a, e, s, pending, i, x);
    });
    kara_leave(a);
    x = acc_reduce(a);
    a = acc_zero();
  } else {
    aes_zmm<R, K>(rk, b);
  }
  const __m128i ekj0 = j0_lane ? _mm512_extracti32x4_epi32(b[K - 1], 3) : j0;
  for (int i = 0; i < K; ++i) {
    d[i] = _mm512_xor_si512(d[i], b[i]);
    if constexpr (M == Mode::seal) d[i] = _mm512_maskz_mov_epi8(m[i], d[i]);  // zero past the end
    store_n(p + 64 * i, len - 64 * i, d[i]);
  }
  if constexpr (M == Mode::seal) {
    for (int i = 0; i < K; ++i) d[i] = _mm512_shuffle_epi8(d[i], rv);
    d[0] = with_x(d[0], x);
    d[K - 1] = _mm512_mask_broadcast_i32x4(d[K - 1], lens_lane, lens);
    if constexpr (kOut) {
      for (int i = 0; i < K; ++i) {
        _mm256_store_si256(out->d + 2 * i, _mm512_castsi512_si256(d[i]));
        _mm256_store_si256(out->d + 2 * i + 1, _mm512_extracti64x4_epi64(d[i], 1));
      }
      out->k = K;
    } else {
      acc_add<K>(a, d, powers(s, P));
    }
  }
  return ekj0;
}

// 512 bytes of counter mode with no masks, and (kHash) the GHASH of a 512-byte
// group of ciphertext stitched into its AES rounds: on open this chunk's input,
// on seal the previous chunk's output at `pending` (so that the AES of this
// chunk does not wait for that hash nor the hash for this AES). The group goes
// on top of the products already in `seed` (the AAD, before the first group)
// and is reduced into x.
// With kPrev (and no kHash), an earlier packet's pending SealTail, if any,
// is multiplied in the rounds instead and its tag stored.
template <int R, Mode M, bool kHash, bool kPrev = false, class RK>
RL_INLINE void crypt512(const GcmState& s, const RK& rk, Ctr& ctr, uint8_t* p,
                     const uint8_t* pending, Acc& seed, __m128i& x, SealTail* prev = nullptr) {
  __m512i b[8];
  counters<8>(ctr, rk.k[0], b);
  const uint8_t* q = M == Mode::open ? p : pending;
  if constexpr (kHash) kara_enter(seed);
  Acc e;
  if constexpr (!kHash && kPrev) {
    auto with_tail = [&]<int KP>() {
      TailRun<KP> t(*prev);
      aes_stitched<R, 8>(rk, b, [&](int i) { t.work(i); });
      t.done();
    };
    switch (prev->k) {
      case 1: with_tail.template operator()<1>(); break;
      case 2: with_tail.template operator()<2>(); break;
      case 3: with_tail.template operator()<3>(); break;
      case 4: with_tail.template operator()<4>(); break;
      case 5: with_tail.template operator()<5>(); break;
      case 6: with_tail.template operator()<6>(); break;
      case 7: with_tail.template operator()<7>(); break;
      case 8: with_tail.template operator()<8>(); break;
      default: aes_zmm<R, 8>(rk, b); break;
    }
    prev->k = 0;
  } else {
    aes_stitched<R, 8>(rk, b, [&](int i) {
      if constexpr (kHash)
        if (i < 8) hash_zmm(seed, e, s, q, i, x);
    });
  }
  if constexpr (kHash) {
    kara_leave(seed);
    x = acc_reduce(seed);
    seed = acc_zero();
  }
  for (int i = 0; i < 8; ++i)
    _mm512_storeu_si512(p + 64 * i, _mm512_xor_si512(_mm512_loadu_si512(p + 64 * i), b[i]));
}

// crypt_group for a packet's last 1..512 bytes, with K = its number of ZMMs.
template <int R, Mode M, bool kPending, bool kOut, class RK>
RL_INLINE __m128i crypt_last(const GcmState& s, const RK& rk, Ctr& ctr, uint8_t* p, size_t len, Acc& a,
                          size_t P, __m128i& x, __m128i lens, __mmask16 lens_lane, const uint8_t* pending,
                          SealTail* out, __m128i j0, bool j0_lane) {
  switch ((len + 63) / 64) {
    case 1: return crypt_group<R, M, 1, kPending, kOut>(s, rk, ctr, p, len, a, P, x, lens, lens_lane, pending, out, j0, j0_lane);
    case 2: return crypt_group<R, M, 2, kPending, kOut>(s, rk, ctr, p, len, a, P, x, lens, lens_lane, pending, out, j0, j0_lane);
    case 3: return crypt_group<R, M, 3, kPending, kOut>(s, rk, ctr, p, len, a, P, x, lens, lens_lane, pending, out, j0, j0_lane);
    case 4: return crypt_group<R, M, 4, kPending, kOut>(s, rk, ctr, p, len, a, P, x, lens, lens_lane, pending, out, j0, j0_lane);
    case 5: return crypt_group<R, M, 5, kPending, kOut>(s, rk, ctr, p, len, a, P, x, lens, lens_lane, pending, out, j0, j0_lane);
    case 6: return crypt_group<R, M, 6, kPending, kOut>(s, rk, ctr, p, len, a, P, x, lens, lens_lane, pending, out, j0, j0_lane);
    case 7: return crypt_group<R, M, 7, kPending, kOut>(s, rk, ctr, p, len, a, P, x, lens, lens_lane, pending, out, j0, j0_lane);
    case 8: return crypt_group<R, M, 8, kPending, kOut>(s, rk, ctr, p, len, a, P, x, lens, lens_lane, pending, out, j0, j0_lane);
    default: return j0;
  }
}

// The whole GCM pass over one packet; returns the full 16-byte tag (seal and
// open) in wire byte order.
//
// GHASH groups: whole 512-byte chunks of data are one 32-block group each; the
// last 1..512 bytes and the length block form the final group. A short AAD
// joins the first group (or, for a short packet, the final group, so that the
// whole packet costs one reduction); a long one is hashed on its own first.
//
// kDefer (seal, len > 512): the last group is left in *tail (SealTail) and
// an earlier packet's tail is finished in the first pass; returns nothing.
template <int R, Mode M, bool kDefer = false>
__m128i gcm_run(const GcmState& s, __m128i nonce, const uint8_t* aad, size_t alen,
                uint8_t* data, size_t len, SealTail* tail = nullptr) {
  using RK = std::conditional_t<M == Mode::seal || (M == Mode::open && R == 14), MemKeys<R>, RoundKeys<R>>;
  const RK rk(s);
  // J0 = nonce || 0^31 || 1 (nonce from load_nonce: bytes 12..15 are zero).
  const __m128i j0 = _mm_or_si128(nonce, _mm_set_epi32(0x01000000, 0, 0, 0));
  // E(K, J0) for the tag. When the last group's last ZMM has data in fewer
  // than four lanes, J0 takes lane 3 there (crypt_group), and costs no AES
  // rounds of its own: R XMM rounds are half as many ZMM rounds' worth of
  // the VAES pipes. The last group holds the data's last 1..512 bytes.
  // Zen 4, bursts of 32 x 1350 B: open AES-256 -3%, AES-128 seal -1.3%,
  // AES-128 open -0.7%. AES-256 seal keeps its chain: with the lane its
  // 1350-byte row did not move and its 16 KiB rows (which never take the
  // lane) came out 1-3% slower, from GCC's code for gcm_run.
  const size_t last = len == 0 ? 0 : len - 512 * ((len - 1) / 512);
  const bool j0_lane = (M == Mode::open || (M == Mode::seal && R == 10)) && blocks(last) % 4 != 0;
  __m128i ekj0 = M == Mode::ctr ? _mm_setzero_si128() : j0_lane ? j0 : aes_block<R>(rk, j0);
  // Counter 2 onwards for the data (SP 800-38D §7.1 step 5).
  Ctr ctr = ctr_start(nonce, rk.k[0]);
  Acc acc = acc_zero();
  __m128i x = _mm_setzero_si128();
  if constexpr (M != Mode::ctr) {
    const size_t na = blocks(alen), nd = blocks(len);
    if (alen == 0) {
    } else if (alen <= 256 && len <= 512 && na + nd + 1 <= kPowers) {
      acc_bytes_any(acc, s, aad, alen, na + nd + 1, x);  // one group for the whole packet
    } else if (len > 512 && na + 32 <= kPowers) {
      acc_bytes_any(acc, s, aad, alen, na + 32, x);  // joins the first 512-byte group
    } else {
      x = ghash_bytes(s, x, aad, alen);
    }
  }
  uint8_t* p = data;
  size_t rem = len;
  const uint8_t* pending = nullptr;  // seal: the last full chunk, not hashed yet
  if (rem > 512) {
    constexpr bool kOpenHash = M == Mode::open;
    crypt512<R, M, kOpenHash, kDefer>(s, rk, ctr, p, nullptr, acc, x, tail);
    pending = p;
    p += 512;
    rem -= 512;
    while (rem > 512) {
      crypt512<R, M, M != Mode::ctr>(s, rk, ctr, p, pending, acc, x);
      pending = p;
      p += 512;
      rem -= 512;
    }
  }
  const size_t P = blocks(rem) + 1;
  __m128i lens = _mm_set_epi64x(static_cast<long long>(alen * 8), static_cast<long long>(len * 8));
  const __mmask16 lane =
      M != Mode::ctr && (P - 1) % 4 != 0 ? static_cast<__mmask16>(0xf << (4 * ((P - 1) % 4))) : 0;
  if constexpr (kDefer) {
    ekj0 = crypt_last<R, M, true, true>(s, rk, ctr, p, rem, acc, P, x, lens, lane, pending, tail, ekj0, j0_lane);
    // acc is empty here: the pending chunk was reduced into x.
    tail->lens = lens;
    tail->lens_in = lane != 0;
    tail->h1 = powers(s, 1);
    tail->h = powers(s, P);
    tail->ekj0 = ekj0;
    return x;
  } else if (M == Mode::seal && pending != nullptr) {
    ekj0 = crypt_last<R, M, true, false>(s, rk, ctr, p, rem, acc, P, x, lens, lane, pending, nullptr, ekj0, j0_lane);
  } else {
    ekj0 = crypt_last<R, M, false, false>(s, rk, ctr, p, rem, acc, P, x, lens, lane, nullptr, nullptr, ekj0, j0_lane);
  }
  if constexpr (M == Mode::ctr) return x;
  if (rem == 0) lens = _mm_xor_si128(lens, x);
  if (lane == 0) acc_add_block(acc, lens, _mm_load_si128(reinterpret_cast<const __m128i*>(powers(s, 1))));
  return _mm_xor_si128(bswap(acc_reduce(acc)), ekj0);
}

// The ChaCha20-Poly1305 kernels need AVX512-IFMA on top of the tier's features.
bool chacha_ifma() {
  static const bool ok = cpu_features().avx512ifma;
  return ok;
}

const GcmState* gcm_state(const AeadKey& k) {
  if (k.suite() == Suite::chacha20_poly1305) return nullptr;
  const auto* s = reinterpret_cast<const GcmState*>(k.backend_state());
  return s->magic == kMagic ? s : nullptr;
}

bool usable(const AeadJob& j) {
  return j.key != nullptr && j.key->valid() && (j.data.empty() || j.data.data() != nullptr) &&
         j.tag != nullptr;
}

Status refuse(const AeadJob& j) {
  return (j.key != nullptr && !j.key->valid()) ? Status::key_expired : Status::invalid_argument;
}

// SP 800-38D §5.2.1.1: plaintext at most 2^39 - 256 bits.
constexpr uint64_t kMaxGcmBytes = (uint64_t{1} << 36) - 32;

}  // namespace

void gcm_prepare(Suite suite, const uint8_t* key, uint8_t* state) {
  auto* s = reinterpret_cast<GcmState*>(state);
  std::memset(s, 0, sizeof *s);
  if (suite == Suite::chacha20_poly1305) return;
  const int rounds = aes_expand(key, suite == Suite::aes256_gcm ? 32 : 16, &s->rk[0][0]);
  if (rounds == 0) return;
  s->rounds = static_cast<uint32_t>(rounds);
  // H = E(K, 0^128), SP 800-38D §6.4.
  __m128i h = _mm_xor_si128(_mm_setzero_si128(), _mm_load_si128(reinterpret_cast<const __m128i*>(s->rk[0])));
  for (int r = 1; r < rounds; ++r)
    h = _mm_aesenc_si128(h, _mm_load_si128(reinterpret_cast<const __m128i*>(s->rk[r])));
  h = _mm_aesenclast_si128(h, _mm_load_si128(reinterpret_cast<const __m128i*>(s->rk[rounds])));
  store_powers(h, s->hpow, kPowers);
  for (int i = 0; i <= rounds; ++i)
    _mm512_store_si512(s->bk[i], _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(s->rk[i]))));
  for (int m = 0; m < 4; ++m)
    for (int l = 0; l < 4; ++l)
      for (int half = 0; half < 2; ++half) {
        const __m128i h1 = _mm_load_si128(reinterpret_cast<const __m128i*>(powers(*s, 32 - 8 * m - 4 * half - l)));
        const uint64_t k = static_cast<uint64_t>(_mm_cvtsi128_si64(h1)) ^
                           static_cast<uint64_t>(_mm_extract_epi64(h1, 1));
        std::memcpy(s->hk[m] + 16 * l + 8 * half, &k, 8);
      }
  s->magic = kMagic;
}

namespace {

// N short packets (AAD at most 64 bytes, data at most 64·D bytes each; keys
// may differ but have the same number of rounds) at once. Their AES rounds
// are interleaved so that the dependency chains overlap; when all N share one
// key their J0 blocks ride four to a ZMM as well. Each packet hashes AAD, data
// and length block as one group with one reduction. Open verifies before it
// writes anything, so a forged packet's bytes are never touched. D = 2 serves
// 65..128-byte data (a 64-byte payload with TLS 1.3's or DTLS 1.3's inner
// content type, ESP's trailer or an RFC 9146 CID record's), D = 3
// 129..192 bytes (an SRTP voice packet of 160 bytes, a short record): one at
// a time such a packet's seal costs ~1.35x and its open ~1.1x what they cost
// here. From 193 bytes on the one-at-a-time path is as fast or faster: D = 4
// measured the same on seal and 10% slower on open (whose GHASH is not
// stitched into the rounds here, as it is in gcm_run), D = 6 slower on both.
// (Zen 5; on Zen 4 again, D = 3 seal 16% and open 5-10% faster than one at a
// time at 160 bytes, D = 4 seal 0-5% and open 10-14% slower at 193..256.)
template <int R, Mode M, int N, bool kSameKey, int D = 1>
void small_n(AeadJob* const* job, const GcmState* const* st) {
  static_assert(N % 4 == 0 && D >= 1 && D <= 3);
  const __m512i rv = rev512();
  // Counters 2..13 differ from J0 only in the last byte: no carries, no shuffles.
  auto ctr_low = [](int c) {  // counters c..c+3, one per lane
    return _mm512_set_epi32((c + 3) << 24, 0, 0, 0, (c + 2) << 24, 0, 0, 0, (c + 1) << 24, 0, 0, 0, c << 24, 0, 0, 0);
  };
  const __m128i one = _mm_set_epi32(0x01000000, 0, 0, 0);
  auto rk = [&](int i, int r) {
    return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(st[kSameKey ? 0 : i]->rk[r])));
  };
  __m512i b[N][D];
  __m128i n[N];
  __m512i ez[N / 4];  // kSameKey: E(K, J0) of packet 4g+l in lane l of ez[g]
  __m128i ex[N];      // otherwise one XMM per packet
  for (int i = 0; i < N; ++i) {
    n[i] = load_nonce(*job[i]);
    for (int d = 0; d < D; ++d)
      b[i][d] = _mm512_xor_si512(_mm512_or_si512(_mm512_broadcast_i32x4(n[i]), ctr_low(2 + 4 * d)), rk(i, 0));
    if constexpr (!kSameKey) ex[i] = _mm_xor_si128(_mm_or_si128(n[i], one), _mm512_castsi512_si128(rk(i, 0)));
  }
  if constexpr (kSameKey) {
    for (int g = 0; g < N / 4; ++g) {
      __m512i z = _mm512_castsi128_si512(_mm_or_si128(n[4 * g], one));
      z = _mm512_inserti32x4(z, _mm_or_si128(n[4 * g + 1], one), 1);
      z = _mm512_inserti32x4(z, _mm_or_si128(n[4 * g + 2], one), 2);
      z = _mm512_inserti32x4(z, _mm_or_si128(n[4 * g + 3], one), 3);
      ez[g] = _mm512_xor_si512(z, rk(0, 0));
    }
  }
  for (int r = 1; r < R; ++r) {
    for (int i = 0; i < N; ++i) {
      const __m512i k = rk(i, r);
      for (int d = 0; d < D; ++d) b[i][d] = _mm512_aesenc_epi128(b[i][d], k);
      if constexpr (!kSameKey) ex[i] = _mm_aesenc_si128(ex[i], _mm512_castsi512_si128(k));
    }
    if constexpr (kSameKey)
      for (int g = 0; g < N / 4; ++g) ez[g] = _mm512_aesenc_epi128(ez[g], rk(0, r));
  }
  for (int i = 0; i < N; ++i) {
    const __m512i k = rk(i, R);
    for (int d = 0; d < D; ++d) b[i][d] = _mm512_aesenclast_epi128(b[i][d], k);
    if constexpr (!kSameKey) ex[i] = _mm_aesenclast_si128(ex[i], _mm512_castsi512_si128(k));
  }
  if constexpr (kSameKey) {
    for (int g = 0; g < N / 4; ++g) {
      ez[g] = _mm512_aesenclast_epi128(ez[g], rk(0, R));
      ex[4 * g] = _mm512_castsi512_si128(ez[g]);
      ex[4 * g + 1] = _mm512_extracti32x4_epi32(ez[g], 1);
      ex[4 * g + 2] = _mm512_extracti32x4_epi32(ez[g], 2);
      ex[4 * g + 3] = _mm512_extracti32x4_epi32(ez[g], 3);
    }
  }
  // Per packet: counter-mode data, and the reflected blocks it hashes.
  // (With D >= 2 every packet has more than 64·(D - 1) bytes: all but its
  // last ZMM are whole.)
  __m512i o[N][D], hr[N][D];
  for (int i = 0; i < N; ++i) {
    AeadJob& j = *job[i];
    for (int k = 0; k < D; ++k) {
      const size_t len = j.data.size() - 64 * k;
      uint8_t* p = j.data.data() + 64 * k;
      const __m512i d = load_n(p, len);
      o[i][k] = _mm512_maskz_mov_epi8(byte_mask(len), _mm512_xor_si512(d, b[i][k]));
      if constexpr (M == Mode::seal) store_n(p, len, o[i][k]);
      hr[i][k] = _mm512_shuffle_epi8(M == Mode::open ? d : o[i][k], rv);
    }
  }
  for (int g = 0; g < N / 4; ++g) {
    AeadJob* const* jg = job + 4 * g;
    const GcmState* const* sg = st + 4 * g;
    // Lane l of l4/h4: packet 4g+l's unreduced GHASH (AAD, data, length block).
    __m512i l4, h4;
    bool header_aad = true;
    for (int l = 0; l < 4; ++l) header_aad &= jg[l]->aad.size() <= 16;
    if (header_aad) {
      // The four packets side by side, one lane each: block k of every packet
      // in ZMM k (a 4x4 transpose), the AAD blocks in one ZMM, the length
      // blocks in another, each times per-lane powers of H. Six ZMM products
      // and one lane-wise sum replace a product per packet of each kind.
      constexpr int kA = 4 * D, kL = 4 * D + 1;  // v[kA]: AAD blocks, v[kL]: length blocks
      __m512i v[4 * D + 2];
      for (int k = 0; k < D; ++k) {
        const __m512i u0 = _mm512_shuffle_i64x2(hr[4 * g][k], hr[4 * g + 1][k], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i u1 = _mm512_shuffle_i64x2(hr[4 * g][k], hr[4 * g + 1][k], _MM_SHUFFLE(3, 2, 3, 2));
        const __m512i u2 = _mm512_shuffle_i64x2(hr[4 * g + 2][k], hr[4 * g + 3][k], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i u3 = _mm512_shuffle_i64x2(hr[4 * g + 2][k], hr[4 * g + 3][k], _MM_SHUFFLE(3, 2, 3, 2));
        v[4 * k + 0] = _mm512_shuffle_i64x2(u0, u2, _MM_SHUFFLE(2, 0, 2, 0));
        v[4 * k + 1] = _mm512_shuffle_i64x2(u0, u2, _MM_SHUFFLE(3, 1, 3, 1));
        v[4 * k + 2] = _mm512_shuffle_i64x2(u1, u3, _MM_SHUFFLE(2, 0, 2, 0));
        v[4 * k + 3] = _mm512_shuffle_i64x2(u1, u3, _MM_SHUFFLE(3, 1, 3, 1));
      }
      __m128i a[4];
      for (int l = 0; l < 4; ++l) {
        const size_t alen = jg[l]->aad.size();
        a[l] = alen == 0 ? _mm_setzero_si128() : load_short(jg[l]->aad.data(), alen);
      }
      v[kA] = _mm512_castsi128_si512(a[0]);
      v[kA] = _mm512_inserti32x4(v[kA], a[1], 1);
      v[kA] = _mm512_inserti32x4(v[kA], a[2], 2);
      v[kA] = _mm512_inserti32x4(v[kA], a[3], 3);
      v[kA] = _mm512_shuffle_epi8(v[kA], rv);
      auto bits = [&](int l, bool of_aad) {
        return static_cast<long long>((of_aad ? jg[l]->aad.size() : jg[l]->data.size()) * 8);
      };
      v[kL] = _mm512_set_epi64(bits(3, true), bits(3, false), bits(2, true), bits(2, false), bits(1, true),
                               bits(1, false), bits(0, true), bits(0, false));
      // Powers: row r_l = powers(s_l, nd_l + 2); its row 0 is the AAD
      // block's power H^(nd+2), row 1+k block k's H^(nd+1-k) (zero rows past
      // H^1 for blocks that are all padding: row 1+k is hpow[35 - nd + k],
      // within the 40 rows as k < 4D and nd >= 4D - 3 for D >= 2); the
      // length block takes H^1.
      const uint8_t* r[4];
      bool uniform = true;
      for (int l = 0; l < 4; ++l) {
        r[l] = powers(*sg[l], blocks(jg[l]->data.size()) + 2);
        uniform &= r[l] == r[0];
      }
      Acc acc = acc_zero();
      auto mul = [&](__m512i d, __m512i hp) {
        acc.lo = _mm512_xor_si512(acc.lo, _mm512_clmulepi64_epi128(d, hp, 0x00));
        acc.hi = _mm512_xor_si512(acc.hi, _mm512_clmulepi64_epi128(d, hp, 0x11));
        acc.mid = xor3(acc.mid, _mm512_clmulepi64_epi128(d, hp, 0x01), _mm512_clmulepi64_epi128(d, hp, 0x10));
      };
      auto row = [](const uint8_t* q, int k) { return _mm_load_si128(reinterpret_cast<const __m128i*>(q + 16 * k)); };
      if (uniform) {
        for (int k = 0; k < 4 * D; ++k) mul(v[k], _mm512_broadcast_i32x4(row(r[0], 1 + k)));
        mul(v[kA], _mm512_broadcast_i32x4(row(r[0], 0)));
        mul(v[kL], _mm512_broadcast_i32x4(row(powers(*sg[0], 1), 0)));
      } else {
        auto lanes = [&](const uint8_t* const* q, int k) {
          __m512i z = _mm512_castsi128_si512(row(q[0], k));
          z = _mm512_inserti32x4(z, row(q[1], k), 1);
          z = _mm512_inserti32x4(z, row(q[2], k), 2);
          return _mm512_inserti32x4(z, row(q[3], k), 3);
        };
        for (int k = 0; k < 4 * D; ++k) mul(v[k], lanes(r, 1 + k));
        mul(v[kA], lanes(r, 0));
        const uint8_t* h1[4] = {powers(*sg[0], 1), powers(*sg[1], 1), powers(*sg[2], 1), powers(*sg[3], 1)};
        mul(v[kL], lanes(h1, 0));
      }
      l4 = _mm512_xor_si512(acc.lo, _mm512_bslli_epi128(acc.mid, 8));
      h4 = _mm512_xor_si512(acc.hi, _mm512_bsrli_epi128(acc.mid, 8));
    } else {
      // Longer AAD: each packet's products summed within its ZMM, then the
      // four packets' lane sums side by side.
      __m512i lo[4], hi[4];
      for (int l = 0; l < 4; ++l) {
        const AeadJob& j = *jg[l];
        const GcmState& s = *sg[l];
        const size_t alen = j.aad.size(), len = j.data.size();
        const size_t na = blocks(alen), nd = blocks(len);
        Acc acc = acc_zero();
        if (alen != 0) acc_bytes_any(acc, s, j.aad.data(), alen, na + nd + 1, _mm_setzero_si128());
        if (len != 0) acc_add<D>(acc, hr[4 * g + l], powers(s, nd + 1));
        const __m128i lens = _mm_set_epi64x(static_cast<long long>(alen * 8), static_cast<long long>(len * 8));
        acc_add_block(acc, lens, _mm_load_si128(reinterpret_cast<const __m128i*>(powers(s, 1))));
        lo[l] = _mm512_xor_si512(acc.lo, _mm512_bslli_epi128(acc.mid, 8));
        hi[l] = _mm512_xor_si512(acc.hi, _mm512_bsrli_epi128(acc.mid, 8));
      }
      l4 = lane_sums(lo);
      h4 = lane_sums(hi);
    }
    __m512i e4;
    if constexpr (kSameKey) {
      e4 = ez[g];
    } else {
      e4 = _mm512_castsi128_si512(ex[4 * g]);
      e4 = _mm512_inserti32x4(e4, ex[4 * g + 1], 1);
      e4 = _mm512_inserti32x4(e4, ex[4 * g + 2], 2);
      e4 = _mm512_inserti32x4(e4, ex[4 * g + 3], 3);
    }
    const __m512i t4 = _mm512_xor_si512(_mm512_shuffle_epi8(reduce4(l4, h4), rv), e4);
    const __m128i t[4] = {_mm512_castsi512_si128(t4), _mm512_extracti32x4_epi32(t4, 1),
                          _mm512_extracti32x4_epi32(t4, 2), _mm512_extracti32x4_epi32(t4, 3)};
    for (int l = 0; l < 4; ++l) {
      AeadJob& j = *job[4 * g + l];
      const __mmask16 tm = static_cast<__mmask16>(byte_mask(j.key->tag_len()));
      if constexpr (M == Mode::seal) {
        _mm_mask_storeu_epi8(j.tag, tm, t[l]);
        j.status = Status::ok;
      } else {
        const __m128i diff = _mm_xor_si128(_mm_maskz_mov_epi8(tm, t[l]), _mm_maskz_loadu_epi8(tm, j.tag));
        if (_mm_testz_si128(diff, diff)) {
          for (int k = 0; k < D; ++k) store_n(j.data.data() + 64 * k, j.data.size() - 64 * k, o[4 * g + l][k]);
          j.status = Status::ok;
        } else {
          j.status = Status::auth_failed;
        }
      }
    }
  }
}

template <int R, Mode M, int N, int D = 1>
void small_group(AeadJob* const* job, const GcmState* const* st) {
  bool same = true;
  for (int i = 1; i < N; ++i) same &= st[i] == st[0];
  if (same)
    small_n<R, M, N, true, D>(job, st);
  else
    small_n<R, M, N, false, D>(job, st);
}

template <Mode M>
void one(AeadJob& j, const GcmState& s) {
  const __mmask16 tm = static_cast<__mmask16>(byte_mask(j.key->tag_len()));
  const bool r10 = s.rounds == 10;
  const __m128i nonce = load_nonce(j);
  if constexpr (M == Mode::seal) {
    const __m128i t =
        r10 ? gcm_run<10, Mode::seal>(s, nonce, j.aad.data(), j.aad.size(), j.data.data(), j.data.size())
            : gcm_run<14, Mode::seal>(s, nonce, j.aad.data(), j.aad.size(), j.data.data(), j.data.size());
    _mm_mask_storeu_epi8(j.tag, tm, t);
    j.status = Status::ok;
  } else {
    // The tag is read before the data is written: it may sit right after it.
    const __m128i want = _mm_maskz_loadu_epi8(tm, j.tag);
    const __m128i t =
        r10 ? gcm_run<10, Mode::open>(s, nonce, j.aad.data(), j.aad.size(), j.data.data(), j.data.size())
            : gcm_run<14, Mode::open>(s, nonce, j.aad.data(), j.aad.size(), j.data.data(), j.data.size());
    const __m128i diff = _mm_xor_si128(_mm_maskz_mov_epi8(tm, t), want);
    if (_mm_testz_si128(diff, diff)) {
      j.status = Status::ok;
      return;
    }
    // Forged or corrupted: apply the same keystream again to restore the bytes.
    if (r10)
      gcm_run<10, Mode::ctr>(s, nonce, nullptr, 0, j.data.data(), j.data.size());
    else
      gcm_run<14, Mode::ctr>(s, nonce, nullptr, 0, j.data.data(), j.data.size());
    j.status = Status::auth_failed;
  }
}

// Seal of a packet longer than 512 bytes whose last GHASH group and tag are
// left in t (SealTail), finishing the one t held before. AES-128 only: with
// AES-256's 15 broadcast round keys, the tail's accumulators and the AAD's
// products next to eight AES blocks, GCC spills round keys (1350-byte seal
// 360 -> 380 TSC per packet; hashing the AAD after the first pass, or
// broadcasting round keys from memory at each use, did not help). Measured
// again on Zen 4 (session 19): 1350-byte AES-256 seal 496 -> 521-531 core
// cycles per packet with the deferral; with the round keys as memory
// operands (MemKeys) 478 -> 475-476 at 0 mod 64 and 488 -> 490-493 at 16
// mod 64, so no gain worth a second tail path.
void seal_deferred(AeadJob& j, const GcmState& s, SealTail& t) {
  const __m128i nonce = load_nonce(j);
  gcm_run<10, Mode::seal, true>(s, nonce, j.aad.data(), j.aad.size(), j.data.data(), j.data.size(), &t);
  t.tag = j.tag;
  t.tm = static_cast<__mmask16>(byte_mask(j.key->tag_len()));
  j.status = Status::ok;
}

// An AES-128-GCM seal job over 512 bytes that passes run_jobs' checks.
bool long_aes128(const AeadJob& j) {
  if (!usable(j) || j.data.size() <= 512 || j.data.size() > kMaxGcmBytes || j.aad.size() > kMaxGcmBytes)
    return false;
  const GcmState* s = gcm_state(*j.key);
  return s != nullptr && s->rounds == 10;
}

// Seal of a run of long AES-128 jobs from j[0] (up to n): each but the last
// leaves its last GHASH group to the next (seal_deferred; a tail finished on
// its own costs more than the plain path, so a lone packet is not deferred).
// Out of line so that short bursts do not pay for the SealTail frame.
// Returns how many jobs it sealed.
__attribute__((noinline)) size_t seal_long_run(AeadJob* j, size_t n) {
  SealTail tail;
  tail.k = 0;
  size_t i = 0;
  for (; i < n && long_aes128(j[i]); ++i) {
    const GcmState& s = *gcm_state(*j[i].key);
    if (i + 1 < n && long_aes128(j[i + 1]))
      seal_deferred(j[i], s, tail);
    else
      one<Mode::seal>(j[i], s);
  }
  tail_finish(tail);
  return i;
}

// Four packets of 65..192 bytes of data through small_n with D = 2 or 3
// ZMMs each (`d`: D - 2), all with 10 rounds (r10) or all with 14.
template <Mode M>
void mid_group(int d, bool r10, AeadJob* const* job, const GcmState* const* st) {
  if (d == 0)
    r10 ? small_group<10, M, 4, 2>(job, st) : small_group<14, M, 4, 2>(job, st);
  else
    r10 ? small_group<10, M, 4, 3>(job, st) : small_group<14, M, 4, 3>(job, st);
}

// Runs a burst: short AES-GCM packets (data and AAD at most 64 bytes) go
// eight or four at a time through small_n, those with 65..192 bytes of data
// four at a time through small_n with two or three ZMMs each (one collection
// per size class), the rest one at a time;
// ChaCha20-Poly1305 goes to chacha20_poly1305_avx512.cc (or the portable
// backend on a CPU without IFMA).
template <Mode M>
void run_jobs(std::span<AeadJob> jobs) {
  constexpr int kGroup = 8;
  AeadJob* group[kGroup];
  const GcmState* gs[kGroup];
  int n = 0;
  // Leftovers: four at a time while possible, then one at a time.
  auto drain = [&] {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      if (gs[i]->rounds == 10)
        small_group<10, M, 4>(group + i, gs + i);
      else
        small_group<14, M, 4>(group + i, gs + i);
    }
    for (; i < n; ++i) one<M>(*group[i], *gs[i]);
    n = 0;
  };
  // 65..192 bytes of data: groups of four per class, D - 2 = 0 or 1
  // (leftovers one at a time).
  constexpr int kMidClasses = 2;
  AeadJob* mid[kMidClasses][4];
  const GcmState* ms[kMidClasses][4];
  int nm[kMidClasses] = {};
  auto drain_mid = [&](int d) {
    for (int i = 0; i < nm[d]; ++i) one<M>(*mid[d][i], *ms[d][i]);
    nm[d] = 0;
  };
  // ChaCha20-Poly1305 jobs are collected so that short ones share passes.
  constexpr size_t kChaCha = 16;
  AeadJob* cj[kChaCha];
  size_t cn = 0;
  auto flush_chacha = [&] {
    if constexpr (M == Mode::seal) chacha_seal_many(cj, cn);
    else chacha_open_many(cj, cn);
    cn = 0;
  };
  AeadJob* const end = jobs.data() + jobs.size();
  for (AeadJob* jp = jobs.data(); jp != end; ++jp) {
    AeadJob& j = *jp;
    if (!usable(j)) {
      j.status = refuse(j);
      continue;
    }
    const GcmState* s = gcm_state(*j.key);
    if (s == nullptr) {
      if (j.key->suite() == Suite::chacha20_poly1305 && chacha_ifma()) {
        cj[cn++] = &j;
        if (cn == kChaCha) flush_chacha();
      } else if constexpr (M == Mode::seal) {
        portable::seal({&j, 1});
      } else {
        portable::open({&j, 1});
      }
      continue;
    }
    if (j.data.size() > kMaxGcmBytes || j.aad.size() > kMaxGcmBytes) {
      j.status = Status::invalid_argument;
      continue;
    }
    if (j.data.size() > 64 && j.data.size() <= 192 && j.aad.size() <= 64) {
      const int d = static_cast<int>((j.data.size() - 1) / 64) - 1;  // D - 2
      if (nm[d] > 0 && ms[d][0]->rounds != s->rounds) drain_mid(d);
      mid[d][nm[d]] = &j;
      ms[d][nm[d]] = s;
      if (++nm[d] == 4) {
        mid_group<M>(d, s->rounds == 10, mid[d], ms[d]);
        nm[d] = 0;
      }
      continue;
    }
    if (j.data.size() > 64 || j.aad.size() > 64) {
      if constexpr (M == Mode::seal) {
        // Runs of long AES-128 packets (AES-256 keeps its 15 round keys in
        // registers only without the deferral).
        if (j.data.size() > 512 && s->rounds == 10 && jp + 1 != end && long_aes128(jp[1])) {
          jp += seal_long_run(jp, static_cast<size_t>(end - jp)) - 1;
          continue;
        }
      }
      one<M>(j, *s);
      continue;
    }
    if (n > 0 && gs[0]->rounds != s->rounds) drain();
    group[n] = &j;
    gs[n] = s;
    if (++n == kGroup) {
      if (s->rounds == 10)
        small_group<10, M, kGroup>(group, gs);
      else
        small_group<14, M, kGroup>(group, gs);
      n = 0;
    }
  }
  drain();
  for (int d = 0; d < kMidClasses; ++d) drain_mid(d);
  if (cn > 0) flush_chacha();
}

}  // namespace

void seal(std::span<AeadJob> jobs) { run_jobs<Mode::seal>(jobs); }
void open(std::span<AeadJob> jobs) { run_jobs<Mode::open>(jobs); }


namespace {

// Up to 4K samples under one key: four samples per ZMM, K ZMMs in flight.
// Spare lanes repeat the last sample; their results are not stored.
template <int R, int K>
inline void mask_run(MaskJob* m, size_t n) {
  const auto* rk = reinterpret_cast<const __m128i*>(m[0].key->simd_round_keys());
  auto sample = [&](int j) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(m[static_cast<size_t>(j) < n ? j : n - 1].sample));
  };
  __m512i b[K];
  for (int i = 0; i < K; ++i) {
    __m512i v = _mm512_castsi128_si512(sample(4 * i));
    v = _mm512_inserti32x4(v, sample(4 * i + 1), 1);
    v = _mm512_inserti32x4(v, sample(4 * i + 2), 2);
    b[i] = _mm512_inserti32x4(v, sample(4 * i + 3), 3);
  }
  __m512i k = _mm512_broadcast_i32x4(_mm_load_si128(rk));
  for (int i = 0; i < K; ++i) b[i] = _mm512_xor_si512(b[i], k);
  for (int r = 1; r < R; ++r) {
    k = _mm512_broadcast_i32x4(_mm_load_si128(rk + r));
    for (int i = 0; i < K; ++i) b[i] = _mm512_aesenc_epi128(b[i], k);
  }
  k = _mm512_broadcast_i32x4(_mm_load_si128(rk + R));
  for (int i = 0; i < K; ++i) b[i] = _mm512_aesenclast_epi128(b[i], k);
  for (int i = 0; i < K; ++i) {
    auto out = [&](int j) { return reinterpret_cast<__m128i*>(m[j].mask); };
    if (static_cast<size_t>(4 * i) < n) _mm_storeu_si128(out(4 * i), _mm512_castsi512_si128(b[i]));
    if (static_cast<size_t>(4 * i + 1) < n) _mm_storeu_si128(out(4 * i + 1), _mm512_extracti32x4_epi32(b[i], 1));
    if (static_cast<size_t>(4 * i + 2) < n) _mm_storeu_si128(out(4 * i + 2), _mm512_extracti32x4_epi32(b[i], 2));
    if (static_cast<size_t>(4 * i + 3) < n) _mm_storeu_si128(out(4 * i + 3), _mm512_extracti32x4_epi32(b[i], 3));
  }
}

template <int R>
void mask_same_key(MaskJob* m, size_t n) {
  switch ((n + 3) / 4) {
    case 1: return n == 1 ? simd_masks::aes_mask1<R>(m[0]) : mask_run<R, 1>(m, n);
    case 2: return mask_run<R, 2>(m, n);
    case 3: return mask_run<R, 3>(m, n);
    default: return mask_run<R, 4>(m, n);
  }
}

}  // namespace

// Runs of consecutive jobs under the same AES key (the usual case: one
// connection's packets) go 16 at a time through the wide kernel, runs under one
// ChaCha20 key through chacha_masks (16 per pass); anything else (unusable
// jobs) takes the portable path for that job.
void mask(std::span<MaskJob> jobs) {
  simd_masks::by_key_runs(
      jobs, chacha_ifma(), 16, [](MaskJob* m, size_t n) { chacha_masks(m, n); },
      [](MaskJob* m, size_t n) { m->key->simd_rounds() == 10 ? mask_same_key<10>(m, n) : mask_same_key<14>(m, n); },
      [](MaskJob& m) { portable::mask({&m, 1}); });
}

namespace {
// A ChaCha20-Poly1305 job with a ChaCha20 mask whose sample lies in its data.
bool chacha_joint(const AeadJob& j, const MaskJob& m) {
  const auto data = reinterpret_cast<uintptr_t>(j.data.data());
  const auto sample = reinterpret_cast<uintptr_t>(m.sample);
  return usable(j) && j.key->suite() == Suite::chacha20_poly1305 && chacha_ifma() && simd_masks::usable(m) &&
         m.key->suite() == Suite::chacha20_poly1305 && j.data.size() >= 16 && sample >= data &&
         sample - data <= j.data.size() - 16;
}

// One mask job: an AES key straight to its one-block kernel, anything else
// through mask().
void mask_one(MaskJob& m) {
  const int rounds = simd_masks::usable(m) && m.key->suite() != Suite::chacha20_poly1305 ? m.key->simd_rounds() : 0;
  if (rounds == 10)
    simd_masks::aes_mask1<10>(m);
  else if (rounds == 14)
    simd_masks::aes_mask1<14>(m);
  else
    mask({&m, 1});
}
}  // namespace

void seal_masked(AeadJob& j, MaskJob& m) {
  if (chacha_joint(j, m)) {
    chacha_seal_masked(j, m);
    return;
  }
  run_jobs<Mode::seal>({&j, 1});
  if (j.status == Status::ok) mask_one(m);
}

void open_masked(AeadJob& j, MaskJob& m) {
  if (chacha_joint(j, m)) {
    chacha_open_masked(j, m);
    return;
  }
  mask_one(m);
  run_jobs<Mode::open>({&j, 1});
}

}  // namespace rl::avx512
