// The key lifecycle: limits, soft/hard events, lifetimes on a fake clock,
// integrity budget, wiping, misuse.
#include <gtest/gtest.h>

#include "core/keys.h"
#include "tests/support/vectors.h"

namespace rl {
namespace {

struct FakeClock {
  uint64_t t = 1000;
  static uint64_t read(void* c) { return static_cast<FakeClock*>(c)->t; }
  Clock clock() { return Clock{&FakeClock::read, this}; }
};

std::vector<KeyEvent> drain(EventQueue& q) {
  std::vector<KeyEvent> v;
  KeyEvent e;
  while (q.poll(e)) v.push_back(e);
  return v;
}

TEST(Keys, RecordLimitsSoftThenHardNeverOver) {
  EventQueue q;
  KeyEpoch k;
  Limits l;
  l.soft_records = 3;
  l.hard_records = 5;
  ASSERT_EQ(k.install(7, Direction::seal, Suite::aes128_gcm, test::random_bytes(16, 1), l, 0, &q),
            Status::ok);
  EXPECT_EQ(k.admit_seal(2, 100, 0), Status::ok);
  EXPECT_TRUE(drain(q).empty());
  EXPECT_EQ(k.admit_seal(1, 100, 0), Status::ok);  // 3 = soft
  auto ev = drain(q);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, KeyEvent::soft_limit);
  EXPECT_EQ(ev[0].epoch, 7u);
  EXPECT_EQ(ev[0].records, 3u);
  EXPECT_EQ(k.admit_seal(3, 100, 0), Status::key_exhausted);  // 6 > 5: refused whole
  EXPECT_EQ(k.counters().sealed, 3u);
  EXPECT_EQ(k.admit_seal(2, 100, 0), Status::ok);  // exactly 5
  EXPECT_EQ(k.admit_seal(1, 1, 0), Status::key_exhausted);
  ev = drain(q);
  ASSERT_EQ(ev.size(), 1u);  // hard_limit queued once
  EXPECT_EQ(ev[0].kind, KeyEvent::hard_limit);
  EXPECT_EQ(k.counters().sealed, 5u);
}

TEST(Keys, ByteLimits) {
  EventQueue q;
  KeyEpoch k;
  Limits l;
  l.soft_bytes = 1000;
  l.hard_bytes = 1500;
  ASSERT_EQ(k.install(1, Direction::seal, Suite::chacha20_poly1305, test::random_bytes(32, 1), l, 0, &q),
            Status::ok);
  EXPECT_EQ(k.admit_seal(1, 999, 0), Status::ok);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(k.admit_seal(1, 1, 0), Status::ok);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(k.admit_seal(1, 501, 0), Status::key_exhausted);
  EXPECT_EQ(k.admit_seal(1, 500, 0), Status::ok);
}

TEST(Keys, LifetimesOnInjectedClock) {
  FakeClock fc;
  const Clock c = fc.clock();
  EventQueue q;
  KeyEpoch k;
  Limits l;
  l.soft_age_s = 60;
  l.hard_age_s = 90;
  ASSERT_EQ(k.install(2, Direction::open, Suite::aes256_gcm, test::random_bytes(32, 1), l, c.read(), &q),
            Status::ok);
  fc.t += 59;
  EXPECT_EQ(k.admit_open(c.read()), Status::ok);
  EXPECT_EQ(q.size(), 0u);
  fc.t += 1;
  EXPECT_EQ(k.admit_open(c.read()), Status::ok);
  auto ev = drain(q);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, KeyEvent::soft_limit);
  EXPECT_EQ(ev[0].dir, Direction::open);
  fc.t += 30;
  EXPECT_EQ(k.admit_open(c.read()), Status::key_expired);
  EXPECT_EQ(k.admit_seal(1, 1, c.read()), Status::key_expired);
  ev = drain(q);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, KeyEvent::hard_limit);
}

