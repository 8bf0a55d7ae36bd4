// libFuzzer target: SRTP unprotect of a burst against the same packets opened
// one at a time (core/srtp.h). The input picks the profile (every profile,
// MKI or not, RFC 6904 / Cryptex header extensions), seals RTP packets of up
// to three SSRCs (streams made from the template on first use, sequence
// numbers starting near the 16-bit wrap so the ROC moves, CSRCs, one-byte
// header extensions) and composes what arrives: in order, late, duplicated,
// dropped, with a byte flipped, truncated, or junk. Two receiving sessions
// with the same template open it, one as bursts (the lean loops, the stream
// cache, the general loop), one packet per call; any difference in what
// authenticates, the RTP packet, the bytes of a refused packet (as they
// arrived), the streams (highest index, ROC, packets) or their number aborts.
// Then the same for SRTCP sender reports of those SSRCs (index, E flag).
//
// Up to 96 packets per stream against windows of 64 or 256: a late packet or
// a replay can fall left of the window behind packets of its own burst, and
// a flipped bit in a sequence number can put a copy about 2^15 away, where
// the packets waiting in the burst move its index estimate (RFC 3711
// Appendix A). The burst retakes such packets after the ones waiting, as one
// at a time would see them, so every status (too old or replayed included),
// failure count and replay count must be the same.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/bytes.h"
#include "core/srtp.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::srtp;
using namespace rl::fuzz;

