// rl-replay's TLS decryptor on the cases real captures rarely show: a TLS 1.3 Finished
// split across two records, a KeyUpdate coalesced with a NewSessionTicket in one record,
// two KeyUpdates in a row, a corrupted record in the middle (it alone fails), a key log
// without handshake secrets, and a suite the engine does not have. The records are sealed
// by the engine's own rl::tls (the crypto itself is checked against tshark and GnuTLS /
// OpenSSL captures in replay_decrypt); what is tested here is the key schedule logic of
// the decryptor: when it switches keys and how it counts.
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <array>
#include <string>
#include <vector>

#include "core/tls.h"
#include "tests/replay/harness.h"
#include "tests/replay/tls_builder.h"
#include "tools/replay/dtls_decryptor.h"
#include "tools/replay/tls_decryptor.h"

namespace rl::replay::test {
namespace {

constexpr uint8_t SYN = 0x02, ACK = 0x10, PSH = 0x08;

Bytes secret(uint8_t seed) { return filled(32, seed); }

// Seals one TLS 1.3 record with the engine (seal side of `rp`).
Bytes seal13(tls::RecordProtection& rp, uint8_t type, const Bytes& content) {
  Bytes buf(content.size() + 64);
  tls::Record r;
  r.buf = buf.data();
  r.capacity = uint32_t(buf.size());
  r.offset = uint32_t(rp.header_size());
  r.length = uint32_t(content.size());
  std::copy(content.begin(), content.end(), buf.begin() + r.offset);
  r.type = type;
  EXPECT_EQ(rp.seal(std::span<tls::Record>(&r, 1)), 1u);
  return Bytes(buf.begin() + r.offset, buf.begin() + r.offset + r.length);
}

std::array<uint8_t, 32> sha(const Bytes& b) {
  std::array<uint8_t, 32> h;
  SHA256(b.data(), b.size(), h.data());
  return h;
}

struct Tcp {
  PcapWriter& w;
  IpAddr c = ip("10.0.0.1"), s = ip("10.0.0.2");
  uint16_t cp = 40000, sp = 443;
  uint32_t cseq = 1000, sseq = 5000;
  void open() {
    w.add(ether(ipv4(c, s, 6, tcp(cp, sp, cseq++, 0, SYN, {}))));
    w.add(ether(ipv4(s, c, 6, tcp(sp, cp, sseq++, cseq, SYN | ACK, {}))));
  }
  void client(const Bytes& p) {
    w.add(ether(ipv4(c, s, 6, tcp(cp, sp, cseq, sseq, PSH | ACK, p))));
    cseq += uint32_t(p.size());
  }
  void server(const Bytes& p) {
    w.add(ether(ipv4(s, c, 6, tcp(sp, cp, sseq, cseq, PSH | ACK, p))));
    sseq += uint32_t(p.size());
  }
};

RunResult run_with_decryptors(const std::string& path, const Keys& keys) {
  RunResult r;
  Diag diag;
  diag.quiet = true;
  Collect c;
  {
    TlsDecryptor tls(keys, diag);
    DtlsDecryptor dtls(keys, diag);
    Replayer rep(keys, {}, c, diag);
    rep.set_sink(Proto::tls, &tls);
    rep.set_sink(Proto::dtls, &dtls);
    r.opened = rep.run(path);
  }
  r.verdicts = std::move(c.v);
  r.messages = diag.messages();
  r.errors = diag.errors();
  return r;
}

std::string keylog_line(const char* label, const std::array<uint8_t, 32>& cr, const Bytes& s) {
  return std::string(label) + " " + hex(ByteSpan(cr.data(), cr.size())) + " " + hex(ByteSpan(s)) + "\n";
}

// What one protected record should come out as.
struct Want {
  std::string dir;
  uint64_t epoch;
  uint64_t seq;
  int type;
  Bytes content;
  bool corrupt = false;
};

class Tls13Session {
 public:
  std::array<uint8_t, 32> cr = random32(1), sr = random32(2);
  Bytes chs = secret(10), shs = secret(20), cap0 = secret(30), sap0 = secret(40);
  std::vector<Want> want;

