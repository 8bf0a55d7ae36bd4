// rl-replay's WireGuard support on the tshark-checked fixture (tests/data/wireguard: two
// Noise IK handshakes, the second a rekey by the other peer, 22 transport messages, one
// pair out of order and one late message under the old session): detection by content and
// by --proto rule, handshakes paired by index, every transport message opened to tshark's
// plaintext cut to its inner IP length, and what missing keys, a flipped bit, a duplicate
// and a peer that roams do to the verdicts.
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <pcap/pcap.h>

#include <array>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "tests/replay/harness.h"
#include "tests/replay/pcap_builder.h"
#include "tests/support/wireguard_fixture.h"
#include "tools/replay/wg_decryptor.h"

namespace rl::replay::test {
namespace {

const std::string kData = rl::test::wg::data_dir();
// Ethernet (14) + IPv4 without options (20) + UDP (8): where a frame's WireGuard message starts.
constexpr size_t kUdpPayload = 14 + 20 + 8;

using Digest = std::array<uint8_t, 32>;

Digest sha(ByteSpan b) {
  Digest d{};
  SHA256(b.data(), b.size(), d.data());
  return d;
}

// One `msg` line of transport.txt.
struct Msg {
  uint64_t frame = 0;
  int session = 0;
  bool i2r = false;
  uint64_t counter = 0;
  Bytes wire;
  Bytes inner;  // tshark's plaintext cut to its IP packet's length (empty: keepalive)
};

struct Fixture {
  std::map<int, std::pair<uint32_t, uint32_t>> sessions;  // n -> (initiator, responder index)
  std::vector<Msg> msgs;
};

// The inner IP packet of a padded plaintext: IPv4 total length, or 40 + IPv6 payload length.
Bytes cut_to_ip(const Bytes& padded) {
  if (padded.empty()) return padded;
  const size_t len = (padded[0] >> 4) == 4 ? load_be16(padded.data() + 2) : 40 + load_be16(padded.data() + 4);
  EXPECT_LE(len, padded.size());
  return Bytes(padded.begin(), padded.begin() + static_cast<ptrdiff_t>(std::min(len, padded.size())));
}

Fixture read_fixture() {
  Fixture fx;
  const std::optional<rl::test::wg::Fixture> f = rl::test::wg::load_fixture();
  EXPECT_TRUE(f.has_value()) << "missing " << kData << "transport.txt";
  if (!f) return fx;
  for (const auto& [n, s] : f->sessions) fx.sessions[n] = {s.initiator_index, s.responder_index};
  for (const rl::test::wg::Message& fm : f->msgs) {
    EXPECT_TRUE(fm.tshark_checked) << "tshark did not decrypt frame " << fm.frame;
    fx.msgs.push_back({fm.frame, fm.session, fm.i2r, fm.counter, fm.wire, cut_to_ip(fm.tshark)});
  }
  return fx;
}

struct Capture {
  int dlt = -1;
  std::vector<Bytes> frames;
};

Capture read_capture() {
  Capture c;
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline((kData + "transport.pcap").c_str(), err);
  EXPECT_NE(p, nullptr) << err;
  if (!p) return c;
  c.dlt = pcap_datalink(p);
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) c.frames.emplace_back(d, d + h->caplen);
  pcap_close(p);
  return c;
}

Keys wg_keys() {
  Keys k;
  Diag d;
  d.quiet = true;
  EXPECT_TRUE(load_wg_keylog(kData + "transport.keylog", k.wg, d)) << (d.messages().empty() ? "" : d.messages()[0]);
  EXPECT_EQ(d.errors(), 0u);
  return k;
}

struct Out {
  std::vector<Verdict> v;
  std::vector<std::string> messages;
  ReplayStats stats;
  size_t receivers = 0;
};

// The capture through the driver with the WireGuard decryptor (decrypt = false: the
// built-in sink, as when no decryptor is linked).
Out replay(const Capture& c, const Keys& keys, ReplayOptions opts = {}, bool decrypt = true) {
  Out o;
  Collect col;
  Diag diag;
  diag.quiet = true;
  {
    WgDecryptor wg(keys);
    Replayer rep(keys, opts, col, diag);
    if (decrypt) rep.set_sink(Proto::wireguard, &wg);
    rep.begin(c.dlt, "transport.pcap");
    Frame f;
    for (size_t i = 0; i < c.frames.size(); ++i) {
      f.number = i + 1;
      f.data = ByteSpan(c.frames[i]);
      f.orig_len = static_cast<uint32_t>(c.frames[i].size());
      rep.frame(f);
    }
    rep.end();
    o.stats = rep.stats();
    o.receivers = wg.receivers();
  }
  o.v = std::move(col.v);
  o.messages = diag.messages();
  return o;
}

std::string all(const std::vector<std::string>& m) {
  std::string s;
  for (const std::string& x : m) s += x + "\n";
  return s;
}

const Verdict* at_frame(const Out& o, uint64_t frame) {
  for (const Verdict& v : o.v)
    if (v.frame == frame) return &v;
  return nullptr;
}

// Which frames are handshake messages (not in transport.txt).
std::vector<uint64_t> handshake_frames(const Capture& c) {
  std::vector<uint64_t> h;
  for (size_t i = 0; i < c.frames.size(); ++i)
    if (c.frames[i].size() > kUdpPayload && c.frames[i][kUdpPayload] != 4) h.push_back(i + 1);
  return h;
}

class ReplayWireGuard : public ::testing::Test {
 protected:
  void SetUp() override {
    fx = read_fixture();
    cap = read_capture();
    ASSERT_EQ(fx.sessions.size(), 2u);
    ASSERT_EQ(fx.msgs.size(), 22u);
    ASSERT_EQ(cap.frames.size(), 26u);
    for (const Msg& m : fx.msgs) {
      ASSERT_LE(m.frame, cap.frames.size());
      const Bytes& f = cap.frames[m.frame - 1];
      ASSERT_EQ(Bytes(f.begin() + kUdpPayload, f.end()), m.wire) << "frame " << m.frame;
    }
  }
  // Receiver index of a message: i2r data goes to the responder, r2i to the initiator.
  uint32_t receiver(const Msg& m) const {
    const auto& s = fx.sessions.at(m.session);
    return m.i2r ? s.second : s.first;
  }
  // A (10.0.0.1, session 1's initiator, the flow's client) sends session 1 i2r and
  // session 2 r2i (B initiated the rekey).
  static const char* dir(const Msg& m) { return (m.session == 1) == m.i2r ? "client" : "server"; }

