// Replay: TCP reassembly per direction and TLS record framing with frame attribution.
#include <gtest/gtest.h>

#include <map>

#include "tests/replay/harness.h"
#include "tests/replay/pcap_builder.h"
#include "tests/replay/tls_builder.h"

namespace rl::replay::test {
namespace {

struct Out : TcpStream::Output {
  Bytes bytes;
  std::vector<std::pair<size_t, uint64_t>> chunks;  // (length, frame)
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> gaps;
  void on_bytes(ByteSpan d, uint64_t frame) override {
    bytes.insert(bytes.end(), d.begin(), d.end());
    chunks.emplace_back(d.size(), frame);
  }
  void on_gap(uint64_t off, uint64_t len, uint64_t frame) override { gaps.emplace_back(off, len, frame); }
};

Bytes sub(const Bytes& b, size_t off, size_t len) { return Bytes(b.begin() + off, b.begin() + off + len); }

TEST(ReplayTcp, InOrderReorderedRetransmittedOverlapping) {
  const Bytes data = filled(1000, 1);
  const uint32_t isn = 0xfffffe00;  // sequence numbers wrap inside the stream
  TcpStream s;
  Out o;
  s.on_syn(isn);
  s.on_segment(isn + 1, sub(data, 0, 100), false, 2, o);      // in order
  s.on_segment(isn + 1 + 300, sub(data, 300, 200), false, 3, o);  // hole at 100..300
  s.on_segment(isn + 1 + 600, sub(data, 600, 100), false, 4, o);  // hole at 500..600
  EXPECT_EQ(o.bytes.size(), 100u);
  s.on_segment(isn + 1, sub(data, 0, 100), false, 5, o);      // retransmission
  s.on_segment(isn + 1 + 50, sub(data, 50, 300), false, 6, o);   // fills the hole, overlaps both sides
  EXPECT_EQ(o.bytes.size(), 500u);
  s.on_segment(isn + 1 + 450, sub(data, 450, 250), false, 7, o);  // overlap + fills 500..600
  s.on_segment(isn + 1 + 700, sub(data, 700, 300), true, 8, o);
  EXPECT_EQ(o.bytes, data);
  // Each chunk names the frame that made it deliverable.
  // Frame 7's segment is in order after its first 50 bytes: delivered whole (200 bytes),
  // and the held copy of 600..700 is then dropped as a duplicate.
  const std::vector<std::pair<size_t, uint64_t>> want = {{100, 2}, {250, 6}, {150, 6}, {200, 7}, {300, 8}};
  EXPECT_EQ(o.chunks, want);
  EXPECT_TRUE(o.gaps.empty());
  EXPECT_EQ(s.counters().retransmitted_bytes, 100u + 100u);
  EXPECT_EQ(s.counters().overlap_bytes, 50u + 50u + 50u);
  EXPECT_EQ(s.held_bytes(), 0u);
  EXPECT_TRUE(s.fin_seen());
}

TEST(ReplayTcp, GapReportedAtFlushAndWhenHoldLimitIsReached) {
  const Bytes data = filled(600, 9);
  {
    TcpStream s;
    Out o;
    s.on_syn(1000);
    s.on_segment(1001, sub(data, 0, 100), false, 2, o);
    s.on_segment(1001 + 200, sub(data, 200, 100), false, 3, o);  // 100..200 never comes
    s.flush(9, o);
    ASSERT_EQ(o.gaps.size(), 1u);
    EXPECT_EQ(o.gaps[0], std::make_tuple(uint64_t{100}, uint64_t{100}, uint64_t{9}));
    EXPECT_EQ(o.bytes, cat(sub(data, 0, 100), sub(data, 200, 100)));
  }
  {
    TcpStream::Limits l;
    l.max_held_segments = 2;
    TcpStream s(l);
    Out o;
    s.on_syn(0);
    s.on_segment(1 + 100, sub(data, 100, 100), false, 2, o);
    s.on_segment(1 + 300, sub(data, 300, 100), false, 3, o);
    EXPECT_TRUE(o.gaps.empty());
    s.on_segment(1 + 500, sub(data, 500, 100), false, 4, o);  // third held: give up the hole
    ASSERT_EQ(o.gaps.size(), 1u);
    EXPECT_EQ(o.gaps[0], std::make_tuple(uint64_t{0}, uint64_t{100}, uint64_t{4}));
    EXPECT_EQ(o.bytes.size(), 100u);  // delivered 100..200, still holding behind 200..300
  }
  {
    // FIN says the stream was longer than what arrived.
    TcpStream s;
    Out o;
    s.on_syn(0);
    s.on_segment(1, sub(data, 0, 100), false, 2, o);
    s.on_segment(1 + 200, Bytes{}, true, 3, o);
    s.flush(3, o);
    ASSERT_EQ(o.gaps.size(), 1u);
    EXPECT_EQ(o.gaps[0], std::make_tuple(uint64_t{100}, uint64_t{100}, uint64_t{3}));
  }
}

TEST(ReplayTcp, MidStreamStartTakesTheFirstSegment) {
  TcpStream s;
  Out o;
  s.on_segment(5000, Bytes{1, 2, 3}, false, 1, o);
  s.on_segment(4990, Bytes(16, 7), false, 2, o);  // 13 old bytes + 3 new ones
  EXPECT_EQ(o.bytes.size(), 6u);
}

// A TLS 1.3 connection with records spanning segments, several records per segment,
// reordering, retransmission and overlap. Expected (frame, index, wire length) are
// computed by hand from the segment layout below.
struct Conn {
  const IpAddr c = ip("192.0.2.1"), s = ip("192.0.2.2");
  uint16_t cp = 40000, sp = 443;
  uint32_t cseq = 1000, sseq = 90000;
  Bytes cstream, sstream;  // all bytes each side sends
};

TEST(ReplayTcp, TlsRecordsAttributedToTheFrameOfTheirLastByte) {
  Conn k;
  const auto crandom = random32(1), srandom = random32(2);
  // Client stream: ClientHello, then app data records of 3000, 10, 10, 10 bytes.
  k.cstream = tls_record(22, client_hello(crandom, true));
  const size_t ch = k.cstream.size();
  const Bytes r1 = tls_record(23, filled(3000, 1)), r2 = tls_record(23, filled(10, 2)),
              r3 = tls_record(23, filled(10, 3)), r4 = tls_record(23, filled(10, 4));
  k.cstream = cat(cat(cat(cat(k.cstream, r1), r2), r3), r4);
  // Server stream: ServerHello, CCS, encrypted records of 20 and 40.
  k.sstream = cat(cat(cat(tls_record(22, server_hello(srandom, 0x0304, 0x1301)),
                          tls_record(20, Bytes{1})),
                      tls_record(23, filled(20, 5))),
                  tls_record(23, filled(40, 6)));
  const std::string path = temp_path("tls_frames.pcap");
  {
    PcapWriter w(path, DLT_EN10MB);
    auto c2s = [&](uint32_t off, size_t len, uint8_t fl = ACK | PSH) {
      w.add(ether(ipv4(k.c, k.s, 6, tcp(k.cp, k.sp, k.cseq + 1 + off, 0, fl, sub(k.cstream, off, len)))));
    };
    auto s2c = [&](uint32_t off, size_t len, uint8_t fl = ACK | PSH) {
      w.add(ether(ipv4(k.s, k.c, 6, tcp(k.sp, k.cp, k.sseq + 1 + off, 0, fl, sub(k.sstream, off, len)))));
    };
    w.add(ether(ipv4(k.c, k.s, 6, tcp(k.cp, k.sp, k.cseq, 0, SYN, {}))));            // 1
    w.add(ether(ipv4(k.s, k.c, 6, tcp(k.sp, k.cp, k.sseq, k.cseq + 1, SYN | ACK, {}))));  // 2
    w.add(ether(ipv4(k.c, k.s, 6, tcp(k.cp, k.sp, k.cseq + 1, k.sseq + 1, ACK, {}))));    // 3
    c2s(0, ch - 10);                                   // 4: ClientHello minus 10 bytes
    c2s(ch - 10, 10);                                  // 5: ClientHello completes (idx 0)
    s2c(0, k.sstream.size());                          // 6: SH, CCS, 20, 40 in one segment
    // r1 (3005 bytes) in three segments, the middle one late.
    const uint32_t r1o = uint32_t(ch);
    c2s(r1o, 1400);                                    // 7
    c2s(r1o + 2800, 205 + 15 + 8);                     // 8: r1 tail, r2 whole, 8 bytes of r3 (held)
    c2s(r1o, 1400);                                    // 9: retransmission
    c2s(r1o + 1300, 1500);                             // 10: overlap, fills the hole: r1, r2 done
    c2s(r1o + 3028, 7 + 15);                           // 11: r3 tail and r4
  }
  Keys keys;
  RunResult r = run_capture(path, keys);
  ASSERT_EQ(r.errors, 0u) << r.all_messages();
  struct W { uint64_t frame; uint32_t index; uint32_t len; const char* dir; const char* status; };
  const std::vector<W> want = {
      {5, 0, uint32_t(ch), "client", "not_protected"},
      {6, 0, uint32_t(5 + 4 + 2 + 32 + 1 + 32 + 2 + 1 + 2 + 6), "server", "not_protected"},
      {6, 1, 6, "server", "not_protected"},
      {6, 2, 25, "server", kNoKey},
      {6, 3, 45, "server", kNoKey},
      {10, 0, 3005, "client", kNoKey},
      {10, 1, 15, "client", kNoKey},
      {11, 0, 15, "client", kNoKey},
      {11, 1, 15, "client", kNoKey},
  };
  ASSERT_EQ(r.verdicts.size(), want.size()) << r.all_messages();
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(r.verdicts[i].frame, want[i].frame);
    EXPECT_EQ(r.verdicts[i].index, want[i].index);
    EXPECT_EQ(r.verdicts[i].wire_len, want[i].len);
    EXPECT_EQ(r.verdicts[i].dir, want[i].dir);
    EXPECT_STREQ(r.verdicts[i].status, want[i].status);
    EXPECT_STREQ(r.verdicts[i].proto, "tls13");
  }
  // The unprotected records carry their own length, hash and type.
  EXPECT_EQ(r.verdicts[0].len, ch - 5);
  EXPECT_EQ(r.verdicts[0].type, 22);
  EXPECT_EQ(r.verdicts[2].type, 20);
  EXPECT_EQ(r.verdicts[2].len, 1u);

