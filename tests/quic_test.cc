// QUIC v1/v2 packet protection: RFC 9001 App. A and RFC 9369 App. A byte for
// byte (vectors read at run time, A.1 keys also typed in from the RFC text),
// packet numbers (RFC 9000 App. A examples and wrap edges), random round trips,
// every-byte mutation, key update, limits, coalescing, CIDs, Retry, reset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/aead.h"
#include "core/quic.h"
#include "core/seqnum.h"
#include "tests/support/backends.h"
#include "tests/support/vectors.h"

namespace rl::quic {
namespace {

using test::Bytes;
using test::hex;
using test::to_hex;

constexpr size_t kHead = 96, kTail = 64;

// A packet buffer: headroom | payload | tailroom.
struct Buf {
  Bytes mem;
  Packet pkt;
  Buf(const Bytes& payload, Level level, size_t head = kHead, size_t tail = kTail)
      : mem(head + payload.size() + tail, 0xee) {
    std::copy(payload.begin(), payload.end(), mem.begin() + head);
    pkt.view = PacketView{mem.data(), static_cast<uint32_t>(mem.size()),
                          static_cast<uint32_t>(head), static_cast<uint32_t>(payload.size())};
    pkt.level = level;
  }
  // A received packet: the bytes exactly, nothing around them.
  explicit Buf(const Bytes& wire) : mem(wire) {
    pkt.view = PacketView{mem.data(), static_cast<uint32_t>(mem.size()), 0,
                          static_cast<uint32_t>(mem.size())};
  }
  Bytes bytes() const { return Bytes(pkt.view.data(), pkt.view.data() + pkt.view.length); }
};

const nlohmann::json* find_vector(const nlohmann::json& file, const std::string& id) {
  for (const auto& v : file["vectors"])
    if (v["id"] == id) return &v;
  return nullptr;
}

Version version_of(const nlohmann::json& file) {
  return file["version"] == "00000001" ? Version::v1 : Version::v2;
}

std::vector<KeyEvent> drain(PacketProtection& pp) {
  std::vector<KeyEvent> v;
  KeyEvent e;
  while (pp.poll_event(e)) v.push_back(e);
  return v;
}

bool has_event(const std::vector<KeyEvent>& ev, KeyEvent::Kind k) {
  return std::any_of(ev.begin(), ev.end(), [&](const KeyEvent& e) { return e.kind == k; });
}

// ---- RFC 9001 A.1 / RFC 9369 A.1, typed in from the RFC text ---------------

struct TypedKeys {
  Version v;
  const char *client_key, *client_iv, *client_hp, *server_key, *server_iv, *server_hp;
};
// RFC 9001 A.1 and RFC 9369 A.1 (client DCID 0x8394c8f03e515708).
constexpr TypedKeys kTyped[] = {
    {Version::v1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
     "9f50449e04a0e810283a1e9933adedd2", "cf3a5331653c364c88f0f379b6067e37",
     "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"},
    {Version::v2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
     "45b95e15235d6f45a6b19cbcb0294ba9", "82db637861d55e1d011f19ea71d5d2a7",
     "dd13c276499c0249d3310652", "edf6d05c83121201b436e16877593c3a"},
};

TEST(QuicRfc, InitialKeysTypedFromRfc) {
  for (const TypedKeys& t : kTyped) {
    uint8_t c[32], s[32];
    ASSERT_EQ(derive_initial_secrets(t.v, hex("8394c8f03e515708"), c, s), Status::ok);
    PacketKeys ck, sk;
    ASSERT_EQ(derive_packet_keys(t.v, Suite::aes128_gcm, {c, 32}, ck), Status::ok);
    ASSERT_EQ(derive_packet_keys(t.v, Suite::aes128_gcm, {s, 32}, sk), Status::ok);
    EXPECT_EQ(to_hex(ck.key, ck.key_len), t.client_key);
    EXPECT_EQ(to_hex(ck.iv, 12), t.client_iv);
    EXPECT_EQ(to_hex(ck.hp, ck.hp_len), t.client_hp);
    EXPECT_EQ(to_hex(sk.key, sk.key_len), t.server_key);
    EXPECT_EQ(to_hex(sk.iv, 12), t.server_iv);
    EXPECT_EQ(to_hex(sk.hp, sk.hp_len), t.server_hp);
  }
}

class QuicVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(QuicVectors, InitialSecretsAndKeys) {
  const auto file = test::load_vectors(GetParam());
  RL_SKIP_IF_MISSING(file, GetParam());
  const Version v = version_of(*file);
  const auto& k = *find_vector(*file, "initial-keys");
  uint8_t c[32], s[32];
  ASSERT_EQ(derive_initial_secrets(v, hex(k["client_dcid"].get<std::string>()), c, s), Status::ok);
  EXPECT_EQ(to_hex(c, 32), k["client"]["initial_secret"]);
  EXPECT_EQ(to_hex(s, 32), k["server"]["initial_secret"]);
  for (const auto& [side, sec] : {std::pair{"client", c}, std::pair{"server", s}}) {
    PacketKeys pk;
    ASSERT_EQ(derive_packet_keys(v, Suite::aes128_gcm, {sec, 32}, pk), Status::ok);
    EXPECT_EQ(to_hex(pk.key, pk.key_len), k[side]["key"]);
    EXPECT_EQ(to_hex(pk.iv, 12), k[side]["iv"]);
    EXPECT_EQ(to_hex(pk.hp, pk.hp_len), k[side]["hp"]);
  }
}

Bytes client_initial_payload(const nlohmann::json& ci) {
  Bytes payload = hex(ci["crypto_frame"].get<std::string>());
  payload.resize(ci["payload_length"].get<size_t>(), 0);  // PADDING frames
  return payload;
}

TEST_P(QuicVectors, ClientInitialByteForByte) {
  const auto file = test::load_vectors(GetParam());
  RL_SKIP_IF_MISSING(file, GetParam());
  const Version v = version_of(*file);
  const auto& ci = *find_vector(*file, "client-initial");
  const Bytes dcid = hex((*find_vector(*file, "initial-keys"))["client_dcid"].get<std::string>());
  const Bytes payload = client_initial_payload(ci);
  const Bytes want = hex(ci["protected_packet"].get<std::string>());
  test::for_each_backend([&](Backend) {
    // The header-protection mask alone, from the sample.
    PacketKeys pk;
    uint8_t cs[32], ss[32];
    ASSERT_EQ(derive_initial_secrets(v, dcid, cs, ss), Status::ok);
    ASSERT_EQ(derive_packet_keys(v, Suite::aes128_gcm, {cs, 32}, pk), Status::ok);
    MaskKey mk;
    ASSERT_EQ(mk.init(Suite::aes128_gcm, {pk.hp, 16}), Status::ok);
    const Bytes sample = hex(ci["sample"].get<std::string>());
    MaskJob mj;
    mj.key = &mk;
    mj.sample = sample.data();
    rl::mask({&mj, 1});
    EXPECT_EQ(to_hex(mj.mask, 5), ci["mask"]);

    // Protect from the unprotected form.
    PacketProtection client(v);
    ASSERT_EQ(client.install_initial(v, dcid, /*is_server=*/false), Status::ok);
    ASSERT_EQ(client.set_dcid(dcid), Status::ok);
    ASSERT_EQ(client.skip_packet_numbers(Space::initial, 2), Status::ok);
    Buf b(payload, Level::initial);
    b.pkt.min_pn_length = 4;
    ASSERT_EQ(client.seal({&b.pkt, 1}), 1u) << to_string(b.pkt.status());
    EXPECT_EQ(b.pkt.pn, 2u);
    EXPECT_EQ(to_hex(b.bytes()), to_hex(want));

    // Unprotect back, on the server.
    PacketProtection server(v);
    ASSERT_EQ(server.install_initial(v, dcid, /*is_server=*/true), Status::ok);
    Buf r(want);
    ASSERT_EQ(server.open({&r.pkt, 1}), 1u) << to_string(r.pkt.status());
    EXPECT_EQ(r.pkt.type, PacketType::initial);
    EXPECT_EQ(r.pkt.pn, 2u);
    EXPECT_EQ(to_hex(r.mem.data(), r.pkt.header_length), ci["unprotected_header"]);
    EXPECT_EQ(r.bytes(), payload);
    EXPECT_EQ(Bytes(r.pkt.dcid.begin(), r.pkt.dcid.end()), dcid);
    EXPECT_EQ(server.largest_received(Space::initial), 2u);
  });
}

TEST_P(QuicVectors, ServerInitialByteForByte) {
  const auto file = test::load_vectors(GetParam());
  RL_SKIP_IF_MISSING(file, GetParam());
  const Version v = version_of(*file);
  const auto& si = *find_vector(*file, "server-initial");
  const Bytes dcid = hex((*find_vector(*file, "initial-keys"))["client_dcid"].get<std::string>());
  const Bytes payload = hex(si["payload"].get<std::string>());
  const Bytes want = hex(si["protected_packet"].get<std::string>());
  const Bytes unprot = hex(si["unprotected_header"].get<std::string>());
  test::for_each_backend([&](Backend) {
    PacketProtection server(v);
    ASSERT_EQ(server.install_initial(v, dcid, true), Status::ok);
    // The server's SCID is in its header: bytes 7.. of the unprotected header.
    ASSERT_EQ(server.set_dcid({}), Status::ok);
    ASSERT_EQ(server.set_scid({unprot.data() + 7, unprot[6]}), Status::ok);
    ASSERT_EQ(server.skip_packet_numbers(Space::initial, 1), Status::ok);
    Buf b(payload, Level::initial);
    b.pkt.min_pn_length = 2;
    ASSERT_EQ(server.seal({&b.pkt, 1}), 1u);
    EXPECT_EQ(to_hex(b.bytes()), to_hex(want));

    PacketProtection client(v);
    ASSERT_EQ(client.install_initial(v, dcid, false), Status::ok);
    Buf r(want);
    ASSERT_EQ(client.open({&r.pkt, 1}), 1u) << to_string(r.pkt.status());
    EXPECT_EQ(r.pkt.pn, 1u);
    EXPECT_EQ(to_hex(r.mem.data(), r.pkt.header_length), to_hex(unprot));
    EXPECT_EQ(r.bytes(), payload);
  });
}

TEST_P(QuicVectors, RetryIntegrityTag) {
  const auto file = test::load_vectors(GetParam());
  RL_SKIP_IF_MISSING(file, GetParam());
  const Version v = version_of(*file);
  const auto& rt = *find_vector(*file, "retry");
  const Bytes odcid = hex(rt["original_destination_connection_id"].get<std::string>());
  const Bytes want = hex(rt["retry_packet"].get<std::string>());
  // The fixed key and nonce as the RFC prints them, checked against the file.
  EXPECT_EQ(rt["key"], v == Version::v1 ? "be0c690b9f66575a1d766b54e368c84e"
                                        : "8fb4b01b56ac48e260fbcbcead7ccc92");
  EXPECT_EQ(rt["nonce"], v == Version::v1 ? "461599d35d632bf2239825bb"
                                          : "d86969bc2d7c6d9990efb04a");
  uint8_t tag[16];
  ASSERT_EQ(retry_integrity_tag(v, odcid, {want.data(), want.size() - 16}, tag), Status::ok);
  EXPECT_EQ(to_hex(tag, 16), rt["retry_integrity_tag_derived"]);
  EXPECT_EQ(to_hex(tag, 16), to_hex(want.data() + want.size() - 16, 16));

  Bytes out(128);
  size_t len = 0;
  ASSERT_EQ(write_retry(v, {}, hex(rt["source_connection_id_derived"].get<std::string>()),
                        hex(rt["retry_token_derived"].get<std::string>()), odcid, out, &len,
                        0x0f),
            Status::ok);
  out.resize(len);
  EXPECT_EQ(to_hex(out), to_hex(want));
  EXPECT_EQ(verify_retry(v, odcid, want), Status::ok);
  // Another version, another ODCID, or any changed byte: rejected.
  EXPECT_NE(verify_retry(v == Version::v1 ? Version::v2 : Version::v1, odcid, want), Status::ok);
  Bytes other = odcid;
  other[0] ^= 1;
  EXPECT_EQ(verify_retry(v, other, want), Status::auth_failed);
  for (size_t i = 0; i < want.size(); ++i) {
    Bytes m = want;
    m[i] ^= 0x01;
    EXPECT_NE(verify_retry(v, odcid, m), Status::ok) << "byte " << i;
  }
  EXPECT_EQ(verify_retry(v, odcid, {want.data(), 20}), Status::truncated);

  // open() recognises it and leaves it to verify_retry.
  PacketProtection client(v);
  ASSERT_EQ(client.install_initial(v, odcid, false), Status::ok);
  Buf r(want);
  EXPECT_EQ(client.open({&r.pkt, 1}), 0u);
  EXPECT_EQ(r.pkt.status(), Status::not_protected);
  EXPECT_EQ(r.pkt.type, PacketType::retry);
  EXPECT_EQ(to_hex(Bytes(r.pkt.token.begin(), r.pkt.token.end())), rt["retry_token_derived"]);
}

TEST_P(QuicVectors, ChaChaShortHeader) {
  const auto file = test::load_vectors(GetParam());
  RL_SKIP_IF_MISSING(file, GetParam());
  const Version v = version_of(*file);
  const auto& cc = *find_vector(*file, "chacha20-short-header");
  const Bytes secret = hex(cc["secret"].get<std::string>());
  const uint64_t pn = cc["packet_number"].get<uint64_t>();
  const Bytes want = hex(cc["protected_packet"].get<std::string>());
  const Bytes payload = hex(cc["payload_plaintext"].get<std::string>());

  PacketKeys pk;
  ASSERT_EQ(derive_packet_keys(v, Suite::chacha20_poly1305, secret, pk), Status::ok);
  EXPECT_EQ(to_hex(pk.key, pk.key_len), cc["key"]);
  EXPECT_EQ(to_hex(pk.iv, 12), cc["iv"]);
  EXPECT_EQ(to_hex(pk.hp, pk.hp_len), cc["hp"]);
  uint8_t ku[32];
  ASSERT_EQ(derive_next_secret(v, Suite::chacha20_poly1305, secret, ku), Status::ok);
  EXPECT_EQ(to_hex(ku, 32), cc["ku"]);

  test::for_each_backend([&](Backend) {
    PacketProtection tx(v), rx(v);
    ASSERT_EQ(tx.install(Level::one_rtt, Direction::seal, Suite::chacha20_poly1305, secret),
              Status::ok);
    ASSERT_EQ(rx.install(Level::one_rtt, Direction::open, Suite::chacha20_poly1305, secret),
              Status::ok);
    // Bring the receiver to largest = pn - 1 with a packet of our own (a
    // 4-byte packet number, as nothing was acknowledged yet).
    ASSERT_EQ(tx.skip_packet_numbers(Space::application, pn - 1), Status::ok);
    Buf first(Bytes{0x01, 0x01, 0x01}, Level::one_rtt);
    ASSERT_EQ(tx.seal({&first.pkt, 1}), 1u);
    EXPECT_EQ(first.pkt.pn_length, 4u);
    Buf first_rx(first.bytes());
    ASSERT_EQ(rx.open({&first_rx.pkt, 1}), 1u);
    EXPECT_EQ(first_rx.pkt.pn, pn - 1);

    tx.on_ack(Space::application, pn - 1);
    Buf b(payload, Level::one_rtt);
    b.pkt.min_pn_length = 3;
    ASSERT_EQ(tx.seal({&b.pkt, 1}), 1u);
    EXPECT_EQ(b.pkt.pn, pn);
    EXPECT_EQ(to_hex(b.bytes()), to_hex(want));

    Buf r(want);
    ASSERT_EQ(rx.open({&r.pkt, 1}), 1u) << to_string(r.pkt.status());
    EXPECT_EQ(r.pkt.pn, pn);
    EXPECT_EQ(to_hex(r.mem.data(), r.pkt.header_length), cc["unprotected_header"]);
    EXPECT_EQ(r.bytes(), payload);
    // The same packet again is a duplicate (RFC 9000 §12.3) and stays as it was.
    Buf again(want);
    EXPECT_EQ(rx.open({&again.pkt, 1}), 0u);
    EXPECT_EQ(again.pkt.status(), Status::replayed);
    EXPECT_EQ(again.mem, want);
  });
}

INSTANTIATE_TEST_SUITE_P(Rfc, QuicVectors,
                         ::testing::Values("quic_v1_rfc9001.json", "quic_v2_rfc9369.json"),
                         [](const auto& info) {
                           return std::string(info.param).find("v1") != std::string::npos ? "v1"
                                                                                           : "v2";
                         });

// ---- packet numbers ----------------------------------------------------------

TEST(QuicPn, RfcExamples) {
  // RFC 9000 App. A.2 (and §17.1): 0xac5c02 with 0xabe8b3 acknowledged needs
  // 16 bits; 0xace8fe needs 24 bits.
  EXPECT_EQ(quic_pn_length(0xac5c02, 0xabe8b3, false), 2u);
  EXPECT_EQ(quic_pn_length(0xace8fe, 0xabe8b3, false), 3u);
  // RFC 9000 App. A.3 (and §17.1): largest 0xa82f30ea, 16-bit 0x9b32.
  EXPECT_EQ(reconstruct_closest(0xa82f30ea + 1, 0x9b32, 16, 62), 0xa82f9b32u);
}

TEST(QuicPn, FastLengthAgreesWithSeqnum) {
  uint64_t x = 0x9e3779b97f4a7c15;
  for (int i = 0; i < 200000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const uint64_t acked = (x >> 3) & kMaxPn;
    const uint64_t gap = i < 100 ? static_cast<uint64_t>(i) : (x >> (i % 60)) & 0xffffffffull;
    const uint64_t pn = std::min(kMaxPn, acked + gap);
    ASSERT_EQ(packet_number_length(pn, acked, false), quic_pn_length(pn, acked, false)) << pn;
    ASSERT_EQ(packet_number_length(gap, 0, true), quic_pn_length(gap, 0, true)) << gap;
  }
  for (unsigned b = 0; b < 62; ++b)
    for (uint64_t d : {uint64_t{0}, uint64_t{1}}) {
      const uint64_t n = (uint64_t{1} << b) - d;
      EXPECT_EQ(packet_number_length(n + 5, 5, false), quic_pn_length(n + 5, 5, false)) << n;
      EXPECT_EQ(packet_number_length(n, 0, true), quic_pn_length(n, 0, true)) << n;
    }
}

TEST(QuicPn, WrapEdges) {
  EXPECT_EQ(reconstruct_closest(0, 0xff, 8, 62), 0xffu);   // no negative candidate
  EXPECT_EQ(reconstruct_closest(0x100, 0x00, 8, 62), 0x100u);
  EXPECT_EQ(reconstruct_closest(0x17f, 0x01, 8, 62), 0x101u);
  EXPECT_EQ(reconstruct_closest(0x181, 0x01, 8, 62), 0x201u);  // a tie goes up (App. A.3)
  EXPECT_EQ(reconstruct_closest(0x181, 0x7f, 8, 62), 0x17fu);
  // At the top of the 62-bit space a candidate above 2^62-1 is never chosen.
  EXPECT_EQ(reconstruct_closest(kMaxPn, 0x00, 8, 62), kMaxPn - 0xff);
  EXPECT_EQ(reconstruct_closest(kMaxPn, 0xff, 8, 62), kMaxPn);
  EXPECT_LE(reconstruct_closest(kMaxPn - 1, 0x00000000, 32, 62), kMaxPn);
}

// Seals across byte-length boundaries of the packet number with acks that
// keep the encoding short; the receiver must rebuild every number.
TEST(QuicPn, EngineAcrossBoundaries) {
  const Bytes secret = test::random_bytes(32, 7);
  PacketProtection tx, rx;
  ASSERT_EQ(tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, secret), Status::ok);
  ASSERT_EQ(rx.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, secret), Status::ok);
  const uint64_t targets[] = {0,      1,      127,        128,        255,        256,
                              257,    32767,  32768,      65535,      65536,      65537,
                              100000, 8388607, 8388608,   16777215,   16777216,   1u << 30,
                              (1ull << 31) + 5, (1ull << 32) - 1, 1ull << 32, (1ull << 32) + 1};
  for (uint64_t t : targets) {
    SCOPED_TRACE(t);
    ASSERT_GE(t, tx.next_pn(Space::application));
    ASSERT_EQ(tx.skip_packet_numbers(Space::application, t - tx.next_pn(Space::application)),
              Status::ok);
    Buf b(Bytes(20, 0x42), Level::one_rtt);
    ASSERT_EQ(tx.seal({&b.pkt, 1}), 1u);
    ASSERT_EQ(b.pkt.pn, t);
    Buf r(b.bytes());
    ASSERT_EQ(rx.open({&r.pkt, 1}), 1u) << to_string(r.pkt.status());
    EXPECT_EQ(r.pkt.pn, t);
    EXPECT_EQ(r.pkt.pn_length, b.pkt.pn_length);
    tx.on_ack(Space::application, t);
  }
  // The end of the space: the last number is used, then sealing refuses.
  PacketProtection top;
  ASSERT_EQ(top.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, secret), Status::ok);
  ASSERT_EQ(top.skip_packet_numbers(Space::application, kMaxPn), Status::ok);
  EXPECT_EQ(top.skip_packet_numbers(Space::application, 2), Status::invalid_argument);
  Buf last(Bytes(20, 1), Level::one_rtt);
  ASSERT_EQ(top.seal({&last.pkt, 1}), 1u);
  EXPECT_EQ(last.pkt.pn, kMaxPn);
  Buf over(Bytes(20, 1), Level::one_rtt);
  EXPECT_EQ(top.seal({&over.pkt, 1}), 0u);
  EXPECT_EQ(over.pkt.status(), Status::key_exhausted);
}

