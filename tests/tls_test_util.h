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

// Inputs for seal's one-record path against its burst loops: the usual
// records (seal_one takes them) with every kind it leaves to seal_chunk
// between them: empty application data, another type, an alert that does not
// close, too little headroom or tailroom, too long, a type that cannot be
// sealed, a full-size record.
inline std::vector<ToSeal> seal_mix(uint64_t seed) {
  std::vector<ToSeal> v;
  for (int i = 0; i < 6; ++i) v.push_back({rl::test::random_bytes(1350 + i, seed + i)});
  v.push_back({{}, application_data});
  v.push_back({rl::test::random_bytes(40, seed + 20), handshake});
  v.push_back({Bytes{1, 90}, alert});  // warning user_canceled: does not close
  v.push_back({rl::test::random_bytes(10, seed + 21), application_data, 4});  // no headroom
  v.push_back({rl::test::random_bytes(10, seed + 22), application_data, 16, 15});  // no room for the tag
  v.push_back({rl::test::random_bytes(10, seed + 26), application_data, 16, 16});  // 1.3: no room for the type
  v.push_back({rl::test::random_bytes(kMaxPlaintext + 1, seed + 23)});
  v.push_back({rl::test::random_bytes(10, seed + 24), change_cipher_spec});
  v.push_back({rl::test::random_bytes(kMaxPlaintext, seed + 25), application_data, 16, 17});
  for (int i = 0; i < 5; ++i) v.push_back({rl::test::random_bytes(64 + 97 * i, seed + 30 + i)});
  return v;
}

// The cases of SealOneAtATimeEqualsBursts for one version and suite: seal_mix
// sealed in bursts and one at a time (expect_seal_burst_equals_one_by_one) as
// it is, padded, near record and byte limits, near the end of the sequence
// space, with an age limit, and across close_notify. `config` is the
// version's Config; `install(rp, limits, initial_seq)` installs the sealing
// key; `usual`: how many of seal_mix's records seal.
template <class Install>
void seal_one_cases(const Config& config, Install&& install, size_t usual) {
  struct Fake {
    uint64_t t = 5000;
    static uint64_t read(void* c) { return static_cast<Fake*>(c)->t; }
  } fake;
  auto run = [&](const char* what, const std::vector<ToSeal>& in, size_t burst_len,
                 const Limits* l = nullptr, uint64_t initial_seq = 0, Padding pad = {},
                 bool ages = false) -> size_t {
    SCOPED_TRACE(what);
    Config c = config;
    if (ages) c.clock = Clock{&Fake::read, &fake};
    RecordProtection a(c), b(c);
    EXPECT_EQ(install(a, l, initial_seq), Status::ok);
    EXPECT_EQ(install(b, l, initial_seq), Status::ok);
    EXPECT_EQ(a.set_padding(pad), Status::ok);
    EXPECT_EQ(b.set_padding(pad), Status::ok);
    KeyEvent e;
    while (a.poll_event(e)) {}
    while (b.poll_event(e)) {}
    return expect_seal_burst_equals_one_by_one(a, b, in, burst_len);
  };
  const std::vector<ToSeal> mix = seal_mix(80);
  EXPECT_EQ(run("bursts of 5", mix, 5), usual);
  EXPECT_EQ(run("one burst", mix, 64), usual);
  run("padded", mix, 5, nullptr, 0, {Padding::multiple, 64});
  Limits l;
  l.soft_records = 4;
  l.hard_records = 9;
  l.soft_bytes = 20000;
  EXPECT_EQ(run("record limits", mix, 3, &l), 9u);
  Limits bytes_only;
  bytes_only.hard_bytes = 6000;
  run("byte limit", mix, 4, &bytes_only);
  run("end of the sequence space", mix, 2, nullptr, ~uint64_t{0} - 4);
  Limits ages;
  ages.soft_age_s = 10;
  ages.hard_age_s = 20;
  run("age limit", mix, 5, &ages, 0, {}, true);
  std::vector<ToSeal> closing = mix;
  closing.insert(closing.begin() + 3, ToSeal{Bytes{1, close_notify}, alert});
  EXPECT_EQ(run("close_notify", closing, 4), 4u);
}

}  // namespace rl::tls::test
