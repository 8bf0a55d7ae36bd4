// IPsec ESP: published packets opened and re-sealed byte-exact, RFC 4303
// Appendix A2 sequence-number reconstruction case by case, round trips over
// every transform, the replay window against a model, padding rules, every-byte
// mutation, lifetimes on a fake clock, rekey overlap, RFC 3948 framing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/esp.h"
#include "tests/support/backends.h"
#include "tests/support/vectors.h"

namespace rl::esp {
namespace {

using test::Bytes;
using test::hex;
using test::to_hex;

constexpr uint32_t kHead = 64, kTail = 96;

// A packet in its own buffer: [headroom | bytes | tailroom].
struct Buf {
  std::vector<uint8_t> mem;
  PacketView view;
  explicit Buf(const Bytes& b, uint32_t head = kHead, uint32_t tail = kTail)
      : mem(head + b.size() + tail, 0xEE) {
    if (!b.empty()) std::memcpy(mem.data() + head, b.data(), b.size());
    view = PacketView{mem.data(), static_cast<uint32_t>(mem.size()), head,
                      static_cast<uint32_t>(b.size()), Status::ok};
  }
  Buf(const Buf& o) : mem(o.mem), view(o.view) { view.buf = mem.data(); }
  Bytes bytes() const { return Bytes(view.data(), view.data() + view.length); }
};

struct FakeClock {
  uint64_t t = 5000;
  static uint64_t read(void* c) { return static_cast<FakeClock*>(c)->t; }
  Clock clock() { return Clock{&FakeClock::read, this}; }
};

std::vector<KeyEvent> drain(Sadb& db) {
  std::vector<KeyEvent> v;
  KeyEvent e;
  while (db.poll_event(e)) v.push_back(e);
  return v;
}

uint64_t be_value(const Bytes& b) { return load_be(b.data(), b.size()); }

// A minimal IPv4 / IPv6 packet of `total` bytes whose header states its length.
Bytes ipv4_packet(size_t total, uint64_t seed) {
  Bytes p = test::random_bytes(total, seed);
  p[0] = 0x45;
  store_be16(p.data() + 2, static_cast<uint16_t>(total));
  return p;
}
Bytes ipv6_packet(size_t total, uint64_t seed) {
  Bytes p = test::random_bytes(total, seed);
  p[0] = 0x60;
  store_be16(p.data() + 4, static_cast<uint16_t>(total - 40));
  return p;
}

// ---- Published vectors ---------------------------------------------------------

struct Kat {
  std::string id;
  Suite suite;
  bool gmac, esn;
  Mode mode;
  uint8_t next_header;
  Bytes keymat, payload, packet;
  uint32_t spi;
  uint64_t seq, iv;
};

// Opens the packet with an inbound SA whose window top is seq - 1, checks the
// payload; then seals the payload with an outbound SA positioned at seq with the
// published IV and compares every byte.
void check_kat(const Kat& k) {
  SCOPED_TRACE(k.id);
  SaConfig c;
  c.spi = k.spi;
  c.suite = k.suite;
  c.keymat = k.keymat;
  c.esn = k.esn;
  c.gmac = k.gmac;
  c.mode = k.mode;
  c.highest_received = k.seq - 1;
  c.first_seq = k.seq;
  c.iv_mask = k.iv ^ k.seq;
  Sadb db;
  ASSERT_EQ(db.install(Direction::open, c), Status::ok);
  ASSERT_EQ(db.install(Direction::seal, c), Status::ok);

  Buf in(k.packet);
  OpenInfo info;
  EXPECT_EQ(db.open({&in.view, 1}, {&info, 1}), 1u);
  EXPECT_EQ(in.view.status, Status::ok);
  EXPECT_EQ(to_hex(in.bytes()), to_hex(k.payload));
  EXPECT_EQ(info.seq, k.seq);
  EXPECT_EQ(info.next_header, k.next_header);
  EXPECT_EQ(info.spi, k.spi);

  Buf out(k.payload);
  SealMeta m;
  m.next_header = k.mode == Mode::transport ? k.next_header : 0;
  EXPECT_EQ(db.seal(k.spi, {&out.view, 1}, {&m, 1}), 1u);
  EXPECT_EQ(out.view.status, Status::ok);
  EXPECT_EQ(to_hex(out.bytes()), to_hex(k.packet));
}

TEST(EspVectors, McGrewGcmTestPacketsOpenAndResealByteExact) {
  auto j = test::load_vectors("esp_aead.json");
  RL_SKIP_IF_MISSING(j, "esp_aead.json");
  size_t checked = 0, skipped_aes192 = 0, refused_spi0 = 0;
  for (const auto& v : (*j)["aes_gcm_esp"]) {
    const Bytes key = hex(v["key"].get<std::string>());
    if (key.size() == 24) {  // AES-192 is not a suite of this engine
      ++skipped_aes192;
      continue;
    }
    Kat k;
    k.id = v["id"];
    k.suite = key.size() == 16 ? Suite::aes128_gcm : Suite::aes256_gcm;
    k.gmac = v["algorithm"] == "AES-GMAC-ESP";
    k.esn = v["esn"];
    k.mode = Mode::transport;  // next header 1 in every case
    k.next_header = v["trailer_derived"]["next_header"];
    k.keymat = key;
    const Bytes salt = hex(v["salt_derived"].get<std::string>());
    k.keymat.insert(k.keymat.end(), salt.begin(), salt.end());
    k.spi = static_cast<uint32_t>(be_value(hex(v["spi"].get<std::string>())));
    k.seq = be_value(hex(v["seq"].get<std::string>()));
    k.iv = be_value(hex(v["iv_derived"].get<std::string>()));
    k.packet = hex(v["esp_packet"].get<std::string>());
    // The payload is the plaintext without its trailer (for GMAC, which
    // encrypts nothing, it sits in clear between IV and padding).
    const size_t pad = v["trailer_derived"]["pad_length"];
    const Bytes plaintext = hex(v["plaintext"].get<std::string>());
    if (k.gmac)
      k.payload = Bytes(k.packet.begin() + 16, k.packet.end() - 16 - 2 - pad);
    else
      k.payload = Bytes(plaintext.begin(), plaintext.end() - 2 - pad);
    if (k.spi == 0) {
      // Case 4 uses SPI 0, which RFC 4303 §2.1 reserves and forbids on the wire.
      SaConfig c;
      c.spi = 0;
      c.keymat = k.keymat;
      Sadb db;
      EXPECT_EQ(db.install(Direction::open, c), Status::invalid_argument);
      ++refused_spi0;
      continue;
    }
    check_kat(k);
    ++checked;
  }
  EXPECT_EQ(checked, 15u);  // 17 cases: one AES-192, one with SPI 0
  EXPECT_EQ(skipped_aes192, 1u);
  EXPECT_EQ(refused_spi0, 1u);
}

TEST(EspVectors, Rfc7634AppendixAFromSharedFile) {
  auto j = test::load_vectors("esp_aead.json");
  RL_SKIP_IF_MISSING(j, "esp_aead.json");
  const auto& v = (*j)["chacha20_poly1305_esp"][0];
  Kat k;
  k.id = v["id"];
  k.suite = Suite::chacha20_poly1305;
  k.gmac = false;
  k.esn = false;
  k.mode = Mode::tunnel;
  k.next_header = v["next_header"];
  k.keymat = hex(v["keymat"].get<std::string>());
  k.payload = hex(v["inner_ip_packet"].get<std::string>());
  k.packet = hex(v["esp_packet_derived"].get<std::string>());
  k.spi = static_cast<uint32_t>(be_value(hex(v["spi"].get<std::string>())));
  k.seq = be_value(hex(v["seq"].get<std::string>()));
  k.iv = be_value(hex(v["iv"].get<std::string>()));
  check_kat(k);
}

// RFC 7634 Appendix A, typed in from the RFC text: tunnel mode, an IPv4 ICMP
// echo request 198.51.100.5 → 192.0.2.5 inside, SPI 0x01020304, Seq 5,
// IV 0x1011121314151617, KEYMAT = 0x80..0x9f ‖ salt a0a1a2a3.
TEST(EspVectors, Rfc7634AppendixATypedIn) {
  Kat k;
  k.id = "RFC 7634 App. A (typed)";
  k.suite = Suite::chacha20_poly1305;
  k.gmac = k.esn = false;
  k.mode = Mode::tunnel;
  k.next_header = 4;
  k.keymat = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3");
  k.spi = 0x01020304;
  k.seq = 5;
  k.iv = 0x1011121314151617;
  k.payload = hex(
      "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10"
      "0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
      "2425262728292a2b2c2d2e2f3031323334353637");
  k.packet = hex(
      "01020304 00000005 1011121314151617"
      "24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6"
      "14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3"
      "cbec163fac469b502773f6fb94e664da9165b82829f641e0"
      "76aaa8266b7fb0f7b11b369907e1ad43");
  check_kat(k);
  // The padding the RFC shows (01 02, pad length 2, next header 4) is what a
  // §2.4 sender produces for an 84-byte inner packet.
  EXPECT_EQ(k.payload.size(), 84u);
}

// ---- RFC 4303 Appendix A2: Seqh reconstruction, every case ----------------------

TEST(EspSeqHi, AppendixA2CaseA) {
  // Window inside one subspace: Tl >= W - 1.
  const uint32_t w = 64;
  const uint64_t top = uint64_t{7} << 32 | 1000;  // Th = 7, Tl = 1000, Bl = 937
  EXPECT_EQ(reconstruct_seq_hi(top, w, 937).hi, 7u);      // Seql == Bl → Th
  EXPECT_EQ(reconstruct_seq_hi(top, w, 1000).hi, 7u);     // the top itself
  EXPECT_EQ(reconstruct_seq_hi(top, w, 5000000).hi, 7u);  // ahead, same subspace
  EXPECT_EQ(reconstruct_seq_hi(top, w, 0xffffffff).hi, 7u);
  EXPECT_EQ(reconstruct_seq_hi(top, w, 936).hi, 8u);  // Seql < Bl → Th + 1 (wrapped ahead)
  EXPECT_EQ(reconstruct_seq_hi(top, w, 0).hi, 8u);
  // Exactly at the case boundary Tl = W - 1 (Bl = 0): everything maps to Th.
  EXPECT_EQ(reconstruct_seq_hi(uint64_t{3} << 32 | 63, w, 0).hi, 3u);
  EXPECT_TRUE(reconstruct_seq_hi(top, w, 936).valid);
}

TEST(EspSeqHi, AppendixA2CaseB) {
  // Window straddles the subspace boundary: Tl < W - 1.
  const uint32_t w = 64;
  const uint64_t top = uint64_t{7} << 32 | 10;  // Bl = 10 - 63 mod 2^32 = 0xffffffcb
  EXPECT_EQ(reconstruct_seq_hi(top, w, 0xffffffcb).hi, 6u);  // Seql >= Bl → Th - 1 (late)
  EXPECT_EQ(reconstruct_seq_hi(top, w, 0xffffffff).hi, 6u);
  EXPECT_EQ(reconstruct_seq_hi(top, w, 0xffffffca).hi, 7u);  // Seql < Bl → Th (far ahead)
  EXPECT_EQ(reconstruct_seq_hi(top, w, 0).hi, 7u);
  EXPECT_EQ(reconstruct_seq_hi(top, w, 10).hi, 7u);
  EXPECT_EQ(reconstruct_seq_hi(top, w, 11).hi, 7u);
  // Tl = W - 2: the last value of case B.
  EXPECT_EQ(reconstruct_seq_hi(uint64_t{7} << 32 | 62, w, 0xffffffff).hi, 6u);
}

TEST(EspSeqHi, EdgesOfTheSixtyFourBitSpace) {
  const uint32_t w = 128;
  // Th = 0, case B: no subspace -1 exists, so a high Seql is far ahead in 0.
  const SeqHi a = reconstruct_seq_hi(5, w, 0xfffffff0);
  EXPECT_TRUE(a.valid);
  EXPECT_EQ(a.hi, 0u);
  // Nothing received yet (T = 0): the first packets land in subspace 0.
  EXPECT_EQ(reconstruct_seq_hi(0, w, 1).hi, 0u);
  // Th = 2^32 - 1, case A, Seql < Bl: subspace 2^32 does not exist.
  EXPECT_FALSE(reconstruct_seq_hi(~uint64_t{0} - 1000, w, 5).valid);
  EXPECT_TRUE(reconstruct_seq_hi(~uint64_t{0} - 1000, w, 0xffffffff).valid);
}

// ---- Round trips over every transform -------------------------------------------

struct Transform {
  Suite suite;
  uint8_t icv;
  bool gmac, implicit_iv;
};

std::vector<Transform> all_transforms() {
  std::vector<Transform> v;
  for (Suite s : kAllSuites)
    for (uint8_t icv : {8, 12, 16})
      for (bool iiv : {false, true}) {
        if (s == Suite::chacha20_poly1305 && icv != 16) continue;
        if (iiv && icv != 16) continue;  // RFC 8750 registers ICV 16 only
        v.push_back({s, icv, false, iiv});
        if (s != Suite::chacha20_poly1305 && icv == 16 && !iiv) v.push_back({s, icv, true, iiv});
      }
  return v;
}

std::string describe(const Transform& t, bool esn, Mode m, bool udp) {
  return std::string(suite_info(t.suite).name) + (t.gmac ? "-gmac" : "") + " icv" +
         std::to_string(t.icv) + (t.implicit_iv ? " iiv" : "") + (esn ? " esn" : "") +
         (m == Mode::tunnel ? " tunnel" : " transport") + (udp ? " udp" : "");
}

SaConfig config(const Transform& t, const Bytes& keymat, uint32_t spi, bool esn, Mode m) {
  SaConfig c;
  c.spi = spi;
  c.suite = t.suite;
  c.keymat = keymat;
  c.icv_len = t.icv;
  c.gmac = t.gmac;
  c.implicit_iv = t.implicit_iv;
  c.esn = esn;
  c.mode = m;
  return c;
}

TEST(EspRoundTrip, EverySuiteIcvEsnModeAndEncapsulation) {
  size_t combos = 0;
  for (const Transform& t : all_transforms())
    for (bool esn : {false, true})
      for (Mode mode : {Mode::tunnel, Mode::transport})
        for (bool udp : {false, true}) {
          SCOPED_TRACE(describe(t, esn, mode, udp));
          ++combos;
          const Bytes keymat = test::random_bytes(suite_info(t.suite).key_len + 4, combos);
          SaConfig c = config(t, keymat, 0x1000 + static_cast<uint32_t>(combos), esn, mode);
          // Start just below 2^32 so that ESN SAs cross into Seqh = 1.
          c.first_seq = esn ? 0xfffffffe : 1;
          c.highest_received = esn ? 0xfffffffd : 0;
          Sadb db;
          ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
          ASSERT_EQ(db.install(Direction::open, c), Status::ok);

          // Six packets: sizes 0..1400, one with TFC padding, one dummy.
          std::vector<Bytes> plain;
          std::vector<SealMeta> meta(6);
          for (size_t i = 0; i < 6; ++i) {
            const size_t len = std::vector<size_t>{20, 41, 64, 333, 1400, 40}[i];
            if (mode == Mode::tunnel)
              plain.push_back(i % 2 ? ipv6_packet(std::max<size_t>(len, 40), i)
                                    : ipv4_packet(len, i));
            else
              plain.push_back(test::random_bytes(i == 0 ? 0 : len, i));
            if (mode == Mode::transport) meta[i].next_header = 17;
          }
          meta[2].tfc_pad_to = 200;
          meta[5].dummy = true;
          std::vector<Buf> bufs;
          for (size_t i = 0; i < 6; ++i) bufs.emplace_back(plain[i], kHead, kTail + 256);
          std::vector<PacketView> views;
          for (auto& b : bufs) views.push_back(b.view);
          ASSERT_EQ(db.seal(c.spi, views, meta), 6u);

          const size_t hdr = t.implicit_iv ? 8 : 16;
          for (size_t i = 0; i < 6; ++i) {
            const PacketView& p = views[i];
            ASSERT_EQ(p.status, Status::ok);
            const uint64_t seq = c.first_seq + i;
            EXPECT_EQ(load_be32(p.data()), c.spi);
            EXPECT_EQ(load_be32(p.data() + 4), static_cast<uint32_t>(seq));  // low half only
            if (!t.implicit_iv) {
              EXPECT_EQ(load_be64(p.data() + 8), seq);  // IV = seq
            }
            const size_t body = std::max<size_t>(plain[i].size(), meta[i].tfc_pad_to);
            EXPECT_EQ(p.length, hdr + body + (4 - (body + 2) % 4) % 4 + 2 + t.icv);
            EXPECT_EQ((p.length - t.icv) % 4, 0u);  // §2.4 alignment
            // Headroom in front of the header is untouched (GMAC with ESN
            // borrows four bytes of it and must give them back).
            for (size_t b = 1; b <= 4; ++b) EXPECT_EQ(p.buf[p.offset - b], 0xEE);
            if (t.gmac && i < 5 && !plain[i].empty()) {  // authenticated only: in clear
              EXPECT_EQ(0, std::memcmp(p.data() + hdr, plain[i].data(), plain[i].size()));
            } else if (!t.gmac && plain[i].size() >= 16) {
              EXPECT_NE(0, std::memcmp(p.data() + hdr, plain[i].data(), 16));
            }
          }
          // Open as UDP payloads (RFC 3948) or as plain ESP.
          std::vector<OpenInfo> info(6);
          const size_t ok = udp ? db.open_udp(views, info) : db.open(views, info);
          EXPECT_EQ(ok, 5u);
          for (size_t i = 0; i < 6; ++i) {
            SCOPED_TRACE(i);
            EXPECT_EQ(info[i].seq, c.first_seq + i);
            if (i == 5) {
              EXPECT_EQ(views[i].status, Status::dummy_packet);
              EXPECT_EQ(info[i].next_header, kNextHeaderNone);
              continue;
            }
            ASSERT_EQ(views[i].status, Status::ok);
            for (size_t b = 1; b <= 4; ++b) EXPECT_EQ(views[i].buf[views[i].offset - hdr - b], 0xEE);
            Bytes want = plain[i];
            if (i == 2 && mode == Mode::transport) want.resize(200, 0);  // TFC stays
            EXPECT_EQ(to_hex(Bytes(views[i].data(), views[i].data() + views[i].length)),
                      to_hex(want));
            if (mode == Mode::transport)
              EXPECT_EQ(info[i].next_header, 17);
            else
              EXPECT_EQ(info[i].next_header, i % 2 ? kNextHeaderIpv6 : kNextHeaderIpv4);
            // Tunnel mode strips TFC padding by the inner length; transport
            // mode cannot know where the upper layer ends.
            if (i == 2) {
              EXPECT_EQ(info[i].tfc_stripped, mode == Mode::tunnel ? 200 - plain[i].size() : 0u);
            }
          }
          const Sa* in = db.find(Direction::open, c.spi);
          EXPECT_EQ(in->counters().packets, 6u);
          EXPECT_EQ(in->counters().dummy, 1u);
          EXPECT_EQ(in->replay().highest(), c.first_seq + 5);
        }
  EXPECT_EQ(combos, all_transforms().size() * 8);
}

TEST(EspRoundTrip, SameResultsOnEveryBackend) {
  test::for_each_backend([](Backend) {
    for (const Transform& t : all_transforms()) {
      SCOPED_TRACE(describe(t, true, Mode::tunnel, false));
      const Bytes keymat = test::random_bytes(suite_info(t.suite).key_len + 4, 77);
      SaConfig c = config(t, keymat, 0x2222, true, Mode::tunnel);
      Sadb db;
      ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
      ASSERT_EQ(db.install(Direction::open, c), Status::ok);
      Buf b(ipv4_packet(300, 5));
      ASSERT_EQ(db.seal(c.spi, {&b.view, 1}), 1u);
      ASSERT_EQ(db.open({&b.view, 1}), 1u);
      EXPECT_EQ(b.bytes(), ipv4_packet(300, 5));
    }
  });
}

// The high half is authenticated although it is not on the wire: a receiver
// that thinks it is in subspace 0 cannot open a packet from subspace 1.
TEST(EspEsn, HighHalfIsAuthenticated) {
  const Bytes keymat = test::random_bytes(20, 3);
  SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x500, true, Mode::tunnel);
  c.first_seq = (uint64_t{1} << 32) + 7;
  Sadb tx;
  ASSERT_EQ(tx.install(Direction::seal, c), Status::ok);
  Buf b(ipv4_packet(100, 1));
  ASSERT_EQ(tx.seal(c.spi, {&b.view, 1}), 1u);
  SaConfig r = c;
  r.highest_received = 3;  // window in subspace 0: Seql 7 reconstructs to Seqh 0
  Sadb rx0;
  ASSERT_EQ(rx0.install(Direction::open, r), Status::ok);
  Buf copy(b);
  EXPECT_EQ(rx0.open({&copy.view, 1}), 0u);
  EXPECT_EQ(copy.view.status, Status::auth_failed);
  r.highest_received = (uint64_t{1} << 32) + 3;
  Sadb rx1;
  ASSERT_EQ(rx1.install(Direction::open, r), Status::ok);
  OpenInfo info;
  EXPECT_EQ(rx1.open({&b.view, 1}, {&info, 1}), 1u);
  EXPECT_EQ(info.seq, (uint64_t{1} << 32) + 7);
}

// Crossing 2^32 with reordering on both sides of the boundary (Appendix A2
// case B in action), and late packets from the old subspace.
TEST(EspEsn, HighHalfWrapWithReordering) {
  const Bytes keymat = test::random_bytes(36, 4);
  SaConfig c = config({Suite::chacha20_poly1305, 16, false, false}, keymat, 0x600, true,
                      Mode::transport);
  c.first_seq = 0xfffffff0;
  c.highest_received = 0xffffffef;
  c.replay_window = 64;
  Sadb db;
  ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
  ASSERT_EQ(db.install(Direction::open, c), Status::ok);
  std::vector<Buf> bufs;
  for (int i = 0; i < 40; ++i) bufs.emplace_back(test::random_bytes(50, i));
  SealMeta m{6, false, 0};
  for (auto& b : bufs) ASSERT_EQ(db.seal(c.spi, {&b.view, 1}, {&m, 1}), 1u);
  const std::vector<Buf> wire = bufs;
  // seq(i) = 0xfffffff0 + i: i = 16 is 2^32.
  const int order[] = {0, 2, 20, 1, 15, 16, 39, 17, 3, 14};
  for (int i : order) {
    OpenInfo info;
    EXPECT_EQ(db.open({&bufs[i].view, 1}, {&info, 1}), 1u) << i;
    EXPECT_EQ(info.seq, uint64_t{0xfffffff0} + i) << i;
  }
  // Duplicates across the boundary are refused, nothing changes.
  for (int i : {15, 16, 0}) {
    Buf again(wire[i]);
    EXPECT_EQ(db.open({&again.view, 1}), 0u);
    EXPECT_EQ(again.view.status, Status::replayed) << i;
  }
  const Sa& sa = *db.find(Direction::open, c.spi);
  EXPECT_EQ(sa.replay().highest(), uint64_t{0xfffffff0} + 39);
  EXPECT_EQ(sa.counters().packets, 10u);
}

// RFC 4303 Appendix A3: the sender is two 2^32 subspaces ahead of the
// receiver's window (more than 2^32 packets lost). Every packet fails until
// the resync_after-th failure in a row is retried with Seqh + 1, + 2 and
// authenticates; the window top then moves to it and traffic flows again.
TEST(EspEsn, AppendixA3ResyncAfterLossOfMoreThanTwoToTheThirtyTwo) {
  for (const Transform& t : all_transforms()) {
    SCOPED_TRACE(describe(t, true, Mode::tunnel, false));
    const Bytes keymat = test::random_bytes(suite_info(t.suite).key_len + 4, 31);
    SaConfig c = config(t, keymat, 0x700, true, Mode::tunnel);
    c.first_seq = (uint64_t{5} << 32) + 100;
    c.resync_after = 4;
    c.resync_tries = 3;
    Sadb tx;
    ASSERT_EQ(tx.install(Direction::seal, c), Status::ok);
    SaConfig r = c;
    r.highest_received = (uint64_t{3} << 32) + 90;  // Seql 100.. reconstructs to Seqh 3
    Sadb rx;
    ASSERT_EQ(rx.install(Direction::open, r), Status::ok);
    const Sa& sa = *rx.find(Direction::open, c.spi);
    std::vector<Buf> pkts;
    std::vector<Bytes> plain;
    for (int i = 0; i < 6; ++i) {
      plain.push_back(ipv4_packet(80 + i, 40 + i));
      pkts.emplace_back(plain.back());
      ASSERT_EQ(tx.seal(c.spi, {&pkts.back().view, 1}), 1u);
    }
    for (int i = 0; i < 3; ++i) {
      const Bytes wire = pkts[i].bytes();
      EXPECT_EQ(rx.open({&pkts[i].view, 1}), 0u) << i;
      EXPECT_EQ(pkts[i].view.status, Status::auth_failed) << i;
      EXPECT_EQ(pkts[i].bytes(), wire) << i;  // as it arrived
    }
    EXPECT_EQ(sa.counters().resync_tries, 0u);  // not selected yet
    EXPECT_EQ(sa.replay().highest(), r.highest_received);
    // The fourth failure in a row is selected: Seqh 4 fails, Seqh 5 opens.
    OpenInfo info;
    EXPECT_EQ(rx.open({&pkts[3].view, 1}, {&info, 1}), 1u);
    EXPECT_EQ(pkts[3].view.status, Status::ok);
    EXPECT_EQ(pkts[3].bytes(), plain[3]);
    EXPECT_EQ(info.seq, (uint64_t{5} << 32) + 103);
    EXPECT_EQ(sa.counters().resync_tries, 2u);
    EXPECT_EQ(sa.counters().resyncs, 1u);
    EXPECT_EQ(sa.replay().highest(), (uint64_t{5} << 32) + 103);
    // Back in sync: the next packets open without retries; the earlier ones
    // still can (they are inside the window now).
    for (int i : {4, 5, 0}) {
      EXPECT_EQ(rx.open({&pkts[i].view, 1}), 1u) << i;
      EXPECT_EQ(pkts[i].bytes(), plain[i]) << i;
    }
    EXPECT_EQ(sa.counters().resync_tries, 2u);
    EXPECT_EQ(sa.counters().packets, 4u);
  }
}

// The retries are bounded: a sender further ahead than resync_tries subspaces
// is never accepted, an SA with resync_after = 0 never retries, a non-ESN SA
// never retries, and a flood of forgeries costs at most resync_tries extra
// opens per resync_after forgeries and changes no window state.
TEST(EspEsn, AppendixA3RetriesAreBoundedAndOptional) {
  const Bytes keymat = test::random_bytes(20, 32);
  const Transform gcm{Suite::aes128_gcm, 16, false, false};
  struct Case {
    bool esn;
    uint32_t after, tries;
    uint64_t ahead;  // subspaces the sender is ahead
  };
  for (const Case& k : {Case{true, 2, 3, 4}, Case{true, 0, 8, 1}, Case{false, 2, 8, 0}}) {
    SaConfig c = config(gcm, keymat, 0x701, k.esn, Mode::tunnel);
    c.resync_after = k.after;
    c.resync_tries = k.tries;
    c.first_seq = (k.ahead << 32) + 500;
    Sadb tx;
    ASSERT_EQ(tx.install(Direction::seal, c), Status::ok);
    SaConfig r = c;
    r.highest_received = 490;
    Sadb rx;
    ASSERT_EQ(rx.install(Direction::open, r), Status::ok);
    const Sa& sa = *rx.find(Direction::open, c.spi);
    for (int i = 0; i < 10; ++i) {
      Buf b(ipv4_packet(60, i));
      ASSERT_EQ(tx.seal(c.spi, {&b.view, 1}), 1u);
      if (!k.esn) b.view.data()[20] ^= 1;  // without ESN a forgery is the only failure
      EXPECT_EQ(rx.open({&b.view, 1}), 0u) << i;
      EXPECT_EQ(b.view.status, Status::auth_failed);
    }
    EXPECT_EQ(sa.counters().resyncs, 0u);
    EXPECT_EQ(sa.replay().highest(), 490u);
    const uint64_t selected = k.esn && k.after != 0 ? 10 / k.after : 0;
    EXPECT_EQ(sa.counters().resync_tries, selected * k.tries);
    EXPECT_EQ(sa.counters().integrity_failed, 10u);
  }
  // A success resets the count of failures in a row: failures either side of
  // it do not add up to a selection.
  SaConfig c = config(gcm, keymat, 0x702, true, Mode::tunnel);
  c.resync_after = 3;
  c.first_seq = 1000;
  Sadb tx, rx;
  ASSERT_EQ(tx.install(Direction::seal, c), Status::ok);
  ASSERT_EQ(rx.install(Direction::open, c), Status::ok);
  for (int round = 0; round < 4; ++round)
    for (int i = 0; i < 3; ++i) {
      Buf b(ipv4_packet(60, i));
      ASSERT_EQ(tx.seal(c.spi, {&b.view, 1}), 1u);
      if (i < 2) b.view.data()[20] ^= 1;
      EXPECT_EQ(rx.open({&b.view, 1}), i < 2 ? 0u : 1u);
    }
  EXPECT_EQ(rx.find(Direction::open, c.spi)->counters().resync_tries, 0u);
}

TEST(EspInstall, RefusesTooManyResyncTries) {
  const Bytes keymat = test::random_bytes(20, 33);
  SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x703, true, Mode::tunnel);
  c.resync_tries = 1025;
  Sadb db;
  EXPECT_EQ(db.install(Direction::open, c), Status::invalid_argument);
  c.resync_tries = 1024;
  EXPECT_EQ(db.install(Direction::open, c), Status::ok);
}

