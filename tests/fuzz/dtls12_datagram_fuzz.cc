// libFuzzer target: DTLS 1.2 datagrams holding several records (RFC 6347
// §4.1.1, RFC 9146 CID records) opened through
// RecordProtection::open_datagram (core/dtls.h) against the same datagrams
// framed by this file's own reading of the RFCs and opened one record per
// call.
//
// The input drives a sender that seals records (the three suites, content
// types, sizes, RFC 9146 tls12_cid records with padding, a second epoch,
// sequence numbers starting at 0 or 1) and packs them into datagrams:
// several per datagram in any order, late, duplicated or lost ones,
// unprotected epoch-0 records, junk and zero padding, then maybe one
// mutation of the whole datagram: a flipped bit, a cut, or a length field
// rewritten; now and then a whole datagram from before arrives again.
// Two receivers with the same keys open each datagram: A with
// open_datagram, B by frame() below and open() of one record at a time.
// Any difference aborts: how many records were found, where each starts and
// ends, its status, type, epoch, sequence number, CID, newest flag, the
// bytes of the datagram afterwards, the replay windows and key counters.
//
// The model check: a record whose bytes arrive intact where the sender put
// them, for the first time, with the CID the receiver expects, must open to
// exactly what was sealed (content, type, epoch, sequence number); nothing
// else may open.
//
// At most 60 protected records are sealed and the window holds 64 or 256:
// every record is inside the window however late it arrives.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/dtls.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::fuzz;
using dtls::Record;
using dtls::RecordProtection;

namespace {

constexpr size_t kMaxSealed = 60;
constexpr size_t kOut = 16;  // records per datagram open_datagram is given room for

struct Sealed {
  Bytes wire;     // the record as sent
  Bytes content;  // what was sealed
  uint8_t type = 23;
  uint16_t epoch = 0;
  uint64_t seq = 0;
  bool plaintext = false;  // an unprotected epoch-0 record: never opens
  bool opened = false;
};

// ---- The reference framing (RFC 6347 §4.1, RFC 9146 §4) ----------------------

size_t be16(const uint8_t* p) { return size_t{p[0]} << 8 | p[1]; }

struct Frame {
  size_t len;          // bytes of the datagram this record covers
  bool whole = true;   // false: could not be framed; covers the rest, the walk ends
  size_t length_at = 0;
};

// The record at b[0..left). RFC 6347 §4.1: type(1) version(2) epoch(2)
// sequence_number(6) length(2), whatever the type; RFC 9146 §4: a
// tls12_cid (25) record has the CID before the length, of the length the
// receiver issued (the header does not say). A receiver that issued none
// reads a type-25 record like any other type it does not know: 13 bytes of
// header, the length at 11 (open() then refuses it). A header cut short or
// a length running past the datagram cannot be framed: the record covers
// the rest and nothing after it can be found.
Frame frame(const uint8_t* b, size_t left, size_t cid_len) {
  const size_t hdr = 13 + (b[0] == 25 ? cid_len : 0);
  if (left < hdr) return {left, false};
  const size_t len = hdr + be16(b + hdr - 2);
  if (len > left) return {left, false};
  return {len, true, hdr - 2};
}

// ---- The sender -------------------------------------------------------------------

Sealed seal_record(RecordProtection& tx, Input& in, Suite suite, size_t cid_len, uint32_t serial) {
  const uint8_t shape = in.byte();
  size_t len = in.u16() % 600;
  if ((shape & 0x30) == 0x30) len = in.byte() % 20;        // short ones
  if ((shape & 0x30) == 0x20) len = 600 + in.u16() % 900;  // big ones now and then
  Record r;
  r.type = (shape & 7) == 7 ? 22 : (shape & 7) == 6 ? 21 : 23;
  r.padding = (shape & 8) != 0 && cid_len != 0 ? in.byte() % 40 : 0;
  const size_t head = dtls::seal_headroom(suite, cid_len);
  Bytes buf(head + len + dtls::seal_tailroom(suite, cid_len, r.padding), 0);
  for (size_t i = 0; i < len; ++i) buf[head + i] = static_cast<uint8_t>(serial * 31 + i + 1);
  r.pkt = {buf.data(), static_cast<uint32_t>(buf.size()), static_cast<uint32_t>(head),
           static_cast<uint32_t>(len), Status::ok};
  Sealed s;
  s.content.assign(buf.begin() + head, buf.begin() + head + len);
  s.type = r.type;
  s.epoch = tx.seal_epoch();
  s.seq = tx.next_seq();
  RL_FUZZ_CHECK(tx.seal({&r, 1}) == 1);
  s.wire.assign(r.pkt.data(), r.pkt.data() + r.pkt.length);
  return s;
}

// An epoch-0 record in the clear (a retransmitted handshake flight).
Sealed plaintext_record(Input& in) {
  Sealed s;
  s.plaintext = true;
  const size_t len = in.byte() % 48;
  s.wire = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, in.byte(), static_cast<uint8_t>(len >> 8),
            static_cast<uint8_t>(len)};
  for (size_t i = 0; i < len; ++i) s.wire.push_back(in.byte());
  return s;
}

