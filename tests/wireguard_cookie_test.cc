// WireGuard cookies (core/wireguard_cookie.h): mac1 of the real handshake
// messages in tests/data/wireguard/transport.pcap (made by make_capture.py,
// whose receivers and tshark both verified mac1), a known-answer cookie reply
// computed independently in Python, responder/initiator round trips with the
// 120-second lifetimes on injected clocks, and refusals of malformed and
// tampered input.
#include "core/wireguard_cookie.h"

#include <gtest/gtest.h>
#include <openssl/aead.h>
#include <openssl/curve25519.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "core/blake2s.h"
#include "core/bytes.h"
#include "core/wireguard.h"
#include "tests/support/pcap_file.h"
#include "tests/support/vectors.h"

namespace rl::wireguard {
namespace {

using test::Bytes;
using test::hex;
using test::to_hex;

const std::string kPcap = std::string(RL_SOURCE_DIR) + "/tests/data/wireguard/transport.pcap";

// The fixture's static private keys: make_capture.py's fixed_key("static A")
// and fixed_key("static B") = clamp(BLAKE2s("wg-fixture static A/B")),
// computed once with Python and typed in (the same keys as the base64 ones in
// replay_wg_keys_test.cc).
const Bytes kPrivA = hex("804bd3966a3185f49e2c169f17d59aef3475510a944cc0900357a02ee82f594f");
const Bytes kPrivB = hex("a0f9ed40b29af9ba3a8894816580b9ea0103bf438d461840b3ebc3b06f9bd75e");
// Outer addresses: A = 10.0.0.1:51820, B = 10.0.0.2:51821.
constexpr uint32_t kAddrA = 0x0a000001, kAddrB = 0x0a000002;

std::array<uint8_t, 32> public_of(const Bytes& priv) {
  std::array<uint8_t, 32> pub;
  X25519_public_from_private(pub.data(), priv.data());
  return pub;
}

// The paper's A_m' of a captured datagram: IPv4 address ‖ UDP port, network
// byte order.
Bytes source_of(const test::Datagram& d) {
  Bytes b(6);
  store_be32(b.data(), d.src_ip);
  store_be16(b.data() + 4, d.src_port);
  return b;
}

// The four handshake messages: initiation and response of session 1 (A -> B,
// B -> A) and of session 2 (B -> A, A -> B).
std::vector<test::Datagram> handshakes() {
  std::vector<test::Datagram> hs;
  for (auto& d : test::read_udp_datagrams(kPcap))
    if (check_handshake_framing(d.payload) == Status::ok) hs.push_back(std::move(d));
  return hs;
}

// ---- Injected clock and random source --------------------------------------

struct FakeClock {
  uint64_t t = 1000;
  Clock clock() {
    return {[](void* c) { return static_cast<FakeClock*>(c)->t; }, this};
  }
};

// Fixed bytes by request size: 32 bytes are R_m, 24 a nonce.
struct FixedRandom {
  Bytes secret, nonce;
  int secrets = 0, nonces = 0;
  RandomSource source() {
    return {[](void* c, uint8_t* out, size_t n) {
              auto* r = static_cast<FixedRandom*>(c);
              const Bytes& b = n == 32 ? (++r->secrets, r->secret) : (++r->nonces, r->nonce);
              ASSERT_EQ(b.size(), n);
              std::memcpy(out, b.data(), n);
            },
            this};
  }
};

PublicKey key_of(const std::array<uint8_t, 32>& k) { return PublicKey(k); }

class WgCookie : public ::testing::Test {
 protected:
  void SetUp() override {
    hs = handshakes();
    ASSERT_EQ(hs.size(), 4u);
    ASSERT_EQ(hs[0].payload.size(), kInitiationLen);
    ASSERT_EQ(hs[1].payload.size(), kResponseLen);
    ASSERT_EQ(hs[2].payload.size(), kInitiationLen);
    ASSERT_EQ(hs[3].payload.size(), kResponseLen);
  }
  const std::array<uint8_t, 32>& receiver_key(const test::Datagram& d) const {
    return d.dst_ip == kAddrA ? pub_a : pub_b;
  }
  const std::array<uint8_t, 32>& other_key(const test::Datagram& d) const {
    return d.dst_ip == kAddrA ? pub_b : pub_a;
  }

