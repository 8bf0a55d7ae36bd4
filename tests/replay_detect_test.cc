// Replay: protocol detection and datagram framing (DTLS, QUIC with CID tracking, SRTP,
// ESP in UDP), and --proto rules.
#include <gtest/gtest.h>

#include "tests/replay/harness.h"
#include "tests/replay/pcap_builder.h"
#include "tests/replay/tls_builder.h"

namespace rl::replay::test {
namespace {

const IpAddr C = ip("198.51.100.1"), S = ip("198.51.100.2");

Diag quiet() {
  Diag d;
  d.quiet = true;
  return d;
}

Bytes dtls12(uint8_t type, uint16_t epoch, uint64_t seq, const Bytes& body, uint16_t ver = 0xfefd) {
  Bytes b = {type};
  put16(b, ver);
  put16(b, epoch);
  put16(b, uint16_t(seq >> 32));
  put32(b, uint32_t(seq));
  put16(b, uint16_t(body.size()));
  return cat(b, body);
}
// DTLS handshake message header (RFC 6347 §4.2.2) around a TLS-style hello body.
Bytes dtls_hs(const Bytes& tls_hs) {
  Bytes b = {tls_hs[0], tls_hs[1], tls_hs[2], tls_hs[3], 0, 0, 0, 0, 0, tls_hs[1], tls_hs[2], tls_hs[3]};
  return cat(b, Bytes(tls_hs.begin() + 4, tls_hs.end()));
}
Bytes dtls_client_hello(const std::array<uint8_t, 32>& random) {
  Bytes h;
  put16(h, 0xfefd);
  h.insert(h.end(), random.begin(), random.end());
  h.push_back(0);   // session id
  h.push_back(0);   // cookie
  put16(h, 2);
  put16(h, 0xc02b);
  h.push_back(1);
  h.push_back(0);
  Bytes ext;
  put16(ext, 43);
  put16(ext, 5);
  ext.push_back(4);
  put16(ext, 0xfefc);
  put16(ext, 0xfefd);
  put16(h, uint16_t(ext.size()));
  return dtls_hs(handshake(1, cat(h, ext)));
}
Bytes dtls_server_hello(const std::array<uint8_t, 32>& random, uint16_t version) {
  Bytes h;
  put16(h, 0xfefd);
  h.insert(h.end(), random.begin(), random.end());
  h.push_back(0);
  put16(h, 0x1301);
  h.push_back(0);
  Bytes ext;
  put16(ext, 43);
  put16(ext, 2);
  put16(ext, version);
  put16(h, uint16_t(ext.size()));
  return dtls_hs(handshake(2, cat(h, ext)));
}

TEST(ReplayDetect, Dtls12RecordsSplitWithEpochAndSequence) {
  const auto cr = random32(4);
  const std::string path = temp_path("dtls12.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    w.add(ipv4(C, S, 17, udp(5000, 4433, dtls12(22, 0, 0, dtls_client_hello(cr)))));
    // Three records in one datagram: CCS, encrypted Finished (epoch 1), app data.
    w.add(ipv4(C, S, 17, udp(5000, 4433, cat(cat(dtls12(20, 0, 1, Bytes{1}), dtls12(22, 1, 0, filled(48, 1))),
                                             dtls12(23, 1, 1, filled(100, 2))))));
    // A record cut short after a good one.
    Bytes cut = dtls12(23, 1, 2, filled(30, 3));
    Bytes bad = dtls12(23, 1, 3, filled(30, 4));
    bad.resize(20);
    w.add(ipv4(C, S, 17, udp(5000, 4433, cat(cut, bad))));
  }
  Keys keys;
  Diag d = quiet();
  keys.keylog.add_text("CLIENT_RANDOM " + hex(cr) + " " + std::string(96, 'b') + "\n", "k", d);
  RunResult r = run_capture(path, keys);
  ASSERT_EQ(r.verdicts.size(), 6u) << r.all_messages();
  EXPECT_STREQ(r.verdicts[0].proto, "dtls13");  // the client offered DTLS 1.3, no ServerHello yet
  EXPECT_STREQ(r.verdicts[0].status, "not_protected");
  EXPECT_EQ(r.verdicts[1].frame, 2u);
  EXPECT_EQ(r.verdicts[1].index, 0u);
  EXPECT_EQ(r.verdicts[1].type, 20);
  EXPECT_EQ(r.verdicts[1].seq, 1u);
  EXPECT_EQ(r.verdicts[2].index, 1u);
  EXPECT_EQ(r.verdicts[2].epoch, 1u);
  EXPECT_EQ(r.verdicts[2].seq, 0u);
  EXPECT_STREQ(r.verdicts[2].status, kSkipped);  // key log has this client random
  EXPECT_EQ(r.verdicts[3].index, 2u);
  EXPECT_EQ(r.verdicts[3].wire_len, 113u);
  EXPECT_EQ(r.verdicts[4].frame, 3u);
  EXPECT_EQ(r.verdicts[4].seq, 2u);
  EXPECT_STREQ(r.verdicts[5].status, "malformed");
  EXPECT_EQ(r.verdicts[5].index, 1u);
  EXPECT_TRUE(r.has_message("frame 3: warning: udp 198.51.100.1:5000 > 198.51.100.2:4433 client: bytes at datagram offset 43 are not a DTLS record"))
      << r.all_messages();
}

TEST(ReplayDetect, Dtls13UnifiedHeaders) {
  const std::string path = temp_path("dtls13.pcap");
  // 0b00101110: C=0 S=1 L=1 epoch 2; then 0b00100011: S=0 L=0 epoch 3 (runs to the end).
  Bytes u1 = {0x2e, 0x12, 0x34, 0x00, 0x14};
  u1 = cat(u1, filled(20, 1));
  Bytes u2 = {0x23, 0x56};
  u2 = cat(u2, filled(30, 2));
  {
    PcapWriter w(path, DLT_RAW);
    w.add(ipv4(S, C, 17, udp(4433, 5000, dtls12(22, 0, 0, dtls_server_hello(random32(9), 0xfefc)))));
    w.add(ipv4(S, C, 17, udp(4433, 5000, cat(u1, u2))));
  }
  RunResult r = run_capture(path);
  ASSERT_EQ(r.verdicts.size(), 3u) << r.all_messages();
  EXPECT_STREQ(r.verdicts[0].proto, "dtls13");
  EXPECT_EQ(r.verdicts[0].dir, "client");  // the server spoke first in this capture
  EXPECT_EQ(r.verdicts[1].wire_len, 25u);
  EXPECT_EQ(r.verdicts[2].wire_len, 32u);
  EXPECT_EQ(r.verdicts[2].index, 1u);
  EXPECT_FALSE(r.verdicts[2].epoch.has_value());
  EXPECT_STREQ(r.verdicts[2].status, kNoKey);
  std::vector<DtlsRecordInfo> v;
  size_t bad = 0;
  ASSERT_EQ(split_dtls(cat(u1, u2), 0, v, bad), DtlsSplit::ok);
  EXPECT_EQ(v[0].epoch, 2);
  EXPECT_EQ(v[0].seq_len, 2);
  EXPECT_EQ(v[1].epoch, 3);
  EXPECT_EQ(v[1].seq_len, 1);
}

Bytes varint2(uint16_t v) { return Bytes{uint8_t(0x40 | (v >> 8)), uint8_t(v)}; }

// A long-header packet; `type` bits as on the wire for v1.
Bytes quic_long(uint8_t type_bits, const Bytes& dcid, const Bytes& scid, size_t body, bool token = false) {
  Bytes b = {uint8_t(0xc0 | type_bits << 4 | 3)};
  put32(b, 1);
  b.push_back(uint8_t(dcid.size()));
  b = cat(b, dcid);
  b.push_back(uint8_t(scid.size()));
  b = cat(b, scid);
  if (type_bits == 0) {
    if (token) {
      b.push_back(3);
      b = cat(b, Bytes{7, 7, 7});
    } else {
      b.push_back(0);
    }
  }
  b = cat(b, varint2(uint16_t(body)));
  return cat(b, filled(body, uint8_t(body)));
}
Bytes quic_short(const Bytes& dcid, size_t body) {
  Bytes b = {0x41};
  return cat(cat(b, dcid), filled(body, 5));
}

TEST(ReplayDetect, QuicCoalescedPacketsAndConnectionTrackingByCid) {
  const Bytes odcid = {1, 2, 3, 4, 5, 6, 7, 8}, ccid = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5},
              scid = {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59};
  const std::string path = temp_path("quic.pcap");
  {
    PcapWriter w(path, DLT_EN10MB);
    // 1: client Initial padded with zeros to 1200 bytes.
    Bytes ci = quic_long(0, odcid, ccid, 1100);
    ci.resize(1200, 0);
    w.add(ether(ipv4(C, S, 17, udp(50000, 443, ci))));
    // 2: server Initial + Handshake coalesced.
    w.add(ether(ipv4(S, C, 17, udp(443, 50000, cat(quic_long(0, ccid, scid, 100), quic_long(2, ccid, scid, 300))))));
    // 3: client Handshake + 1-RTT (short header with the server's CID).
    w.add(ether(ipv4(C, S, 17, udp(50000, 443, cat(quic_long(2, scid, ccid, 50), quic_short(scid, 40))))));
    // 4: server 1-RTT (client's CID, 5 bytes).
    w.add(ether(ipv4(S, C, 17, udp(443, 50000, quic_short(ccid, 60)))));
    // 5: the client moved to a new port: a short header matched by CID alone.
    w.add(ether(ipv4(C, S, 17, udp(50001, 443, quic_short(scid, 70)))));
    // 6: a short header nobody knows: not QUIC, not reported.
    w.add(ether(ipv4(C, S, 17, udp(50002, 443, quic_short(Bytes(9, 0xee), 70)))));
  }
  RunResult r = run_capture(path);
  struct W { uint64_t frame; uint32_t index; uint32_t len; const char* dir; const char* status; };
  const std::vector<W> want = {
      {1, 0, uint32_t(1 + 4 + 1 + 8 + 1 + 5 + 1 + 2 + 1100), "client", kSkipped},
      {2, 0, uint32_t(1 + 4 + 1 + 5 + 1 + 9 + 1 + 2 + 100), "server", kSkipped},
      {2, 1, uint32_t(1 + 4 + 1 + 5 + 1 + 9 + 2 + 300), "server", kNoKey},
      {3, 0, uint32_t(1 + 4 + 1 + 9 + 1 + 5 + 2 + 50), "client", kNoKey},
      {3, 1, uint32_t(1 + 9 + 40), "client", kNoKey},
      {4, 0, uint32_t(1 + 5 + 60), "server", kNoKey},
      {5, 0, uint32_t(1 + 9 + 70), "client", kNoKey},
  };
  ASSERT_EQ(r.verdicts.size(), want.size()) << r.all_messages();
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(r.verdicts[i].frame, want[i].frame);
    EXPECT_EQ(r.verdicts[i].index, want[i].index);
    EXPECT_EQ(r.verdicts[i].wire_len, want[i].len);
    EXPECT_EQ(r.verdicts[i].dir, want[i].dir);
    EXPECT_STREQ(r.verdicts[i].status, want[i].status);
    EXPECT_STREQ(r.verdicts[i].proto, "quic");
  }
  EXPECT_EQ(r.stats.udp_unrecognized, 1u);
  // The tracker learned one connection with its original DCID and both CIDs.
  Keys k;
  Collect col;
  Diag d = quiet();
  Replayer rep(k, {}, col, d);
  rep.run(path);
  ASSERT_EQ(rep.quic().size(), 1u);
  const QuicConn& c = *rep.quic().all()[0];
  EXPECT_EQ(c.original_dcid, odcid);
  EXPECT_EQ(c.client_cids.size(), 1u);
  EXPECT_EQ(c.server_cids.size(), 1u);
  EXPECT_EQ(c.version, 1u);
}

