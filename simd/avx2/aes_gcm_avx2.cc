// AES-GCM (NIST SP 800-38D) on 256-bit registers: VAES runs two counter
// blocks per YMM, VPCLMULQDQ multiplies two GHASH blocks per YMM.
//
// GHASH works in the byte-reflected domain as in the AVX-512 tier (Intel's
// carry-less multiplication white paper): blocks are byte-reversed, the key
// stores H^i·x^-1 so a carry-less product needs no one-bit shift, and the
// 256-bit product is reduced by two multiplications by 0xC2000000_00000000.
// The key keeps H^1..H^17: a group of up to 16 blocks is multiplied by its
// own powers, summed unreduced and reduced once ("aggregated reduction"), so
// bulk data costs one reduction per 256 bytes and a short packet (AAD, data
// and length block together) one reduction in all.
//
// Bulk loop: 256 bytes (eight YMMs, sixteen blocks in flight) per step. The
// GHASH of a 256-byte group is stitched into the AES rounds in program order
// (one YMM of products after each round) so that VAES and VPCLMULQDQ issue
// side by side: on open the group being decrypted (its input), on seal the
// previous group's output, so neither waits for the other.
//
// AVX2 has no byte-masked loads and stores: a partial last YMM goes through a
// zero-padded 32-byte stack buffer, so nothing outside a buffer is read or
// written.
//
// Open decrypts while it authenticates; when the tag does not match, the same
// counter-mode pass runs again, which gives the bytes back as they arrived
// (DESIGN.md §3). Tags are compared without data-dependent branches (only the
// verdict is branched on); no memory index depends on key or data; lengths,
// nonces and counters are public and may steer branches.
#include "simd/avx2/aes_gcm_avx2.h"
#include "simd/mask_runs.h"

#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include <openssl/mem.h>

#include "simd/aes_schedule.h"
#include "simd/ghash128.h"
#include "simd/avx2/chacha20_poly1305_avx2.h"
#include "simd/avx2/load16.h"
#include "simd/backend.h"

namespace rl::avx2 {
namespace {

#define RL_INLINE inline __attribute__((always_inline))

// The last group of a packet holds up to 16 data blocks and the length block.
constexpr size_t kPowers = 17;

struct alignas(64) GcmState {
  // AES round keys (AES-NI byte order), each in both 128-bit lanes so that
  // VAESENC takes them as a memory operand.
  uint8_t rk[15][32];
  uint32_t rounds;  // 10 or 14
  uint32_t magic;   // kMagic once prepared
  uint8_t pad_[24];
  // hpow[i] = H^(17-i)·x^-1 (reflected) for i < 17; hpow[17..18] are zero so
  // that a YMM load of powers for a group's padding block stays inside.
  alignas(32) uint8_t hpow[kPowers + 2][16];
};
static_assert(sizeof(GcmState) <= kStateSize);
constexpr uint32_t kMagic = 0x67636d32u;

// ---- GF(2^128) in the reflected domain (one block: simd/ghash128.h) -------------

inline __m256i rev256() { return _mm256_broadcastsi128_si256(rev128()); }

inline size_t blocks(size_t n) { return (n + 15) / 16; }

// 0 <= n <= 16 bytes of v to p, nothing past them.
RL_INLINE void store16_part(uint8_t* p, size_t n, __m128i v) {
  uint64_t w = static_cast<uint64_t>(_mm_cvtsi128_si64(v));
  if (n >= 8) {
    std::memcpy(p, &w, 8);
    p += 8, n -= 8;
    w = static_cast<uint64_t>(_mm_extract_epi64(v, 1));
  }
  if (n >= 4) {
    const uint32_t h = static_cast<uint32_t>(w);
    std::memcpy(p, &h, 4);
    p += 4, n -= 4, w >>= 32;
  }
  for (; n > 0; --n, w >>= 8) *p++ = static_cast<uint8_t>(w);
}
// n < 32 bytes, zero padded.
RL_INLINE __m256i load_part(const uint8_t* p, size_t n) {
  if (n < 16) return _mm256_zextsi128_si256(load16_part(p, n));
  return _mm256_set_m128i(load16_part(p + 16, n - 16), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
RL_INLINE void store_part(uint8_t* p, size_t n, __m256i v) {
  if (n < 16) return store16_part(p, n, _mm256_castsi256_si128(v));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(v));
  store16_part(p + 16, n - 16, _mm256_extracti128_si256(v, 1));
}
RL_INLINE __m256i load_n(const uint8_t* p, size_t n) {
  return n >= 32 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)) : load_part(p, n);
}
RL_INLINE void store_n(uint8_t* p, size_t n, __m256i v) {
  if (n >= 32)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  else
    store_part(p, n, v);
}
// All ones in the first n bytes (n <= 32), zero after.
alignas(64) constexpr uint8_t kOnesThenZeros[64] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
RL_INLINE __m256i first_bytes(size_t n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kOnesThenZeros + 32 - (n < 32 ? n : 32)));
}

