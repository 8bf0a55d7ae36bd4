#include "core/keys.h"

#include <algorithm>
#include <ctime>

namespace rl {
namespace {

// Soft limits sit at three quarters of the hard ones: early enough that a
// handshake layer has time to rekey, late enough not to churn keys.
constexpr uint64_t soft_of(uint64_t hard) { return hard == kUnlimited ? kUnlimited : hard - hard / 4; }

Limits records_limits(uint64_t hard_records, uint64_t max_auth_failures) {
  Limits l;
  l.hard_records = hard_records;
  l.soft_records = soft_of(hard_records);
  l.max_auth_failures = max_auth_failures;
  l.soft_auth_failures = soft_of(max_auth_failures);
  return l;
}

}  // namespace

// The default limits table. Every number cites its source.
Limits default_limits(Protocol p, Suite s) {
  const bool gcm = s != Suite::chacha20_poly1305;
  switch (p) {
    case Protocol::tls13:
    case Protocol::tls12:
      // RFC 8446 §5.5: AES-GCM may protect up to 2^24.5 full-size records per
      // key; ChaCha20-Poly1305's sequence number wraps first (the record layer
      // refuses the wrap itself). TLS over TCP closes on the first failure, so
      // no integrity budget is needed. TLS 1.2 uses the same AEADs and bounds.
      return records_limits(gcm ? 23726566 : kUnlimited, kUnlimited);
    case Protocol::dtls12:
    case Protocol::dtls13:
      // RFC 9147 §4.5.3: the TLS 1.3 confidentiality limits apply; at most
      // 2^36 records may fail authentication for AES-GCM and ChaCha20-Poly1305.
      return records_limits(gcm ? 23726566 : kUnlimited, uint64_t{1} << 36);
    case Protocol::quic:
      // RFC 9001 §6.6: AES-GCM confidentiality 2^23 packets, integrity 2^52;
      // ChaCha20-Poly1305 confidentiality beyond the 2^62 packet numbers,
      // integrity 2^36.
      return records_limits(gcm ? uint64_t{1} << 23 : kUnlimited,
                            gcm ? uint64_t{1} << 52 : uint64_t{1} << 36);
    case Protocol::srtp:
      // RFC 3711 §9.2: a master key protects at most 2^48 SRTP packets.
      return records_limits(uint64_t{1} << 48, kUnlimited);
    case Protocol::srtcp:
      // RFC 3711 §9.2: and at most 2^31 SRTCP packets.
      return records_limits(uint64_t{1} << 31, kUnlimited);
    case Protocol::esp:
      // RFC 4303 has no AEAD usage limit; the IKE daemon sets SA lifetimes.
      // The 32-bit sequence (without ESN) is enforced by the ESP layer itself.
      return Limits{};
    case Protocol::wireguard: {
      // WireGuard protocol constants: RekeyAfterMessages 2^60,
      // RejectAfterMessages 2^64 - 2^13 - 1, RekeyAfterTime 120 s,
      // RejectAfterTime 180 s.
      Limits l;
      l.soft_records = uint64_t{1} << 60;
      l.hard_records = kUnlimited - (uint64_t{1} << 13);
      l.soft_age_s = 120;
      l.hard_age_s = 180;
      return l;
    }
    case Protocol::openvpn:
      // OpenVPN 2.6's own bounds (no wrap of the 32-bit packet ID, AES-GCM
      // usage of 2^36 - 1 blocks + packets) are kept by core/openvpn.cc;
      // --reneg-sec/--reneg-bytes/--reneg-pkts are the control channel's.
      return Limits{};
  }
  return Limits{};
}

const char* to_string(KeyEvent::Kind k) {
  switch (k) {
    case KeyEvent::soft_limit: return "soft_limit";
    case KeyEvent::hard_limit: return "hard_limit";
    case KeyEvent::integrity_limit: return "integrity_limit";
    case KeyEvent::peer_updated: return "peer_updated";
    case KeyEvent::expired: return "expired";
    case KeyEvent::installed: return "installed";
  }
  return "?";
}

void EventQueue::push(const KeyEvent& e) {
  if (count_ == kCapacity) {
    ++dropped_;
    return;
  }
  ring_[(head_ + count_) % kCapacity] = e;
  ++count_;
}

bool EventQueue::poll(KeyEvent& out) {
  if (count_ == 0) return false;
  out = ring_[head_];
  head_ = (head_ + 1) % kCapacity;
  --count_;
  return true;
}

uint64_t monotonic_seconds(void*) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec);
}

