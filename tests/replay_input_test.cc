// Replay input side: link layers, IP fragment reassembly, damaged captures.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <filesystem>
#include <fstream>

#include "tests/replay/harness.h"
#include "tests/replay/pcap_builder.h"

namespace rl::replay::test {
namespace {

const IpAddr A4 = ip("10.0.0.1"), B4 = ip("10.0.0.2"), A6 = ip("2001:db8::1"),
             B6 = ip("2001:db8::2");

// An ESP packet (IP protocol 50): SPI, sequence number, then opaque bytes.
Bytes esp(uint32_t spi, uint32_t seq, size_t body) {
  Bytes b;
  put32(b, spi);
  put32(b, seq);
  return cat(b, filled(body, uint8_t(seq)));
}

struct LinkCase {
  const char* name;
  int dlt;
  bool v6;
  Bytes (*wrap)(const Bytes&);
};

Bytes w_ether(const Bytes& ip) { return ether(ip); }
Bytes w_vlan(const Bytes& ip) { return ether(ip, {100}); }
Bytes w_qinq(const Bytes& ip) { return ether(ip, {200, 100}); }
Bytes w_raw(const Bytes& ip) { return ip; }
Bytes w_sll(const Bytes& ip) { return sll(ip); }
Bytes w_sll2(const Bytes& ip) { return sll2(ip); }
Bytes w_null(const Bytes& ip) {
  Bytes b = {(ip[0] >> 4) == 6 ? uint8_t(10) : uint8_t(2), 0, 0, 0};  // little-endian AF
  return cat(b, ip);
}

class LinkTypes : public ::testing::TestWithParam<LinkCase> {};

TEST_P(LinkTypes, EveryFrameDecodedToItsEspPacket) {
  const LinkCase& c = GetParam();
  const std::string path = temp_path(std::string("link_") + c.name + ".pcap");
  {
    PcapWriter w(path, c.dlt);
    ASSERT_TRUE(w.ok());
    for (uint32_t i = 1; i <= 3; ++i) {
      Bytes pkt = c.v6 ? ipv6(A6, B6, 50, esp(0x1000 + i, i, 40 + i))
                       : ipv4(A4, B4, 50, esp(0x1000 + i, i, 40 + i));
      w.add(c.wrap(pkt));
    }
  }
  RunResult r = run_capture(path);
  ASSERT_TRUE(r.opened) << r.all_messages();
  ASSERT_EQ(r.verdicts.size(), 3u) << r.all_messages();
  for (uint32_t i = 1; i <= 3; ++i) {
    const Verdict& v = r.verdicts[i - 1];
    EXPECT_EQ(v.frame, i);
    EXPECT_EQ(v.index, 0u);
    EXPECT_STREQ(v.proto, "esp");
    EXPECT_EQ(v.dir, spi_text(0x1000 + i));
    EXPECT_EQ(v.seq, i);
    EXPECT_EQ(v.wire_len, 8 + 40 + i);
    EXPECT_STREQ(v.status, kNoKey);
  }
  EXPECT_EQ(r.errors, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    All, LinkTypes,
    ::testing::Values(LinkCase{"ether4", DLT_EN10MB, false, w_ether},
                      LinkCase{"ether6", DLT_EN10MB, true, w_ether},
                      LinkCase{"vlan", DLT_EN10MB, false, w_vlan},
                      LinkCase{"qinq6", DLT_EN10MB, true, w_qinq},
                      LinkCase{"raw4", DLT_RAW, false, w_raw},
                      LinkCase{"raw6", DLT_RAW, true, w_raw},
                      LinkCase{"sll", DLT_LINUX_SLL, false, w_sll},
                      LinkCase{"sll6", DLT_LINUX_SLL, true, w_sll},
                      LinkCase{"sll2", DLT_LINUX_SLL2, false, w_sll2},
                      LinkCase{"sll2v6", DLT_LINUX_SLL2, true, w_sll2},
                      LinkCase{"null", DLT_NULL, false, w_null}),
    [](const auto& i) { return std::string(i.param.name); });

TEST(ReplayInput, NonIpFramesCountedAndCutHeadersReported) {
  const std::string path = temp_path("nonip.pcap");
  {
    PcapWriter w(path, DLT_EN10MB);
    Bytes arp = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x06};
    arp.resize(42);
    w.add(arp);                                       // 1: ARP
    w.add(Bytes{0, 1, 2, 3, 4, 5, 0, 1});             // 2: Ethernet header cut short
    w.add(ether(ipv4(A4, B4, 50, esp(7, 1, 16))));    // 3: ESP
    Bytes vlan_cut = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x81, 0x00, 0};
    w.add(vlan_cut);                                  // 4: VLAN tag cut short
  }
  RunResult r = run_capture(path);
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_EQ(r.verdicts[0].frame, 3u);
  EXPECT_EQ(r.stats.not_ip, 1u);
  EXPECT_EQ(r.stats.link_errors, 2u);
  EXPECT_TRUE(r.has_message("frame 2: warning: Ethernet header cut short")) << r.all_messages();
  EXPECT_TRUE(r.has_message("frame 4: warning: VLAN tag cut short")) << r.all_messages();
}

TEST(ReplayInput, TruncatedCaptureReportsFrameAndKeepsEarlierFrames) {
  const std::string path = temp_path("truncated.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    for (uint32_t i = 1; i <= 3; ++i) w.add(ipv4(A4, B4, 50, esp(9, i, 200)));
  }
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 100);  // cut inside frame 3's data
  RunResult r = run_capture(path);
  ASSERT_TRUE(r.opened);
  ASSERT_EQ(r.verdicts.size(), 2u);
  EXPECT_EQ(r.verdicts[1].frame, 2u);
  EXPECT_EQ(r.errors, 1u);
  EXPECT_TRUE(r.has_message("truncated.pcap: frame 3: error: capture cut short or damaged after 2 complete frames"))
      << r.all_messages();

