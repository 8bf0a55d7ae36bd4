// Scalar pieces of ChaCha20 (RFC 8439 §2.3) shared by the SIMD tiers'
// ChaCha20-Poly1305 kernels. The tiers are compiled with different -m flags,
// so nothing here may have external linkage: an inline function with external
// linkage would be emitted by every tier and the linker would keep one copy,
// possibly one built for AVX-512, for all of them. Hence `static` functions
// and constexpr (internal) constants; the struct is a plain type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <bit>
#include <cstring>

#include "simd/jobs.h"

namespace rl::chacha {

constexpr uint32_t kSigma[4] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};  // §2.3

// BoringSSL's limit: the 32-bit block counter must not wrap (§2.8: at most
// 2^38 - 64 bytes), block 0 being the Poly1305 key.
constexpr uint64_t kMaxChaChaBytes = (uint64_t{1} << 38) - 64;

// The state words a job contributes: key (words 4..11) and nonce (13..15).
struct ChaChaInput {
  uint32_t key[8];
  uint32_t nonce[3];
};

static inline __attribute__((always_inline)) uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);  // x86 is little-endian, as §2.3 wants
  return v;
}

static inline __attribute__((always_inline)) ChaChaInput input_for(const AeadJob& j) {
  ChaChaInput in;
  const uint8_t* k = j.key->raw().data();
  for (int i = 0; i < 8; ++i) in.key[i] = le32(k + 4 * i);
  for (int i = 0; i < 3; ++i) in.nonce[i] = le32(j.nonce + 4 * i);
  return in;
}

// One header-protection mask (RFC 9001 §5.4.4, RFC 9147 §4.2.3): words 0..3
// of the ChaCha20 block under `key` with the 16-byte sample as counter and
// nonce, in general-purpose registers. A lone mask is one dependency chain of
// 20 rounds; integer add, xor and rotate each take one cycle, where this
// CPU's vector forms pay more per step (README, session 13), so the scalar
// chain is the shorter one.
#define RL_CHACHA_QR(a, b, c, d)                   \
  a += b, d = std::rotl(d ^ a, 16);   \
  c += d, b = std::rotl(b ^ c, 12);   \
  a += b, d = std::rotl(d ^ a, 8);    \
  c += d, b = std::rotl(b ^ c, 7);
static inline void mask_block_scalar(const uint8_t* key, const uint8_t* sample, uint8_t out[16]) {
  uint32_t x0 = kSigma[0], x1 = kSigma[1], x2 = kSigma[2], x3 = kSigma[3];
  uint32_t x4 = le32(key), x5 = le32(key + 4), x6 = le32(key + 8), x7 = le32(key + 12);
  uint32_t x8 = le32(key + 16), x9 = le32(key + 20), x10 = le32(key + 24), x11 = le32(key + 28);
  uint32_t x12 = le32(sample), x13 = le32(sample + 4), x14 = le32(sample + 8), x15 = le32(sample + 12);
  for (int i = 0; i < 10; ++i) {
    RL_CHACHA_QR(x0, x4, x8, x12)
    RL_CHACHA_QR(x1, x5, x9, x13)
    RL_CHACHA_QR(x2, x6, x10, x14)
    RL_CHACHA_QR(x3, x7, x11, x15)
    RL_CHACHA_QR(x0, x5, x10, x15)
    RL_CHACHA_QR(x1, x6, x11, x12)
    RL_CHACHA_QR(x2, x7, x8, x13)
    RL_CHACHA_QR(x3, x4, x9, x14)
  }
  const uint32_t w[4] = {x0 + kSigma[0], x1 + kSigma[1], x2 + kSigma[2], x3 + kSigma[3]};
  std::memcpy(out, w, 16);
}
#undef RL_CHACHA_QR

// Lanes a short packet takes in a batched pass: block 0 (its Poly1305 key)
// and one per 64 bytes of data.
static inline size_t lanes_for(size_t len) { return 1 + (len + 63) / 64; }

// Lays n short packets out lane by lane in w[word][lane] (W lanes, all of them
// zeroed first): each packet in consecutive lanes from start[p] on, with its
// key (words 4..11), block counters 0, 1, ... (word 12) and nonce (13..15).
// Words 0..3 (the constants) are the caller's. The caller wipes w after use.
template <size_t W>
static inline void gather_lanes(AeadJob* const* js, size_t n, uint32_t (*w)[W], size_t* start) {
  std::memset(w, 0, sizeof(uint32_t) * 16 * W);
  size_t lane = 0;
  for (size_t p = 0; p < n; ++p) {
    const ChaChaInput in = input_for(*js[p]);
    start[p] = lane;
    const size_t nb = lanes_for(js[p]->data.size());
    for (size_t b = 0; b < nb; ++b, ++lane) {
      for (int i = 0; i < 8; ++i) w[4 + i][lane] = in.key[i];
      w[12][lane] = static_cast<uint32_t>(b);
      for (int i = 0; i < 3; ++i) w[13 + i][lane] = in.nonce[i];
    }
  }
}

}  // namespace rl::chacha