TEST(EspEsn, WithoutEsnTheCounterNeverWraps) {
  const Bytes keymat = test::random_bytes(20, 5);
  SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x700, false, Mode::tunnel);
  c.first_seq = 0xfffffffe;
  Sadb db;
  ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
  drain(db);
  Buf a(ipv4_packet(60, 1)), b(ipv4_packet(60, 2)), d(ipv4_packet(60, 3));
  EXPECT_EQ(db.seal(c.spi, {&a.view, 1}), 1u);
  EXPECT_EQ(db.seal(c.spi, {&b.view, 1}), 1u);  // 2^32 - 1: the last one allowed
  EXPECT_EQ(load_be32(b.view.data() + 4), 0xffffffffu);
  EXPECT_EQ(db.seal(c.spi, {&d.view, 1}), 0u);
  EXPECT_EQ(d.view.status, Status::key_exhausted);
  EXPECT_EQ(d.bytes(), ipv4_packet(60, 3));  // untouched
  auto ev = drain(db);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, KeyEvent::hard_limit);
  EXPECT_EQ(ev[0].epoch, 0x700u);
  // The same SA with ESN goes on into Seqh = 1.
  c.esn = true;
  c.spi = 0x701;
  ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
  for (int i = 0; i < 3; ++i) {
    Buf e(ipv4_packet(60, 4));
    EXPECT_EQ(db.seal(c.spi, {&e.view, 1}), 1u);
  }
  EXPECT_EQ(db.find(Direction::seal, c.spi)->next_seq(), (uint64_t{1} << 32) + 1);
}

