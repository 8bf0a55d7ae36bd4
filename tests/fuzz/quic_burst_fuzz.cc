// libFuzzer target: QUIC open of a burst against the same packets opened one
// at a time (core/quic.h). The input seals 1-RTT short-header packets and some
// Handshake long-header ones (payload sizes, packet-number lengths, ACKs that
// shorten them, key updates) and composes what arrives from them: in order, late, duplicated, dropped, with
// a byte flipped, truncated, or junk. Two receivers with the same keys open
// it, one as a burst (the lean loops and the general ones), one packet per
// call; any difference in a packet's status, the plaintext, the reported
// packet number, lengths and key phase, the bytes of a refused packet (as
// they arrived), the largest packet number received, the key generation,
// the previous keys, the failure counts, key-update errors or counters aborts.
// At the end every packet sealed is offered again to both (what each window
// still holds).
//
// Up to 150 packets over eight rounds: a packet with a 1-byte number (RFC
// 9000 §17.1, after an ACK) may come 128 or more behind one earlier in the
// same burst, where one at a time decodes it from the largest so far (App.
// A.3); the burst ends its run before such a packet and opens it in a
// second run, so both read the same numbers.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/quic.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::quic;
using namespace rl::fuzz;

namespace {

constexpr size_t kHead = 64, kTail = 32;

Bytes seal_packet(PacketProtection& tx, Input& in, uint32_t serial) {
  const uint8_t shape = in.byte();
  size_t len = in.u16() % 1500;
  if ((shape & 0x30) == 0x30) len = in.byte() % 8;  // short ones (padded to sample)
  Bytes mem(kHead + len + kTail, 0);
  for (size_t i = 0; i < len; ++i) mem[kHead + i] = static_cast<uint8_t>(serial * 29 + i);
  Packet p;
  p.view = PacketView{mem.data(), static_cast<uint32_t>(mem.size()), kHead, static_cast<uint32_t>(len)};
  p.level = (shape & 0x0f) == 0x0f ? Level::handshake : Level::one_rtt;  // a long header now and then
  p.min_pn_length = static_cast<uint8_t>((shape >> 6) & 3) + 1;
  if (tx.seal({&p, 1}) != 1) return {};
  return Bytes(p.view.data(), p.view.data() + p.view.length);
}

Packet view(Bytes& b) {
  Packet p;
  p.view = PacketView{b.data(), static_cast<uint32_t>(b.size()), 0, static_cast<uint32_t>(b.size())};
  return p;
}

void expect_same_state(const PacketProtection& a, const PacketProtection& b) {
  for (Space sp : {Space::handshake, Space::application}) {
    RL_FUZZ_CHECK(a.has_received(sp) == b.has_received(sp));
    RL_FUZZ_CHECK(a.largest_received(sp) == b.largest_received(sp));
  }
  RL_FUZZ_CHECK(a.generation(Direction::open) == b.generation(Direction::open));
  RL_FUZZ_CHECK(a.has_previous() == b.has_previous());
  RL_FUZZ_CHECK(a.key_update_error() == b.key_update_error());
  const KeyCounters* ca = a.counters(Level::one_rtt, Direction::open);
  const KeyCounters* cb = b.counters(Level::one_rtt, Direction::open);
  RL_FUZZ_CHECK(ca != nullptr && cb != nullptr);
  RL_FUZZ_CHECK(ca->opened == cb->opened);
  RL_FUZZ_CHECK(ca->bytes_opened == cb->bytes_opened);
  // The connection's failures (RFC 9001 §6.6) and the current keys'
  // failures and replays: a damaged copy of a packet of the same burst is a
  // replay in both (the burst asks the window again for what failed).
  if (debug())
    std::fprintf(stderr, "state: gen %llu/%llu failures %llu/%llu cur keys failures %llu/%llu replays %llu/%llu\n",
                 (unsigned long long)a.generation(Direction::open), (unsigned long long)b.generation(Direction::open),
                 (unsigned long long)a.auth_failures(), (unsigned long long)b.auth_failures(),
                 (unsigned long long)ca->auth_failures, (unsigned long long)cb->auth_failures,
                 (unsigned long long)ca->replays, (unsigned long long)cb->replays);
  RL_FUZZ_CHECK(a.auth_failures() == b.auth_failures());
  RL_FUZZ_CHECK(ca->auth_failures == cb->auth_failures && ca->replays == cb->replays);
}

// Opens `wire` as one burst on `rb` and one packet at a time on `ro`.
void open_both(PacketProtection& rb, PacketProtection& ro, const std::vector<Bytes>& wire) {
  std::vector<Bytes> wa = wire, wo = wire;
  std::vector<Packet> burst;
  for (Bytes& b : wa) burst.push_back(view(b));
  const size_t ok_b = rb.open(burst);
  size_t ok_o = 0;
  for (size_t i = 0; i < wire.size(); ++i) {
    Packet r = view(wo[i]);
    ok_o += ro.open({&r, 1});
    const Packet& q = burst[i];
    if (debug())
      std::fprintf(stderr, "  [%zu] len %zu burst %s pn %llu phase %d | one %s pn %llu phase %d | fail %llu/%llu\n", i,
                   wire[i].size(), to_string(q.status()), static_cast<unsigned long long>(q.pn), q.key_phase,
                   to_string(r.status()), static_cast<unsigned long long>(r.pn), r.key_phase,
                   static_cast<unsigned long long>(rb.auth_failures()),
                   static_cast<unsigned long long>(ro.auth_failures()));
    RL_FUZZ_CHECK(q.status() == r.status());
    RL_FUZZ_CHECK(wa[i] == wo[i]);
    if (r.status() != Status::ok) {
      RL_FUZZ_CHECK(wo[i] == wire[i]);  // refused: the bytes as they arrived
      continue;
    }
    RL_FUZZ_CHECK(q.pn == r.pn);
    RL_FUZZ_CHECK(q.pn_length == r.pn_length);
    RL_FUZZ_CHECK(q.key_phase == r.key_phase);
    RL_FUZZ_CHECK(q.header_length == r.header_length);
    RL_FUZZ_CHECK(q.view.offset == r.view.offset && q.view.length == r.view.length);
    RL_FUZZ_CHECK(q.dcid.size() == r.dcid.size());
  }
  RL_FUZZ_CHECK(ok_b == ok_o);
  expect_same_state(rb, ro);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  const Suite suite = kAllSuites[cfg % 3];
  const size_t cid_len = (cfg >> 2) % 21;  // 0..20 bytes (RFC 9000 §17.2)
  uint8_t secret[48], hs[48], cid[20];
  for (size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<uint8_t>(i * 5 + 3);
  for (size_t i = 0; i < sizeof hs; ++i) hs[i] = static_cast<uint8_t>(i * 9 + 1);
  for (size_t i = 0; i < sizeof cid; ++i) cid[i] = static_cast<uint8_t>(0xa0 + i);
  const size_t sl = suite == Suite::aes256_gcm ? 48 : 32;
  // The receivers' 1-RTT open limits, now and then a small integrity limit
  // (one input byte); the sender keeps the defaults.
  Limits open_limits = default_limits(Protocol::quic, suite);
  small_integrity_limit(in.byte(), open_limits);

  PacketProtection tx, rb, ro;  // sender, burst receiver, one-at-a-time receiver
  RL_FUZZ_CHECK(tx.install(Level::one_rtt, Direction::seal, suite, {secret, sl}) == Status::ok);
  RL_FUZZ_CHECK(tx.install(Level::handshake, Direction::seal, suite, {hs, sl}) == Status::ok);
  RL_FUZZ_CHECK(tx.set_dcid({cid, cid_len}) == Status::ok);
  for (PacketProtection* rx : {&rb, &ro}) {
    RL_FUZZ_CHECK(rx->install(Level::one_rtt, Direction::open, suite, {secret, sl}, &open_limits) ==
                  Status::ok);
    RL_FUZZ_CHECK(rx->install(Level::handshake, Direction::open, suite, {hs, sl}) == Status::ok);
    RL_FUZZ_CHECK(rx->set_short_dcid_length(cid_len) == Status::ok);
  }

  std::vector<Bytes> sealed;
  for (int round = 0; round < 8 && in.n > 0; ++round) {
    const size_t want = 1 + in.byte() % 24;
    const size_t first_new = sealed.size();
    for (size_t i = 0; i < want && sealed.size() < 150; ++i) {
      const uint8_t ctl = in.byte();
      if ((ctl & 0x1f) == 0x1f && tx.next_pn(Space::application) > 0) {
        // The peer acknowledged our last packet; then maybe a key update.
        (void)tx.on_ack(Space::application, tx.next_pn(Space::application) - 1);
        if ((ctl & 0x20) != 0) (void)tx.update(Direction::seal);  // refused before the ACK allows it
      }
      Bytes pkt = seal_packet(tx, in, static_cast<uint32_t>(sealed.size()));
      if (!pkt.empty()) sealed.push_back(std::move(pkt));
    }
    if (sealed.empty()) continue;
    size_t next = first_new;  // this round's packets, in order, unless the input says otherwise
    const std::vector<Bytes> wire = compose(in, {&sealed, 1}, {&next, 1}, 1 + in.byte() % 40);
    if (debug())
      std::fprintf(stderr, "round %d: %zu sealed, tx generation %llu\n", round, sealed.size(),
                   static_cast<unsigned long long>(tx.generation(Direction::seal)));
    if (!wire.empty()) open_both(rb, ro, wire);
  }
  // What the windows hold: every packet again, one at a time on both.
  for (Bytes& b : sealed) {
    Bytes c = b;
    Packet pa = view(b), po = view(c);
    rb.open({&pa, 1});
    ro.open({&po, 1});
    if (debug())
      std::fprintf(stderr, "  again len %zu: %s pn %llu | %s | gen %llu/%llu cur failures %llu/%llu\n", b.size(),
                   to_string(pa.status()), (unsigned long long)pa.pn, to_string(po.status()),
                   (unsigned long long)rb.generation(Direction::open), (unsigned long long)ro.generation(Direction::open),
                   (unsigned long long)rb.counters(Level::one_rtt, Direction::open)->auth_failures,
                   (unsigned long long)ro.counters(Level::one_rtt, Direction::open)->auth_failures);
    RL_FUZZ_CHECK(pa.status() == po.status());
  }
  expect_same_state(rb, ro);
  return 0;
}
