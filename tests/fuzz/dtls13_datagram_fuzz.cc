// libFuzzer target: DTLS 1.3 datagrams holding several records (RFC 9147
// §4.3) opened through RecordProtection::open_datagram (core/dtls13.h)
// against the same datagrams framed by this file's own reading of the RFC
// and opened one record per call.
//
// The input drives a sender that seals records of every shape the unified
// header has (§4: CID or not, 8- or 16-bit sequence number, with or without
// the length, the three suites, content types, padding, key updates to
// epochs 4 and 5) and packs them into datagrams: several per datagram in
// any order (a record without length in the middle takes the rest), late,
// duplicated or lost ones, DTLSPlaintext records (first byte 21, 22 or 26,
// §4.1) with a right or a wrong length, junk and zero padding, then maybe
// one mutation of the whole datagram: a flipped bit, a cut, or a length
// field rewritten; now and then a whole datagram from before arrives again.
// Two receivers with the same keys open each datagram: A with
// open_datagram, B by frame() below and open() of one record at a time.
// Any difference aborts: how many records were found, where each
// starts and ends, its status, type, epoch, sequence number, CID, newest
// flag, the bytes of the datagram afterwards, the replay windows and the
// key counters.
//
// The model check: a record whose bytes arrive intact where the sender put
// them, for the first time, with the CID the receiver expects, must open to
// exactly what was sealed (content, type, epoch, sequence number); nothing
// else may open.
//
// At most 60 protected records are sealed and the window holds 64 or 256:
// every record is inside the window and within 128 of every other of its
// epoch, so even an 8-bit sequence number reconstructs to the one sealed
// (§4.2.2) whether the records of a datagram are read against the window at
// its start (A, one burst) or one after another (B).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/dtls13.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::fuzz;
using dtls13::Record;
using dtls13::RecordProtection;