  std::array<uint8_t, 32> pub_a = public_of(kPrivA), pub_b = public_of(kPrivB);
  std::vector<test::Datagram> hs;
};

// ---- mac1 of the captured handshakes -----------------------------------------

TEST_F(WgCookie, PublicKeysAreTheFixtures) {
  EXPECT_EQ(to_hex(pub_a.data(), 32), "0ecf44a5aa2b9deda2781b20907e18c8d183298147a7634e5b6af270d618b10d");
  EXPECT_EQ(to_hex(pub_b.data(), 32), "098bfdaaf82f221c708ee109be35a077c07427fa07b004d5cfe6d5c11494d22d");
  EXPECT_EQ(hs[0].src_ip, kAddrA);
  EXPECT_EQ(hs[1].src_ip, kAddrB);
  EXPECT_EQ(hs[2].src_ip, kAddrB);
  EXPECT_EQ(hs[3].src_ip, kAddrA);
}

TEST_F(WgCookie, Mac1OfCapturedHandshakes) {
  CookieChecker a(key_of(pub_a)), b(key_of(pub_b));
  for (const auto& d : hs) {
    SCOPED_TRACE("message from " + std::to_string(d.src_ip & 0xff) + ", " + std::to_string(d.payload.size()) +
                 " bytes");
    CookieChecker& to = d.dst_ip == kAddrA ? a : b;
    CookieChecker& other = d.dst_ip == kAddrA ? b : a;
    EXPECT_TRUE(to.check_mac1(d.payload));
    EXPECT_FALSE(other.check_mac1(d.payload));
    Mac m;
    ASSERT_EQ(compute_mac1(d.payload, key_of(receiver_key(d)), m), Status::ok);
    EXPECT_EQ(to_hex(m.data(), m.size()), to_hex(d.payload.data() + d.payload.size() - 32, 16));
    // Every byte up to and including mac1 counts; mac2 does not.
    for (size_t i = 0; i < d.payload.size(); ++i) {
      Bytes t = d.payload;
      t[i] ^= 0x01;
      EXPECT_EQ(to.check_mac1(t), i >= d.payload.size() - 16) << "byte " << i;
    }
    // The fixture has no cookie: mac2 is zero, which no cookie makes.
    EXPECT_EQ(to_hex(d.payload.data() + d.payload.size() - 16, 16), std::string(32, '0'));
    EXPECT_FALSE(to.check_mac2(d.payload, source_of(d)));
  }
}

TEST_F(WgCookie, AddMacsReproducesTheCapturedMacs) {
  // Without a cookie, add_macs writes the mac1 the generator wrote and zeros.
  for (const auto& d : hs) {
    CookieState st;
    Bytes m = d.payload;
    std::memset(m.data() + m.size() - 32, 0xee, 32);
    ASSERT_EQ(st.add_macs(m, key_of(receiver_key(d))), Status::ok);
    EXPECT_EQ(m, d.payload);
    ASSERT_TRUE(st.last_mac1().has_value());
    EXPECT_EQ(to_hex(st.last_mac1()->data(), 16), to_hex(d.payload.data() + d.payload.size() - 32, 16));
    ASSERT_EQ(st.add_macs(m, key_of(other_key(d))), Status::ok);
    EXPECT_NE(m, d.payload);
  }
}

// ---- XChaCha20-Poly1305 as BoringSSL has it -----------------------------------

TEST(WgCookieXAead, BoringSslMatchesTheXChaChaDraft) {
  // draft-irtf-cfrg-xchacha-03, appendix A.3.1.
  const Bytes key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const Bytes nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const Bytes aad = hex("50515253c0c1c2c3c4c5c6c7");
  const std::string pt =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
      "sunscreen would be it.";
  const std::string want =
      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
      "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
      "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
      "21f9664c97637da9768812f615c68b13b52e"
      "c0875924c1c7987947deafd8780acf49";
  bssl::ScopedEVP_AEAD_CTX ctx;
  ASSERT_TRUE(
      EVP_AEAD_CTX_init(ctx.get(), EVP_aead_xchacha20_poly1305(), key.data(), key.size(), 16, nullptr));
  Bytes out(pt.size() + 16);
  size_t n = 0;
  ASSERT_TRUE(EVP_AEAD_CTX_seal(ctx.get(), out.data(), &n, out.size(), nonce.data(), nonce.size(),
                                reinterpret_cast<const uint8_t*>(pt.data()), pt.size(), aad.data(),
                                aad.size()));
  ASSERT_EQ(n, out.size());
  EXPECT_EQ(to_hex(out), want);
}

// ---- Known answer ---------------------------------------------------------------

// Computed independently by tests/data/wireguard/make_cookie_vector.py
// (/usr/bin/python3: hashlib.blake2s for HASH/MAC, its own HChaCha20 and
// `cryptography`'s ChaCha20-Poly1305 for XChaCha20-Poly1305, both first
// checked against draft-irtf-cfrg-xchacha-03's vectors): B answers session 1's
// initiation (from A, sender index a1b2c3d4) with
//   R_m = a0 a1 .. bf, nonce = 60 61 .. 77, source = 10.0.0.1:51820 (0a000001ca6c).
const char* const kRm = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const char* const kNonce = "606162636465666768696a6b6c6d6e6f7071727374757677";
const char* const kSource = "0a000001ca6c";
const char* const kCookie = "aad3a554c0d4624aedcc65304b2a3410";
const char* const kReply =
    "03000000d4c3b2a1606162636465666768696a6b6c6d6e6f7071727374757677"
    "541d1ebce0ccb7aaae3bf46dd26154f90de44dcec3140f42da9ebd6f66b1c2cc";
const char* const kMac2 = "9cf2295e1c421d9049aa59e848d33c24";  // of the initiation, with that cookie

TEST_F(WgCookie, KnownAnswerCookieReply) {
  const test::Datagram& init = hs[0];
  ASSERT_EQ(to_hex(source_of(init)), kSource);
  FakeClock clock;
  FixedRandom rnd{hex(kRm), hex(kNonce)};
  CookieChecker b(key_of(pub_b), clock.clock(), rnd.source());
  std::array<uint8_t, kCookieReplyLen> reply{};
  ASSERT_EQ(b.make_cookie_reply(init.payload, source_of(init), reply), Status::ok);
  EXPECT_EQ(to_hex(reply.data(), reply.size()), kReply);
  EXPECT_EQ(rnd.secrets, 1);
  EXPECT_EQ(rnd.nonces, 1);
  EXPECT_EQ(message_type(reply), kCookieReply);
  EXPECT_EQ(receiver_index(reply).value_or(0), 0xa1b2c3d4u);

  // A opens it and gets the cookie; its next initiation carries the known mac2.
  CookieState a(clock.clock());
  Bytes msg = init.payload;
  ASSERT_EQ(a.add_macs(msg, key_of(pub_b)), Status::ok);
  ASSERT_EQ(msg, init.payload);
  ASSERT_EQ(a.open_cookie_reply(reply, *a.last_mac1(), key_of(pub_b), 0xa1b2c3d4u), Status::ok);
  EXPECT_TRUE(a.has_cookie());
  ASSERT_EQ(a.add_macs(msg, key_of(pub_b)), Status::ok);
  EXPECT_EQ(to_hex(msg.data(), 132), to_hex(init.payload.data(), 132));
  EXPECT_EQ(to_hex(msg.data() + 132, 16), kMac2);
  // The cookie itself: mac2 = MAC(cookie, msg up to mac2).
  uint8_t mac2[16];
  blake2s({msg.data(), 132}, hex(kCookie), mac2, 16);
  EXPECT_EQ(to_hex(mac2, 16), kMac2);
  EXPECT_TRUE(b.check_mac2(msg, source_of(init)));
  EXPECT_TRUE(b.check_mac1(msg));
}

// ---- Round trips and lifetimes ------------------------------------------------

TEST_F(WgCookie, RoundTripInitiationAndResponse) {
  // Both message types; default random source and clock.
  for (const auto& d : hs) {
    SCOPED_TRACE(std::to_string(d.payload.size()) + " bytes");
    CookieChecker resp(key_of(receiver_key(d)));
    CookieState init;
    Bytes msg = d.payload;
    ASSERT_EQ(init.add_macs(msg, key_of(receiver_key(d))), Status::ok);
    std::array<uint8_t, kCookieReplyLen> reply{}, reply2{};
    ASSERT_EQ(resp.make_cookie_reply(msg, source_of(d), reply), Status::ok);
    ASSERT_EQ(resp.make_cookie_reply(msg, source_of(d), reply2), Status::ok);
    EXPECT_NE(reply, reply2);  // fresh nonces
    EXPECT_EQ(receiver_index(reply).value_or(0), load_le32(d.payload.data() + 4));
    ASSERT_EQ(init.open_cookie_reply(reply, *init.last_mac1(), key_of(receiver_key(d))), Status::ok);
    ASSERT_EQ(init.add_macs(msg, key_of(receiver_key(d))), Status::ok);
    EXPECT_TRUE(resp.check_mac1(msg));
    EXPECT_TRUE(resp.check_mac2(msg, source_of(d)));
    Bytes other = source_of(d);
    other[5] ^= 1;  // another port
    EXPECT_FALSE(resp.check_mac2(msg, other));
    other = source_of(d);
    other[3] ^= 1;  // another address
    EXPECT_FALSE(resp.check_mac2(msg, other));
    // mac2 covers the message up to it, mac1 included.
    for (size_t i = 0; i < msg.size(); ++i) {
      Bytes t = msg;
      t[i] ^= 0x80;
      EXPECT_FALSE(resp.check_mac2(t, source_of(d))) << "byte " << i;
    }
    // The other peer's key opens nothing.
    CookieState wrong;
    EXPECT_EQ(wrong.open_cookie_reply(reply, *init.last_mac1(), key_of(other_key(d))), Status::auth_failed);
  }
}

TEST_F(WgCookie, CookiesLive120Seconds) {
  const test::Datagram& d = hs[0];
  FakeClock rclock, iclock;  // the two ends' clocks, moved separately
  CookieChecker b(key_of(pub_b), rclock.clock());
  CookieState a(iclock.clock());
  Bytes msg = d.payload;
  ASSERT_EQ(a.add_macs(msg, key_of(pub_b)), Status::ok);
  std::array<uint8_t, kCookieReplyLen> reply{};
  ASSERT_EQ(b.make_cookie_reply(msg, source_of(d), reply), Status::ok);
  ASSERT_EQ(a.open_cookie_reply(reply, *a.last_mac1(), key_of(pub_b)), Status::ok);

  // Initiator: mac2 while the cookie is younger than 120 s, zeros after.
  iclock.t += 119;
  ASSERT_TRUE(a.has_cookie());
  ASSERT_EQ(a.add_macs(msg, key_of(pub_b)), Status::ok);
  const Bytes with_old_cookie = msg;
  EXPECT_NE(to_hex(msg.data() + msg.size() - 16, 16), std::string(32, '0'));
  EXPECT_TRUE(b.check_mac2(msg, source_of(d)));
  iclock.t += 1;
  EXPECT_FALSE(a.has_cookie());
  ASSERT_EQ(a.add_macs(msg, key_of(pub_b)), Status::ok);
  EXPECT_EQ(to_hex(msg.data() + msg.size() - 16, 16), std::string(32, '0'));
  EXPECT_TRUE(b.check_mac1(msg));
  EXPECT_FALSE(b.check_mac2(msg, source_of(d)));
  iclock.t -= 1;  // the expired cookie was wiped, not just hidden
  EXPECT_FALSE(a.has_cookie());

  // Responder: R_m is replaced once 120 s old, and the old cookie fails.
  rclock.t += 119;
  EXPECT_TRUE(b.check_mac2(with_old_cookie, source_of(d)));
  rclock.t += 1;
  EXPECT_FALSE(b.check_mac2(with_old_cookie, source_of(d)));
  // A new cookie from the new R_m works again.
  ASSERT_EQ(b.make_cookie_reply(msg, source_of(d), reply), Status::ok);
  ASSERT_EQ(a.open_cookie_reply(reply, *a.last_mac1(), key_of(pub_b)), Status::ok);
  ASSERT_EQ(a.add_macs(msg, key_of(pub_b)), Status::ok);
  EXPECT_TRUE(b.check_mac2(msg, source_of(d)));
  // A clock that went back counts as old on both sides.
  rclock.t -= 5;
  EXPECT_FALSE(b.check_mac2(msg, source_of(d)));
  iclock.t -= 5;
  EXPECT_FALSE(a.has_cookie());
}

TEST_F(WgCookie, RotationUsesFreshRandomness) {
  // With an injected source, the rotated R_m is whatever it returns: the
  // checker draws 32 bytes again at 120 s.
  FakeClock clock;
  FixedRandom rnd{hex(kRm), hex(kNonce)};
  CookieChecker b(key_of(pub_b), clock.clock(), rnd.source());
  EXPECT_EQ(rnd.secrets, 1);
  EXPECT_FALSE(b.check_mac2(hs[0].payload, source_of(hs[0])));
  EXPECT_EQ(rnd.secrets, 1);
  clock.t += kCookieRefreshTime;
  EXPECT_FALSE(b.check_mac2(hs[0].payload, source_of(hs[0])));
  EXPECT_EQ(rnd.secrets, 2);
}

// ---- Tampering and malformed input -----------------------------------------------

TEST_F(WgCookie, EveryFlippedReplyByteIsRefused) {
  const test::Datagram& d = hs[0];
  FakeClock clock;
  CookieChecker b(key_of(pub_b), clock.clock());
  CookieState a(clock.clock());
  Bytes msg = d.payload;
  ASSERT_EQ(a.add_macs(msg, key_of(pub_b)), Status::ok);
  const Mac mac1 = *a.last_mac1();
  // A first cookie, held while the forgeries arrive.
  std::array<uint8_t, kCookieReplyLen> first{}, reply{};
  ASSERT_EQ(b.make_cookie_reply(msg, source_of(d), first), Status::ok);
  ASSERT_EQ(a.open_cookie_reply(first, mac1, key_of(pub_b)), Status::ok);
  ASSERT_EQ(a.add_macs(msg, key_of(pub_b)), Status::ok);
  const Bytes want = msg;
  // A second reply from another source address carries another cookie.
  Bytes elsewhere = source_of(d);
  elsewhere[0] ^= 0x40;
  ASSERT_EQ(b.make_cookie_reply(msg, elsewhere, reply), Status::ok);
  const uint32_t index = load_le32(d.payload.data() + 4);
  for (size_t i = 0; i < reply.size(); ++i) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      auto t = reply;
      t[i] ^= flip;
      const Status st = a.open_cookie_reply(t, mac1, key_of(pub_b), index);
      EXPECT_EQ(st, i < 4   ? Status::malformed
                    : i < 8 ? Status::unknown_epoch
                            : Status::auth_failed)
          << "byte " << i << " ^ " << int(flip);
      // Unchanged: the first cookie still makes the same mac2.
      Bytes m = d.payload;
      ASSERT_EQ(a.add_macs(m, key_of(pub_b)), Status::ok);
      ASSERT_EQ(m, want) << "byte " << i;
    }
  }
  // Without the expected index, the receiver index is not authenticated
  // (§5.4.7: the AAD is mac1 only): it is what routes a reply.
  auto t = reply;
  t[4] ^= 1;
  EXPECT_EQ(a.open_cookie_reply(t, mac1, key_of(pub_b)), Status::ok);
  // Another mac1 (a reply to another message) is refused.
  Mac other = mac1;
  other[0] ^= 1;
  EXPECT_EQ(a.open_cookie_reply(reply, other, key_of(pub_b)), Status::auth_failed);
}