TEST(ReplayDetect, QuicSplitterRejectsBadLengths) {
  std::vector<QuicPacketInfo> v;
  size_t bad = 0;
  Bytes p = quic_long(2, Bytes(8, 1), Bytes(8, 2), 100);
  p.resize(p.size() - 1);  // Length says one byte more than there is
  EXPECT_EQ(split_quic(p, 0, v, bad), QuicSplit::malformed);
  EXPECT_EQ(bad, 0u);
  Bytes big_cid = quic_long(2, Bytes(21, 1), Bytes(8, 2), 10);  // v1 CIDs are at most 20 bytes
  v.clear();
  EXPECT_EQ(split_quic(big_cid, 0, v, bad), QuicSplit::malformed);
  v.clear();
  Bytes vn = {0x80, 0, 0, 0, 0, 1, 9, 1, 8, 0, 0, 0, 1};  // Version Negotiation
  EXPECT_EQ(split_quic(vn, 0, v, bad), QuicSplit::ok);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].type, QuicType::version_negotiation);
  v.clear();
  Bytes t = quic_long(0, Bytes(8, 1), Bytes(8, 2), 30, true);
  ASSERT_EQ(split_quic(t, 0, v, bad), QuicSplit::ok);
  EXPECT_EQ(v[0].token.size(), 3u);
  EXPECT_EQ(v[0].pn_offset, 1u + 4 + 1 + 8 + 1 + 8 + 1 + 3 + 2);
}

