// libFuzzer target: TLS 1.3 and TLS 1.2 open of a burst against the same
// records opened one at a time (core/tls.h). The input picks the version,
// suite, failure policy and padding, seals records (sizes, content types,
// empty ones, alerts, close_notify) and composes what arrives: in order, with
// a byte flipped, truncated, a record repeated or skipped (out of sequence:
// it fails), or junk. Two receivers with the same keys open it, one as
// bursts (the lean loops, the general ones), one record per call; any
// difference in status, plaintext, content type, sequence number, the bytes
// of a refused record (as they arrived), the next sequence number, the
// counters, whether the direction closed or the failure it closed on aborts.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/tls.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::tls;
using namespace rl::fuzz;

namespace {

Record view(Bytes& b) {
  Record r;
  r.buf = b.data();
  r.capacity = static_cast<uint32_t>(b.size());
  r.offset = 0;
  r.length = static_cast<uint32_t>(b.size());
  r.status = Status::ok;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  Config c;
  c.version = (cfg & 4) != 0 ? Version::tls12 : Version::tls13;
  c.stop_after_failure = (cfg & 8) != 0;
  const Suite suite = kAllSuites[cfg % 3];
  uint8_t secret[48], key[32], iv[12];
  for (size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t i = 0; i < sizeof key; ++i) key[i] = static_cast<uint8_t>(i * 3 + 5);
  for (size_t i = 0; i < sizeof iv; ++i) iv[i] = static_cast<uint8_t>(i * 11 + 2);
  const size_t sl = suite == Suite::aes256_gcm ? 48 : 32, kl = suite_info(suite).key_len;
  const size_t il = suite == Suite::chacha20_poly1305 ? 12 : 4;

  RecordProtection tx(c), rb(c), ro(c);  // sender, burst receiver, one-at-a-time receiver
  for (RecordProtection* p : {&tx, &rb, &ro}) {
    const Direction d = p == &tx ? Direction::seal : Direction::open;
    const Status st = c.version == Version::tls13 ? p->install(d, suite, {secret, sl})
                                                  : p->install_tls12(d, suite, {key, kl}, {iv, il});
    RL_FUZZ_CHECK(st == Status::ok);
  }
  if (c.version == Version::tls13 && (cfg & 0x30) != 0) {
    Padding pad;
    pad.kind = (cfg & 0x30) == 0x30 ? Padding::full : Padding::multiple;
    pad.n = static_cast<uint16_t>(1 + (cfg >> 6) * 50);
    RL_FUZZ_CHECK(tx.set_padding(pad) == Status::ok);
  }

  std::vector<Bytes> sealed;
  size_t next = 0;
  for (int round = 0; round < 4 && in.n > 0; ++round) {
    const size_t want = 1 + in.byte() % 16;
    for (size_t i = 0; i < want && sealed.size() < 48; ++i) {
      const uint8_t shape = in.byte();
      size_t len = (shape & 0x30) == 0x30 ? in.byte() % 4 : in.u16() % 2000;
      Bytes mem(64 + len + 16 + 1 + 16384 + 64, 0);
      for (size_t k = 0; k < len; ++k) mem[64 + k] = static_cast<uint8_t>(sealed.size() * 17 + k);
      Record r;
      r.buf = mem.data();
      r.capacity = static_cast<uint32_t>(mem.size());
      r.offset = 64;
      r.length = static_cast<uint32_t>(len);
      if ((shape & 0xc0) == 0xc0) {
        const auto desc = (shape & 1) != 0 ? AlertDescription::close_notify
                                           : static_cast<AlertDescription>(90);  // user_canceled
        if (tx.seal_alert(r, AlertLevel::warning, desc) != Status::ok) break;
      } else {
        r.type = (shape & 7) == 7 ? handshake : application_data;
        if (tx.seal({&r, 1}) != 1) break;  // e.g. closed after a close_notify
      }
      sealed.emplace_back(r.data(), r.data() + r.length);
    }
    std::vector<Bytes> wire;
    const size_t count = 1 + in.byte() % 32;
    while (wire.size() < count && in.n > 0 && next < sealed.size()) {
      const uint8_t op = in.byte();
      Bytes b = sealed[next];
      switch (op % 16) {
        case 10: b[in.u16() % b.size()] ^= static_cast<uint8_t>(1u << (in.byte() & 7)); break;
        case 11: b.resize(in.u16() % b.size()); break;
        case 12: if (next > 0) b = sealed[next - 1]; break;   // a repeat: fails
        case 13: if (next + 1 < sealed.size()) b = sealed[next + 1]; break;  // one ahead: fails
        case 14: for (uint8_t& x : b) x = in.byte(); break;   // junk
        default: break;
      }
      // A record that fails is as if it never arrived: the next one is still
      // expected (unless the receiver stops after a failure).
      if (op % 16 < 10) ++next;
      wire.push_back(std::move(b));
    }
    if (wire.empty()) continue;

    std::vector<Bytes> wa = wire, wo = wire;
    std::vector<Record> burst;
    for (Bytes& b : wa) burst.push_back(view(b));
    const size_t ok_b = rb.open(burst);
    size_t ok_o = 0;
    for (size_t i = 0; i < wire.size(); ++i) {
      Record r = view(wo[i]);
      ok_o += ro.open({&r, 1});
      const Record& q = burst[i];
      RL_FUZZ_CHECK(q.status == r.status);
      if (r.status != Status::ok) {
        RL_FUZZ_CHECK(wa[i] == wire[i]);  // refused: the bytes as they arrived
        RL_FUZZ_CHECK(wo[i] == wire[i]);
        continue;
      }
      RL_FUZZ_CHECK(q.type == r.type && q.seq == r.seq);
      RL_FUZZ_CHECK(q.offset == r.offset && q.length == r.length);
      RL_FUZZ_CHECK(wa[i] == wo[i]);
    }
    RL_FUZZ_CHECK(ok_b == ok_o);
    RL_FUZZ_CHECK(rb.sequence(Direction::open) == ro.sequence(Direction::open));
    RL_FUZZ_CHECK(rb.closed(Direction::open) == ro.closed(Direction::open));
    RL_FUZZ_CHECK(rb.failure() == ro.failure());
    const KeyCounters& kb = rb.counters(Direction::open);
    const KeyCounters& ko = ro.counters(Direction::open);
    RL_FUZZ_CHECK(kb.opened == ko.opened && kb.bytes_opened == ko.bytes_opened);
    RL_FUZZ_CHECK(kb.auth_failures == ko.auth_failures);
  }
  return 0;
}
