// Helpers shared by the DTLS 1.2 and DTLS 1.3 tests.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "core/keys.h"
#include "tests/support/vectors.h"

namespace rl::test {

// A record in an owned buffer with `kHead` bytes of headroom (header, CID,
// explicit nonce) and room after the content (tag, inner type, padding), as
// the engine expects; `Record` is dtls::Record or dtls13::Record.
template <class Record, uint32_t kHead>
struct RecordBuf {
  static constexpr uint32_t kTail = 64 + 256;
  Bytes mem;
  Record rec;
  explicit RecordBuf(const Bytes& plain, uint8_t type = 23) {
    mem.assign(kHead + plain.size() + kTail, 0xee);
    if (!plain.empty()) std::memcpy(mem.data() + kHead, plain.data(), plain.size());
    rec.pkt = {mem.data(), static_cast<uint32_t>(mem.size()), kHead,
               static_cast<uint32_t>(plain.size()), Status::ok};
    rec.type = type;
  }
  // rec.pkt points into mem: moving keeps the heap buffer, copying would not.
  RecordBuf(const RecordBuf&) = delete;
  RecordBuf& operator=(const RecordBuf&) = delete;
  RecordBuf(RecordBuf&&) = default;
  RecordBuf& operator=(RecordBuf&&) = default;
  // A received record: exactly the bytes, no room needed.
  static Record view(Bytes& wire) {
    Record r;
    r.pkt = {wire.data(), static_cast<uint32_t>(wire.size()), 0,
             static_cast<uint32_t>(wire.size()), Status::ok};
    return r;
  }
  Bytes bytes() const { return Bytes(rec.pkt.data(), rec.pkt.data() + rec.pkt.length); }
};

// Records as they go on the wire, each with the type and content it was
// sealed with (type 0: a record that must be refused).
struct Wire {
  std::vector<Bytes> records;
  std::vector<std::pair<uint8_t, Bytes>> sent;
  void add(Bytes record, uint8_t type, Bytes content) {
    records.push_back(std::move(record));
    sent.emplace_back(type, std::move(content));
  }
  void refused(Bytes record) { add(std::move(record), 0, {}); }
  void clear() {
    records.clear();
    sent.clear();
  }
};

// Opens `w.records` (one record per view) as one burst on `burst` and one
// record at a time on `one` (two receivers with the same keys), and expects
// the same for every record and each of `epochs` (window, counters); both
// ways are also held to what `w.sent` says each record was sealed with. A copy of a record of
// the same burst is found replayed alone but may fail authentication in the
// burst, before its twin is committed: refused either way, as it arrived,
// and counted as one failure or replay either way. `Buf` is the test's
// RecordBuf.
template <class Buf, class Proto>
void expect_burst_equals_one_by_one(Proto& burst, Proto& one, const Wire& w,
                                    std::initializer_list<uint64_t> epochs) {
  const std::vector<Bytes>& wire = w.records;
  const std::vector<std::pair<uint8_t, Bytes>>& sent = w.sent;
  ASSERT_EQ(wire.size(), sent.size());
  using Record = decltype(Buf::view(std::declval<Bytes&>()));
  std::vector<Bytes> wa = wire, wb = wire;
  std::vector<Record> recs;
  for (Bytes& w : wa) recs.push_back(Buf::view(w));
  const size_t ok_burst = burst.open(recs);
  size_t ok_one = 0;
  for (size_t i = 0; i < wire.size(); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    Record r = Buf::view(wb[i]);
    ok_one += one.open({&r, 1});
    const Record& q = recs[i];
    EXPECT_EQ(r.status() == Status::ok, sent[i].first != 0);
    if (r.status() != Status::ok) {
      EXPECT_NE(q.status(), Status::ok);
      EXPECT_EQ(wa[i], wire[i]);
      continue;
    }
    EXPECT_EQ(q.status(), Status::ok);
    EXPECT_EQ(r.type, sent[i].first);
    EXPECT_EQ(Bytes(r.pkt.data(), r.pkt.data() + r.pkt.length), sent[i].second);
    EXPECT_EQ(q.type, r.type);
    EXPECT_EQ(q.epoch, r.epoch);
    EXPECT_EQ(q.seq, r.seq);
    EXPECT_EQ(q.newest, r.newest);
    EXPECT_EQ(q.cid.size(), r.cid.size());
    EXPECT_EQ(Bytes(q.pkt.data(), q.pkt.data() + q.pkt.length), sent[i].second);
  }
  EXPECT_EQ(ok_burst, ok_one);
  for (uint64_t ep : epochs) {
    SCOPED_TRACE("epoch " + std::to_string(ep));
    const auto* win_b = burst.window(ep);
    const auto* win_o = one.window(ep);
    const auto* key_b = burst.key(Direction::open, ep);
    const auto* key_o = one.key(Direction::open, ep);
    ASSERT_TRUE(win_b != nullptr && win_o != nullptr && key_b != nullptr && key_o != nullptr);
    EXPECT_EQ(win_b->empty(), win_o->empty());
    EXPECT_EQ(win_b->highest(), win_o->highest());
    const KeyCounters& kb = key_b->counters();
    const KeyCounters& ko = key_o->counters();
    EXPECT_EQ(kb.opened, ko.opened);
    EXPECT_EQ(kb.bytes_opened, ko.bytes_opened);
    // A record that one at a time is refused before its AEAD as a replay
    // (a repeat of one earlier in the burst) is a replay in the burst too,
    // not a failure: the integrity limit counts the same either way.
    EXPECT_EQ(kb.auth_failures, ko.auth_failures);
    EXPECT_EQ(kb.replays, ko.replays);
  }
}

}  // namespace rl::test

namespace rl::test {

// Both receivers' replay windows of each of `epochs` give the same answer
// for every sequence number from below the oldest one they can hold to just
// above the newest (not only the same top): a window committed once for a
// burst must hold exactly the bits that committing one record at a time sets.
template <class Proto>
void expect_same_windows(const Proto& burst, const Proto& one, std::initializer_list<uint64_t> epochs) {
  for (uint64_t ep : epochs) {
    SCOPED_TRACE("window of epoch " + std::to_string(ep));
    const auto* wb = burst.window(ep);
    const auto* wo = one.window(ep);
    ASSERT_TRUE(wb != nullptr && wo != nullptr);
    ASSERT_EQ(wb->empty(), wo->empty());
    ASSERT_EQ(wb->size(), wo->size());
    if (wb->empty()) continue;
    ASSERT_EQ(wb->highest(), wo->highest());
    const uint64_t top = wb->highest();
    const uint64_t from = top > wb->size() + 2 ? top - wb->size() - 2 : 0;
    for (uint64_t seq = from; seq <= top + 2; ++seq)
      ASSERT_EQ(wb->check(seq), wo->check(seq)) << "seq " << seq;
  }
}

// Both queues hold the same events (kind, epoch, direction and the counters
// each carries), in the same order; both are drained.
template <class Proto>
void expect_same_events(Proto& a, Proto& b) {
  auto drain = [](Proto& p) {
    std::vector<std::string> out;
    KeyEvent e;
    while (p.poll_event(e))
      out.push_back(std::string(to_string(e.kind)) + " epoch " + std::to_string(e.epoch) + " " +
                    to_string(e.dir) + " records " + std::to_string(e.records) + " bytes " +
                    std::to_string(e.bytes));
    return out;
  };
  EXPECT_EQ(drain(a), drain(b));
}

}  // namespace rl::test
