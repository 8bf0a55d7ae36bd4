// libFuzzer target: OpenVPN data-channel open of a burst against the same
// packets opened one at a time (core/openvpn.h). Two receivers with the same
// keys: key_id 0 at the start, further key_ids installed in later rounds (a
// renegotiation; the older keys stay open), one expired now and then; V1 or
// V2 packets; a replay window of 1..128; in one input of four an integrity
// limit of 1..8 failures. What arrives is composed from every key's sealed
// packets: in order, late, repeated, a bit flipped, cut short, junk, lost.
// Any difference in status, outputs, plaintext, the bytes of a refused packet
// (as they arrived), counters or events aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/openvpn.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::openvpn;
using namespace rl::fuzz;

namespace {

constexpr int kKeys = 4;

Bytes seal_packet(Channel& tx, Input& in, uint32_t serial) {
  const size_t len = 1 + in.u16() % 1500;
  Bytes mem(kOverheadV2 + len, 0);
  for (size_t i = 0; i < len; ++i) mem[kOverheadV2 + i] = static_cast<uint8_t>(serial * 7 + i);
  PacketView v{mem.data(), static_cast<uint32_t>(mem.size()), kOverheadV2, static_cast<uint32_t>(len), Status::ok};
  if (tx.seal({&v, 1}) != 1) return {};
  return Bytes(v.data(), v.data() + v.length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  Limits lim;
  const bool limited = small_integrity_limit(in.byte(), lim);
  const uint8_t setup = in.byte();
  Config cfg;
  cfg.data_v2 = setup & 1;
  cfg.peer_id = setup & 2 ? 0xabcdef : 0;
  cfg.replay_window = 1 + in.byte() % 128;
  const Suite suite = kAllSuites[(setup >> 2) % 3];
  uint8_t material[kKeys][kKeyMaterialLen];
  for (int k = 0; k < kKeys; ++k)
    for (size_t i = 0; i < kKeyMaterialLen; ++i) material[k][i] = static_cast<uint8_t>(i * 5 + 31 * k + 1);
  auto keys = [&](int k, bool server) {
    return key_set(std::span<const uint8_t, kKeyMaterialLen>(material[k], kKeyMaterialLen), suite,
                   static_cast<uint8_t>(k), server);
  };
  Channel tx[kKeys] = {Channel(cfg), Channel(cfg), Channel(cfg), Channel(cfg)};
  Channel rb(cfg), ro(cfg);  // burst and one-at-a-time receivers
  for (int k = 0; k < kKeys; ++k) RL_FUZZ_CHECK(tx[k].install(keys(k, false)) == Status::ok);
  for (Channel* r : {&rb, &ro}) RL_FUZZ_CHECK(r->install(keys(0, true), limited ? &lim : nullptr) == Status::ok);
  int installed = 1;
  std::vector<Bytes> sealed[kKeys];
  for (int round = 0; round < 4 && in.n > 0; ++round) {
    const uint8_t c = in.byte();
    if (round > 0 && (c & 3) == 3 && installed < kKeys) {
      for (Channel* r : {&rb, &ro})
        RL_FUZZ_CHECK(r->install(keys(installed, true), limited ? &lim : nullptr) == Status::ok);
      ++installed;
    }
    if (round > 0 && (c & 12) == 12) {
      const uint8_t gone = static_cast<uint8_t>((c >> 4) % installed);
      RL_FUZZ_CHECK(rb.expire(gone) == ro.expire(gone));
    }
    size_t next[kKeys];
    for (int k = 0; k < kKeys; ++k) next[k] = sealed[k].size();
    const size_t want = 1 + in.byte() % 24;
    for (size_t i = 0; i < want; ++i) {
      const int k = in.byte() % installed;
      if (sealed[k].size() >= 150) continue;
      if (in.byte() % 16 == 0) tx[k].skip_packet_ids(in.byte() % 200);
      Bytes m = seal_packet(tx[k], in, static_cast<uint32_t>(sealed[k].size()));
      if (!m.empty()) sealed[k].push_back(std::move(m));
    }
    const std::vector<Bytes> wire =
        compose(in, std::span<const std::vector<Bytes>>(sealed, static_cast<size_t>(installed)),
                std::span<size_t>(next, static_cast<size_t>(installed)), 1 + in.byte() % 80);
    if (wire.empty()) continue;

    std::vector<Bytes> wa = wire, wo = wire;
    std::vector<Packet> burst(wire.size());
    for (size_t i = 0; i < wire.size(); ++i)
      burst[i].view = {wa[i].data(), static_cast<uint32_t>(wa[i].size()), 0, static_cast<uint32_t>(wa[i].size()),
                       Status::ok};
    const size_t ok_b = rb.open(burst);
    size_t ok_o = 0;
    for (size_t i = 0; i < wire.size(); ++i) {
      Packet r;
      r.view = {wo[i].data(), static_cast<uint32_t>(wo[i].size()), 0, static_cast<uint32_t>(wo[i].size()),
                Status::ok};
      ok_o += ro.open({&r, 1});
      const Packet& q = burst[i];
      if (debug())
        std::fprintf(stderr, "  [%zu] len %zu: burst %s | one %s\n", i, wire[i].size(), to_string(q.status()),
                     to_string(r.status()));
      RL_FUZZ_CHECK(q.status() == r.status());
      if (r.status() != Status::ok) {
        RL_FUZZ_CHECK(wa[i] == wire[i]);  // refused: the bytes as they arrived
        RL_FUZZ_CHECK(wo[i] == wire[i]);
        continue;
      }
      RL_FUZZ_CHECK(q.view.offset == r.view.offset && q.view.length == r.view.length);
      RL_FUZZ_CHECK(std::memcmp(q.view.data(), r.view.data(), r.view.length) == 0);
      RL_FUZZ_CHECK(q.key_id == r.key_id && q.packet_id == r.packet_id && q.peer_id == r.peer_id &&
                    q.opcode == r.opcode);
    }
    RL_FUZZ_CHECK(ok_b == ok_o);
    for (int k = 0; k < kKeys; ++k) {
      const KeyCounters* a = rb.counters(static_cast<uint8_t>(k), Direction::open);
      const KeyCounters* b = ro.counters(static_cast<uint8_t>(k), Direction::open);
      RL_FUZZ_CHECK((a == nullptr) == (b == nullptr));
      if (a == nullptr) continue;
      RL_FUZZ_CHECK(a->opened == b->opened && a->bytes_opened == b->bytes_opened);
      RL_FUZZ_CHECK(a->auth_failures == b->auth_failures && a->replays == b->replays);
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