  // Cut inside a record header too.
  std::filesystem::resize_file(path, 24 + 16 + (20 + 8 + 200) + 7);
  r = run_capture(path);
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_TRUE(r.has_message("frame 2: error: capture cut short")) << r.all_messages();
}

TEST(ReplayInput, SnapLengthCutPacketIsReportedNotRead) {
  const std::string path = temp_path("snap.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    Bytes p = ipv4(A4, B4, 50, esp(9, 1, 300));
    Bytes cut(p.begin(), p.begin() + 100);
    w.add(cut, uint32_t(p.size()));
    w.add(ipv4(A4, B4, 50, esp(9, 2, 30)));
  }
  RunResult r = run_capture(path);
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_EQ(r.verdicts[0].frame, 2u);
  // One error (the capture cannot prove that frame), naming the frame and both lengths.
  EXPECT_TRUE(r.has_message("frame 1: error: frame captured only 100 of its 328 bytes (the capture's snaplen"))
      << r.all_messages();
  EXPECT_EQ(r.stats.snaplen_cut, 1u);
}

TEST(ReplayInput, UnsupportedLinkTypeIsAnErrorNotACrash) {
  const std::string path = temp_path("wifi.pcap");
  {
    PcapWriter w(path, DLT_IEEE802_11);
    w.add(Bytes(40, 0));
  }
  RunResult r = run_capture(path);
  EXPECT_FALSE(r.opened);
  EXPECT_TRUE(r.has_message("unsupported link type 105")) << r.all_messages();
  r = run_capture(temp_path("does_not_exist.pcap"));
  EXPECT_FALSE(r.opened);
  EXPECT_TRUE(r.has_message("cannot read capture")) << r.all_messages();
}

// IPv4 fragments out of order, interleaved with another datagram, with a duplicate.
TEST(ReplayInput, Ipv4FragmentsReassembledAtTheCompletingFrame) {
  const Bytes big = esp(0xabc, 77, 3000);  // 3008 bytes of ESP
  const Bytes other = esp(0xdef, 5, 1500);
  auto frag = [](const Bytes& d, uint16_t id, uint32_t off, uint32_t len, bool more) {
    return ipv4(A4, B4, 50, Bytes(d.begin() + off, d.begin() + off + len), id, off, more);
  };
  const std::string path = temp_path("frag4.pcap");
  {
    PcapWriter w(path, DLT_EN10MB);
    w.add(ether(frag(big, 1, 2400, 608, false)));   // 1: last
    w.add(ether(frag(other, 2, 0, 800, true)));     // 2: other, first
    w.add(ether(frag(big, 1, 0, 1200, true)));      // 3: first
    w.add(ether(frag(big, 1, 0, 1200, true)));      // 4: duplicate first
    w.add(ether(frag(other, 2, 800, 708, false)));  // 5: other complete
    w.add(ether(frag(big, 1, 1200, 1200, true)));   // 6: middle -> big complete
  }
  RunResult r = run_capture(path);
  ASSERT_EQ(r.verdicts.size(), 2u) << r.all_messages();
  EXPECT_EQ(r.verdicts[0].frame, 5u);
  EXPECT_EQ(r.verdicts[0].dir, "0x00000def");
  EXPECT_EQ(r.verdicts[0].wire_len, other.size());
  EXPECT_EQ(r.verdicts[1].frame, 6u);
  EXPECT_EQ(r.verdicts[1].dir, "0x00000abc");
  EXPECT_EQ(r.verdicts[1].seq, 77u);
  EXPECT_EQ(r.verdicts[1].wire_len, big.size());
  EXPECT_EQ(r.errors, 0u);
}