// A packet with a 1-byte number that arrives 140 packets behind one that
// came first in the same burst. One at a time the number decodes from the
// largest received so far (RFC 9000 App. A.3): 10 after 150 reads as 266
// and fails. The burst decodes it the same way (the run ends before it and
// a second run opens it after 150 is committed), and a packet with a long
// enough number behind it opens as one at a time. With a packet in front
// that fails, the largest does not move and 10 opens, both ways.
TEST(QuicPn, DecodedAfterThePacketsBeforeItInTheBurst) {
  const Bytes secret = test::random_bytes(32, 9);
  for (bool forged : {false, true}) {
    SCOPED_TRACE(forged ? "the packet in front forged" : "the packet in front genuine");
    PacketProtection tx, one, burst;
    ASSERT_EQ(tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, secret), Status::ok);
    for (PacketProtection* rx : {&one, &burst})
      ASSERT_EQ(rx->install(Level::one_rtt, Direction::open, Suite::aes128_gcm, secret), Status::ok);
    std::vector<Bytes> wire;
    for (uint64_t pn = 0; pn <= 160; ++pn) {
      if (pn == 10) tx.on_ack(Space::application, 9);  // 10 takes a 1-byte number
      Buf b(Bytes(40, static_cast<uint8_t>(pn)), Level::one_rtt);
      ASSERT_EQ(tx.seal({&b.pkt, 1}), 1u);
      if (pn == 10) {
        EXPECT_EQ(b.pkt.pn_length, 1u);
      }
      wire.push_back(b.bytes());
    }
    for (uint64_t pn = 0; pn < 10; ++pn)
      for (PacketProtection* rx : {&one, &burst}) {
        Buf r(wire[pn]);
        ASSERT_EQ(rx->open({&r.pkt, 1}), 1u);
      }
    Bytes front = wire[150];
    if (forged) front[30] ^= 1;
    const std::vector<Bytes> in = {front, wire[10], wire[11], wire[151]};
    std::vector<Buf> a, b;
    a.reserve(in.size()), b.reserve(in.size());  // views point into each Buf's bytes
    for (const Bytes& w : in) a.emplace_back(w), b.emplace_back(w);
    std::vector<Packet> pa;
    for (Buf& x : a) pa.push_back(x.pkt);
    burst.open(pa);
    for (size_t i = 0; i < in.size(); ++i) {
      SCOPED_TRACE(i);
      one.open({&b[i].pkt, 1});
      EXPECT_EQ(pa[i].status(), b[i].pkt.status());
      if (pa[i].status() == Status::ok) {
        EXPECT_EQ(pa[i].pn, b[i].pkt.pn);
      }
    }
    EXPECT_EQ(b[0].pkt.status(), forged ? Status::auth_failed : Status::ok);
    EXPECT_EQ(b[1].pkt.status(), forged ? Status::ok : Status::auth_failed);
    EXPECT_EQ(burst.largest_received(Space::application), one.largest_received(Space::application));
    EXPECT_EQ(burst.auth_failures(), one.auth_failures());
  }
}

// A packet of the old keys numbered above a packet of the new ones (RFC
// 9001 §6.4) that comes, in the same burst, after a late packet of the new
// keys: one at a time that packet has moved the first number of the new
// phase down to 7, so 8 is tried with the next keys, then opens with the
// previous ones: a key update error. The burst gives the same (before, it
// chose the previous keys from the first number as the burst found it, 9,
// and opened 8 without a word).
TEST(QuicPn, OldKeysAfterALateNewPacketInTheBurst) {
  const Bytes secret = test::random_bytes(32, 12);
  PacketProtection tx, old_tx, one, burst;
  ASSERT_EQ(tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, secret), Status::ok);
  ASSERT_EQ(old_tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, secret), Status::ok);
  for (PacketProtection* rx : {&one, &burst})
    ASSERT_EQ(rx->install(Level::one_rtt, Direction::open, Suite::aes128_gcm, secret), Status::ok);
  std::vector<Bytes> wire;
  for (uint64_t pn = 0; pn <= 9; ++pn) {
    if (pn == 5) {
      tx.on_ack(Space::application, 4);
      ASSERT_EQ(tx.update(Direction::seal), Status::ok);
    }
    Buf b(Bytes(30, static_cast<uint8_t>(pn)), Level::one_rtt);
    ASSERT_EQ(tx.seal({&b.pkt, 1}), 1u);
    wire.push_back(b.bytes());
  }
  ASSERT_EQ(old_tx.skip_packet_numbers(Space::application, 8), Status::ok);
  Buf stale(Bytes(30, 0x88), Level::one_rtt);
  ASSERT_EQ(old_tx.seal({&stale.pkt, 1}), 1u);
  ASSERT_EQ(stale.pkt.pn, 8u);
  for (PacketProtection* rx : {&one, &burst}) {
    for (int pn : {0, 1, 2, 3, 4, 9}) {
      Buf r(wire[pn]);
      ASSERT_EQ(rx->open({&r.pkt, 1}), 1u) << pn;
    }
    ASSERT_EQ(rx->generation(Direction::open), 1u);
  }
  const std::vector<Bytes> in = {wire[7], stale.bytes()};
  std::vector<Buf> a, b;
  a.reserve(in.size()), b.reserve(in.size());
  for (const Bytes& w : in) a.emplace_back(w), b.emplace_back(w);
  std::vector<Packet> pa;
  for (Buf& x : a) pa.push_back(x.pkt);
  burst.open(pa);
  for (size_t i = 0; i < in.size(); ++i) {
    one.open({&b[i].pkt, 1});
    EXPECT_EQ(pa[i].status(), b[i].pkt.status()) << i;
  }
  EXPECT_EQ(b[0].pkt.status(), Status::ok);
  EXPECT_EQ(b[1].pkt.status(), Status::malformed);
  EXPECT_EQ(one.key_update_error(), KeyUpdateError::old_keys_after_new);
  EXPECT_EQ(burst.key_update_error(), one.key_update_error());
}

// ---- random round trips --------------------------------------------------------

struct Pair {
  PacketProtection tx, rx;
  explicit Pair(Version v) : tx(v), rx(v) {}
  void install(Level l, Suite s, const Bytes& secret) {
    ASSERT_EQ(tx.install(l, Direction::seal, s, secret), Status::ok);
    ASSERT_EQ(rx.install(l, Direction::open, s, secret), Status::ok);
  }
};

TEST(QuicRoundTrip, SuitesVersionsLevelsPnLengthsBursts) {
  uint64_t seed = 1;
  test::for_each_backend([&](Backend) {
    for (Version v : {Version::v1, Version::v2})
      for (Suite s : kAllSuites)
        for (Level l : {Level::initial, Level::zero_rtt, Level::handshake, Level::one_rtt}) {
          SCOPED_TRACE(std::string(suite_info(s).name) + " level " +
                       std::to_string(static_cast<int>(l)) + (v == Version::v1 ? " v1" : " v2"));
          Pair p(v);
          const Bytes secret = test::random_bytes(hash_len(suite_info(s).hash), ++seed);
          p.install(l, s, secret);
          const Bytes dcid = test::random_bytes(seed % 21, seed);
          const Bytes scid = test::random_bytes((seed * 7) % 21, seed + 1);
          ASSERT_EQ(p.tx.set_dcid(dcid), Status::ok);
          ASSERT_EQ(p.tx.set_scid(scid), Status::ok);
          ASSERT_EQ(p.rx.set_short_dcid_length(dcid.size()), Status::ok);
          const Bytes token = l == Level::initial ? test::random_bytes(seed % 40, seed) : Bytes{};
          const size_t sizes[] = {0, 1, 2, 3, 17, 100, 1200, 1452};
          std::vector<Buf> bufs;
          std::vector<Bytes> plain;
          for (size_t i = 0; i < 24; ++i) {
            plain.push_back(test::random_bytes(sizes[i % 8], seed * 100 + i));
            bufs.emplace_back(plain.back(), l);
            bufs.back().pkt.min_pn_length = static_cast<uint8_t>(i % 5);
            bufs.back().pkt.token = token;
          }
          std::vector<Packet> sealed;
          for (auto& b : bufs) sealed.push_back(b.pkt);
          ASSERT_EQ(p.tx.seal(sealed), sealed.size());
          std::vector<Buf> rxb;
          for (const Packet& sp : sealed)
            rxb.emplace_back(Bytes(sp.view.data(), sp.view.data() + sp.view.length));
          std::vector<Packet> opened;
          for (auto& b : rxb) opened.push_back(b.pkt);
          ASSERT_EQ(p.rx.open(opened), opened.size());
          for (size_t i = 0; i < opened.size(); ++i) {
            Bytes want = plain[i];
            Bytes got(opened[i].view.data(), opened[i].view.data() + opened[i].view.length);
            if (want.size() + sealed[i].pn_length < 4) want.resize(4 - sealed[i].pn_length, 0);
            EXPECT_EQ(got, want) << i;
            EXPECT_EQ(opened[i].pn, i);
            EXPECT_EQ(opened[i].level, l);
            EXPECT_EQ(opened[i].pn_length, std::max<unsigned>(1, i % 5));
            EXPECT_EQ(Bytes(opened[i].dcid.begin(), opened[i].dcid.end()), dcid);
            if (l != Level::one_rtt) {
              EXPECT_EQ(Bytes(opened[i].scid.begin(), opened[i].scid.end()), scid);
            }
            if (l == Level::initial) {
              EXPECT_EQ(Bytes(opened[i].token.begin(), opened[i].token.end()), token);
            }
          }
          EXPECT_EQ(p.rx.largest_received(space_of(l)), opened.size() - 1);
        }
  });
}

// ---- mutation ------------------------------------------------------------------

struct RxState {
  bool has;
  uint64_t largest, gen;
  bool prev;
  uint64_t opened;
  bool operator==(const RxState&) const = default;
};

RxState state_of(const PacketProtection& pp, Level l) {
  const KeyCounters* c = pp.counters(l, Direction::open);
  return {pp.has_received(space_of(l)), pp.largest_received(space_of(l)),
          pp.generation(Direction::open), pp.has_previous(), c ? c->opened : 0};
}

// Every byte of `wire`, changed: the open fails, the bytes stay as they
// arrived, and nothing of the receiver changes; the original still opens.
void mutate_every_byte(PacketProtection& rx, const Bytes& wire, Level l) {
  const RxState before = state_of(rx, l);
  const uint64_t failures = rx.auth_failures();
  for (size_t i = 0; i < wire.size(); ++i) {
    for (uint8_t delta : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0x04}}) {
      Buf m(wire);
      m.mem[i] ^= delta;
      const Bytes arrived = m.mem;
      ASSERT_EQ(rx.open({&m.pkt, 1}), 0u) << "byte " << i << " delta " << int(delta);
      EXPECT_NE(m.pkt.status(), Status::ok);
      ASSERT_EQ(m.mem, arrived) << "byte " << i << " changed after " << to_string(m.pkt.status());
      ASSERT_EQ(state_of(rx, l), before) << "byte " << i;
    }
  }
  if (l == Level::one_rtt) {
    EXPECT_GT(rx.auth_failures(), failures);
  }
  Buf ok(wire);
  ASSERT_EQ(rx.open({&ok.pkt, 1}), 1u) << to_string(ok.pkt.status());
}