namespace {

constexpr size_t kMaxSealed = 60;
constexpr size_t kOut = 16;  // records per datagram open_datagram is given room for

struct Sealed {
  Bytes wire;      // the record as sent
  Bytes content;   // what was sealed
  uint8_t type = 23;
  uint64_t epoch = 0, seq = 0;
  bool plaintext = false;  // a DTLSPlaintext record: never opens
  bool opened = false;
};

// ---- The reference framing (RFC 9147 §4, §4.1, §4.3) ------------------------

size_t be16(const uint8_t* p) { return size_t{p[0]} << 8 | p[1]; }

struct Frame {
  size_t len;                    // bytes of the datagram this record covers
  Status verdict = Status::ok;   // ok: a DTLSCiphertext to open; else what framing says
  size_t length_at = 0;          // where its length field starts (0: none)
};

// The record at b[0..left). §4.1: a first byte of 21, 22 or 26 is a
// DTLSPlaintext record (13-byte header ending in a 16-bit length); leading
// bits 001 a DTLSCiphertext with the unified header; anything else cannot be
// framed. The unified header's length follows from its bits (§4): the flags,
// the CID when C is set, 1 or 2 bytes of sequence number (S), 2 of length
// when L is set; without L the record takes the rest of the datagram (§4.3).
// The header carries no CID length: the receiver's own CID length is the
// only one it can read a C bit with, 0 when it has none (open() then refuses
// the record; the framing of what follows does not depend on it).
// A record that cannot be framed (a length running past the datagram, a
// header cut short, a first byte that is neither) covers the rest: nothing
// after it can be found.
Frame frame(const uint8_t* b, size_t left, size_t cid_len) {
  if (b[0] == 21 || b[0] == 22 || b[0] == 26) {
    if (left < 13 || 13 + be16(b + 11) > left) return {left, Status::truncated};
    return {13 + be16(b + 11), Status::not_protected, 11};
  }
  if ((b[0] & 0xe0) != 0x20) return {left, Status::malformed};
  const bool c = (b[0] & 0x10) != 0, s = (b[0] & 0x08) != 0, l = (b[0] & 0x04) != 0;
  const size_t hdr = 1 + (c ? cid_len : 0) + (s ? 2 : 1) + (l ? 2 : 0);
  if (left < hdr) return {left, Status::truncated};
  if (!l) return {left};
  const size_t len = hdr + be16(b + hdr - 2);
  if (len > left) return {left, Status::truncated};
  return {len, Status::ok, hdr - 2};
}

// A walk that stops: refused framing other than a DTLSPlaintext record.
bool ends_walk(const Frame& f) { return f.verdict != Status::ok && f.verdict != Status::not_protected; }

// ---- The sender -----------------------------------------------------------------

Sealed seal_record(RecordProtection& tx, Input& in, size_t cid_len, uint32_t serial) {
  const uint8_t shape = in.byte();
  size_t len = in.u16() % 600;
  if ((shape & 0x30) == 0x30) len = in.byte() % 20;        // short ones
  if ((shape & 0x30) == 0x20) len = 600 + in.u16() % 900;  // big ones now and then
  Record r;
  r.type = (shape & 7) == 7 ? 22 : (shape & 7) == 6 ? 21 : 23;
  r.padding = (shape & 8) != 0 ? in.byte() % 40 : 0;
  r.seq16 = (shape & 0x40) == 0;
  r.with_length = (shape & 0x80) == 0 || (in.byte() & 1) != 0;
  const size_t head = dtls13::seal_headroom(cid_len, r.seq16, r.with_length);
  Bytes buf(head + len + dtls13::seal_tailroom(r.padding), 0);
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

// A DTLSPlaintext record (§4.1: handshake, alert or ACK in the clear).
Sealed plaintext_record(Input& in) {
  static constexpr uint8_t kTypes[] = {21, 22, 26};
  Sealed s;
  s.plaintext = true;
  const size_t len = in.byte() % 48;
  s.wire = {kTypes[in.byte() % 3], 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, in.byte(),
            static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  for (size_t i = 0; i < len; ++i) s.wire.push_back(in.byte());
  return s;
}

// ---- The two receivers ---------------------------------------------------------

void open_both(RecordProtection& ra, RecordProtection& rb, const Bytes& dg,
               const std::vector<Seg>& segs, std::vector<Sealed>& sealed, size_t room,
               size_t cid_len, bool cid_match) {
  // A: the library walks the datagram and opens what it found.
  Bytes da = dg;
  Record qa[kOut];
  size_t found = ~size_t{0};
  const size_t ok_a = ra.open_datagram(da, {qa, room}, &found);

  // B: frame() here, then one record per open() call.
  Bytes db = dg;
  size_t ok_b = 0;
  size_t n = 0;
  for (size_t off = 0; off < db.size() && n < room; ++n) {
    const Frame f = frame(db.data() + off, db.size() - off, cid_len);
    const Record& q = qa[n];
    Record r;
    r.pkt = {db.data(), static_cast<uint32_t>(db.size()), static_cast<uint32_t>(off),
             static_cast<uint32_t>(f.len), f.verdict};
    if (f.verdict == Status::ok) ok_b += rb.open({&r, 1});
    if (debug())
      std::fprintf(stderr, "  [%zu] off %zu len %zu byte %02x: A %s off %u len %u seq %llu | B %s seq %llu\n",
                   n, off, f.len, db[off], n < found ? to_string(q.status()) : "-", q.pkt.offset,
                   q.pkt.length, static_cast<unsigned long long>(q.seq), to_string(r.status()),
                   static_cast<unsigned long long>(r.seq));
    RL_FUZZ_CHECK(n < found);

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
        RL_FUZZ_CHECK(s.plaintext ? r.status() == Status::not_protected : s.opened || !cid_match);
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
    if (ends_walk(f)) {
      ++n;
      break;
    }
  }
  RL_FUZZ_CHECK(found == n);
  RL_FUZZ_CHECK(ok_a == ok_b);
  RL_FUZZ_CHECK(da == db);  // opened records decrypted alike, refused ones as they arrived
  expect_dtls_same_state<RecordProtection, uint64_t>(ra, rb, {3, 4, 5});
  RL_FUZZ_CHECK(ra.open_current_epoch() == rb.open_current_epoch());
}


}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  const Suite suite = kAllSuites[cfg % 3];
  const CidChoice cids = pick_cids(cfg, in);
  const size_t cid_len = cids.rx_len, tx_cid_len = cids.tx_len;
  uint8_t secret[48];
  for (size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<uint8_t>(i * 7 + 1);
  const size_t sl = suite == Suite::aes256_gcm ? 48 : 32;
  dtls13::KeyOptions o;
  o.replay_window = (cfg & 8) != 0 ? 256 : 64;

  RecordProtection tx, ra, rb;  // sender, receivers A and B
  RL_FUZZ_CHECK(tx.install(Direction::seal, 3, suite, {secret, sl}, o) == Status::ok);
  for (RecordProtection* rx : {&ra, &rb}) {
    RL_FUZZ_CHECK(rx->install(Direction::open, 3, suite, {secret, sl}, o) == Status::ok);
    RL_FUZZ_CHECK(rx->update(Direction::open) == Status::ok);  // epoch 4 beside 3
    if (cid_len != 0) RL_FUZZ_CHECK(rx->set_open_cid({cids.rx, cid_len}) == Status::ok);
  }
  if (tx_cid_len != 0) RL_FUZZ_CHECK(tx.set_seal_cid({cids.tx, tx_cid_len}) == Status::ok);

  std::vector<Sealed> sealed;
  std::vector<Sent> history;  // every datagram composed so far
  size_t cursor = 0, protected_count = 0;
  for (int round = 0; round < 8 && in.n > 0; ++round) {
    for (size_t want = 1 + in.byte() % 12; want > 0 && protected_count < kMaxSealed; --want) {
      if ((in.byte() & 0x1f) == 0x1f && tx.seal_epoch() < 5) {
        // Key update (§8): the sender moves on; for epoch 5 the receivers
        // install it beside 3 and 4 now (they had 4 from the start).
        RL_FUZZ_CHECK(tx.update(Direction::seal) == Status::ok);
        if (tx.seal_epoch() == 5)
          for (RecordProtection* rx : {&ra, &rb}) RL_FUZZ_CHECK(rx->update(Direction::open) == Status::ok);
      }
      sealed.push_back(seal_record(tx, in, tx_cid_len, static_cast<uint32_t>(sealed.size())));
      ++protected_count;
    }
    for (size_t d = 1 + in.byte() % 6; d > 0 && in.n > 0; --d) {
      const uint8_t r = in.byte();
      const size_t room = (r & 0xe0) == 0xe0 ? 1 + r % 4 : kOut;  // sometimes too little room
      const auto [dg, segs] = next_datagram(in, (r & 0x18) == 0x18, history, [&](std::vector<Seg>& segs) {
        return compose_dtls_datagram(in, sealed, cursor, segs, plaintext_record, [&](const Bytes& w) {
          const Frame f = frame(w.data(), w.size(), tx_cid_len);  // the sender's CID length
          return size_t{f.length_at};
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