// ---- Anti-replay (§3.4.3) against a model -----------------------------------------

struct Pool {
  Bytes keymat = test::random_bytes(20, 9);
  std::vector<Buf> pkts;  // sealed packets, seq = index + 1
  Pool(size_t n, bool esn, uint64_t first = 1) {
    SaConfig c = config({Suite::aes128_gcm, 16, false, true}, keymat, 0x900, esn, Mode::tunnel);
    c.first_seq = first;
    Sadb tx;
    EXPECT_EQ(tx.install(Direction::seal, c), Status::ok);
    for (size_t i = 0; i < n; ++i) {
      pkts.emplace_back(ipv4_packet(28, i), 16, 32);
      EXPECT_EQ(tx.seal(0x900, {&pkts.back().view, 1}), 1u);
    }
  }
  SaConfig rx(uint32_t window, bool esn) {
    SaConfig c = config({Suite::aes128_gcm, 16, false, true}, keymat, 0x900, esn, Mode::tunnel);
    c.replay_window = window;
    return c;
  }
};

TEST(EspReplay, WindowEdgesDuplicatesAndFarAhead) {
  Pool pool(6000, false);
  for (uint32_t w : {32u, 64u, 1000u, 4096u}) {
    SCOPED_TRACE(w);
    Sadb db;
    ASSERT_EQ(db.install(Direction::open, pool.rx(w, false)), Status::ok);
    auto open_seq = [&](uint64_t seq) {
      Buf b(pool.pkts[seq - 1]);
      db.open({&b.view, 1});
      return b.view.status;
    };
    const uint64_t top = 5000;
    EXPECT_EQ(open_seq(top), Status::ok);
    EXPECT_EQ(open_seq(top), Status::replayed);
    EXPECT_EQ(open_seq(top - w + 1), Status::ok);  // the oldest inside the window
    EXPECT_EQ(open_seq(top - w + 1), Status::replayed);
    EXPECT_EQ(open_seq(top - w), Status::too_old);  // just left of it
    EXPECT_EQ(open_seq(1), Status::too_old);
    EXPECT_EQ(open_seq(top - 1), Status::ok);
    EXPECT_EQ(open_seq(top + 1), Status::ok);       // right edge moves by one
    EXPECT_EQ(open_seq(top - w + 1), Status::too_old);  // and the oldest fell out
    EXPECT_EQ(open_seq(5990), Status::ok);          // far ahead
    EXPECT_EQ(open_seq(top + 2), w > 5990 - top - 2 ? Status::ok : Status::too_old);
    EXPECT_EQ(open_seq(5990), Status::replayed);
    const Sa* sa = db.find(Direction::open, 0x900);
    EXPECT_GE(sa->counters().replay, 5u);
  }
  SaConfig bad = pool.rx(31, false);
  Sadb db;
  EXPECT_EQ(db.install(Direction::open, bad), Status::invalid_argument);
  bad.replay_window = 4097;
  EXPECT_EQ(db.install(Direction::open, bad), Status::invalid_argument);
}

// Random arrival orders with duplicates, against a set-based model of §3.4.3.
TEST(EspReplay, MatchesModelOnRandomArrivals) {
  Pool pool(3000, false);
  std::mt19937_64 rng(42);
  for (uint32_t w : {32u, 100u, 4096u}) {
    SCOPED_TRACE(w);
    Sadb db;
    ASSERT_EQ(db.install(Direction::open, pool.rx(w, false)), Status::ok);
    std::set<uint64_t> seen;
    uint64_t top = 0;
    for (int step = 0; step < 4000; ++step) {
      // Mostly near the top, sometimes far behind or far ahead.
      const int64_t jitter = static_cast<int64_t>(rng() % (2 * w + 10)) - static_cast<int64_t>(w + 5);
      int64_t s = static_cast<int64_t>(top) + jitter + (rng() % 8 == 0 ? 40 : 1);
      s = std::clamp<int64_t>(s, 1, 3000);
      const uint64_t seq = static_cast<uint64_t>(s);
      Status want;
      if (seq > top || top == 0) want = Status::ok;
      else if (top - seq >= w) want = Status::too_old;
      else want = seen.count(seq) ? Status::replayed : Status::ok;
      Buf b(pool.pkts[seq - 1]);
      db.open({&b.view, 1});
      ASSERT_EQ(b.view.status, want) << "seq " << seq << " top " << top;
      if (want == Status::ok) {
        seen.insert(seq);
        top = std::max(top, seq);
      }
    }
  }
}

TEST(EspReplay, DuplicateInsideOneBurstIsRefusedAndRestored) {
  Pool pool(10, false);
  Sadb db;
  ASSERT_EQ(db.install(Direction::open, pool.rx(64, false)), Status::ok);
  Buf a(pool.pkts[4]), b(pool.pkts[4]), c(pool.pkts[5]);
  const Bytes wire = b.bytes();
  PacketView v[3] = {a.view, b.view, c.view};
  EXPECT_EQ(db.open(v), 2u);
  EXPECT_EQ(v[0].status, Status::ok);
  EXPECT_EQ(v[1].status, Status::replayed);
  EXPECT_EQ(Bytes(v[1].data(), v[1].data() + v[1].length), wire);  // as it arrived
  EXPECT_EQ(v[2].status, Status::ok);
}

TEST(EspReplay, EsnWindowAcrossTheHighHalfBoundary) {
  Pool pool(200, true, 0xffffff80);  // seq = 0xffffff80 + i crosses 2^32 at i = 128
  Sadb db;
  ASSERT_EQ(db.install(Direction::open, pool.rx(64, true)), Status::ok);
  auto open_i = [&](size_t i) {
    Buf b(pool.pkts[i]);
    OpenInfo info;
    db.open({&b.view, 1}, {&info, 1});
    if (b.view.status == Status::ok) {
      EXPECT_EQ(info.seq, 0xffffff80u + i);
    }
    return b.view.status;
  };
  EXPECT_EQ(open_i(100), Status::ok);
  EXPECT_EQ(open_i(130), Status::ok);   // 2^32 + 2: Seqh = 1
  EXPECT_EQ(open_i(127), Status::ok);   // 2^32 - 1, late: case B, Seqh = Th - 1
  EXPECT_EQ(open_i(127), Status::replayed);
  EXPECT_EQ(open_i(128), Status::ok);   // 2^32
  // 130 - 66 = 64 = W: just out of the window, but A2.2 case B maps a low half
  // below Bl to the current subspace (Seqh = 1, far ahead): the ICV then fails.
  EXPECT_EQ(open_i(66), Status::auth_failed);
  EXPECT_EQ(open_i(67), Status::ok);
  EXPECT_EQ(open_i(199), Status::ok);    // top 2^32 + 71, Bl = 8
  EXPECT_EQ(open_i(199), Status::replayed);
  EXPECT_EQ(open_i(140), Status::ok);    // 2^32 + 12: inside
  EXPECT_EQ(open_i(140), Status::replayed);
  // 2^32 + 2 is left of the window; case A reads a low half below Bl as the
  // next subspace (Seqh = 2), so it fails the ICV rather than the window.
  EXPECT_EQ(open_i(130), Status::auth_failed);
}