TEST_F(WgCookie, WrongLengthsAndTypesAreRefused) {
  CookieChecker b(key_of(pub_b));
  CookieState a;
  const Bytes& init = hs[0].payload;
  const Bytes& resp = hs[1].payload;
  const Bytes src = source_of(hs[0]);
  struct Case {
    Bytes msg;
    Status want;
  };
  std::vector<Case> cases;
  for (size_t n : {0, 1, 3, 4, 8, 91, 92, 116, 147})
    cases.push_back({Bytes(init.begin(), init.begin() + n), Status::truncated});
  cases.push_back({Bytes(resp.begin(), resp.begin() + 91), Status::truncated});
  Bytes longer = init;
  longer.push_back(0);
  cases.push_back({longer, Status::malformed});
  longer = resp;
  longer.push_back(0);
  cases.push_back({longer, Status::malformed});
  for (uint8_t type : {0, 3, 4, 5, 0x81}) {
    Bytes t = init;
    t[0] = type;
    cases.push_back({t, Status::malformed});
  }
  for (size_t i : {1, 2, 3}) {
    Bytes t = init;
    t[i] = 1;  // reserved
    cases.push_back({t, Status::malformed});
  }
  Bytes t = resp;
  t[0] = 1;  // an initiation must be 148 bytes
  cases.push_back({t, Status::truncated});
  t = init;
  t[0] = 2;  // a response must be 92 bytes
  cases.push_back({t, Status::malformed});

  std::array<uint8_t, kCookieReplyLen> untouched;
  untouched.fill(0x5a);
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.msg.size()) + " bytes, type " +
                 (c.msg.empty() ? "-" : std::to_string(c.msg[0])));
    EXPECT_EQ(check_handshake_framing(c.msg), c.want);
    EXPECT_FALSE(b.check_mac1(c.msg));
    EXPECT_FALSE(b.check_mac2(c.msg, src));
    auto out = untouched;
    EXPECT_EQ(b.make_cookie_reply(c.msg, src, out), c.want);
    EXPECT_EQ(out, untouched);
    Bytes m = c.msg;
    EXPECT_EQ(a.add_macs(m, key_of(pub_b)), c.want);
    EXPECT_EQ(m, c.msg);
    Mac mac1;
    EXPECT_EQ(compute_mac1(c.msg, key_of(pub_b), mac1), c.want);
  }
  EXPECT_FALSE(a.last_mac1().has_value());

  // An empty source address; a message whose mac1 is not ours.
  std::array<uint8_t, kCookieReplyLen> out{};
  EXPECT_FALSE(b.check_mac2(init, {}));
  EXPECT_EQ(b.make_cookie_reply(init, {}, out), Status::invalid_argument);
  EXPECT_EQ(b.make_cookie_reply(resp, src, out), Status::auth_failed);  // to A, not B
  EXPECT_EQ(out, (std::array<uint8_t, kCookieReplyLen>{}));

  // Cookie replies: length and type.
  ASSERT_EQ(b.make_cookie_reply(init, src, out), Status::ok);
  const Mac mac1 = *[&] {
    Bytes m = init;
    EXPECT_EQ(a.add_macs(m, key_of(pub_b)), Status::ok);
    return a.last_mac1();
  }();
  const Bytes reply(out.begin(), out.end());
  EXPECT_EQ(a.open_cookie_reply(Bytes{}, mac1, key_of(pub_b)), Status::truncated);
  EXPECT_EQ(a.open_cookie_reply(Bytes(reply.begin(), reply.end() - 1), mac1, key_of(pub_b)),
            Status::truncated);
  Bytes r = reply;
  r.push_back(0);
  EXPECT_EQ(a.open_cookie_reply(r, mac1, key_of(pub_b)), Status::malformed);
  for (uint8_t type : {1, 2, 4}) {
    r = reply;
    r[0] = type;
    EXPECT_EQ(a.open_cookie_reply(r, mac1, key_of(pub_b)), Status::malformed);
  }
  r = reply;
  r[3] = 0x80;
  EXPECT_EQ(a.open_cookie_reply(r, mac1, key_of(pub_b)), Status::malformed);
  EXPECT_FALSE(a.has_cookie());
  EXPECT_EQ(a.open_cookie_reply(reply, mac1, key_of(pub_b), 0x12345678u), Status::unknown_epoch);
  EXPECT_FALSE(a.has_cookie());
  EXPECT_EQ(a.open_cookie_reply(reply, mac1, key_of(pub_b)), Status::ok);
  EXPECT_TRUE(a.has_cookie());
  a.clear();
  EXPECT_FALSE(a.has_cookie());
  EXPECT_FALSE(a.last_mac1().has_value());
}

}  // namespace
}  // namespace rl::wireguard