TEST(Keys, IntegrityLimitKillsTheKey) {
  EventQueue q;
  KeyEpoch k;
  Limits l = default_limits(Protocol::quic, Suite::chacha20_poly1305);
  EXPECT_EQ(l.max_auth_failures, uint64_t{1} << 36);
  l.soft_auth_failures = 2;
  l.max_auth_failures = 4;
  ASSERT_EQ(k.install(3, Direction::open, Suite::chacha20_poly1305, test::random_bytes(32, 1), l, 0, &q),
            Status::ok);
  EXPECT_EQ(k.count_auth_failure(), Status::ok);
  EXPECT_EQ(k.count_auth_failure(), Status::ok);
  EXPECT_EQ(drain(q).at(0).kind, KeyEvent::soft_limit);
  EXPECT_EQ(k.count_auth_failure(), Status::ok);
  EXPECT_EQ(k.count_auth_failure(), Status::key_exhausted);
  EXPECT_FALSE(k.live());
  EXPECT_EQ(drain(q).at(0).kind, KeyEvent::integrity_limit);
  EXPECT_EQ(k.admit_open(0), Status::key_expired);
  for (uint8_t b : k.aead().debug_raw_bytes()) ASSERT_EQ(b, 0);
}

TEST(Keys, ExpireWipesAndSignals) {
  EventQueue q;
  KeyEpoch k;
  ASSERT_EQ(k.install(9, Direction::seal, Suite::aes128_gcm, rl::test::Bytes(16, 0x5a), Limits{}, 0, &q),
            Status::ok);
  k.expire();
  EXPECT_FALSE(k.live());
  for (uint8_t b : k.aead().debug_raw_bytes()) ASSERT_EQ(b, 0);
  for (uint8_t b : k.aead().debug_state_bytes()) ASSERT_EQ(b, 0);
  auto ev = drain(q);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, KeyEvent::expired);
  EXPECT_EQ(k.admit_seal(1, 1, 0), Status::key_expired);
  k.expire();  // a second expire is silent
  EXPECT_EQ(q.size(), 0u);
}

TEST(Keys, MisuseLeavesEpochEmpty) {
  KeyEpoch k;
  EXPECT_EQ(k.install(1, Direction::seal, Suite::aes128_gcm, test::random_bytes(15, 1), Limits{}, 0, nullptr),
            Status::invalid_argument);
  EXPECT_FALSE(k.live());
  EXPECT_EQ(k.admit_seal(1, 1, 0), Status::key_expired);
}

TEST(Keys, DefaultsFromTheRfcs) {
  EXPECT_EQ(default_limits(Protocol::tls13, Suite::aes128_gcm).hard_records, 23726566u);  // 2^24.5
  EXPECT_EQ(default_limits(Protocol::tls13, Suite::chacha20_poly1305).hard_records, kUnlimited);
  EXPECT_EQ(default_limits(Protocol::quic, Suite::aes256_gcm).hard_records, uint64_t{1} << 23);
  EXPECT_EQ(default_limits(Protocol::quic, Suite::aes256_gcm).max_auth_failures, uint64_t{1} << 52);
  EXPECT_EQ(default_limits(Protocol::srtp, Suite::aes128_gcm).hard_records, uint64_t{1} << 48);
  EXPECT_EQ(default_limits(Protocol::srtcp, Suite::aes128_gcm).hard_records, uint64_t{1} << 31);
  for (Protocol p : {Protocol::tls13, Protocol::quic, Protocol::dtls13}) {
    const Limits l = default_limits(p, Suite::aes128_gcm);
    EXPECT_LT(l.soft_records, l.hard_records);
  }
}

TEST(Keys, EventQueueBoundedAndCountsDrops) {
  EventQueue q;
  for (size_t i = 0; i < EventQueue::kCapacity + 5; ++i) q.push(KeyEvent{i, Direction::seal, KeyEvent::soft_limit, 0, 0});
  EXPECT_EQ(q.size(), EventQueue::kCapacity);
  EXPECT_EQ(q.dropped(), 5u);
  KeyEvent e;
  ASSERT_TRUE(q.poll(e));
  EXPECT_EQ(e.epoch, 0u);  // oldest first
}

}  // namespace
}  // namespace rl
