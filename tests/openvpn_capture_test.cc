// The OpenVPN data channel against real openvpn 2.6 traffic
// (tests/data/openvpn/, made by make_capture.sh: two openvpn processes in
// network namespaces, three renegotiations' worth of keys exported by the peer
// itself, the server's tun device captured as ground truth). For each cipher:
// every data-channel datagram on the link opens, one at a time and in bursts,
// to exactly the IP packet the kernel saw on the tun device; sealing those
// plaintexts again in order gives the captured bytes; and every captured
// packet with a byte flipped is refused and left as it was.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/openvpn.h"
#include "tests/support/backends.h"
#include "tests/support/pcap_file.h"
#include "tests/support/vectors.h"

namespace rl::openvpn {
namespace {

using test::Bytes;

const std::string kDir = std::string(RL_SOURCE_DIR) + "/tests/data/openvpn/";
constexpr uint16_t kServerPort = 1194;
constexpr uint32_t kClientTunAddr = 0x0a080002;  // 10.8.0.2

struct Fixture {
  Suite suite = Suite::aes128_gcm;
  uint32_t peer_id = 0;
  std::vector<Bytes> keys;  // by key_id
  std::vector<test::Datagram> c2s, s2c;  // data-channel datagrams, capture order
  std::vector<Bytes> tun_c2s, tun_s2c;   // tun packets by direction, capture order
};

bool load(const std::string& name, Fixture& f) {
  std::ifstream in(kDir + name + ".keys");
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string tag;
    ls >> tag;
    if (tag == "cipher") {
      std::string c;
      ls >> c;
      f.suite = c == "AES-256-GCM" ? Suite::aes256_gcm
                : c == "CHACHA20-POLY1305" ? Suite::chacha20_poly1305
                                           : Suite::aes128_gcm;
    } else if (tag == "peer_id") {
      std::string h;
      ls >> h;
      f.peer_id = static_cast<uint32_t>(std::stoul(h, nullptr, 16));
    } else if (tag == "key") {
      size_t id = 0;
      std::string h;
      ls >> id >> h;
      EXPECT_EQ(id, f.keys.size());
      f.keys.push_back(test::hex(h));
      EXPECT_EQ(f.keys.back().size(), kKeyMaterialLen);
    }
  }
  for (auto& d : test::read_udp_datagrams(kDir + name + ".pcap")) {
    const uint8_t op = opcode_of(d.payload);
    if (op != kDataV1 && op != kDataV2) continue;  // the control channel
    (d.dst_port == kServerPort ? f.c2s : f.s2c).push_back(std::move(d));
  }
  for (auto& ip : test::read_raw_ip(kDir + name + ".tun.pcap")) {
    if (ip.size() < 20 || ip[0] >> 4 != 4) continue;
    const uint32_t src = uint32_t{ip[12]} << 24 | uint32_t{ip[13]} << 16 | uint32_t{ip[14]} << 8 | ip[15];
    (src == kClientTunAddr ? f.tun_c2s : f.tun_s2c).push_back(std::move(ip));
  }
  return true;
}

KeySet keys_for(const Fixture& f, size_t key_id, bool tls_server) {
  return key_set(std::span<const uint8_t, kKeyMaterialLen>(f.keys[key_id].data(), kKeyMaterialLen), f.suite,
                 static_cast<uint8_t>(key_id), tls_server);
}

// A receiving end (the server opens c2s) with every key installed.
std::unique_ptr<Channel> receiver(const Fixture& f, bool server) {
  Config cfg;
  cfg.peer_id = f.peer_id;
  auto ch = std::make_unique<Channel>(cfg);
  for (size_t k = 0; k < f.keys.size(); ++k) EXPECT_EQ(ch->install(keys_for(f, k, server)), Status::ok);
  return ch;
}

struct Buf {
  std::vector<uint8_t> mem;
  Packet p;
  explicit Buf(const Bytes& b) : mem(b) {
    p.view = PacketView{mem.data(), static_cast<uint32_t>(mem.size()), 0, static_cast<uint32_t>(mem.size())};
  }
  Bytes bytes() const { return Bytes(p.view.data(), p.view.data() + p.view.length); }
};

class OpenVpnCapture : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!load(GetParam(), f_)) GTEST_SKIP() << "no fixture " << kDir << GetParam() << ".keys";
    ASSERT_GE(f_.keys.size(), 3u);
    ASSERT_FALSE(f_.c2s.empty());
    ASSERT_FALSE(f_.s2c.empty());
  }
  Fixture f_;
};

