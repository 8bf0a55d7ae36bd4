// The key lifecycle every protocol shares (DESIGN.md §4, RFC 8922 §5: KU, KE, CT).
//
// A KeyEpoch is one key of one direction: suite + expanded key + limits +
// counters + lifetime. Protocols hold a few of them (current, next, previous)
// and call the admit/count functions on the hot path; crossing a soft limit
// queues a KeyEvent, crossing a hard one makes the key refuse work. Events are
// polled, never called back, so the data path never calls out.
//
// Not thread-safe: one protocol object, one thread.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "simd/aead_key.h"
#include "simd/status.h"
#include "simd/suite.h"

namespace rl {

enum class Direction : uint8_t { seal, open };
constexpr const char* to_string(Direction d) { return d == Direction::seal ? "seal" : "open"; }

enum class Protocol : uint8_t { tls13, tls12, dtls12, dtls13, quic, srtp, srtcp, esp, wireguard, openvpn };

inline constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// Soft/hard pairs per key epoch. Records = packets sealed (confidentiality
// limit); auth failures = opens that failed to authenticate (integrity limit);
// ages are seconds since install on the epoch's clock. kUnlimited = no limit.
struct Limits {
  uint64_t soft_records = kUnlimited, hard_records = kUnlimited;
  uint64_t soft_bytes = kUnlimited, hard_bytes = kUnlimited;
  uint64_t soft_auth_failures = kUnlimited, max_auth_failures = kUnlimited;
  uint64_t soft_age_s = kUnlimited, hard_age_s = kUnlimited;

  // Protocols read the clock on the data path only for keys with an age
  // limit: a clock call per burst is a visible share of a small record's cost.
  constexpr bool has_age_limit() const {
    return soft_age_s != kUnlimited || hard_age_s != kUnlimited;
  }
};

// Defaults per protocol and suite, from the RFCs (see keys.cc for the table and
// where each number comes from).
Limits default_limits(Protocol p, Suite s);

struct KeyEvent {
  enum Kind : uint8_t {
    soft_limit,       // rekey now: records, bytes or age crossed its soft value
    hard_limit,       // the key refuses to seal any more (key_exhausted / key_expired)
    integrity_limit,  // too many failed opens: the key is dead (RFC 9001 §6.6)
    peer_updated,     // the peer moved to its next key (first packet authenticated)
    expired,          // the key was wiped (expire/close, or hard age)
    installed,        // a key became current
  };
  uint64_t epoch = 0;
  Direction dir = Direction::seal;
  Kind kind = soft_limit;
  uint64_t records = 0;  // counters at the time of the event
  uint64_t bytes = 0;
};
const char* to_string(KeyEvent::Kind k);

// A bounded ring of events. When full, new events are counted as dropped
// (Status codes on the data path still say what happened).
class EventQueue {
 public:
  static constexpr size_t kCapacity = 64;
  void push(const KeyEvent& e);
  bool poll(KeyEvent& out);
  size_t size() const { return count_; }
  uint64_t dropped() const { return dropped_; }

 private:
  KeyEvent ring_[kCapacity];
  size_t head_ = 0, count_ = 0;
  uint64_t dropped_ = 0;
};

// An injectable clock in whole seconds (monotonic by default).
struct Clock {
  uint64_t (*now)(void* ctx) = nullptr;
  void* ctx = nullptr;
  uint64_t read() const;
};
uint64_t monotonic_seconds(void* = nullptr);

struct KeyCounters {
  uint64_t sealed = 0, opened = 0;            // records that authenticated / were protected
  uint64_t bytes_sealed = 0, bytes_opened = 0;
  uint64_t auth_failures = 0, replays = 0;
};

// Failed opens the integrity limit `max` still allows after `failed` of them
// (0: the next failure reaches it, or it is reached).
inline uint64_t failures_left(uint64_t max, uint64_t failed) { return max > failed ? max - failed : 0; }

// The fewest failures any live key of `epochs` (each with .live() and a
// KeyEpoch .key) still allows.
template <class Epochs>
uint64_t fewest_failures_left(const Epochs& epochs) {
  uint64_t left = kUnlimited;
  for (const auto& e : epochs)
    if (e.live()) left = std::min(left, e.key.failures_left());
  return left;
}

// Bursts count their failed opens after the AEAD pass. So that a burst
// refuses what one-at-a-time opens would once a failure reaches the integrity
// limit, it is opened in chunks (of at most `burst`) that hold no more
// records than the failures the keys still allow (`budget()`, read before
// each chunk; 0: the next failure kills a key): a chunk then reaches
// the limit, if at all, only at its last record. Far from the limit a chunk
// is `burst` long.
template <class T, class Left, class OpenChunk>
size_t open_within_integrity(std::span<T> items, size_t burst, Left&& budget,
                             OpenChunk&& open_chunk) {
  size_t ok = 0;
  for (size_t i = 0; i < items.size();) {
    size_t n = std::min(burst, items.size() - i);
    if (const uint64_t left = budget(); left < n) [[unlikely]]
      n = left == 0 ? 1 : static_cast<size_t>(left);
    ok += open_chunk(items.subspan(i, n));
    i += n;
  }
  return ok;
}

class KeyEpoch {
 public:
  KeyEpoch() = default;
  KeyEpoch(const KeyEpoch&) = delete;
  KeyEpoch& operator=(const KeyEpoch&) = delete;

