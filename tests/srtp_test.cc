// SRTP / SRTCP: RFC 3711 App. B, RFC 6188 §7, RFC 6904 App. A, RFC 7714
// §16-17 known answers (typed in and from ../shared/vectors), index
// estimation, every-byte mutation, replay, SRTCP, MKI, cryptex, limits, the
// stream table, key-management helpers.
#include <gtest/gtest.h>

#include <openssl/aes.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/srtp.h"
#include "core/srtp_keys.h"
#include "tests/support/vectors.h"

namespace rl::srtp {
namespace {

using test::Bytes;
using test::hex;
using test::to_hex;

// Caller memory for one packet: headroom | packet | tailroom.
struct Buf {
  static constexpr uint32_t kHead = 16, kTail = 64;
  Bytes mem;
  PacketView v;
  explicit Buf(const Bytes& pkt) {
    mem.assign(kHead + pkt.size() + kTail, 0xEE);
    if (!pkt.empty()) std::memcpy(mem.data() + kHead, pkt.data(), pkt.size());
    v.buf = mem.data();
    v.capacity = static_cast<uint32_t>(mem.size());
    v.offset = kHead;
    v.length = static_cast<uint32_t>(pkt.size());
  }
  Bytes bytes() const { return Bytes(v.data(), v.data() + v.length); }
  // v points into mem: moving keeps the heap buffer, copying would not.
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  Buf(Buf&&) = default;
  Buf& operator=(Buf&&) = default;
};

// Each packet twice, each copy in its own Buf: `burst` (its views go to one
// call) and `one` (one packet at a time), to compare a burst with single calls.
struct BufPairs {
  std::vector<Buf> burst, one;
  std::vector<PacketView> views;  // of `burst`, in order
  explicit BufPairs(const std::vector<Bytes>& pkts) {
    for (const Bytes& p : pkts) {
      burst.emplace_back(p);
      one.emplace_back(p);
    }
    for (Buf& x : burst) views.push_back(x.v);
  }
};

Status seal1(Session& s, Buf& b, bool rtcp = false) {
  std::span<PacketView> one{&b.v, 1};
  rtcp ? s.seal_rtcp(one) : s.seal(one);
  return b.v.status;
}
Status open1(Session& s, Buf& b, bool rtcp = false) {
  std::span<PacketView> one{&b.v, 1};
  rtcp ? s.open_rtcp(one) : s.open(one);
  return b.v.status;
}

Bytes rtp_packet(uint32_t ssrc, uint16_t seq, size_t payload, uint8_t cc = 0,
                 const Bytes& ext = {}, uint16_t ext_profile = 0xBEDE, uint8_t fill = 0) {
  Bytes p(12);
  p[0] = static_cast<uint8_t>(0x80 | cc | (ext.empty() ? 0 : 0x10));
  p[1] = 96;
  store_be16(p.data() + 2, seq);
  store_be32(p.data() + 4, 0x11223344u + seq);
  store_be32(p.data() + 8, ssrc);
  for (uint8_t i = 0; i < cc; ++i) {
    const size_t at = p.size();
    p.resize(at + 4);
    store_be32(p.data() + at, 0xC5C50000u + i);
  }
  if (!ext.empty()) {
    const size_t at = p.size();
    p.resize(at + 4);
    store_be16(p.data() + at, ext_profile);
    store_be16(p.data() + at + 2, static_cast<uint16_t>(ext.size() / 4));
    p.insert(p.end(), ext.begin(), ext.end());
  }
  for (size_t i = 0; i < payload; ++i) p.push_back(static_cast<uint8_t>(fill + seq + i * 7));
  return p;
}

Bytes rtcp_packet(uint32_t ssrc, size_t body) {
  Bytes p(8);
  p[0] = 0x80;
  p[1] = 200;  // SR
  store_be16(p.data() + 2, static_cast<uint16_t>((8 + body) / 4 - 1));
  store_be32(p.data() + 4, ssrc);
  for (size_t i = 0; i < body; ++i) p.push_back(static_cast<uint8_t>(i * 13 + 1));
  return p;
}

struct Keys {
  Bytes key, salt, mki;
  MasterKey mk() const { return {key, salt, mki}; }
};
Keys keys_for(Profile p, uint64_t seed, size_t mki_len = 0, uint8_t mki_val = 1) {
  const ProfileInfo i = profile_info(p);
  Keys k{test::random_bytes(i.master_key_len, seed), test::random_bytes(i.master_salt_len, seed + 7),
         Bytes(mki_len, 0)};
  if (mki_len) k.mki.back() = mki_val;
  return k;
}

struct Pair {
  Session tx{Direction::seal, 16}, rx{Direction::open, 16};
  Pair(const Policy& pol, const std::vector<Keys>& keys) {
    std::vector<MasterKey> mks;
    for (const auto& k : keys) mks.push_back(k.mk());
    EXPECT_EQ(tx.set_template(pol, mks), Status::ok);
    EXPECT_EQ(rx.set_template(pol, mks), Status::ok);
  }
};

// `one`: a receiver beside pr.rx with the same policy and key, for the same
// packets one at a time; `first` is opened on both.
void open_first_on_both(Pair& pr, Session& one, const Policy& pol, const Keys& k, const Bytes& first) {
  const MasterKey mk = k.mk();
  ASSERT_EQ(one.set_template(pol, {&mk, 1}), Status::ok);
  Buf a(first), b(first);
  ASSERT_EQ(open1(pr.rx, a), Status::ok);
  ASSERT_EQ(open1(one, b), Status::ok);
}

// ---------------------------------------------------------------------------
// Key derivation and keystream known answers

TEST(SrtpKdf, Rfc3711B3TypedIn) {
  // RFC 3711 Appendix B.3, values typed from the RFC text.
  const Bytes mk = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
  const Bytes ms = hex("0EC675AD498AFEEBB6960B3AABE6");
  Bytes out(16);
  ASSERT_EQ(derive_session_key(mk, ms, 0, 0, out), Status::ok);
  EXPECT_EQ(to_hex(out), "c61e7a93744f39ee10734afe3ff7a087");
  out.resize(14);
  ASSERT_EQ(derive_session_key(mk, ms, 2, 0, out), Status::ok);
  EXPECT_EQ(to_hex(out), "30cbbc08863d8c85d49db34a9ae1");
  out.resize(20);
  ASSERT_EQ(derive_session_key(mk, ms, 1, 0, out), Status::ok);
  EXPECT_EQ(to_hex(out), "cebe321f6ff7716b6fd4ab49af256a156d38baa4");
  // Refuses a salt that is neither 14 (AES-CM) nor 12 (AEAD) bytes.
  EXPECT_EQ(derive_session_key(mk, Bytes(13), 0, 0, out), Status::invalid_argument);
}

TEST(SrtpKdf, Rfc3711B3Vectors) {
  auto v = test::load_vectors("srtp_rfc3711.json");
  RL_SKIP_IF_MISSING(v, "srtp_rfc3711.json");
  int checked = 0;
  for (const auto& t : (*v)["vectors"]) {
    const std::string id = t["id"];
    if (id == "rfc3711-B.3-key-derivation") {
      const Bytes mk = hex(t["master_key"].get<std::string>());
      const Bytes ms = hex(t["master_salt"].get<std::string>());
      Bytes k(16), s(14), a(94);
      ASSERT_EQ(derive_session_key(mk, ms, 0, 0, k), Status::ok);
      ASSERT_EQ(derive_session_key(mk, ms, 2, 0, s), Status::ok);
      ASSERT_EQ(derive_session_key(mk, ms, 1, 0, a), Status::ok);
      EXPECT_EQ(to_hex(k), t["cipher_key"]["output"].get<std::string>());
      EXPECT_EQ(to_hex(s), t["cipher_salt"]["output"].get<std::string>());
      EXPECT_EQ(to_hex(a), t["auth_key"]["output_94_octets"].get<std::string>());
      ++checked;
    } else if (id == "rfc3711-B.3-master-key-other-labels_derived") {
      const Bytes mk = hex("e1f97a0d3e018be0d64fa32c06de4139");
      const Bytes ms = hex("0ec675ad498afeebb6960b3aabe6");
      const std::pair<const char*, std::pair<uint8_t, size_t>> want[] = {
          {"srtcp_encryption_key_label3", {3, 16}}, {"srtcp_auth_key_label4_20_octets", {4, 20}},
          {"srtcp_salt_label5", {5, 14}},           {"header_encryption_key_label6", {6, 16}},
          {"header_salt_label7", {7, 14}}};
      for (const auto& [field, lab] : want) {
        Bytes o(lab.second);
        ASSERT_EQ(derive_session_key(mk, ms, lab.first, 0, o), Status::ok);
        EXPECT_EQ(to_hex(o), t[field].get<std::string>()) << field;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2);
}

TEST(SrtpKdf, Rfc6188Vectors) {
  auto v = test::load_vectors("srtp_rfc6188.json");
  RL_SKIP_IF_MISSING(v, "srtp_rfc6188.json");
  int checked = 0;
  for (const auto& t : (*v)["vectors"]) {
    if (!t.contains("master_key")) continue;
    const Bytes mk = hex(t["master_key"].get<std::string>());
    const Bytes ms = hex(t["master_salt"].get<std::string>());
    Bytes k(mk.size()), s(14), a(20);
    ASSERT_EQ(derive_session_key(mk, ms, 0, 0, k), Status::ok);
    ASSERT_EQ(derive_session_key(mk, ms, 2, 0, s), Status::ok);
    ASSERT_EQ(derive_session_key(mk, ms, 1, 0, a), Status::ok);
    EXPECT_EQ(to_hex(k), t["cipher_key"].get<std::string>());
    EXPECT_EQ(to_hex(s), t["cipher_salt"].get<std::string>());
    EXPECT_EQ(to_hex(a), t["auth_key"].get<std::string>());
    const auto& rtcp = t["srtcp_keys_derived_not_in_rfc"];
    Bytes k3(mk.size()), a4(20), s5(14);
    derive_session_key(mk, ms, 3, 0, k3);
    derive_session_key(mk, ms, 4, 0, a4);
    derive_session_key(mk, ms, 5, 0, s5);
    EXPECT_EQ(to_hex(k3), rtcp["srtcp_encryption_key_label3"].get<std::string>());
    EXPECT_EQ(to_hex(a4), rtcp["srtcp_auth_key_label4"].get<std::string>());
    EXPECT_EQ(to_hex(s5), rtcp["srtcp_salt_label5"].get<std::string>());
    ++checked;
  }
  EXPECT_EQ(checked, 2);  // AES-256 (7.2) and AES-192 (7.4)
  // RFC 6188 §7.2 typed in: AES-256 cipher key.
  const Bytes mk = hex("f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6");
  const Bytes ms = hex("3b04803de51ee7c96423ab5b78d2");
  Bytes k(32);
  derive_session_key(mk, ms, 0, 0, k);
  EXPECT_EQ(to_hex(k), "5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4");
}

// The AES-CM keystream segment of B.2 / RFC 6188 §7.1, §7.3: 65282 blocks
// from IV = salt * 2^16 (SSRC, ROC, SEQ all zero).
void check_keystream(const nlohmann::json& t) {
  const Bytes key = hex(t["session_key"].get<std::string>());
  const Bytes iv = hex(t["session_salt_shifted"].get<std::string>());
  detail::CmKey k;
  ASSERT_TRUE(detail::cm_init(k, key));
  const size_t n = t["keystream_length_octets"].get<size_t>();
  Bytes ks(n, 0);
  detail::cm_keystream_xor(k, iv.data(), ks.data(), ks.size());
  for (const auto& blk : t["keystream_blocks"]) {
    const Bytes ctr = hex(blk["counter"].get<std::string>());
    const size_t i = load_be16(ctr.data() + 14);  // block number (low 16 bits)
    EXPECT_EQ(to_hex(ks.data() + 16 * i, 16), blk["keystream"].get<std::string>()) << i;
  }
  uint8_t d[32];
  SHA256(ks.data(), ks.size(), d);
  EXPECT_EQ(to_hex(d, 32), t["keystream_sha256_derived"].get<std::string>());
  // Starting mid-stream gives the same bytes (used by RFC 6904 and cryptex).
  Bytes part(40, 0);  // ends 3 bytes before the segment's end
  detail::cm_keystream_xor(k, iv.data(), part.data(), part.size(), 16 * 65279 + 5);
  EXPECT_EQ(0, std::memcmp(part.data(), ks.data() + 16 * 65279 + 5, part.size()));
  detail::cm_wipe(k);
}

TEST(SrtpKernels, HmacSha1MatchesBoringSslHmac) {
  // Differential: the precomputed-pad HMAC against BoringSSL's HMAC() for
  // message lengths around every block boundary and key lengths up to > 64.
  for (size_t key_len : {size_t{1}, size_t{20}, size_t{64}, size_t{100}}) {
    const Bytes key = test::random_bytes(key_len, key_len);
    detail::HmacSha1Key k;
    detail::hmac_sha1_init(k, key);
    for (size_t n = 0; n < 300; ++n) {
      const Bytes a = test::random_bytes(n, n + 1000);
      const uint8_t roc[4] = {1, 2, 3, static_cast<uint8_t>(n)};
      Bytes msg = a;
      msg.insert(msg.end(), roc, roc + 4);
      uint8_t want[20], got[20];
      unsigned wl = 0;
      HMAC(EVP_sha1(), key.data(), key.size(), msg.data(), msg.size(), want, &wl);
      detail::hmac_sha1_tag(k, a, {roc, 4}, got);
      ASSERT_EQ(to_hex(got, 20), to_hex(want, 20)) << key_len << " " << n;
      detail::hmac_sha1_tag(k, msg, {}, got);
      ASSERT_EQ(to_hex(got, 20), to_hex(want, 20)) << key_len << " " << n;
    }
    detail::hmac_sha1_wipe(k);
  }
  // RFC 2202 test case 2 typed in: key "Jefe".
  detail::HmacSha1Key k;
  const std::string jefe = "Jefe", what = "what do ya want for nothing?";
  detail::hmac_sha1_init(k, {reinterpret_cast<const uint8_t*>(jefe.data()), jefe.size()});
  uint8_t got[20];
  detail::hmac_sha1_tag(k, {reinterpret_cast<const uint8_t*>(what.data()), what.size()}, {}, got);
  EXPECT_EQ(to_hex(got, 20), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(SrtpKeystream, Rfc3711B2TypedIn) {
  const Bytes key = hex("2B7E151628AED2A6ABF7158809CF4F3C");
  const Bytes iv = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");
  detail::CmKey k;
  ASSERT_TRUE(detail::cm_init(k, key));
  Bytes ks(48, 0);
  detail::cm_keystream_xor(k, iv.data(), ks.data(), ks.size());
  EXPECT_EQ(to_hex(ks), "e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab"
                        "41e95b3bb0a2e8dd477901e4fca894c0");
}

TEST(SrtpKeystream, Rfc3711B2AndRfc6188Segments) {
  auto v3711 = test::load_vectors("srtp_rfc3711.json");
  RL_SKIP_IF_MISSING(v3711, "srtp_rfc3711.json");
  auto v6188 = test::load_vectors("srtp_rfc6188.json");
  RL_SKIP_IF_MISSING(v6188, "srtp_rfc6188.json");
  int checked = 0;
  for (const auto* v : {&*v3711, &*v6188}) {
    for (const auto& t : (*v)["vectors"]) {
      if (t.contains("keystream_blocks")) {
        check_keystream(t);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 3);
}

// ---------------------------------------------------------------------------
// RTP parsing and the index estimate

TEST(SrtpParse, HeadersAndMalformed) {
  RtpHeader h;
  Bytes p = rtp_packet(0xAABBCCDD, 7, 5, 2, hex("10ff0000"));
  ASSERT_EQ(parse_rtp_header(p.data(), p.size(), h), Status::ok);
  EXPECT_EQ(h.ssrc, 0xAABBCCDDu);
  EXPECT_EQ(h.seq, 7);
  EXPECT_EQ(h.cc, 2);
  EXPECT_TRUE(h.extension);
  EXPECT_EQ(h.ext_offset, 20u);
  EXPECT_EQ(h.ext_len, 4u);
  EXPECT_EQ(h.header_len, 28u);
  // Every truncation is refused without reading past the end.
  for (size_t n = 0; n < 28; ++n) {
    Bytes cut(p.begin(), p.begin() + static_cast<long>(n));
    EXPECT_NE(parse_rtp_header(cut.data(), cut.size(), h), Status::ok) << n;
  }
  p[0] = 0x40;  // version 1
  EXPECT_EQ(parse_rtp_header(p.data(), p.size(), h), Status::malformed);
  Bytes q = rtp_packet(1, 1, 0, 15);  // 15 CSRCs present: ok
  EXPECT_EQ(parse_rtp_header(q.data(), q.size(), h), Status::ok);
  q.resize(q.size() - 1);
  EXPECT_EQ(parse_rtp_header(q.data(), q.size(), h), Status::malformed);
}

TEST(SrtpIndex, AppendixAEstimate) {
  uint64_t i = 0;
  // In order, no wrap.
  ASSERT_TRUE(estimate_index(0x0000'1000, 0x1001, i));
  EXPECT_EQ(i, 0x1001u);
  // Wrap forward: s_l near the top, SEQ small -> ROC + 1.
  ASSERT_TRUE(estimate_index(0x0000'ffff, 0x0000, i));
  EXPECT_EQ(i, 0x1'0000u);
  ASSERT_TRUE(estimate_index(0x0003'fff0, 0x0005, i));
  EXPECT_EQ(i, 0x4'0005u);
  // Late packet from before the wrap: s_l small, SEQ large -> ROC - 1.
  ASSERT_TRUE(estimate_index(0x0001'0002, 0xfffe, i));
  EXPECT_EQ(i, 0x0'fffeu);
  // ROC 0 cannot go back.
  EXPECT_FALSE(estimate_index(0x0000'0002, 0xfffe, i));
  // Boundaries: s_l = 32768.
  ASSERT_TRUE(estimate_index(0x0002'8000, 0x0000, i));
  EXPECT_EQ(i, 0x2'0000u);  // s_l - 32768 = 0, not > 0
  ASSERT_TRUE(estimate_index(0x0002'8001, 0x0000, i));
  EXPECT_EQ(i, 0x3'0000u);
  ASSERT_TRUE(estimate_index(0x0002'7fff, 0xffff, i));
  EXPECT_EQ(i, 0x2'ffffu);  // SEQ - s_l = 32768, not > 32768
  ASSERT_TRUE(estimate_index(0x0002'7ffe, 0xffff, i));
  EXPECT_EQ(i, 0x1'ffffu);
  ASSERT_TRUE(estimate_index(0x0002'7fff, 0xfffe, i));
  EXPECT_EQ(i, 0x2'fffeu);  // SEQ - s_l = 32767, not > 32768
  // The last ROC cannot go forward.
  EXPECT_FALSE(estimate_index(0xffff'ffff'ffffull, 0x0001, i));
}

// ---------------------------------------------------------------------------
// RFC 7714 packets byte for byte

Policy raw_gcm(Profile p, bool e = true) {
  Policy pol;
  pol.profile = p;
  pol.raw_session_keys = true;
  pol.srtcp_encrypt = e;
  return pol;
}

TEST(SrtpGcm, Rfc7714_16_1_1TypedIn) {
  const Bytes key = hex("000102030405060708090a0b0c0d0e0f");
  const Bytes salt = hex("517569642070726f2071756f");
  const Bytes pkt = hex("8040f17b8041f8d35501a0b2"
                        "47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573");
  Session tx(Direction::seal);
  const MasterKey mk{key, salt, {}};
  ASSERT_EQ(tx.set_template(raw_gcm(Profile::aead_aes128_gcm), {&mk, 1}), Status::ok);
  Buf b(pkt);
  ASSERT_EQ(seal1(tx, b), Status::ok);
  EXPECT_EQ(to_hex(b.bytes()),
            "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b"
            "36de3adf8833899d7f27beb16a9152cf765ee4390cce");
}

TEST(SrtpGcm, Rfc7714Vectors) {
  auto v = test::load_vectors("srtp_rfc7714.json");
  RL_SKIP_IF_MISSING(v, "srtp_rfc7714.json");
  int checked = 0;
  for (const auto& t : (*v)["vectors"]) {
    const std::string id = t["id"];
    const std::string op = t["operation"];
    const Bytes key = hex(t["key"].get<std::string>());
    const Profile prof = key.size() == 16 ? Profile::aead_aes128_gcm : Profile::aead_aes256_gcm;
    const Bytes salt = t.contains("salt") ? hex(t["salt"].get<std::string>())
                                          : hex("517569642070726f2071756f");
    const MasterKey mk{key, salt, {}};
    const bool rtcp = id.rfind("rfc7714-17", 0) == 0;
    if (!rtcp && (op.find("tag only") != std::string::npos ||
                  op.find("tag verification") != std::string::npos)) {
      continue;  // 16.x.3/4: SRTP authentication-only GCM, not a profile here
    }
    const bool e = op.find("E=0") == std::string::npos;
    SCOPED_TRACE(id);
    if (op.find("encrypt") != std::string::npos || op.find("tag only") != std::string::npos) {
      Session tx(Direction::seal);
      ASSERT_EQ(tx.set_template(raw_gcm(prof, e), {&mk, 1}), Status::ok);
      const Bytes in = hex(t[rtcp ? "rtcp_packet" : "rtp_packet"].get<std::string>());
      if (rtcp) {
        // Use up SRTCP indices 0 .. index-1 so the vector's index comes next.
        const uint32_t want = static_cast<uint32_t>(std::stoul(t["srtcp_index"].get<std::string>(), nullptr, 16));
        for (uint32_t i = 0; i < want; ++i) {
          Buf skip(in);
          ASSERT_EQ(seal1(tx, skip, true), Status::ok);
        }
      }
      Buf b(in);
      ASSERT_EQ(seal1(tx, b, rtcp), Status::ok);
      EXPECT_EQ(to_hex(b.bytes()), t[rtcp ? "srtcp_packet" : "srtp_packet"].get<std::string>());
      // ... and our receiver gets the plaintext back.
      Session rx(Direction::open);
      ASSERT_EQ(rx.set_template(raw_gcm(prof, e), {&mk, 1}), Status::ok);
      ASSERT_EQ(open1(rx, b, rtcp), Status::ok);
      EXPECT_EQ(b.bytes(), in);
    } else {
      Session rx(Direction::open);
      ASSERT_EQ(rx.set_template(raw_gcm(prof, e), {&mk, 1}), Status::ok);
      Buf b(hex(t[rtcp ? "srtcp_packet" : "srtp_packet"].get<std::string>()));
      ASSERT_EQ(open1(rx, b, rtcp), Status::ok);
      std::string want;
      for (const char* f : {"recovered_rtcp_packet", "verified_rtcp_packet"}) {
        if (t.contains(f)) want = t[f].get<std::string>();
      }
      if (!rtcp) {
        want = to_hex(b.v.data(), 12) + t["recovered_payload"].get<std::string>();
      }
      EXPECT_EQ(to_hex(b.bytes()), want);
      // Flip the last tag bit: refused, bytes as they arrived.
      Buf bad(hex(t[rtcp ? "srtcp_packet" : "srtp_packet"].get<std::string>()));
      const Bytes before = bad.bytes();
      const size_t tag_end = rtcp ? bad.v.length - 5 : bad.v.length - 1;
      bad.v.data()[tag_end] ^= 1;
      Session rx2(Direction::open);
      ASSERT_EQ(rx2.set_template(raw_gcm(prof, e), {&mk, 1}), Status::ok);
      EXPECT_EQ(open1(rx2, bad, rtcp), Status::auth_failed);
      Bytes after = bad.bytes();
      after[tag_end] ^= 1;
      EXPECT_EQ(after, before);
      EXPECT_EQ(rx2.stream_count(), 0u);  // the failed packet created no stream
    }
    ++checked;
  }
  EXPECT_EQ(checked, 8);  // 16.1.1, 16.1.2, 16.2.1, 16.2.2, 17.1-17.4
}

// ---------------------------------------------------------------------------
// RFC 6904 header-extension encryption

TEST(SrtpHeaderExt, Rfc6904AppendixA) {
  auto v = test::load_vectors("srtp_rfc6904.json");
  RL_SKIP_IF_MISSING(v, "srtp_rfc6904.json");
  const auto& kd = (*v)["vectors"][0];
  const auto& t = (*v)["vectors"][1];
  const Bytes mk = hex(kd["master_key"].get<std::string>());
  const Bytes ms = hex(kd["master_salt"].get<std::string>());
  Bytes k6(16), s7(14);
  derive_session_key(mk, ms, 6, 0, k6);
  derive_session_key(mk, ms, 7, 0, s7);
  EXPECT_EQ(to_hex(k6), kd["header_encryption_key_label6"].get<std::string>());
  EXPECT_EQ(to_hex(s7), kd["header_salt_label7"].get<std::string>());

  // Protect a packet carrying the example block with the engine and compare
  // the extension bytes on the wire (IDs 1, 3, 4 encrypted; 2 in clear).
  Policy pol;
  pol.header_ext = HeaderExtCrypto::rfc6904;
  pol.encrypt_ext_id(1);
  pol.encrypt_ext_id(3);
  pol.encrypt_ext_id(4);
  const MasterKey key{mk, ms, {}};
  Session tx(Direction::seal), rx(Direction::open);
  ASSERT_EQ(tx.set_template(pol, {&key, 1}), Status::ok);
  ASSERT_EQ(rx.set_template(pol, {&key, 1}), Status::ok);
  const Bytes ext = hex(t["header_extension_plaintext"].get<std::string>());
  const Bytes pkt = rtp_packet(0xcafebabe, 0x1234, 20, 0, ext);
  Buf b(pkt);
  ASSERT_EQ(seal1(tx, b), Status::ok);
  EXPECT_EQ(to_hex(b.v.data() + 16, ext.size()), t["header_extension_encrypted"].get<std::string>());
  ASSERT_EQ(open1(rx, b), Status::ok);
  EXPECT_EQ(b.bytes(), pkt);
  // Typed in from RFC 6904 App. A: the encrypted block.
  EXPECT_EQ(to_hex(hex(t["header_extension_encrypted"].get<std::string>())),
            "17588a9270f4e15e1c220000c8309546a994f0bc54789700");
}

TEST(SrtpHeaderExt, Rfc6904TwoByteAndGcmRoundTrip) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aead_aes256_gcm}) {
    Policy pol;
    pol.profile = prof;
    pol.header_ext = HeaderExtCrypto::rfc6904;
    pol.encrypt_ext_id(200);
    const Keys k = keys_for(prof, 77);
    Pair pr(pol, {k});
    // Two-byte form: ID 200 (3 bytes, encrypted), ID 7 (2 bytes, clear), padding.
    const Bytes ext = hex("c8036162630702787900000000");
    Bytes e2 = ext;
    e2.resize(16, 0);
    const Bytes pkt = rtp_packet(5, 9, 30, 1, e2, 0x1000);
    Buf b(pkt);
    ASSERT_EQ(seal1(pr.tx, b), Status::ok);
    const uint8_t* x = b.v.data() + 16 + 4;
    EXPECT_NE(0, std::memcmp(x + 2, "abc", 3)) << "ID 200 data left in clear";
    EXPECT_EQ(0, std::memcmp(x + 7, "xy", 2)) << "ID 7 data must stay in clear";
    EXPECT_EQ(x[0], 0xc8);
    EXPECT_EQ(x[1], 0x03);
    ASSERT_EQ(open1(pr.rx, b), Status::ok);
    EXPECT_EQ(b.bytes(), pkt);
  }
}

// ---------------------------------------------------------------------------
// Cryptex (RFC 9335), checked against an independent AES-CTR construction

// RFC 9335 Appendix A (typed in from the draft-ietf-avtcore-cryptex-08 text,
// which became the RFC): every packet sealed byte for byte and opened back.
struct CryptexVector {
  const char* plain;
  const char* wire;
};
void check_cryptex(Profile prof, const char* key, const char* salt,
                   std::initializer_list<CryptexVector> vecs) {
  const Bytes mk = hex(key), ms = hex(salt);
  const MasterKey k{mk, ms, {}};
  Policy pol;
  pol.profile = prof;
  pol.header_ext = HeaderExtCrypto::cryptex;
  for (const CryptexVector& v : vecs) {
    SCOPED_TRACE(v.plain);
    Session tx(Direction::seal), rx(Direction::open);
    ASSERT_EQ(tx.set_template(pol, {&k, 1}), Status::ok);
    ASSERT_EQ(rx.set_template(pol, {&k, 1}), Status::ok);
    Buf b(hex(v.plain));
    ASSERT_EQ(seal1(tx, b), Status::ok);
    EXPECT_EQ(to_hex(b.bytes()), v.wire);
    Buf w(hex(v.wire));
    ASSERT_EQ(open1(rx, w), Status::ok);
    EXPECT_EQ(to_hex(w.bytes()), v.plain);
  }
}

TEST(SrtpCryptex, Rfc9335AppendixAAesCm) {
  check_cryptex(Profile::aes128_cm_sha1_80, "e1f97a0d3e018be0d64fa32c06de4139",
                "0ec675ad498afeebb6960b3aabe6", {
      {"900f1235decafbadcafebabebede000151000200abababababababababababababababab",
       "900f1235decafbadcafebabec0de0001eb92365251c3e036f8de27e9c27ee3e0b4651d9fbc4218a70244522f34a5"},
      {"900f1236decafbadcafebabe1000000105020002abababababababababababababababab",
       "900f1236decafbadcafebabec2de00014ed9cc4e6a712b3096c5ca77339d4204ce0d77396cab69585fbce38194a5"},
      {"920f1238decafbadcafebabe0001e2400000b26ebede000151000200abababababababababababababababab",
       "920f1238decafbadcafebabe8bb6e12b5cff16ddc0de000192838c8c09e58393e1de3a9a74734d6745671338c3acf11da2df8423bee0"},
      {"920f1239decafbadcafebabe0001e2400000b26e1000000105020002abababababababababababababababab",
       "920f1239decafbadcafebabef70e513eb90b9b25c2de0001bbed4848faa644665f3d7f34125914e9f4d0ae923c6f479b95a0f7b53133"},
      {"920f123adecafbadcafebabe0001e2400000b26ebede0000abababababababababababababababab",
       "920f123adecafbadcafebabe7130b6abfe2ab0e3c0de0000e3d9f64b25c9e74cb4cf8e43fb92e3781c2c0ceab6b3a499a14c"},
      {"920f123bdecafbadcafebabe0001e2400000b26e10000000abababababababababababababababab",
       "920f123bdecafbadcafebabecbf24c124330e1c8c2de0000599dd45bc9d687b603e8b59d771fd38e88b170e0cd31e125eabe"},
  });
}

TEST(SrtpCryptex, Rfc9335AppendixAAesGcm) {
  // The appendix also prints the session key and salt the PRF gives for the
  // 12-octet AEAD master salt.
  const Bytes mk = hex("000102030405060708090a0b0c0d0e0f"), ms = hex("a0a1a2a3a4a5a6a7a8a9aaab");
  Bytes sk(16), ss(12);
  ASSERT_EQ(derive_session_key(mk, ms, 0, 0, sk), Status::ok);
  ASSERT_EQ(derive_session_key(mk, ms, 2, 0, ss), Status::ok);
  EXPECT_EQ(to_hex(sk), "077c6143cb221bc355ff23d5f984a16e");
  EXPECT_EQ(to_hex(ss), "9af3e95364ebac9c99c5a7c4");
  check_cryptex(Profile::aead_aes128_gcm, "000102030405060708090a0b0c0d0e0f",
                "a0a1a2a3a4a5a6a7a8a9aaab", {
      {"900f1235decafbadcafebabebede000151000200abababababababababababababababab",
       "900f1235decafbadcafebabec0de000139972dc9572c4d99e8fc355de743fb2e94f9d8ff54e72f4193bbc5c74ffab0fa9fa0fbeb"},
      {"900f1236decafbadcafebabe1000000105020002abababababababababababababababab",
       "900f1236decafbadcafebabec2de0001bb75a4c545cd1f413bdb7daa2b1e3263de313667c963249081b35a65f5cb6c88b394235f"},
      {"920f1238decafbadcafebabe0001e2400000b26ebede000151000200abababababababababababababababab",
       "920f1238decafbadcafebabe63bbccc4a7f695c4c0de00018ad7c71fac70a80c92866b4c6ba98546ef913586e95ffaaffe956885bb0647a8bc094ac8"},
      {"920f1239decafbadcafebabe0001e2400000b26e1000000105020002abababababababababababababababab",
       "920f1239decafbadcafebabe3680524f8d312b00c2de0001c78d120038422bc111a7187a18246f980c059cc6bc9df8b626394eca344e4b05d80fea83"},
      {"920f123adecafbadcafebabe0001e2400000b26ebede0000abababababababababababababababab",
       "920f123adecafbadcafebabe15b6bb4337906fffc0de0000b7b964537a2b03ab7ba5389ce93317126b5d974df30c6884dcb651c5e120c1da"},
      {"920f123bdecafbadcafebabe0001e2400000b26e10000000abababababababababababababababab",
       "920f123bdecafbadcafebabedcb38c9e48bf95f4c2de000061ee432cf920317076613258d3ce4236c06ac429681ad08413512dc98b5207d8"},
  });
}

TEST(SrtpCryptex, CmLayoutMatchesIndependentCtr) {
  Policy pol;
  pol.header_ext = HeaderExtCrypto::cryptex;
  const Keys k = keys_for(Profile::aes128_cm_sha1_80, 3);
  Pair pr(pol, {k});
  const Bytes ext = hex("10aa21bbcc000000");
  const Bytes pkt = rtp_packet(0x01020304, 100, 40, 2, ext);
  Buf b(pkt);
  ASSERT_EQ(seal1(pr.tx, b), Status::ok);
  const uint8_t* w = b.v.data();
  EXPECT_EQ(load_be16(w + 20), 0xC0DE);  // profile replaced
  EXPECT_EQ(load_be16(w + 22), 2);       // length in clear
  // Expected: CSRCs ‖ ext data ‖ payload encrypted as one AES-CM stream with
  // the session key/salt (labels 0/2), SSRC, index 100.
  Bytes sk(16), ss(14);
  derive_session_key(k.key, k.salt, 0, 0, sk);
  derive_session_key(k.key, k.salt, 2, 0, ss);
  uint8_t iv[16] = {};
  std::memcpy(iv, ss.data(), 14);
  iv[4] ^= 0x01; iv[5] ^= 0x02; iv[6] ^= 0x03; iv[7] ^= 0x04;
  iv[13] ^= 100;
  Bytes region(pkt.begin() + 12, pkt.begin() + 20);
  region.insert(region.end(), pkt.begin() + 24, pkt.end());
  AES_KEY aes;
  AES_set_encrypt_key(sk.data(), 128, &aes);
  uint8_t ec[16];
  unsigned num = 0;
  AES_ctr128_encrypt(region.data(), region.data(), region.size(), &aes, iv, ec, &num);
  Bytes got(w + 12, w + 20);
  got.insert(got.end(), w + 24, w + pkt.size());
  EXPECT_EQ(to_hex(got), to_hex(region));
  ASSERT_EQ(open1(pr.rx, b), Status::ok);
  EXPECT_EQ(b.bytes(), pkt);
}

TEST(SrtpCryptex, RoundTripsAllProfilesWithAndWithoutExtension) {
  for (Profile prof : kAllProfiles) {
    if (!profile_info(prof).encrypts) continue;
    SCOPED_TRACE(profile_info(prof).name);
    Policy pol;
    pol.profile = prof;
    pol.header_ext = HeaderExtCrypto::cryptex;
    Pair pr(pol, {keys_for(prof, 9)});
    // CSRCs and a one-byte extension; CSRCs without extension (an empty one
    // is added); a two-byte extension without CSRCs.
    const Bytes a = rtp_packet(42, 1, 50, 3, hex("10aa21bbcc000000"));
    const Bytes c = rtp_packet(42, 2, 50, 2);
    const Bytes d = rtp_packet(42, 3, 50, 0, hex("0102abcd"), 0x1000);
    for (const Bytes* p : {&a, &c, &d}) {
      Buf b(*p);
      ASSERT_EQ(seal1(pr.tx, b), Status::ok);
      RtpHeader h;
      ASSERT_EQ(parse_rtp_header(b.v.data(), b.v.length, h), Status::ok);
      EXPECT_TRUE(h.ext_profile == 0xC0DE || h.ext_profile == 0xC2DE);
      if (h.cc) { EXPECT_NE(0, std::memcmp(b.v.data() + 12, p->data() + 12, 4u * h.cc)); }
      ASSERT_EQ(open1(pr.rx, b), Status::ok);
      if (p == &c) {
        // Receiver sees the packet with the empty extension the sender added.
        Bytes want = *p;
        want[0] |= 0x10;
        const Bytes empty = hex("bede0000");
        want.insert(want.begin() + 12 + 8, empty.begin(), empty.end());
        EXPECT_EQ(b.bytes(), want);
      } else {
        EXPECT_EQ(b.bytes(), *p);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Round trips, mutation, replay, wrap

struct StateSnap {
  std::optional<StreamInfo> info;
  KeyCounters c;
  size_t streams;
  bool operator==(const StateSnap& o) const {
    auto same = [](const std::optional<StreamInfo>& a, const std::optional<StreamInfo>& b) {
      if (a.has_value() != b.has_value()) return false;
      if (!a) return true;
      return a->any == b->any && a->highest_index == b->highest_index && a->roc == b->roc &&
             a->rtcp_any == b->rtcp_any && a->rtcp_highest == b->rtcp_highest &&
             a->packets == b->packets && a->rtcp_packets == b->rtcp_packets;
    };
    return same(info, o.info) && c.opened == o.c.opened && c.bytes_opened == o.c.bytes_opened &&
           streams == o.streams;
  }
};
StateSnap snap(const Session& s, uint32_t ssrc, const Bytes& mki, bool rtcp) {
  StateSnap x;
  x.info = s.stream_info(ssrc);
  const KeyCounters* c = s.key_counters(std::nullopt, mki, rtcp);
  if (c) x.c = *c;
  x.streams = s.stream_count();
  return x;
}

TEST(SrtpRoundTrip, AllProfilesSrtpAndSrtcp) {
  for (Profile prof : kAllProfiles) {
    for (size_t mki_len : {size_t{0}, size_t{4}}) {
      SCOPED_TRACE(std::string(profile_info(prof).name) + " mki " + std::to_string(mki_len));
      Policy pol;
      pol.profile = prof;
      pol.mki_len = static_cast<uint8_t>(mki_len);
      const Keys k = keys_for(prof, 1, mki_len);
      Pair pr(pol, {k});
      const ProfileInfo info = profile_info(prof);
      for (uint16_t seq = 65530; seq != 10; ++seq) {  // includes the wrap
        const Bytes pkt = rtp_packet(0xABCD, seq, 33, 1, hex("10aa0000"));
        Buf b(pkt);
        ASSERT_EQ(seal1(pr.tx, b), Status::ok);
        EXPECT_EQ(b.v.length, pkt.size() + mki_len + info.srtp_tag_len);
        if (info.encrypts) { EXPECT_NE(0, std::memcmp(b.v.data() + 24, pkt.data() + 24, 33)); }
        ASSERT_EQ(open1(pr.rx, b), Status::ok);
        EXPECT_EQ(b.bytes(), pkt);
      }
      EXPECT_EQ(pr.rx.stream_info(0xABCD)->roc, 1u);
      EXPECT_EQ(pr.tx.stream_info(0xABCD)->roc, 1u);
      for (bool e : {true, false}) {
        Policy p2 = pol;
        p2.srtcp_encrypt = e;
        Pair pc(p2, {k});
        for (int i = 0; i < 5; ++i) {
          const Bytes pkt = rtcp_packet(0xABCD, 20 + 4 * static_cast<size_t>(i));
          Buf b(pkt);
          ASSERT_EQ(seal1(pc.tx, b, true), Status::ok);
          const uint32_t word_at = info.aead ? b.v.length - 4 - static_cast<uint32_t>(mki_len)
                                             : b.v.length - 4 - static_cast<uint32_t>(mki_len) - info.srtcp_tag_len;
          const uint32_t word = load_be32(b.v.data() + word_at);
          EXPECT_EQ(word & 0x7fffffff, static_cast<uint32_t>(i));
          EXPECT_EQ(word >> 31, e && info.encrypts ? 1u : 0u);
          ASSERT_EQ(open1(pc.rx, b, true), Status::ok);
          EXPECT_EQ(b.bytes(), pkt);
        }
      }
    }
  }
}

// Every byte of a protected packet, changed: refused, no state changed, bytes
// left as they arrived.
void mutate_all(Profile prof, bool rtcp, size_t mki_len) {
  SCOPED_TRACE(std::string(profile_info(prof).name) + (rtcp ? " srtcp" : " srtp") + " mki " +
               std::to_string(mki_len));
  Policy pol;
  pol.profile = prof;
  pol.mki_len = static_cast<uint8_t>(mki_len);
  if (!rtcp) {
    pol.header_ext = HeaderExtCrypto::rfc6904;
    pol.encrypt_ext_id(1);
  }
  const Keys k = keys_for(prof, 5, mki_len);
  Pair pr(pol, {k});
  // Prime the receiver so that window and ROC are non-trivial.
  for (uint16_t seq = 65000; seq != 3; ++seq) {
    Buf b(rtcp ? rtcp_packet(0x5150, 12) : rtp_packet(0x5150, seq, 10));
    ASSERT_EQ(seal1(pr.tx, b, rtcp), Status::ok);
    if (seq % 3 == 0) continue;  // leave holes
    ASSERT_EQ(open1(pr.rx, b, rtcp), Status::ok);
    if (rtcp && seq > 65010) break;
  }
  const Bytes pkt = rtcp ? rtcp_packet(0x5150, 24) : rtp_packet(0x5150, 3, 24, 1, hex("10aa2020"));
  Buf sealed(pkt);
  ASSERT_EQ(seal1(pr.tx, sealed, rtcp), Status::ok);
  const Bytes wire = sealed.bytes();
  const StateSnap before = snap(pr.rx, 0x5150, k.mki, rtcp);
  for (size_t i = 0; i < wire.size(); ++i) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
      Bytes m = wire;
      m[i] ^= flip;
      Buf b(m);
      const Status st = open1(pr.rx, b, rtcp);
      ASSERT_NE(st, Status::ok) << "byte " << i << " flip " << int(flip);
      ASSERT_EQ(b.bytes(), m) << "bytes changed, byte " << i;
      ASSERT_TRUE(snap(pr.rx, 0x5150, k.mki, rtcp) == before) << "state changed, byte " << i;
    }
  }
  // Truncations too.
  for (size_t n = 0; n < wire.size(); ++n) {
    Bytes m(wire.begin(), wire.begin() + static_cast<long>(n));
    Buf b(m);
    ASSERT_NE(open1(pr.rx, b, rtcp), Status::ok) << n;
    ASSERT_TRUE(snap(pr.rx, 0x5150, k.mki, rtcp) == before);
  }
  // The genuine packet still opens afterwards, once.
  Buf good(wire);
  ASSERT_EQ(open1(pr.rx, good, rtcp), Status::ok);
  EXPECT_EQ(good.bytes(), pkt);
  Buf again(wire);
  EXPECT_EQ(open1(pr.rx, again, rtcp), Status::replayed);
}

TEST(SrtpMutation, EveryByteEveryProfile) {
  for (Profile prof : kAllProfiles) {
    for (bool rtcp : {false, true}) {
      for (size_t mki : {size_t{0}, size_t{2}}) mutate_all(prof, rtcp, mki);
    }
  }
}

TEST(SrtpReplay, ReplayTooOldReorderAndBurstDuplicates) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aead_aes128_gcm}) {
    SCOPED_TRACE(profile_info(prof).name);
    Policy pol;
    pol.profile = prof;
    pol.replay_window = 64;
    Pair pr(pol, {keys_for(prof, 11)});
    std::map<uint16_t, Bytes> wire;
    for (uint16_t seq = 1; seq <= 200; ++seq) {
      Buf b(rtp_packet(9, seq, 20));
      ASSERT_EQ(seal1(pr.tx, b), Status::ok);
      wire[seq] = b.bytes();
    }
    // The sender refuses to reuse an index (would repeat keystream).
    Buf dup(rtp_packet(9, 150, 20));
    EXPECT_EQ(seal1(pr.tx, dup), Status::replayed);
    // Receive 200 first, then reordered ones inside the window.
    Buf b200(wire[200]);
    ASSERT_EQ(open1(pr.rx, b200), Status::ok);
    Buf b190(wire[190]);
    EXPECT_EQ(open1(pr.rx, b190), Status::ok);
    Buf b190b(wire[190]);
    EXPECT_EQ(open1(pr.rx, b190b), Status::replayed);
    Buf b137(wire[137]);
    EXPECT_EQ(open1(pr.rx, b137), Status::ok);  // 200 - 137 = 63 < 64
    Buf b136(wire[136]);
    EXPECT_EQ(open1(pr.rx, b136), Status::too_old);
    // The same packet twice in one burst: the second is a replay.
    Buf x(wire[199]), y(wire[199]);
    PacketView v[2] = {x.v, y.v};
    EXPECT_EQ(pr.rx.open(v), 1u);
    EXPECT_EQ(v[0].status, Status::ok);
    EXPECT_EQ(v[1].status, Status::replayed);
    EXPECT_EQ(Bytes(v[1].data(), v[1].data() + v[1].length), wire[199]);
    // A forged copy ahead of the genuine packet in the same burst does not get
    // the genuine one refused (a bad packet never fails its neighbours).
    Bytes fake = wire[198];
    fake[15] ^= 0x40;
    Buf f(fake), g(wire[198]), h(wire[198]);
    PacketView w[3] = {f.v, g.v, h.v};
    EXPECT_EQ(pr.rx.open(w), 1u);
    EXPECT_EQ(w[0].status, Status::auth_failed);
    EXPECT_EQ(w[1].status, Status::ok);
    EXPECT_EQ(w[2].status, Status::replayed);
    EXPECT_EQ(Bytes(w[2].data(), w[2].data() + w[2].length), wire[198]);
  }
}

TEST(SrtpReplay, SrtcpReplayAndReorder) {
  for (Profile prof : {Profile::aes256_cm_sha1_32, Profile::aead_aes256_gcm}) {
    Pair pr(Policy{.profile = prof}, {keys_for(prof, 12)});
    std::vector<Bytes> wire;
    for (int i = 0; i < 10; ++i) {
      Buf b(rtcp_packet(77, 16));
      ASSERT_EQ(seal1(pr.tx, b, true), Status::ok);
      wire.push_back(b.bytes());
    }
    for (int i : {5, 2, 9, 0}) {
      Buf b(wire[static_cast<size_t>(i)]);
      EXPECT_EQ(open1(pr.rx, b, true), Status::ok) << i;
    }
    Buf r(wire[2]);
    EXPECT_EQ(open1(pr.rx, r, true), Status::replayed);
    // Forged copy then the genuine packet, in one burst.
    Bytes fake = wire[7];
    fake[10] ^= 1;
    Buf f(fake), g(wire[7]);
    PacketView w[2] = {f.v, g.v};
    EXPECT_EQ(pr.rx.open_rtcp(w), 1u);
    EXPECT_EQ(w[0].status, Status::auth_failed);
    EXPECT_EQ(w[1].status, Status::ok);
    EXPECT_EQ(pr.rx.stream_info(77)->rtcp_highest, 9u);
  }
}

TEST(SrtpBurst, MixedStreamsAndBadPacketsInOneBurst) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aead_aes128_gcm}) {
    Policy pol;
    pol.profile = prof;
    Pair pr(pol, {keys_for(prof, 13)});
    std::vector<Buf> bufs;
    std::vector<Bytes> plain;
    for (int i = 0; i < 70; ++i) {  // more than one internal chunk
      plain.push_back(rtp_packet(1000 + static_cast<uint32_t>(i % 5), static_cast<uint16_t>(i), 40 + static_cast<size_t>(i)));
      bufs.emplace_back(plain.back());
    }
    std::vector<PacketView> v;
    for (auto& b : bufs) v.push_back(b.v);
    ASSERT_EQ(pr.tx.seal(v), 70u);
    v[10].data()[v[10].length - 1] ^= 1;  // forged
    v[20].length = 5;                    // truncated
    ASSERT_EQ(pr.rx.open(v), 68u);
    for (int i = 0; i < 70; ++i) {
      if (i == 10) {
        EXPECT_EQ(v[10].status, Status::auth_failed);
      } else if (i == 20) {
        EXPECT_EQ(v[20].status, Status::truncated);
      } else {
        ASSERT_EQ(v[static_cast<size_t>(i)].status, Status::ok) << i;
        EXPECT_EQ(Bytes(v[static_cast<size_t>(i)].data(), v[static_cast<size_t>(i)].data() + v[static_cast<size_t>(i)].length), plain[static_cast<size_t>(i)]);
      }
    }
    EXPECT_EQ(pr.rx.stream_count(), 5u);
  }
}

// ---------------------------------------------------------------------------
// MKI, lifetimes, kdr, streams

// A burst gives the same bytes and the same verdicts as the same packets one
// at a time: SRTP and SRTCP (E set or not), every kind of profile, with and
// without a key derivation rate (whose session keys change inside the burst).
// Forged packets in an open burst fail and leave no state behind: their
// genuine copies open afterwards.
TEST(SrtpBurst, BurstEqualsOneByOneSrtcpAndKdr) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aes128_cm_sha1_32,
                       Profile::aes256_cm_sha1_80, Profile::null_sha1_80,
                       Profile::aead_aes128_gcm}) {
    const ProfileInfo info = profile_info(prof);
    for (bool rtcp : {false, true}) {
      for (uint64_t kdr : {uint64_t{0}, uint64_t{4}}) {
        for (bool enc : {true, false}) {
          if ((kdr != 0 && info.aead) || (!enc && !rtcp)) continue;
          SCOPED_TRACE(std::string(info.name) + (rtcp ? " srtcp" : " srtp") + " kdr " +
                       std::to_string(kdr) + (enc ? " E" : " noE"));
          Policy pol;
          pol.profile = prof;
          pol.kdr = kdr;
          pol.srtcp_encrypt = enc;
          const Keys k = keys_for(prof, 77);
          constexpr size_t kN = 40;
          std::vector<Bytes> plain;
          for (size_t i = 0; i < kN; ++i) {
            const size_t payload = i % 9 == 4 ? 1200 : (i * 37) % 301;
            plain.push_back(rtcp ? rtcp_packet(0x5150 + i % 2, (payload + 3) & ~size_t{3})
                                 : rtp_packet(0x5150 + i % 2, static_cast<uint16_t>(65530 + i),
                                              payload));
          }
          Pair one(pol, {k}), all(pol, {k});
          // Each stream carries a packet first: a receiver estimates the ROC
          // from what it has authenticated, and packets waiting in the same
          // burst are not that yet (the burst below wraps the sequence).
          for (uint32_t ssrc : {0x5150u, 0x5151u}) {
            const Bytes p = rtcp ? rtcp_packet(ssrc, 16) : rtp_packet(ssrc, 65500, 16);
            Buf x(p), y(p);
            ASSERT_EQ(seal1(one.tx, x, rtcp), Status::ok);
            ASSERT_EQ(seal1(all.tx, y, rtcp), Status::ok);
            ASSERT_EQ(open1(all.rx, y, rtcp), Status::ok);
          }
          BufPairs sealed(plain);
          std::vector<Buf>& a = sealed.one;
          std::vector<Buf>& b = sealed.burst;
          std::vector<PacketView>& v = sealed.views;
          for (Buf& x : a) ASSERT_EQ(seal1(one.tx, x, rtcp), Status::ok);
          ASSERT_EQ(rtcp ? all.tx.seal_rtcp(v) : all.tx.seal(v), kN);
          for (size_t i = 0; i < kN; ++i) {
            b[i].v = v[i];
            ASSERT_EQ(to_hex(b[i].bytes()), to_hex(a[i].bytes())) << i;
          }
          // Open the burst with every fifth packet forged (one byte flipped).
          std::vector<Bytes> wire;
          for (Buf& x : b) wire.push_back(x.bytes());
          v.clear();
          std::vector<Buf> c;
          for (size_t i = 0; i < kN; ++i) {
            Bytes w = wire[i];
            if (i % 5 == 2) w[(i * 11) % w.size()] ^= 0x20;
            c.emplace_back(w);
          }
          for (Buf& x : c) v.push_back(x.v);
          const size_t opened = rtcp ? all.rx.open_rtcp(v) : all.rx.open(v);
          EXPECT_EQ(opened, kN - kN / 5);
          for (size_t i = 0; i < kN; ++i) {
            c[i].v = v[i];
            if (i % 5 == 2) {
              EXPECT_NE(v[i].status, Status::ok) << i;
              Bytes w = wire[i];
              w[(i * 11) % w.size()] ^= 0x20;
              EXPECT_EQ(to_hex(c[i].bytes()), to_hex(w)) << i;  // as it arrived
            } else {
              ASSERT_EQ(v[i].status, Status::ok) << i;
              EXPECT_EQ(to_hex(c[i].bytes()), to_hex(plain[i])) << i;
            }
          }
          // The genuine copies of the forged ones still open; repeats do not.
          for (size_t i = 0; i < kN; ++i) {
            Buf x(wire[i]);
            if (i % 5 == 2) {
              ASSERT_EQ(open1(all.rx, x, rtcp), Status::ok) << i;
              EXPECT_EQ(to_hex(x.bytes()), to_hex(plain[i])) << i;
            } else {
              EXPECT_EQ(open1(all.rx, x, rtcp), Status::replayed) << i;
            }
          }
        }
      }
    }
  }
}

// Session::run() caches what the previous packet's stream resolved to (key
// set, master key, session keys, policy fields). Bursts that switch streams
// on almost every packet, between the template's streams and explicit ones
// with other profiles and an MKI, with new SSRCs appearing mid-burst, a
// forged packet that creates (and loses) a provisional stream ahead of its
// genuine copy, a replay and a truncated packet, must give exactly what the
// same packets give one at a time: bytes, statuses and stream state.
TEST(SrtpBurst, StreamSwitchesInsideABurstEqualOneAtATime) {
  const Keys kt = keys_for(Profile::aead_aes128_gcm, 301);
  const Keys ke1 = keys_for(Profile::aes128_cm_sha1_80, 302);
  const Keys ke2a = keys_for(Profile::aead_aes256_gcm, 303, 2, 1);
  const Keys ke2b = keys_for(Profile::aead_aes256_gcm, 304, 2, 2);
  constexpr uint32_t kT1 = 0xA1, kT2 = 0xA2, kT3 = 0xA3, kE1 = 0xE1, kE2 = 0xE2;
  auto setup = [&](Session& s) {
    Policy pt;
    pt.profile = Profile::aead_aes128_gcm;
    const MasterKey mt = kt.mk();
    ASSERT_EQ(s.set_template(pt, {&mt, 1}), Status::ok);
    Policy p1;
    p1.profile = Profile::aes128_cm_sha1_80;
    const MasterKey m1 = ke1.mk();
    ASSERT_EQ(s.add_stream(kE1, p1, {&m1, 1}), Status::ok);
    Policy p2;
    p2.profile = Profile::aead_aes256_gcm;
    p2.mki_len = 2;
    const MasterKey m2[2] = {ke2a.mk(), ke2b.mk()};
    ASSERT_EQ(s.add_stream(kE2, p2, m2), Status::ok);
    if (s.direction() == Direction::seal) {
      ASSERT_EQ(s.select_master_key(kE2, ke2b.mki), Status::ok);
    }
  };
  Session tx_burst(Direction::seal, 8), tx_one(Direction::seal, 8);
  Session rx_burst(Direction::open, 8), rx_one(Direction::open, 8);
  for (Session* s : {&tx_burst, &tx_one, &rx_burst, &rx_one}) setup(*s);

  // Sealing: one burst vs one at a time.
  const uint32_t order[] = {kT1, kT1, kE1, kT1, kE1, kE1, kT2, kE2, kT1, kE2, kT2, kE1,
                            kT3, kE2, kE2, kT1, kT2, kT2, kE1, kT1, kE2, kT3, kT1, kE1};
  std::map<uint32_t, uint16_t> seq;
  std::vector<Bytes> plain;
  for (uint32_t ssrc : order) {
    const uint16_t q = static_cast<uint16_t>(100 + seq[ssrc]++);
    plain.push_back(rtp_packet(ssrc, q, 20 + (plain.size() * 29) % 300));
  }
  BufPairs sealed(plain);
  std::vector<Buf>& a = sealed.one;
  std::vector<Buf>& b = sealed.burst;
  std::vector<PacketView>& v = sealed.views;
  ASSERT_EQ(tx_burst.seal(v), plain.size());
  std::vector<Bytes> wire;
  for (size_t i = 0; i < plain.size(); ++i) {
    ASSERT_EQ(seal1(tx_one, a[i]), Status::ok) << i;
    b[i].v = v[i];
    ASSERT_EQ(to_hex(b[i].bytes()), to_hex(a[i].bytes())) << i;
    wire.push_back(a[i].bytes());
  }
  for (uint32_t ssrc : {kT1, kT2, kT3, kE1, kE2}) {
    const auto x = tx_burst.stream_info(ssrc), y = tx_one.stream_info(ssrc);
    ASSERT_TRUE(x && y);
    EXPECT_EQ(x->highest_index, y->highest_index);
    EXPECT_EQ(x->packets, y->packets);
  }

  // Opening: the wire packets reordered by stream switches, plus trouble.
  std::vector<Bytes> in;
  size_t first_t3 = 0;
  for (size_t i = 0; i < wire.size(); ++i) {
    if (order[i] == kT3 && first_t3 == 0) {
      first_t3 = i;
      Bytes forged = wire[i];
      forged[forged.size() - 3] ^= 0x40;  // a forged copy ahead of the genuine one
      in.push_back(forged);
    }
    in.push_back(wire[i]);
    if (i == 9) in.push_back(wire[3]);   // a replay of an earlier T1 packet
    if (i == 14) {
      Bytes forged = wire[11];            // a forged E1 packet (not yet opened)
      forged[15] ^= 1;
      in.push_back(forged);
    }
    if (i == 17) in.push_back(Bytes(wire[5].begin(), wire[5].begin() + 11));  // truncated
    if (i == 20) in.push_back(wire[20]);  // a duplicate right after itself
  }
  BufPairs opened_bufs(in);
  std::vector<Buf>& c = opened_bufs.burst;
  std::vector<Buf>& d = opened_bufs.one;
  std::vector<PacketView>& w = opened_bufs.views;
  const size_t opened = rx_burst.open(w);
  size_t opened_one = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const Status st = open1(rx_one, d[i]);
    opened_one += st == Status::ok;
    c[i].v = w[i];
    EXPECT_EQ(w[i].status, st) << i;
    EXPECT_EQ(to_hex(c[i].bytes()), to_hex(d[i].bytes())) << i;
  }
  EXPECT_EQ(opened, opened_one);
  EXPECT_EQ(opened, wire.size());  // every genuine packet once, nothing else
  for (uint32_t ssrc : {kT1, kT2, kT3, kE1, kE2}) {
    const auto x = rx_burst.stream_info(ssrc), y = rx_one.stream_info(ssrc);
    ASSERT_TRUE(x && y);
    EXPECT_EQ(x->highest_index, y->highest_index);
    EXPECT_EQ(x->roc, y->roc);
    EXPECT_EQ(x->packets, y->packets);
  }
  EXPECT_EQ(rx_burst.stream_count(), rx_one.stream_count());
  for (bool rtcp : {false}) {
    const KeyCounters* x = rx_burst.key_counters(kE1, {}, rtcp);
    const KeyCounters* y = rx_one.key_counters(kE1, {}, rtcp);
    ASSERT_TRUE(x && y);
    EXPECT_EQ(x->opened, y->opened);
    EXPECT_EQ(x->auth_failures, y->auth_failures);
    EXPECT_EQ(x->replays, y->replays);
  }
  // Every plaintext came back where its packet was.
  for (size_t i = 0, j = 0; i < in.size(); ++i) {
    if (w[i].status != Status::ok) continue;
    while (to_hex(wire[j]) != to_hex(in[i])) ++j;
    EXPECT_EQ(to_hex(c[i].bytes()), to_hex(plain[j])) << i;
  }
}

// A new stream whose first burst wraps the sequence number (65533, 65534,
// 65535, 0, 1, ...): the receiver has no s_l until a packet authenticates, so
// the packets after the wrap are estimated from the first one of the burst
// (ROC + 1), as one at a time, not from the template's initial ROC. A forged
// first packet must not decide the ROC of the others.
TEST(SrtpBurst, NewStreamWrapsInItsFirstBurst) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aead_aes128_gcm}) {
    for (bool forge_first : {false, true}) {
      SCOPED_TRACE(std::string(profile_info(prof).name) + (forge_first ? " forged first" : ""));
      Policy pol;
      pol.profile = prof;
      Pair pr(pol, {keys_for(prof, 91)});
      constexpr size_t kN = 8;
      std::vector<Bytes> plain, wire;
      std::vector<Buf> c;
      std::vector<PacketView> v;
      for (size_t i = 0; i < kN; ++i) {
        plain.push_back(rtp_packet(0x7700, static_cast<uint16_t>(65533 + i), 100 + i));
        Buf x(plain.back());
        ASSERT_EQ(seal1(pr.tx, x, false), Status::ok) << i;
        wire.push_back(x.bytes());
      }
      for (size_t i = 0; i < kN; ++i) {
        Bytes w = wire[i];
        if (forge_first && i == 0) w[w.size() - 1] ^= 1;
        c.emplace_back(w);
      }
      for (Buf& x : c) v.push_back(x.v);
      EXPECT_EQ(pr.rx.open(v), forge_first ? kN - 1 : kN);
      for (size_t i = 0; i < kN; ++i) {
        c[i].v = v[i];
        if (forge_first && i == 0) {
          EXPECT_EQ(v[i].status, Status::auth_failed);
          continue;
        }
        ASSERT_EQ(v[i].status, Status::ok) << i;
        EXPECT_EQ(to_hex(c[i].bytes()), to_hex(plain[i])) << i;
      }
    }
  }
}

// A sender that jumps about 2^15 sequence numbers ahead inside a burst: the
// packet after the jump has its index estimated (RFC 3711 Appendix A) from
// the highest index the packets before it left, one at a time; the burst
// estimated from the highest before it, which put that packet 2^16 behind
// (too old) and refused a genuine packet. It must open it as one at a time
// does, and a forged copy must fail as one at a time, not be too old.
TEST(SrtpBurst, EstimateMovedByAJumpInsideTheBurst) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aead_aes128_gcm}) {
    for (bool forged : {false, true}) {
      SCOPED_TRACE(std::string(profile_info(prof).name) + (forged ? " forged" : ""));
      Policy pol;
      pol.profile = prof;
      Pair pr(pol, {keys_for(prof, 92)});
      // Indices 65527, 65543 (ROC 1, seq 7), 98307 (ROC 1, seq 32771).
      std::vector<Bytes> plain, wire;
      for (uint16_t seq : {uint16_t{65527}, uint16_t{7}, uint16_t{32771}}) {
        plain.push_back(rtp_packet(0x7800, seq, 120));
        Buf x(plain.back());
        ASSERT_EQ(seal1(pr.tx, x, false), Status::ok) << seq;
        wire.push_back(x.bytes());
      }
      if (forged) wire[2][20] ^= 1;
      Session one{Direction::open, 16};
      ASSERT_NO_FATAL_FAILURE(open_first_on_both(pr, one, pol, keys_for(prof, 92), wire[0]));
      BufPairs bp({wire[1], wire[2]});
      pr.rx.open(bp.views);
      const Status want = forged ? Status::auth_failed : Status::ok;
      for (size_t i = 0; i < 2; ++i) EXPECT_EQ(open1(one, bp.one[i]), i == 0 ? Status::ok : want);
      EXPECT_EQ(bp.views[0].status, Status::ok);
      EXPECT_EQ(bp.views[1].status, want);
      bp.burst[1].v = bp.views[1];
      EXPECT_EQ(to_hex(bp.burst[1].bytes()), to_hex(forged ? wire[2] : plain[2]));
      const auto a = pr.rx.stream_info(0x7800), b = one.stream_info(0x7800);
      ASSERT_TRUE(a.has_value() && b.has_value());
      EXPECT_EQ(a->highest_index, b->highest_index);
      EXPECT_EQ(a->highest_index, forged ? 65543u : 98307u);
      const KeyCounters* ka = pr.rx.key_counters(std::nullopt, {}, false);
      const KeyCounters* kb = one.key_counters(std::nullopt, {}, false);
      ASSERT_TRUE(ka != nullptr && kb != nullptr);
      EXPECT_EQ(ka->auth_failures, kb->auth_failures);
      EXPECT_EQ(ka->replays, kb->replays);
    }
  }
}

// A late packet inside the window as the burst found it, behind a packet of
// the same burst far enough ahead to leave it left of the window: one at a
// time it is too old (refused before its tag), so it must be here, not
// accepted (nor its index marked in a window it is no longer in).
TEST(SrtpBurst, LatePacketLeftBehindByTheBurst) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aead_aes128_gcm}) {
    SCOPED_TRACE(profile_info(prof).name);
    Policy pol;
    pol.profile = prof;
    pol.replay_window = 64;
    Pair pr(pol, {keys_for(prof, 93)});
    std::vector<Bytes> wire(301);
    for (uint16_t seq = 1; seq <= 300; ++seq) {
      Buf x(rtp_packet(0x7900, seq, 60));
      ASSERT_EQ(seal1(pr.tx, x, false), Status::ok) << seq;
      wire[seq] = x.bytes();
    }
    Session one{Direction::open, 16};
    ASSERT_NO_FATAL_FAILURE(open_first_on_both(pr, one, pol, keys_for(prof, 93), wire[100]));
    BufPairs bp({wire[300], wire[90]});
    pr.rx.open(bp.views);
    EXPECT_EQ(open1(one, bp.one[0]), Status::ok);
    EXPECT_EQ(open1(one, bp.one[1]), Status::too_old);
    EXPECT_EQ(bp.views[0].status, Status::ok);
    EXPECT_EQ(bp.views[1].status, Status::too_old);
    bp.burst[1].v = bp.views[1];
    EXPECT_EQ(to_hex(bp.burst[1].bytes()), to_hex(wire[90]));  // as it arrived
    const auto a = pr.rx.stream_info(0x7900), b = one.stream_info(0x7900);
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_EQ(a->packets, b->packets);
    EXPECT_EQ(a->packets, 2u);
  }
}

// srtp.cc's lean loop (the usual AEAD chunk: one stream in order, no MKI, no
// header-extension encryption, far from limits) against the general loop.
// The same packets go through sessions that take the lean loop and through
// sessions that never do (an age limit that never falls due keeps every
// packet in the general loop), each in bursts and one at a time. The bursts
// mix packets the lean loop takes (in order, CSRCs and extension blocks,
// gaps, the sequence-number wrap) with packets it must leave to the general
// loop at any place in a chunk and across chunks: on seal another SSRC,
// padding, a sequence number repeated or behind, no tailroom, short or not
// version 2; on open forged, replayed, reordered, duplicated and truncated
// packets and a new SSRC. Bytes, statuses, stream state and key counters
// must agree everywhere. (The window edge and jumps of 2^15 inside a burst
// have tests of their own: LatePacketLeftBehindByTheBurst and
// EstimateMovedByAJumpInsideTheBurst.)
TEST(SrtpBurst, LeanAndGeneralLoopsAgree) {
  for (Profile prof : {Profile::aead_aes128_gcm, Profile::aead_aes256_gcm}) {
    SCOPED_TRACE(profile_info(prof).name);
    const Keys k = keys_for(prof, 501);
    const MasterKey mk = k.mk();
    // [0] lean, bursts  [1] lean, one at a time  [2] general, bursts
    // [3] general, one at a time
    std::unique_ptr<Session> tx[4], rx[4];
    for (int i = 0; i < 4; ++i) {
      Policy pol;
      pol.profile = prof;
      pol.replay_window = 1024;
      if (i >= 2) pol.srtp_limits.soft_age_s = uint64_t{1} << 40;
      tx[i] = std::make_unique<Session>(Direction::seal, 8);
      rx[i] = std::make_unique<Session>(Direction::open, 8);
      ASSERT_EQ(tx[i]->set_template(pol, {&mk, 1}), Status::ok);
      ASSERT_EQ(rx[i]->set_template(pol, {&mk, 1}), Status::ok);
    }
    constexpr uint32_t kA = 0xA0A0, kB = 0xB0B0;
    uint64_t rng = 12345;
    auto rand = [&](uint64_t n) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      return (rng >> 33) % n;
    };
    // Runs `in` through the four sessions of `s`; packets listed in `cap` get
    // `cap` bytes of capacity after their start (no tailroom). Checks that
    // all four agree and returns what [0] produced.
    auto run4 = [&](std::unique_ptr<Session>(&s)[4], bool seal, const std::vector<Bytes>& in,
                    const std::map<size_t, uint32_t>& cap) -> std::vector<std::pair<Status, Bytes>> {
      std::vector<std::vector<Buf>> bufs(4);
      std::vector<std::vector<PacketView>> views(4);
      for (int i = 0; i < 4; ++i) {
        for (const Bytes& p : in) bufs[i].emplace_back(p);
        for (const auto& [at, c] : cap) bufs[i][at].v.capacity = Buf::kHead + c;
        for (Buf& b : bufs[i]) views[i].push_back(b.v);
        if (i % 2 == 0) {
          seal ? s[i]->seal(views[i]) : s[i]->open(views[i]);
        } else {
          for (PacketView& v : views[i]) {
            std::span<PacketView> one{&v, 1};
            seal ? s[i]->seal(one) : s[i]->open(one);
          }
        }
        for (size_t j = 0; j < in.size(); ++j) bufs[i][j].v = views[i][j];
      }
      std::vector<std::pair<Status, Bytes>> out;
      for (size_t j = 0; j < in.size(); ++j) {
        out.emplace_back(views[0][j].status, bufs[0][j].bytes());
        for (int i = 1; i < 4; ++i) {
          EXPECT_EQ(views[i][j].status, out[j].first) << "session " << i << " packet " << j;
          EXPECT_EQ(to_hex(bufs[i][j].bytes()), to_hex(out[j].second))
              << "session " << i << " packet " << j;
        }
      }
      for (uint32_t ssrc : {kA, kB}) {
        const auto x = s[0]->stream_info(ssrc);
        for (int i = 1; i < 4; ++i) {
          const auto y = s[i]->stream_info(ssrc);
          EXPECT_EQ(x.has_value(), y.has_value()) << i;
          if (!x || !y) continue;
          EXPECT_EQ(x->highest_index, y->highest_index) << i;
          EXPECT_EQ(x->any, y->any) << i;
          EXPECT_EQ(x->packets, y->packets) << i;
        }
      }
      const KeyCounters* x = s[0]->key_counters(std::nullopt, {}, false);
      for (int i = 1; i < 4; ++i) {
        const KeyCounters* y = s[i]->key_counters(std::nullopt, {}, false);
        EXPECT_EQ(x->sealed, y->sealed) << i;
        EXPECT_EQ(x->bytes_sealed, y->bytes_sealed) << i;
        EXPECT_EQ(x->opened, y->opened) << i;
        EXPECT_EQ(x->bytes_opened, y->bytes_opened) << i;
        EXPECT_EQ(x->auth_failures, y->auth_failures) << i;
        EXPECT_EQ(x->replays, y->replays) << i;
      }
      EXPECT_EQ(s[0]->stream_count(), s[2]->stream_count());
      return out;
    };

    // ---- seal: 60 bursts of 1..80 packets, mostly the next packet of A.
    uint16_t next_a = 65000, next_b = 7;  // A wraps in the run
    std::vector<uint16_t> unused;         // sequence numbers A skipped
    std::vector<Bytes> wire_a, wire_b;    // sealed, in order
    std::vector<Bytes> plain_a, plain_b;
    size_t lean_kinds = 0, odd_kinds = 0;
    for (int burst = 0; burst < 60; ++burst) {
      std::vector<Bytes> in;
      std::map<size_t, uint32_t> cap;
      std::vector<int> kind;
      const size_t n = 1 + rand(80);
      for (size_t j = 0; j < n; ++j) {
        const uint64_t r = rand(100);
        const size_t payload = 1 + rand(300);
        Bytes p;
        int kd = 0;
        if (r < 70 || burst == 0) {
          p = rtp_packet(kA, next_a++, payload);
        } else if (r < 75) {
          p = rtp_packet(kA, next_a++, payload, 2, hex("10aa0000"));  // CSRCs + extension
        } else if (r < 78) {
          next_a = static_cast<uint16_t>(next_a + 3);  // a gap, to be filled later
          for (int g = 3; g > 0; --g) unused.push_back(static_cast<uint16_t>(next_a - g));
          p = rtp_packet(kA, next_a++, payload);
        } else if (r < 81) {
          p = rtp_packet(kA, next_a++, payload + 4);
          p[0] |= 0x20;  // RFC 3550 padding: 4 octets, the last one counts them
          p.back() = 4;
          kd = 1;
        } else if (r < 85) {
          p = rtp_packet(kB, next_b++, payload);
          kd = 2;
        } else if (r < 88 && !unused.empty()) {
          p = rtp_packet(kA, unused.back(), payload);  // behind, never used
          unused.pop_back();
          kd = 3;
        } else if (r < 91) {
          p = rtp_packet(kA, static_cast<uint16_t>(next_a - 1 - rand(5)), payload);  // used
          kd = 4;
        } else if (r < 93) {
          p = rtp_packet(kA, next_a, payload);
          // No room for the tag, or (1 in 3) a view whose packet overruns it.
          cap[in.size()] = static_cast<uint32_t>(r < 92 ? p.size() + rand(16) : p.size() - 1 - rand(8));
          kd = 5;
        } else if (r < 95) {
          p = rtp_packet(kA, next_a, payload);
          p.resize(rand(12));
          kd = 6;
        } else if (r < 97) {
          p = rtp_packet(kA, next_a, payload);
          p[0] = 0x40;
          kd = 7;
        } else {
          p = rtp_packet(kA, static_cast<uint16_t>(next_a + 40000), payload);  // far ahead
          kd = 8;
        }
        (kd == 0 ? lean_kinds : odd_kinds)++;
        kind.push_back(kd);
        in.push_back(p);
      }
      const auto out = run4(tx, true, in, cap);
      for (size_t j = 0; j < in.size(); ++j) {
        if (out[j].first != Status::ok) continue;
        const bool b = load_be32(in[j].data() + 8) == kB;
        (b ? wire_b : wire_a).push_back(out[j].second);
        (b ? plain_b : plain_a).push_back(in[j]);
      }
      if (::testing::Test::HasFailure()) return;
    }
    EXPECT_GT(lean_kinds, 1000u);
    EXPECT_GT(odd_kinds, 300u);
    // Every sequence number sealed is used: sealing any of them again is
    // refused alike (a window bit the lean loop did not set would let one in).
    {
      std::vector<Bytes> again;
      for (const Bytes& p : plain_a) again.push_back(p);
      for (size_t from = 0; from < again.size(); from += 50) {
        const std::vector<Bytes> part(again.begin() + from,
                                      again.begin() + std::min(again.size(), from + 50));
        for (const auto& [st, bytes] : run4(tx, true, part, {})) EXPECT_NE(st, Status::ok);
      }
    }
    ASSERT_GT(tx[0]->stream_info(kA)->roc, 0u);  // the wrap was sealed

    // ---- open: the sealed packets of A in order with B's mixed in, in
    // bursts of 1..80, with trouble.
    size_t ia = 0, ib = 0, ok_total = 0;
    std::vector<size_t> opened_a;  // indices into wire_a opened so far
    while (ia < wire_a.size()) {
      std::vector<Bytes> in;
      std::vector<const Bytes*> plain_of;  // what each packet should open to, if genuine
      std::map<size_t, uint32_t> cap;
      const size_t n = 1 + rand(80);
      for (size_t j = 0; j < n && ia < wire_a.size(); ++j) {
        const uint64_t r = rand(100);
        if (r < 75) {
          in.push_back(wire_a[ia]);
          plain_of.push_back(&plain_a[ia]);
          opened_a.push_back(ia++);
        } else if (r < 80 && ib < wire_b.size()) {
          in.push_back(wire_b[ib]);
          plain_of.push_back(&plain_b[ib++]);
        } else if (r < 84) {
          Bytes f = wire_a[ia];  // forged: a byte outside the sequence number
          size_t at = 4 + rand(f.size() - 4);
          f[at] ^= static_cast<uint8_t>(1 + rand(255));
          in.push_back(f);
          plain_of.push_back(nullptr);
        } else if (r < 87 && !opened_a.empty()) {
          const size_t back = opened_a[opened_a.size() - 1 - rand(std::min<size_t>(opened_a.size(), 20))];
          in.push_back(wire_a[back]);  // a replay
          plain_of.push_back(nullptr);
        } else if (r < 90 && ia + 1 < wire_a.size()) {
          in.push_back(wire_a[ia + 1]);  // two swapped
          in.push_back(wire_a[ia]);
          plain_of.push_back(&plain_a[ia + 1]);
          plain_of.push_back(&plain_a[ia]);
          opened_a.push_back(ia + 1);
          opened_a.push_back(ia);
          ia += 2;
        } else if (r < 93) {
          in.push_back(wire_a[ia]);  // the same packet twice in a row
          in.push_back(wire_a[ia]);
          plain_of.push_back(&plain_a[ia]);
          plain_of.push_back(nullptr);
          opened_a.push_back(ia++);
        } else if (r < 95) {
          in.push_back(Bytes(wire_a[ia].begin(), wire_a[ia].begin() + rand(28)));  // short
          plain_of.push_back(nullptr);
        } else if (r < 96) {
          cap[in.size()] = static_cast<uint32_t>(wire_a[ia].size() - 1 - rand(8));  // overruns its view
          in.push_back(wire_a[ia]);
          plain_of.push_back(nullptr);
        } else if (r < 97) {
          ++ia;  // lost
        } else {
          Bytes f = wire_a[ia];  // a forged copy ahead of the genuine one
          f[f.size() - 1] ^= 0x80;
          in.push_back(f);
          in.push_back(wire_a[ia]);
          plain_of.push_back(nullptr);
          plain_of.push_back(&plain_a[ia]);
          opened_a.push_back(ia++);
        }
      }
      const auto out = run4(rx, false, in, cap);
      for (size_t j = 0; j < in.size(); ++j) {
        if (plain_of[j] != nullptr) {
          EXPECT_EQ(out[j].first, Status::ok) << j;
          EXPECT_EQ(to_hex(out[j].second), to_hex(*plain_of[j])) << j;
          ++ok_total;
        } else {
          EXPECT_NE(out[j].first, Status::ok) << j;
          EXPECT_EQ(to_hex(out[j].second), to_hex(in[j])) << j;  // as it arrived
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
    EXPECT_GT(ok_total, 1000u);
    // Every packet once more, in bursts: alike in all four, and refused
    // (replayed or too old) if it was opened before (a window bit the lean
    // loop did not set would let one in).
    std::vector<bool> was_opened(wire_a.size() + ib, false);
    for (size_t i : opened_a) was_opened[i] = true;
    for (size_t i = 0; i < ib; ++i) was_opened[wire_a.size() + i] = true;
    std::vector<Bytes> again = wire_a;
    again.insert(again.end(), wire_b.begin(), wire_b.begin() + static_cast<ptrdiff_t>(ib));
    for (size_t from = 0; from < again.size(); from += 50) {
      const size_t to = std::min(again.size(), from + 50);
      const auto out = run4(rx, false, std::vector<Bytes>(again.begin() + from, again.begin() + to), {});
      for (size_t j = from; j < to; ++j) {
        if (was_opened[j]) { EXPECT_NE(out[j - from].first, Status::ok) << j; }
      }
    }
    EXPECT_EQ(rx[0]->stream_info(kA)->highest_index, tx[0]->stream_info(kA)->highest_index);
  }
}

TEST(SrtpMki, SenderSwitchesKeysReceiverFollowsByMki) {
  for (Profile prof : {Profile::aes128_cm_sha1_32, Profile::aead_aes128_gcm}) {
    Policy pol;
    pol.profile = prof;
    pol.mki_len = 4;
    const Keys k1 = keys_for(prof, 21, 4, 1), k2 = keys_for(prof, 22, 4, 2);
    Pair pr(pol, {k1});
    Buf a(rtp_packet(3, 1, 30));
    ASSERT_EQ(seal1(pr.tx, a), Status::ok);
    // Rekey: both sides learn the new key; the sender switches.
    ASSERT_EQ(pr.tx.add_master_key(std::nullopt, k2.mk()), Status::ok);
    ASSERT_EQ(pr.rx.add_master_key(std::nullopt, k2.mk()), Status::ok);
    EXPECT_EQ(pr.tx.add_master_key(std::nullopt, k2.mk()), Status::invalid_argument);  // same MKI
    ASSERT_EQ(pr.tx.select_master_key(std::nullopt, k2.mki), Status::ok);
    Buf b(rtp_packet(3, 2, 30));
    ASSERT_EQ(seal1(pr.tx, b), Status::ok);
    const size_t mki_at = profile_info(prof).aead ? b.v.length - 4 : b.v.length - 4 - profile_info(prof).srtp_tag_len;
    EXPECT_EQ(to_hex(b.v.data() + mki_at, 4), "00000002");
    // Old-key packet arrives late: still opens by its MKI.
    ASSERT_EQ(open1(pr.rx, b), Status::ok);
    ASSERT_EQ(open1(pr.rx, a), Status::ok);
    EXPECT_EQ(pr.rx.key_counters(std::nullopt, k1.mki, false)->opened, 1u);
    EXPECT_EQ(pr.rx.key_counters(std::nullopt, k2.mki, false)->opened, 1u);
    // An unknown MKI is unknown_epoch; a removed key too.
    Buf c(rtp_packet(3, 3, 30));
    ASSERT_EQ(seal1(pr.tx, c), Status::ok);
    c.v.data()[mki_at + 3] = 9;
    EXPECT_EQ(open1(pr.rx, c), Status::unknown_epoch);
    ASSERT_EQ(pr.rx.remove_master_key(std::nullopt, k1.mki), Status::ok);
    Buf d(rtp_packet(3, 4, 30));
    ASSERT_EQ(pr.tx.select_master_key(std::nullopt, k1.mki), Status::ok);
    ASSERT_EQ(seal1(pr.tx, d), Status::ok);
    EXPECT_EQ(open1(pr.rx, d), Status::unknown_epoch);
  }
}

struct FakeClock {
  uint64_t t = 1000;
  static uint64_t read(void* c) { return static_cast<FakeClock*>(c)->t; }
};

TEST(SrtpLimits, MasterKeyLifetimeSoftEventThenHardStop) {
  Policy pol;
  pol.srtp_limits.soft_records = 3;
  pol.srtp_limits.hard_records = 5;
  pol.srtcp_limits.hard_records = 2;
  const Keys k = keys_for(pol.profile, 31);
  Session tx(Direction::seal);
  const MasterKey mk = k.mk();
  ASSERT_EQ(tx.set_template(pol, {&mk, 1}), Status::ok);
  for (uint16_t i = 0; i < 5; ++i) {
    Buf b(rtp_packet(1 + i % 2, i, 10));  // two streams share the master key
    ASSERT_EQ(seal1(tx, b), Status::ok) << i;
  }
  Buf b(rtp_packet(1, 100, 10));
  EXPECT_EQ(seal1(tx, b), Status::key_exhausted);
  std::vector<KeyEvent::Kind> kinds;
  KeyEvent e;
  while (tx.poll_event(e)) kinds.push_back(e.kind);
  ASSERT_EQ(kinds.size(), 2u);
  EXPECT_EQ(kinds[0], KeyEvent::soft_limit);
  EXPECT_EQ(kinds[1], KeyEvent::hard_limit);
  // SRTCP has its own count (2^31 by default, 2 here).
  for (int i = 0; i < 2; ++i) {
    Buf r(rtcp_packet(1, 8));
    ASSERT_EQ(seal1(tx, r, true), Status::ok);
  }
  Buf r(rtcp_packet(1, 8));
  EXPECT_EQ(seal1(tx, r, true), Status::key_exhausted);
  // Defaults are RFC 3711 §9.2.
  EXPECT_EQ(Policy{}.srtp_limits.hard_records, uint64_t{1} << 48);
  EXPECT_EQ(Policy{}.srtcp_limits.hard_records, uint64_t{1} << 31);
}

// A forgery that reaches the master key's integrity limit inside a burst:
// the genuine packets after it are refused in the burst as one at a time
// (key_exhausted), and left as they arrived. Limits of 1 to 40 put that
// failure at the head, middle and tail of the first burst of 16, in later
// ones, or nowhere; SRTP (lean AEAD loop, general loop) and SRTCP.
TEST(SrtpLimits, IntegrityLimitReachedInsideABurst) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aead_aes128_gcm}) {
    for (bool rtcp : {false, true}) {
      for (uint64_t limit : {1, 2, 3, 7, 11, 12, 40}) {
        SCOPED_TRACE(std::string(profile_info(prof).name) + (rtcp ? " srtcp" : " srtp") +
                     " limit " + std::to_string(limit));
        Policy pol;
        pol.profile = prof;
        (rtcp ? pol.srtcp_limits : pol.srtp_limits).max_auth_failures = limit;
        const Keys k = keys_for(prof, 91);
        Pair burst(pol, {k}), one(pol, {k});
        auto packet = [&](size_t i) {
          return rtcp ? rtcp_packet(0x99, 32 + 4 * i) : rtp_packet(0x99, static_cast<uint16_t>(i), 30 + i);
        };
        // The stream exists on both receivers before the burst.
        {
          Buf x(packet(0)), y(packet(0));
          ASSERT_EQ(seal1(burst.tx, x, rtcp), Status::ok);
          ASSERT_EQ(seal1(one.tx, y, rtcp), Status::ok);
          ASSERT_EQ(open1(burst.rx, x, rtcp), Status::ok);
          ASSERT_EQ(open1(one.rx, y, rtcp), Status::ok);
        }
        std::vector<Bytes> wire;
        size_t forged = 0, refused_genuine = 0;
        for (size_t i = 1; i <= 50; ++i) {
          Buf x(packet(i)), y(packet(i));
          ASSERT_EQ(seal1(burst.tx, x, rtcp), Status::ok);
          ASSERT_EQ(seal1(one.tx, y, rtcp), Status::ok);
          Bytes w = x.bytes();
          if (i % 3 == 2) {
            w[w.size() / 2 + i % 2] ^= 0x04;
            ++forged;
          } else if (forged >= limit) {
            ++refused_genuine;
          }
          wire.push_back(std::move(w));
        }
        BufPairs p(wire);
        const size_t ok_burst = rtcp ? burst.rx.open_rtcp(p.views) : burst.rx.open(p.views);
        size_t ok_one = 0;
        for (Buf& x : p.one) ok_one += open1(one.rx, x, rtcp) == Status::ok;
        EXPECT_EQ(ok_burst, ok_one);
        EXPECT_EQ(ok_burst, wire.size() - forged - refused_genuine);
        for (size_t i = 0; i < wire.size(); ++i) {
          SCOPED_TRACE("packet " + std::to_string(i));
          p.burst[i].v = p.views[i];
          EXPECT_EQ(p.burst[i].v.status, p.one[i].v.status);
          EXPECT_EQ(to_hex(p.burst[i].bytes()), to_hex(p.one[i].bytes()));
          if (p.one[i].v.status != Status::ok) {
            EXPECT_EQ(to_hex(p.burst[i].bytes()), to_hex(wire[i]));  // as it arrived
          }
        }
        for (Session* rx : {&burst.rx, &one.rx}) {
          bool integrity = false;
          KeyEvent e;
          while (rx->poll_event(e)) integrity |= e.kind == KeyEvent::integrity_limit;
          EXPECT_EQ(integrity, forged >= limit);
        }
      }
    }
  }
}

TEST(SrtpLimits, HardAgeOnInjectedClock) {
  FakeClock fc;
  Policy pol;
  pol.srtp_limits.hard_age_s = 60;
  Session tx(Direction::seal, 4, Clock{&FakeClock::read, &fc});
  const Keys k = keys_for(pol.profile, 32);
  const MasterKey mk = k.mk();
  ASSERT_EQ(tx.set_template(pol, {&mk, 1}), Status::ok);
  Buf a(rtp_packet(1, 1, 10));
  EXPECT_EQ(seal1(tx, a), Status::ok);
  fc.t += 60;
  Buf b(rtp_packet(1, 2, 10));
  EXPECT_EQ(seal1(tx, b), Status::key_expired);
}

TEST(SrtpKdr, NonZeroRateRekeysEveryKdrPackets) {
  Policy pol;
  pol.kdr = 16;
  const Keys k = keys_for(pol.profile, 41);
  Pair pr(pol, {k});
  for (uint16_t seq = 0; seq < 40; ++seq) {
    const Bytes pkt = rtp_packet(0x0A0B0C0D, seq, 16, 0, {}, 0xBEDE, 0);
    Buf b(pkt);
    ASSERT_EQ(seal1(pr.tx, b), Status::ok);
    // Independent check: keys derived at r = index / 16 (RFC 3711 §4.3.1).
    const uint64_t r = seq / 16;
    Bytes sk(16), ss(14);
    derive_session_key(k.key, k.salt, 0, r, sk);
    derive_session_key(k.key, k.salt, 2, r, ss);
    uint8_t iv[16] = {};
    std::memcpy(iv, ss.data(), 14);
    iv[4] ^= 0x0A; iv[5] ^= 0x0B; iv[6] ^= 0x0C; iv[7] ^= 0x0D;
    iv[12] ^= static_cast<uint8_t>(seq >> 8);
    iv[13] ^= static_cast<uint8_t>(seq);
    Bytes expect(pkt.begin() + 12, pkt.end());
    AES_KEY aes;
    AES_set_encrypt_key(sk.data(), 128, &aes);
    uint8_t ec[16];
    unsigned num = 0;
    AES_ctr128_encrypt(expect.data(), expect.data(), expect.size(), &aes, iv, ec, &num);
    ASSERT_EQ(to_hex(b.v.data() + 12, 16), to_hex(expect)) << seq;
    // And the tag uses the r-dependent auth key.
    Bytes ak(20);
    derive_session_key(k.key, k.salt, 1, r, ak);
    uint8_t mac[20];
    detail::HmacSha1Key hk;
    detail::hmac_sha1_init(hk, ak);
    const uint8_t roc[4] = {0, 0, 0, 0};
    detail::hmac_sha1_tag(hk, {b.v.data(), 28}, {roc, 4}, mac);
    ASSERT_EQ(to_hex(b.v.data() + 28, 10), to_hex(mac, 10));
    ASSERT_EQ(open1(pr.rx, b), Status::ok);
    ASSERT_EQ(b.bytes(), pkt);
  }
  Policy bad;
  bad.kdr = 3;  // not a power of two
  Session s(Direction::seal);
  const MasterKey mk = k.mk();
  EXPECT_EQ(s.set_template(bad, {&mk, 1}), Status::invalid_argument);
  bad.kdr = 16;
  bad.profile = Profile::aead_aes128_gcm;
  const Keys g = keys_for(bad.profile, 1);
  const MasterKey gm = g.mk();
  EXPECT_EQ(s.set_template(bad, {&gm, 1}), Status::invalid_argument);
}

TEST(SrtpStreams, BoundedTableChurnAndRemove) {
  Policy pol;
  const Keys k = keys_for(pol.profile, 51);
  const MasterKey mk = k.mk();
  Session tx(Direction::seal, 300), rx(Direction::open, 40);
  ASSERT_EQ(tx.set_template(pol, {&mk, 1}), Status::ok);
  ASSERT_EQ(rx.set_template(pol, {&mk, 1}), Status::ok);
  // 40 streams fit; the 41st is refused (and leaves nothing behind).
  for (uint32_t s = 0; s < 41; ++s) {
    Buf b(rtp_packet(s * 0x01000193u, 1, 10));
    ASSERT_EQ(seal1(tx, b), Status::ok);
    EXPECT_EQ(open1(rx, b), s < 40 ? Status::ok : Status::unknown_epoch) << s;
  }
  EXPECT_EQ(rx.stream_count(), 40u);
  EXPECT_EQ(rx.refused_new_streams(), 1u);
  // Remove every other one; the rest still have their state.
  for (uint32_t s = 0; s < 40; s += 2) EXPECT_EQ(rx.remove_stream(s * 0x01000193u), Status::ok);
  EXPECT_EQ(rx.remove_stream(0), Status::unknown_epoch);
  EXPECT_EQ(rx.stream_count(), 20u);
  for (uint32_t s = 0; s < 40; ++s) {
    auto info = rx.stream_info(s * 0x01000193u);
    ASSERT_EQ(info.has_value(), s % 2 == 1) << s;
    if (info) { EXPECT_EQ(info->highest_index, 1u); }
  }
  // Churn: many add/remove cycles keep lookups right (backward-shift delete).
  for (uint32_t round = 0; round < 200; ++round) {
    const uint32_t ssrc = 0x7000000u + round;
    Buf b(rtp_packet(ssrc, 5, 10));
    ASSERT_EQ(seal1(tx, b), Status::ok);
    ASSERT_EQ(open1(rx, b), Status::ok) << round;
    if (round % 3 != 0) { ASSERT_EQ(rx.remove_stream(ssrc), Status::ok); }
    if (rx.stream_count() == rx.max_streams()) {
      for (uint32_t r = 0; r <= round; r += 3) rx.remove_stream(0x7000000u + r);
    }
  }
  for (uint32_t s = 1; s < 40; s += 2) ASSERT_TRUE(rx.stream_info(s * 0x01000193u)) << s;
  // Explicit stream with its own keys, no template needed.
  Session rx2(Direction::open, 4);
  Buf b(rtp_packet(0x99, 1, 10));
  ASSERT_EQ(seal1(tx, b), Status::ok);
  EXPECT_EQ(open1(rx2, b), Status::unknown_epoch);
  ASSERT_EQ(rx2.add_stream(0x99, pol, {&mk, 1}), Status::ok);
  EXPECT_EQ(rx2.add_stream(0x99, pol, {&mk, 1}), Status::invalid_argument);
  EXPECT_EQ(open1(rx2, b), Status::ok);
}

TEST(SrtpStreams, ForgedNewStreamsDoNotCrowdOutAGenuineOneInABurst) {
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aead_aes128_gcm}) {
    for (bool rtcp : {false, true}) {
      Policy pol;
      pol.profile = prof;
      const Keys k = keys_for(prof, 71);
      const MasterKey mk = k.mk();
      Session tx(Direction::seal, 8), rx(Direction::open, 3);
      ASSERT_EQ(tx.set_template(pol, {&mk, 1}), Status::ok);
      ASSERT_EQ(rx.set_template(pol, {&mk, 1}), Status::ok);
      std::vector<Buf> bufs;
      for (uint32_t ssrc : {1u, 2u, 3u, 4u}) {
        bufs.emplace_back(rtcp ? rtcp_packet(ssrc, 8) : rtp_packet(ssrc, 1, 10));
        ASSERT_EQ(seal1(tx, bufs.back(), rtcp), Status::ok);
      }
      ASSERT_EQ(open1(rx, bufs[0], rtcp), Status::ok);  // 1 of 3 slots used
      // Forged packets for new SSRCs 2 and 3, then the genuine SSRC 4.
      bufs[1].v.data()[bufs[1].v.length - 1] ^= 1;
      bufs[2].v.data()[bufs[2].v.length - 1] ^= 1;
      PacketView v[3] = {bufs[1].v, bufs[2].v, bufs[3].v};
      EXPECT_EQ(rtcp ? rx.open_rtcp(v) : rx.open(v), 1u);
      EXPECT_EQ(v[0].status, Status::auth_failed);
      EXPECT_EQ(v[1].status, Status::auth_failed);
      EXPECT_EQ(v[2].status, Status::ok);
      EXPECT_EQ(rx.stream_count(), 2u);
    }
  }
}

TEST(SrtpStreams, SetRocForLateJoiner) {
  Policy pol;
  const Keys k = keys_for(pol.profile, 61);
  Pair pr(pol, {k});
  ASSERT_EQ(pr.tx.set_roc(5, 7), Status::ok);
  Buf b(rtp_packet(5, 100, 10));
  ASSERT_EQ(seal1(pr.tx, b), Status::ok);
  EXPECT_EQ(open1(pr.rx, b), Status::auth_failed);  // receiver assumes ROC 0
  Buf c(rtp_packet(5, 100, 10));
  Session tx2(Direction::seal);
  const MasterKey mk = k.mk();
  ASSERT_EQ(tx2.set_template(pol, {&mk, 1}), Status::ok);
  ASSERT_EQ(tx2.set_roc(5, 7), Status::ok);
  ASSERT_EQ(seal1(tx2, c), Status::ok);
  ASSERT_EQ(pr.rx.set_roc(5, 7), Status::ok);
  EXPECT_EQ(open1(pr.rx, c), Status::ok);
  EXPECT_EQ(pr.rx.stream_info(5)->highest_index, (uint64_t{7} << 16) | 100);
  EXPECT_EQ(pr.rx.set_roc(5, 8), Status::invalid_argument);  // after the first packet
}

TEST(SrtpMisuse, InstallAndBufferErrors) {
  Session tx(Direction::seal);
  Policy pol;
  Bytes key(16, 1), salt(14, 2), short_salt(12, 2);
  MasterKey good{key, salt, {}}, bad{key, short_salt, {}};
  EXPECT_EQ(tx.set_template(pol, {&bad, 1}), Status::invalid_argument);
  pol.replay_window = 32;  // RFC 3711 §3.3.2: at least 64
  EXPECT_EQ(tx.set_template(pol, {&good, 1}), Status::invalid_argument);
  pol.replay_window = 64;
  ASSERT_EQ(tx.set_template(pol, {&good, 1}), Status::ok);
  // No tailroom for the tag.
  Bytes pkt = rtp_packet(1, 1, 10);
  Bytes mem(pkt.size() + 5);
  std::memcpy(mem.data(), pkt.data(), pkt.size());
  PacketView v{mem.data(), static_cast<uint32_t>(mem.size()), 0, static_cast<uint32_t>(pkt.size())};
  tx.seal({&v, 1});
  EXPECT_EQ(v.status, Status::buffer_too_small);
  // Bad padding count.
  Bytes padded = rtp_packet(1, 2, 10);
  padded[0] |= 0x20;
  padded.back() = 11;
  Buf bp(padded);
  EXPECT_EQ(seal1(tx, bp), Status::malformed);
  padded.back() = 10;
  Buf bq(padded);
  EXPECT_EQ(seal1(tx, bq), Status::ok);
  // Wrong direction.
  Buf w(rtp_packet(1, 3, 10));
  EXPECT_EQ(open1(tx, w), Status::invalid_argument);
}

// ---------------------------------------------------------------------------
// Key management helpers

TEST(SrtpKeys, DtlsSrtpSplit) {
  Bytes x(60);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i);
  DtlsSrtpKeys k;
  ASSERT_EQ(split_dtls_srtp(Profile::aes128_cm_sha1_80, x, k), Status::ok);
  EXPECT_EQ(k.client_key[0], 0);
  EXPECT_EQ(k.server_key[0], 16);
  EXPECT_EQ(k.client_salt[0], 32);
  EXPECT_EQ(k.server_salt[0], 46);
  EXPECT_EQ(k.server_salt.size(), 14u);
  EXPECT_EQ(k.local(true).key.data(), k.client_key.data());
  EXPECT_EQ(k.remote(true).salt.data(), k.server_salt.data());
  EXPECT_EQ(split_dtls_srtp(Profile::aes128_cm_sha1_80, {x.data(), 59}, k), Status::invalid_argument);
  EXPECT_EQ(dtls_srtp_exporter_len(Profile::aead_aes256_gcm), 88u);
  Bytes g(56);
  ASSERT_EQ(split_dtls_srtp(Profile::aead_aes128_gcm, g, k), Status::ok);
  EXPECT_EQ(k.client_salt.size(), 12u);
  EXPECT_EQ(profile_from_dtls_id(0x0007), Profile::aead_aes128_gcm);
  EXPECT_EQ(profile_from_dtls_id(0x0003), std::nullopt);
  EXPECT_EQ(dtls_id(Profile::aes128_cm_sha1_32), 0x0002);
}

TEST(SrtpKeys, SdesParsesRfc4568Examples) {
  SdesCrypto c;
  // RFC 4568 §4 example.
  ASSERT_EQ(parse_sdes_crypto(
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4",
                c),
            Status::ok);
  EXPECT_EQ(c.tag, 1u);
  EXPECT_EQ(c.profile, Profile::aes128_cm_sha1_80);
  ASSERT_EQ(c.keys.size(), 1u);
  EXPECT_EQ(c.keys[0].lifetime, uint64_t{1} << 20);
  EXPECT_EQ(to_hex(c.keys[0].mki), "00000001");
  EXPECT_EQ(to_hex(c.keys[0].key), "3d2d6e40255e7821426a75667239293f");  // python base64
  EXPECT_EQ(to_hex(c.keys[0].salt), "2c2335685c603d265d7b71695051");
  EXPECT_EQ(c.policy().mki_len, 4);
  // The base64 decodes to 30 bytes: 16 key + 14 salt.
  EXPECT_EQ(c.keys[0].key.size() + c.keys[0].salt.size(), 30u);
  // Several keys with MKIs, a decimal lifetime, session parameters.
  ASSERT_EQ(parse_sdes_crypto("crypto:2 AES_CM_128_HMAC_SHA1_32 "
                              "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|1048576|1:4;"
                              "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2:4 KDR=1 "
                              "UNENCRYPTED_SRTCP WSH=256 -FOO",
                              c),
            Status::ok);
  ASSERT_EQ(c.keys.size(), 2u);
  EXPECT_EQ(c.keys[0].lifetime, 1048576u);
  EXPECT_EQ(to_hex(c.keys[1].mki), "00000002");
  EXPECT_EQ(c.kdr, 2u);
  EXPECT_EQ(c.wsh, 256u);
  EXPECT_FALSE(c.policy().srtcp_encrypt);
  // AES-256 and GCM lengths.
  const std::string k46(64, 'A');
  EXPECT_EQ(parse_sdes_crypto("a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:" +
                                  k46.substr(0, 60) + "AAA=",
                              c),
            Status::invalid_argument);  // 46 decoded? 60+4 chars -> 47 bytes
  EXPECT_EQ(parse_sdes_crypto("a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:" + k46.substr(0, 60) + "AA==", c),
            Status::ok);
  EXPECT_EQ(c.keys[0].key.size(), 32u);
  EXPECT_EQ(parse_sdes_crypto("a=crypto:4 AEAD_AES_128_GCM inline:" + std::string(36, 'B') + "BA==", c),
            Status::ok);
  EXPECT_EQ(c.keys[0].salt.size(), 12u);
}

TEST(SrtpKeys, SdesErrors) {
  struct Case {
    std::string line;
    Status st;
    SdesError why;
  } cases[] = {
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB!",
       Status::malformed, SdesError::bad_base64},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB",
       Status::malformed, SdesError::bad_base64},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0m",
       Status::invalid_argument, SdesError::wrong_key_length},
      {"a=crypto:1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
       Status::unsupported, SdesError::unknown_suite},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
       Status::malformed, SdesError::syntax},
      {"a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
       Status::malformed, SdesError::syntax},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^49",
       Status::malformed, SdesError::bad_lifetime},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:0",
       Status::malformed, SdesError::bad_mki},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|256:1",
       Status::malformed, SdesError::bad_mki},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR KDR=25",
       Status::invalid_argument, SdesError::bad_session_param},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP",
       Status::invalid_argument, SdesError::bad_session_param},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:4;"
       "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
       Status::malformed, SdesError::bad_mki},
      {"a=fingerprint:sha-256 00", Status::malformed, SdesError::syntax},
  };
  for (const auto& c : cases) {
    SdesCrypto out;
    SdesError why = SdesError::none;
    EXPECT_EQ(parse_sdes_crypto(c.line, out, &why), c.st) << c.line;
    EXPECT_EQ(why, c.why) << c.line << " -> " << to_string(why);
  }
}

TEST(SrtpKeys, SdesKeysDriveASession) {
  SdesCrypto c;
  ASSERT_EQ(parse_sdes_crypto("a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                              "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4",
                              c),
            Status::ok);
  Session tx(Direction::seal), rx(Direction::open);
  const MasterKey mk = c.keys[0].master();
  ASSERT_EQ(tx.set_template(c.policy(), {&mk, 1}), Status::ok);
  ASSERT_EQ(rx.set_template(c.policy(), {&mk, 1}), Status::ok);
  const Bytes pkt = rtp_packet(1, 1, 20);
  Buf b(pkt);
  ASSERT_EQ(seal1(tx, b), Status::ok);
  ASSERT_EQ(open1(rx, b), Status::ok);
  EXPECT_EQ(b.bytes(), pkt);
}

}  // namespace
}  // namespace rl::srtp