// ---- The two receivers ---------------------------------------------------------

void open_both(RecordProtection& ra, RecordProtection& rb, const Bytes& dg,
               const std::vector<Seg>& segs, std::vector<Sealed>& sealed, size_t room,
               size_t cid_len, bool cid_match) {
  // A: the library walks the datagram and opens what it found as one burst.
  Bytes da = dg;
  Record qa[kOut];
  size_t found = ~size_t{0};
  const size_t ok_a = ra.open_datagram(da, {qa, room}, &found);

  // B: frame() here, then one record per open() call; a record that could
  // not be framed is offered too (as [off, end)) and must be refused.
  Bytes db = dg;
  size_t ok_b = 0;
  size_t n = 0;
  for (size_t off = 0; off < db.size() && n < room; ++n) {
    const Frame f = frame(db.data() + off, db.size() - off, cid_len);
    const Record& q = qa[n];
    Record r;
    r.pkt = {db.data(), static_cast<uint32_t>(db.size()), static_cast<uint32_t>(off),
             static_cast<uint32_t>(f.len), Status::ok};
    ok_b += rb.open({&r, 1});
    if (debug())
      std::fprintf(stderr, "  [%zu] off %zu len %zu type %u: A %s off %u len %u seq %llu | B %s seq %llu\n",
                   n, off, f.len, db[off], n < found ? to_string(q.status()) : "-", q.pkt.offset,
                   q.pkt.length, static_cast<unsigned long long>(q.seq), to_string(r.status()),
                   static_cast<unsigned long long>(r.seq));
    RL_FUZZ_CHECK(n < found);
    if (!f.whole) RL_FUZZ_CHECK(r.status() != Status::ok);

    // Framing: where A's view started and ended before open narrowed it.
    if (q.status() == Status::ok) {
      RL_FUZZ_CHECK(q.pkt.offset > off && q.pkt.offset + q.pkt.length < off + f.len);
    } else {
      RL_FUZZ_CHECK(q.pkt.offset == off && q.pkt.length == f.len);
    }
    // Status: the same. A repeat of (or a record now too old for) one that
    // opened earlier in the same datagram is refused as a replay on both:
    // A's burst asks the window again, as the records before it left it,
    // for whatever failed its AEAD.
    RL_FUZZ_CHECK(q.status() == r.status());

    // The model: which record (if any) arrived intact here.
    const Seg* seg = nullptr;
    for (const Seg& s : segs)
      if (s.off == off && sealed[s.idx].wire.size() == f.len &&
          std::memcmp(dg.data() + off, sealed[s.idx].wire.data(), f.len) == 0)
        seg = &s;
    if (r.status() != Status::ok) {
      // Refused: the bytes as they arrived, on both.
      RL_FUZZ_CHECK(std::memcmp(db.data() + off, dg.data() + off, f.len) == 0);
      RL_FUZZ_CHECK(std::memcmp(da.data() + off, dg.data() + off, f.len) == 0);
      if (seg != nullptr) {
        const Sealed& s = sealed[seg->idx];
        // Intact, first time, the CID expected: it must open.
        RL_FUZZ_CHECK(s.plaintext || s.opened || !cid_match);
      }
    } else {
      RL_FUZZ_CHECK(seg != nullptr && !sealed[seg->idx].plaintext);  // nothing but what was sealed opens
      Sealed& s = sealed[seg->idx];
      RL_FUZZ_CHECK(!s.opened);  // and only once
      s.opened = true;
      RL_FUZZ_CHECK(r.type == s.type && q.type == s.type);
      RL_FUZZ_CHECK(r.epoch == s.epoch && q.epoch == s.epoch);
      RL_FUZZ_CHECK(r.seq == s.seq && q.seq == s.seq);
      RL_FUZZ_CHECK(r.newest == q.newest);
      RL_FUZZ_CHECK(r.cid.size() == cid_len && q.cid.size() == cid_len);
      RL_FUZZ_CHECK(r.pkt.offset == q.pkt.offset && r.pkt.length == q.pkt.length);
      RL_FUZZ_CHECK(r.pkt.length == s.content.size());
      RL_FUZZ_CHECK(s.content.empty() || std::memcmp(r.pkt.data(), s.content.data(), s.content.size()) == 0);
    }
    off += f.len;
    if (!f.whole) {
      ++n;
      break;
    }
  }
  RL_FUZZ_CHECK(found == n);
  RL_FUZZ_CHECK(ok_a == ok_b);
  RL_FUZZ_CHECK(da == db);  // opened records decrypted alike, refused ones as they arrived
  expect_dtls_same_state<RecordProtection, uint16_t>(ra, rb, {1, 2});
}


}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  const Suite suite = kAllSuites[cfg % 3];
  const CidChoice cids = pick_cids(cfg, in);
  const size_t cid_len = cids.rx_len, tx_cid_len = cids.tx_len;
  uint8_t key[2][32], iv[2][12];
  for (int e = 0; e < 2; ++e) {
    for (size_t i = 0; i < sizeof key[e]; ++i) key[e][i] = static_cast<uint8_t>(i * 7 + 1 + 40 * e);
    for (size_t i = 0; i < sizeof iv[e]; ++i) iv[e][i] = static_cast<uint8_t>(i * 5 + 3 + 40 * e);
  }
  const size_t kl = suite_info(suite).key_len, il = suite == Suite::chacha20_poly1305 ? 12 : 4;
  dtls::KeyOptions o;
  o.replay_window = (cfg & 8) != 0 ? 256 : 64;
  o.first_seq = (cfg & 0x10) != 0 ? 1 : 0;

  RecordProtection tx, ra, rb;  // sender, receivers A and B
  RL_FUZZ_CHECK(tx.install(Direction::seal, 1, suite, {key[0], kl}, {iv[0], il}, o) == Status::ok);
  for (RecordProtection* rx : {&ra, &rb}) {
    RL_FUZZ_CHECK(rx->install(Direction::open, 1, suite, {key[0], kl}, {iv[0], il}, o) == Status::ok);
    RL_FUZZ_CHECK(rx->install(Direction::open, 2, suite, {key[1], kl}, {iv[1], il}, o) == Status::ok);
    if (cid_len != 0) RL_FUZZ_CHECK(rx->set_open_cid({cids.rx, cid_len}) == Status::ok);
  }
  if (tx_cid_len != 0) RL_FUZZ_CHECK(tx.set_seal_cid({cids.tx, tx_cid_len}) == Status::ok);

  std::vector<Sealed> sealed;
  std::vector<Sent> history;  // every datagram composed so far
  size_t cursor = 0, protected_count = 0;
  bool updated = false;
  for (int round = 0; round < 8 && in.n > 0; ++round) {
    for (size_t want = 1 + in.byte() % 12; want > 0 && protected_count < kMaxSealed; --want) {
      if (!updated && (in.byte() & 0x1f) == 0x1f) {  // rehandshake: epoch 2 from here on
        RL_FUZZ_CHECK(tx.install(Direction::seal, 2, suite, {key[1], kl}, {iv[1], il}, o) == Status::ok);
        updated = true;
      }
      sealed.push_back(seal_record(tx, in, suite, tx_cid_len, static_cast<uint32_t>(sealed.size())));
      ++protected_count;
    }
    for (size_t d = 1 + in.byte() % 6; d > 0 && in.n > 0; --d) {
      const uint8_t r = in.byte();
      const size_t room = (r & 0xe0) == 0xe0 ? 1 + r % 4 : kOut;  // sometimes too little room
      const auto [dg, segs] = next_datagram(in, (r & 0x18) == 0x18, history, [&](std::vector<Seg>& segs) {
        return compose_dtls_datagram(in, sealed, cursor, segs, plaintext_record, [&](const Bytes& w) {
          const Frame f = frame(w.data(), w.size(), tx_cid_len);  // the sender's CID length
          return size_t{f.whole ? f.length_at : 0};
        });
      });
      if (debug())
        std::fprintf(stderr, "round %d: datagram of %zu bytes, %zu records placed, room %zu\n", round,
                     dg.size(), segs.size(), room);
      open_both(ra, rb, dg, segs, sealed, room, cid_len, cids.match);
    }
  }
  return 0;
}