// Whether the first tl bytes of the computed tag t equal those of want,
// without a data-dependent branch before the verdict.
RL_INLINE bool tag_equal(__m128i t, __m128i want, size_t tl) {
  const __m128i diff = _mm_and_si128(_mm_xor_si128(t, want), _mm256_castsi256_si128(first_bytes(tl)));
  return _mm_testz_si128(diff, diff);
}

// Aggregated GHASH: products of many blocks with their powers of H are summed
// unreduced and reduced once. A group whose first block is multiplied by H^P
// reads its powers from powers(s, P) (lane 0 H^P, lane 1 H^(P-1), ...).
struct Acc {
  __m256i lo, hi, mid;
};
RL_INLINE Acc acc_zero() { return {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()}; }
inline const uint8_t* powers(const GcmState& s, size_t p) { return s.hpow[kPowers - p]; }

// One YMM of reflected blocks times the two powers at h.
RL_INLINE void acc_add(Acc& a, __m256i d, const uint8_t* h) {
  const __m256i hp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h));
  a.lo = _mm256_xor_si256(a.lo, _mm256_clmulepi64_epi128(d, hp, 0x00));
  a.hi = _mm256_xor_si256(a.hi, _mm256_clmulepi64_epi128(d, hp, 0x11));
  a.mid = _mm256_xor_si256(a.mid, _mm256_xor_si256(_mm256_clmulepi64_epi128(d, hp, 0x01),
                                                   _mm256_clmulepi64_epi128(d, hp, 0x10)));
}

RL_INLINE void acc_add_block(Acc& a, __m128i d, __m128i h) {
  a.lo = _mm256_xor_si256(a.lo, _mm256_zextsi128_si256(_mm_clmulepi64_si128(d, h, 0x00)));
  a.hi = _mm256_xor_si256(a.hi, _mm256_zextsi128_si256(_mm_clmulepi64_si128(d, h, 0x11)));
  a.mid = _mm256_xor_si256(a.mid, _mm256_zextsi128_si256(_mm_xor_si128(_mm_clmulepi64_si128(d, h, 0x01),
                                                                       _mm_clmulepi64_si128(d, h, 0x10))));
}

RL_INLINE __m128i acc_reduce(const Acc& a) {
  const __m256i lo = _mm256_xor_si256(a.lo, _mm256_slli_si256(a.mid, 8));
  const __m256i hi = _mm256_xor_si256(a.hi, _mm256_srli_si256(a.mid, 8));
  return reduce(_mm_xor_si128(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1)),
                _mm_xor_si128(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1)));
}

// The running hash enters a group by being added to its first block.
RL_INLINE __m256i with_x(__m256i d, __m128i x) { return _mm256_xor_si256(d, _mm256_zextsi128_si256(x)); }

// GHASH of 0 < len <= 256 bytes at p (zero-padded) into a, as a group whose
// first block gets H^P, with x added to that first block.
RL_INLINE void acc_bytes(Acc& a, const GcmState& s, const uint8_t* p, size_t len, size_t P, __m128i x) {
  if (len <= 16) {  // one block (a TLS, DTLS or QUIC header as AAD): one XMM product
    const __m128i d = _mm_xor_si128(bswap(load16_part(p, len)), x);
    return acc_add_block(a, d, _mm_load_si128(reinterpret_cast<const __m128i*>(powers(s, P))));
  }
  const __m256i rv = rev256();
  const uint8_t* h = powers(s, P);
  for (size_t i = 0; 32 * i < len; ++i) {
    __m256i d = _mm256_shuffle_epi8(load_n(p + 32 * i, len - 32 * i), rv);
    if (i == 0) d = with_x(d, x);
    acc_add(a, d, h + 32 * i);
  }
}

