// libFuzzer target: DTLS 1.2 open of a burst against the same records opened
// one at a time (core/dtls.h). The input seals a sequence of records (sizes,
// types, RFC 9146 CID records with padding, a second epoch) and composes
// what arrives from them: in order, late, duplicated, dropped, with a byte
// flipped, truncated, or junk. Two receivers with the same keys open it, one
// as a burst (the lean loops and the general ones), one record per call; any
// difference in what authenticates, the plaintext, the reported epoch,
// sequence number, CID and newest flag, the bytes of a refused record (as
// they arrived), the replay windows or the counters aborts.
//
// At most 60 records, the window holds 64 or 256: a late record is judged
// the same against the window as the burst found it and as it is later.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/dtls.h"

using namespace rl;

namespace {

#define CHECK(c)                                                                     \
  do {                                                                               \
    if (!(c)) {                                                                      \
      std::fprintf(stderr, "dtls12_burst_fuzz: %s (line %d)\n", #c, __LINE__);      \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

struct Input {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  uint16_t u16() { return static_cast<uint16_t>(byte() | byte() << 8); }
};

using Bytes = std::vector<uint8_t>;

// One record sealed by tx with the content and shape the input asks for.
Bytes seal_record(dtls::RecordProtection& tx, Input& in, Suite suite, size_t cid_len,
                  uint32_t serial) {
  const uint8_t shape = in.byte();
  size_t len = in.u16() % 1500;
  if ((shape & 0x30) == 0x30) len = in.byte() % 20;  // short ones too
  dtls::Record r;
  r.type = (shape & 7) == 7 ? 22 : (shape & 7) == 6 ? 21 : 23;
  r.padding = (shape & 8) != 0 && cid_len != 0 ? in.byte() % 40 : 0;
  const size_t head = dtls::seal_headroom(suite, cid_len);
  Bytes buf(head + len + dtls::seal_tailroom(suite, cid_len, r.padding), 0);
  for (size_t i = 0; i < len; ++i) buf[head + i] = static_cast<uint8_t>(serial * 31 + i);
  r.pkt = {buf.data(), static_cast<uint32_t>(buf.size()), static_cast<uint32_t>(head),
           static_cast<uint32_t>(len), Status::ok};
  if (tx.seal({&r, 1}) != 1) return {};
  return Bytes(r.pkt.data(), r.pkt.data() + r.pkt.length);
}

dtls::Record view(Bytes& b) {
  dtls::Record r;
  r.pkt = {b.data(), static_cast<uint32_t>(b.size()), 0, static_cast<uint32_t>(b.size()), Status::ok};
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  const Suite suite = kAllSuites[cfg % 3];
  static const uint8_t kCid[] = {0xc1, 0xd1, 0xe1, 0xf1, 0x01, 0x02, 0x03, 0x04, 0x05};
  const size_t cid_len = (cfg & 4) != 0 ? 1 + (cfg >> 5) % 9 : 0;
  uint8_t key[2][32], iv[2][12];
  for (int e = 0; e < 2; ++e) {
    for (size_t i = 0; i < sizeof key[e]; ++i) key[e][i] = static_cast<uint8_t>(i * 7 + 1 + 40 * e);
    for (size_t i = 0; i < sizeof iv[e]; ++i) iv[e][i] = static_cast<uint8_t>(i * 5 + 3 + 40 * e);
  }
  const size_t kl = suite_info(suite).key_len, il = suite == Suite::chacha20_poly1305 ? 12 : 4;
  dtls::KeyOptions o;
  o.replay_window = (cfg & 8) != 0 ? 256 : 64;
  o.first_seq = (cfg & 0x10) != 0 ? 1 : 0;

  dtls::RecordProtection tx, rb, ro;  // sender, burst receiver, one-at-a-time receiver
  CHECK(tx.install(Direction::seal, 1, suite, {key[0], kl}, {iv[0], il}, o) == Status::ok);
  for (dtls::RecordProtection* rx : {&rb, &ro}) {
    CHECK(rx->install(Direction::open, 1, suite, {key[0], kl}, {iv[0], il}, o) == Status::ok);
    CHECK(rx->install(Direction::open, 2, suite, {key[1], kl}, {iv[1], il}, o) == Status::ok);
    if (cid_len != 0) CHECK(rx->set_open_cid({kCid, cid_len}) == Status::ok);
  }
  if (cid_len != 0) CHECK(tx.set_seal_cid({kCid, cid_len}) == Status::ok);

  // Bursts until the input runs out: each seals some records, then composes
  // what arrives (up to 64 records) from all sealed so far.
  std::vector<Bytes> sealed;
  bool updated = false;
  for (int round = 0; round < 4 && in.n > 0; ++round) {
    const size_t want = 1 + in.byte() % 24;
    const size_t first_new = sealed.size();
    for (size_t i = 0; i < want && sealed.size() < 60; ++i) {
      if (!updated && (in.byte() & 0x1f) == 0x1f) {  // rehandshake: epoch 2 from here on
        CHECK(tx.install(Direction::seal, 2, suite, {key[1], kl}, {iv[1], il}, o) == Status::ok);
        updated = true;
      }
      Bytes rec = seal_record(tx, in, suite, cid_len, static_cast<uint32_t>(sealed.size()));
      if (!rec.empty()) sealed.push_back(std::move(rec));  // else refused, nothing changed
    }
    if (sealed.empty()) continue;
    std::vector<Bytes> wire;
    size_t next = first_new;  // this round's records, in order, unless the input says otherwise
    const size_t count = 1 + in.byte() % 40;
    while (wire.size() < count && in.n > 0) {
      const uint8_t op = in.byte();
      switch (op % 12) {
        case 0: case 1: case 2: case 3: case 4: case 5:  // the next one in order
          if (next < sealed.size()) wire.push_back(sealed[next++]);
          break;
        case 6: wire.push_back(sealed[in.byte() % sealed.size()]); break;  // late or duplicate
        case 7:
          if (next < sealed.size()) {  // a byte flipped
            Bytes b = sealed[next++];
            b[in.u16() % b.size()] ^= static_cast<uint8_t>(1u << (in.byte() & 7));
            wire.push_back(std::move(b));
          }
          break;
        case 8:
          if (next < sealed.size()) {  // truncated
            Bytes b = sealed[next++];
            b.resize(in.u16() % b.size());
            wire.push_back(std::move(b));
          }
          break;
        case 9: {  // junk
          Bytes b(in.byte() % 48);
          for (uint8_t& x : b) x = in.byte();
          wire.push_back(std::move(b));
          break;
        }
        case 10:
          if (next < sealed.size()) ++next;  // lost
          break;
        default:
          if (next < sealed.size()) wire.push_back(sealed[next++]);
          break;
      }
    }
    if (wire.empty()) continue;

    std::vector<Bytes> wa = wire, wo = wire;
    std::vector<dtls::Record> burst;
    for (Bytes& b : wa) burst.push_back(view(b));
    const size_t ok_b = rb.open(burst);
    size_t ok_o = 0;
    for (size_t i = 0; i < wire.size(); ++i) {
      dtls::Record r = view(wo[i]);
      ok_o += ro.open({&r, 1});
      const dtls::Record& q = burst[i];
      CHECK((q.status() == Status::ok) == (r.status() == Status::ok));
      if (r.status() != Status::ok) {
        CHECK(wa[i] == wire[i]);  // refused: the bytes as they arrived
        CHECK(wo[i] == wire[i]);
        continue;
      }
      CHECK(q.type == r.type);
      CHECK(q.epoch == r.epoch);
      CHECK(q.seq == r.seq);
      CHECK(q.newest == r.newest);
      CHECK(q.cid.size() == r.cid.size());
      CHECK(q.pkt.length == r.pkt.length && q.pkt.offset == r.pkt.offset);
      CHECK(std::memcmp(q.pkt.data(), r.pkt.data(), r.pkt.length) == 0);
    }
    CHECK(ok_b == ok_o);
    for (uint16_t epoch : {uint16_t{1}, uint16_t{2}}) {
      const ReplayWindow* wb = rb.window(epoch);
      const ReplayWindow* wo1 = ro.window(epoch);
      CHECK((wb == nullptr) == (wo1 == nullptr));
      if (wb == nullptr) continue;
      CHECK(wb->empty() == wo1->empty());
      if (!wb->empty()) {
        CHECK(wb->highest() == wo1->highest());
        const uint64_t hi = wb->highest();
        for (uint64_t s = hi > 300 ? hi - 300 : 0; s <= hi + 2; ++s) CHECK(wb->check(s) == wo1->check(s));
      }
      const KeyCounters& kb = rb.key(Direction::open, epoch)->counters();
      const KeyCounters& ko = ro.key(Direction::open, epoch)->counters();
      CHECK(kb.opened == ko.opened);
      CHECK(kb.bytes_opened == ko.bytes_opened);
      CHECK(kb.auth_failures + kb.replays == ko.auth_failures + ko.replays);
    }
  }
  return 0;
}