TEST(QuicMutation, ClientInitialEveryByte) {
  const auto file = test::load_vectors("quic_v1_rfc9001.json");
  RL_SKIP_IF_MISSING(file, "quic_v1_rfc9001.json");
  const Bytes wire = hex((*find_vector(*file, "client-initial"))["protected_packet"].get<std::string>());
  PacketProtection server(Version::v1);
  ASSERT_EQ(server.install_initial(Version::v1, hex("8394c8f03e515708"), true), Status::ok);
  mutate_every_byte(server, wire, Level::initial);
}

TEST(QuicMutation, ShortHeaderEveryByteAcrossKeyPhases) {
  for (Suite s : kAllSuites) {
    SCOPED_TRACE(suite_info(s).name);
    Pair p(Version::v2);
    p.install(Level::one_rtt, s, test::random_bytes(hash_len(suite_info(s).hash), 3));
    const Bytes dcid = test::random_bytes(8, 4);
    ASSERT_EQ(p.tx.set_dcid(dcid), Status::ok);
    ASSERT_EQ(p.rx.set_short_dcid_length(8), Status::ok);
    // Move both sides to generation 1 with generation 0 kept as previous, so
    // that a flipped phase bit has both other generations to try.
    Buf a(Bytes(30, 1), Level::one_rtt);
    ASSERT_EQ(p.tx.seal({&a.pkt, 1}), 1u);
    Buf ar(a.bytes());
    ASSERT_EQ(p.rx.open({&ar.pkt, 1}), 1u);
    p.tx.on_ack(Space::application, 0);
        ASSERT_EQ(p.tx.update(Direction::seal), Status::ok);
    Buf b(Bytes(30, 2), Level::one_rtt);
    ASSERT_EQ(p.tx.seal({&b.pkt, 1}), 1u);
    Buf br(b.bytes());
    ASSERT_EQ(p.rx.open({&br.pkt, 1}), 1u);
    ASSERT_EQ(p.rx.generation(Direction::open), 1u);
    ASSERT_TRUE(p.rx.has_previous());
    drain(p.rx);
    Buf c(test::random_bytes(45, 9), Level::one_rtt);
    ASSERT_EQ(p.tx.seal({&c.pkt, 1}), 1u);
    mutate_every_byte(p.rx, c.bytes(), Level::one_rtt);
    for (const KeyEvent& e : drain(p.rx)) EXPECT_NE(e.kind, KeyEvent::peer_updated);
  }
}

// A lone packet after one that opened takes open_one's guessed header (the
// next packet number, the last length, the current key phase) and its AEAD
// runs before the header protection is known. Every byte of such a packet,
// changed, must still fail as the unguessed path fails it: bytes as they
// arrived, no state changed, one integrity-limit count per auth failure and
// none for a wrong guess; the genuine packet then opens. Each mutation gets a
// fresh receiver, so that every one meets the guess (a wrong guess turns it
// off until a packet opens again).
TEST(QuicMutation, GuessedHeaderEveryByte) {
  test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      for (uint8_t pn_len : {uint8_t{1}, uint8_t{2}, uint8_t{4}}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " pn_len " + std::to_string(pn_len));
        const Bytes secret = test::random_bytes(hash_len(suite_info(s).hash), 800 + pn_len);
        PacketProtection tx(Version::v1);
        ASSERT_EQ(tx.install(Level::one_rtt, Direction::seal, s, secret), Status::ok);
        ASSERT_EQ(tx.set_dcid(test::random_bytes(8, 4)), Status::ok);
        std::vector<Bytes> wire, plain;
        for (int k = 0; k < 2; ++k) {
          plain.push_back(test::random_bytes(40 + 7 * k, 810 + k));
          Buf b(plain.back(), Level::one_rtt);
          b.pkt.min_pn_length = pn_len;
          ASSERT_EQ(tx.seal({&b.pkt, 1}), 1u);
          wire.push_back(b.bytes());
        }
        auto armed = [&](PacketProtection& rx) {
          ASSERT_EQ(rx.install(Level::one_rtt, Direction::open, s, secret), Status::ok);
          ASSERT_EQ(rx.set_short_dcid_length(8), Status::ok);
          Buf first(wire[0]);
          ASSERT_EQ(rx.open({&first.pkt, 1}), 1u);
          ASSERT_EQ(first.pkt.pn_length, pn_len);
        };
        for (size_t i = 0; i < wire[1].size(); ++i) {
          for (uint8_t delta : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0x04}}) {
            PacketProtection rx(Version::v1);
            armed(rx);
            const RxState before = state_of(rx, Level::one_rtt);
            const uint64_t failures = rx.auth_failures();
            Buf m(wire[1]);
            m.mem[i] ^= delta;
            const Bytes arrived = m.mem;
            ASSERT_EQ(rx.open({&m.pkt, 1}), 0u) << "byte " << i << " delta " << int(delta);
            const Status st = m.pkt.status();
            ASSERT_EQ(m.mem, arrived) << "byte " << i << " changed after " << to_string(st);
            ASSERT_EQ(state_of(rx, Level::one_rtt), before) << "byte " << i;
            ASSERT_EQ(rx.auth_failures(), failures + (st == Status::auth_failed ? 1 : 0)) << "byte " << i;
            Buf ok(wire[1]);
            ASSERT_EQ(rx.open({&ok.pkt, 1}), 1u) << "byte " << i << ": " << to_string(ok.pkt.status());
            ASSERT_EQ(ok.pkt.pn, 1u);
            ASSERT_EQ(ok.bytes(), plain[1]);
          }
        }
      }
    }
  });
}

TEST(QuicMutation, HandshakeEveryByte) {
  Pair p(Version::v1);
  p.install(Level::handshake, Suite::aes256_gcm, test::random_bytes(48, 5));
  ASSERT_EQ(p.tx.set_dcid(test::random_bytes(5, 1)), Status::ok);
  ASSERT_EQ(p.tx.set_scid(test::random_bytes(3, 2)), Status::ok);
  Buf b(test::random_bytes(60, 6), Level::handshake);
  ASSERT_EQ(p.tx.seal({&b.pkt, 1}), 1u);
  mutate_every_byte(p.rx, b.bytes(), Level::handshake);
}

// ---- key update ------------------------------------------------------------------

TEST(QuicKeyUpdate, BothSidesWithReorderAcrossTheUpdate) {
  for (Version v : {Version::v1, Version::v2}) {
    // client -> server on c2s, server -> client on s2c.
    PacketProtection client(v), server(v);
    const Bytes c2s = test::random_bytes(32, 11), s2c = test::random_bytes(32, 12);
    ASSERT_EQ(client.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, c2s), Status::ok);
    ASSERT_EQ(server.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, c2s), Status::ok);
    ASSERT_EQ(server.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, s2c), Status::ok);
    ASSERT_EQ(client.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, s2c), Status::ok);
    drain(client);
    drain(server);

    auto send = [](PacketProtection& from, uint8_t fill) {
      Buf b(Bytes(50, fill), Level::one_rtt);
      EXPECT_EQ(from.seal({&b.pkt, 1}), 1u);
      return b.bytes();
    };
    auto recv = [](PacketProtection& to, const Bytes& wire, Status want = Status::ok) {
      Buf r(wire);
      to.open({&r.pkt, 1});
      EXPECT_EQ(r.pkt.status(), want) << to_string(r.pkt.status());
      return r.pkt;
    };

    // Not before a packet of the current phase was acknowledged (§6.1).
    EXPECT_EQ(client.update(Direction::seal), Status::invalid_argument);
    const Bytes p0 = send(client, 0);
    EXPECT_EQ(client.update(Direction::seal), Status::invalid_argument);
    recv(server, p0);
    client.on_ack(Space::application, 0);
    const Bytes late = send(client, 1);  // generation 0, delivered after the update
    EXPECT_EQ(client.update(Direction::open), Status::invalid_argument);
    ASSERT_EQ(client.update(Direction::seal), Status::ok);
    EXPECT_EQ(client.generation(Direction::seal), 1u);
    EXPECT_EQ(client.update(Direction::seal), Status::invalid_argument);  // not acked yet
    const Bytes p2 = send(client, 2);
    const Bytes very_late = send(client, 3);  // generation 1, pn 3

    // The server sees the flipped phase, commits to generation 1 and answers.
    Packet r2 = recv(server, p2);
    EXPECT_TRUE(r2.key_phase);
    EXPECT_EQ(server.generation(Direction::open), 1u);
    EXPECT_EQ(server.generation(Direction::seal), 1u);  // answered (§6.2)
    const auto ev = drain(server);
    EXPECT_TRUE(has_event(ev, KeyEvent::peer_updated));
    // The reordered generation-0 packet still opens with the previous keys.
    Packet rl = recv(server, late);
    EXPECT_FALSE(rl.key_phase);
    EXPECT_EQ(rl.pn, 1u);
    EXPECT_EQ(server.generation(Direction::open), 1u);  // no flip back
    recv(server, very_late);

    // The server's answer reaches the client: the client's open side follows,
    // its send side does not move again.
    const Bytes s0 = send(server, 9);
    Packet rs = recv(client, s0);
    EXPECT_TRUE(rs.key_phase);
    EXPECT_EQ(client.generation(Direction::open), 1u);
    EXPECT_EQ(client.generation(Direction::seal), 1u);

    // After discarding the previous keys, an old-phase packet fails and
    // changes nothing.
    Buf old_again(Bytes(50, 7), Level::one_rtt);
    {
      // a generation-0 packet with a low packet number, forged from the old keys
      PacketProtection old_tx(v);
      ASSERT_EQ(old_tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, c2s), Status::ok);
      ASSERT_EQ(old_tx.skip_packet_numbers(Space::application, 5), Status::ok);
      ASSERT_EQ(old_tx.seal({&old_again.pkt, 1}), 1u);
    }
    const Bytes old_wire = old_again.bytes();
    ASSERT_EQ(server.discard_previous(), Status::ok);
    EXPECT_EQ(server.discard_previous(), Status::unknown_epoch);
    // pn 5 > first pn of generation 1 (2), so it is tried with the next keys.
    recv(server, old_wire, Status::auth_failed);
    EXPECT_EQ(server.generation(Direction::open), 1u);

    // A second update, from the server this time.
    server.on_ack(Space::application, 0);
    ASSERT_EQ(server.update(Direction::seal), Status::ok);
    EXPECT_EQ(server.generation(Direction::seal), 2u);
    const Bytes s1 = send(server, 10);
    Packet rs1 = recv(client, s1);
    EXPECT_FALSE(rs1.key_phase);
    EXPECT_EQ(client.generation(Direction::open), 2u);
    EXPECT_EQ(client.generation(Direction::seal), 2u);
    const Bytes c5 = send(client, 11);
    recv(server, c5);
    EXPECT_EQ(server.generation(Direction::open), 2u);
  }
}

TEST(QuicKeyUpdate, UsesKuLabelAndKeepsHeaderProtectionKey) {
  // RFC 9001 §6.1/§6.6: after an update the AEAD key and iv come from
  // ku(secret) while header protection keeps the generation-0 hp key. Open a
  // generation-1 packet by hand from exactly those keys.
  const Bytes s0 = test::random_bytes(32, 21);
  uint8_t s1[32];
  ASSERT_EQ(derive_next_secret(Version::v1, Suite::chacha20_poly1305, s0, s1), Status::ok);
  PacketKeys k0, k1;
  ASSERT_EQ(derive_packet_keys(Version::v1, Suite::chacha20_poly1305, s0, k0), Status::ok);
  ASSERT_EQ(derive_packet_keys(Version::v1, Suite::chacha20_poly1305, {s1, 32}, k1), Status::ok);
  // Build a generation-1 packet by hand from k1 (AEAD) and k0 (HP).
  Pair p(Version::v1);
  p.install(Level::one_rtt, Suite::chacha20_poly1305, s0);
  Buf b(Bytes(40, 5), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&b.pkt, 1}), 1u);
  p.tx.on_ack(Space::application, 0);
    ASSERT_EQ(p.tx.update(Direction::seal), Status::ok);
  Buf c(Bytes(40, 6), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&c.pkt, 1}), 1u);
  Bytes wire = c.bytes();
  // Unmask with k0's HP key, then open the payload with k1's key and iv.
  MaskKey hp;
  ASSERT_EQ(hp.init(Suite::chacha20_poly1305, {k0.hp, 32}), Status::ok);
  MaskJob mj;
  mj.key = &hp;
  mj.sample = wire.data() + 1 + 4;
  rl::mask({&mj, 1});
  wire[0] ^= mj.mask[0] & 0x1f;
  ASSERT_EQ(wire[0] & 0x04, 0x04);  // key phase 1
  const size_t pn_len = (wire[0] & 3) + 1;
  for (size_t i = 0; i < pn_len; ++i) wire[1 + i] ^= mj.mask[1 + i];
  AeadKey key;
  ASSERT_EQ(key.init(Suite::chacha20_poly1305, {k1.key, 32}), Status::ok);
  AeadJob j;
  j.key = &key;
  xor_nonce(k1.iv, 1, j.nonce);
  j.aad = {wire.data(), 1 + pn_len};
  j.data = {wire.data() + 1 + pn_len, wire.size() - 1 - pn_len - 16};
  j.tag = wire.data() + wire.size() - 16;
  rl::open({&j, 1});
  ASSERT_EQ(j.status, Status::ok);
  EXPECT_EQ(Bytes(j.data.begin(), j.data.end()), Bytes(40, 6));
}

// ---- limits ----------------------------------------------------------------------

TEST(QuicLimits, ConfidentialityLimitThenUpdate) {
  Limits l;
  l.soft_records = 2;
  l.hard_records = 3;
  Pair p(Version::v1);
  const Bytes secret = test::random_bytes(32, 31);
  ASSERT_EQ(p.tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, secret, &l),
            Status::ok);
  ASSERT_EQ(p.rx.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, secret), Status::ok);
  drain(p.tx);
  std::vector<Buf> bufs;
  for (int i = 0; i < 4; ++i) bufs.emplace_back(Bytes(20, uint8_t(i)), Level::one_rtt);
  std::vector<Packet> pk;
  for (auto& b : bufs) pk.push_back(b.pkt);
  EXPECT_EQ(p.tx.seal(pk), 3u);
  EXPECT_EQ(pk[3].status(), Status::key_exhausted);
  EXPECT_EQ(p.tx.next_pn(Space::application), 3u);  // the refused packet used no number
  auto ev = drain(p.tx);
  EXPECT_TRUE(has_event(ev, KeyEvent::soft_limit));
  EXPECT_TRUE(has_event(ev, KeyEvent::hard_limit));
  p.tx.on_ack(Space::application, 2);
    ASSERT_EQ(p.tx.update(Direction::seal), Status::ok);  // the next generation has its own budget
  Buf b(Bytes(20, 9), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&b.pkt, 1}), 1u);
  Buf r(b.bytes());
  ASSERT_EQ(p.rx.open({&r.pkt, 1}), 1u);
  EXPECT_EQ(r.pkt.pn, 3u);
}

TEST(QuicLimits, AgeLimitsOnAnInjectedClock) {
  struct FakeClock {
    uint64_t t = 500;
    static uint64_t read(void* c) { return static_cast<FakeClock*>(c)->t; }
  } clock;
  Limits l;
  l.soft_age_s = 5;
  l.hard_age_s = 10;
  PacketProtection tx;
  tx.set_clock(Clock{&FakeClock::read, &clock});
  ASSERT_EQ(tx.install(Level::handshake, Direction::seal, Suite::aes128_gcm,
                       test::random_bytes(32, 121), &l),
            Status::ok);
  drain(tx);
  Buf a(Bytes(20, 1), Level::handshake);
  ASSERT_EQ(tx.seal({&a.pkt, 1}), 1u);
  clock.t += 5;
  Buf b(Bytes(20, 1), Level::handshake);
  ASSERT_EQ(tx.seal({&b.pkt, 1}), 1u);
  EXPECT_TRUE(has_event(drain(tx), KeyEvent::soft_limit));
  clock.t += 5;
  Buf c(Bytes(20, 1), Level::handshake);
  EXPECT_EQ(tx.seal({&c.pkt, 1}), 0u);
  EXPECT_EQ(c.pkt.status(), Status::key_expired);
  EXPECT_TRUE(has_event(drain(tx), KeyEvent::hard_limit));
}