// Reduced GHASH of a byte string of any length (zero-padded), 256 bytes per reduction.
__m128i ghash_bytes(const GcmState& s, __m128i x, const uint8_t* p, size_t len) {
  while (len > 0) {
    const size_t n = len < 256 ? len : 256;
    Acc a = acc_zero();
    acc_bytes(a, s, p, n, blocks(n), x);
    x = acc_reduce(a);
    p += n;
    len -= n;
  }
  return x;
}

enum class Mode { seal, open, ctr };

RL_INLINE __m256i rk256(const GcmState& s, int r) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(s.rk[r]));
}
RL_INLINE __m128i rk128(const GcmState& s, int r) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(s.rk[r]));
}

template <int R>
inline __m128i aes_block(const GcmState& s, __m128i b) {
  b = _mm_xor_si128(b, rk128(s, 0));
  for (int r = 1; r < R; ++r) b = _mm_aesenc_si128(b, rk128(s, r));
  return _mm_aesenclast_si128(b, rk128(s, R));
}

// AES rounds on K YMMs with other work stitched in: after round r (1 <= r <
// R) work(r - 1) runs, so VAES and VPCLMULQDQ work interleave in program order.
template <int R, int K, class F>
RL_INLINE void aes_stitched(const GcmState& s, __m256i* b, F&& work) {
  const __m256i k0 = rk256(s, 0);
  for (int i = 0; i < K; ++i) b[i] = _mm256_xor_si256(b[i], k0);
#pragma GCC unroll 16
  for (int r = 1; r < R; ++r) {
    const __m256i k = rk256(s, r);
    for (int i = 0; i < K; ++i) b[i] = _mm256_aesenc_epi128(b[i], k);
    work(r - 1);
  }
  const __m256i kl = rk256(s, R);
  for (int i = 0; i < K; ++i) b[i] = _mm256_aesenclast_epi128(b[i], kl);
}

// Counter blocks are kept reflected so the 32-bit big-endian counter is the
// low dword of each lane (inc32 of SP 800-38D §6.2 is a lane-wise add).
template <int K>
RL_INLINE void counters(__m256i& ctr, __m256i* b) {
  const __m256i rv = rev256();
  const __m256i inc2 = _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 2);
  for (int i = 0; i < K; ++i) {
    b[i] = _mm256_shuffle_epi8(ctr, rv);
    ctr = _mm256_add_epi32(ctr, inc2);
  }
}

// One YMM (two blocks, index i of a 16-block group at q) of GHASH products.
RL_INLINE void hash_ymm(Acc& a, const uint8_t* q, int i, const uint8_t* h, __m128i x) {
  __m256i d = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * i)), rev256());
  if (i == 0) d = with_x(d, x);
  acc_add(a, d, h + 32 * i);
}

// 256 bytes of counter mode, and (kHash) the GHASH of a 256-byte group at q
// (this chunk's input on open, the previous chunk's output on seal) stitched
// into its rounds and reduced into x.
template <int R, Mode M, bool kHash>
RL_INLINE void crypt256(const GcmState& s, __m256i& ctr, uint8_t* p, const uint8_t* q, __m128i& x) {
  __m256i b[8];
  counters<8>(ctr, b);
  Acc a = acc_zero();
  const uint8_t* h = powers(s, 16);
  aes_stitched<R, 8>(s, b, [&](int i) {
    if constexpr (kHash)
      if (i < 8) hash_ymm(a, q, i, h, x);
  });
  if constexpr (kHash) x = acc_reduce(a);
  for (int i = 0; i < 8; ++i) {
    auto* v = reinterpret_cast<__m256i*>(p + 32 * i);
    _mm256_storeu_si256(v, _mm256_xor_si256(_mm256_loadu_si256(v), b[i]));
  }
}