// ---- Trailer rules (§2.4) ----------------------------------------------------------

// Builds an ESP packet by hand (AES-128-GCM, no ESN, explicit IV) around any
// plaintext body = payload ‖ padding ‖ pad length ‖ next header.
Bytes handmade(const Bytes& keymat, uint32_t spi, uint32_t seq, const Bytes& body) {
  AeadKey key;
  EXPECT_EQ(key.init(Suite::aes128_gcm, {keymat.data(), 16}), Status::ok);
  Bytes pkt(16 + body.size() + 16);
  store_be32(pkt.data(), spi);
  store_be32(pkt.data() + 4, seq);
  store_be64(pkt.data() + 8, seq);
  std::memcpy(pkt.data() + 16, body.data(), body.size());
  AeadJob j;
  j.key = &key;
  std::memcpy(j.nonce, keymat.data() + 16, 4);
  std::memcpy(j.nonce + 4, pkt.data() + 8, 8);
  j.aad = {pkt.data(), 8};
  j.data = {pkt.data() + 16, body.size()};
  j.tag = pkt.data() + 16 + body.size();
  rl::seal({&j, 1});
  EXPECT_EQ(j.status, Status::ok);
  return pkt;
}

TEST(EspTrailer, PaddingAndNextHeaderRules) {
  const Bytes keymat = test::random_bytes(20, 11);
  Bytes inner = ipv4_packet(26, 1);
  auto body = [&](const Bytes& pad, uint8_t nh, const Bytes& payload) {
    Bytes b = payload;
    b.insert(b.end(), pad.begin(), pad.end());
    b.push_back(static_cast<uint8_t>(pad.size()));
    b.push_back(nh);
    return b;
  };
  struct Case {
    const char* what;
    Bytes body;
    Mode mode;
    Status want;
  } cases[] = {
      {"good", body(hex("0102030405060708"), 4, inner), Mode::tunnel, Status::ok},
      {"good, no padding", body({}, 4, inner), Mode::tunnel, Status::ok},
      {"pad byte wrong", body(hex("0102030405060709"), 4, inner), Mode::tunnel, Status::malformed},
      {"pad all zero", body(hex("0000"), 4, inner), Mode::tunnel, Status::malformed},
      {"pad starts at 0", body(hex("000102"), 4, inner), Mode::tunnel, Status::malformed},
      {"pad length beyond body", [&] { Bytes b = {1, 2}; b.push_back(200); b.push_back(4); return b; }(),
       Mode::tunnel, Status::malformed},
      {"tunnel, next header 17", body(hex("01"), 17, inner), Mode::tunnel, Status::malformed},
      {"tunnel, 4 with an IPv6 packet", body({}, 4, ipv6_packet(40, 2)), Mode::tunnel,
       Status::malformed},
      {"tunnel, 41 with an IPv6 packet", body({}, 41, ipv6_packet(40, 2)), Mode::tunnel, Status::ok},
      {"transport, next header 17", body(hex("01"), 17, inner), Mode::transport, Status::ok},
      {"dummy", body(hex("0102"), 59, test::random_bytes(9, 3)), Mode::tunnel, Status::dummy_packet},
      {"long legal padding", body([] { Bytes p; for (int i = 1; i <= 255; ++i) p.push_back(uint8_t(i)); return p; }(),
                                  4, inner), Mode::tunnel, Status::ok},
  };
  uint32_t seq = 1;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x4000, false, k.mode);
    Sadb db;
    ASSERT_EQ(db.install(Direction::open, c), Status::ok);
    const Bytes wire = handmade(keymat, 0x4000, seq, k.body);
    Buf b(wire);
    db.open({&b.view, 1});
    EXPECT_EQ(b.view.status, k.want);
    const Sa* sa = db.find(Direction::open, 0x4000);
    if (k.want == Status::malformed) {
      EXPECT_EQ(b.bytes(), wire);  // restored to the bytes that arrived
      EXPECT_TRUE(sa->replay().empty());
      EXPECT_EQ(sa->counters().packets, 0u);
      EXPECT_EQ(sa->counters().malformed, 1u);
      // The same sequence number is still acceptable afterwards.
      const Bytes good = handmade(keymat, 0x4000, seq, body({}, 4, inner));
      Buf g(good);
      db.open({&g.view, 1});
      EXPECT_EQ(g.view.status, Status::ok);
    } else {
      EXPECT_EQ(sa->replay().highest(), seq);
    }
    ++seq;
  }
}

// Every padding length 1..20 with every pad byte wrong in turn: the word-wide
// check for short padding and the byte loop for long padding agree with §2.4.
TEST(EspTrailer, EveryShortPaddingByteIsChecked) {
  const Bytes keymat = test::random_bytes(20, 12);
  const Bytes inner = ipv4_packet(26, 1);
  uint32_t seq = 1;
  for (size_t pad = 1; pad <= 20; ++pad)
    for (size_t wrong = 0; wrong <= pad; ++wrong) {  // wrong == pad: all bytes right
      SCOPED_TRACE("pad " + std::to_string(pad) + " wrong byte " + std::to_string(wrong));
      Bytes body = inner;
      for (size_t i = 0; i < pad; ++i)
        body.push_back(static_cast<uint8_t>(i + 1 + (i == wrong ? 0x40 : 0)));
      body.push_back(static_cast<uint8_t>(pad));
      body.push_back(4);
      SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x4001, false,
                          Mode::tunnel);
      Sadb db;
      ASSERT_EQ(db.install(Direction::open, c), Status::ok);
      Buf b(handmade(keymat, 0x4001, seq++, body));
      db.open({&b.view, 1});
      EXPECT_EQ(b.view.status, wrong == pad ? Status::ok : Status::malformed);
    }
}

// ---- Every-byte mutation --------------------------------------------------------

struct Snapshot {
  uint64_t top;
  bool empty;
  uint64_t packets, bytes, replay;
  bool operator==(const Snapshot&) const = default;
};
Snapshot snap(const Sa& sa) {
  return {sa.replay().highest(), sa.replay().empty(), sa.counters().packets, sa.counters().bytes,
          sa.counters().replay};
}

TEST(EspMutation, EveryByteFailsAndChangesNoState) {
  const Transform ts[] = {{Suite::aes128_gcm, 16, false, false},
                          {Suite::aes256_gcm, 8, false, false},
                          {Suite::aes256_gcm, 16, false, true},
                          {Suite::chacha20_poly1305, 16, false, false},
                          {Suite::aes128_gcm, 16, true, false}};
  for (const Transform& t : ts)
    for (bool esn : {false, true}) {
      SCOPED_TRACE(describe(t, esn, Mode::tunnel, false));
      const Bytes keymat = test::random_bytes(suite_info(t.suite).key_len + 4, 21);
      SaConfig c = config(t, keymat, 0x31337, esn, Mode::tunnel);
      c.first_seq = 0x100000010;
      if (!esn) c.first_seq = 0x10;
      c.highest_received = c.first_seq - 3;
      Sadb db;
      ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
      ASSERT_EQ(db.install(Direction::open, c), Status::ok);
      Buf sealed(ipv4_packet(61, 8));
      ASSERT_EQ(db.seal(c.spi, {&sealed.view, 1}), 1u);
      const Bytes wire = sealed.bytes();
      const Sa& sa = *db.find(Direction::open, c.spi);
      const Snapshot before = snap(sa);
      for (size_t i = 0; i < wire.size(); ++i)
        for (uint8_t x : {0x01, 0x80, 0xff}) {
          Bytes bad = wire;
          bad[i] ^= x;
          Buf b(bad);
          EXPECT_EQ(db.open({&b.view, 1}), 0u) << "byte " << i;
          EXPECT_NE(b.view.status, Status::ok);
          EXPECT_NE(b.view.status, Status::dummy_packet);
          EXPECT_EQ(b.bytes(), bad) << "byte " << i;  // left as it arrived
          Snapshot now = snap(sa);
          now.replay = before.replay;  // a mutated Seq may be counted as a replay: allowed
          EXPECT_EQ(now, before) << "byte " << i;
        }
      EXPECT_GT(sa.counters().integrity_failed, wire.size());
      // Truncations too.
      for (size_t n = 0; n < wire.size(); ++n) {
        Buf b(Bytes(wire.begin(), wire.begin() + n));
        EXPECT_EQ(db.open({&b.view, 1}), 0u);
        EXPECT_EQ(snap(sa).top, before.top);
      }
      // The original still opens.
      EXPECT_EQ(db.open({&sealed.view, 1}), 1u);
    }
}

// ---- Lifetimes (IKEv2 / xfrm) --------------------------------------------------------

TEST(EspLifetime, SoftAndHardPacketsBytesSeconds) {
  FakeClock clk;
  const Bytes keymat = test::random_bytes(36, 30);
  const Transform t{Suite::chacha20_poly1305, 16, false, false};
  struct Case {
    const char* what;
    Limits l;
    int soft_at, hard_at;  // packet index (1-based) whose seal triggers the event / refusal
    uint64_t advance;      // seconds per packet
  };
  Limits packets, bytes, seconds;
  packets.soft_records = 3;
  packets.hard_records = 5;
  bytes.soft_bytes = 250;  // 100 bytes per packet
  bytes.hard_bytes = 450;
  seconds.soft_age_s = 20;
  seconds.hard_age_s = 40;
  const Case cases[] = {{"packets", packets, 3, 6, 0},
                        {"bytes", bytes, 3, 5, 0},
                        {"seconds", seconds, 3, 5, 10}};
  for (const Case& k : cases)
    for (Direction dir : {Direction::seal, Direction::open}) {
      SCOPED_TRACE(std::string(k.what) + " " + to_string(dir));
      clk.t = 5000;
      Sadb db(clk.clock());
      SaConfig c = config(t, keymat, 0xabc, false, Mode::tunnel);
      SaConfig tx = c;
      if (dir == Direction::seal) c.lifetime = k.l;
      ASSERT_EQ(db.install(Direction::seal, dir == Direction::seal ? c : tx), Status::ok);
      SaConfig rx = c;
      rx.lifetime = dir == Direction::open ? k.l : Limits{};
      ASSERT_EQ(db.install(Direction::open, rx), Status::ok);
      drain(db);
      for (int i = 1; i <= 7; ++i) {
        SCOPED_TRACE(i);
        if (i > 1) clk.t += k.advance;
        Buf b(ipv4_packet(100, i));
        db.seal(c.spi, {&b.view, 1});
        Status st = b.view.status;
        if (dir == Direction::open && st == Status::ok) {
          db.open({&b.view, 1});
          st = b.view.status;
        }
        auto ev = drain(db);
        const bool want_soft = i == k.soft_at, want_hard = i == k.hard_at;
        EXPECT_EQ(st, i >= k.hard_at ? Status::key_expired : Status::ok);
        size_t soft = 0, hard = 0;
        for (auto& e : ev) {
          EXPECT_EQ(e.epoch, 0xabcu);
          EXPECT_EQ(e.dir, dir);
          soft += e.kind == KeyEvent::soft_limit;
          hard += e.kind == KeyEvent::hard_limit;
        }
        EXPECT_EQ(soft, want_soft ? 1u : 0u);
        EXPECT_EQ(hard, want_hard ? 1u : 0u);
      }
    }
}

TEST(EspLifetime, TickExpiresIdleSasAndWipes) {
  FakeClock clk;
  Sadb db(clk.clock());
  const Bytes keymat = test::random_bytes(20, 31);
  SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x77, false, Mode::tunnel);
  c.lifetime.soft_age_s = 100;
  c.lifetime.hard_age_s = 150;
  ASSERT_EQ(db.install(Direction::open, c), Status::ok);
  drain(db);
  clk.t += 99;
  db.tick();
  EXPECT_TRUE(drain(db).empty());
  clk.t += 1;
  db.tick();
  auto ev = drain(db);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, KeyEvent::soft_limit);
  clk.t += 50;
  db.tick();
  ev = drain(db);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, KeyEvent::hard_limit);
  EXPECT_EQ(ev[1].kind, KeyEvent::expired);
  EXPECT_FALSE(db.find(Direction::open, 0x77)->live());
  Buf b(handmade(keymat, 0x77, 1, Bytes{0x45, 0, 0, 4, 0, 4}));
  db.open({&b.view, 1});
  EXPECT_EQ(b.view.status, Status::key_expired);
}