TEST(QuicLimits, IntegrityLimitAcrossOneRttKeys) {
  Limits l;
  l.soft_auth_failures = 2;
  l.max_auth_failures = 4;
  Pair p(Version::v1);
  const Bytes secret = test::random_bytes(32, 41);
  ASSERT_EQ(p.tx.install(Level::one_rtt, Direction::seal, Suite::chacha20_poly1305, secret),
            Status::ok);
  ASSERT_EQ(p.rx.install(Level::one_rtt, Direction::open, Suite::chacha20_poly1305, secret, &l),
            Status::ok);
  drain(p.rx);
  Buf good(Bytes(20, 1), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&good.pkt, 1}), 1u);
  const Bytes wire = good.bytes();
  auto forge = [&](size_t byte, uint8_t delta = 0x10) {
    Buf m(wire);
    m.mem[byte] ^= delta;
    EXPECT_EQ(p.rx.open({&m.pkt, 1}), 0u);
    return m.pkt.status();
  };
  EXPECT_EQ(forge(wire.size() - 1), Status::auth_failed);  // current keys
  EXPECT_EQ(forge(0, 0x04), Status::auth_failed);          // phase flip: tried with next keys
  EXPECT_EQ(p.rx.auth_failures(), 2u);
  auto ev = drain(p.rx);
  EXPECT_TRUE(has_event(ev, KeyEvent::soft_limit));
  EXPECT_FALSE(has_event(ev, KeyEvent::integrity_limit));
  EXPECT_EQ(forge(wire.size() - 2), Status::auth_failed);
  EXPECT_EQ(forge(wire.size() - 3), Status::auth_failed);
  ev = drain(p.rx);
  EXPECT_TRUE(has_event(ev, KeyEvent::integrity_limit));
  // The genuine packet no longer opens: every 1-RTT open key is dead.
  Buf r(wire);
  EXPECT_EQ(p.rx.open({&r.pkt, 1}), 0u);
  EXPECT_EQ(r.pkt.status(), Status::key_exhausted);
  EXPECT_EQ(r.mem, wire);
}

// ---- datagrams, CIDs, versions, misuse -------------------------------------------------

TEST(QuicDatagram, CoalescedInitialHandshakeOneRtt) {
  for (Version v : {Version::v1, Version::v2}) {
    PacketProtection client(v), server(v);
    const Bytes odcid = test::random_bytes(8, 51);
    ASSERT_EQ(client.install_initial(v, odcid, false), Status::ok);
    ASSERT_EQ(server.install_initial(v, odcid, true), Status::ok);
    const Bytes hs = test::random_bytes(32, 52), ap = test::random_bytes(32, 53);
    ASSERT_EQ(client.install(Level::handshake, Direction::seal, Suite::aes128_gcm, hs), Status::ok);
    ASSERT_EQ(server.install(Level::handshake, Direction::open, Suite::aes128_gcm, hs), Status::ok);
    ASSERT_EQ(client.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, ap), Status::ok);
    ASSERT_EQ(server.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, ap), Status::ok);
    const Bytes server_cid = test::random_bytes(6, 54);
    ASSERT_EQ(client.set_dcid(server_cid), Status::ok);
    ASSERT_EQ(client.set_scid(test::random_bytes(4, 55)), Status::ok);
    ASSERT_EQ(server.set_short_dcid_length(6), Status::ok);
    Buf a(Bytes(300, 0xa1), Level::initial), b(Bytes(100, 0xb2), Level::handshake),
        c(Bytes(50, 0xc3), Level::one_rtt);
    Packet in[3] = {a.pkt, b.pkt, c.pkt};
    ASSERT_EQ(client.seal(in), 3u);
    Bytes dgram;
    for (const Packet& p : in) dgram.insert(dgram.end(), p.view.data(), p.view.data() + p.view.length);

    // Length that runs past the datagram, or short of it: nothing opens, nothing changes.
    for (int delta : {+1, -1}) {
      Bytes bad = dgram;
      const size_t len_at = in[0].header_length - in[0].pn_length - 2;
      bad[len_at + 1] = static_cast<uint8_t>(bad[len_at + 1] + delta);
      Bytes arrived = bad;
      Packet out[4];
      size_t n = 0;
      const size_t ok = server.open_datagram(bad, out, &n);
      EXPECT_LT(ok, 3u);
      EXPECT_NE(out[0].status(), Status::ok);
      EXPECT_FALSE(server.has_received(Space::initial));
      EXPECT_EQ(bad, arrived);
    }

    // The Length field against the datagram: the first packet alone, one
    // byte longer than what is there.
    {
      Bytes alone(dgram.begin(), dgram.begin() + in[0].view.length - 1);
      Packet out[2];
      size_t n = 0;
      EXPECT_EQ(server.open_datagram(alone, out, &n), 0u);
      ASSERT_EQ(n, 1u);
      EXPECT_EQ(out[0].status(), Status::truncated);
    }

    Packet out[4];
    size_t n = 0;
    ASSERT_EQ(server.open_datagram(dgram, out, &n), 3u);
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(out[0].type, PacketType::initial);
    EXPECT_EQ(out[1].type, PacketType::handshake);
    EXPECT_EQ(out[2].type, PacketType::one_rtt);
    EXPECT_EQ(Bytes(out[0].view.data(), out[0].view.data() + out[0].view.length), Bytes(300, 0xa1));
    EXPECT_EQ(Bytes(out[1].view.data(), out[1].view.data() + out[1].view.length), Bytes(100, 0xb2));
    EXPECT_EQ(Bytes(out[2].view.data(), out[2].view.data() + out[2].view.length), Bytes(50, 0xc3));
  }
}

TEST(QuicCid, ChangeOnSendAndReceiveKeepsKeys) {
  Pair p(Version::v1);
  p.install(Level::one_rtt, Suite::aes256_gcm, test::random_bytes(48, 61));
  ASSERT_EQ(p.tx.set_dcid(test::random_bytes(8, 62)), Status::ok);
  ASSERT_EQ(p.rx.set_short_dcid_length(8), Status::ok);
  Buf a(Bytes(20, 1), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&a.pkt, 1}), 1u);
  Buf ar(a.bytes());
  ASSERT_EQ(p.rx.open({&ar.pkt, 1}), 1u);
  // Migration to a new CID of another length (RFC 9000 §9.5).
  const Bytes cid2 = test::random_bytes(16, 63);
  ASSERT_EQ(p.tx.set_dcid(cid2), Status::ok);
  Buf b(Bytes(20, 2), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&b.pkt, 1}), 1u);
  EXPECT_EQ(b.pkt.pn, 1u);
  Buf br(b.bytes());
  // The receiver still expects 8 bytes: the packet fails and changes nothing.
  EXPECT_EQ(p.rx.open({&br.pkt, 1}), 0u);
  EXPECT_EQ(br.mem, b.bytes());
  ASSERT_EQ(p.rx.set_short_dcid_length(16), Status::ok);
  ASSERT_EQ(p.rx.open({&br.pkt, 1}), 1u) << to_string(br.pkt.status());
  EXPECT_EQ(Bytes(br.pkt.dcid.begin(), br.pkt.dcid.end()), cid2);
  EXPECT_EQ(p.rx.generation(Direction::open), 0u);
  EXPECT_EQ(p.rx.largest_received(Space::application), 1u);
  EXPECT_EQ(p.tx.set_dcid(Bytes(21, 0)), Status::invalid_argument);
}

TEST(QuicStatelessReset, RecognisesTokenInConstantTime) {
  const Bytes token = test::random_bytes(16, 71), other = test::random_bytes(16, 72);
  Bytes dgram = test::random_bytes(40, 73);
  dgram[0] = static_cast<uint8_t>((dgram[0] & 0x3f) | 0x40);
  std::copy(token.begin(), token.end(), dgram.end() - 16);
  const uint8_t* both[] = {other.data(), token.data()};
  const uint8_t* only_other[] = {other.data()};
  EXPECT_TRUE(is_stateless_reset(dgram, both));
  EXPECT_FALSE(is_stateless_reset(dgram, only_other));
  EXPECT_FALSE(is_stateless_reset({dgram.data() + dgram.size() - 20, 20}, both));  // < 21 bytes
  dgram.back() ^= 1;
  EXPECT_FALSE(is_stateless_reset(dgram, both));
}

TEST(QuicMisuse, StatusesAndNoStateChange) {
  Pair p(Version::v1);
  p.install(Level::handshake, Suite::aes128_gcm, test::random_bytes(32, 81));
  // Wrong secret length and unknown levels.
  EXPECT_EQ(p.tx.install(Level::one_rtt, Direction::seal, Suite::aes256_gcm, Bytes(32, 1)),
            Status::invalid_argument);
  Buf none(Bytes(20, 1), Level::one_rtt);
  EXPECT_EQ(p.tx.seal({&none.pkt, 1}), 0u);
  EXPECT_EQ(none.pkt.status(), Status::unknown_epoch);
  // No room for the header or the tag.
  Buf tight(Bytes(20, 1), Level::handshake, 4, 64);
  EXPECT_EQ(p.tx.seal({&tight.pkt, 1}), 0u);
  EXPECT_EQ(tight.pkt.status(), Status::buffer_too_small);
  Buf notail(Bytes(20, 1), Level::handshake, kHead, 10);
  EXPECT_EQ(p.tx.seal({&notail.pkt, 1}), 0u);
  EXPECT_EQ(notail.pkt.status(), Status::buffer_too_small);
  EXPECT_EQ(p.tx.next_pn(Space::handshake), 0u);
  // A token on a non-Initial packet.
  Buf tok(Bytes(20, 1), Level::handshake);
  const Bytes t(4, 1);
  tok.pkt.token = t;
  EXPECT_EQ(p.tx.seal({&tok.pkt, 1}), 0u);
  EXPECT_EQ(tok.pkt.status(), Status::invalid_argument);

  // Tiny payload: PADDING to reach the sample (RFC 9001 §5.4.2).
  Buf tiny(Bytes{}, Level::handshake);
  ASSERT_EQ(p.tx.seal({&tiny.pkt, 1}), 1u);
  Buf tr(tiny.bytes());
  ASSERT_EQ(p.rx.open({&tr.pkt, 1}), 1u);
  EXPECT_EQ(tr.bytes(), Bytes(3, 0));

  // Too short to sample: truncated, never read past the end.
  Buf b(Bytes(20, 1), Level::handshake);
  ASSERT_EQ(p.tx.seal({&b.pkt, 1}), 1u);
  const Bytes wire = b.bytes();
  for (size_t cut = 0; cut < wire.size(); ++cut) {
    Buf r(Bytes(wire.begin(), wire.begin() + cut));
    EXPECT_EQ(p.rx.open({&r.pkt, 1}), 0u);
    EXPECT_NE(r.pkt.status(), Status::ok);
  }
  // Version Negotiation and an unknown version.
  Bytes vn = {0x80, 0, 0, 0, 0, 1, 0xaa, 1, 0xbb, 0, 0, 0, 1};
  Buf rvn(vn);
  EXPECT_EQ(p.rx.open({&rvn.pkt, 1}), 0u);
  EXPECT_EQ(rvn.pkt.status(), Status::not_protected);
  EXPECT_EQ(rvn.pkt.type, PacketType::version_negotiation);
  Bytes unknown = wire;
  unknown[1] = 0xfa;
  Buf ru(unknown);
  EXPECT_EQ(p.rx.open({&ru.pkt, 1}), 0u);
  EXPECT_EQ(ru.pkt.status(), Status::unsupported);
  // Another version's packet on this connection.
  PacketProtection v2(Version::v2);
  ASSERT_EQ(v2.install(Level::handshake, Direction::seal, Suite::aes128_gcm, test::random_bytes(32, 81)), Status::ok);
  Buf b2(Bytes(20, 1), Level::handshake);
  ASSERT_EQ(v2.seal({&b2.pkt, 1}), 1u);
  Buf r2(b2.bytes());
  EXPECT_EQ(p.rx.open({&r2.pkt, 1}), 0u);
  EXPECT_EQ(r2.pkt.status(), Status::unsupported);

  // Expired keys.
  ASSERT_EQ(p.rx.expire(Level::handshake, Direction::open), Status::ok);
  Buf re(wire);
  EXPECT_EQ(p.rx.open({&re.pkt, 1}), 0u);
  EXPECT_EQ(re.pkt.status(), Status::key_expired);
  EXPECT_EQ(re.mem, wire);
  ASSERT_EQ(p.tx.expire(Level::handshake, Direction::seal), Status::ok);
  Buf se(Bytes(20, 1), Level::handshake);
  EXPECT_EQ(p.tx.seal({&se.pkt, 1}), 0u);
  EXPECT_EQ(se.pkt.status(), Status::key_expired);
}

TEST(QuicBurst, LargerThanOneChunkAndMixedOutcomes) {
  Pair p(Version::v1);
  p.install(Level::one_rtt, Suite::aes128_gcm, test::random_bytes(32, 91));
  std::vector<Buf> bufs;
  for (size_t i = 0; i < 150; ++i) bufs.emplace_back(test::random_bytes(64 + i, i), Level::one_rtt);
  std::vector<Packet> pk;
  for (auto& b : bufs) pk.push_back(b.pkt);
  ASSERT_EQ(p.tx.seal(pk), 150u);
  std::vector<Buf> rx;
  for (size_t i = 0; i < pk.size(); ++i) {
    Bytes w(pk[i].view.data(), pk[i].view.data() + pk[i].view.length);
    if (i % 7 == 3) w[w.size() - 1] ^= 1;  // forged
    rx.emplace_back(w);
  }
  rx.emplace_back(Bytes(pk[5].view.data(), pk[5].view.data() + pk[5].view.length));  // duplicate in burst
  std::vector<Packet> ro;
  for (auto& b : rx) ro.push_back(b.pkt);
  const size_t want_ok = 150 - (150 + 3) / 7;
  EXPECT_EQ(p.rx.open(ro), want_ok);
  for (size_t i = 0; i < 150; ++i)
    EXPECT_EQ(ro[i].status(), i % 7 == 3 ? Status::auth_failed : Status::ok) << i;
  // The copy of packet 5 has a 1-byte number (nothing was acknowledged) and
  // comes after 149: from there it decodes as 261 (RFC 9000 App. A.3), which
  // fails, as one packet at a time (it was a replay when bursts decoded from
  // the largest number before the burst).
  EXPECT_EQ(pk[5].pn_length, 1u);
  EXPECT_EQ(ro[150].status(), Status::auth_failed);
  EXPECT_EQ(Bytes(rx[150].mem), Bytes(pk[5].view.data(), pk[5].view.data() + pk[5].view.length));
}

}  // namespace
}  // namespace rl::quic