Bytes rtp(uint32_t ssrc, uint16_t seq, size_t body) {
  Bytes b = {0x80, 96};
  put16(b, seq);
  put32(b, 1000u * seq);
  put32(b, ssrc);
  return cat(b, filled(body, uint8_t(seq)));
}
Bytes rtcp(uint32_t ssrc) {
  Bytes b = {0x80, 200, 0, 6};
  put32(b, ssrc);
  return cat(b, filled(20 + 4 + 10, 1));  // sender info + SRTCP index + tag
}

TEST(ReplayDetect, SrtpBySsrcByDestinationAndByRule) {
  const std::string path = temp_path("srtp.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    w.add(ipv4(C, S, 17, udp(7000, 7002, rtp(0x11111111, 1, 160))));  // keyed by SSRC
    w.add(ipv4(C, S, 17, udp(7000, 7002, rtcp(0x11111111))));
    w.add(ipv4(C, S, 17, udp(7004, 5004, rtp(0x22222222, 9, 160))));  // keyed by dst only
    w.add(ipv4(C, S, 17, udp(7006, 6000, rtp(0x33333333, 3, 160))));  // no key: not detected
  }
  Keys keys;
  Diag d = quiet();
  const std::string k = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
  ASSERT_EQ(keys.srtp.add_text("ssrc=0x11111111 a=crypto:1 AES_CM_128_HMAC_SHA1_80 " + k + "\n"
                               "dst=198.51.100.2:5004 a=crypto:1 AES_CM_128_HMAC_SHA1_80 " + k + "\n"
                               "ssrc=0x44444444 a=crypto:1 AES_CM_128_HMAC_SHA1_80 " + k + "\n",
                               "keys", d),
            3u);
  RunResult r = run_capture(path, keys);
  ASSERT_EQ(r.verdicts.size(), 3u) << r.all_messages();
  EXPECT_STREQ(r.verdicts[0].proto, "srtp");
  EXPECT_EQ(r.verdicts[0].dir, "0x11111111");
  EXPECT_EQ(r.verdicts[0].seq, 1u);
  EXPECT_STREQ(r.verdicts[0].status, kSkipped);
  EXPECT_STREQ(r.verdicts[1].proto, "srtcp");
  EXPECT_EQ(r.verdicts[1].dir, "0x11111111");
  EXPECT_EQ(r.verdicts[2].dir, "0x22222222");
  EXPECT_STREQ(r.verdicts[2].status, kSkipped);
  EXPECT_TRUE(r.has_message("keys:3: warning: SSRC 0x44444444 never appears")) << r.all_messages();
  // A --proto rule takes the unkeyed stream too.
  ReplayOptions o;
  PortRule rule;
  std::string err;
  ASSERT_TRUE(parse_port_rule("udp/6000=srtp", rule, err));
  o.rules.push_back(rule);
  r = run_capture(path, keys, o);
  ASSERT_EQ(r.verdicts.size(), 4u);
  EXPECT_EQ(r.verdicts[3].dir, "0x33333333");
  EXPECT_STREQ(r.verdicts[3].status, kNoKey);
}

