// Helpers shared by the TLS tests: records in owned buffers with head/tailroom.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/tls.h"
#include "tests/support/vectors.h"

namespace rl::tls::test {

using rl::test::Bytes;

// A buffer with `head` bytes of headroom before the content and room after it.
struct Buf {
  std::vector<uint8_t> mem;
  Record rec;
  Buf(const Bytes& content, uint8_t type = application_data, size_t head = 16,
      size_t tail = kMaxPlaintext + 300) {
    mem.assign(head + content.size() + tail, 0xee);
    if (!content.empty()) std::memcpy(mem.data() + head, content.data(), content.size());
    rec.buf = mem.data();
    rec.capacity = static_cast<uint32_t>(mem.size());
    rec.offset = static_cast<uint32_t>(head);
    rec.length = static_cast<uint32_t>(content.size());
    rec.type = type;
  }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  Buf(Buf&&) = default;
  Buf& operator=(Buf&&) = default;
  // A whole protected record, to open.
  static Buf wire(const Bytes& record) {
    Buf b(record, application_data, 0, 0);
    return b;
  }
  Bytes bytes() const { return Bytes(rec.buf + rec.offset, rec.buf + rec.offset + rec.length); }
};

// Opens `wire` (whole records, one per view) as one burst on `burst` and one
// record at a time on `one` (two receivers with the same key and config),
// and expects the same for every record: status, type, sequence number,
// view and bytes; then the same sequence and key counters. This is how
// open's lean loops (the usual records) are held to its general ones.
// `sent` holds, per record, the type and content it was sealed with, or an
// empty type (0) for a record that must be refused: both ways are also held
// to that (one record at a time takes the lean loops too).
struct Sent {
  uint8_t type = 0;
  Bytes content;
};
// Records as they go on the wire, each with what it was sealed with.
struct Wire {
  std::vector<Bytes> records;
  std::vector<Sent> sent;
  // Seals `content` as one record of `type` on `tx`.
  void seal(RecordProtection& tx, const Bytes& content, uint8_t type) {
    Buf b(content, type);
    Record r = b.rec;
    EXPECT_EQ(tx.seal({&r, 1}), 1u);
    records.emplace_back(r.data(), r.data() + r.length);
    sent.push_back({type, content});
  }
  // A record that must be refused.
  void refused(Bytes record) {
    records.push_back(std::move(record));
    sent.emplace_back();
  }
};

inline void expect_burst_equals_one_by_one(RecordProtection& burst, RecordProtection& one,
                                           const Wire& w) {
  const std::vector<Bytes>& wire = w.records;
  const std::vector<Sent>& sent = w.sent;
  std::vector<Buf> a, b;
  for (const Bytes& w : wire) {
    a.push_back(Buf::wire(w));
    b.push_back(Buf::wire(w));
  }
  std::vector<Record> recs;
  for (Buf& x : a) recs.push_back(x.rec);
  const size_t ok_burst = burst.open(recs);
  size_t ok_one = 0;
  for (size_t i = 0; i < wire.size(); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    Record r = b[i].rec;
    ok_one += one.open({&r, 1});
    EXPECT_EQ(recs[i].status, r.status);
    EXPECT_EQ(r.status == Status::ok, sent[i].type != 0);
    if (r.status == Status::ok) {
      EXPECT_EQ(r.type, sent[i].type);
      EXPECT_EQ(Bytes(r.data(), r.data() + r.length), sent[i].content);
    }
    if (r.status != Status::ok) {
      // Refused: its bytes are as they arrived, both ways.
      EXPECT_EQ(Bytes(recs[i].buf, recs[i].buf + recs[i].capacity), wire[i]);
      EXPECT_EQ(Bytes(r.buf, r.buf + r.capacity), wire[i]);
      continue;
    }
    EXPECT_EQ(recs[i].type, r.type);
    EXPECT_EQ(recs[i].seq, r.seq);
    EXPECT_EQ(recs[i].offset, r.offset);
    EXPECT_EQ(recs[i].length, r.length);
    EXPECT_EQ(Bytes(recs[i].data(), recs[i].data() + recs[i].length),
              Bytes(r.data(), r.data() + r.length));
  }
  EXPECT_EQ(ok_burst, ok_one);
  EXPECT_EQ(burst.sequence(Direction::open), one.sequence(Direction::open));
  const KeyCounters& cb = burst.counters(Direction::open);
  const KeyCounters& co = one.counters(Direction::open);
  EXPECT_EQ(cb.opened, co.opened);
  EXPECT_EQ(cb.bytes_opened, co.bytes_opened);
  EXPECT_EQ(cb.auth_failures, co.auth_failures);
}

// What to seal: content and type in a buffer with `head` bytes of headroom
// and `tail` bytes of tailroom.
struct ToSeal {
  Bytes content;
  uint8_t type = application_data;
  size_t head = 16, tail = 64;
};

// Seals `in` in bursts of `burst_len` on `burst` and one record at a time on
// `one` (two sealers with the same key, padding and config), and expects the
// same for every record: status, sequence number, view and every byte of its
// buffer; then the same sequence, closed state and key counters. This holds
// seal's one-record path (seal_one) to its burst loops. Returns how many
// sealed.
inline size_t expect_seal_burst_equals_one_by_one(RecordProtection& burst, RecordProtection& one,
                                                  const std::vector<ToSeal>& in, size_t burst_len) {
  std::vector<Buf> a, b;
  for (const ToSeal& t : in) {
    a.emplace_back(t.content, t.type, t.head, t.tail);
    b.emplace_back(t.content, t.type, t.head, t.tail);
  }
  std::vector<Record> recs;
  for (Buf& x : a) recs.push_back(x.rec);
  size_t ok_burst = 0;
  for (size_t i = 0; i < recs.size(); i += burst_len)
    ok_burst += burst.seal(std::span<Record>(recs).subspan(i, std::min(burst_len, recs.size() - i)));
  size_t ok_one = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    Record r = b[i].rec;
    ok_one += one.seal({&r, 1});
    EXPECT_EQ(recs[i].status, r.status);
    EXPECT_EQ(recs[i].offset, r.offset);
    EXPECT_EQ(recs[i].length, r.length);
    if (r.status == Status::ok) {
      EXPECT_EQ(recs[i].seq, r.seq);
    }
    EXPECT_EQ(a[i].mem, b[i].mem);
  }
  EXPECT_EQ(ok_burst, ok_one);
  EXPECT_EQ(burst.sequence(Direction::seal), one.sequence(Direction::seal));
  EXPECT_EQ(burst.closed(Direction::seal), one.closed(Direction::seal));
  const KeyCounters& cb = burst.counters(Direction::seal);
  const KeyCounters& co = one.counters(Direction::seal);
  EXPECT_EQ(cb.sealed, co.sealed);
  EXPECT_EQ(cb.bytes_sealed, co.bytes_sealed);
  KeyEvent eb, eo;
  while (burst.poll_event(eb)) {
    if (!one.poll_event(eo)) {
      ADD_FAILURE() << "an event the one-at-a-time side did not queue";
      break;
    }
    EXPECT_EQ(eb.kind, eo.kind);
    EXPECT_EQ(eb.records, eo.records);
    EXPECT_EQ(eb.bytes, eo.bytes);
  }
  EXPECT_FALSE(one.poll_event(eo));
  return ok_one;
}

}  // namespace rl::tls::test