namespace rl::quic {
namespace {

// Protects a short-header packet by hand (RFC 9001 §5.3/§5.4) with any first
// byte, so that rules checked after authentication can be exercised.
Bytes hand_protect(Version v, Suite s, const Bytes& secret, uint8_t first, uint64_t pn,
                   size_t pn_len, const Bytes& payload) {
  PacketKeys k;
  EXPECT_EQ(derive_packet_keys(v, s, secret, k), Status::ok);
  // Sized once and filled by index (GCC 12 warns, wrongly, about push_back
  // on a one-byte vector here).
  const size_t hl = 1 + pn_len;
  Bytes p(hl + payload.size() + 16, 0);
  p[0] = first;
  for (size_t i = 0; i < pn_len; ++i) p[1 + i] = static_cast<uint8_t>(pn >> (8 * (pn_len - 1 - i)));
  std::copy(payload.begin(), payload.end(), p.begin() + static_cast<std::ptrdiff_t>(hl));
  AeadKey key;
  EXPECT_EQ(key.init(s, {k.key, k.key_len}), Status::ok);
  AeadJob j;
  j.key = &key;
  xor_nonce(k.iv, pn, j.nonce);
  j.aad = {p.data(), hl};
  j.data = {p.data() + hl, payload.size()};
  j.tag = p.data() + hl + payload.size();
  rl::seal({&j, 1});
  EXPECT_EQ(j.status, Status::ok);
  MaskKey hp;
  EXPECT_EQ(hp.init(s, {k.hp, k.hp_len}), Status::ok);
  MaskJob m;
  m.key = &hp;
  m.sample = p.data() + 1 + 4;
  rl::mask({&m, 1});
  p[0] ^= m.mask[0] & 0x1f;
  for (size_t i = 0; i < pn_len; ++i) p[1 + i] ^= m.mask[1 + i];
  return p;
}

TEST(QuicRules, ReservedBitsSetAfterAuthenticationIsMalformedAndChangesNothing) {
  const Bytes secret = test::random_bytes(32, 101);
  PacketProtection rx;
  ASSERT_EQ(rx.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, secret), Status::ok);
  // The hand-built packet with clean bits opens: the construction is right.
  const Bytes good = hand_protect(Version::v1, Suite::aes128_gcm, secret, 0x41, 0, 2, Bytes(30, 3));
  Buf g(good);
  ASSERT_EQ(rx.open({&g.pkt, 1}), 1u) << to_string(g.pkt.status());
  for (uint8_t reserved : {uint8_t{0x08}, uint8_t{0x10}, uint8_t{0x18}}) {
    const Bytes bad = hand_protect(Version::v1, Suite::aes128_gcm, secret,
                                   static_cast<uint8_t>(0x41 | reserved), 1, 2, Bytes(30, 4));
    Buf b(bad);
    EXPECT_EQ(rx.open({&b.pkt, 1}), 0u);
    EXPECT_EQ(b.pkt.status(), Status::malformed);
    EXPECT_EQ(b.mem, bad);  // ciphertext and header put back
    EXPECT_EQ(rx.largest_received(Space::application), 0u);
    EXPECT_EQ(rx.auth_failures(), 0u);  // it authenticated: not an integrity failure
  }
}

TEST(QuicRules, BurstWithUpdateOldPhaseAndDuplicate) {
  Pair p(Version::v1);
  p.install(Level::one_rtt, Suite::chacha20_poly1305, test::random_bytes(32, 111));
  Buf a(Bytes(40, 1), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&a.pkt, 1}), 1u);  // pn 0, phase 0
  Buf b(Bytes(40, 2), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&b.pkt, 1}), 1u);  // pn 1, phase 0
  p.tx.on_ack(Space::application, 0);
    ASSERT_EQ(p.tx.update(Direction::seal), Status::ok);
  Buf c(Bytes(40, 3), Level::one_rtt);
  ASSERT_EQ(p.tx.seal({&c.pkt, 1}), 1u);  // pn 2, phase 1
  Buf ra(a.bytes());
  ASSERT_EQ(p.rx.open({&ra.pkt, 1}), 1u);
  // One burst: the phase-1 packet (update), the reordered phase-0 packet,
  // and the phase-1 packet again.
  Buf rc(c.bytes()), rb(b.bytes()), rc2(c.bytes());
  Packet burst[3] = {rc.pkt, rb.pkt, rc2.pkt};
  EXPECT_EQ(p.rx.open(burst), 2u);
  EXPECT_EQ(burst[0].status(), Status::ok);
  EXPECT_TRUE(burst[0].key_phase);
  EXPECT_EQ(burst[1].status(), Status::ok);
  EXPECT_FALSE(burst[1].key_phase);
  EXPECT_EQ(burst[2].status(), Status::replayed);
  EXPECT_EQ(rc2.mem, c.bytes());
  EXPECT_EQ(p.rx.generation(Direction::open), 1u);
  EXPECT_TRUE(p.rx.has_previous());
  EXPECT_EQ(p.rx.largest_received(Space::application), 2u);
}

}  // namespace
}  // namespace rl::quic

namespace rl::quic {
namespace {

TEST(QuicSpaces, ZeroRttAndOneRttShareTheApplicationSpace) {
  for (Version v : {Version::v1, Version::v2}) {
    PacketProtection client(v), server(v);
    const Bytes early = test::random_bytes(32, 131), app = test::random_bytes(32, 132);
    ASSERT_EQ(client.install(Level::zero_rtt, Direction::seal, Suite::aes128_gcm, early), Status::ok);
    ASSERT_EQ(server.install(Level::zero_rtt, Direction::open, Suite::aes128_gcm, early), Status::ok);
    ASSERT_EQ(client.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, app), Status::ok);
    ASSERT_EQ(server.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, app), Status::ok);
    const Level order[] = {Level::zero_rtt, Level::zero_rtt, Level::one_rtt, Level::zero_rtt,
                           Level::one_rtt};
    std::vector<Bytes> wires;
    for (size_t i = 0; i < 5; ++i) {
      Buf b(Bytes(25, static_cast<uint8_t>(i)), order[i]);
      ASSERT_EQ(client.seal({&b.pkt, 1}), 1u);
      EXPECT_EQ(b.pkt.pn, i);  // one counter for both levels (RFC 9000 §12.3)
      EXPECT_EQ(b.pkt.type,
                order[i] == Level::zero_rtt ? PacketType::zero_rtt : PacketType::one_rtt);
      wires.push_back(b.bytes());
    }
    for (size_t i = 5; i-- > 0;) {  // delivered in reverse
      Buf r(wires[i]);
      ASSERT_EQ(server.open({&r.pkt, 1}), 1u) << to_string(r.pkt.status());
      EXPECT_EQ(r.pkt.pn, i);
      EXPECT_EQ(r.pkt.level, order[i]);
      EXPECT_EQ(r.bytes(), Bytes(25, static_cast<uint8_t>(i)));
    }
    // A packet seen again is a duplicate in the shared space.
    Buf again(wires[1]);
    EXPECT_EQ(server.open({&again.pkt, 1}), 0u);
    EXPECT_EQ(again.pkt.status(), Status::replayed);
    // The client never opens 0-RTT.
    Buf c(wires[0]);
    EXPECT_EQ(client.open({&c.pkt, 1}), 0u);
    EXPECT_EQ(c.pkt.status(), Status::unknown_epoch);
  }
}

}  // namespace
}  // namespace rl::quic

// ---- key update errors (RFC 9001 §6.1, §6.2, §6.4) --------------------------------

namespace rl::quic {
namespace {

// One direction of a connection: `tx` seals with secret `s`, `rx` opens it.
struct Link {
  PacketProtection tx, rx;
  Bytes secret = test::random_bytes(32, 171);
  Link() {
    EXPECT_EQ(tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, secret), Status::ok);
    EXPECT_EQ(rx.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, secret), Status::ok);
  }
  Bytes send(uint8_t fill) {
    Buf b(Bytes(48, fill), Level::one_rtt);
    EXPECT_EQ(tx.seal({&b.pkt, 1}), 1u);
    return b.bytes();
  }
};

Status open_one(PacketProtection& pp, const Bytes& wire, Bytes* after = nullptr) {
  Buf r(wire);
  pp.open({&r.pkt, 1});
  if (after != nullptr) *after = r.mem;
  return r.pkt.status();
}

TEST(QuicKeyUpdateError, UpdateRefusedBeforeConfirmationAndBeforeAckOfCurrentPhase) {
  // A client that sent 0-RTT (pn 0) and then 1-RTT (pn 1).
  const Bytes early = test::random_bytes(32, 172);
  Link l;
  ASSERT_EQ(l.tx.install(Level::zero_rtt, Direction::seal, Suite::aes128_gcm, early), Status::ok);
  Buf z(Bytes(48, 9), Level::zero_rtt);
  ASSERT_EQ(l.tx.seal({&z.pkt, 1}), 1u);
  const Bytes p1 = l.send(0);  // 1-RTT, pn 1
  // §6.1: not before the handshake is confirmed. An ACK of the 0-RTT packet
  // alone confirms nothing (§4.1.2 needs an ACK of a 1-RTT packet).
  EXPECT_EQ(l.tx.update(Direction::seal), Status::invalid_argument);
  ASSERT_EQ(l.tx.on_ack(Space::application, 0), Status::ok);
  EXPECT_EQ(l.tx.update(Direction::seal), Status::invalid_argument);
  EXPECT_EQ(l.tx.generation(Direction::seal), 0u);
  ASSERT_EQ(l.tx.on_ack(Space::application, 1), Status::ok);
  ASSERT_EQ(l.tx.update(Direction::seal), Status::ok);
  EXPECT_EQ(l.tx.generation(Direction::seal), 1u);
  // §6.1: no subsequent update before an ACK for a packet of the current phase:
  // nothing sent yet, then sent but only older packets acknowledged.
  EXPECT_EQ(l.tx.update(Direction::seal), Status::invalid_argument);
  const Bytes p2 = l.send(1);  // pn 2, the first of generation 1
  EXPECT_EQ(l.tx.update(Direction::seal), Status::invalid_argument);
  ASSERT_EQ(l.tx.on_ack(Space::application, 1), Status::ok);
  EXPECT_EQ(l.tx.update(Direction::seal), Status::invalid_argument);
  ASSERT_EQ(l.tx.on_ack(Space::application, 2), Status::ok);
  ASSERT_EQ(l.tx.update(Direction::seal), Status::ok);
  EXPECT_EQ(l.tx.generation(Direction::seal), 2u);
  EXPECT_EQ(l.tx.key_update_error(), KeyUpdateError::none);
}

TEST(QuicKeyUpdateError, OldKeysAfterNewerKeysIsRefusedAndReported) {
  Link l;
  const Bytes p0 = l.send(0), p1 = l.send(1);  // generation 0
  l.tx.on_ack(Space::application, 0);
  ASSERT_EQ(l.tx.update(Direction::seal), Status::ok);
  const Bytes p2 = l.send(2);  // generation 1, pn 2
  ASSERT_EQ(open_one(l.rx, p0), Status::ok);
  ASSERT_EQ(open_one(l.rx, p2), Status::ok);
  ASSERT_EQ(l.rx.generation(Direction::open), 1u);
  // A late generation-0 packet numbered below the first generation-1 one is fine.
  ASSERT_EQ(open_one(l.rx, p1), Status::ok);
  EXPECT_EQ(l.rx.key_update_error(), KeyUpdateError::none);

  // A generation-0 packet numbered after pn 2: the peer went back to old
  // keys (§6.4, MUST be a KEY_UPDATE_ERROR).
  PacketProtection old_tx;
  ASSERT_EQ(old_tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, l.secret), Status::ok);
  ASSERT_EQ(old_tx.skip_packet_numbers(Space::application, 3), Status::ok);
  Buf b(Bytes(48, 3), Level::one_rtt);
  ASSERT_EQ(old_tx.seal({&b.pkt, 1}), 1u);
  const Bytes bad = b.bytes();
  // A forgery of the same shape (last byte of the tag changed) is only an
  // authentication failure, not a key update error.
  Bytes forged = bad;
  forged.back() ^= 1;
  const uint64_t failures = l.rx.auth_failures();
  Bytes after;
  EXPECT_EQ(open_one(l.rx, forged, &after), Status::auth_failed);
  EXPECT_EQ(after, forged);
  EXPECT_EQ(l.rx.auth_failures(), failures + 1);
  EXPECT_EQ(l.rx.key_update_error(), KeyUpdateError::none);

  EXPECT_EQ(open_one(l.rx, bad, &after), Status::malformed);
  EXPECT_EQ(after, bad);  // bytes as they arrived
  EXPECT_EQ(l.rx.key_update_error(), KeyUpdateError::old_keys_after_new);
  EXPECT_EQ(l.rx.auth_failures(), failures + 1);  // not counted as a forgery
  EXPECT_EQ(l.rx.largest_received(Space::application), 2u);  // nothing committed
  EXPECT_EQ(l.rx.generation(Direction::open), 1u);
  EXPECT_TRUE(l.rx.has_previous());
  EXPECT_STREQ(to_string(l.rx.key_update_error()), "old_keys_after_new");
}

// The peer (tx) updates twice; the receiver reports the ACKs it sends.
// Returns the status of the packet that carries the second update.
Status second_update(bool report_acks, uint64_t acked_by_receiver, KeyUpdateError* err,
                     uint64_t* gen_after) {
  Link l;
  const Bytes p0 = l.send(0);
  EXPECT_EQ(open_one(l.rx, p0), Status::ok);
  l.tx.on_ack(Space::application, 0);
  EXPECT_EQ(l.tx.update(Direction::seal), Status::ok);
  const Bytes p1 = l.send(1);  // generation 1, pn 1
  EXPECT_EQ(open_one(l.rx, p1), Status::ok);
  EXPECT_EQ(l.rx.generation(Direction::open), 1u);
  if (report_acks) l.rx.on_ack_sent(acked_by_receiver);
  // The peer claims an ACK for pn 1 and updates again.
  l.tx.on_ack(Space::application, 1);
  EXPECT_EQ(l.tx.update(Direction::seal), Status::ok);
  const Bytes p2 = l.send(2);  // generation 2, pn 2
  Bytes after;
  const Status st = open_one(l.rx, p2, &after);
  if (st != Status::ok) {
    EXPECT_EQ(after, p2);
    EXPECT_EQ(l.rx.largest_received(Space::application), 1u);
  }
  *err = l.rx.key_update_error();
  *gen_after = l.rx.generation(Direction::open);
  return st;
}

TEST(QuicKeyUpdateError, ConsecutiveUpdateBeforeOurAckIsRefused) {
  KeyUpdateError err;
  uint64_t gen = 0;
  // We acknowledged only pn 0 (generation 0): the peer cannot have had an ACK
  // for a generation-1 packet (§6.2).
  EXPECT_EQ(second_update(true, 0, &err, &gen), Status::malformed);
  EXPECT_EQ(err, KeyUpdateError::consecutive_update);
  EXPECT_EQ(gen, 1u);
  // We acknowledged pn 1: the second update is allowed.
  EXPECT_EQ(second_update(true, 1, &err, &gen), Status::ok);
  EXPECT_EQ(err, KeyUpdateError::none);
  EXPECT_EQ(gen, 2u);
  // A caller that does not report its ACKs does not get the check.
  EXPECT_EQ(second_update(false, 0, &err, &gen), Status::ok);
  EXPECT_EQ(err, KeyUpdateError::none);
  EXPECT_EQ(gen, 2u);
}

TEST(QuicKeyUpdateError, AckOfNewKeysCarriedWithOldKeys) {
  // Endpoint A seals with `sa` and opens with `sb`; its peer B the other way.
  const Bytes sa = test::random_bytes(32, 181), sb = test::random_bytes(32, 182);
  PacketProtection a, b_tx, b_rx;
  ASSERT_EQ(a.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, sa), Status::ok);
  ASSERT_EQ(a.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, sb), Status::ok);
  ASSERT_EQ(b_tx.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, sb), Status::ok);
  ASSERT_EQ(b_rx.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, sa), Status::ok);
  auto send = [](PacketProtection& from, uint8_t fill) {
    Buf x(Bytes(48, fill), Level::one_rtt);
    EXPECT_EQ(from.seal({&x.pkt, 1}), 1u);
    return x.bytes();
  };
  const Bytes a0 = send(a, 0);
  ASSERT_EQ(open_one(b_rx, a0), Status::ok);
  const Bytes b0 = send(b_tx, 0), b1 = send(b_tx, 1);  // B's generation 0
  ASSERT_EQ(open_one(a, b0), Status::ok);
  ASSERT_EQ(a.on_ack(Space::application, 0, 0), Status::ok);  // carried in B's pn 0
  ASSERT_EQ(a.update(Direction::seal), Status::ok);
  const Bytes a1 = send(a, 1);  // A's generation 1, pn 1
  ASSERT_EQ(open_one(b_rx, a1), Status::ok);
  ASSERT_EQ(open_one(a, b1), Status::ok);
  // An ACK of pn 0 (generation 0) in B's generation-0 packet pn 1 is fine.
  EXPECT_EQ(a.on_ack(Space::application, 0, 1), Status::ok);
  EXPECT_EQ(a.key_update_error(), KeyUpdateError::none);
  // B acknowledges A's generation-1 packet in its generation-0 packet pn 1:
  // it should have updated its send keys first (§6.2, MAY be an error).
  EXPECT_EQ(a.on_ack(Space::application, 1, 1), Status::malformed);
  EXPECT_EQ(a.key_update_error(), KeyUpdateError::ack_in_old_keys);
  // Not applied: a further update still waits for an ACK of generation 1.
  EXPECT_EQ(a.update(Direction::seal), Status::invalid_argument);
  // Unchecked when the carrier is not given.
  EXPECT_EQ(a.on_ack(Space::application, 1), Status::ok);
  EXPECT_EQ(a.update(Direction::seal), Status::ok);
}

}  // namespace
}  // namespace rl::quic