namespace {

constexpr uint32_t kSsrc[3] = {0x1111, 0x2222, 0x3333};
constexpr size_t kTail = 16 + 4 + 16;  // tag, MKI

PacketView view(Bytes& b, size_t len) {
  return {b.data(), static_cast<uint32_t>(b.size()), 0, static_cast<uint32_t>(len), Status::ok};
}

Bytes rtp_packet(Input& in, uint32_t ssrc, uint16_t seq) {
  const uint8_t shape = in.byte();
  const uint8_t cc = (shape & 0x30) == 0x30 ? shape & 3 : 0;
  const bool ext = (shape & 0x0c) == 0x0c;
  const size_t payload = (shape & 0xc0) == 0xc0 ? in.byte() % 8 : in.u16() % 1300;
  Bytes p(12);
  p[0] = static_cast<uint8_t>(0x80 | cc | (ext ? 0x10 : 0));
  p[1] = 96;
  store_be16(p.data() + 2, seq);
  store_be32(p.data() + 4, 0x10000u + seq);
  store_be32(p.data() + 8, ssrc);
  for (uint8_t i = 0; i < cc; ++i) {
    const size_t at = p.size();
    p.resize(at + 4);
    store_be32(p.data() + at, 0xC5C50000u + i);
  }
  if (ext) {  // RFC 8285 one-byte elements: ID 1 with 2 bytes, ID 2 with 1, padding
    const uint8_t e[12] = {0xBE, 0xDE, 0x00, 0x02, 0x11, in.byte(), in.byte(), 0x20, in.byte(), 0, 0, 0};
    p.insert(p.end(), e, e + 12);
  }
  for (size_t i = 0; i < payload; ++i) p.push_back(static_cast<uint8_t>(seq * 3 + i));
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte(), cfg2 = in.byte();
  Policy pol;
  pol.profile = kAllProfiles[cfg % 8];
  pol.replay_window = (cfg & 8) != 0 ? 256 : 64;
  pol.mki_len = (cfg & 0x10) != 0 ? 2 : 0;
  if ((cfg & 0x60) == 0x20) pol.header_ext = HeaderExtCrypto::rfc6904, pol.encrypt_ext_id(1);
  if ((cfg & 0x60) == 0x40) pol.header_ext = HeaderExtCrypto::cryptex;
  const ProfileInfo info = profile_info(pol.profile);
  uint8_t key[32], salt[14], mki[2] = {0, 7};
  for (size_t i = 0; i < sizeof key; ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t i = 0; i < sizeof salt; ++i) salt[i] = static_cast<uint8_t>(i * 5 + 9);
  const MasterKey mk{{key, info.master_key_len}, {salt, info.master_salt_len}, {mki, pol.mki_len}};

  // The receivers' policy: the sender's, now and then with a small integrity
  // limit for the master key's SRTP and SRTCP (cfg2's high bits; the low
  // three are the streams').
  Policy rpol = pol;
  if (small_integrity_limit(cfg2 >> 3, rpol.srtp_limits))
    rpol.srtcp_limits.max_auth_failures = rpol.srtp_limits.max_auth_failures;

  Session tx(Direction::seal, 8), rb(Direction::open, 8), ro(Direction::open, 8);
  if (tx.set_template(pol, {&mk, 1}) != Status::ok) return 0;  // a combination refused
  RL_FUZZ_CHECK(rb.set_template(rpol, {&mk, 1}) == Status::ok);
  RL_FUZZ_CHECK(ro.set_template(rpol, {&mk, 1}) == Status::ok);

  // Each stream's first sequence number: near the wrap (ROC 0 -> 1) or not.
  uint16_t seq[3];
  for (int s = 0; s < 3; ++s) seq[s] = (cfg2 >> s) & 1 ? static_cast<uint16_t>(65500 + in.byte() % 30) : in.u16();
  std::vector<Bytes> sealed[3];
  for (int round = 0; round < 4 && in.n > 0; ++round) {
    size_t first_new[3] = {sealed[0].size(), sealed[1].size(), sealed[2].size()};
    const size_t want = 1 + in.byte() % 24;
    for (size_t i = 0; i < want; ++i) {
      const int s = in.byte() % 3;
      if (sealed[s].size() >= 150) continue;
      Bytes p = rtp_packet(in, kSsrc[s], seq[s]++);
      const size_t len = p.size();
      p.resize(len + kTail);
      PacketView v = view(p, len);
      if (tx.seal({&v, 1}) != 1) continue;
      p.resize(v.length);
      sealed[s].push_back(std::move(p));
    }
    size_t next[3] = {first_new[0], first_new[1], first_new[2]};
    const std::vector<Bytes> wire = compose(in, sealed, next, 1 + in.byte() % 48);
    if (wire.empty()) continue;

    std::vector<Bytes> wa = wire, wo = wire;
    std::vector<PacketView> burst;
    for (Bytes& b : wa) burst.push_back(view(b, b.size()));
    const size_t ok_b = rb.open(burst);
    size_t ok_o = 0;
    for (size_t i = 0; i < wire.size(); ++i) {
      PacketView r = view(wo[i], wo[i].size());
      ok_o += ro.open({&r, 1});
      const PacketView& q = burst[i];
      if (debug())
        std::fprintf(stderr, "  [%zu] len %zu ssrc %x seq %u: burst %s | one %s\n", i, wire[i].size(),
                     wire[i].size() >= 12 ? load_be32(wire[i].data() + 8) : 0,
                     wire[i].size() >= 4 ? load_be16(wire[i].data() + 2) : 0, to_string(q.status),
                     to_string(r.status));
      RL_FUZZ_CHECK(q.status == r.status);
      RL_FUZZ_CHECK(wa[i] == wo[i]);
      if (r.status != Status::ok) {
        RL_FUZZ_CHECK(wo[i] == wire[i]);  // refused: the bytes as they arrived
        continue;
      }
      RL_FUZZ_CHECK(q.offset == r.offset && q.length == r.length);
    }
    RL_FUZZ_CHECK(ok_b == ok_o);
    RL_FUZZ_CHECK(rb.stream_count() == ro.stream_count());
    RL_FUZZ_CHECK(rb.refused_new_streams() == ro.refused_new_streams());
    for (uint32_t ssrc : kSsrc) {
      const auto x = rb.stream_info(ssrc), y = ro.stream_info(ssrc);
      RL_FUZZ_CHECK(x.has_value() == y.has_value());
      if (!x) continue;
      RL_FUZZ_CHECK(x->any == y->any);
      RL_FUZZ_CHECK(x->highest_index == y->highest_index);
      RL_FUZZ_CHECK(x->roc == y->roc);
      RL_FUZZ_CHECK(x->packets == y->packets);
    }
    const KeyCounters* ka = rb.key_counters(std::nullopt, {mki, pol.mki_len}, false);
    const KeyCounters* kb = ro.key_counters(std::nullopt, {mki, pol.mki_len}, false);
    RL_FUZZ_CHECK(ka != nullptr && kb != nullptr);
    RL_FUZZ_CHECK(ka->opened == kb->opened && ka->bytes_opened == kb->bytes_opened);
    RL_FUZZ_CHECK(ka->auth_failures == kb->auth_failures && ka->replays == kb->replays);
  }

  // SRTCP (RFC 3711 §3.4): sender reports of the same SSRCs, each stream's
  // 31-bit index counted by the sender, replay-checked by the receivers.
  std::vector<Bytes> rtcp[3];
  for (int round = 0; round < 2 && in.n > 0; ++round) {
    size_t first_new[3] = {rtcp[0].size(), rtcp[1].size(), rtcp[2].size()};
    const size_t want = 1 + in.byte() % 16;
    for (size_t i = 0; i < want; ++i) {
      const int s = in.byte() % 3;
      if (rtcp[s].size() >= 150) continue;
      const size_t body = 4 * (in.byte() % 40);
      Bytes p(8 + body + kTail + 4);
      p[0] = 0x80;
      p[1] = 200;  // SR
      store_be16(p.data() + 2, static_cast<uint16_t>((8 + body) / 4 - 1));
      store_be32(p.data() + 4, kSsrc[s]);
      for (size_t k = 0; k < body; ++k) p[8 + k] = static_cast<uint8_t>(k * 13 + i);
      PacketView v = view(p, 8 + body);
      if (tx.seal_rtcp({&v, 1}) != 1) continue;
      p.resize(v.length);
      rtcp[s].push_back(std::move(p));
    }
    size_t next[3] = {first_new[0], first_new[1], first_new[2]};
    const std::vector<Bytes> wire = compose(in, rtcp, next, 1 + in.byte() % 40);
    if (wire.empty()) continue;
    std::vector<Bytes> wa = wire, wo = wire;
    std::vector<PacketView> burst;
    for (Bytes& b : wa) burst.push_back(view(b, b.size()));
    const size_t ok_b = rb.open_rtcp(burst);
    size_t ok_o = 0;
    for (size_t i = 0; i < wire.size(); ++i) {
      PacketView r = view(wo[i], wo[i].size());
      ok_o += ro.open_rtcp({&r, 1});
      RL_FUZZ_CHECK(burst[i].status == r.status);
      RL_FUZZ_CHECK(wa[i] == wo[i]);
      if (r.status != Status::ok) RL_FUZZ_CHECK(wo[i] == wire[i]);
      else RL_FUZZ_CHECK(burst[i].offset == r.offset && burst[i].length == r.length);
    }
    RL_FUZZ_CHECK(ok_b == ok_o);
    RL_FUZZ_CHECK(rb.stream_count() == ro.stream_count());
    for (uint32_t ssrc : kSsrc) {
      const auto x = rb.stream_info(ssrc), y = ro.stream_info(ssrc);
      RL_FUZZ_CHECK(x.has_value() == y.has_value());
      if (!x) continue;
      RL_FUZZ_CHECK(x->rtcp_any == y->rtcp_any && x->rtcp_highest == y->rtcp_highest);
      RL_FUZZ_CHECK(x->rtcp_packets == y->rtcp_packets);
    }
    const KeyCounters* ka = rb.key_counters(std::nullopt, {mki, pol.mki_len}, true);
    const KeyCounters* kb = ro.key_counters(std::nullopt, {mki, pol.mki_len}, true);
    RL_FUZZ_CHECK(ka != nullptr && kb != nullptr);
    RL_FUZZ_CHECK(ka->opened == kb->opened && ka->bytes_opened == kb->bytes_opened);
    RL_FUZZ_CHECK(ka->auth_failures == kb->auth_failures && ka->replays == kb->replays);
  }
  return 0;
}