TEST(EspLifetime, IntegrityBudgetKillsTheSa) {
  const Bytes keymat = test::random_bytes(20, 32);
  SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x88, false, Mode::tunnel);
  c.lifetime.max_auth_failures = 3;
  Sadb db;
  ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
  ASSERT_EQ(db.install(Direction::open, c), Status::ok);
  drain(db);
  std::vector<Buf> bufs;
  for (int i = 0; i < 5; ++i) bufs.emplace_back(ipv4_packet(40, i));
  std::vector<PacketView> v;
  for (auto& b : bufs) v.push_back(b.view);
  ASSERT_EQ(db.seal(0x88, v), 5u);
  for (int i : {0, 1, 2}) v[i].data()[20] ^= 1;  // three forgeries, then two good packets
  const Bytes good3 = Bytes(v[3].data(), v[3].data() + v[3].length);
  EXPECT_EQ(db.open(v), 0u);
  EXPECT_EQ(v[2].status, Status::auth_failed);
  EXPECT_EQ(v[3].status, Status::key_expired);
  EXPECT_EQ(Bytes(v[3].data(), v[3].data() + v[3].length), good3);  // restored
  auto ev = drain(db);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, KeyEvent::integrity_limit);
  EXPECT_EQ(ev[1].kind, KeyEvent::expired);
}

// ---- Rekey: make before break ------------------------------------------------------

TEST(EspRekey, OldAndNewInboundSasOverlapUntilTheOldIsRemoved) {
  Sadb peer, us;
  const Bytes k_old = test::random_bytes(36, 40), k_new = test::random_bytes(36, 41);
  const Transform t{Suite::aes256_gcm, 16, false, false};
  SaConfig old_sa = config(t, k_old, 0x1111, true, Mode::tunnel);
  SaConfig new_sa = config(t, k_new, 0x2222, true, Mode::tunnel);
  ASSERT_EQ(peer.install(Direction::seal, old_sa), Status::ok);
  ASSERT_EQ(us.install(Direction::open, old_sa), Status::ok);
  std::vector<Buf> late;
  for (int i = 0; i < 3; ++i) {
    late.emplace_back(ipv4_packet(80, i));
    ASSERT_EQ(peer.seal(0x1111, {&late.back().view, 1}), 1u);
  }
  // Rekey: inbound new SA first, then the peer switches and drops its old SA.
  ASSERT_EQ(us.install(Direction::open, new_sa), Status::ok);
  EXPECT_EQ(us.install(Direction::open, new_sa), Status::invalid_argument);  // same SPI twice
  ASSERT_EQ(peer.install(Direction::seal, new_sa), Status::ok);
  ASSERT_EQ(peer.remove(Direction::seal, 0x1111), Status::ok);
  std::vector<Buf> fresh;
  for (int i = 0; i < 3; ++i) {
    fresh.emplace_back(ipv4_packet(80, 10 + i));
    ASSERT_EQ(peer.seal(0x2222, {&fresh.back().view, 1}), 1u);
  }
  EXPECT_EQ(peer.seal(0x1111, {&fresh[0].view, 1}), 0u);
  // One burst mixing both SAs: all open; the new SA's first packet tells the
  // IKE daemon that the peer has moved to it.
  drain(us);
  std::vector<PacketView> mix = {fresh[0].view, late[0].view, fresh[1].view, late[1].view};
  EXPECT_EQ(us.open(mix), 4u);
  auto ev = drain(us);
  std::map<uint64_t, size_t> first_packet;  // one peer_updated per SA (the old one
  for (const KeyEvent& e : ev)               // had not opened anything yet either)
    if (e.kind == KeyEvent::peer_updated) {
      EXPECT_EQ(e.dir, Direction::open);
      ++first_packet[e.epoch];
    }
  EXPECT_EQ(first_packet, (std::map<uint64_t, size_t>{{0x1111, 1}, {0x2222, 1}}));
  EXPECT_EQ(us.open({&fresh[2].view, 1}), 1u);
  EXPECT_TRUE(drain(us).empty());  // only the first packet says so
  // The caller deletes the old SA: its late packets are now unknown.
  ASSERT_EQ(us.remove(Direction::open, 0x1111), Status::ok);
  EXPECT_EQ(us.remove(Direction::open, 0x1111), Status::unknown_epoch);
  EXPECT_EQ(us.open({&late[2].view, 1}), 0u);
  EXPECT_EQ(late[2].view.status, Status::unknown_epoch);
  EXPECT_EQ(us.find(Direction::open, 0x2222)->counters().packets, 3u);
}

// Mobility (RFC 8922 ME / MOBIKE): the SA knows nothing of addresses, so the
// same SA keeps opening after the caller moves the peer's endpoint; with UDP
// encapsulation appearing mid-stream (NAT detected) as well.
TEST(EspMobility, SaSurvivesEndpointAndEncapsulationChange) {
  const Bytes keymat = test::random_bytes(20, 50);
  SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x5151, true, Mode::tunnel);
  Sadb db;
  ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
  ASSERT_EQ(db.install(Direction::open, c), Status::ok);
  Buf a(ipv4_packet(50, 1)), b(ipv4_packet(50, 2));
  ASSERT_EQ(db.seal(c.spi, {&a.view, 1}), 1u);
  ASSERT_EQ(db.seal(c.spi, {&b.view, 1}), 1u);
  EXPECT_EQ(db.open({&a.view, 1}), 1u);
  EXPECT_EQ(db.open_udp({&b.view, 1}), 1u);
  EXPECT_EQ(db.find(Direction::open, c.spi)->replay().highest(), 2u);
}

// ---- RFC 3948 framing ----------------------------------------------------------------

TEST(EspUdp, ClassifiesMarkerKeepaliveAndEsp) {
  EXPECT_EQ(classify_udp(hex("ff")), Status::keepalive);
  EXPECT_EQ(classify_udp(hex("00000000 2a2a2a2a")), Status::not_protected);
  EXPECT_EQ(classify_udp(hex("00000000")), Status::not_protected);
  EXPECT_EQ(classify_udp(hex("00001000 00000001")), Status::ok);
  EXPECT_EQ(classify_udp(hex("00001000 0000")), Status::truncated);
  EXPECT_EQ(classify_udp({}), Status::truncated);
  EXPECT_EQ(classify_udp(hex("fe")), Status::malformed);
  EXPECT_EQ(classify_udp(hex("ffff")), Status::malformed);

  Sadb db;
  Bytes ike = test::random_bytes(60, 1);
  Buf framed(ike);
  ASSERT_EQ(frame_ike(framed.view), Status::ok);
  EXPECT_EQ(framed.view.length, 64u);
  Buf ka(Bytes{}, 8, 8);
  ASSERT_EQ(make_keepalive(ka.view), Status::ok);
  Buf unknown(hex("00001234 00000001 0000000000000000 00 00 00 00 00000000000000000000000000000000"));
  Buf tiny(hex("0102"));
  PacketView v[4] = {framed.view, ka.view, unknown.view, tiny.view};
  OpenInfo info[4];
  EXPECT_EQ(db.open_udp(v, info), 0u);
  EXPECT_EQ(v[0].status, Status::not_protected);
  EXPECT_EQ(Bytes(v[0].data(), v[0].data() + v[0].length), ike);  // marker stripped
  EXPECT_EQ(v[1].status, Status::keepalive);
  EXPECT_EQ(v[2].status, Status::unknown_epoch);
  EXPECT_EQ(v[3].status, Status::malformed);
  // Without encapsulation the marker is simply a packet too short / unknown.
  Buf plain_ka(hex("ff"));
  EXPECT_EQ(db.open({&plain_ka.view, 1}), 0u);
  EXPECT_EQ(plain_ka.view.status, Status::truncated);
}

// ---- Misuse -------------------------------------------------------------------------

TEST(EspInstall, RefusesBadConfigurations) {
  Sadb db;
  const Bytes k16 = test::random_bytes(20, 1), k32 = test::random_bytes(36, 2);
  auto try_install = [&](Direction d, SaConfig c) {
    Sadb fresh;
    return fresh.install(d, c);
  };
  SaConfig c = config({Suite::aes128_gcm, 16, false, false}, k16, 0x10, false, Mode::tunnel);
  EXPECT_EQ(try_install(Direction::seal, c), Status::ok);
  SaConfig x = c;
  x.keymat = {k16.data(), 16};  // salt missing
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);
  x = c;
  x.icv_len = 4;
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);
  x = config({Suite::chacha20_poly1305, 12, false, false}, k32, 0x10, false, Mode::tunnel);
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);  // RFC 7634: ICV 16
  x = config({Suite::chacha20_poly1305, 16, true, false}, k32, 0x10, false, Mode::tunnel);
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);  // GMAC is AES only
  x = config({Suite::aes128_gcm, 8, true, false}, k16, 0x10, false, Mode::tunnel);
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);  // RFC 4543: ICV 16
  x = config({Suite::aes128_gcm, 12, false, true}, k16, 0x10, false, Mode::tunnel);
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);  // RFC 8750: GCM_16 only
  x = config({Suite::aes128_gcm, 16, true, true}, k16, 0x10, false, Mode::tunnel);
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);  // no GMAC IIV
  x = config({Suite::chacha20_poly1305, 16, false, true}, k32, 0x10, true, Mode::tunnel);
  EXPECT_EQ(try_install(Direction::seal, x), Status::ok);
  x = c;
  x.first_seq = 0;
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);
  x.first_seq = uint64_t{1} << 32;  // beyond a 32-bit counter
  EXPECT_EQ(try_install(Direction::seal, x), Status::invalid_argument);
  x.esn = true;
  EXPECT_EQ(try_install(Direction::seal, x), Status::ok);
}

TEST(EspSeal, RoomAndNextHeaderChecks) {
  const Bytes keymat = test::random_bytes(20, 60);
  Sadb db;
  SaConfig t = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x61, false, Mode::tunnel);
  SaConfig tr = t;
  tr.spi = 0x62;
  tr.mode = Mode::transport;
  ASSERT_EQ(db.install(Direction::seal, t), Status::ok);
  ASSERT_EQ(db.install(Direction::seal, tr), Status::ok);
  Buf no_head(ipv4_packet(40, 1), 15, 64), no_tail(ipv4_packet(40, 1), 16, 19),
      just(ipv4_packet(40, 1), 16, 20), not_ip(hex("12345678"));
  EXPECT_EQ(db.seal(0x61, {&no_head.view, 1}), 0u);
  EXPECT_EQ(no_head.view.status, Status::buffer_too_small);
  EXPECT_EQ(db.seal(0x61, {&no_tail.view, 1}), 0u);
  EXPECT_EQ(no_tail.view.status, Status::buffer_too_small);
  EXPECT_EQ(db.seal(0x61, {&just.view, 1}), 1u);
  EXPECT_EQ(just.view.offset, 0u);
  EXPECT_EQ(just.view.length, just.mem.size());
  EXPECT_EQ(db.seal(0x61, {&not_ip.view, 1}), 0u);
  EXPECT_EQ(not_ip.view.status, Status::invalid_argument);
  Buf tp(test::random_bytes(10, 2));
  EXPECT_EQ(db.seal(0x62, {&tp.view, 1}), 0u);  // transport needs the caller's next header
  EXPECT_EQ(tp.view.status, Status::invalid_argument);
  EXPECT_EQ(db.seal(0x63, {&tp.view, 1}), 0u);
  EXPECT_EQ(tp.view.status, Status::unknown_epoch);
  // Refused packets consumed no sequence number.
  EXPECT_EQ(db.find(Direction::seal, 0x61)->next_seq(), 2u);
}