TEST(ReplayDetect, EspInUdpTellsMarkerAndKeepaliveApart) {
  auto esp = [](uint32_t spi, uint32_t seq) {
    Bytes b;
    put32(b, spi);
    put32(b, seq);
    return cat(b, filled(32, 1));
  };
  const std::string path = temp_path("espudp.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    Bytes ike = {0, 0, 0, 0};
    ike = cat(ike, filled(40, 2));
    w.add(ipv4(C, S, 17, udp(4500, 4500, ike)));                     // 1 IKE (non-ESP marker)
    w.add(ipv4(C, S, 17, udp(4500, 4500, Bytes{0xff})));             // 2 NAT keepalive
    w.add(ipv4(C, S, 17, udp(4500, 4500, esp(0xc0ffee01, 17))));      // 3 ESP
    w.add(ipv4(C, S, 17, udp(4500, 4500, Bytes{1, 2, 3})));          // 4 too short
    w.add(ipv4(C, S, 17, udp(33000, 4600, esp(0x00001001, 1))));      // 5 xfrm encap port
    w.add(ipv4(C, S, 50, esp(0x00001001, 2)));                       // 6 plain ESP
  }
  Keys keys;
  Diag d = quiet();
  ASSERT_EQ(keys.xfrm.add_text("src 198.51.100.1 dst 198.51.100.2\n proto esp spi 0x00001001 reqid 1 mode tunnel\n"
                               " aead rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0fa0a1a2a3 128\n"
                               " encap type espinudp sport 33000 dport 4600 addr 0.0.0.0\n"
                               "src 198.51.100.1 dst 198.51.100.2\n proto esp spi 0x00000bad reqid 1 mode tunnel\n"
                               " aead rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0fa0a1a2a3 128\n",
                               "xfrm", d),
            2u);
  RunResult r = run_capture(path, keys);
  ASSERT_EQ(r.verdicts.size(), 4u) << r.all_messages();
  EXPECT_EQ(r.stats.esp_udp_ike, 1u);
  EXPECT_EQ(r.stats.esp_udp_keepalive, 1u);
  EXPECT_EQ(r.verdicts[0].frame, 3u);
  EXPECT_EQ(r.verdicts[0].dir, "0xc0ffee01");
  EXPECT_EQ(r.verdicts[0].seq, 17u);
  EXPECT_STREQ(r.verdicts[0].status, kNoKey);
  EXPECT_STREQ(r.verdicts[1].status, "malformed");
  EXPECT_EQ(r.verdicts[2].frame, 5u);
  EXPECT_STREQ(r.verdicts[2].status, kSkipped);
  EXPECT_EQ(r.verdicts[3].frame, 6u);
  EXPECT_STREQ(r.verdicts[3].status, kSkipped);
  EXPECT_TRUE(r.has_message("xfrm:5: warning: ESP SPI 0x00000bad never appears")) << r.all_messages();
}