  // Writes the capture; `suite` goes into the ServerHello (the records are AES-128-GCM).
  void write(const std::string& path, uint16_t suite = 0x1301) {
    PcapWriter w(path, DLT_EN10MB);
    Tcp t{w};
    t.open();
    tls::Config cfg;
    tls::RecordProtection c(cfg), s(cfg);
    ASSERT_EQ(c.install(Direction::seal, Suite::aes128_gcm, chs), Status::ok);
    ASSERT_EQ(s.install(Direction::seal, Suite::aes128_gcm, shs), Status::ok);
    t.client(tls_record(22, client_hello(cr, true)));
    Bytes flight = tls_record(22, server_hello(sr, 0x0304, suite));
    flight = cat(flight, tls_record(20, {1}));
    const Bytes ee = handshake(8, {0, 0}), cert = handshake(11, filled(300, 3));
    const Bytes cv = handshake(15, filled(72, 4)), fin = handshake(20, filled(32, 5));
    const Bytes fin1(fin.begin(), fin.begin() + 10), fin2(fin.begin() + 10, fin.end());
    // The Finished is split across two records: the switch waits for its last byte.
    flight = cat(flight, add(s, "server", 2, 22, cat(ee, cert)));
    flight = cat(flight, add(s, "server", 2, 22, cat(cv, fin1)));
    flight = cat(flight, add(s, "server", 2, 22, fin2));
    ASSERT_EQ(s.install(Direction::seal, Suite::aes128_gcm, sap0), Status::ok);
    flight = cat(flight, add(s, "server", 3, 23, Bytes{'h', 'i', '\n'}));
    t.server(flight);
    t.client(cat(tls_record(20, {1}), add(c, "client", 2, 22, handshake(20, filled(32, 6)))));
    ASSERT_EQ(c.install(Direction::seal, Suite::aes128_gcm, cap0), Status::ok);
    // The first record under the client's application key is corrupted: it did use
    // sequence number 0, which the next record shows.
    Bytes first = add(c, "client", 3, 23, filled(100, 7));
    first[first.size() / 2] ^= 0x40;
    want.back().corrupt = true;
    t.client(first);
    t.client(add(c, "client", 3, 23, filled(10, 13)));
    // NewSessionTicket and KeyUpdate in one record; the next record is generation 1.
    Bytes nst_ku = cat(handshake(4, filled(40, 8)), handshake(24, {0}));
    Bytes seg = add(s, "server", 3, 22, nst_ku);
    ASSERT_EQ(s.update(Direction::seal), Status::ok);
    seg = cat(seg, add(s, "server", 4, 23, filled(16384, 9)));
    t.server(seg);
    // A corrupted record: it alone fails, the one after it still opens.
    Bytes bad = add(s, "server", 4, 23, filled(50, 10));
    bad.back() ^= 1;
    want.back().corrupt = true;
    t.server(bad);
    t.server(add(s, "server", 4, 23, filled(60, 11)));
    // Two KeyUpdates in a row.
    t.server(add(s, "server", 4, 22, handshake(24, {1})));
    ASSERT_EQ(s.update(Direction::seal), Status::ok);
    t.server(add(s, "server", 5, 22, handshake(24, {0})));
    ASSERT_EQ(s.update(Direction::seal), Status::ok);
    t.server(add(s, "server", 6, 23, filled(70, 12)));
    t.client(add(c, "client", 3, 21, Bytes{1, 0}));  // close_notify
  }

  std::string keylog(bool with_handshake = true) const {
    std::string k;
    if (with_handshake) {
      k += keylog_line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", cr, chs);
      k += keylog_line("SERVER_HANDSHAKE_TRAFFIC_SECRET", cr, shs);
    }
    k += keylog_line("CLIENT_TRAFFIC_SECRET_0", cr, cap0);
    k += keylog_line("SERVER_TRAFFIC_SECRET_0", cr, sap0);
    return k;
  }

