// BLAKE2s (RFC 7693), section numbers from the RFC.
#include "core/blake2s.h"

#include <openssl/mem.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

#include "core/bytes.h"

namespace rl {

namespace {

// §2.6: the IV is SHA-256's initial hash value.
constexpr uint32_t kIv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                             0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// §2.7: message word permutations, one row per round (BLAKE2s has 10).
constexpr uint8_t kSigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

// §3.1, with BLAKE2s's rotations R1..R4 = 16, 12, 8, 7.
inline void mix(uint32_t* v, int a, int b, int c, int d, uint32_t x, uint32_t y) {
  v[a] = v[a] + v[b] + x;
  v[d] = std::rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = std::rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + y;
  v[d] = std::rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = std::rotr(v[b] ^ v[c], 7);
}

}  // namespace

// The last block is held back until final() so that it is the one compressed
// with the final flag (§3.3), even when it is the key block.
Blake2s::Blake2s(std::span<const uint8_t> key, size_t out_len) : out_len_(out_len) {
  if (out_len == 0 || out_len > kBlake2sMaxOutLen || key.size() > kBlake2sMaxKeyLen) std::abort();
  std::memcpy(h_, kIv, sizeof h_);
  h_[0] ^= 0x01010000u ^ uint32_t(key.size()) << 8 ^ uint32_t(out_len);
  if (!key.empty()) {  // the key, zero-padded to a block, is the first block
    std::memset(buf_, 0, sizeof buf_);
    std::memcpy(buf_, key.data(), key.size());
    n_ = sizeof buf_;
  }
}

Blake2s::~Blake2s() { OPENSSL_cleanse(this, sizeof *this); }

void Blake2s::update(std::span<const uint8_t> in) {
  while (!in.empty()) {
    if (n_ == sizeof buf_) {  // more input follows, so the full buffer is not the last
      t_ += sizeof buf_;
      compress(false);
      n_ = 0;
    }
    const size_t take = std::min(sizeof buf_ - n_, in.size());
    std::memcpy(buf_ + n_, in.data(), take);
    n_ += take;
    in = in.subspan(take);
  }
}

void Blake2s::final(uint8_t* out) {
  t_ += n_;
  std::memset(buf_ + n_, 0, sizeof buf_ - n_);
  compress(true);
  uint8_t le[32];
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) le[4 * i + j] = uint8_t(h_[i] >> (8 * j));
  std::memcpy(out, le, out_len_);
  OPENSSL_cleanse(le, sizeof le);
}

// §3.2.
void Blake2s::compress(bool last) {
  uint32_t m[16], v[16];
  for (int i = 0; i < 16; ++i) m[i] = load_le32(buf_ + 4 * i);
  for (int i = 0; i < 8; ++i) {
    v[i] = h_[i];
    v[i + 8] = kIv[i];
  }
  v[12] ^= uint32_t(t_);
  v[13] ^= uint32_t(t_ >> 32);
  if (last) v[14] = ~v[14];
  for (const auto& s : kSigma) {
    mix(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    mix(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    mix(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    mix(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    mix(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    mix(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    mix(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    mix(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
  for (int i = 0; i < 8; ++i) h_[i] ^= v[i] ^ v[i + 8];
  OPENSSL_cleanse(m, sizeof m);
  OPENSSL_cleanse(v, sizeof v);
}

void blake2s(std::span<const uint8_t> in, std::span<const uint8_t> key, uint8_t* out, size_t out_len) {
  Blake2s b(key, out_len);
  b.update(in);
  b.final(out);
}

}  // namespace rl