  // Every transport message of `o` opened to the fixture's inner packet, except `frames_not_ok`.
  void expect_all_ok(const Out& o, const std::map<uint64_t, std::string>& frames_not_ok = {},
                     int64_t shift_after = -1) {
    for (const Msg& m : fx.msgs) {
      const uint64_t frame = m.frame + (shift_after >= 0 && m.frame > uint64_t(shift_after) ? 1 : 0);
      SCOPED_TRACE("frame " + std::to_string(frame));
      const Verdict* v = at_frame(o, frame);
      ASSERT_NE(v, nullptr);
      EXPECT_STREQ(v->proto, "wireguard");
      EXPECT_EQ(v->type, 4);
      EXPECT_EQ(v->epoch, receiver(m));
      EXPECT_EQ(v->seq, m.counter);
      EXPECT_EQ(v->wire_len, m.wire.size());
      const auto bad = frames_not_ok.find(frame);
      if (bad != frames_not_ok.end()) {
        EXPECT_EQ(std::string(v->status), bad->second);
        EXPECT_FALSE(v->sha256.has_value());
        continue;
      }
      EXPECT_STREQ(v->status, "ok");
      EXPECT_EQ(v->dir, dir(m));
      EXPECT_EQ(v->len, m.inner.size());
      ASSERT_TRUE(v->sha256.has_value());
      EXPECT_EQ(*v->sha256, sha(m.inner));
    }
  }

