// BLAKE2s (RFC 7693): WireGuard's HASH, MAC and HMAC hash (the WireGuard paper
// §5.4). Portable C++, one compression per 64-byte block; the engine uses it
// only off the data path (cookie MACs, core/wireguard_cookie.h) and the replay
// tool for the handshakes it recomputes (tools/replay/wg_keys.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace rl {

inline constexpr size_t kBlake2sBlockLen = 64;
inline constexpr size_t kBlake2sMaxKeyLen = 32;
inline constexpr size_t kBlake2sMaxOutLen = 32;

// Incremental BLAKE2s, unkeyed or keyed (key up to 32 bytes), with 1..32 bytes
// of digest. A key or length outside those limits aborts: the parameter block
// cannot describe it, so it is a caller's bug, never input. The state is wiped
// when the object dies.
class Blake2s {
 public:
  Blake2s(std::span<const uint8_t> key, size_t out_len);
  ~Blake2s();
  Blake2s(const Blake2s&) = delete;
  Blake2s& operator=(const Blake2s&) = delete;

  void update(std::span<const uint8_t> in);
  // Writes out_len bytes; the object is spent afterwards.
  void final(uint8_t* out);

 private:
  void compress(bool last);

  uint32_t h_[8];
  uint64_t t_ = 0;  // bytes compressed so far, including the block being compressed
  uint8_t buf_[kBlake2sBlockLen];
  size_t n_ = 0;
  size_t out_len_;
};

// One-shot BLAKE2s of `in` under `key` (empty: unkeyed), `out_len` 1..32 bytes
// of digest into `out`.
void blake2s(std::span<const uint8_t> in, std::span<const uint8_t> key, uint8_t* out, size_t out_len);

}  // namespace rl
