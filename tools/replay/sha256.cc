#include "tools/replay/sha256.h"

#include <immintrin.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "simd/cpu.h"

namespace rl::replay {

namespace {

// FIPS 180-4 §4.2.2 round constants and §5.3.3 initial hash value.
alignas(16) constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
constexpr uint32_t kH0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

#define RL_SHANI __attribute__((target("sha,sse4.1,ssse3")))

// The SHA instructions keep the eight working variables as two vectors, ABEF and CDGH
// (lane 3 first: ABEF = {F, E, B, A} from lane 0 up). sha256rnds2 runs two rounds with the
// two W+K words in the low half of its third operand and returns the new ABEF; the old
// ABEF becomes the new CDGH. sha256msg1/msg2 compute the message schedule four words at
// a time: W[t..t+3] = msg2(msg1(W[t-16..], W[t-12..]) + W[t-7..t-4], W[t-4..t-1]).
// N independent messages (same block count) at once: sha256rnds2 has a latency of several
// cycles and each block is a chain of 32 of them, so a second chain fills the gaps.
template <int N>
RL_SHANI inline void blocks_shani_n(uint32_t* const h[N], const uint8_t* const in[N], size_t nblocks) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i abef[N], cdgh[N];
  const uint8_t* p[N];
  for (int n = 0; n < N; ++n) {
    p[n] = in[n];
    __m128i abcd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h[n]));      // {A,B,C,D}
    __m128i efgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h[n] + 4));  // {E,F,G,H}
    abcd = _mm_shuffle_epi32(abcd, 0xb1);             // {B,A,D,C}
    efgh = _mm_shuffle_epi32(efgh, 0x1b);             // {H,G,F,E}
    abef[n] = _mm_alignr_epi8(abcd, efgh, 8);         // {F,E,B,A}
    cdgh[n] = _mm_blend_epi16(efgh, abcd, 0xf0);      // {H,G,D,C}
  }
  for (; nblocks; --nblocks) {
    __m128i save_abef[N], save_cdgh[N], w[N][4];
    for (int n = 0; n < N; ++n) {
      save_abef[n] = abef[n];
      save_cdgh[n] = cdgh[n];
      for (int i = 0; i < 4; ++i)
        w[n][i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p[n] + 16 * i)), bswap);
      p[n] += 64;
    }
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) {  // four rounds per step
#pragma GCC unroll 2
      for (int n = 0; n < N; ++n) {
        __m128i& cur = w[n][r & 3];
        if (r >= 4) {
          // cur holds W[t-16..t-13]; the others W[t-12..], W[t-8..], W[t-4..].
          const __m128i& w12 = w[n][(r + 1) & 3];
          const __m128i& w8 = w[n][(r + 2) & 3];
          const __m128i& w4 = w[n][(r + 3) & 3];
          __m128i x = _mm_sha256msg1_epu32(cur, w12);
          x = _mm_add_epi32(x, _mm_alignr_epi8(w4, w8, 4));  // + W[t-7..t-4]
          cur = _mm_sha256msg2_epu32(x, w4);
        }
        __m128i wk = _mm_add_epi32(cur, _mm_load_si128(reinterpret_cast<const __m128i*>(kK + 4 * r)));
        cdgh[n] = _mm_sha256rnds2_epu32(cdgh[n], abef[n], wk);  // rounds 4r, 4r+1: now ABEF
        wk = _mm_shuffle_epi32(wk, 0x0e);
        abef[n] = _mm_sha256rnds2_epu32(abef[n], cdgh[n], wk);  // rounds 4r+2, 4r+3
      }
    }
    for (int n = 0; n < N; ++n) {
      abef[n] = _mm_add_epi32(abef[n], save_abef[n]);
      cdgh[n] = _mm_add_epi32(cdgh[n], save_cdgh[n]);
    }
  }
  for (int n = 0; n < N; ++n) {
    const __m128i feba = _mm_shuffle_epi32(abef[n], 0x1b);  // {A,B,E,F}
    const __m128i dchg = _mm_shuffle_epi32(cdgh[n], 0xb1);  // {G,H,C,D}
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h[n]), _mm_blend_epi16(feba, dchg, 0xf0));      // {A,B,C,D}
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h[n] + 4), _mm_alignr_epi8(dchg, feba, 8));  // {E,F,G,H}
  }
}