namespace rl::quic {
namespace {

// A burst of 1-RTT packets only takes the fast paths (seal_1rtt, the lean
// open loops); the same packets with a Handshake packet in front take the
// general ones (the lean open loops stop at the first packet). Both must give the same bytes, statuses and state.
TEST(QuicBurst, OneRttFastPathsAgreeWithGeneralPaths) {
  test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      const Bytes hs = test::random_bytes(hash_len(suite_info(s).hash), 191);
      const Bytes app = test::random_bytes(hash_len(suite_info(s).hash), 192);
      const Bytes dcid = test::random_bytes(8, 193);
      PacketProtection tx[2], rx[2];
      for (int k = 0; k < 2; ++k) {
        ASSERT_EQ(tx[k].install(Level::handshake, Direction::seal, s, hs), Status::ok);
        ASSERT_EQ(tx[k].install(Level::one_rtt, Direction::seal, s, app), Status::ok);
        ASSERT_EQ(rx[k].install(Level::handshake, Direction::open, s, hs), Status::ok);
        ASSERT_EQ(rx[k].install(Level::one_rtt, Direction::open, s, app), Status::ok);
        ASSERT_EQ(tx[k].set_dcid(dcid), Status::ok);
        ASSERT_EQ(rx[k].set_short_dcid_length(8), Status::ok);
      }
      constexpr size_t kN = 9;
      std::vector<Buf> bufs[2];
      for (int k = 0; k < 2; ++k) {
        if (k == 1) bufs[k].emplace_back(Bytes(40, 0xaa), Level::handshake);
        for (size_t i = 0; i < kN; ++i)
          bufs[k].emplace_back(test::random_bytes(i * 37 % 200, 200 + i), Level::one_rtt);
        std::vector<Packet> pk;
        for (Buf& b : bufs[k]) pk.push_back(b.pkt);
        ASSERT_EQ(tx[k].seal(pk), pk.size());
        for (size_t i = 0; i < pk.size(); ++i) bufs[k][i].pkt = pk[i];
      }
      for (size_t i = 0; i < kN; ++i) {
        EXPECT_EQ(bufs[0][i].bytes(), bufs[1][i + 1].bytes()) << i;
        EXPECT_EQ(bufs[0][i].pkt.pn, bufs[1][i + 1].pkt.pn);
        EXPECT_EQ(bufs[0][i].pkt.header_length, bufs[1][i + 1].pkt.header_length);
      }
      // Receive: packet 3 forged, packet 5 repeated at the end, packets 6 and
      // 7 swapped.
      std::vector<Bytes> wire;
      for (size_t i = 0; i < kN; ++i) wire.push_back(bufs[0][i].bytes());
      wire[3][wire[3].size() / 2] ^= 0x40;
      std::swap(wire[6], wire[7]);
      wire.push_back(wire[5]);
      std::vector<Buf> in[2];
      for (int k = 0; k < 2; ++k) {
        if (k == 1) in[k].emplace_back(bufs[1][0].bytes());
        for (const Bytes& w : wire) in[k].emplace_back(w);
        std::vector<Packet> pk;
        for (Buf& b : in[k]) pk.push_back(b.pkt);
        const size_t ok = rx[k].open(pk);
        EXPECT_EQ(ok, wire.size() - 2 + (k == 1 ? 1 : 0));
        for (size_t i = 0; i < pk.size(); ++i) in[k][i].pkt = pk[i];
      }
      for (size_t i = 0; i < wire.size(); ++i) {
        const Buf& a = in[0][i];
        const Buf& b = in[1][i + 1];
        EXPECT_EQ(a.pkt.status(), b.pkt.status()) << i;
        EXPECT_EQ(a.mem, b.mem) << i;
        if (a.pkt.status() != Status::ok) {
          EXPECT_EQ(a.mem, wire[i]) << i;  // refused packets are left as they arrived
          continue;
        }
        EXPECT_EQ(a.pkt.pn, b.pkt.pn);
        EXPECT_EQ(a.pkt.header_length, b.pkt.header_length);
        EXPECT_EQ(a.pkt.view.offset, b.pkt.view.offset);
        EXPECT_EQ(a.pkt.view.length, b.pkt.view.length);
        EXPECT_EQ(a.pkt.key_phase, b.pkt.key_phase);
        EXPECT_EQ(a.pkt.type, PacketType::one_rtt);
      }
      EXPECT_EQ(in[0][3].pkt.status(), Status::auth_failed);
      EXPECT_EQ(in[0][kN].pkt.status(), Status::replayed);
      EXPECT_EQ(rx[0].largest_received(Space::application), rx[1].largest_received(Space::application));
      EXPECT_EQ(rx[0].auth_failures(), 1u);
      EXPECT_EQ(rx[1].auth_failures(), 1u);
    }
  });
}


// The datagrams `in` opened as one burst by `burst` and one at a time by
// `one` (receivers with the same history), compared: counts, statuses,
// bytes (a refused packet left as it arrived), what each opened packet
// reports, both packet-number spaces, the key state, the 1-RTT open
// counters and the events. Returns the burst's buffers and its events.
struct BurstResult {
  std::vector<Buf> bufs;
  std::vector<KeyEvent> events;
};
BurstResult expect_burst_equals_one_by_one(PacketProtection& burst, PacketProtection& one,
                                           const std::vector<Bytes>& in) {
  std::vector<Buf> a, b;
  for (const Bytes& w : in) {
    a.emplace_back(w);
    b.emplace_back(w);
  }
  std::vector<Packet> pa;
  for (Buf& x : a) pa.push_back(x.pkt);
  const size_t ok_burst = burst.open(pa);
  size_t ok_one = 0;
  for (Buf& x : b) ok_one += one.open({&x.pkt, 1});
  EXPECT_EQ(ok_burst, ok_one);
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE("packet " + std::to_string(i));
    a[i].pkt = pa[i];
    EXPECT_EQ(a[i].pkt.status(), b[i].pkt.status());
    EXPECT_EQ(a[i].mem, b[i].mem);
    if (a[i].pkt.status() != Status::ok) {
      EXPECT_EQ(a[i].mem, in[i]);  // refused packets are left as they arrived
      continue;
    }
    EXPECT_EQ(a[i].pkt.pn, b[i].pkt.pn);
    EXPECT_EQ(a[i].pkt.pn_length, b[i].pkt.pn_length);
    EXPECT_EQ(a[i].pkt.type, b[i].pkt.type);
    EXPECT_EQ(a[i].pkt.header_length, b[i].pkt.header_length);
    EXPECT_EQ(a[i].pkt.view.offset, b[i].pkt.view.offset);
    EXPECT_EQ(a[i].pkt.view.length, b[i].pkt.view.length);
    EXPECT_EQ(a[i].pkt.key_phase, b[i].pkt.key_phase);
  }
  for (Space sp : {Space::handshake, Space::application}) {
    EXPECT_EQ(burst.has_received(sp), one.has_received(sp));
    EXPECT_EQ(burst.largest_received(sp), one.largest_received(sp));
  }
  EXPECT_EQ(burst.generation(Direction::open), one.generation(Direction::open));
  EXPECT_EQ(burst.has_previous(), one.has_previous());
  EXPECT_EQ(burst.auth_failures(), one.auth_failures());
  EXPECT_EQ(burst.key_update_error(), one.key_update_error());
  const KeyCounters* ca = burst.counters(Level::one_rtt, Direction::open);
  const KeyCounters* cb = one.counters(Level::one_rtt, Direction::open);
  EXPECT_NE(ca, nullptr);
  EXPECT_NE(cb, nullptr);
  if (ca != nullptr && cb != nullptr) {
    EXPECT_EQ(ca->opened, cb->opened);
    EXPECT_EQ(ca->bytes_opened, cb->bytes_opened);
    EXPECT_EQ(ca->replays, cb->replays);
    EXPECT_EQ(ca->auth_failures, cb->auth_failures);
  }
  BurstResult r{std::move(a), drain(burst)};
  const auto eb = drain(one);
  EXPECT_EQ(r.events.size(), eb.size());
  for (size_t i = 0; i < std::min(r.events.size(), eb.size()); ++i) {
    EXPECT_EQ(r.events[i].kind, eb[i].kind);
    EXPECT_EQ(r.events[i].epoch, eb[i].epoch);
    EXPECT_EQ(r.events[i].records, eb[i].records);
    EXPECT_EQ(r.events[i].bytes, eb[i].bytes);
  }
  return r;
}

// Bursts that mix what the 1-RTT fast paths take (short headers of the
// current, next or previous keys) with what they refuse or hand to the
// general path (a long-header packet, a packet too short to sample, a
// forged tag, a packet repeated in the burst or from an earlier burst, a
// flipped key phase, late packets of the old phase), opened once as bursts
// and once one packet at a time on a second receiver. Each packet must get
// the same status and bytes, and after each burst both receivers the same
// state. Every packet number in a burst sits on the same side of the key
// update for both, so burst and one-at-a-time must agree exactly.
TEST(QuicBurst, MixedBurstsAgreeWithOneAtATime) {
  test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      const Bytes hs = test::random_bytes(hash_len(suite_info(s).hash), 301);
      const Bytes app = test::random_bytes(hash_len(suite_info(s).hash), 302);
      const Bytes dcid = test::random_bytes(8, 303);
      PacketProtection tx, rx_burst, rx_one;
      ASSERT_EQ(tx.install(Level::handshake, Direction::seal, s, hs), Status::ok);
      ASSERT_EQ(tx.install(Level::one_rtt, Direction::seal, s, app), Status::ok);
      ASSERT_EQ(tx.set_dcid(dcid), Status::ok);
      for (PacketProtection* rx : {&rx_burst, &rx_one}) {
        ASSERT_EQ(rx->install(Level::handshake, Direction::open, s, hs), Status::ok);
        ASSERT_EQ(rx->install(Level::one_rtt, Direction::open, s, app), Status::ok);
        ASSERT_EQ(rx->set_short_dcid_length(8), Status::ok);
      }
      auto seal_one = [&](Level level, size_t len, uint64_t seed) {
        Buf b(test::random_bytes(len, seed), level);
        std::vector<Packet> pk{b.pkt};
        EXPECT_EQ(tx.seal(pk), 1u);
        b.pkt = pk[0];
        return b.bytes();
      };
      // P[0..11] with the first keys, then a key update, Q[12..17] with the
      // next ones (flipped key phase); H a Handshake packet.
      std::vector<Bytes> wire;
      for (size_t i = 0; i < 12; ++i) wire.push_back(seal_one(Level::one_rtt, 20 + i * 53 % 300, 310 + i));
      ASSERT_EQ(tx.on_ack(Space::application, 5), Status::ok);
      ASSERT_EQ(tx.update(Direction::seal), Status::ok);
      for (size_t i = 12; i < 18; ++i) wire.push_back(seal_one(Level::one_rtt, 30 + i * 41 % 250, 310 + i));
      const Bytes h = seal_one(Level::handshake, 60, 399);
      // R[18..29] with the same keys, then a second update: S[30..35] (key
      // phase back to 0), and a second Handshake packet.
      for (size_t i = 18; i < 30; ++i) wire.push_back(seal_one(Level::one_rtt, 40 + i * 37 % 400, 310 + i));
      ASSERT_EQ(tx.on_ack(Space::application, 20), Status::ok);
      ASSERT_EQ(tx.update(Direction::seal), Status::ok);
      for (size_t i = 30; i < 36; ++i) wire.push_back(seal_one(Level::one_rtt, 1200 + i, 310 + i));
      const Bytes h2 = seal_one(Level::handshake, 70, 398);
      auto forged = [&](size_t i) {
        Bytes b = wire[i];
        b.back() ^= 0x01;  // the tag
        return b;
      };
      Bytes short_q15(wire[15].begin(), wire[15].begin() + 20);  // cannot hold the sample
      const std::vector<std::vector<Bytes>> bursts = {
          // fast path: reordering, a repeat inside the burst, a forged tag
          {wire[0], wire[1], wire[3], wire[2], wire[1], forged(4), wire[5], wire[6]},
          // general path (long header): a repeat of an earlier burst's packet
          {wire[7], h, wire[8], wire[6]},
          // fast path: the peer's key update (next keys), late packets of the
          // old phase numbered below it, the genuine packet 4 after its forgery
          {wire[9], wire[12], wire[10], wire[13], wire[4]},
          // general path (a packet too short to sample)
          {wire[14], short_q15, wire[16]},
          // fast path with the previous keys kept: a late old-phase packet, a
          // repeat, a forgery, a too-short packet alone
          {wire[17], wire[11], wire[13], forged(15)},
          {short_q15},
          // The lean loops (current keys, packet numbers rising) with what
          // makes them hand over to the general loops part way: a forgery
          // inside a lean run (after the AEAD), then the genuine packet
          // after a later one; a repeat of a packet of the same lean run
          // (before the AEAD); a long header; a repeat of an earlier burst's
          // packet; the peer's second key update (flipped phase) after a
          // lean run and a repeat (counted on the keys current before the
          // update, in a burst as one at a time); then lean runs under the
          // new keys.
          {wire[18], wire[19], wire[20], forged(21), wire[22], wire[21]},
          {wire[23], wire[24], wire[24], h2, wire[25], wire[13]},
          {wire[26], wire[27], wire[28], wire[27]},
          {wire[29], wire[28], wire[30], wire[31]},
          {wire[32], wire[33], wire[34], wire[35]},
      };
      for (size_t bi = 0; bi < bursts.size(); ++bi) {
        SCOPED_TRACE("burst " + std::to_string(bi));
        const std::vector<Bytes>& in = bursts[bi];
        const std::vector<Buf> a = expect_burst_equals_one_by_one(rx_burst, rx_one, in).bufs;
        // And both hold what was sealed: every packet that opened has its
        // frames, in place, under the packet number it was sealed with.
        for (size_t i = 0; i < in.size(); ++i) {
          if (a[i].pkt.status() != Status::ok || a[i].pkt.type != PacketType::one_rtt) continue;
          ASSERT_LT(a[i].pkt.pn, wire.size());
          const size_t k = static_cast<size_t>(a[i].pkt.pn);
          const Bytes frames = test::random_bytes(
              k < 12 ? 20 + k * 53 % 300 : k < 18 ? 30 + k * 41 % 250 : k < 30 ? 40 + k * 37 % 400 : 1200 + k,
              310 + k);
          EXPECT_EQ(a[i].bytes(), frames) << "pn " << k;
        }
      }
      // What the bursts should have given (so that the comparison above is
      // not between two receivers that refuse everything).
      EXPECT_EQ(rx_burst.generation(Direction::open), 2u);
      EXPECT_TRUE(rx_burst.has_previous());
      EXPECT_EQ(rx_burst.auth_failures(), 3u);
      EXPECT_EQ(rx_burst.largest_received(Space::application), 35u);
      EXPECT_TRUE(rx_burst.has_received(Space::handshake));
      EXPECT_EQ(rx_burst.key_update_error(), KeyUpdateError::none);
      // Opened with the newest keys: 30..35.
      EXPECT_EQ(rx_burst.counters(Level::one_rtt, Direction::open)->opened, 6u);
      EXPECT_EQ(rx_burst.counters(Level::one_rtt, Direction::open)->replays, 0u);  // all before
    }
  });
}

// The edges of the lean open loops, with hand-built packets (no CID):
// reserved bits set inside a lean run (refused only after the AEAD, by the
// general loops), packet numbers exactly half a window above the expected
// one (lean) and one more (general: App. A.3's other branch), a decode that
// moves up a window, and a soft byte limit crossed inside a lean run (the
// event must carry the counters of the packet that crossed it, not the
// run's). Burst and one at a time must agree on everything.
TEST(QuicBurst, LeanRunEdgesAgreeWithOneAtATime) {
  test::for_each_backend([&](Backend) {
    const Bytes secret = test::random_bytes(32, 501);
    Limits l = default_limits(Protocol::quic, Suite::aes128_gcm);
    l.soft_bytes = 50;  // crossed by the second 30-byte packet
    PacketProtection rx_burst, rx_one;
    for (PacketProtection* rx : {&rx_burst, &rx_one})
      ASSERT_EQ(rx->install(Level::one_rtt, Direction::open, Suite::aes128_gcm, secret, &l),
                Status::ok);
    drain(rx_burst);
    drain(rx_one);
    auto pkt = [&](uint64_t pn, size_t pn_len, uint8_t reserved = 0) {
      return hand_protect(Version::v1, Suite::aes128_gcm, secret,
                          static_cast<uint8_t>(0x40 | reserved | (pn_len - 1)), pn, pn_len,
                          Bytes(30, static_cast<uint8_t>(pn)));
    };
    const std::vector<std::vector<Bytes>> bursts = {
        {pkt(0, 2), pkt(1, 2), pkt(2, 2), pkt(3, 2, 0x10), pkt(4, 2), pkt(5, 2)},
        // expected 6: 134 is 6 + 128 (lean), 135 one more (general)
        {pkt(6, 1), pkt(7, 1), pkt(134, 1), pkt(135, 1), pkt(136, 1)},
        {pkt(400, 2)},
        // expected 401: the 1-byte 8 decodes to 264 + 256 = 520
        {pkt(520, 1), pkt(521, 4), pkt(522, 3, 0x08), pkt(523, 3)},
        // expected 524: the 1-byte 141 is one more than half a window above
        // (653): App. A.3 takes 397 (first in its burst, so that one at a
        // time decodes against the same expected number)
        {pkt(397, 1)},
        // expected 524: the 1-byte 145 is 657 as a candidate, more than half
        // a window above: App. A.3 takes 401 (a late packet, not a repeat)
        {pkt(524, 1), pkt(401, 1)},
    };
    const std::vector<uint64_t> want_pn = {0,   1,   2,   4,   5,   6,   7,   134,   135,
                                           136, 400, 520, 521, 523, 397, 524, 401};
    std::vector<uint64_t> got_pn;
    for (size_t bi = 0; bi < bursts.size(); ++bi) {
      SCOPED_TRACE("burst " + std::to_string(bi));
      const std::vector<Bytes>& in = bursts[bi];
      const BurstResult r = expect_burst_equals_one_by_one(rx_burst, rx_one, in);
      for (size_t i = 0; i < in.size(); ++i) {
        SCOPED_TRACE("packet " + std::to_string(i));
        const Buf& x = r.bufs[i];
        if (x.pkt.status() != Status::ok) {
          EXPECT_EQ(x.pkt.status(), Status::malformed);  // the reserved bits
          continue;
        }
        EXPECT_EQ(x.bytes(), Bytes(30, static_cast<uint8_t>(x.pkt.pn)));
        got_pn.push_back(x.pkt.pn);
      }
      const std::vector<KeyEvent>& ea = r.events;
      if (bi == 0) {  // the soft limit, at the second packet
        ASSERT_EQ(ea.size(), 1u);
        EXPECT_EQ(ea[0].kind, KeyEvent::soft_limit);
        EXPECT_EQ(ea[0].records, 2u);
        EXPECT_EQ(ea[0].bytes, 60u);
      }
    }
    EXPECT_EQ(got_pn, want_pn);
  });
}

