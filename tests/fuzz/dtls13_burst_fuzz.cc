// libFuzzer target: DTLS 1.3 open of a burst against the same records opened
// one at a time (core/dtls13.h). The input seals a sequence of records (sizes,
// types, padding, 8- or 16-bit sequence numbers, a key update) and composes
// what arrives from them: in order, late, duplicated, dropped, with a byte
// flipped, truncated, or junk. Two receivers with the same keys open it, one
// as a burst (the lean loops and the general ones), one record per call; any
// difference in a record's status, the plaintext, the reported epoch,
// sequence number, CID and newest flag, the bytes of a refused record (as
// they arrived), the replay windows or the counters aborts.
//
// Up to 150 records over eight rounds, 8- or 16-bit sequence numbers, a
// window of 64 or 256: a record may come 128 or more behind one earlier in
// the same burst, where one at a time reconstructs its number from the
// highest so far (RFC 9147 §4.2.2), and the burst does too (it ends the
// chunk before such a record and opens it in a second call); a record the
// burst's parse refused as a repeat may be too old one at a time, and gets
// that status in the burst too.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtls13.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::fuzz;

namespace {

// One record sealed by tx with the content and shape the input asks for.
Bytes seal_record(dtls13::RecordProtection& tx, Input& in, size_t cid_len, uint32_t serial) {
  const uint8_t shape = in.byte();
  size_t len = in.u16() % 1500;
  if ((shape & 0x30) == 0x30) len = in.byte() % 20;  // short ones too
  dtls13::Record r;
  r.type = (shape & 7) == 7 ? 22 : (shape & 7) == 6 ? 21 : 23;
  r.padding = (shape & 8) != 0 ? in.byte() % 40 : 0;
  r.seq16 = (shape & 0x40) == 0;
  r.with_length = true;
  const size_t head = dtls13::seal_headroom(cid_len, r.seq16, true);
  Bytes buf(head + len + dtls13::seal_tailroom(r.padding), 0);
  for (size_t i = 0; i < len; ++i) buf[head + i] = static_cast<uint8_t>(serial * 31 + i);
  r.pkt = {buf.data(), static_cast<uint32_t>(buf.size()), static_cast<uint32_t>(head),
           static_cast<uint32_t>(len), Status::ok};
  if (tx.seal({&r, 1}) != 1) return {};
  return Bytes(r.pkt.data(), r.pkt.data() + r.pkt.length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  const Suite suite = kAllSuites[cfg % 3];
  static const uint8_t kCid[] = {0xc1, 0xd1, 0xe1, 0xf1, 0x01, 0x02, 0x03, 0x04, 0x05};
  const size_t cid_len = (cfg & 4) != 0 ? 1 + (cfg >> 5) % 9 : 0;
  uint8_t secret[48];
  for (size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<uint8_t>(i * 7 + 1);
  const size_t sl = suite == Suite::aes256_gcm ? 48 : 32;
  dtls13::KeyOptions o;
  o.replay_window = (cfg & 8) != 0 ? 256 : 64;
  // The receivers' open limits (epoch 4 inherits epoch 3's), now and then a
  // small integrity limit (one input byte); the sender keeps the defaults.
  Limits open_limits = default_limits(Protocol::dtls13, suite);
  small_integrity_limit(in.byte(), open_limits);
  dtls13::KeyOptions oo = o;
  oo.limits = &open_limits;

  dtls13::RecordProtection tx, rb, ro;  // sender, burst receiver, one-at-a-time receiver
  RL_FUZZ_CHECK(tx.install(Direction::seal, 3, suite, {secret, sl}, o) == Status::ok);
  for (dtls13::RecordProtection* rx : {&rb, &ro}) {
    RL_FUZZ_CHECK(rx->install(Direction::open, 3, suite, {secret, sl}, oo) == Status::ok);
    RL_FUZZ_CHECK(rx->update(Direction::open) == Status::ok);  // epoch 4 beside 3
    if (cid_len != 0) RL_FUZZ_CHECK(rx->set_open_cid({kCid, cid_len}) == Status::ok);
  }
  if (cid_len != 0) RL_FUZZ_CHECK(tx.set_seal_cid({kCid, cid_len}) == Status::ok);

  // Bursts until the input runs out: each seals some records, then composes
  // what arrives (up to 64 records) from all sealed so far.
  std::vector<Bytes> sealed;
  bool updated = false;
  for (int round = 0; round < 8 && in.n > 0; ++round) {
    const size_t want = 1 + in.byte() % 24;
    const size_t first_new = sealed.size();
    for (size_t i = 0; i < want && sealed.size() < 150; ++i) {
      if (!updated && (in.byte() & 0x1f) == 0x1f) {  // key update: epoch 4 from here on
        RL_FUZZ_CHECK(tx.update(Direction::seal) == Status::ok);
        updated = true;
      }
      Bytes rec = seal_record(tx, in, cid_len, static_cast<uint32_t>(sealed.size()));
      if (!rec.empty()) sealed.push_back(std::move(rec));  // else refused, nothing changed
    }
    if (sealed.empty()) continue;
    size_t next = first_new;  // this round's records, in order, unless the input says otherwise
    const std::vector<Bytes> wire = compose(in, {&sealed, 1}, {&next, 1}, 1 + in.byte() % 40);
    if (wire.empty()) continue;
    expect_dtls_burst_equals_one_by_one<dtls13::RecordProtection, dtls13::Record, uint64_t>(
        rb, ro, wire, {3, 4});
  }
  return 0;
}
