// libFuzzer target: DTLS 1.2 open of a burst against the same records opened
// one at a time (core/dtls.h). The input seals a sequence of records (sizes,
// types, RFC 9146 CID records with padding, a second epoch) and composes
// what arrives from them: in order, late, duplicated, dropped, with a byte
// flipped, truncated, or junk. Two receivers with the same keys open it, one
// as a burst (the lean loops and the general ones), one record per call; any
// difference in a record's status, the plaintext, the reported epoch,
// sequence number, CID and newest flag, the bytes of a refused record (as
// they arrived), the replay windows or the counters aborts. Two more
// receivers open each wire as bursts, one through open() (lean loops where
// they apply) and one through the general loops only (a refused record first
// in every call): they must agree exactly, status for status and byte for
// byte, with every counter.
//
// Up to 96 records, the window holds 64 or 256: a record the burst's parse
// refused as a repeat may be too old one at a time (records before it in the
// burst moved the window); the burst gives it that status too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/dtls.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::fuzz;

namespace {

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

// `wire` opened as bursts on rl (open()) and through the general loops only
// on rg: the same statuses, bytes (opened or as they arrived), out fields,
// windows, counters and events. Both take the same bursts of up to kBurst - 1
// records (rg's after its refused record): where a burst ends decides
// whether a copy of a record is refused before the AEAD (its twin
// committed) or after it.
void expect_lean_equals_general(dtls::RecordProtection& rl, dtls::RecordProtection& rg,
                                const std::vector<Bytes>& wire) {
  std::vector<Bytes> wl = wire, wg = wire;
  std::vector<dtls::Record> l, g;
  for (Bytes& b : wl) l.push_back(view(b));
  for (Bytes& b : wg) g.push_back(view(b));
  size_t ok_l = 0, ok_g = 0;
  for (size_t i = 0; i < g.size(); i += dtls::RecordProtection::kBurst - 1) {
    const size_t n = std::min(dtls::RecordProtection::kBurst - 1, g.size() - i);
    ok_l += rl.open(std::span<dtls::Record>(l).subspan(i, n));
    std::vector<dtls::Record> v(n + 1);  // v[0]: no buffer, refused first
    for (size_t k = 0; k < n; ++k) v[k + 1] = g[i + k];
    ok_g += rg.open(v);
    RL_FUZZ_CHECK(v[0].status() == Status::invalid_argument);
    for (size_t k = 0; k < n; ++k) g[i + k] = v[k + 1];
  }
  RL_FUZZ_CHECK(ok_l == ok_g);
  for (size_t i = 0; i < wire.size(); ++i) {
    RL_FUZZ_CHECK(l[i].status() == g[i].status());
    RL_FUZZ_CHECK(wl[i] == wg[i]);
    if (l[i].status() != Status::ok) continue;
    RL_FUZZ_CHECK(l[i].pkt.offset == g[i].pkt.offset && l[i].pkt.length == g[i].pkt.length);
    RL_FUZZ_CHECK(l[i].type == g[i].type && l[i].epoch == g[i].epoch && l[i].seq == g[i].seq);
    RL_FUZZ_CHECK(l[i].newest == g[i].newest);
    RL_FUZZ_CHECK(l[i].cid.size() == g[i].cid.size());
    RL_FUZZ_CHECK(l[i].cid.empty() || l[i].cid.data() == wl[i].data() + 11);
    RL_FUZZ_CHECK(l[i].cid.empty() || std::memcmp(l[i].cid.data(), g[i].cid.data(), l[i].cid.size()) == 0);
  }
  for (uint16_t epoch : {uint16_t{1}, uint16_t{2}}) {
    const ReplayWindow* a = rl.window(epoch);
    const ReplayWindow* b = rg.window(epoch);
    RL_FUZZ_CHECK((a == nullptr) == (b == nullptr));
    if (a == nullptr) continue;
    RL_FUZZ_CHECK(a->empty() == b->empty());
    if (!a->empty()) {
      RL_FUZZ_CHECK(a->highest() == b->highest());
      const uint64_t hi = a->highest();
      for (uint64_t s = hi > 300 ? hi - 300 : 0; s <= hi + 2; ++s) RL_FUZZ_CHECK(a->check(s) == b->check(s));
    }
    const KeyCounters& ka = rl.key(Direction::open, epoch)->counters();
    const KeyCounters& kg = rg.key(Direction::open, epoch)->counters();
    RL_FUZZ_CHECK(ka.opened == kg.opened && ka.bytes_opened == kg.bytes_opened);
    RL_FUZZ_CHECK(ka.auth_failures == kg.auth_failures && ka.replays == kg.replays);
  }
  KeyEvent el, eg;
  for (;;) {
    const bool hl = rl.poll_event(el), hg = rg.poll_event(eg);
    RL_FUZZ_CHECK(hl == hg);
    if (!hl) break;
    RL_FUZZ_CHECK(el.kind == eg.kind && el.epoch == eg.epoch && el.records == eg.records &&
                  el.bytes == eg.bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  const Suite suite = kAllSuites[cfg % 3];
  static const uint8_t kCid[] = {0xc1, 0xd1, 0xe1, 0xf1, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
                                 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d};
  // The lean loops take CIDs of 1..32 bytes in size classes; 33 is general.
  static constexpr size_t kCidLens[] = {1, 3, 4, 8, 9, 16, 32, 33};
  const size_t cid_len = (cfg & 4) != 0 ? kCidLens[(cfg >> 5) % 8] : 0;
  uint8_t key[2][32], iv[2][12];
  for (int e = 0; e < 2; ++e) {
    for (size_t i = 0; i < sizeof key[e]; ++i) key[e][i] = static_cast<uint8_t>(i * 7 + 1 + 40 * e);
    for (size_t i = 0; i < sizeof iv[e]; ++i) iv[e][i] = static_cast<uint8_t>(i * 5 + 3 + 40 * e);
  }
  const size_t kl = suite_info(suite).key_len, il = suite == Suite::chacha20_poly1305 ? 12 : 4;
  dtls::KeyOptions o;
  o.replay_window = (cfg & 8) != 0 ? 256 : 64;
  o.first_seq = (cfg & 0x10) != 0 ? 1 : 0;
  // The receivers' open limits, now and then a small integrity limit (one
  // input byte); the sender keeps the defaults.
  Limits open_limits = default_limits(Protocol::dtls12, suite);
  small_integrity_limit(in.byte(), open_limits);
  dtls::KeyOptions oo = o;
  oo.limits = &open_limits;

  // sender, burst receiver, one-at-a-time receiver, lean and general-only
  // burst receivers
  dtls::RecordProtection tx, rb, ro, rl, rg;
  RL_FUZZ_CHECK(tx.install(Direction::seal, 1, suite, {key[0], kl}, {iv[0], il}, o) == Status::ok);
  for (dtls::RecordProtection* rx : {&rb, &ro, &rl, &rg}) {
    RL_FUZZ_CHECK(rx->install(Direction::open, 1, suite, {key[0], kl}, {iv[0], il}, oo) == Status::ok);
    RL_FUZZ_CHECK(rx->install(Direction::open, 2, suite, {key[1], kl}, {iv[1], il}, oo) == Status::ok);
    if (cid_len != 0) RL_FUZZ_CHECK(rx->set_open_cid({kCid, cid_len}) == Status::ok);
  }
  if (cid_len != 0) RL_FUZZ_CHECK(tx.set_seal_cid({kCid, cid_len}) == Status::ok);

  // Bursts until the input runs out: each seals some records, then composes
  // what arrives (up to 64 records) from all sealed so far.
  std::vector<Bytes> sealed;
  bool updated = false;
  for (int round = 0; round < 4 && in.n > 0; ++round) {
    const size_t want = 1 + in.byte() % 24;
    const size_t first_new = sealed.size();
    for (size_t i = 0; i < want && sealed.size() < 150; ++i) {
      if (!updated && (in.byte() & 0x1f) == 0x1f) {  // rehandshake: epoch 2 from here on
        RL_FUZZ_CHECK(tx.install(Direction::seal, 2, suite, {key[1], kl}, {iv[1], il}, o) == Status::ok);
        updated = true;
      }
      Bytes rec = seal_record(tx, in, suite, cid_len, static_cast<uint32_t>(sealed.size()));
      if (!rec.empty()) sealed.push_back(std::move(rec));  // else refused, nothing changed
    }
    if (sealed.empty()) continue;
    size_t next = first_new;  // this round's records, in order, unless the input says otherwise
    const std::vector<Bytes> wire = compose(in, {&sealed, 1}, {&next, 1}, 1 + in.byte() % 40);
    if (wire.empty()) continue;
    expect_dtls_burst_equals_one_by_one<dtls::RecordProtection, dtls::Record, uint16_t>(
        rb, ro, wire, {1, 2});
    expect_lean_equals_general(rl, rg, wire);
  }
  return 0;
}
