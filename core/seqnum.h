// Reconstructing a full sequence/packet number from its truncated low bits:
// the candidate closest to the next expected value (RFC 9000 App. A.3,
// RFC 9147 §4.2.2). One tested primitive for QUIC and DTLS 1.3.
#pragma once
#include <cstdint>

namespace rl {

// `expected` = largest received + 1; `truncated` holds the low `bits` bits;
// values are kept below 2^max_bits (62 for QUIC, 64 for DTLS 1.3 = no bound).
constexpr uint64_t reconstruct_closest(uint64_t expected, uint64_t truncated, unsigned bits,
                                       unsigned max_bits = 64) {
  const uint64_t win = uint64_t{1} << bits;
  const uint64_t hwin = win / 2;
  const uint64_t mask = win - 1;
  const uint64_t limit = max_bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << max_bits) - 1;
  const uint64_t candidate = (expected & ~mask) | (truncated & mask);
  // The comparisons are arranged so nothing wraps below 0 or above the limit.
  if (expected >= hwin && candidate <= expected - hwin && candidate <= limit - win)
    return candidate + win;
  if (candidate > expected && candidate - expected > hwin && candidate >= win) return candidate - win;
  return candidate;
}

// Whether `truncated` reconstructs to the same number from `expected` and
// from any expected value up to `highest` + 1 (`highest` >= `expected`):
// the number closest to `expected` lies within half a window of both ends
// only if it does of every value between them. A burst asks this of a
// packet behind ones it queued, whichever of them authenticate.
constexpr bool reads_alike_up_to(uint64_t expected, uint64_t highest, uint64_t truncated, unsigned bits,
                                 unsigned max_bits = 64) {
  return reconstruct_closest(expected, truncated, bits, max_bits) ==
         reconstruct_closest(highest + 1, truncated, bits, max_bits);
}

// The highest number a burst has queued (given a job) so far in one number
// space. One at a time a later packet comes after those, and once they
// authenticate its truncated number is reconstructed from the highest of
// them, not from the window the burst found: moves() says whether the two
// readings can differ, so that the burst ends before it (QUIC packet
// numbers, DTLS 1.3 sequence numbers).
struct QueuedHighest {
  uint64_t highest = 0;
  bool any = false;
  constexpr void note(uint64_t n) {
    if (!any || n > highest) highest = n;
    any = true;
  }
  constexpr bool moves(uint64_t expected, uint64_t truncated, unsigned bits, unsigned max_bits = 64) const {
    return any && highest >= expected && !reads_alike_up_to(expected, highest, truncated, bits, max_bits);
  }
};

// QUIC packet-number encoding length (RFC 9000 §17.1, App. A.2): enough bytes
// to represent more than twice the unacknowledged range.
constexpr unsigned quic_pn_length(uint64_t full_pn, uint64_t largest_acked, bool none_acked) {
  const uint64_t n = none_acked ? full_pn + 1 : full_pn - largest_acked;
  // min_bits = log2(n) + 1, bytes = ceil(min_bits / 8), done in integers: for
  // n = 2^k that is ceil((k+1)/8); otherwise log2(n) is not whole and the
  // result is bit_length(n)/8 + 1.
  unsigned bit_length = 0;
  for (uint64_t v = n; v != 0; v >>= 1) ++bit_length;
  const bool power_of_two = n != 0 && (n & (n - 1)) == 0;
  const unsigned bytes = power_of_two ? (bit_length + 7) / 8 : bit_length / 8 + 1;
  return bytes == 0 ? 1 : (bytes > 4 ? 4 : bytes);
}

}  // namespace rl
