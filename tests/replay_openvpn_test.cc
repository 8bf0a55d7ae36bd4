// rl-replay's OpenVPN support on the fixture of real openvpn 2.6 traffic
// (tests/data/openvpn: three ciphers, renegotiations every 3 s, the server's tun device
// as ground truth): detection by keys and by port, every data packet opened to the tun
// device's packet, the control channel passed on, the shim's own log as the key file
// (cipher found by trial), and what missing keys, a flipped byte and bad key lines do.
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <array>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "tests/replay/harness.h"
#include "tests/replay/pcap_builder.h"
#include "tests/support/pcap_file.h"
#include "tools/replay/ovpn_decryptor.h"

namespace rl::replay::test {
namespace {

const std::string kDir = std::string(RL_SOURCE_DIR) + "/tests/data/openvpn/";
constexpr uint32_t kClientTunAddr = 0x0a080002;  // 10.8.0.2

using Digest = std::array<uint8_t, 32>;
Digest sha(const Bytes& b) {
  Digest d{};
  SHA256(b.data(), b.size(), d.data());
  return d;
}

Keys keys_from(const std::string& text) {
  Keys k;
  std::istringstream in(text);
  std::string err;
  EXPECT_TRUE(k.ovpn.parse(in, err)) << err;
  return k;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The capture through the driver with the OpenVPN decryptor.
RunResult replay(const std::string& pcap, const Keys& keys, ReplayOptions opts = {}) {
  OvpnDecryptor dec(keys);
  return run_capture(pcap, keys, opts, false, {{Proto::openvpn, &dec}});
}

// The tun device's packets, client to server and back, as digests in capture order.
std::pair<std::vector<Digest>, std::vector<Digest>> tun_digests(const std::string& name) {
  std::vector<Digest> c2s, s2c;
  for (const Bytes& ip : rl::test::read_raw_ip(kDir + name + ".tun.pcap")) {
    if (ip.size() < 20) continue;
    const uint32_t src = uint32_t{ip[12]} << 24 | uint32_t{ip[13]} << 16 | uint32_t{ip[14]} << 8 | ip[15];
    (src == kClientTunAddr ? c2s : s2c).push_back(sha(ip));
  }
  return {c2s, s2c};
}

class ReplayOpenVpn : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!std::ifstream(kDir + GetParam() + ".keys")) GTEST_SKIP() << "no fixture " << GetParam();
    pcap_ = kDir + GetParam() + ".pcap";
    keys_text_ = read(kDir + GetParam() + ".keys");
  }
  std::string pcap_, keys_text_;
};

// Every data packet opens to the tun device's packet of its direction, in order; the
// control channel is not_protected; nothing else is said.
TEST_P(ReplayOpenVpn, OpensEveryDataPacketToTheTunPackets) {
  const RunResult r = replay(pcap_, keys_from(keys_text_));
  ASSERT_TRUE(r.opened);
  EXPECT_EQ(r.errors, 0u) << r.all_messages();
  const auto [c2s, s2c] = tun_digests(GetParam());
  std::vector<Digest> got_c2s, got_s2c;
  size_t control = 0;
  for (const Verdict& v : r.verdicts) {
    ASSERT_STREQ(v.proto, "openvpn");
    if (*v.type != openvpn::kDataV2) {
      EXPECT_STREQ(v.status, "not_protected") << "frame " << v.frame;
      ++control;
      continue;
    }
    ASSERT_STREQ(v.status, "ok") << "frame " << v.frame;
    ASSERT_TRUE(v.sha256.has_value());
    (v.dir == "client" ? got_c2s : got_s2c).push_back(*v.sha256);
  }
  EXPECT_GT(control, 20u);
  EXPECT_EQ(got_c2s, c2s);
  EXPECT_EQ(got_s2c, s2c);
}