// The last 0 < len <= 256 bytes (K = ceil(len/32) YMMs) as one GHASH group
// whose first block gets H^P, with x added to it, into a (not reduced). On
// seal with `pending`, the 256 bytes of ciphertext there are hashed (and
// reduced into x) inside this group's AES rounds first. `lens` is XORed into
// the last YMM: the length block in its upper lane when the data leaves that
// lane empty (its power there is H^1), else zero (as in the avx512 tier).
template <int R, Mode M, int K>
RL_INLINE void crypt_last(const GcmState& s, __m256i& ctr, uint8_t* p, size_t len, Acc& a, size_t P,
                          __m128i& x, const uint8_t* pending, __m256i lens) {
  const __m256i rv = rev256();
  __m256i b[K], d[K];
  counters<K>(ctr, b);
  for (int i = 0; i < K; ++i) d[i] = load_n(p + 32 * i, len - 32 * i);
  if constexpr (M == Mode::open) {
    const uint8_t* h = powers(s, P);
    aes_stitched<R, K>(s, b, [&](int i) {
      if (i < K) {
        __m256i t = _mm256_shuffle_epi8(d[i], rv);
        if (i == 0) t = with_x(t, x);
        if (i == K - 1) t = _mm256_xor_si256(t, lens);
        acc_add(a, t, h + 32 * i);
      }
    });
  } else if constexpr (M == Mode::seal) {
    if (pending != nullptr) {
      Acc t = acc_zero();
      const uint8_t* h = powers(s, 16);
      aes_stitched<R, K>(s, b, [&](int i) {
        if (i < 8) hash_ymm(t, pending, i, h, x);
      });
      x = acc_reduce(t);
    } else {
      aes_stitched<R, K>(s, b, [](int) {});
    }
  } else {
    aes_stitched<R, K>(s, b, [](int) {});
  }
  for (int i = 0; i < K; ++i) {
    d[i] = _mm256_xor_si256(d[i], b[i]);
    store_n(p + 32 * i, len - 32 * i, d[i]);
  }
  if constexpr (M == Mode::seal) {
    d[K - 1] = _mm256_and_si256(d[K - 1], first_bytes(len - 32 * (K - 1)));  // zero past the end
    const uint8_t* h = powers(s, P);
    for (int i = 0; i < K; ++i) {
      __m256i t = _mm256_shuffle_epi8(d[i], rv);
      if (i == 0) t = with_x(t, x);
      if (i == K - 1) t = _mm256_xor_si256(t, lens);
      acc_add(a, t, h + 32 * i);
    }
  }
}

template <int R, Mode M>
RL_INLINE void crypt_last_any(const GcmState& s, __m256i& ctr, uint8_t* p, size_t len, Acc& a, size_t P,
                              __m128i& x, const uint8_t* pending, __m256i lens) {
  switch ((len + 31) / 32) {
    case 1: return crypt_last<R, M, 1>(s, ctr, p, len, a, P, x, pending, lens);
    case 2: return crypt_last<R, M, 2>(s, ctr, p, len, a, P, x, pending, lens);
    case 3: return crypt_last<R, M, 3>(s, ctr, p, len, a, P, x, pending, lens);
    case 4: return crypt_last<R, M, 4>(s, ctr, p, len, a, P, x, pending, lens);
    case 5: return crypt_last<R, M, 5>(s, ctr, p, len, a, P, x, pending, lens);
    case 6: return crypt_last<R, M, 6>(s, ctr, p, len, a, P, x, pending, lens);
    case 7: return crypt_last<R, M, 7>(s, ctr, p, len, a, P, x, pending, lens);
    case 8: return crypt_last<R, M, 8>(s, ctr, p, len, a, P, x, pending, lens);
    default: return;
  }
}

// Only AeadJob::nonce is passed here: the job keeps at least 4 bytes after it
// (checked below), so one plain 16-byte load stays inside the job and forwards
// from the single 16-byte store the protocols make (core/job_fill.h).
static_assert(offsetof(AeadJob, aad) >= offsetof(AeadJob, nonce) + 16,
              "a 16-byte nonce load must stay inside AeadJob");
inline __m128i load_nonce(const uint8_t* nonce) {
  const __m128i n = _mm_loadu_si128(reinterpret_cast<const __m128i*>(nonce));
  return _mm_insert_epi32(n, 0x01000000, 3);  // J0 = nonce || 0^31 || 1 (§7.1 step 2)
}