// seal and open of a single packet have their own paths (seal_one,
// open_one); with the spin bit set, across a key update (key phase 1),
// payloads that need padding and a CID, the packets sealed one at a time must
// be the bytes of the same packets sealed as one burst, and opening them one
// at a time must give what opening them as a burst gives.
TEST(QuicBurst, SinglePacketPathsAgreeWithBursts) {
  test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      const Bytes app = test::random_bytes(hash_len(suite_info(s).hash), 601);
      const Bytes dcid = test::random_bytes(5, 602);
      PacketProtection tx[2];
      for (PacketProtection& t : tx) {
        ASSERT_EQ(t.install(Level::one_rtt, Direction::seal, s, app), Status::ok);
        ASSERT_EQ(t.set_dcid(dcid), Status::ok);
        t.set_spin(true);
      }
      constexpr size_t kLen[] = {0, 1, 2, 3, 40, 700, 5};
      constexpr uint8_t kMinLen[] = {0, 1, 0, 2, 4, 0, 3};
      std::vector<Buf> bufs[2];
      std::vector<Bytes> wire;
      for (int round = 0; round < 2; ++round) {
        if (round == 1) {  // a key update: key phase 1 from here on
          for (PacketProtection& t : tx) {
            ASSERT_EQ(t.on_ack(Space::application, 2), Status::ok);
            ASSERT_EQ(t.update(Direction::seal), Status::ok);
            t.set_spin(false);
          }
        }
        const size_t first = bufs[0].size();
        for (int k = 0; k < 2; ++k) {
          for (size_t i = 0; i < std::size(kLen); ++i) {
            bufs[k].emplace_back(test::random_bytes(kLen[i], 610 + i + 10 * round), Level::one_rtt);
            bufs[k].back().pkt.min_pn_length = kMinLen[i];
          }
          std::vector<Packet> pk;
          for (size_t i = first; i < bufs[k].size(); ++i) pk.push_back(bufs[k][i].pkt);
          if (k == 1) {
            for (Packet& p : pk) ASSERT_EQ(tx[k].seal({&p, 1}), 1u);
          } else {
            ASSERT_EQ(tx[k].seal(pk), pk.size());
          }
          for (size_t i = 0; i < pk.size(); ++i) bufs[k][first + i].pkt = pk[i];
        }
        for (size_t i = first; i < bufs[0].size(); ++i) {
          SCOPED_TRACE("packet " + std::to_string(i));
          const Packet& a = bufs[0][i].pkt;
          const Packet& b = bufs[1][i].pkt;
          EXPECT_EQ(bufs[0][i].mem, bufs[1][i].mem);
          EXPECT_EQ(a.pn, i);
          EXPECT_EQ(a.pn, b.pn);
          EXPECT_EQ(a.pn_length, b.pn_length);
          EXPECT_EQ(a.header_length, b.header_length);
          EXPECT_EQ(a.view.offset, b.view.offset);
          EXPECT_EQ(a.view.length, b.view.length);
          EXPECT_EQ(a.key_phase, round == 1);
          EXPECT_EQ(a.key_phase, b.key_phase);
          EXPECT_EQ(a.dcid.size(), b.dcid.size());
          wire.push_back(bufs[0][i].bytes());
        }
      }
      for (int k = 0; k < 2; ++k) {
        EXPECT_EQ(tx[k].counters(Level::one_rtt, Direction::seal)->sealed, std::size(kLen));
      }
      EXPECT_EQ(tx[0].counters(Level::one_rtt, Direction::seal)->bytes_sealed,
                tx[1].counters(Level::one_rtt, Direction::seal)->bytes_sealed);
      PacketProtection rx_burst, rx_one;
      for (PacketProtection* rx : {&rx_burst, &rx_one}) {
        ASSERT_EQ(rx->install(Level::one_rtt, Direction::open, s, app), Status::ok);
        ASSERT_EQ(rx->set_short_dcid_length(dcid.size()), Status::ok);
      }
      Bytes forged = wire[10];  // never opened genuine: an authentication failure
      forged[forged.size() / 2] ^= 0x08;
      const std::vector<std::vector<Bytes>> bursts = {
          {wire[0], wire[1], wire[2]}, {wire[4]}, {wire[3]}, {wire[4]}, {forged},
          {wire[5], wire[6]}, {wire[8], wire[7]}, {wire[9]}, {wire[13]}, {wire[12]},
      };
      size_t opened = 0;
      for (size_t bi = 0; bi < bursts.size(); ++bi) {
        SCOPED_TRACE("burst " + std::to_string(bi));
        const BurstResult r = expect_burst_equals_one_by_one(rx_burst, rx_one, bursts[bi]);
        for (const Buf& x : r.bufs) opened += x.pkt.status() == Status::ok;
      }
      EXPECT_EQ(opened, 12u);  // all but the repeat of wire[4] and the forgery
      EXPECT_EQ(rx_burst.generation(Direction::open), 1u);
      EXPECT_EQ(rx_burst.auth_failures(), 1u);
      EXPECT_EQ(rx_burst.largest_received(Space::application), 13u);
    }
  });
}

// open_one (a burst of one packet) against the lean and the general loops on
// the same packets: receiver `burst` opens each beside a view that is refused
// before anything is read (no buffer: {p, junk} lets the lean loops take p,
// {junk, p} hands it to the general loops), receiver `one` opens the junk and
// then p, each alone. Hand-built packets (no CID) cover packet-number
// lengths 1-4, a late packet, a repeat, reserved bits set (refused after
// authentication), a forgery, decodes half a window above the expected
// number and one more (App. A.3's other branch), a packet too short to
// sample, a long header, and the fixed bit clear with and without
// grease_quic_bit (RFC 9287).
TEST(QuicBurst, SinglePacketOpenAgreesWithLeanAndGeneralLoops) {
  test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      for (bool grease : {false, true}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + (grease ? " grease" : ""));
        const Bytes secret = test::random_bytes(hash_len(suite_info(s).hash), 701);
        PacketProtection rx_burst, rx_one;
        for (PacketProtection* rx : {&rx_burst, &rx_one}) {
          ASSERT_EQ(rx->install(Level::one_rtt, Direction::open, s, secret), Status::ok);
          rx->set_grease_quic_bit(grease);
        }
        auto pkt = [&](uint64_t pn, size_t pn_len, uint8_t bits = 0x40) {
          return hand_protect(Version::v1, s, secret, static_cast<uint8_t>(bits | (pn_len - 1)), pn,
                              pn_len, Bytes(24 + pn % 7, static_cast<uint8_t>(pn)));
        };
        Bytes forged = pkt(9, 2);
        forged[forged.size() - 3] ^= 0x20;
        Bytes long_hdr = pkt(12, 2);
        long_hdr[0] |= 0x80;
        const std::vector<Bytes> seq = {
            pkt(0, 1),        pkt(1, 2),        pkt(3, 4),  pkt(2, 1),
            pkt(3, 4),        pkt(4, 2, 0x50),  forged,     pkt(9, 2),
            pkt(138, 1),      pkt(140, 1),      pkt(269, 1), pkt(0x12345, 3),
            Bytes(10, 0x41),  long_hdr,         pkt(0x12346, 2, 0x00),
            pkt(0x12347, 4),  pkt(0x12344, 2),
        };
        const Bytes junk;  // an empty view: no buffer, invalid_argument
        for (size_t i = 0; i < seq.size(); ++i) {
          SCOPED_TRACE("packet " + std::to_string(i));
          const std::vector<Bytes> in = i % 2 == 0 ? std::vector<Bytes>{seq[i], junk}
                                                   : std::vector<Bytes>{junk, seq[i]};
          const BurstResult r = expect_burst_equals_one_by_one(rx_burst, rx_one, in);
          EXPECT_EQ(r.bufs[i % 2 == 0 ? 1 : 0].pkt.status(), Status::invalid_argument);
        }
        // What they should have given: the forgery counted, the fixed bit
        // clear accepted only with grease, everything else in order.
        EXPECT_EQ(rx_burst.auth_failures(), 1u);
        EXPECT_EQ(rx_burst.largest_received(Space::application), 0x12347u);
        EXPECT_EQ(rx_burst.counters(Level::one_rtt, Direction::open)->opened, grease ? 12u : 11u);
      }
    }
  });
}

// seal_1rtt writes most headers from a per-burst template (packet-number
// length computed once, CID of 7+ bytes) and the rest byte by byte; the
// general path (a Handshake packet in front) writes every header its own
// way. Over CID lengths on both sides of the template's limits, per-packet
// minimum packet-number lengths, payloads short enough to need padding and a
// burst whose packet numbers cross from 1- to 2-byte encodings, both must
// give the same bytes.
TEST(QuicBurst, SealHeaderTemplateAgreesWithGeneralPath) {
  test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      const Bytes hs = test::random_bytes(hash_len(suite_info(s).hash), 401);
      const Bytes app = test::random_bytes(hash_len(suite_info(s).hash), 402);
      // The second set of lengths needs no padding until its fourth packet,
      // so the lean loop of seal_1rtt meets the per-packet minimum lengths.
      constexpr size_t kLens[2][8] = {{40, 0, 1, 2, 300, 3, 17, 64}, {40, 50, 60, 2, 300, 33, 17, 64}};
      for (const auto& kLen : kLens)
      for (size_t cid_len : {0, 4, 6, 7, 8, 11, 12, 15, 20}) {
        for (uint64_t skip : {uint64_t{0}, uint64_t{125}, uint64_t{0x01020304}}) {
          SCOPED_TRACE("cid " + std::to_string(cid_len) + " skip " + std::to_string(skip) +
                       " lengths " + std::to_string(kLen[1]));
          const Bytes dcid = test::random_bytes(cid_len, 403 + cid_len);
          // tx[2] seals the same packets one at a time (seal_one).
          PacketProtection tx[3];
          for (int k = 0; k < 3; ++k) {
            ASSERT_EQ(tx[k].install(Level::handshake, Direction::seal, s, hs), Status::ok);
            ASSERT_EQ(tx[k].install(Level::one_rtt, Direction::seal, s, app), Status::ok);
            ASSERT_EQ(tx[k].set_dcid(dcid), Status::ok);
            ASSERT_EQ(tx[k].skip_packet_numbers(Space::application, skip), Status::ok);
          }
          constexpr uint8_t kMinLen[] = {0, 4, 2, 0, 3, 1, 0, 0};
          std::vector<Buf> bufs[3];
          for (int k = 0; k < 3; ++k) {
            if (k == 1) bufs[k].emplace_back(Bytes(30, 0xaa), Level::handshake);
            for (size_t i = 0; i < std::size(kLen); ++i) {
              bufs[k].emplace_back(test::random_bytes(kLen[i], 410 + i), Level::one_rtt);
              bufs[k].back().pkt.min_pn_length = kMinLen[i];
            }
            std::vector<Packet> pk;
            for (Buf& b : bufs[k]) pk.push_back(b.pkt);
            if (k == 2) {
              for (Packet& p : pk) ASSERT_EQ(tx[k].seal({&p, 1}), 1u);
            } else {
              ASSERT_EQ(tx[k].seal(pk), pk.size());
            }
            for (size_t i = 0; i < pk.size(); ++i) bufs[k][i].pkt = pk[i];
          }
          EXPECT_EQ(tx[2].next_pn(Space::application), tx[0].next_pn(Space::application));
          EXPECT_EQ(tx[2].counters(Level::one_rtt, Direction::seal)->sealed,
                    tx[0].counters(Level::one_rtt, Direction::seal)->sealed);
          EXPECT_EQ(tx[2].counters(Level::one_rtt, Direction::seal)->bytes_sealed,
                    tx[0].counters(Level::one_rtt, Direction::seal)->bytes_sealed);
          for (size_t i = 0; i < std::size(kLen); ++i) {
            const Packet& a = bufs[0][i].pkt;
            const Packet& b = bufs[1][i + 1].pkt;
            const Packet& c = bufs[2][i].pkt;
            EXPECT_EQ(bufs[0][i].bytes(), bufs[1][i + 1].bytes()) << i;
            EXPECT_EQ(bufs[0][i].bytes(), bufs[2][i].bytes()) << i;
            EXPECT_EQ(a.pn, c.pn);
            EXPECT_EQ(a.pn_length, c.pn_length);
            EXPECT_EQ(a.header_length, c.header_length);
            EXPECT_EQ(a.view.offset, c.view.offset);
            EXPECT_EQ(a.view.length, c.view.length);
            EXPECT_EQ(a.key_phase, c.key_phase);
            EXPECT_EQ(a.type, c.type);
            EXPECT_EQ(a.dcid.size(), c.dcid.size());
            EXPECT_EQ(a.pn, b.pn);
            EXPECT_EQ(a.pn, skip + i);
            EXPECT_EQ(a.pn_length, b.pn_length);
            EXPECT_GE(a.pn_length, std::max<unsigned>(kMinLen[i], packet_number_length(a.pn, 0, true)));
            EXPECT_EQ(a.header_length, b.header_length);
            EXPECT_EQ(a.header_length, 1 + cid_len + a.pn_length);
          }
          // And they open.
          PacketProtection rx;
          ASSERT_EQ(rx.install(Level::one_rtt, Direction::open, s, app), Status::ok);
          ASSERT_EQ(rx.set_short_dcid_length(cid_len), Status::ok);
          std::vector<Buf> in;
          for (size_t i = 0; i < std::size(kLen); ++i) in.emplace_back(bufs[0][i].bytes());
          std::vector<Packet> pk;
          for (Buf& b : in) pk.push_back(b.pkt);
          EXPECT_EQ(rx.open(pk), pk.size());
          for (size_t i = 0; i < pk.size(); ++i) EXPECT_EQ(pk[i].pn, skip + i);
        }
      }
    }
  });
}