  // Install `key` for `suite`; refuses wrong lengths with invalid_argument and
  // leaves the epoch empty. `events` may be null (no events queued).
  Status install(uint64_t epoch_id, Direction dir, Suite suite, std::span<const uint8_t> key,
                 const Limits& limits, uint64_t now, EventQueue* events, size_t tag_len = 0);
  // Wipes the key material (OPENSSL_cleanse) and queues `expired` if it was live.
  void expire();

  bool live() const { return key_.valid(); }
  uint64_t id() const { return id_; }
  Direction direction() const { return dir_; }
  Suite suite() const { return key_.suite(); }
  const AeadKey& aead() const { return key_; }
  const Limits& limits() const { return limits_; }
  const KeyCounters& counters() const { return counters_; }
  uint64_t installed_at() const { return installed_at_; }

  // Hot path. admit_seal checks that `records` more records of `bytes` total
  // fit under the hard limits and age, and if so counts them; otherwise returns
  // key_exhausted / key_expired and counts nothing.
  // The common case (far from every limit, nothing to report) is inline; the
  // rest goes to the out-of-line path that raises events.
  Status admit_seal(uint64_t records, uint64_t bytes, uint64_t now) {
    if (quiet(now) && records < quiet_records_ - counters_.sealed &&
        bytes < quiet_bytes_ - counters_.bytes_sealed) {
      counters_.sealed += records;
      counters_.bytes_sealed += bytes;
      return Status::ok;
    }
    return admit_seal_slow(records, bytes, now);
  }
  // Checks that the key may open at all (live, not past its hard age).
  Status admit_open(uint64_t now) { return quiet(now) ? Status::ok : admit_open_slow(now); }
  void count_opened(uint64_t bytes) { count_opened(1, bytes); }
  // `records` records of `bytes` in all, counted once (a burst's).
  void count_opened(uint64_t records, uint64_t bytes) {
    counters_.opened += records;
    counters_.bytes_opened += bytes;
    if (counters_.bytes_opened >= limits_.soft_bytes) opened_past_soft();
  }
  void count_replay() { ++counters_.replays; }
  // Returns key_exhausted once the integrity limit is reached (the key is then
  // wiped), ok otherwise.
  Status count_auth_failure();
  // Failed opens the key may still see before the integrity limit kills it.
  uint64_t failures_left() const {
    return rl::failures_left(limits_.max_auth_failures, counters_.auth_failures);
  }

 private:
  void event(KeyEvent::Kind k);
  void check_soft(uint64_t now);
  Status admit_seal_slow(uint64_t records, uint64_t bytes, uint64_t now);
  Status admit_open_slow(uint64_t now);
  void opened_past_soft();
  // Live, younger than both age limits (or the clock went back), and the seal
  // counters below quiet_*: no limit can trip and no event is due.
  bool quiet(uint64_t now) const {
    return key_.valid() && (now < installed_at_ || now - installed_at_ < quiet_age_) &&
           counters_.sealed < quiet_records_ && counters_.bytes_sealed < quiet_bytes_;
  }

  AeadKey key_;
  Limits limits_;
  KeyCounters counters_;
  EventQueue* events_ = nullptr;
  uint64_t id_ = 0;
  uint64_t installed_at_ = 0;
  // Counts below which neither a soft nor a hard limit is reached:
  // min(soft, hard + 1), and the younger of the two age limits.
  uint64_t quiet_records_ = 0, quiet_bytes_ = 0, quiet_age_ = 0;
  Direction dir_ = Direction::seal;
  bool soft_sent_ = false, hard_sent_ = false, integrity_sent_ = false;
};

// "Now" for the keys of one burst: the clock is read at most once, and only
// when a key has an age limit (a clock call is a visible share of a small
// record's cost); a key without one is given its install time.
class BurstClock {
 public:
  explicit BurstClock(const Clock& c) : clock_(c) {}
  uint64_t now_for(const KeyEpoch& k) {
    if (!k.limits().has_age_limit()) return k.installed_at();
    if (!read_) {
      now_ = clock_.read();
      read_ = true;
    }
    return now_;
  }

 private:
  const Clock& clock_;
  uint64_t now_ = 0;
  bool read_ = false;
};

}  // namespace rl