// The whole GCM pass over one packet; returns the full 16-byte tag (seal and
// open) in wire byte order.
//
// GHASH groups: a packet with at most 16 blocks of AAD and data is one group
// with its length block (one reduction); so is one of at most 16 data
// blocks and the length block after a long AAD. Otherwise the AAD is hashed first,
// then every 256-byte chunk of data is a group, and the last 1..256 bytes and
// the length block form the final group.
template <int R, Mode M>
__m128i gcm_run(const GcmState& s, const uint8_t* nonce, const uint8_t* aad, size_t alen, uint8_t* data,
                size_t len) {
  const __m128i j0 = load_nonce(nonce);
  const __m128i ekj0 = M == Mode::ctr ? _mm_setzero_si128() : aes_block<R>(s, j0);
  // Counter 2 onwards for the data (SP 800-38D §7.1 step 5).
  __m256i ctr = _mm256_add_epi32(_mm256_broadcastsi128_si256(bswap(j0)), _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 1));
  Acc acc = acc_zero();
  __m128i x = _mm_setzero_si128();
  if constexpr (M != Mode::ctr) {
    const size_t na = blocks(alen), nd = blocks(len);
    if (alen == 0) {
    } else if (na + nd + 1 <= kPowers) {
      acc_bytes(acc, s, aad, alen, na + nd + 1, x);  // one group for the whole packet
    } else {
      x = ghash_bytes(s, x, aad, alen);
    }
  }
  uint8_t* p = data;
  size_t rem = len;
  const uint8_t* pending = nullptr;  // seal: the last full chunk, not hashed yet
  if (rem > 256) {
    crypt256<R, M, M == Mode::open>(s, ctr, p, p, x);
    pending = p;
    p += 256;
    rem -= 256;
    while (rem > 256) {
      crypt256<R, M, M != Mode::ctr>(s, ctr, p, M == Mode::open ? p : pending, x);
      pending = p;
      p += 256;
      rem -= 256;
    }
  }
  __m128i lens = _mm_set_epi64x(static_cast<long long>(alen * 8), static_cast<long long>(len * 8));
  const bool lens_in = M != Mode::ctr && blocks(rem) % 2 == 1;  // the last YMM has a free upper lane
  const __m256i lens_v = lens_in ? _mm256_set_m128i(lens, _mm_setzero_si128()) : _mm256_setzero_si256();
  if (rem > 0) crypt_last_any<R, M>(s, ctr, p, rem, acc, blocks(rem) + 1, x, pending, lens_v);
  if constexpr (M == Mode::ctr) return x;
  if (rem == 0) lens = _mm_xor_si128(lens, x);
  if (!lens_in) acc_add_block(acc, lens, _mm_load_si128(reinterpret_cast<const __m128i*>(powers(s, 1))));
  return _mm_xor_si128(bswap(acc_reduce(acc)), ekj0);
}

const GcmState* gcm_state(const AeadKey& k) {
  if (k.suite() == Suite::chacha20_poly1305) return nullptr;
  const auto* s = reinterpret_cast<const GcmState*>(k.backend_state() + AeadKey::kBackendStateSize);
  return s->magic == kMagic ? s : nullptr;
}

bool usable(const AeadJob& j) {
  return j.key != nullptr && j.key->valid() && (j.data.empty() || j.data.data() != nullptr) && j.tag != nullptr;
}

Status refuse(const AeadJob& j) {
  return (j.key != nullptr && !j.key->valid()) ? Status::key_expired : Status::invalid_argument;
}

// SP 800-38D §5.2.1.1: plaintext at most 2^39 - 256 bits.
constexpr uint64_t kMaxGcmBytes = (uint64_t{1} << 36) - 32;

template <Mode M>
void one(AeadJob& j, const GcmState& s) {
  const size_t tl = j.key->tag_len();
  const bool r10 = s.rounds == 10;
  uint8_t* d = j.data.data();
  const size_t len = j.data.size();
  if constexpr (M == Mode::seal) {
    alignas(16) uint8_t t[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(t),
                    r10 ? gcm_run<10, Mode::seal>(s, j.nonce, j.aad.data(), j.aad.size(), d, len)
                        : gcm_run<14, Mode::seal>(s, j.nonce, j.aad.data(), j.aad.size(), d, len));
    std::memcpy(j.tag, t, tl);
    j.status = Status::ok;
  } else {
    // The tag is read before the data is written: it may sit right after it.
    alignas(16) uint8_t want[16] = {};
    std::memcpy(want, j.tag, tl);
    const __m128i t = r10 ? gcm_run<10, Mode::open>(s, j.nonce, j.aad.data(), j.aad.size(), d, len)
                          : gcm_run<14, Mode::open>(s, j.nonce, j.aad.data(), j.aad.size(), d, len);
    if (tag_equal(t, _mm_load_si128(reinterpret_cast<const __m128i*>(want)), tl)) {
      j.status = Status::ok;
      return;
    }
    // Forged or corrupted: apply the same keystream again to restore the bytes.
    if (r10)
      gcm_run<10, Mode::ctr>(s, j.nonce, nullptr, 0, d, len);
    else
      gcm_run<14, Mode::ctr>(s, j.nonce, nullptr, 0, d, len);
    j.status = Status::auth_failed;
  }
}