TEST(ReplayDetect, PortRules) {
  PortRule r;
  std::string err;
  ASSERT_TRUE(parse_port_rule("udp/5004=srtp", r, err));
  EXPECT_EQ(r.ip_proto, 17);
  EXPECT_EQ(r.lo, 5004);
  EXPECT_EQ(r.hi, 5004);
  EXPECT_EQ(r.proto, Proto::srtp);
  ASSERT_TRUE(parse_port_rule("udp/4433-4440=dtls", r, err));
  EXPECT_EQ(r.lo, 4433);
  EXPECT_EQ(r.hi, 4440);
  ASSERT_TRUE(parse_port_rule("tcp/8443=tls", r, err));
  EXPECT_EQ(r.ip_proto, 6);
  for (const char* bad : {"udp5004=srtp", "sctp/1=srtp", "udp/0=srtp", "udp/70000=srtp", "udp/9-3=srtp",
                          "udp/5004=rtsp", "tcp/443=quic", "udp/443=tls", "udp/x=srtp"}) {
    EXPECT_FALSE(parse_port_rule(bad, r, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  Detector det({PortRule{17, 5000, 5010, Proto::srtp}}, KeyHints{});
  FiveTuple t{C, S, 40000, 5005, 17};
  EXPECT_EQ(det.rule_for(t), Proto::srtp);
  t.dport = 5011;
  EXPECT_EQ(det.rule_for(t), Proto::count);
  t.proto = 6;
  t.dport = 5005;
  EXPECT_EQ(det.rule_for(t), Proto::count);
}

}  // namespace
}  // namespace rl::replay::test