// The peer updates its keys twice (RFC 9001 §6: the second update once we
// acknowledged a packet of its first) and one burst holds packets of all
// three generations, with late ones of each. After the first update the
// key phase 0 again names the previous keys or the keys after the new ones
// by the packet number (§6.3, §6.5), which only the committed first update
// decides: the burst must open every packet as one-at-a-time does.
TEST(QuicBurst, TwoKeyUpdatesInOneBurst) {
  test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      const Bytes app = test::random_bytes(hash_len(suite_info(s).hash), 501);
      PacketProtection tx, rx_burst, rx_one;
      ASSERT_EQ(tx.install(Level::one_rtt, Direction::seal, s, app), Status::ok);
      ASSERT_EQ(tx.set_dcid(Bytes(8, 0x5a)), Status::ok);
      for (PacketProtection* rx : {&rx_burst, &rx_one}) {
        ASSERT_EQ(rx->install(Level::one_rtt, Direction::open, s, app), Status::ok);
        ASSERT_EQ(rx->set_short_dcid_length(8), Status::ok);
      }
      auto seal_one = [&](size_t len, uint64_t seed) {
        Buf b(test::random_bytes(len, seed), Level::one_rtt);
        std::vector<Packet> pk{b.pkt};
        EXPECT_EQ(tx.seal(pk), 1u);
        b.pkt = pk[0];
        return b.bytes();
      };
      std::vector<Bytes> g0, g1, g2;  // packets of generations 0, 1, 2
      for (int i = 0; i < 4; ++i) g0.push_back(seal_one(100 + 10 * i, 510 + i));
      ASSERT_EQ(tx.on_ack(Space::application, 3), Status::ok);
      ASSERT_EQ(tx.update(Direction::seal), Status::ok);
      for (int i = 0; i < 4; ++i) g1.push_back(seal_one(200 + 10 * i, 520 + i));
      ASSERT_EQ(tx.on_ack(Space::application, 7), Status::ok);
      ASSERT_EQ(tx.update(Direction::seal), Status::ok);
      for (int i = 0; i < 4; ++i) g2.push_back(seal_one(300 + 10 * i, 530 + i));
      // In order with late packets behind newer ones: of generation 0 after
      // the first update, of generation 1 after the second (only one
      // previous generation is kept).
      const std::vector<Bytes> in = {g0[0], g0[1], g1[0], g0[3], g1[1], g0[2], g2[0], g1[2],
                                     g2[1], g2[2], g1[3], g2[3]};
      const BurstResult r = expect_burst_equals_one_by_one(rx_burst, rx_one, in);
      for (size_t i = 0; i < in.size(); ++i) {
        SCOPED_TRACE("packet " + std::to_string(i));
        EXPECT_EQ(r.bufs[i].pkt.status(), Status::ok);
      }
      EXPECT_EQ(rx_burst.generation(Direction::open), 2u);
    }
  });
}

// RFC 9287 §3: a peer that got grease_quic_bit may clear the fixed bit of
// long headers too (a Handshake packet, once transport parameters are
// known); such a packet still carries its Length, so open_datagram must
// frame it by that and find the 1-RTT packet coalesced behind it (RFC 9000
// §12.2). split_datagram used to parse without grease: the greased packet
// covered the rest of the datagram, open refused it as malformed (its
// Length short of the view) and the 1-RTT packet behind it was lost.
// Found by tests/fuzz/quic_datagram_fuzz.
TEST(QuicDatagram, GreasedLongHeaderIsFramedByItsLength) {
  for (Version v : {Version::v1, Version::v2}) {
    SCOPED_TRACE(v == Version::v1 ? "v1" : "v2");
    const Bytes hs = test::random_bytes(32, 901), ap = test::random_bytes(32, 902);
    const Bytes cid = test::random_bytes(5, 903);
    // The Handshake packet, protected by hand (RFC 9001 §5.3, §5.4) with
    // the fixed bit clear.
    PacketKeys k;
    ASSERT_EQ(derive_packet_keys(v, Suite::aes128_gcm, hs, k), Status::ok);
    const Bytes frames(40, 0x06);
    constexpr size_t kPnLen = 2;
    constexpr uint64_t kPn = 7;
    Bytes pkt = {static_cast<uint8_t>(0x80 | long_type_bits(v, PacketType::handshake) << 4 | (kPnLen - 1))};
    for (int i = 3; i >= 0; --i) pkt.push_back(static_cast<uint8_t>(static_cast<uint32_t>(v) >> (8 * i)));
    pkt.push_back(static_cast<uint8_t>(cid.size()));
    pkt.insert(pkt.end(), cid.begin(), cid.end());
    pkt.push_back(0);  // no SCID
    const size_t length = kPnLen + frames.size() + 16;
    pkt.push_back(static_cast<uint8_t>(0x40 | length >> 8));  // 2-byte varint
    pkt.push_back(static_cast<uint8_t>(length));
    const size_t pn_at = pkt.size();
    pkt.push_back(0);
    pkt.push_back(static_cast<uint8_t>(kPn));
    const size_t hl = pkt.size();
    pkt.insert(pkt.end(), frames.begin(), frames.end());
    pkt.resize(pkt.size() + 16);
    AeadKey key;
    ASSERT_EQ(key.init(Suite::aes128_gcm, {k.key, k.key_len}), Status::ok);
    AeadJob j;
    j.key = &key;
    xor_nonce(k.iv, kPn, j.nonce);
    j.aad = {pkt.data(), hl};
    j.data = {pkt.data() + hl, frames.size()};
    j.tag = pkt.data() + hl + frames.size();
    rl::seal({&j, 1});
    ASSERT_EQ(j.status, Status::ok);
    MaskKey hp;
    ASSERT_EQ(hp.init(Suite::aes128_gcm, {k.hp, k.hp_len}), Status::ok);
    MaskJob m;
    m.key = &hp;
    m.sample = pkt.data() + pn_at + 4;
    rl::mask({&m, 1});
    pkt[0] ^= m.mask[0] & 0x0f;
    for (size_t i = 0; i < kPnLen; ++i) pkt[pn_at + i] ^= m.mask[1 + i];
    // The 1-RTT packet behind it, sealed by the engine.
    PacketProtection client(v);
    ASSERT_EQ(client.install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, ap), Status::ok);
    ASSERT_EQ(client.set_dcid(cid), Status::ok);
    Buf c(Bytes(30, 0xc3), Level::one_rtt);
    ASSERT_EQ(client.seal({&c.pkt, 1}), 1u);
    Bytes dgram = pkt;
    const Bytes one_rtt = c.bytes();
    dgram.insert(dgram.end(), one_rtt.begin(), one_rtt.end());

    for (bool grease : {true, false}) {
      SCOPED_TRACE(grease ? "grease" : "no grease");
      PacketProtection server(v);
      ASSERT_EQ(server.install(Level::handshake, Direction::open, Suite::aes128_gcm, hs), Status::ok);
      ASSERT_EQ(server.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, ap), Status::ok);
      ASSERT_EQ(server.set_short_dcid_length(cid.size()), Status::ok);
      server.set_grease_quic_bit(grease);
      Bytes d = dgram;
      Packet out[4];
      size_t n = 0;
      const size_t ok = server.open_datagram(d, out, &n);
      if (grease) {
        EXPECT_EQ(ok, 2u);
        ASSERT_EQ(n, 2u);
        EXPECT_EQ(out[0].status(), Status::ok);
        EXPECT_EQ(out[0].type, PacketType::handshake);
        EXPECT_EQ(out[0].pn, kPn);
        EXPECT_EQ(Bytes(out[0].view.data(), out[0].view.data() + out[0].view.length), frames);
        EXPECT_EQ(out[1].status(), Status::ok);
        EXPECT_EQ(out[1].type, PacketType::one_rtt);
        EXPECT_EQ(Bytes(out[1].view.data(), out[1].view.data() + out[1].view.length), Bytes(30, 0xc3));
      } else {
        // Without grease the fixed bit 0 breaks RFC 9000 §17.2: the header
        // is not read, covers the rest, and nothing opens or changes.
        EXPECT_EQ(ok, 0u);
        ASSERT_EQ(n, 1u);
        EXPECT_EQ(out[0].status(), Status::malformed);
        EXPECT_EQ(d, dgram);
        EXPECT_FALSE(server.has_received(Space::application));
      }
    }
    // split_datagram alone: the connection's setting is its argument.
    Bytes d = dgram;
    Packet out[4];
    EXPECT_EQ(split_datagram(d, out), 1u);
    EXPECT_EQ(split_datagram(d, out, true), 2u);
  }
}
// RFC 9000 §12.2: a packet coalesced behind the first one with another
// Destination Connection ID is ignored (`malformed`, not opened), even when
// it would authenticate; the packets around it still open.
TEST(QuicDatagram, PacketWithAnotherDcidIsIgnored) {
  for (Version v : {Version::v1, Version::v2}) {
    SCOPED_TRACE(v == Version::v1 ? "v1" : "v2");
    const Bytes odcid = test::random_bytes(8, 911);
    const Bytes hs = test::random_bytes(32, 912), ap = test::random_bytes(32, 913);
    const Bytes cid = test::random_bytes(6, 914);
    // Three senders with the same keys; only their DCIDs differ.
    auto sender = [&](const Bytes& dcid) {
      auto c = std::make_unique<PacketProtection>(v);
      EXPECT_EQ(c->install_initial(v, odcid, false), Status::ok);
      EXPECT_EQ(c->install(Level::handshake, Direction::seal, Suite::aes128_gcm, hs), Status::ok);
      EXPECT_EQ(c->install(Level::one_rtt, Direction::seal, Suite::aes128_gcm, ap), Status::ok);
      EXPECT_EQ(c->set_dcid(dcid), Status::ok);
      return c;
    };
    auto ours = sender(cid);
    Bytes same_len = cid;
    same_len[5] ^= 1;
    auto other = sender(same_len), longer = sender(test::random_bytes(8, 915));
    auto seal = [](PacketProtection& c, Level l, uint8_t fill) {
      Buf b(Bytes(60, fill), l);
      EXPECT_EQ(c.seal({&b.pkt, 1}), 1u);
      return b.bytes();
    };
    const Bytes initial = seal(*ours, Level::initial, 0xa1);
    const Bytes one_rtt = seal(*ours, Level::one_rtt, 0xc3);
    for (PacketProtection* stranger : {other.get(), longer.get()}) {
      const Bytes foreign = seal(*stranger, Level::handshake, 0xb2);
      for (bool grease : {false, true}) {
        PacketProtection server(v);
        ASSERT_EQ(server.install_initial(v, odcid, true), Status::ok);
        ASSERT_EQ(server.install(Level::handshake, Direction::open, Suite::aes128_gcm, hs), Status::ok);
        ASSERT_EQ(server.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, ap), Status::ok);
        ASSERT_EQ(server.set_short_dcid_length(cid.size()), Status::ok);
        server.set_grease_quic_bit(grease);
        Bytes dgram = initial;
        dgram.insert(dgram.end(), foreign.begin(), foreign.end());
        dgram.insert(dgram.end(), one_rtt.begin(), one_rtt.end());
        Bytes d = dgram;
        Packet out[4];
        size_t n = 0;
        EXPECT_EQ(server.open_datagram(d, out, &n), 2u);
        ASSERT_EQ(n, 3u);
        EXPECT_EQ(out[0].status(), Status::ok);
        EXPECT_EQ(out[1].status(), Status::malformed);
        EXPECT_EQ(out[2].status(), Status::ok);
        EXPECT_EQ(Bytes(out[2].view.data(), out[2].view.data() + out[2].view.length), Bytes(60, 0xc3));
        EXPECT_TRUE(std::equal(foreign.begin(), foreign.end(), d.begin() + initial.size()));
        EXPECT_FALSE(server.has_received(Space::handshake));
        EXPECT_EQ(server.auth_failures(), 0u);
        // The same packet alone, or first in its datagram, opens: the rule
        // is about the datagram, not the packet.
        Bytes alone = foreign;
        Packet one[1];
        EXPECT_EQ(server.open_datagram(alone, one, &n), 1u);
      }
    }
    // Zero padding after the packets (a short header by its first bit) is
    // not a packet of this connection either: no AEAD runs on it, so it
    // costs nothing from the integrity limit even when the fixed bit may be
    // greased (RFC 9287). With zero-length CIDs it cannot be told apart and
    // fails as a packet (as before).
    PacketProtection server(v);
    ASSERT_EQ(server.install_initial(v, odcid, true), Status::ok);
    ASSERT_EQ(server.install(Level::one_rtt, Direction::open, Suite::aes128_gcm, ap), Status::ok);
    ASSERT_EQ(server.set_short_dcid_length(cid.size()), Status::ok);
    server.set_grease_quic_bit(true);
    Bytes d = initial;
    d.resize(d.size() + 200, 0);
    Packet out[4];
    size_t n = 0;
    EXPECT_EQ(server.open_datagram(d, out, &n), 1u);
    ASSERT_EQ(n, 2u);
    EXPECT_EQ(out[1].status(), Status::malformed);
    EXPECT_EQ(server.auth_failures(), 0u);
  }
}

// A 1-RTT sender and two receivers (one for bursts, one for single packets)
// whose open side has the integrity limit `max_failures`; events drained.
struct LimitedTrio {
  PacketProtection tx{Version::v1}, rx_burst{Version::v1}, rx_one{Version::v1};
  LimitedTrio(Suite s, uint64_t max_failures, uint8_t seed) {
    Limits l;
    l.max_auth_failures = max_failures;
    const Bytes secret = test::random_bytes(hash_len(suite_info(s).hash), seed);
    EXPECT_EQ(tx.install(Level::one_rtt, Direction::seal, s, secret), Status::ok);
    for (PacketProtection* rx : {&rx_burst, &rx_one}) {
      EXPECT_EQ(rx->install(Level::one_rtt, Direction::open, s, secret, &l), Status::ok);
      drain(*rx);
    }
  }
};

// A forged copy of a packet earlier in the same burst: one at a time it is
// refused before its AEAD as a replay, so in a burst it is a replay too and
// not a failure that the integrity limit would count.
TEST(QuicLimits, ForgedRepeatInABurstIsAReplayNotAFailure) {
  for (Suite s : kAllSuites) {
    SCOPED_TRACE(suite_info(s).name);
    LimitedTrio t(s, 100, 62);  // a limit above the burst: one chunk
    PacketProtection &tx = t.tx, &rx_burst = t.rx_burst, &rx_one = t.rx_one;
    std::vector<Bytes> in;
    for (uint8_t i = 0; i < 3; ++i) {
      Buf b(test::random_bytes(40, i), Level::one_rtt);
      ASSERT_EQ(tx.seal({&b.pkt, 1}), 1u);
      in.push_back(b.bytes());
    }
    Bytes f = in[0];
    f.back() ^= 0x01;
    in.insert(in.begin() + 2, f);  // after its genuine copy
    in.insert(in.begin(), Bytes(in[0].begin(), in[0].begin() + 20));  // too short to sample: general loops
    const BurstResult r = expect_burst_equals_one_by_one(rx_burst, rx_one, in);
    EXPECT_EQ(r.bufs[3].pkt.status(), Status::replayed);
    EXPECT_EQ(r.bufs[4].pkt.status(), Status::ok);
    EXPECT_EQ(rx_burst.auth_failures(), 0u);
  }
}

// A burst in which a forgery reaches the integrity limit (RFC 9001 §6.6):
// every 1-RTT key dies there, so the genuine packets after it are refused in
// the burst exactly as one at a time, and left as they arrived. Limits of 1
// to 40 put the limit's failure at the head, middle and tail of the first
// burst of 32, inside later bursts, or nowhere.
TEST(QuicLimits, IntegrityLimitReachedInsideABurst) {
  for (Suite s : kAllSuites) {
    for (uint64_t limit : {1, 2, 3, 7, 11, 12, 40}) {
      SCOPED_TRACE(std::string(suite_info(s).name) + " limit " + std::to_string(limit));
      LimitedTrio t(s, limit, 61);
      PacketProtection &tx = t.tx, &rx_burst = t.rx_burst, &rx_one = t.rx_one;
      // 50 packets, every third forged (its tag or its ciphertext).
      std::vector<Bytes> in;
      size_t forged = 0, refused_genuine = 0;
      for (size_t i = 0; i < 50; ++i) {
        Buf b(test::random_bytes(30 + i, static_cast<uint8_t>(i)), Level::one_rtt);
        ASSERT_EQ(tx.seal({&b.pkt, 1}), 1u);
        Bytes w = b.bytes();
        if (i % 3 == 2) {
          w[i % 2 ? w.size() - 1 : w.size() - 20] ^= 0x04;
          ++forged;
        } else if (forged >= limit) {
          ++refused_genuine;
        }
        in.push_back(std::move(w));
      }
      const BurstResult r = expect_burst_equals_one_by_one(rx_burst, rx_one, in);
      size_t refused_exhausted = 0;
      for (const Buf& x : r.bufs) refused_exhausted += x.pkt.status() == Status::key_exhausted;
      EXPECT_EQ(refused_exhausted, refused_genuine + (forged > limit ? forged - limit : 0));
      EXPECT_EQ(rx_burst.auth_failures(), std::min<uint64_t>(forged, limit));
      EXPECT_EQ(has_event(r.events, KeyEvent::integrity_limit), forged >= limit);
    }
  }
}
}  // namespace
}  // namespace rl::quic
