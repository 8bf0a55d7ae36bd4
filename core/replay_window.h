// An anti-replay sliding window you can read on one screen: a ring of 64-bit
// blocks (RFC 6479), O(1) per packet, sized at install from 1 to 4096
// (8128 for WireGuard).
// Two-phase, as everywhere that gets it right: check() before authentication
// (cheap, changes nothing), commit() only after the tag verified.
// Not thread-safe.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "simd/status.h"

namespace rl {

class ReplayWindow {
 public:
  static constexpr uint32_t kMaxSize = 4096;  // what the protocols' settings offer
  static constexpr uint32_t kDefaultSize = 64;
  // WireGuard's fixed window (2^13 - 64 counters, as Linux and wireguard-go
  // keep): 127 blocks and the spare, the same storage as kMaxSize's.
  static constexpr uint32_t kLargestSize = 8128;

  // Refuses sizes outside 1..kLargestSize with invalid_argument.
  Status init(uint32_t size = kDefaultSize) {
    if (size == 0 || size > kLargestSize) return Status::invalid_argument;
    size_ = size;
    // One spare block so that the block holding `top_` never shares bits with
    // the oldest block still inside the window; a power of two so that the
    // ring index is a mask (a divide per packet is a visible share of a
    // small packet's cost).
    blocks_ = std::bit_ceil((size + 63) / 64 + 1);
    reset();
    return Status::ok;
  }
  void reset() {
    for (uint64_t& b : bits_) b = 0;
    top_ = 0;
    any_ = false;
  }

  uint32_t size() const { return size_; }
  bool empty() const { return !any_; }
  uint64_t highest() const { return top_; }  // meaningful when !empty()

  Status check(uint64_t seq) const {
    if (!any_ || seq > top_) return Status::ok;
    if (top_ - seq >= size_) return Status::too_old;
    return (bits_[block(seq)] >> (seq & 63)) & 1 ? Status::replayed : Status::ok;
  }

  // Call only after check(seq) == ok and the packet authenticated. Inline
  // for the usual packet (in the top's block, or a late one inside the
  // window); the window slides out of line. A number left of the window is
  // not marked: its bit would land in a block that now holds newer numbers
  // and refuse one of them later (callers check first; this keeps a slip
  // from costing a genuine packet).
  [[gnu::always_inline]] void commit(uint64_t seq) {
    if (!any_ || (seq > top_ && (seq >> 6) != (top_ >> 6))) {
      slide_to(seq);
    } else if (seq > top_) {
      top_ = seq;
    } else if (top_ - seq >= size_) {
      return;
    }
    bits_[block(seq)] |= uint64_t{1} << (seq & 63);
  }

  // n commit() calls for seqs[0..n), each above highest() and above the one
  // before it (in-order packets that authenticated, or a sender's), with the
  // same result; the top block's bits stay in a register in between instead
  // of a load-or-store per packet on one word.
  void commit_rising(const uint64_t* seqs, size_t n) {
    if (n == 0) return;
    size_t k = 0;
    if (!any_) commit(seqs[k++]);
    const uint64_t mask = blocks_ - 1;
    uint64_t at = top_ >> 6, word = bits_[at & mask];
    for (; k < n; ++k) {
      const uint64_t seq = seqs[k], b = seq >> 6;
      if (b != at) {
        // What commit() clears: the blocks after the old top's up to this one.
        bits_[at & mask] = word;
        if (b - at >= blocks_) {
          for (uint32_t i = 0; i < blocks_; ++i) bits_[i] = 0;
        } else {
          for (uint64_t x = at + 1; x <= b; ++x) bits_[x & mask] = 0;
        }
        at = b;
        word = 0;
      }
      word |= uint64_t{1} << (seq & 63);
    }
    bits_[at & mask] = word;
    top_ = seqs[n - 1];
  }

 private:
  size_t block(uint64_t seq) const { return static_cast<size_t>((seq >> 6) & (blocks_ - 1)); }

  // The new top `seq` is in a later block than the old one (or the window is
  // empty): clear the blocks the window slides over (at most all of them).
  [[gnu::noinline]] void slide_to(uint64_t seq) {
    const uint64_t from = any_ ? (top_ >> 6) + 1 : seq >> 6;
    const uint64_t to = seq >> 6;
    if (!any_ || to - from + 1 >= blocks_) {
      for (uint32_t i = 0; i < blocks_; ++i) bits_[i] = 0;
    } else {
      for (uint64_t b = from; b <= to; ++b) bits_[b & (blocks_ - 1)] = 0;
    }
    top_ = seq;
    any_ = true;
  }

  uint64_t bits_[std::bit_ceil(kLargestSize / 64 + 1)] = {};
  static_assert(sizeof(bits_) == sizeof(uint64_t) * std::bit_ceil(kMaxSize / 64 + 1));
  uint64_t top_ = 0;
  uint32_t size_ = kDefaultSize;
  uint32_t blocks_ = std::bit_ceil(kDefaultSize / 64 + 1);
  bool any_ = false;
};

// A burst's parse asks the window as it was before the burst. One record at
// a time, a record it refused as replayed would come after the burst's
// earlier records were committed, and is too old when one of them that
// opened lies a whole window above it (RFC 6347 §4.1.2.6, RFC 9147 §4.5.1).
// Both statuses count as a replay; this only gives the record the status
// one at a time gives it. `window_of(r)` is the window of r's epoch (or
// nullptr). Rare (a burst reaching a window past a repeat), so a plain look
// back over the records before each one.
template <class Record, class WindowOf>
[[gnu::noinline, gnu::cold]] void too_old_by_now(std::span<Record> records, WindowOf&& window_of) {
  for (size_t i = 1; i < records.size(); ++i) {
    Record& r = records[i];
    if (r.pkt.status != Status::replayed) continue;
    const ReplayWindow* w = window_of(r);
    if (w == nullptr) continue;
    for (size_t j = 0; j < i; ++j) {
      const Record& q = records[j];
      if (q.pkt.status == Status::ok && q.epoch == r.epoch && q.seq > r.seq && q.seq - r.seq >= w->size()) {
        r.pkt.status = Status::too_old;
        break;
      }
    }
  }
}

}  // namespace rl