// The shim's own log (no cipher line, keys numbered by their order) opens the same.
TEST_P(ReplayOpenVpn, TheShimLogAsTheKeyFile) {
  std::istringstream in(keys_text_);
  std::string line, shim = "# ekm_shim.c output\nEXPORTER-OpenVPN-p2p-peerid 123456\n";
  while (std::getline(in, line))
    if (line.rfind("key ", 0) == 0) shim += "EXPORTER-OpenVPN-datakeys " + line.substr(line.rfind(' ') + 1) + "\n";
  const Keys k = keys_from(shim);
  EXPECT_FALSE(k.ovpn.suite.has_value());
  const RunResult r = replay(pcap_, k);
  size_t ok = 0;
  for (const Verdict& v : r.verdicts)
    if (*v.type == openvpn::kDataV2) {
      EXPECT_STREQ(v.status, "ok") << "frame " << v.frame;
      ok += std::string(v.status) == "ok";
    }
  EXPECT_EQ(ok, 48u);
}

// Without keys: found on port 1194, data packets no_key (exit 0), the key_id and packet
// ID still reported.
TEST_P(ReplayOpenVpn, WithoutKeys) {
  const RunResult r = run_capture(pcap_);
  size_t data = 0;
  for (const Verdict& v : r.verdicts) {
    ASSERT_STREQ(v.proto, "openvpn");
    if (*v.type != openvpn::kDataV2) continue;
    EXPECT_STREQ(v.status, "no_key");
    EXPECT_TRUE(v.epoch.has_value() && v.seq.has_value() && *v.seq >= 1);
    ++data;
  }
  EXPECT_EQ(data, 48u);
}

// A byte flipped in a data packet after the direction's first one: auth_failed, and the
// packets after it still open.
TEST_P(ReplayOpenVpn, AFlippedByte) {
  const RunResult clean = replay(pcap_, keys_from(keys_text_));
  uint64_t victim = 0;
  int seen = 0;
  for (const Verdict& v : clean.verdicts)
    if (*v.type == openvpn::kDataV2 && v.dir == "client" && ++seen == 5) victim = v.frame;
  ASSERT_NE(victim, 0u);
  std::ifstream in(pcap_, std::ios::binary);
  Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t off = 24;
  for (uint64_t n = 1; n < victim; ++n) off += 16 + load_le32(file.data() + off + 8);
  const size_t incl = load_le32(file.data() + off + 8);
  file[off + 16 + incl - 1] ^= 0x01;  // the last byte of the ciphertext
  // In this process's own directory: CTest runs the three ciphers side by side.
  const std::string path = temp_path(std::string("ovpn_flipped_") + GetParam() + ".pcap");
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(file.data()),
                                              static_cast<std::streamsize>(file.size()));
  const RunResult r = replay(path, keys_from(keys_text_));
  size_t ok = 0;
  for (const Verdict& v : r.verdicts) {
    if (*v.type != openvpn::kDataV2) continue;
    if (v.frame == victim) EXPECT_STREQ(v.status, "auth_failed");
    else ok += std::string(v.status) == "ok";
  }
  EXPECT_EQ(ok, 47u);
}

INSTANTIATE_TEST_SUITE_P(Ciphers, ReplayOpenVpn, ::testing::Values("aes128gcm", "aes256gcm", "chacha20"),
                         [](const auto& info) { return std::string(info.param); });

TEST(ReplayOpenVpnKeys, BadLinesAreRefusedWithTheirLine) {
  for (const char* bad : {"cipher AES-128-CBC\n", "key 8 00\n", "# ok\nkey 0 0011\n",
                          "EXPORTER-OpenVPN-datakeys zz\n", "hello 1\n"}) {
    OvpnKeys k;
    std::istringstream in(bad);
    std::string err;
    EXPECT_FALSE(k.parse(in, err)) << bad;
    EXPECT_NE(err.find("line "), std::string::npos) << err;
    EXPECT_TRUE(k.empty());
  }
  // The shim's n-th key gets OpenVPN's key_id: 0, then 1..7 over and over.
  std::string shim;
  for (int i = 0; i < 10; ++i) shim += "EXPORTER-OpenVPN-datakeys " + std::string(512, "0123456789"[i]) + "\n";
  OvpnKeys k;
  std::istringstream in(shim);
  std::string err;
  ASSERT_TRUE(k.parse(in, err)) << err;
  ASSERT_EQ(k.keys.size(), 10u);
  const int want[] = {0, 1, 2, 3, 4, 5, 6, 7, 1, 2};
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(k.keys[i].key_id, want[i]) << i;
}

}  // namespace
}  // namespace rl::replay::test