// N short packets (AAD at most 64 bytes, data at most 32·C bytes each; keys
// may differ but have the same number of rounds) at once. One at a time such
// a packet is a chain of dependent steps (its rounds, then its GHASH, then
// the tag) that leaves the pipes mostly idle; here the N packets' rounds are
// interleaved, two counter blocks per YMM and the J0 block in one more, and
// each packet's AAD, data and length block are one GHASH group with one
// reduction. Open verifies before it writes anything, so a forged packet's
// bytes are never touched. N = 4, C = 2 serves data of 0..64 bytes; N = 2,
// C = 4 65..128 (a 64-byte payload with TLS 1.3's or DTLS 1.3's inner
// content type or ESP's trailer) and C = 6 129..192 (an SRTP voice packet of
// 160 bytes). Zen 4, RL_BACKEND=avx2, bursts of 32, core cycles per packet
// (seal / open, AES-128): 64 B 97 / 84 one at a time, 70 / 65 here; 128 B
// 136 / 121 and 105 / 106; 160 B 148 / 139 and 128 / 130; 65 B the same
// either way.
template <int R, Mode M, int N, int C>
__attribute__((noinline)) void small_n(AeadJob* const* job, const GcmState* const* st) {
  static_assert(N * (C + 1) <= 14, "the AES state and a round key in the 16 YMMs");
  const __m256i rv = rev256();
  // Per packet: counters 2, 3 | 4, 5 (SP 800-38D §7.1 step 5), kept
  // reflected as in gcm_run; then J0 in both lanes (its E(K, J0) for the
  // tag). XMM rounds for J0 beside the YMMs left GCC short of registers: it
  // kept J0 on the stack, a store and a load in every round of its chain.
  __m256i b[N][C + 1];
  for (int i = 0; i < N; ++i) {
    const __m128i j0 = load_nonce(job[i]->nonce);
    __m256i ctr = _mm256_add_epi32(_mm256_broadcastsi128_si256(bswap(j0)), _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 1));
    counters<C>(ctr, b[i]);
    const __m256i k0 = rk256(*st[i], 0);
    for (int c = 0; c < C; ++c) b[i][c] = _mm256_xor_si256(b[i][c], k0);
    b[i][C] = _mm256_xor_si256(_mm256_broadcastsi128_si256(j0), k0);
  }
#pragma GCC unroll 16
  for (int r = 1; r < R; ++r) {
    for (int i = 0; i < N; ++i) {
      const __m256i k = rk256(*st[i], r);
      for (int c = 0; c <= C; ++c) b[i][c] = _mm256_aesenc_epi128(b[i][c], k);
    }
  }
  for (int i = 0; i < N; ++i) {
    const __m256i k = rk256(*st[i], R);
    for (int c = 0; c <= C; ++c) b[i][c] = _mm256_aesenclast_epi128(b[i][c], k);
  }
  for (int i = 0; i < N; ++i) {
    AeadJob& j = *job[i];
    const GcmState& s = *st[i];
    const size_t alen = j.aad.size(), len = j.data.size();
    const size_t nd = blocks(len);
    uint8_t* p = j.data.data();
    // One GHASH group: AAD, the data's ciphertext (the input on open, the
    // output on seal), the length block. The products go Karatsuba style,
    // three VPCLMULQDQ per YMM instead of four (the carry-less multiplier
    // takes a YMM product as long as an XMM one: it is the bound here), and
    // an AAD of one block rides with the length block in one YMM (powers
    // H^(nd+2) and H^1).
    Acc k = acc_zero();
    auto kara = [&](__m256i d, __m256i hp) {
      k.lo = _mm256_xor_si256(k.lo, _mm256_clmulepi64_epi128(d, hp, 0x00));
      k.hi = _mm256_xor_si256(k.hi, _mm256_clmulepi64_epi128(d, hp, 0x11));
      const __m256i dk = _mm256_xor_si256(d, _mm256_shuffle_epi32(d, 0x4e));
      const __m256i hk = _mm256_xor_si256(hp, _mm256_shuffle_epi32(hp, 0x4e));
      k.mid = _mm256_xor_si256(k.mid, _mm256_clmulepi64_epi128(dk, hk, 0x00));
    };
    __m256i o[C];
    for (int c = 0; c < C; ++c) {
      if (32 * static_cast<size_t>(c) >= len) break;
      const size_t n = len - 32 * c;
      const __m256i d = load_n(p + 32 * c, n);
      o[c] = _mm256_and_si256(_mm256_xor_si256(d, b[i][c]), first_bytes(n));
      if constexpr (M == Mode::seal) store_n(p + 32 * c, n, o[c]);
      kara(_mm256_shuffle_epi8(M == Mode::seal ? o[c] : d, rv),
           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(powers(s, nd + 1) + 32 * c)));
    }
    const __m128i lens = _mm_set_epi64x(static_cast<long long>(alen * 8), static_cast<long long>(len * 8));
    const __m128i h1 = _mm_load_si128(reinterpret_cast<const __m128i*>(powers(s, 1)));
    const bool one_block_aad = alen <= 16;
    const __m128i a0 = one_block_aad ? bswap(load16_part(j.aad.data(), alen)) : _mm_setzero_si128();  // 0 bytes: 0
    kara(_mm256_set_m128i(lens, a0),
         _mm256_set_m128i(h1, _mm_load_si128(reinterpret_cast<const __m128i*>(powers(s, nd + 2)))));
    k.mid = _mm256_xor_si256(k.mid, _mm256_xor_si256(k.lo, k.hi));  // back to lo, hi, cross terms
    if (!one_block_aad) acc_bytes(k, s, j.aad.data(), alen, blocks(alen) + nd + 1, _mm_setzero_si128());
    const __m128i t = _mm_xor_si128(bswap(acc_reduce(k)), _mm256_castsi256_si128(b[i][C]));
    const size_t tl = j.key->tag_len();
    if constexpr (M == Mode::seal) {
      store16_part(j.tag, tl, t);
      j.status = Status::ok;
    } else {
      if (tag_equal(t, load16_part(j.tag, tl), tl)) {
        for (int c = 0; 32 * static_cast<size_t>(c) < len; ++c) store_n(p + 32 * c, len - 32 * c, o[c]);
        j.status = Status::ok;
      } else {
        j.status = Status::auth_failed;
      }
    }
  }
}

