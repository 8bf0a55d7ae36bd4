// Replay robustness: the real capture with frames mutated, cut, dropped, duplicated and
// swapped (deterministic). Nothing may crash (CI runs this under ASan/UBSan) and the
// attribution invariants must hold: frames never go back, indexes count 0, 1, 2... per frame.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <random>

#include "tests/replay/harness.h"

namespace rl::replay::test {
namespace {

std::vector<Bytes> load_frames(const std::string& path, int& dlt) {
  std::vector<Bytes> v;
  PcapSource src;
  Diag d;
  d.quiet = true;
  if (!src.open(path, d)) return v;
  dlt = src.linktype();
  Frame f;
  while (src.next(f, d) == PcapSource::Next::frame) v.emplace_back(f.data.begin(), f.data.end());
  return v;
}

void check_invariants(const std::vector<Verdict>& vs, size_t frames) {
  uint64_t last = 0;
  uint32_t next = 0;
  for (const Verdict& v : vs) {
    ASSERT_GE(v.frame, 1u);
    ASSERT_LE(v.frame, frames);
    ASSERT_GE(v.frame, last);
    if (v.frame != last) next = 0;
    ASSERT_EQ(v.index, next) << "frame " << v.frame;
    ++next;
    last = v.frame;
    ASSERT_NE(std::string_view(v.status), "");
  }
}

TEST(ReplayRobust, MutatedRealCaptureNeverBreaksAttribution) {
  int dlt = 0;
  const auto frames = load_frames(std::string(RL_SOURCE_DIR) + "/tests/data/replay/tls13.pcap", dlt);
  ASSERT_GT(frames.size(), 20u);
  std::mt19937_64 rng(7);
  Keys keys;
  for (int round = 0; round < 400; ++round) {
    std::vector<Bytes> fs = frames;
    const int muts = 1 + int(rng() % 6);
    for (int m = 0; m < muts; ++m) {
      const size_t i = rng() % fs.size();
      switch (rng() % 5) {
        case 0:
          if (!fs[i].empty()) fs[i][rng() % fs[i].size()] ^= uint8_t(1 + rng() % 255);
          break;
        case 1:
          fs[i].resize(rng() % (fs[i].size() + 1));
          break;
        case 2:
          fs.erase(fs.begin() + long(i));
          break;
        case 3:
          fs.insert(fs.begin() + long(i), fs[i]);
          break;
        case 4:
          std::swap(fs[i], fs[rng() % fs.size()]);
          break;
      }
      if (fs.empty()) fs = frames;
    }
    Collect c;
    Diag d;
    d.quiet = true;
    {
      Replayer rep(keys, {}, c, d);
      rep.begin(dlt, "mutated");
      for (size_t i = 0; i < fs.size(); ++i) {
        Frame f;
        f.number = i + 1;
        f.data = ByteSpan(fs[i]);
        f.orig_len = uint32_t(fs[i].size());
        rep.frame(f);
      }
      rep.end();
    }
    SCOPED_TRACE(round);
    check_invariants(c.v, fs.size());
    if (HasFatalFailure()) return;
  }
}

// Random bytes behind valid Ethernet/IPv4/UDP and TCP headers on the ports the detectors
// look at: every decoder sees garbage.
TEST(ReplayRobust, GarbageBehindValidHeaders) {
  std::mt19937_64 rng(11);
  Keys keys;
  Diag kd;
  kd.quiet = true;
  keys.xfrm.add_text("src 10.0.0.1 dst 10.0.0.2\n proto esp spi 0x1 reqid 1 mode tunnel\n"
                     " aead rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0fa0a1a2a3 128\n", "x", kd);
  for (int round = 0; round < 50; ++round) {
    Collect c;
    Diag d;
    d.quiet = true;
    ReplayOptions o;
    PortRule r;
    std::string err;
    parse_port_rule("udp/5004=srtp", r, err);
    o.rules.push_back(r);
    parse_port_rule("tcp/443=tls", r, err);
    o.rules.push_back(r);
    o.tcp_limits.max_held_segments = 4;
    o.ip_limits.timeout_frames = 16;
    const size_t n = 300;
    {
      Replayer rep(keys, o, c, d);
      rep.begin(DLT_RAW, "garbage");
      for (size_t i = 0; i < n; ++i) {
        Bytes body(rng() % 1500);
        for (auto& b : body) b = uint8_t(rng());
        static const uint16_t ports[] = {443, 4500, 5004, 4433, 50000};
        const uint16_t port = ports[rng() % 5];
        const uint8_t proto = (rng() % 4 == 0) ? 6 : (rng() % 8 == 0 ? 50 : 17);
        Bytes l4;
        if (proto == 17) {
          l4 = {0x13, 0x88, uint8_t(port >> 8), uint8_t(port), uint8_t((8 + body.size()) >> 8),
                uint8_t(8 + body.size()), 0, 0};
        } else if (proto == 6) {
          l4 = {0x13, 0x88, uint8_t(port >> 8), uint8_t(port), uint8_t(rng()), uint8_t(rng()), 0, 0,
                0, 0, 0, 0, 0x50, uint8_t(rng() & 0x1f), 0, 0, 0, 0, 0, 0};
        }
        l4.insert(l4.end(), body.begin(), body.end());
        Bytes ipk = {0x45, 0, uint8_t((20 + l4.size()) >> 8), uint8_t(20 + l4.size()), 0, uint8_t(rng() % 4),
                     uint8_t(rng() % 8 == 0 ? 0x20 : 0), 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
        ipk.insert(ipk.end(), l4.begin(), l4.end());
        Frame f;
        f.number = i + 1;
        f.data = ByteSpan(ipk);
        f.orig_len = uint32_t(ipk.size());
        rep.frame(f);
      }
      rep.end();
    }
    SCOPED_TRACE(round);
    check_invariants(c.v, n);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace rl::replay::test