// A burst larger than one AEAD call is chunked and still numbered in order.
TEST(EspSeal, LongBurstIsChunked) {
  const Bytes keymat = test::random_bytes(36, 70);
  SaConfig c = config({Suite::chacha20_poly1305, 16, false, true}, keymat, 0x71, true,
                      Mode::tunnel);
  Sadb db;
  ASSERT_EQ(db.install(Direction::seal, c), Status::ok);
  c.replay_window = 4096;
  ASSERT_EQ(db.install(Direction::open, c), Status::ok);
  std::vector<Buf> bufs;
  for (int i = 0; i < 200; ++i) bufs.emplace_back(ipv4_packet(60 + i, i));
  std::vector<PacketView> v;
  for (auto& b : bufs) v.push_back(b.view);
  ASSERT_EQ(db.seal(0x71, v), 200u);
  std::reverse(v.begin(), v.end());
  std::vector<OpenInfo> info(200);
  EXPECT_EQ(db.open(v, info), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(info[i].seq, 200u - i);
}

// ---- Mixed bursts against one packet at a time -----------------------------------
// Sadb::open runs a lean path for the common burst (packets of one SA rising
// above the window) and the general path for everything else, switching
// within one burst. A burst mixing ordinary packets with replays, forged ICVs,
// bad padding, dummies, TFC padding, another SA's packets, unknown SPIs,
// truncated and reordered packets, across an ESN high-half change, must end
// exactly as opening the same packets one at a time does: statuses, bytes,
// OpenInfo, events and SA state.

// Re-encrypts an ESP packet after `edit` changed its plaintext body (payload ‖
// padding ‖ pad length ‖ next header): the ICV verifies, the trailer may not.
template <class Edit>
Bytes reencrypt(const Bytes& wire, const Transform& t, const Bytes& keymat, bool esn,
                uint64_t seq, Edit edit) {
  const size_t klen = suite_info(t.suite).key_len, hdr = t.implicit_iv ? 8 : 16;
  AeadKey key;
  EXPECT_EQ(key.init(t.suite, {keymat.data(), klen}, t.icv), Status::ok);
  Bytes pkt = wire;
  AeadJob j;
  j.key = &key;
  std::memcpy(j.nonce, keymat.data() + klen, 4);
  if (t.implicit_iv)
    store_be64(j.nonce + 4, seq);
  else
    std::memcpy(j.nonce + 4, pkt.data() + 8, 8);
  uint8_t aad[12];
  std::memcpy(aad, pkt.data(), 4);
  if (esn) {
    store_be32(aad + 4, static_cast<uint32_t>(seq >> 32));
    std::memcpy(aad + 8, pkt.data() + 4, 4);
    j.aad = {aad, 12};
  } else {
    j.aad = {pkt.data(), 8};
  }
  j.data = {pkt.data() + hdr, pkt.size() - hdr - t.icv};
  j.tag = pkt.data() + pkt.size() - t.icv;
  rl::open({&j, 1});
  EXPECT_EQ(j.status, Status::ok);
  edit(j.data);
  rl::seal({&j, 1});
  return pkt;
}

struct MixResult {
  std::vector<Status> status;
  std::vector<Bytes> bytes;
  std::vector<OpenInfo> info;
  std::vector<KeyEvent::Kind> events;
  std::vector<uint64_t> state;  // per inbound SA: window top, counters
};

// One SA's shape in the burst tests below: transform, ESN, mode, first
// sequence number.
struct BurstSetup {
  Transform t;
  bool esn;
  Mode mode;
  uint64_t first;
};

TEST(EspBurst, MixedBurstsMatchOneAtATime) {
  const BurstSetup setups[] = {
      {{Suite::aes128_gcm, 16, false, false}, false, Mode::tunnel, 1},
      {{Suite::aes256_gcm, 12, false, false}, true, Mode::tunnel, (uint64_t{1} << 32) - 40},
      {{Suite::chacha20_poly1305, 16, false, true}, true, Mode::transport, (uint64_t{5} << 32) - 30},
      {{Suite::aes128_gcm, 16, false, true}, false, Mode::tunnel, 1000},
      {{Suite::aes128_gcm, 16, true, false}, true, Mode::tunnel, 1},  // GMAC: general path only
  };
  constexpr uint32_t kSpiA = 0x5100, kSpiB = 0x5200;
  for (const BurstSetup& su : setups)
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      SCOPED_TRACE(describe(su.t, su.esn, su.mode, false) + " seed " + std::to_string(seed));
      std::mt19937_64 rng(seed * 7919 + static_cast<uint64_t>(su.t.suite));
      const Bytes keymat = test::random_bytes(suite_info(su.t.suite).key_len + kSaltLen, seed);
      const Bytes keymat_b = test::random_bytes(suite_info(su.t.suite).key_len + kSaltLen, seed + 99);
      SaConfig ca = config(su.t, keymat, kSpiA, su.esn, su.mode);
      SaConfig cb = config(su.t, keymat_b, kSpiB, su.esn, su.mode);
      ca.first_seq = cb.first_seq = su.first;
      ca.highest_received = cb.highest_received = su.first - 1;
      ca.replay_window = 64;
      cb.replay_window = 128;
      Sadb tx;
      ASSERT_EQ(tx.install(Direction::seal, ca), Status::ok);
      ASSERT_EQ(tx.install(Direction::seal, cb), Status::ok);
      std::map<std::string, Bytes> sealed_plain;  // wire packet (hex) -> the inner packet sealed
      auto seal_one = [&](uint32_t spi, size_t len, SealMeta m) {
        Bytes inner = su.mode == Mode::tunnel ? (rng() & 1 ? ipv4_packet(len, rng())
                                                            : ipv6_packet(len + 40, rng()))
                                              : test::random_bytes(len, rng());
        if (su.mode == Mode::transport) m.next_header = m.next_header ? m.next_header : 17;
        Buf b(inner, 64, 128);
        EXPECT_EQ(tx.seal(spi, {&b.view, 1}, {&m, 1}), 1u);
        if (!m.dummy) sealed_plain[to_hex(b.bytes())] = inner;
        return b.bytes();
      };
      // The arrival list: mostly A's packets in order, with every kind of
      // packet the lean path must hand to the general one.
      std::vector<Bytes> wire;
      std::vector<Bytes> sent_a;
      uint64_t seq_a = su.first;
      for (int i = 0; i < 150; ++i) {
        // The first ones go through every kind once; then at random.
        static constexpr unsigned kFirst[] = {0, 60, 64, 68, 72, 75, 78, 84, 86, 88, 94, 0};
        const unsigned kind = i < 12 ? kFirst[i] : static_cast<unsigned>(rng() % 100);
        const size_t len = 60 + rng() % 200;
        if (kind < 60 || sent_a.empty()) {
          sent_a.push_back(seal_one(kSpiA, len, {}));
          wire.push_back(sent_a.back());
          ++seq_a;
        } else if (kind < 64) {
          // A replay of a recent packet: still inside the window whether the
          // window is the burst's or the moment's (further back, a burst
          // judges against the window as the burst found it: replayed where
          // one at a time says too_old, or with ESN another Seqh and a
          // failed ICV; both refusals that change nothing).
          wire.push_back(sent_a[sent_a.size() - 1 - rng() % std::min<size_t>(sent_a.size(), 8)]);
        } else if (kind < 68) {  // forged ICV
          Bytes f = seal_one(kSpiA, len, {});
          ++seq_a;
          f[f.size() - 1 - rng() % su.t.icv] ^= 0x10;
          wire.push_back(f);
        } else if (kind < 72 && !su.t.gmac) {  // authenticated, bad padding
          SealMeta m;
          const Bytes ok = seal_one(kSpiA, (len & ~size_t{3}) + 1, m);  // padding 1..3 bytes
          wire.push_back(reencrypt(ok, su.t, keymat, su.esn, seq_a++, [&](std::span<uint8_t> body) {
            body[body.size() - 3] ^= 0x20;  // the last padding byte
          }));
        } else if (kind < 75) {  // dummy
          SealMeta m;
          m.dummy = true;
          wire.push_back(seal_one(kSpiA, len, m));
          ++seq_a;
        } else if (kind < 78) {  // TFC padding
          SealMeta m;
          m.tfc_pad_to = static_cast<uint32_t>(len + 40 + rng() % 50);
          wire.push_back(seal_one(kSpiA, len, m));
          ++seq_a;
        } else if (kind < 84) {  // the other SA
          wire.push_back(seal_one(kSpiB, len, {}));
        } else if (kind < 86) {  // unknown SPI
          Bytes u = seal_one(kSpiB, len, {});
          store_be32(u.data(), 0x5300);
          wire.push_back(u);
        } else if (kind < 88) {  // truncated
          Bytes tr = seal_one(kSpiA, len, {});
          ++seq_a;
          tr.resize(rng() % 26);  // below the shortest ESP packet (8 + 2 + ICV 16)
          wire.push_back(tr);
        } else if (kind < 94) {  // sent, held back and delivered a little later
          Bytes late = seal_one(kSpiA, len, {});
          ++seq_a;
          const size_t at = wire.size() - std::min<size_t>(wire.size(), rng() % 4);
          sent_a.push_back(seal_one(kSpiA, len, {}));
          ++seq_a;
          wire.push_back(sent_a.back());
          wire.insert(wire.begin() + static_cast<ptrdiff_t>(std::max(at, wire.size() - 1)), late);
        } else {  // a gap: lost packets
          seal_one(kSpiA, len, {});
          ++seq_a;
        }
      }
      // Opens `wire` in bursts whose sizes `next_burst` picks, on fresh SAs.
      // `general`: SAs with a soft packet lifetime of 1, never quiet, so that
      // every packet takes the general path (the reference for the lean one;
      // the soft_limit event it queues is left out). `with_info`: pass OpenInfo.
      // `udp`: through open_udp (RFC 3948). `soft`/`hard`: packet lifetimes
      // reached on the way (their events kept).
      struct Opt {
        bool udp = false;
        uint64_t soft = kUnlimited, hard = kUnlimited;
      };
      auto run = [&](auto next_burst, bool general = false, bool with_info = true, Opt opt = {}) {
        Sadb rx;
        SaConfig ra = ca, rb = cb;
        if (general) ra.lifetime.soft_records = rb.lifetime.soft_records = 1;
        if (opt.soft != kUnlimited) ra.lifetime.soft_records = rb.lifetime.soft_records = opt.soft;
        if (opt.hard != kUnlimited) ra.lifetime.hard_records = rb.lifetime.hard_records = opt.hard;
        EXPECT_EQ(rx.install(Direction::open, ra), Status::ok);
        EXPECT_EQ(rx.install(Direction::open, rb), Status::ok);
        drain(rx);
        MixResult r;
        std::vector<Buf> bufs;
        for (const Bytes& w : wire) bufs.emplace_back(w);
        std::vector<PacketView> views;
        for (Buf& b : bufs) views.push_back(b.view);
        r.info.resize(wire.size());
        for (size_t at = 0; at < wire.size();) {
          const size_t n = std::min(next_burst(), wire.size() - at);
          const std::span<PacketView> burst{views.data() + at, n};
          const std::span<OpenInfo> info = with_info ? std::span<OpenInfo>{r.info.data() + at, n}
                                                     : std::span<OpenInfo>{};
          if (opt.udp)
            rx.open_udp(burst, info);
          else
            rx.open(burst, info);
          at += n;
        }
        for (const PacketView& v : views) {
          r.status.push_back(v.status);
          r.bytes.push_back(Bytes(v.data(), v.data() + v.length));
        }
        for (const KeyEvent& e : drain(rx))
          if (e.kind != KeyEvent::soft_limit || !general) r.events.push_back(e.kind);
        for (uint32_t spi : {kSpiA, kSpiB}) {
          const Sa* sa = rx.find(Direction::open, spi);
          const SaCounters& k = sa->counters();
          r.state.insert(r.state.end(), {sa->replay().highest(), k.packets, k.bytes, k.replay,
                                         k.integrity_failed, k.malformed, k.dummy});
        }
        return r;
      };
      const MixResult one = run([] { return size_t{1}; });
      const MixResult all = run([] { return size_t{64}; });
      std::mt19937_64 split(seed);
      const MixResult some = run([&] { return size_t{1} + split() % 40; });
      const MixResult general = run([] { return size_t{64}; }, true);
      const MixResult general_one = run([] { return size_t{1}; }, true);
      MixResult no_info = run([] { return size_t{64}; }, false, false);
      no_info.info = one.info;  // not asked for: compared below without it
      MixResult no_info_one = run([] { return size_t{1}; }, false, false);
      no_info_one.info = one.info;
      // The reference saw every kind of packet the lean path leaves.
      std::set<Status> kinds(one.status.begin(), one.status.end());
      for (Status want : {Status::ok, Status::replayed, Status::auth_failed, Status::dummy_packet,
                          Status::unknown_epoch, Status::truncated})
        EXPECT_TRUE(kinds.count(want)) << "no packet ended as " << static_cast<int>(want);
      if (!su.t.gmac) {
        EXPECT_TRUE(kinds.count(Status::malformed));
      }
      // What authenticated opened to exactly what was sealed.
      size_t opened = 0;
      for (size_t i = 0; i < wire.size(); ++i) {
        if (one.status[i] != Status::ok) continue;
        ++opened;
        const auto it = sealed_plain.find(to_hex(wire[i]));
        ASSERT_NE(it, sealed_plain.end()) << "packet " << i;
        // Transport mode cannot strip TFC padding (§2.7: the payload states
        // no length): it stays, as the zero bytes the sender added.
        Bytes want = it->second;
        if (su.mode == Mode::transport && one.bytes[i].size() > want.size())
          want.resize(one.bytes[i].size(), 0);
        EXPECT_EQ(to_hex(one.bytes[i]), to_hex(want)) << "packet " << i;
      }
      EXPECT_GT(opened, 60u);
      // Bursts of one packet (Sadb::open_one) against the general path one
      // at a time and in bursts, with and without OpenInfo.
      for (const MixResult* r : {&all, &some, &general, &general_one,
                                 static_cast<const MixResult*>(&no_info),
                                 static_cast<const MixResult*>(&no_info_one)}) {
        ASSERT_EQ(r->status.size(), one.status.size());
        for (size_t i = 0; i < one.status.size(); ++i) {
          SCOPED_TRACE("packet " + std::to_string(i));
          EXPECT_EQ(r->status[i], one.status[i]);
          EXPECT_EQ(to_hex(r->bytes[i]), to_hex(one.bytes[i]));
          EXPECT_EQ(r->info[i].spi, one.info[i].spi);
          EXPECT_EQ(r->info[i].seq, one.info[i].seq);
          EXPECT_EQ(r->info[i].next_header, one.info[i].next_header);
          EXPECT_EQ(r->info[i].tfc_stripped, one.info[i].tfc_stripped);
        }
        EXPECT_EQ(r->events, one.events);
        EXPECT_EQ(r->state, one.state);
      }
      // RFC 3948 UDP encapsulation (open_udp, one at a time and in bursts):
      // what is 8 bytes or more ends as above; shorter packets are classified
      // (truncated or malformed) and change nothing.
      const MixResult udp_one = run([] { return size_t{1}; }, false, true, {true});
      const MixResult udp_all = run([] { return size_t{64}; }, false, true, {true});
      const MixResult udp_general = run([] { return size_t{1}; }, true, true, {true});
      for (const MixResult* r : {&udp_one, &udp_all, &udp_general}) {
        ASSERT_EQ(r->status.size(), one.status.size());
        for (size_t i = 0; i < one.status.size(); ++i) {
          SCOPED_TRACE("udp packet " + std::to_string(i));
          EXPECT_EQ(r->status[i], udp_one.status[i]);
          EXPECT_EQ(to_hex(r->bytes[i]), to_hex(udp_one.bytes[i]));
          if (wire[i].size() < 8) {
            EXPECT_EQ(r->status[i], classify_udp(wire[i]));
            EXPECT_EQ(to_hex(r->bytes[i]), to_hex(wire[i]));
            continue;
          }
          EXPECT_EQ(r->status[i], one.status[i]);
          EXPECT_EQ(to_hex(r->bytes[i]), to_hex(one.bytes[i]));
          EXPECT_EQ(r->info[i].seq, one.info[i].seq);
          EXPECT_EQ(r->info[i].tfc_stripped, one.info[i].tfc_stripped);
        }
        EXPECT_EQ(r->events, one.events);
        EXPECT_EQ(r->state, one.state);
      }
      // Packet lifetimes reached on the way. Soft: the SAs stop being quiet
      // (an event, and every packet after it takes the general path); one at
      // a time against bursts, events included. Hard: the SAs refuse; one at
      // a time against the general path one at a time (a burst judges its
      // refusals against the counters as the burst found them).
      const Opt soft{false, 20, kUnlimited}, hard{false, kUnlimited, 45};
      const MixResult soft_one = run([] { return size_t{1}; }, false, true, soft);
      std::mt19937_64 split2(seed + 1);
      for (const MixResult& r : {run([] { return size_t{64}; }, false, true, soft),
                                 run([&] { return size_t{1} + split2() % 7; }, false, true, soft)}) {
        ASSERT_EQ(r.status.size(), soft_one.status.size());
        for (size_t i = 0; i < soft_one.status.size(); ++i) {
          SCOPED_TRACE("soft lifetime packet " + std::to_string(i));
          EXPECT_EQ(r.status[i], soft_one.status[i]);
          EXPECT_EQ(to_hex(r.bytes[i]), to_hex(soft_one.bytes[i]));
        }
        EXPECT_EQ(r.events, soft_one.events);
        EXPECT_EQ(r.state, soft_one.state);
      }
      EXPECT_TRUE(std::count(soft_one.events.begin(), soft_one.events.end(), KeyEvent::soft_limit));
      const MixResult life_one = run([] { return size_t{1}; }, false, true, hard);
      const MixResult life_general = run([] { return size_t{1}; }, true, true, hard);
      ASSERT_EQ(life_general.status.size(), life_one.status.size());
      for (size_t i = 0; i < life_one.status.size(); ++i) {
        SCOPED_TRACE("hard lifetime packet " + std::to_string(i));
        EXPECT_EQ(life_general.status[i], life_one.status[i]);
        EXPECT_EQ(to_hex(life_general.bytes[i]), to_hex(life_one.bytes[i]));
        EXPECT_EQ(life_general.info[i].seq, life_one.info[i].seq);
      }
      EXPECT_EQ(life_general.events, life_one.events);
      EXPECT_EQ(life_general.state, life_one.state);
      std::set<Status> life_kinds(life_one.status.begin(), life_one.status.end());
      EXPECT_TRUE(life_kinds.count(Status::key_expired));
    }
}