// kGrouped: more than one job (a lone one goes straight to one(); compiled
// without the collecting, it costs what it did before there was any).
template <Mode M, bool kGrouped>
void run_jobs(std::span<AeadJob> jobs) {
  // Short AES-GCM packets (AAD at most 64 bytes) through small_n: data of
  // 0..64 bytes four at a time, 65..128 and 129..192 two at a time, each
  // group's keys with one number of rounds; leftovers one at a time.
  struct Class {
    AeadJob* job[4];
    const GcmState* st[4];
    int n = 0;
  } cls[3];
  auto drain = [&](Class& c) {
    for (int i = 0; i < c.n; ++i) one<M>(*c.job[i], *c.st[i]);
    c.n = 0;
  };
  // ChaCha20-Poly1305 jobs are collected so that short ones share passes.
  constexpr size_t kChaCha = 16;
  AeadJob* cj[kChaCha];
  size_t cn = 0;
  auto flush_chacha = [&] {
    if constexpr (M == Mode::seal)
      chacha_seal_many(cj, cn);
    else
      chacha_open_many(cj, cn);
    cn = 0;
  };
  for (AeadJob& j : jobs) {
    if (!usable(j)) {
      j.status = refuse(j);
      continue;
    }
    if (j.key->suite() == Suite::chacha20_poly1305) {
      cj[cn++] = &j;
      if (cn == kChaCha) flush_chacha();
      continue;
    }
    const GcmState* s = gcm_state(*j.key);
    if (s == nullptr) {  // not prepared for this tier (cannot happen after the CPU check)
      if constexpr (M == Mode::seal)
        portable::seal({&j, 1});
      else
        portable::open({&j, 1});
      continue;
    }
    if (j.data.size() > kMaxGcmBytes || j.aad.size() > kMaxGcmBytes) {
      j.status = Status::invalid_argument;
      continue;
    }
    if (kGrouped && j.data.size() <= 192 && j.aad.size() <= 64) {
      const int w = j.data.size() <= 64 ? 0 : j.data.size() <= 128 ? 1 : 2;
      Class& c = cls[w];
      if (c.n > 0 && c.st[0]->rounds != s->rounds) drain(c);
      c.job[c.n] = &j;
      c.st[c.n] = s;
      if (++c.n == (w == 0 ? 4 : 2)) {
        const bool r10 = s->rounds == 10;
        if (w == 0)
          r10 ? small_n<10, M, 4, 2>(c.job, c.st) : small_n<14, M, 4, 2>(c.job, c.st);
        else if (w == 1)
          r10 ? small_n<10, M, 2, 4>(c.job, c.st) : small_n<14, M, 2, 4>(c.job, c.st);
        else
          r10 ? small_n<10, M, 2, 6>(c.job, c.st) : small_n<14, M, 2, 6>(c.job, c.st);
        c.n = 0;
      }
      continue;
    }
    one<M>(j, *s);
  }
  if constexpr (kGrouped)
    for (Class& c : cls) drain(c);
  if (cn > 0) flush_chacha();
}

}  // namespace