TEST(ReplayInput, ReassemblerBytesAreTheOriginal) {
  IpReassembler ra;
  Diag d;
  d.quiet = true;
  const Bytes payload = filled(2000, 3);
  IpPacket out;
  // Overlapping fragments: [0,1000) then [800,2000) whose overlap carries different bytes:
  // the first copy wins.
  Bytes second(payload.begin() + 800, payload.end());
  for (size_t i = 0; i < 200; ++i) second[i] ^= 0xff;
  auto r1 = ra.feed(ipv4(A4, B4, 17, Bytes(payload.begin(), payload.begin() + 1000), 9, 0, true), 1, out, d, "x");
  EXPECT_EQ(r1, IpReassembler::Result::pending);
  auto r2 = ra.feed(ipv4(A4, B4, 17, second, 9, 800, false), 2, out, d, "x");
  ASSERT_EQ(r2, IpReassembler::Result::packet);
  EXPECT_TRUE(out.reassembled);
  EXPECT_EQ(out.proto, 17);
  EXPECT_EQ(Bytes(out.payload.begin(), out.payload.end()), payload);
  EXPECT_EQ(ra.counters().overlaps, 1u);
  EXPECT_EQ(ra.held_datagrams(), 0u);
  EXPECT_EQ(ra.held_bytes(), 0u);
}

TEST(ReplayInput, Ipv6FragmentsWithUdpInside) {
  // UDP-encapsulated ESP on port 4500, fragmented at the IPv6 layer.
  const Bytes e = esp(0x4242, 3, 2500);
  const Bytes u = udp(4500, 4500, e);
  const std::string path = temp_path("frag6.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    w.add(ipv6_frag(A6, B6, 17, Bytes(u.begin() + 1232, u.end()), 0x77, 1232, false));
    w.add(ipv6_frag(A6, B6, 17, Bytes(u.begin(), u.begin() + 1232), 0x77, 0, true));
  }
  RunResult r = run_capture(path);
  ASSERT_EQ(r.verdicts.size(), 1u) << r.all_messages();
  EXPECT_EQ(r.verdicts[0].frame, 2u);
  EXPECT_EQ(r.verdicts[0].dir, "0x00004242");
  EXPECT_EQ(r.verdicts[0].wire_len, e.size());
}

TEST(ReplayInput, IncompleteFragmentsTimeOutAndMemoryIsBounded) {
  ReplayOptions o;
  o.ip_limits.timeout_frames = 300;
  o.ip_limits.max_datagrams = 2;
  const std::string path = temp_path("fragtimeout.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    // Three incomplete datagrams: the third evicts the oldest (limit 2).
    for (uint16_t id = 1; id <= 3; ++id) w.add(ipv4(A4, B4, 50, esp(id, id, 56), id, 0, true));
    // 600 unrelated frames: the remaining ones time out.
    for (uint32_t i = 0; i < 600; ++i) w.add(ipv4(A4, B4, 50, esp(0x99, i + 1, 8)));
    // A fourth stays incomplete until the end of the capture.
    w.add(ipv4(A4, B4, 50, esp(4, 4, 56), 4, 0, true));
  }
  RunResult r = run_capture(path, Keys{}, o);
  EXPECT_EQ(r.verdicts.size(), 600u);
  EXPECT_TRUE(r.has_message("too many incomplete IP datagrams held: dropping the one begun in frame 1"))
      << r.all_messages();
  EXPECT_TRUE(r.has_message("still incomplete after 300 frames: dropped")) << r.all_messages();
  EXPECT_TRUE(r.has_message("frame 604: warning: IPv4 fragments of id 0x4 10.0.0.1 > 10.0.0.2 never completed"))
      << r.all_messages();
}

TEST(ReplayInput, MalformedIpHeadersAreReportedWithTheFrame) {
  const std::string path = temp_path("badip.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    w.add(Bytes{0x45, 0, 0});                 // 1: cut short
    Bytes p = ipv4(A4, B4, 50, esp(1, 1, 8));
    p[0] = 0x43;                              // 2: IHL 12 bytes
    w.add(p);
    w.add(Bytes{0x70, 0, 0, 0});              // 3: version 7
    Bytes q = ipv4(A4, B4, 6, Bytes{1, 2, 3});  // 4: TCP header cut short
    w.add(q);
    Bytes u = ipv4(A4, B4, 17, udp(1, 2, Bytes(10)));
    u[20 + 5] = 200;                          // 5: UDP length past the packet
    w.add(u);
  }
  RunResult r = run_capture(path);
  EXPECT_TRUE(r.verdicts.empty());
  EXPECT_TRUE(r.has_message("frame 1: warning: IPv4 header cut short")) << r.all_messages();
  EXPECT_TRUE(r.has_message("frame 2: warning: IPv4 header length 12")) << r.all_messages();
  EXPECT_TRUE(r.has_message("frame 3: warning: not IPv4 or IPv6 (version 7)")) << r.all_messages();
  EXPECT_TRUE(r.has_message("frame 4: warning: TCP header cut short")) << r.all_messages();
  EXPECT_TRUE(r.has_message("frame 5: warning: UDP length 200")) << r.all_messages();
}

}  // namespace
}  // namespace rl::replay::test