  // With the client random in a key log, the protected records have keys: "skipped".
  Keys with;
  Diag d2;
  d2.quiet = true;
  with.keylog.add_text("CLIENT_TRAFFIC_SECRET_0 " + hex(crandom) + " " + std::string(64, 'a') + "\n", "k", d2);
  RunResult rk = run_capture(path, with);
  ASSERT_EQ(rk.verdicts.size(), want.size());
  EXPECT_STREQ(rk.verdicts[3].status, kSkipped);
  EXPECT_STREQ(rk.verdicts[0].status, "not_protected");
}

TEST(ReplayTcp, Tls12ProtectionStartsAfterChangeCipherSpecAndGapsResync) {
  Conn k;
  const auto crandom = random32(3);
  Bytes hello = tls_record(22, client_hello(crandom, false));
  const Bytes ccs = tls_record(20, Bytes{1});
  const Bytes fin = tls_record(22, filled(40, 1));  // encrypted Finished: type 22 but protected
  const Bytes a1 = tls_record(23, filled(100, 2)), a2 = tls_record(23, filled(100, 3)),
              a3 = tls_record(23, filled(100, 4));
  k.cstream = cat(cat(cat(cat(cat(hello, ccs), fin), a1), a2), a3);
  const std::string path = temp_path("tls12_gap.pcap");
  const size_t a1o = hello.size() + ccs.size() + fin.size();
  {
    PcapWriter w(path, DLT_RAW);
    auto c2s = [&](size_t off, size_t len) {
      w.add(ipv4(k.c, k.s, 6, tcp(k.cp, k.sp, uint32_t(k.cseq + 1 + off), 0, ACK, sub(k.cstream, off, len))));
    };
    w.add(ipv4(k.c, k.s, 6, tcp(k.cp, k.sp, k.cseq, 0, SYN, {})));  // 1
    c2s(0, a1o);                     // 2: hello, CCS, Finished
    c2s(a1o, 50);                    // 3: first half of a1
    // 55 bytes of a1 and 10 of a2 never captured.
    c2s(a1o + 105 + 10, 95 + 105);   // 4: rest of a2, a3
  }
  RunResult r = run_capture(path);
  // hello, CCS, Finished, then a1 lost (partial record before a gap: malformed),
  // a2 cut (bytes before the next header are not a record), a3 found again.
  ASSERT_EQ(r.verdicts.size(), 6u) << r.all_messages();
  EXPECT_STREQ(r.verdicts[0].status, "not_protected");
  EXPECT_STREQ(r.verdicts[0].proto, "tls12");
  EXPECT_STREQ(r.verdicts[1].status, "not_protected");
  EXPECT_EQ(r.verdicts[1].type, 20);
  EXPECT_STREQ(r.verdicts[2].status, kNoKey);  // Finished after CCS is protected
  EXPECT_EQ(r.verdicts[2].wire_len, fin.size());
  EXPECT_TRUE(r.has_message("client stream: 65 bytes never captured at stream offset " + std::to_string(a1o + 50))) << r.all_messages();
  const Verdict& last = r.verdicts.back();
  EXPECT_EQ(last.frame, 4u);
  EXPECT_EQ(last.wire_len, a3.size());
  EXPECT_STREQ(last.status, kNoKey);
  size_t malformed = 0;
  for (const Verdict& v : r.verdicts)
    if (std::string_view(v.status) == "malformed") ++malformed;
  EXPECT_EQ(malformed, 2u);  // the a1 prefix and the a2 tail
}

TEST(ReplayTcp, NonTlsStreamsAreIgnoredUnlessForced) {
  Conn k;
  const Bytes http = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1', '\r', '\n'};
  const std::string path = temp_path("http.pcap");
  {
    PcapWriter w(path, DLT_RAW);
    w.add(ipv4(k.c, k.s, 6, tcp(k.cp, 80, k.cseq, 0, SYN, {})));
    w.add(ipv4(k.c, k.s, 6, tcp(k.cp, 80, k.cseq + 1, 0, ACK, http)));
    // Forced TLS on 8443 with garbage first, then a record.
    w.add(ipv4(k.c, k.s, 6, tcp(k.cp, 8443, 5, 0, ACK, cat(http, tls_record(23, filled(30, 1))))));
  }
  RunResult r = run_capture(path);
  EXPECT_TRUE(r.verdicts.empty());
  EXPECT_EQ(r.stats.tcp_not_tls, 2u);
  ReplayOptions o;
  PortRule rule;
  std::string err;
  ASSERT_TRUE(parse_port_rule("tcp/8443=tls", rule, err)) << err;
  o.rules.push_back(rule);
  r = run_capture(path, Keys{}, o);
  ASSERT_EQ(r.verdicts.size(), 2u) << r.all_messages();
  EXPECT_STREQ(r.verdicts[0].status, "malformed");
  EXPECT_EQ(r.verdicts[0].wire_len, http.size());
  EXPECT_EQ(r.verdicts[1].wire_len, 35u);
  EXPECT_EQ(r.verdicts[1].index, 1u);
}

TEST(ReplayTcp, DirectionFromSynEvenWhenTheServerSpeaksFirstInTheCapture) {
  Conn k;
  const std::string path = temp_path("synack_first.pcap");
  const auto crandom = random32(7);
  Bytes sh = tls_record(22, server_hello(random32(8), 0x0303, 0xc02f));
  {
    PcapWriter w(path, DLT_RAW);
    // The capture starts with the SYN-ACK: its sender is the server.
    w.add(ipv4(k.s, k.c, 6, tcp(k.sp, k.cp, k.sseq, k.cseq + 1, SYN | ACK, {})));
    w.add(ipv4(k.c, k.s, 6, tcp(k.cp, k.sp, k.cseq + 1, 0, ACK, tls_record(22, client_hello(crandom, false)))));
    w.add(ipv4(k.s, k.c, 6, tcp(k.sp, k.cp, k.sseq + 1, 0, ACK, sh)));
  }
  RunResult r = run_capture(path);
  ASSERT_EQ(r.verdicts.size(), 2u);
  EXPECT_EQ(r.verdicts[0].dir, "client");
  EXPECT_EQ(r.verdicts[1].dir, "server");
  EXPECT_STREQ(r.verdicts[1].proto, "tls12");
}

TEST(ReplayTcp, HelloFactsForTheDecryptors) {
  HelloInfo h;
  HelloParser c(false), s(false);
  const auto cr = random32(1), sr = random32(2);
  // The ClientHello split over two records.
  Bytes ch = client_hello(cr, true);
  c.on_handshake_record(Bytes(ch.begin(), ch.begin() + 50), h);
  EXPECT_FALSE(h.have_client_hello);
  c.on_handshake_record(Bytes(ch.begin() + 50, ch.end()), h);
  ASSERT_TRUE(h.have_client_hello);
  EXPECT_EQ(h.client_random, cr);
  EXPECT_EQ(h.client_max_version, 0x0304);
  s.on_handshake_record(server_hello(sr, 0x0304, 0x1302), h);
  ASSERT_TRUE(h.have_server_hello);
  EXPECT_EQ(h.server_random, sr);
  EXPECT_EQ(h.cipher_suite, 0x1302);
  EXPECT_TRUE(h.is13());
  // A HelloRetryRequest is not the ServerHello.
  HelloInfo h2;
  HelloParser s2(false);
  const uint8_t hrr[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                           0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                           0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
  std::array<uint8_t, 32> hr;
  std::copy(hrr, hrr + 32, hr.begin());
  s2.on_handshake_record(server_hello(hr, 0x0304, 0x1301), h2);
  EXPECT_TRUE(h2.hello_retry);
  EXPECT_FALSE(h2.have_server_hello);
  s2.on_handshake_record(server_hello(sr, 0x0304, 0x1301), h2);
  EXPECT_TRUE(h2.have_server_hello);
  EXPECT_EQ(h2.server_random, sr);
  // Malformed: cut inside the extensions. No crash, no facts.
  HelloInfo h3;
  Bytes bad = client_hello(cr, true);
  bad.resize(bad.size() - 3);
  bad[3] = uint8_t(bad.size() - 4);
  bad[2] = uint8_t((bad.size() - 4) >> 8);
  EXPECT_FALSE(parse_hello(1, Bytes(bad.begin() + 4, bad.end()), false, h3));
}

}  // namespace
}  // namespace rl::replay::test