void gcm_prepare(Suite suite, const uint8_t* key, uint8_t* state) {
  auto* s = reinterpret_cast<GcmState*>(state);
  std::memset(s, 0, sizeof *s);
  if (suite == Suite::chacha20_poly1305) return;
  alignas(16) uint8_t rk[15][16];
  const int rounds = aes_expand(key, suite == Suite::aes256_gcm ? 32 : 16, &rk[0][0]);
  if (rounds == 0) return;
  for (int r = 0; r <= rounds; ++r) {
    std::memcpy(s->rk[r], rk[r], 16);
    std::memcpy(s->rk[r] + 16, rk[r], 16);
  }
  OPENSSL_cleanse(rk, sizeof rk);
  s->rounds = static_cast<uint32_t>(rounds);
  // H = E(K, 0^128), SP 800-38D §6.4.
  __m128i h = rk128(*s, 0);
  for (int r = 1; r < rounds; ++r) h = _mm_aesenc_si128(h, rk128(*s, r));
  h = _mm_aesenclast_si128(h, rk128(*s, rounds));
  store_powers(h, s->hpow, kPowers);
  s->magic = kMagic;
}

void seal(std::span<AeadJob> jobs) {
  jobs.size() > 1 ? run_jobs<Mode::seal, true>(jobs) : run_jobs<Mode::seal, false>(jobs);
}
void open(std::span<AeadJob> jobs) {
  jobs.size() > 1 ? run_jobs<Mode::open, true>(jobs) : run_jobs<Mode::open, false>(jobs);
}

namespace {

// Up to 16 samples under one AES key: two samples per YMM, up to eight YMMs
// in flight. Spare lanes repeat the last sample; their results are not stored.
template <int R>
void mask_run(MaskJob* m, size_t n) {
  const auto* rk = reinterpret_cast<const __m128i*>(m[0].key->simd_round_keys());
  auto sample = [&](size_t j) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(m[j < n ? j : n - 1].sample));
  };
  const size_t k = (n + 1) / 2;
  __m256i b[8];
  __m256i key = _mm256_broadcastsi128_si256(_mm_loadu_si128(rk));
  for (size_t i = 0; i < k; ++i) b[i] = _mm256_xor_si256(_mm256_set_m128i(sample(2 * i + 1), sample(2 * i)), key);
  for (int r = 1; r < R; ++r) {
    key = _mm256_broadcastsi128_si256(_mm_loadu_si128(rk + r));
    for (size_t i = 0; i < k; ++i) b[i] = _mm256_aesenc_epi128(b[i], key);
  }
  key = _mm256_broadcastsi128_si256(_mm_loadu_si128(rk + R));
  for (size_t i = 0; i < k; ++i) b[i] = _mm256_aesenclast_epi128(b[i], key);
  for (size_t i = 0; i < k; ++i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(m[2 * i].mask), _mm256_castsi256_si128(b[i]));
    if (2 * i + 1 < n) _mm_storeu_si128(reinterpret_cast<__m128i*>(m[2 * i + 1].mask), _mm256_extracti128_si256(b[i], 1));
  }
}

}  // namespace

// Runs of consecutive jobs under the same key (the usual case: one
// connection's packets) go 16 at a time through the VAES kernel, or eight per
// pass through the ChaCha20 kernel; anything else (unusable jobs) takes the
// portable path, which reports it.
void mask(std::span<MaskJob> jobs) {
  simd_masks::by_key_runs(
      jobs, true, 16, [](MaskJob* m, size_t n) { chacha_masks(m, n); },
      [](MaskJob* m, size_t n) {
        const bool r10 = m->key->simd_rounds() == 10;
        if (n == 1)
          r10 ? simd_masks::aes_mask1<10>(*m) : simd_masks::aes_mask1<14>(*m);
        else
          r10 ? mask_run<10>(m, n) : mask_run<14>(m, n);
      },
      [](MaskJob& m) { portable::mask({&m, 1}); });
}

}  // namespace rl::avx2