// `n` packets sealed one at a time on an SA with config `c` (its spi), small
// IPv4 packets made from `seed`.
std::vector<Buf> sealed_packets(const SaConfig& c, int n, uint64_t seed) {
  Sadb tx;
  EXPECT_EQ(tx.install(Direction::seal, c), Status::ok);
  std::vector<Buf> out;
  for (int i = 0; i < n; ++i) out.emplace_back(ipv4_packet(60, seed + i));
  for (Buf& b : out) EXPECT_EQ(tx.seal(c.spi, {&b.view, 1}), 1u);
  return out;
}

// What a fresh inbound SA with config `c` makes of `bursts` (copies of each),
// opened as bursts or one packet at a time: every packet's status and bytes
// after, and the SA's counters.
struct Opened {
  std::vector<Status> status;
  std::vector<Bytes> bytes;
  SaCounters counters;
};
Opened open_bursts(const SaConfig& c, const std::vector<std::vector<Buf>>& bursts, bool one_at_a_time) {
  Opened r;
  Sadb rx;
  EXPECT_EQ(rx.install(Direction::open, c), Status::ok);
  for (const std::vector<Buf>& burst : bursts) {
    std::vector<Buf> in = burst;
    std::vector<PacketView> v;
    for (Buf& x : in) v.push_back(x.view);
    if (one_at_a_time)
      for (PacketView& x : v) rx.open({&x, 1});
    else
      rx.open(v);
    for (const PacketView& x : v) {
      r.status.push_back(x.status);
      r.bytes.push_back(Bytes(x.data(), x.data() + x.length));
    }
  }
  if (const Sa* sa = rx.find(Direction::open, c.spi); sa != nullptr) r.counters = sa->counters();
  return r;
}

// An Appendix A3 resync inside a burst moves the window top past the rest of
// the burst's lean prefix. A later packet that authenticated with the Seqh
// the window gave before the burst must not be committed: one packet at a
// time the moved window gives it another Seqh (Appendix A2), as which it
// fails. Another later packet that failed as the old Seqh opens as the new
// one without a resync of its own. Statuses, bytes and counters as one
// packet at a time.
TEST(EspBurst, ResyncInsideABurstRechecksLaterPackets) {
  const Bytes keymat = test::random_bytes(20, 31);
  SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x5400, true, Mode::tunnel);
  c.resync_after = 1;
  c.highest_received = 4;
  Sadb far, near, rx;
  c.first_seq = (uint64_t{1} << 32) + 5;  // a sender 2^32 ahead
  ASSERT_EQ(far.install(Direction::seal, c), Status::ok);
  c.first_seq = 6;
  ASSERT_EQ(near.install(Direction::seal, c), Status::ok);
  ASSERT_EQ(rx.install(Direction::open, c), Status::ok);
  Buf a(ipv4_packet(80, 1)), b(ipv4_packet(80, 2)), d(ipv4_packet(80, 3));
  ASSERT_EQ(far.seal(0x5400, {&a.view, 1}), 1u);   // 2^32 + 5
  ASSERT_EQ(near.seal(0x5400, {&b.view, 1}), 1u);  // 6
  ASSERT_EQ(far.seal(0x5400, {&d.view, 1}), 1u);   // 2^32 + 6
  const Bytes b_wire = b.bytes();
  const Opened one = open_bursts(c, {{a, b, d}}, true);  // before the burst opens them in place
  PacketView v[3] = {a.view, b.view, d.view};
  OpenInfo info[3];
  EXPECT_EQ(rx.open(v, info), 2u);
  EXPECT_EQ(v[0].status, Status::ok);
  EXPECT_EQ(info[0].seq, (uint64_t{1} << 32) + 5);
  EXPECT_EQ(v[1].status, Status::auth_failed);  // tried as 2^32 + 6
  EXPECT_EQ(Bytes(v[1].data(), v[1].data() + v[1].length), b_wire);  // as it arrived
  EXPECT_EQ(v[2].status, Status::ok);
  EXPECT_EQ(info[2].seq, (uint64_t{1} << 32) + 6);
  const Sa* sa = rx.find(Direction::open, 0x5400);
  EXPECT_EQ(sa->replay().highest(), (uint64_t{1} << 32) + 6);
  EXPECT_EQ(sa->counters().packets, 2u);
  // One packet at a time, d's Seqh comes from the window a's resync moved
  // (Appendix A2), so it opens without a resync of its own; the burst asks
  // the window again for a packet that failed and gets the same.
  EXPECT_EQ(sa->counters().resyncs, 1u);
  // The same packets one at a time: the same statuses and counters.
  EXPECT_EQ(one.status, (std::vector<Status>{Status::ok, Status::auth_failed, Status::ok}));
  EXPECT_EQ(one.bytes[1], b_wire);
  EXPECT_EQ(sa->counters().resyncs, one.counters.resyncs);
  EXPECT_EQ(sa->counters().resync_tries, one.counters.resync_tries);
  EXPECT_EQ(sa->counters().integrity_failed, one.counters.integrity_failed);
  EXPECT_EQ(sa->counters().replay, one.counters.replay);
}

// A forged copy of a packet that comes earlier in the same burst: one packet
// at a time the window refuses it before its ICV is checked, a replay; a
// burst, which asked the window before any of its packets committed, must
// count it the same way and not as an integrity failure (with a small
// integrity budget that would kill the SA one failure early). With and
// without ESN, lean prefix and general loop.
TEST(EspBurst, ForgedRepeatInABurstIsAReplayNotAFailure) {
  for (bool esn : {false, true})
    for (bool lean : {true, false}) {
      SCOPED_TRACE(std::string(esn ? "esn" : "no esn") + (lean ? " lean" : " general"));
      const Bytes keymat = test::random_bytes(20, 33);  // c holds a view of it
      SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x89, esn, Mode::tunnel);
      c.lifetime.max_auth_failures = 2;
      const std::vector<Buf> sealed = sealed_packets(c, 4, 40);
      // [x] 1 2 1' 3: 1' is a forged copy of 1; the general loop starts at a
      // packet of another SPI in front.
      Buf forged(sealed[0]);
      forged.view.data()[30] ^= 0x40;
      Buf other(sealed[3]);
      store_be32(other.view.data(), 0x12345678);
      std::vector<Buf> burst;
      if (!lean) burst.push_back(other);
      burst.push_back(sealed[0]);
      burst.push_back(sealed[1]);
      burst.push_back(forged);
      burst.push_back(sealed[2]);
      const Opened one = open_bursts(c, {burst}, true), all = open_bursts(c, {burst}, false);
      const size_t f = lean ? 2 : 3;  // the forged packet's place
      EXPECT_EQ(one.status[f], Status::replayed);
      EXPECT_EQ(all.status, one.status);
      EXPECT_EQ(all.counters.replay, one.counters.replay);
      EXPECT_EQ(all.counters.replay, 1u);
      EXPECT_EQ(all.counters.integrity_failed, one.counters.integrity_failed);
      EXPECT_EQ(all.counters.integrity_failed, 0u);
      EXPECT_EQ(all.counters.packets, 3u);
      EXPECT_EQ(all.bytes[f], forged.bytes());  // as it arrived
    }
}