  Fixture fx;
  Capture cap;
};

TEST_F(ReplayWireGuard, EveryTransportMessageOpensToTsharksInnerPacket) {
  const Out o = replay(cap, wg_keys());
  EXPECT_TRUE(o.messages.empty()) << all(o.messages);
  ASSERT_EQ(o.v.size(), 26u);
  EXPECT_EQ(o.receivers, 4u);  // two sessions, one receiving Peer per direction
  expect_all_ok(o);
  // The late session-1 message (frame 18, after the rekey) and the out-of-order pair
  // (counter 3 before 2) are among them; so are three keepalives (len 0).
  size_t keepalives = 0;
  for (const Verdict& v : o.v) keepalives += v.type == 4 && v.len == 0u;
  EXPECT_EQ(keepalives, 3u);
}

TEST_F(ReplayWireGuard, HandshakeMessagesAreNotProtected) {
  const Out o = replay(cap, wg_keys());
  const std::vector<uint64_t> hs = handshake_frames(cap);
  ASSERT_EQ(hs, (std::vector<uint64_t>{1, 2, 16, 17}));
  const int types[] = {1, 2, 1, 2};
  const char* dirs[] = {"client", "server", "server", "client"};  // B initiates session 2
  for (size_t i = 0; i < hs.size(); ++i) {
    SCOPED_TRACE(hs[i]);
    const Verdict* v = at_frame(o, hs[i]);
    ASSERT_NE(v, nullptr);
    EXPECT_STREQ(v->proto, "wireguard");
    EXPECT_STREQ(v->status, "not_protected");
    EXPECT_EQ(v->type, types[i]);
    EXPECT_EQ(v->dir, dirs[i]);
    const Bytes& f = cap.frames[hs[i] - 1];
    EXPECT_EQ(v->len, f.size() - kUdpPayload);
    // A response's receiver index is its initiation's sender index (§5.4.3).
    if (types[i] == 2) {
      EXPECT_EQ(v->epoch, fx.sessions.at(i < 2 ? 1 : 2).first);
    } else {
      EXPECT_FALSE(v->epoch.has_value());
    }
  }
}

TEST_F(ReplayWireGuard, WithoutKeysOnlyARuleFindsItAndNothingHasAKey) {
  // No key log: no detection by content (the datagrams are not replayed at all)...
  const Out none = replay(cap, Keys{});
  EXPECT_TRUE(none.v.empty());
  EXPECT_EQ(none.stats.udp_unrecognized, 26u);
  // ...but a --proto rule makes it WireGuard: handshakes in the clear, transport data no_key.
  ReplayOptions opts;
  PortRule rule;
  std::string err;
  ASSERT_TRUE(parse_port_rule("udp/51820=wireguard", rule, err)) << err;
  opts.rules.push_back(rule);
  for (const bool decrypt : {true, false}) {
    SCOPED_TRACE(decrypt ? "decryptor" : "built-in sink");
    const Out o = replay(cap, Keys{}, opts, decrypt);
    ASSERT_EQ(o.v.size(), 26u);
    for (const Msg& m : fx.msgs) {
      const Verdict* v = at_frame(o, m.frame);
      ASSERT_NE(v, nullptr);
      EXPECT_STREQ(v->status, kNoKey);
      EXPECT_EQ(v->epoch, receiver(m));
      EXPECT_EQ(v->seq, m.counter);
      EXPECT_FALSE(v->sha256.has_value());
    }
    for (uint64_t f : handshake_frames(cap)) EXPECT_STREQ(at_frame(o, f)->status, "not_protected");
  }
  // With keys but no decryptor linked: skipped.
  const Out sk = replay(cap, wg_keys(), {}, false);
  for (const Msg& m : fx.msgs) EXPECT_STREQ(at_frame(sk, m.frame)->status, kSkipped);
}

TEST_F(ReplayWireGuard, AFlippedCiphertextBitFailsThatMessageAlone) {
  // Session 1 r2i counter 2 (frame 11, a 1420-byte plaintext): one bit of its ciphertext.
  for (const size_t off : {size_t{16}, size_t{700}, cap.frames[10].size() - kUdpPayload - 1}) {
    SCOPED_TRACE(off);
    Capture bad = cap;
    bad.frames[10][kUdpPayload + off] ^= 0x08;
    const Out o = replay(bad, wg_keys());
    ASSERT_EQ(o.v.size(), 26u);
    expect_all_ok(o, {{11, "auth_failed"}});
  }
}

TEST_F(ReplayWireGuard, ADuplicatedMessageIsReplayed) {
  // Frame 9 (session 1 i2r counter 4) twice: the copy, frame 10, is replayed; the window
  // kept accepting what came before (counters 3, 2) and after.
  Capture dup = cap;
  dup.frames.insert(dup.frames.begin() + 9, cap.frames[8]);
  const Out o = replay(dup, wg_keys());
  ASSERT_EQ(o.v.size(), 27u);
  expect_all_ok(o, {}, 9);
  EXPECT_STREQ(at_frame(o, 10)->status, "replayed");
  EXPECT_EQ(at_frame(o, 10)->seq, 4u);

  // A duplicated response (session 1's, after its data) leaves the session as it was: a
  // message seen before is still replayed.
  Capture dup2 = cap;
  dup2.frames.push_back(cap.frames[1]);   // frame 27: the response again
  dup2.frames.push_back(cap.frames[2]);   // frame 28: session 1 i2r counter 0 again
  const Out o2 = replay(dup2, wg_keys());
  ASSERT_EQ(o2.v.size(), 28u);
  expect_all_ok(o2);
  EXPECT_STREQ(at_frame(o2, 27)->status, "not_protected");
  EXPECT_STREQ(at_frame(o2, 28)->status, "replayed");
  EXPECT_EQ(o2.receivers, 4u);
}

TEST_F(ReplayWireGuard, KeyLogsGivenSeparatelyAddUp) {
  // --wg-keylog twice: each handshake's block in its own file.
  std::ifstream in(kData + "transport.keylog");
  std::string line;
  std::vector<std::string> files;
  while (std::getline(in, line)) {
    if (line.rfind("LOCAL_STATIC_PRIVATE_KEY", 0) == 0) {
      files.push_back(temp_path("wg" + std::to_string(files.size()) + ".keylog"));
      std::ofstream(files.back());
    }
    ASSERT_FALSE(files.empty());
    std::ofstream(files.back(), std::ios::app) << line << "\n";
  }
  ASSERT_EQ(files.size(), 2u);
  Keys keys;
  Diag d;
  d.quiet = true;
  for (const std::string& f : files) EXPECT_TRUE(load_wg_keylog(f, keys.wg, d));
  EXPECT_EQ(d.errors(), 0u);
  const Out o = replay(cap, keys);
  EXPECT_TRUE(o.messages.empty()) << all(o.messages);
  expect_all_ok(o);
  // Only session 1's block: session 2 is no_key, and its response is named.
  Keys one;
  EXPECT_TRUE(load_wg_keylog(files[0], one.wg, d));
  const Out o1 = replay(cap, one);
  for (const Msg& m : fx.msgs) EXPECT_STREQ(at_frame(o1, m.frame)->status, m.session == 1 ? "ok" : kNoKey);
  bool said = false;
  for (const std::string& s : o1.messages) said |= s.find("no --wg-keylog entry derives its keys") != std::string::npos;
  EXPECT_TRUE(said) << all(o1.messages);
}

TEST_F(ReplayWireGuard, HandshakesArePairedByIndexWhenAPeerRoams) {
  // B (10.0.0.2:51821) moves to port 40000 from the session-2 response (frame 17) on: its
  // initiation (frame 16) and the response to it are on different flows, and so are
  // session 2's messages from those of session 1 (the paper §2.1; RFC 8922 mobility).
  Capture moved = cap;
  for (size_t i = 16; i < moved.frames.size(); ++i) {
    Bytes& f = moved.frames[i];
    for (const size_t port_at : {size_t{14 + 20}, size_t{14 + 20 + 2}})
      if (load_be16(f.data() + port_at) == 51821) store_be16(f.data() + port_at, 40000);
    f[14 + 20 + 6] = f[14 + 20 + 7] = 0;  // no UDP checksum (IPv4 allows it)
  }
  const Out o = replay(moved, wg_keys());
  EXPECT_TRUE(o.messages.empty()) << all(o.messages);
  ASSERT_EQ(o.v.size(), 26u);
  EXPECT_NE(at_frame(o, 16)->flow, at_frame(o, 17)->flow);
  EXPECT_EQ(o.receivers, 4u);
  // On the new flow A (the first speaker there, frame 17) is the client for session 2 too,
  // so only the statuses and digests are compared for it.
  for (const Msg& m : fx.msgs) {
    SCOPED_TRACE(m.frame);
    const Verdict* v = at_frame(o, m.frame);
    ASSERT_NE(v, nullptr);
    EXPECT_STREQ(v->status, "ok");
    EXPECT_EQ(v->epoch, receiver(m));
    ASSERT_TRUE(v->sha256.has_value());
    EXPECT_EQ(*v->sha256, sha(m.inner));
  }
}

TEST_F(ReplayWireGuard, ASessionWithoutItsHandshakeHasNoKey) {
  // Session 2's initiation gone: its response cannot be derived (said once), its messages
  // are no_key, session 1 is untouched (frame 18, after the rekey, too).
  Capture cut = cap;
  cut.frames[15] = cap.frames[14];  // frame 16 becomes a copy of frame 15 (a replay)
  const Out o = replay(cut, wg_keys());
  ASSERT_EQ(o.v.size(), 26u);
  EXPECT_EQ(o.receivers, 2u);
  EXPECT_STREQ(at_frame(o, 16)->status, "replayed");
  bool said = false;
  for (const std::string& s : o.messages) said |= s.find("is not in the capture") != std::string::npos;
  EXPECT_TRUE(said) << all(o.messages);
  for (const Msg& m : fx.msgs) {
    SCOPED_TRACE(m.frame);
    EXPECT_STREQ(at_frame(o, m.frame)->status, m.session == 1 ? "ok" : kNoKey);
  }
}

TEST_F(ReplayWireGuard, ANonWireGuardDatagramOnAWireGuardFlowIsMalformed) {
  Capture c = cap;
  Bytes& f = c.frames[4];  // frame 5: type 4 -> type 7
  f[kUdpPayload] = 7;
  const Out o = replay(c, wg_keys());
  ASSERT_EQ(o.v.size(), 26u);
  EXPECT_STREQ(at_frame(o, 5)->status, "malformed");
  EXPECT_STREQ(at_frame(o, 5)->proto, "wireguard");
  EXPECT_STREQ(at_frame(o, 6)->status, "ok");
}

TEST_F(ReplayWireGuard, AnAuthenticatedPlaintextThatIsNoIpPacketIsMalformed) {
  // Session 1's i2r keys from transport.txt seal two more messages from A (counters 9 and
  // 10, after the capture's 0..8): junk (the tunnel drops it: no IP packet to deliver) and
  // an IPv4 packet.
  const std::optional<rl::test::wg::Fixture> f = rl::test::wg::load_fixture();
  ASSERT_TRUE(f.has_value());
  const Bytes& i2r = f->sessions.at(1).i2r;
  const Bytes& r2i = f->sessions.at(1).r2i;
  wireguard::Peer a;
  wireguard::Keypair kp;
  kp.local_index = fx.sessions.at(1).first;
  kp.remote_index = fx.sessions.at(1).second;
  kp.send_key = i2r;
  kp.recv_key = r2i;
  kp.initiator = true;
  ASSERT_EQ(a.install(kp), Status::ok);
  const Bytes inner = ipv4(ip("192.168.77.1"), ip("192.168.77.2"), 17, udp(1, 2, filled(13, 5)));
  const Bytes junk = filled(40, 9);
  Capture c = cap;
  for (uint64_t counter = 0; counter <= 10; ++counter) {
    const Bytes& plain = counter == 9 ? junk : inner;
    Bytes buf(16 + plain.size() + 16 + 16);
    std::copy(plain.begin(), plain.end(), buf.begin() + 16);
    PacketView pv{buf.data(), static_cast<uint32_t>(buf.size()), 16, static_cast<uint32_t>(plain.size())};
    ASSERT_EQ(a.seal({&pv, 1}), 1u);
    if (counter < 9) continue;
    c.frames.push_back(ether(ipv4(ip("10.0.0.1"), ip("10.0.0.2"), 17,
                                  udp(51820, 51821, Bytes(pv.bytes().begin(), pv.bytes().end())))));
  }
  const Out o = replay(c, wg_keys());
  ASSERT_EQ(o.v.size(), 28u);
  expect_all_ok(o);
  EXPECT_STREQ(at_frame(o, 27)->status, "malformed");
  EXPECT_EQ(at_frame(o, 27)->seq, 9u);
  EXPECT_FALSE(at_frame(o, 27)->sha256.has_value());
  EXPECT_STREQ(at_frame(o, 28)->status, "ok");
  EXPECT_EQ(at_frame(o, 28)->seq, 10u);
  EXPECT_EQ(at_frame(o, 28)->len, inner.size());
  EXPECT_EQ(at_frame(o, 28)->sha256, sha(inner));
}

TEST(ReplayWireGuardDetect, ContentDetectionNeedsKeysAndLeavesTheOthersAlone) {
  Bytes init(148, 0), resp(92, 0), cookie(64, 0), data(32, 0);
  init[0] = 1;
  resp[0] = 2;
  cookie[0] = 3;
  data[0] = 4;
  for (const Bytes* b : {&init, &resp, &cookie, &data}) EXPECT_TRUE(looks_like_wireguard(*b));
  Bytes wrong_len = init;
  wrong_len.push_back(0);
  Bytes reserved = data;
  reserved[3] = 1;
  Bytes short_data(31, 0);
  short_data[0] = 4;
  Bytes type5 = data;
  type5[0] = 5;
  for (const Bytes* b : {&wrong_len, &reserved, &short_data, &type5}) EXPECT_FALSE(looks_like_wireguard(*b));

  const FiveTuple t{ip("10.0.0.1"), ip("10.0.0.2"), 51820, 51821, 17};
  QuicTracker quic;
  KeyHints with;
  with.wireguard = true;
  const Detector on({}, with), off({}, KeyHints{});
  EXPECT_EQ(on.detect_udp(t, data, quic), Proto::wireguard);
  EXPECT_EQ(on.detect_udp(t, init, quic), Proto::wireguard);
  EXPECT_EQ(off.detect_udp(t, data, quic), Proto::unknown);
  EXPECT_EQ(on.detect_udp(t, wrong_len, quic), Proto::unknown);
  // DTLS, QUIC and RTP first datagrams still go where they went.
  Bytes dtls = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  EXPECT_EQ(on.detect_udp(t, dtls, quic), Proto::dtls);
  Bytes quic_initial = {0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0};
  EXPECT_EQ(on.detect_udp(t, quic_initial, quic), Proto::quic);
  Bytes rtp(12, 0);
  rtp[0] = 0x80;
  with.ssrcs.insert(0);
  EXPECT_EQ(Detector({}, with).detect_udp(t, rtp, quic), Proto::srtp);
}

TEST(ReplayWireGuardDetect, PortRules) {
  PortRule r;
  std::string err;
  ASSERT_TRUE(parse_port_rule("udp/51820=wireguard", r, err)) << err;
  EXPECT_EQ(r.proto, Proto::wireguard);
  EXPECT_EQ(r.lo, 51820);
  ASSERT_TRUE(parse_port_rule("udp/51820-51830=wg", r, err)) << err;
  EXPECT_EQ(r.proto, Proto::wireguard);
  EXPECT_FALSE(parse_port_rule("tcp/51820=wireguard", r, err));
  EXPECT_FALSE(parse_port_rule("udp/51820=wireguardx", r, err));
  EXPECT_NE(err.find("wireguard"), std::string::npos);  // the list of names says it
  EXPECT_STREQ(to_string(Proto::wireguard), "wireguard");
}

TEST(ReplayWireGuardKeys, ABadKeyLogLineIsAnErrorWithItsLine) {
  const std::string path = temp_path("bad_wg.keylog");
  {
    std::ofstream out(path);
    out << "# comment\nLOCAL_STATIC_PRIVATE_KEY = gEvTlmoxhfSeLBafF9Wa7zR1UQqUTMCQA1egLugvWU8=\n"
           "REMOTE_STATIC_PUBLIC_KEY = not-base64\n";
  }
  std::vector<WgKeylogEntry> keys;
  Diag d;
  d.quiet = true;
  EXPECT_FALSE(load_wg_keylog(path, keys, d));
  EXPECT_EQ(d.errors(), 1u);
  ASSERT_FALSE(d.messages().empty());
  EXPECT_NE(d.messages()[0].find("bad_wg.keylog:3: error:"), std::string::npos) << d.messages()[0];
  EXPECT_FALSE(load_wg_keylog(path + ".missing", keys, d));
  EXPECT_EQ(d.errors(), 2u);
}

}  // namespace
}  // namespace rl::replay::test
