// WireGuard key log and handshake key derivation for rl-replay (tools/replay/wg_keys.h):
// BLAKE2s (core/blake2s.h, which wg_keys.cc uses) against published vectors, the key
// log parser, and the transport keys of the two handshakes in
// tests/data/wireguard/transport.pcap against transport.txt (made by make_capture.py and
// checked by tshark), from either end's logged keys.
#include "tools/replay/wg_keys.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/blake2s.h"
#include "tools/replay/common.h"
#include "tools/replay/pcap_source.h"
#include "tests/support/wireguard_fixture.h"

namespace rl::replay {
namespace {

const std::string kData = rl::test::wg::data_dir();

std::string b2s(std::string_view in, std::span<const uint8_t> key = {}, size_t out_len = 32) {
  uint8_t out[32];
  rl::blake2s({reinterpret_cast<const uint8_t*>(in.data()), in.size()}, key, out, out_len);
  return hex({out, out_len});
}

Bytes counting(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i);
  return b;
}

std::string_view as_text(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// --- BLAKE2s ---------------------------------------------------------------

TEST(WgBlake2s, Rfc7693AppendixB) {
  EXPECT_EQ(b2s("abc"), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

TEST(WgBlake2s, Unkeyed) {
  EXPECT_EQ(b2s(""), "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
  // One whole block, and one byte more (the held-back last block). Computed once with
  // Python's hashlib.blake2s(bytes(range(n))).
  EXPECT_EQ(b2s(as_text(counting(64))), "56f34e8b96557e90c1f24b52d0c89d51086acf1b00f634cf1dde9233b8eaaa3e");
  EXPECT_EQ(b2s(as_text(counting(65))), "1b53ee94aaf34e4b159d48de352c7f0661d0a40edff95a0b1639b4090e974472");
}

TEST(WgBlake2s, Keyed) {
  // The BLAKE2 reference's keyed vectors (blake2s-kat.txt / blake2s-test.txt): key = 00..1f,
  // input = 00..(n-1). n = 0 is the key block alone, carrying the final flag.
  const Bytes key = counting(32);
  EXPECT_EQ(b2s("", key), "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49");
  EXPECT_EQ(b2s(as_text(counting(1)), key), "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1");
  EXPECT_EQ(b2s(as_text(counting(64)), key), "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4");
  // Computed once with Python's hashlib.blake2s (key=..., digest_size=...): more blocks,
  // a short key, truncated digests (MAC is BLAKE2s-128).
  EXPECT_EQ(b2s(as_text(counting(65)), key), "21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8");
  const uint8_t k[] = {'k'};
  EXPECT_EQ(b2s("abc", k, 16), "f335237426ff5582d0c607ef240684b5");
  Bytes thousand(1000);
  for (size_t i = 0; i < thousand.size(); ++i) thousand[i] = uint8_t(i);
  EXPECT_EQ(b2s(as_text(thousand), Bytes(20, 7), 20), "4604cc6c83e5ff98e84e80c15d79e1b09bcee624");
}

// --- Fixture -----------------------------------------------------------------

struct Handshake {
  Bytes initiation, response;
};

// The handshake messages' UDP payloads in transport.pcap (Ethernet/IPv4/UDP), in order.
std::vector<Handshake> read_handshakes() {
  std::vector<Handshake> hs;
  PcapSource src;
  Diag d;
  d.quiet = true;
  if (!src.open(kData + "transport.pcap", d)) return hs;
  Frame f;
  while (src.next(f, d) == PcapSource::Next::frame) {
    ByteSpan ip;
    std::string why;
    if (!link_payload(f.linktype >= 0 ? f.linktype : src.linktype(), f.data, ip, &why)) continue;
    if (ip.size() < 20 || ip[0] >> 4 != 4 || ip[9] != 17) continue;
    const size_t ihl = size_t(ip[0] & 15) * 4;
    if (ip.size() < ihl + 8) continue;
    const ByteSpan udp = ip.subspan(ihl);
    const size_t udp_len = size_t(udp[4]) << 8 | udp[5];
    if (udp_len < 8 || udp_len > udp.size()) continue;
    const ByteSpan payload = udp.subspan(8, udp_len - 8);
    if (payload.size() == 148 && payload[0] == 1) hs.push_back({Bytes(payload.begin(), payload.end()), {}});
    if (payload.size() == 92 && payload[0] == 2 && !hs.empty())
      hs.back().response.assign(payload.begin(), payload.end());
  }
  return hs;
}

// transport.txt's `session` lines.
std::vector<WgSession> read_sessions() {
  std::vector<WgSession> out;
  const std::optional<rl::test::wg::Fixture> f = rl::test::wg::load_fixture();
  EXPECT_TRUE(f.has_value()) << "missing " << kData << "transport.txt";
  if (!f) return out;
  for (const auto& [n, fs] : f->sessions) {
    WgSession s;
    s.initiator_index = fs.initiator_index;
    s.responder_index = fs.responder_index;
    std::copy(fs.i2r.begin(), fs.i2r.end(), s.i2r.begin());
    std::copy(fs.r2i.begin(), fs.r2i.end(), s.r2i.begin());
    out.push_back(s);
  }
  return out;
}

std::vector<WgKeylogEntry> parse(const std::string& text) {
  std::istringstream in(text);
  std::vector<WgKeylogEntry> out;
  std::string err;
  EXPECT_TRUE(parse_wg_keylog(in, out, err)) << err;
  return out;
}

std::vector<WgKeylogEntry> initiator_keys() {
  std::ifstream in(kData + "transport.keylog");
  std::vector<WgKeylogEntry> out;
  std::string err;
  EXPECT_TRUE(in.good());
  EXPECT_TRUE(parse_wg_keylog(in, out, err)) << err;
  return out;
}

// The responders' side of both sessions, from make_capture.py's fixed_key() labels
// (clamp(BLAKE2s("wg-fixture " + label))), computed once with Python and typed in.
// Session 1: B answers A; session 2: A answers B with the non-zero preshared key.
const char* const kStaticA = "gEvTlmoxhfSeLBafF9Wa7zR1UQqUTMCQA1egLugvWU8=";
const char* const kStaticB = "oPntQLKa+bo6iJSBZYC56gEDv0ONRhhAs+vDsG+b114=";
const char* const kPsk2 = "VQa1Q4xEtS/ieUqSAPyaSUvzKSHYHeKsETGsuSHFZhk=";
const char* const kZero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
std::string responder_keylog(const char* psk1 = kZero, const char* psk2 = kPsk2) {
  return std::string("LOCAL_STATIC_PRIVATE_KEY = ") + kStaticB +
         "\n"
         "LOCAL_EPHEMERAL_PRIVATE_KEY = KGC31j+kZZXu7tveUVkGF9NHwSweVAIMZfhGBn/mcXM=\n"
         "PRESHARED_KEY = " +
         psk1 + "\nLOCAL_STATIC_PRIVATE_KEY = " + kStaticA +
         "\n"
         "LOCAL_EPHEMERAL_PRIVATE_KEY = OKpQ6lfHav7C5HVqblyw3TWKcUD/GrJ1CsvHdg9IgVE=\n"
         "PRESHARED_KEY = " +
         psk2 + "\n";
}

class WgDerive : public ::testing::Test {
 protected:
  void SetUp() override {
    hs = read_handshakes();
    want = read_sessions();
    ASSERT_EQ(hs.size(), 2u);
    ASSERT_EQ(want.size(), 2u);
    for (const auto& h : hs) {
      ASSERT_EQ(h.initiation.size(), 148u);
      ASSERT_EQ(h.response.size(), 92u);
    }
  }
  std::optional<WgSession> derive(const std::vector<WgKeylogEntry>& keys, size_t init, size_t resp) {
    return wg_derive(keys, hs[init].initiation, hs[resp].response);
  }
  void expect_session(const std::optional<WgSession>& got, size_t n) {
    ASSERT_TRUE(got.has_value()) << "session " << n + 1;
    EXPECT_EQ(got->initiator_index, want[n].initiator_index) << "session " << n + 1;
    EXPECT_EQ(got->responder_index, want[n].responder_index) << "session " << n + 1;
    EXPECT_EQ(hex(got->i2r), hex(want[n].i2r)) << "session " << n + 1;
    EXPECT_EQ(hex(got->r2i), hex(want[n].r2i)) << "session " << n + 1;
  }
  std::vector<Handshake> hs;
  std::vector<WgSession> want;
};

TEST_F(WgDerive, InitiatorKeyLogGivesTheFixtureKeys) {
  const auto keys = initiator_keys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(want[0].initiator_index, 0xa1b2c3d4u);  // the integer, not the wire bytes
  for (size_t n = 0; n < 2; ++n) expect_session(derive(keys, n, n), n);
}

TEST_F(WgDerive, ResponderKeyLogGivesTheSameKeys) {
  const auto keys = parse(responder_keylog());
  ASSERT_EQ(keys.size(), 2u);
  for (size_t n = 0; n < 2; ++n) expect_session(derive(keys, n, n), n);
  // Each entry alone is enough for its own session, and only for it.
  for (size_t n = 0; n < 2; ++n) {
    const std::vector<WgKeylogEntry> one{keys[n]};
    expect_session(derive(one, n, n), n);
    EXPECT_FALSE(derive(one, 1 - n, 1 - n)) << "session " << 2 - n;
  }
}

TEST_F(WgDerive, ResponderStaticFoundByMac1) {
  // The initiators' entries without REMOTE_STATIC_PUBLIC_KEY: the responder's static key
  // is the other entry's LOCAL_STATIC_PRIVATE_KEY (A and B each initiated once).
  auto keys = initiator_keys();
  ASSERT_EQ(keys.size(), 2u);
  for (auto& e : keys) e.remote_static_public.reset();
  for (size_t n = 0; n < 2; ++n) expect_session(derive(keys, n, n), n);
  // Alone, an entry has no candidate for the responder's key.
  for (size_t n = 0; n < 2; ++n) EXPECT_FALSE(derive({keys[n]}, n, n));
  // A static key whose mac1 does not match is not used, even with the right ephemeral.
  WgKeylogEntry other;
  other.local_static_private = parse(std::string("LOCAL_STATIC_PRIVATE_KEY = ") + kPsk2)[0].local_static_private;
  EXPECT_FALSE(derive({keys[0], other}, 0, 0));
}

TEST_F(WgDerive, WrongPresharedKeyGivesNothing) {
  auto keys = initiator_keys();
  ASSERT_EQ(keys.size(), 2u);
  keys[0].preshared_key = keys[1].preshared_key;  // session 1 used zeros
  keys[1].preshared_key.reset();                  // session 2 did not
  EXPECT_FALSE(derive(keys, 0, 0));
  EXPECT_FALSE(derive(keys, 1, 1));
  const auto resp = parse(responder_keylog(kPsk2, kZero));
  EXPECT_FALSE(derive(resp, 0, 0));
  EXPECT_FALSE(derive(resp, 1, 1));
}

TEST_F(WgDerive, WrongStaticKeyGivesNothing) {
  const auto good = initiator_keys();
  ASSERT_EQ(good.size(), 2u);
  const Key32 junk = *parse(std::string("PRESHARED_KEY = ") + kPsk2)[0].preshared_key;
  for (size_t n = 0; n < 2; ++n) {
    auto keys = good;
    keys[n].remote_static_public = junk;  // the responder's public key
    EXPECT_FALSE(derive({keys[n]}, n, n)) << "session " << n + 1;
    keys = good;
    keys[n].local_static_private = junk;  // the initiator's private key
    EXPECT_FALSE(derive({keys[n]}, n, n)) << "session " << n + 1;
    auto resp = parse(responder_keylog());
    resp[n].local_static_private = junk;  // the responder's private key
    EXPECT_FALSE(derive({resp[n]}, n, n)) << "session " << n + 1;
  }
}

TEST_F(WgDerive, TamperedHandshakeGivesNothing) {
  const auto ini = initiator_keys();
  const auto resp = parse(responder_keylog());
  struct Flip {
    bool in_response;
    size_t offset;
    const char* what;
  };
  const Flip flips[] = {
      {false, 40, "encrypted static"},         {false, 87, "encrypted static tag"},
      {false, 88, "encrypted timestamp"},      {false, 115, "encrypted timestamp tag"},
      {true, 44, "encrypted empty (its tag)"}, {true, 59, "encrypted empty (its tag)"},
  };
  for (const Flip& fl : flips) {
    for (size_t n = 0; n < 2; ++n) {
      Bytes init = hs[n].initiation, rsp = hs[n].response;
      (fl.in_response ? rsp : init)[fl.offset] ^= 0x01;
      EXPECT_FALSE(wg_derive(ini, init, rsp)) << fl.what << ", session " << n + 1 << ", initiator's keys";
      EXPECT_FALSE(wg_derive(resp, init, rsp)) << fl.what << ", session " << n + 1 << ", responder's keys";
    }
  }
}

TEST_F(WgDerive, ResponseOfTheOtherSessionGivesNothing) {
  const auto ini = initiator_keys();
  const auto resp = parse(responder_keylog());
  for (const auto* keys : {&ini, &resp}) {
    EXPECT_FALSE(derive(*keys, 0, 1));
    EXPECT_FALSE(derive(*keys, 1, 0));
  }
  // Even with the receiver index rewritten to match, the transcript does not.
  for (size_t n = 0; n < 2; ++n) {
    Bytes rsp = hs[1 - n].response;
    std::copy(hs[n].initiation.begin() + 4, hs[n].initiation.begin() + 8, rsp.begin() + 8);
    EXPECT_FALSE(wg_derive(ini, hs[n].initiation, rsp)) << "session " << n + 1;
    EXPECT_FALSE(wg_derive(resp, hs[n].initiation, rsp)) << "session " << n + 1;
  }
}

TEST_F(WgDerive, MalformedMessagesGiveNothing) {
  const auto keys = initiator_keys();
  const Bytes& init = hs[0].initiation;
  const Bytes& rsp = hs[0].response;
  EXPECT_FALSE(wg_derive(keys, rsp, init));  // swapped
  EXPECT_FALSE(wg_derive(keys, ByteSpan(init).first(147), rsp));
  EXPECT_FALSE(wg_derive(keys, init, ByteSpan(rsp).first(91)));
  Bytes longer = init;
  longer.push_back(0);
  EXPECT_FALSE(wg_derive(keys, longer, rsp));
  Bytes reserved = init;
  reserved[2] = 1;
  EXPECT_FALSE(wg_derive(keys, reserved, rsp));
  EXPECT_FALSE(wg_derive({}, init, rsp));
  expect_session(wg_derive(keys, init, rsp), 0);  // and the untouched pair still works
}

// --- Key log parser ----------------------------------------------------------

TEST(WgKeylog, FixtureEntries) {
  const auto keys = initiator_keys();
  ASSERT_EQ(keys.size(), 2u);
  for (const auto& e : keys) {
    EXPECT_TRUE(e.local_static_private && e.remote_static_public && e.local_ephemeral_private && e.preshared_key);
  }
  EXPECT_EQ(hex(*keys[0].preshared_key), std::string(64, '0'));
  Bytes a;
  ASSERT_TRUE(parse_base64(kStaticA, a));
  EXPECT_EQ(hex(*keys[0].local_static_private), hex(a));
}

TEST(WgKeylog, LayoutAndGrouping) {
  const std::string z = kZero;
  // Leading spaces (extract-handshakes.sh indents), spaces or none around '=', comments,
  // blank lines, CRLF.
  auto keys = parse("# a comment\n\n  LOCAL_STATIC_PRIVATE_KEY=" + z + "\r\n\tPRESHARED_KEY =   " + z +
                    "   # trailing comment\n");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_TRUE(keys[0].local_static_private && keys[0].preshared_key);
  EXPECT_FALSE(keys[0].remote_static_public || keys[0].local_ephemeral_private);
  // Names attach to the latest entry; a name that entry already has starts another.
  keys = parse("LOCAL_EPHEMERAL_PRIVATE_KEY = " + z +           // entry 0
               "\nLOCAL_STATIC_PRIVATE_KEY = " + z +            //   entry 0
               "\nLOCAL_EPHEMERAL_PRIVATE_KEY = " + z +         // entry 1
               "\nREMOTE_STATIC_PUBLIC_KEY = " + z +            //   entry 1
               "\nLOCAL_STATIC_PRIVATE_KEY = " + z +            //   entry 1
               "\nLOCAL_STATIC_PRIVATE_KEY = " + z + "\n");  // entry 2
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_TRUE(keys[0].local_static_private && keys[0].local_ephemeral_private && !keys[0].remote_static_public);
  EXPECT_TRUE(keys[1].local_static_private && keys[1].local_ephemeral_private && keys[1].remote_static_public);
  EXPECT_TRUE(keys[2].local_static_private && !keys[2].local_ephemeral_private);
  // What wireguard-tools' extract-handshakes.sh writes: a header line per handshake, the
  // names indented and in bash's associative-array order (static key last), and blocks
  // without a preshared key; each block is one entry.
  const std::string block = "New handshake session:\n  REMOTE_STATIC_PUBLIC_KEY = " + z +
                            "\n  LOCAL_EPHEMERAL_PRIVATE_KEY = " + z + "\n  LOCAL_STATIC_PRIVATE_KEY = " + z + "\n";
  keys = parse(block + "New handshake session:\n  REMOTE_STATIC_PUBLIC_KEY = " + z + "\n  PRESHARED_KEY = " + z +
               "\n  LOCAL_EPHEMERAL_PRIVATE_KEY = " + z + "\n  LOCAL_STATIC_PRIVATE_KEY = " + z + "\n" + block);
  ASSERT_EQ(keys.size(), 3u);
  for (const auto& k : keys)
    EXPECT_TRUE(k.local_static_private && k.local_ephemeral_private && k.remote_static_public);
  EXPECT_TRUE(!keys[0].preshared_key && keys[1].preshared_key && !keys[2].preshared_key);
  // An empty input is no entries, and parsing appends.
  std::vector<WgKeylogEntry> out(1);
  std::istringstream empty("\n# nothing\n");
  std::string err;
  EXPECT_TRUE(parse_wg_keylog(empty, out, err));
  EXPECT_EQ(out.size(), 1u);
}

TEST(WgKeylog, ErrorsNameTheLine) {
  const std::string z = kZero;
  struct Case {
    std::string text;
    std::string want;  // in err
  } cases[] = {
      {"LOCAL_STATIC_PRIVATE_KEY = " + z + "\nCLIENT_RANDOM = " + z + "\n", "line 2: unknown name 'CLIENT_RANDOM'"},
      {"\n\nPRESHARED_KEY = AAAA*AAA\n", "line 3: PRESHARED_KEY: value is not base64"},
      {"PRESHARED_KEY = AAAAAAAAAAAAAAAAAAAAAA==\n", "line 1: PRESHARED_KEY: key is 16 bytes, not 32"},
      {"# x\nLOCAL_STATIC_PRIVATE_KEY = " + std::string(48, 'A') + "\n",
       "line 2: LOCAL_STATIC_PRIVATE_KEY: key is 36 bytes"},
      {"LOCAL_STATIC_PRIVATE_KEY =\n", "line 1: LOCAL_STATIC_PRIVATE_KEY: key is 0 bytes"},
      {"New handshake session\n", "line 1: expected 'NAME = base64 key'"},
  };
  for (const auto& c : cases) {
    std::istringstream in(c.text);
    std::vector<WgKeylogEntry> out;
    std::string err;
    EXPECT_FALSE(parse_wg_keylog(in, out, err)) << c.text;
    EXPECT_NE(err.find(c.want), std::string::npos) << "err: " << err << "\nwant: " << c.want;
    EXPECT_TRUE(out.empty()) << c.text;  // nothing from a file that failed
  }
}

}  // namespace
}  // namespace rl::replay