// Each direction opened in capture order, as one burst or one at a time,
// gives the tun device's packets in order. The capture holds packets under at
// least three key_ids, all P_DATA_V2 with the peer-id OpenVPN exported.
TEST_P(OpenVpnCapture, OpensToTheTunPackets) {
  test::for_each_backend([&](Backend) {
    for (bool server : {true, false}) {
      const auto& wire = server ? f_.c2s : f_.s2c;
      const auto& tun = server ? f_.tun_c2s : f_.tun_s2c;
      SCOPED_TRACE(server ? "client to server" : "server to client");
      ASSERT_EQ(wire.size(), tun.size());
      for (bool burst : {false, true}) {
        auto rx = receiver(f_, server);
        std::vector<Buf> bufs;
        for (const auto& d : wire) bufs.emplace_back(d.payload);
        std::vector<Packet> pk;
        for (auto& b : bufs) pk.push_back(b.p);
        if (burst) {
          EXPECT_EQ(rx->open(pk), pk.size());
        } else {
          for (auto& p : pk) EXPECT_EQ(rx->open({&p, 1}), 1u);
        }
        std::map<int, int> per_key;
        for (size_t i = 0; i < pk.size(); ++i) {
          ASSERT_EQ(pk[i].status(), Status::ok) << "frame " << wire[i].frame;
          EXPECT_EQ(pk[i].opcode, kDataV2);
          EXPECT_EQ(pk[i].peer_id, f_.peer_id);
          const Bytes plain(pk[i].view.data(), pk[i].view.data() + pk[i].view.length);
          ASSERT_EQ(test::to_hex(plain), test::to_hex(tun[i])) << "frame " << wire[i].frame;
          ++per_key[pk[i].key_id];
        }
        EXPECT_GE(per_key.size(), 3u);
      }
    }
  });
}

// Sealing the tun packets again, key by key in packet-ID order, with the
// sender's half of the keys gives the captured datagrams byte for byte.
TEST_P(OpenVpnCapture, SealsTheSameBytes) {
  for (bool server : {true, false}) {
    const auto& wire = server ? f_.s2c : f_.c2s;  // what this end sent
    const auto& tun = server ? f_.tun_s2c : f_.tun_c2s;
    SCOPED_TRACE(server ? "server" : "client");
    std::map<int, std::vector<size_t>> by_key;  // key_id -> indexes, by packet ID
    for (size_t i = 0; i < wire.size(); ++i) by_key[wire[i].payload[0] & 7].push_back(i);
    for (auto& [key_id, idx] : by_key) {
      auto pid = [&](size_t i) { return load_be32(wire[i].payload.data() + 4); };
      std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return pid(a) < pid(b); });
      Config cfg;
      cfg.peer_id = f_.peer_id;
      Channel tx(cfg);
      ASSERT_EQ(tx.install(keys_for(f_, static_cast<size_t>(key_id), server)), Status::ok);
      for (size_t i : idx) {
        ASSERT_EQ(tx.next_packet_id(), pid(i)) << "every packet of the key is in the capture";
        std::vector<uint8_t> mem(kOverheadV2 + tun[i].size());
        std::copy(tun[i].begin(), tun[i].end(), mem.begin() + kOverheadV2);
        PacketView v{mem.data(), static_cast<uint32_t>(mem.size()), kOverheadV2,
                     static_cast<uint32_t>(tun[i].size())};
        ASSERT_EQ(tx.seal({&v, 1}), 1u);
        ASSERT_EQ(test::to_hex(mem), test::to_hex(wire[i].payload)) << "frame " << wire[i].frame;
      }
    }
  }
}

// A byte flipped anywhere in a captured packet (every byte of the first
// packet of each key, a sample of the rest): refused, bytes as they arrived,
// and the window untouched (the genuine packets all open afterwards).
TEST_P(OpenVpnCapture, MutationsAreRefused) {
  auto rx = receiver(f_, true);
  std::map<int, bool> first_seen;
  for (size_t i = 0; i < f_.c2s.size(); ++i) {
    const Bytes& w = f_.c2s[i].payload;
    const bool every = !first_seen[w[0] & 7];
    first_seen[w[0] & 7] = true;
    for (size_t at = 0; at < w.size(); at += every ? 1 : 37) {
      Bytes m = w;
      m[at] ^= 0x20;
      Buf b(m);
      EXPECT_EQ(rx->open({&b.p, 1}), 0u) << "frame " << f_.c2s[i].frame << " byte " << at;
      EXPECT_EQ(b.bytes(), m);
    }
  }
  std::vector<Buf> bufs;
  for (const auto& d : f_.c2s) bufs.emplace_back(d.payload);
  std::vector<Packet> pk;
  for (auto& b : bufs) pk.push_back(b.p);
  EXPECT_EQ(rx->open(pk), pk.size());
}

INSTANTIATE_TEST_SUITE_P(Ciphers, OpenVpnCapture, ::testing::Values("aes128gcm", "aes256gcm", "chacha20"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace rl::openvpn