 private:
  Bytes add(tls::RecordProtection& rp, const char* dir, uint64_t epoch, int type, const Bytes& content) {
    const uint64_t seq = rp.sequence(Direction::seal);
    want.push_back({dir, epoch, seq, type, content});
    return seal13(rp, uint8_t(type), content);
  }
};

std::vector<const Verdict*> protected_verdicts(const RunResult& r) {
  std::vector<const Verdict*> out;
  for (const Verdict& v : r.verdicts)
    if (std::string(v.status) != "not_protected") out.push_back(&v);
  return out;
}

TEST(ReplayDecrypt, Tls13SplitFinishedCoalescedKeyUpdateAndOneBadRecord) {
  Tls13Session sess;
  const std::string path = temp_path("tls13_edge.pcap");
  sess.write(path);
  Keys keys;
  Diag d;
  d.quiet = true;
  ASSERT_EQ(keys.keylog.add_text(sess.keylog(), "edge.keylog", d), 4u);
  const RunResult r = run_with_decryptors(path, keys);
  ASSERT_TRUE(r.opened) << r.all_messages();
  const auto pv = protected_verdicts(r);
  ASSERT_EQ(pv.size(), sess.want.size()) << r.all_messages();
  // The verdicts come in capture order; match each direction's records in order.
  size_t i[2] = {0, 0};
  std::vector<const Want*> per_dir[2];
  for (const Want& w : sess.want) per_dir[w.dir == "server"].push_back(&w);
  for (const Verdict* v : pv) {
    const int d2 = v->dir == "server";
    ASSERT_LT(i[d2], per_dir[d2].size());
    const Want& w = *per_dir[d2][i[d2]++];
    SCOPED_TRACE("frame " + std::to_string(v->frame) + " " + v->dir + " epoch " +
                 std::to_string(w.epoch) + " seq " + std::to_string(w.seq));
    ASSERT_TRUE(v->epoch.has_value());
    EXPECT_EQ(*v->epoch, w.epoch);
    EXPECT_EQ(*v->seq, w.seq);
    if (w.corrupt) {
      EXPECT_STREQ(v->status, "auth_failed");
      EXPECT_FALSE(v->sha256.has_value());
      continue;
    }
    EXPECT_STREQ(v->status, "ok");
    EXPECT_EQ(v->type, w.type);
    EXPECT_EQ(v->len, w.content.size());
    EXPECT_EQ(v->sha256, sha(w.content));
  }
}

TEST(ReplayDecrypt, Tls13WithoutHandshakeSecretsOnlyApplicationRecordsOpen) {
  Tls13Session sess;
  const std::string path = temp_path("tls13_nohs.pcap");
  sess.write(path);
  Keys keys;
  Diag d;
  d.quiet = true;
  keys.keylog.add_text(sess.keylog(false), "app-only.keylog", d);
  const RunResult r = run_with_decryptors(path, keys);
  EXPECT_TRUE(r.has_message("no client handshake traffic secret")) << r.all_messages();
  size_t hs_failed = 0, ok = 0;
  for (const Verdict* v : protected_verdicts(r)) {
    if (std::string(v->status) == "ok") ++ok;
    else if (std::string(v->status) == "auth_failed") ++hs_failed;
  }
  // The application keys are installed from the start: the 4 handshake-key records fail
  // without using a sequence number (nothing authenticated under the key yet), every
  // application record opens, and the 2 corrupted ones fail alone.
  EXPECT_EQ(hs_failed, 6u) << r.all_messages();
  EXPECT_EQ(ok + hs_failed, protected_verdicts(r).size());
}

TEST(ReplayDecrypt, UnsupportedTls13SuiteSaysSo) {
  Tls13Session sess;
  const std::string path = temp_path("tls13_ccm.pcap");
  sess.write(path, 0x1304);  // TLS_AES_128_CCM_SHA256
  Keys keys;
  Diag d;
  d.quiet = true;
  keys.keylog.add_text(sess.keylog(), "k", d);
  const RunResult r = run_with_decryptors(path, keys);
  EXPECT_TRUE(r.has_message("cipher suite 0x1304 is not supported")) << r.all_messages();
  const auto pv = protected_verdicts(r);
  ASSERT_FALSE(pv.empty());
  for (const Verdict* v : pv) EXPECT_STREQ(v->status, kUnsupported);
}

TEST(ReplayDecrypt, NoKeyForTheSessionIsNoKey) {
  Tls13Session sess;
  const std::string path = temp_path("tls13_nokey.pcap");
  sess.write(path);
  Keys keys;
  Diag d;
  d.quiet = true;
  const auto other = random32(99);
  keys.keylog.add_text(keylog_line("CLIENT_TRAFFIC_SECRET_0", other, secret(1)), "other.keylog", d);
  const RunResult r = run_with_decryptors(path, keys);
  const auto pv = protected_verdicts(r);
  ASSERT_FALSE(pv.empty());
  for (const Verdict* v : pv) EXPECT_STREQ(v->status, kNoKey);
  EXPECT_TRUE(r.has_message("matches no TLS/DTLS ClientHello")) << r.all_messages();
}

TEST(ReplayDecrypt, SuiteMapping) {
  for (uint16_t cs : {0xc02b, 0xc02f, 0x009c, 0x009e}) {
    auto m = map_tls12_suite(cs);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->suite, Suite::aes128_gcm);
    EXPECT_EQ(m->prf, Hash::sha256);
  }
  for (uint16_t cs : {0xc02c, 0xc030, 0x009d, 0x009f}) {
    auto m = map_tls12_suite(cs);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->suite, Suite::aes256_gcm);
    EXPECT_EQ(m->prf, Hash::sha384);
  }
  for (uint16_t cs : {0xcca8, 0xcca9, 0xccaa}) {
    auto m = map_tls12_suite(cs);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->suite, Suite::chacha20_poly1305);
    EXPECT_EQ(m->prf, Hash::sha256);
  }
  EXPECT_FALSE(map_tls12_suite(0xc009));  // CBC
  EXPECT_FALSE(map_tls12_suite(0x1301));
  EXPECT_EQ(map_tls13_suite(0x1302)->suite, Suite::aes256_gcm);
  EXPECT_EQ(map_tls13_suite(0x1303)->suite, Suite::chacha20_poly1305);
  EXPECT_FALSE(map_tls13_suite(0x1304));
  EXPECT_FALSE(map_tls13_suite(0xc02f));
}

}  // namespace
}  // namespace rl::replay::test
