// libFuzzer target: WireGuard open of a burst against the same messages
// opened one at a time (core/wireguard.h). Two receivers with the same
// keypairs: the first session confirmed, later sessions installed as the
// responder's next in later rounds (so a packet in a burst promotes one and
// a previous keypair is wiped between rounds); in one input of four an
// integrity limit of 1..8 failures. What arrives is composed from every
// session's sealed messages: in order, late, repeated, a bit flipped, cut
// short, junk, lost. Any difference in status, plaintext, the bytes of a
// refused message (as they arrived), keypairs, windows, counters or events
// aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/wireguard.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::wireguard;
using namespace rl::fuzz;

namespace {

constexpr int kSessions = 3;

PacketView view(Bytes& b) {
  return {b.data(), static_cast<uint32_t>(b.size()), 0, static_cast<uint32_t>(b.size()), Status::ok};
}

struct Keys {
  uint8_t i2r[32], r2i[32];
  uint32_t i_index, r_index;
};

Bytes seal_message(Peer& tx, Input& in, uint32_t serial) {
  const size_t len = in.byte() % 4 == 0 ? 0 : in.u16() % 1500;
  Bytes mem(16 + len + 16 + 16, 0);
  for (size_t i = 0; i < len; ++i) mem[16 + i] = static_cast<uint8_t>(serial * 7 + i);
  PacketView v{mem.data(), static_cast<uint32_t>(mem.size()), 16, static_cast<uint32_t>(len), Status::ok};
  if (tx.seal({&v, 1}) != 1) return {};
  return Bytes(v.data(), v.data() + v.length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  Limits lim = default_limits(Protocol::wireguard, Suite::chacha20_poly1305);
  const bool limited = small_integrity_limit(in.byte(), lim);
  Keys k[kSessions];
  for (int s = 0; s < kSessions; ++s) {
    for (int i = 0; i < 32; ++i) {
      k[s].i2r[i] = static_cast<uint8_t>(i * 5 + 31 * s + 1);
      k[s].r2i[i] = static_cast<uint8_t>(i * 3 + 17 * s + 2);
    }
    k[s].i_index = 0x100 + s;
    k[s].r_index = 0x200 + s;
  }
  auto initiator = [&](int s) { return Keypair{k[s].i_index, k[s].r_index, k[s].i2r, k[s].r2i, true}; };
  auto responder = [&](int s) { return Keypair{k[s].r_index, k[s].i_index, k[s].r2i, k[s].i2r, false}; };

  Peer tx[kSessions], rb, ro;  // one sender per session; burst and one-at-a-time receivers
  for (int s = 0; s < kSessions; ++s) RL_FUZZ_CHECK(tx[s].install(initiator(s)) == Status::ok);
  for (Peer* r : {&rb, &ro}) RL_FUZZ_CHECK(r->install(responder(0), limited ? &lim : nullptr) == Status::ok);
  int sessions = 1;  // installed on the receivers so far
  std::vector<Bytes> sealed[kSessions];
  for (int round = 0; round < 4 && in.n > 0; ++round) {
    const uint8_t cfg = in.byte();
    if (round > 0 && (cfg & 3) == 3 && sessions < kSessions) {
      // The next handshake, answered by the receivers: a new next keypair
      // (the previous one, if any, is wiped).
      for (Peer* r : {&rb, &ro})
        RL_FUZZ_CHECK(r->install(responder(sessions), limited ? &lim : nullptr) == Status::ok);
      ++sessions;
    }
    size_t next[kSessions];
    for (int s = 0; s < kSessions; ++s) next[s] = sealed[s].size();
    const size_t want = 1 + in.byte() % 24;
    for (size_t i = 0; i < want; ++i) {
      const int s = in.byte() % sessions;
      if (sealed[s].size() >= 150) continue;
      Bytes m = seal_message(tx[s], in, static_cast<uint32_t>(sealed[s].size()));
      if (!m.empty()) sealed[s].push_back(std::move(m));
    }
    const std::vector<Bytes> wire =
        compose(in, std::span<const std::vector<Bytes>>(sealed, static_cast<size_t>(sessions)),
                std::span<size_t>(next, static_cast<size_t>(sessions)), 1 + in.byte() % 80);
    if (wire.empty()) continue;

    std::vector<Bytes> wa = wire, wo = wire;
    std::vector<PacketView> burst;
    for (Bytes& b : wa) burst.push_back(view(b));
    const size_t ok_b = rb.open(burst);
    size_t ok_o = 0;
    for (size_t i = 0; i < wire.size(); ++i) {
      PacketView r = view(wo[i]);
      ok_o += ro.open({&r, 1});
      const PacketView& q = burst[i];
      if (debug())
        std::fprintf(stderr, "  [%zu] len %zu: burst %s | one %s\n", i, wire[i].size(), to_string(q.status),
                     to_string(r.status));
      RL_FUZZ_CHECK(q.status == r.status);
      if (r.status != Status::ok) {
        RL_FUZZ_CHECK(wa[i] == wire[i]);  // refused: the bytes as they arrived
        RL_FUZZ_CHECK(wo[i] == wire[i]);
        continue;
      }
      RL_FUZZ_CHECK(q.offset == r.offset && q.length == r.length);
      RL_FUZZ_CHECK(r.length == 0 || std::memcmp(q.data(), r.data(), r.length) == 0);
    }
    RL_FUZZ_CHECK(ok_b == ok_o);
    RL_FUZZ_CHECK(rb.current() == ro.current() && rb.previous() == ro.previous() && rb.next() == ro.next());
    for (int s = 0; s < kSessions; ++s) {
      const KeyCounters* a = rb.counters(k[s].r_index, Direction::open);
      const KeyCounters* b = ro.counters(k[s].r_index, Direction::open);
      RL_FUZZ_CHECK((a == nullptr) == (b == nullptr));
      if (a == nullptr) continue;
      RL_FUZZ_CHECK(a->opened == b->opened && a->bytes_opened == b->bytes_opened);
      RL_FUZZ_CHECK(a->auth_failures == b->auth_failures && a->replays == b->replays);
      RL_FUZZ_CHECK(rb.highest_opened(k[s].r_index) == ro.highest_opened(k[s].r_index));
    }
    KeyEvent ea, eb;
    for (;;) {
      const bool ha = rb.poll_event(ea), hb = ro.poll_event(eb);
      RL_FUZZ_CHECK(ha == hb);
      if (!ha) break;
      RL_FUZZ_CHECK(ea.kind == eb.kind && ea.epoch == eb.epoch && ea.dir == eb.dir);
    }
  }
  return 0;
}