uint64_t Clock::read() const { return now != nullptr ? now(ctx) : monotonic_seconds(); }

Status KeyEpoch::install(uint64_t epoch_id, Direction dir, Suite suite,
                         std::span<const uint8_t> key, const Limits& limits, uint64_t now,
                         EventQueue* events, size_t tag_len) {
  key_.wipe();
  const Status st = key_.init(suite, key, tag_len);
  if (st != Status::ok) return st;
  id_ = epoch_id;
  dir_ = dir;
  limits_ = limits;
  counters_ = KeyCounters{};
  events_ = events;
  installed_at_ = now;
  soft_sent_ = hard_sent_ = integrity_sent_ = false;
  const auto below = [](uint64_t soft, uint64_t hard) {
    return std::min(soft, hard == kUnlimited ? hard : hard + 1);
  };
  quiet_records_ = below(limits.soft_records, limits.hard_records);
  quiet_bytes_ = below(limits.soft_bytes, limits.hard_bytes);
  quiet_age_ = std::min(limits.soft_age_s, limits.hard_age_s);
  return Status::ok;
}

void KeyEpoch::expire() {
  const bool was_live = key_.valid();
  key_.wipe();
  if (was_live) event(KeyEvent::expired);
}

void KeyEpoch::event(KeyEvent::Kind k) {
  if (events_ == nullptr) return;
  KeyEvent e;
  e.epoch = id_;
  e.dir = dir_;
  e.kind = k;
  e.records = dir_ == Direction::seal ? counters_.sealed : counters_.opened;
  e.bytes = dir_ == Direction::seal ? counters_.bytes_sealed : counters_.bytes_opened;
  events_->push(e);
}

void KeyEpoch::check_soft(uint64_t now) {
  if (soft_sent_) return;
  const uint64_t age = now - installed_at_;
  if (counters_.sealed >= limits_.soft_records || counters_.bytes_sealed >= limits_.soft_bytes ||
      (now >= installed_at_ && age >= limits_.soft_age_s)) {
    soft_sent_ = true;
    event(KeyEvent::soft_limit);
  }
}

Status KeyEpoch::admit_seal_slow(uint64_t records, uint64_t bytes, uint64_t now) {
  if (!key_.valid()) return Status::key_expired;
  if (now >= installed_at_ && now - installed_at_ >= limits_.hard_age_s) {
    if (!hard_sent_) {
      hard_sent_ = true;
      event(KeyEvent::hard_limit);
    }
    return Status::key_expired;
  }
  // Overflow-safe: "counter + n > limit" written as "n > limit - counter".
  if (records > limits_.hard_records - counters_.sealed ||
      bytes > limits_.hard_bytes - counters_.bytes_sealed) {
    if (!hard_sent_) {
      hard_sent_ = true;
      event(KeyEvent::hard_limit);
    }
    return Status::key_exhausted;
  }
  counters_.sealed += records;
  counters_.bytes_sealed += bytes;
  check_soft(now);
  return Status::ok;
}

Status KeyEpoch::admit_open_slow(uint64_t now) {
  if (!key_.valid()) return Status::key_expired;
  if (now >= installed_at_ && now - installed_at_ >= limits_.hard_age_s) {
    if (!hard_sent_) {
      hard_sent_ = true;
      event(KeyEvent::hard_limit);
    }
    return Status::key_expired;
  }
  check_soft(now);
  return Status::ok;
}

void KeyEpoch::opened_past_soft() {
  if (!soft_sent_ && dir_ == Direction::open) {
    soft_sent_ = true;
    event(KeyEvent::soft_limit);
  }
}

Status KeyEpoch::count_auth_failure() {
  ++counters_.auth_failures;
  if (counters_.auth_failures >= limits_.max_auth_failures) {
    if (!integrity_sent_) {
      integrity_sent_ = true;
      event(KeyEvent::integrity_limit);
    }
    key_.wipe();  // RFC 9001 §6.6: the key MUST NOT be used any more
    return Status::key_exhausted;
  }
  if (counters_.auth_failures >= limits_.soft_auth_failures && !soft_sent_) {
    soft_sent_ = true;
    event(KeyEvent::soft_limit);
  }
  return Status::ok;
}

}  // namespace rl