// A repeat inside the window as the burst found it, after packets of the
// same burst that move the window a whole size past it: one packet at a time
// it is too old by the time it comes (with ESN: tried as the next Seqh, and
// failing); the burst's parse refused it against the window before the
// burst and the commit asks again (§3.4.3, Appendix A2). Lean prefix first
// and behind a packet of another SPI (general loop only).
TEST(EspBurst, RepeatLeftTooOldByTheBurstBeforeIt) {
  for (bool esn : {false, true})
    for (bool lean : {true, false}) {
      SCOPED_TRACE(std::string(esn ? "esn" : "no esn") + (lean ? " lean" : " general"));
      const Bytes keymat = test::random_bytes(20, 35);
      SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x8a, esn, Mode::tunnel);
      c.replay_window = 64;
      const std::vector<Buf> sealed = sealed_packets(c, 80, 50);  // sequence numbers 1..80
      std::vector<Buf> first(sealed.begin(), sealed.begin() + 48);  // 1..48
      std::vector<Buf> burst;
      if (!lean) {
        Buf other(sealed[0]);
        store_be32(other.view.data(), 0x12345678);
        burst.push_back(other);
      }
      for (int i = 48; i < 70; ++i) burst.push_back(sealed[i]);  // 49..70
      burst.push_back(sealed[5]);  // 6: 70 - 6 = 64, too old once 70 is in
      burst.push_back(sealed[6]);  // 7: still inside, a replay
      const Opened one = open_bursts(c, {first, burst}, true), all = open_bursts(c, {first, burst}, false);
      // With ESN, Appendix A2 takes a low half below the window for the
      // next Seqh: 6 is tried as 2^32 + 6, above the window, and fails.
      EXPECT_EQ(one.status[one.status.size() - 2], esn ? Status::auth_failed : Status::too_old);
      EXPECT_EQ(one.status.back(), Status::replayed);
      EXPECT_EQ(all.status, one.status);
      EXPECT_EQ(all.counters.replay, one.counters.replay);
      EXPECT_EQ(all.counters.replay, esn ? 1u : 2u);
      EXPECT_EQ(all.counters.integrity_failed, one.counters.integrity_failed);
      EXPECT_EQ(all.counters.integrity_failed, esn ? 1u : 0u);
      EXPECT_EQ(all.counters.packets, 70u);
    }
}

// The integrity limit reached by a forgery in the middle of a burst: one
// packet at a time, every later packet of that SA finds it dead before its
// window is asked (key_expired, bytes as they arrived), including a replay
// of a packet opened in an earlier burst, which the burst refused before its
// AEAD call. Statuses and counters as one packet at a time.
TEST(EspBurst, IntegrityLimitReachedInsideABurst) {
  for (bool esn : {false, true}) {
    SCOPED_TRACE(esn ? "esn" : "no esn");
    const Bytes keymat = test::random_bytes(20, 34);  // c holds a view of it
    SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x8a, esn, Mode::tunnel);
    c.lifetime.max_auth_failures = 2;
    const std::vector<Buf> sealed = sealed_packets(c, 6, 50);
    Buf f1(sealed[2]), f2(sealed[3]);
    f1.view.data()[30] ^= 1;
    f2.view.data()[31] ^= 1;
    // First burst: packet 0. Second: 1, f1, 0 again (a replay), f2 (the
    // limit), 0 again, 4, 5.
    const std::vector<std::vector<Buf>> bursts = {
        {sealed[0]}, {sealed[1], f1, sealed[0], f2, sealed[0], sealed[4], sealed[5]}};
    const Opened one = open_bursts(c, bursts, true), all = open_bursts(c, bursts, false);
    const std::vector<Status> want = {Status::ok,      Status::ok,          Status::auth_failed,
                                      Status::replayed, Status::auth_failed, Status::key_expired,
                                      Status::key_expired, Status::key_expired};
    EXPECT_EQ(one.status, want);
    EXPECT_EQ(all.status, want);
    for (size_t i = 5; i < want.size(); ++i) EXPECT_EQ(all.bytes[i], one.bytes[i]) << i;  // as they arrived
    EXPECT_EQ(all.counters.replay, 1u);
    EXPECT_EQ(all.counters.replay, one.counters.replay);
    EXPECT_EQ(all.counters.integrity_failed, 2u);
    EXPECT_EQ(all.counters.integrity_failed, one.counters.integrity_failed);
    EXPECT_EQ(all.counters.packets, one.counters.packets);
  }
}

// A packet whose 32-bit sequence number is 0 in a burst with ESN. Before the
// burst the window's top low half is 40, below W - 1 = 63 (RFC 4303 Appendix
// A2.1, case B), so 0 reads as the 64-bit number 0, never sent (§3.3.3): too
// old. One packet at a time the 30 packets before it in the burst have moved
// the top to 70 (case A), where 0 reads as 2^32 + 0: above the window, tried,
// and it fails to authenticate. The burst must ask the window as they left
// it, not as it stood before the burst. Without ESN it is too old both ways.
TEST(EspBurst, SequenceNumberZeroReadAfterTheBurstBeforeIt) {
  for (bool esn : {true, false}) {
    SCOPED_TRACE(esn ? "esn" : "no esn");
    const Bytes keymat = test::random_bytes(20, 36);
    SaConfig c = config({Suite::aes128_gcm, 16, false, false}, keymat, 0x8a, esn, Mode::tunnel);
    c.replay_window = 64;
    const std::vector<Buf> sealed = sealed_packets(c, 70, 50);  // sequence numbers 1..70
    const std::vector<Buf> first(sealed.begin(), sealed.begin() + 40);
    Buf other(sealed[0]), zero(sealed[0]);
    store_be32(other.view.data(), 0x12345678);  // an unknown SPI first: the general loop
    store_be32(zero.view.data() + 4, 0);
    std::vector<Buf> burst = {other};
    for (int i = 40; i < 70; ++i) burst.push_back(sealed[i]);
    burst.push_back(zero);
    const Opened one = open_bursts(c, {first, burst}, true), all = open_bursts(c, {first, burst}, false);
    EXPECT_EQ(one.status.back(), esn ? Status::auth_failed : Status::too_old);
    EXPECT_EQ(all.status, one.status);
    EXPECT_EQ(all.bytes.back(), one.bytes.back());  // as it arrived
    EXPECT_EQ(all.counters.replay, esn ? 0u : 1u);
    EXPECT_EQ(all.counters.replay, one.counters.replay);
    EXPECT_EQ(all.counters.integrity_failed, esn ? 1u : 0u);
    EXPECT_EQ(all.counters.integrity_failed, one.counters.integrity_failed);
    EXPECT_EQ(all.counters.packets, 70u);
  }
}

// Seal has a lean loop for the common burst too; it hands over to the general
// loop at a dummy, TFC padding, a next header to refuse, a packet without room
// or not well formed. Bursts mixing them must seal exactly what sealing one
// packet at a time does (same bytes, statuses, sequence numbers, counters),
// including a burst that reaches the last sequence number without ESN.
TEST(EspBurst, SealBurstsMatchOneAtATime) {
  const BurstSetup setups[] = {
      {{Suite::aes128_gcm, 16, false, false}, false, Mode::tunnel, 1},
      {{Suite::aes256_gcm, 8, false, false}, true, Mode::tunnel, (uint64_t{1} << 32) - 20},
      {{Suite::chacha20_poly1305, 16, false, true}, true, Mode::transport, 77},
      {{Suite::aes128_gcm, 16, false, true}, false, Mode::tunnel, 0xffffffff - 50},  // runs out
      {{Suite::aes256_gcm, 16, true, false}, true, Mode::tunnel, 5},  // GMAC: general loop only
  };
  for (const BurstSetup& su : setups)
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      SCOPED_TRACE(describe(su.t, su.esn, su.mode, false) + " seed " + std::to_string(seed));
      std::mt19937_64 rng(seed * 104729 + static_cast<uint64_t>(su.t.suite));
      const Bytes keymat = test::random_bytes(suite_info(su.t.suite).key_len + kSaltLen, seed);
      SaConfig c = config(su.t, keymat, 0x5500, su.esn, su.mode);
      c.first_seq = su.first;
      std::vector<Buf> plain;
      std::vector<SealMeta> meta;
      for (int i = 0; i < 90; ++i) {
        const unsigned kind = i < 8 ? static_cast<unsigned>(i) * 12 : static_cast<unsigned>(rng() % 100);
        const size_t len = 40 + rng() % 300;
        SealMeta m;
        Bytes inner = su.mode == Mode::tunnel ? (rng() & 1 ? ipv4_packet(len, rng())
                                                            : ipv6_packet(len + 40, rng()))
                                              : test::random_bytes(len, rng());
        if (su.mode == Mode::transport) m.next_header = 6;
        uint32_t head = 64, tail = 64;
        if (kind >= 12 && kind < 24) m.dummy = true;
        if (kind >= 24 && kind < 36) m.tfc_pad_to = static_cast<uint32_t>(inner.size() + rng() % 20);
        if (kind >= 36 && kind < 42) m.tfc_pad_to = static_cast<uint32_t>(inner.size() / 2);  // no effect
        if (kind >= 48 && kind < 54) m.next_header = su.mode == Mode::tunnel ? 17 : 59;  // refused
        if (kind >= 54 && kind < 60) m.next_header = kNextHeaderIpv6;  // tunnel: may contradict
        if (kind >= 60 && kind < 66) head = 4;   // no room for the header
        if (kind >= 66 && kind < 72) tail = 3;   // no room for the trailer
        if (kind >= 72 && kind < 75) inner[0] = 0x15;  // tunnel: not IP
        plain.emplace_back(inner, head, tail);
        meta.push_back(m);
        if (kind >= 75 && kind < 78) plain.back().view.length = 1u << 30;  // not well formed
      }
      // `general`: an SA with a soft packet lifetime of 1, never quiet, so
      // that every packet takes the general loop (the lean loop's reference).
      // `with_meta`: pass the SealMeta (without: tunnel mode takes the next
      // header from the inner version, transport mode refuses every packet).
      // `hard`: a hard packet lifetime reached on the way (with `general`,
      // the soft_limit event it queues is left out).
      auto run = [&](auto next_burst, bool general = false, bool with_meta = true,
                     uint64_t hard = kUnlimited) {
        Sadb tx;
        SaConfig sc = c;
        if (general) sc.lifetime.soft_records = 1;
        sc.lifetime.hard_records = hard;
        EXPECT_EQ(tx.install(Direction::seal, sc), Status::ok);
        drain(tx);
        std::vector<Buf> bufs = plain;
        std::vector<PacketView> views;
        for (Buf& b : bufs) views.push_back(b.view);
        size_t ok = 0;
        for (size_t at = 0; at < views.size();) {
          const size_t n = std::min(next_burst(), views.size() - at);
          ok += with_meta ? tx.seal(0x5500, {views.data() + at, n}, {meta.data() + at, n})
                          : tx.seal(0x5500, {views.data() + at, n});
          at += n;
        }
        std::vector<std::string> out;
        for (const PacketView& v : views)
          out.push_back(std::string(to_string(v.status)) + " " +
                        (v.status == Status::ok ? to_hex(Bytes(v.data(), v.data() + v.length))
                                                : std::string()));
        const Sa* sa = tx.find(Direction::seal, 0x5500);
        out.push_back(std::to_string(ok) + " next " + std::to_string(sa->next_seq()) + " packets " +
                      std::to_string(sa->counters().packets) + " bytes " +
                      std::to_string(sa->counters().bytes) + " dummy " +
                      std::to_string(sa->counters().dummy));
        for (const KeyEvent& e : drain(tx))
          if (e.kind != KeyEvent::soft_limit || !general)
            out.push_back(std::string(to_string(e.kind)) + " " + std::to_string(e.records) + " " +
                          std::to_string(e.bytes));
        return out;
      };
      const auto one = run([] { return size_t{1}; });
      const auto all = run([] { return size_t{90}; });  // chunks of 64 and 26
      std::mt19937_64 split(seed);
      const auto some = run([&] { return size_t{1} + split() % 30; });
      EXPECT_EQ(all, one);
      EXPECT_EQ(some, one);
      EXPECT_EQ(run([] { return size_t{90}; }, true), one);
      EXPECT_EQ(run([] { return size_t{1}; }, true), one);
      // Without SealMeta, and with a hard lifetime reached on the way: one at
      // a time (seal_one) against bursts and the general loop.
      const auto bare = run([] { return size_t{1}; }, false, false);
      EXPECT_EQ(run([] { return size_t{90}; }, false, false), bare);
      EXPECT_EQ(run([] { return size_t{1}; }, true, false), bare);
      const auto hard = run([] { return size_t{1}; }, false, true, 30);
      EXPECT_EQ(run([] { return size_t{90}; }, false, true, 30), hard);
      EXPECT_EQ(run([] { return size_t{1}; }, true, true, 30), hard);
      EXPECT_NE(hard, one);
      // The reference saw sealed packets and refusals.
      size_t sealed = 0;
      for (size_t i = 0; i + 1 < one.size(); ++i) sealed += one[i].rfind("ok ", 0) == 0;
      EXPECT_GT(sealed, 10u);
      EXPECT_LT(sealed, 90u);
    }
}

}  // namespace
}  // namespace rl::esp