RL_SHANI void blocks_shani(uint32_t h[8], const uint8_t* p, size_t nblocks) {
  uint32_t* hh[1] = {h};
  const uint8_t* pp[1] = {p};
  blocks_shani_n<1>(hh, pp, nblocks);
}

RL_SHANI void blocks_shani2(uint32_t* h0, const uint8_t* p0, uint32_t* h1, const uint8_t* p1,
                            size_t nblocks) {
  uint32_t* hh[2] = {h0, h1};
  const uint8_t* pp[2] = {p0, p1};
  blocks_shani_n<2>(hh, pp, nblocks);
}

// FIPS 180-4 §5.1.1 padding: the last partial block, 0x80, zeros, then the message length
// in bits (64-bit big-endian); one or two blocks.
size_t pad_tail(ByteSpan data, uint8_t tail[128]) {
  const size_t full = data.size() / 64, rest = data.size() - full * 64;
  std::memset(tail, 0, 128);
  if (rest) std::memcpy(tail, data.data() + full * 64, rest);
  tail[rest] = 0x80;
  const size_t tail_len = rest < 56 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  return tail_len / 64;
}

Digest to_digest(const uint32_t h[8]) {
  Digest d;
  for (int i = 0; i < 8; ++i) {
    d[4 * i] = static_cast<uint8_t>(h[i] >> 24);
    d[4 * i + 1] = static_cast<uint8_t>(h[i] >> 16);
    d[4 * i + 2] = static_cast<uint8_t>(h[i] >> 8);
    d[4 * i + 3] = static_cast<uint8_t>(h[i]);
  }
  return d;
}

bool want_shani() {
  const char* e = std::getenv("RL_REPLAY_SHA");
  if (e && std::strcmp(e, "portable") == 0) return false;
  return sha256_shani_supported();
}

}  // namespace

bool sha256_shani_supported() {
  const CpuFeatures& f = cpu_features();
  return f.sha && f.avx;  // AVX implies the SSSE3 / SSE4.1 the code also uses
}

Digest sha256_shani(ByteSpan data) {
  uint32_t h[8];
  std::memcpy(h, kH0, sizeof h);
  blocks_shani(h, data.data(), data.size() / 64);
  uint8_t tail[128];
  blocks_shani(h, tail, pad_tail(data, tail));
  return to_digest(h);
}

void sha256_shani_x2(ByteSpan a, ByteSpan b, Digest& da, Digest& db) {
  uint32_t ha[8], hb[8];
  std::memcpy(ha, kH0, sizeof ha);
  std::memcpy(hb, kH0, sizeof hb);
  const size_t na = a.size() / 64, nb = b.size() / 64, both = std::min(na, nb);
  blocks_shani2(ha, a.data(), hb, b.data(), both);
  blocks_shani(ha, a.data() + both * 64, na - both);
  blocks_shani(hb, b.data() + both * 64, nb - both);
  uint8_t ta[128], tb[128];
  const size_t la = pad_tail(a, ta), lb = pad_tail(b, tb);
  if (la == lb) {
    blocks_shani2(ha, ta, hb, tb, la);
  } else {
    blocks_shani(ha, ta, la);
    blocks_shani(hb, tb, lb);
  }
  da = to_digest(ha);
  db = to_digest(hb);
}

Digest sha256_boringssl(ByteSpan data) {
  Digest d;
  SHA256(data.data(), data.size(), d.data());
  return d;
}

namespace {
const bool g_shani = want_shani();
}  // namespace

Digest sha256(ByteSpan data) { return g_shani ? sha256_shani(data) : sha256_boringssl(data); }

void sha256_pair(ByteSpan a, ByteSpan b, Digest& da, Digest& db) {
  if (g_shani) {
    sha256_shani_x2(a, b, da, db);
  } else {
    da = sha256_boringssl(a);
    db = sha256_boringssl(b);
  }
}

}  // namespace rl::replay
