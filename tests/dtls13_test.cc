// DTLS 1.3 record layer (core/dtls13.h). RFC 9147 has no test vectors and no
// Debian package speaks DTLS 1.3, so besides round trips, mutation and state
// checks, this file holds a second, independent reading of RFC 9147 §4 as test
// code: a tiny reference encoder/decoder built straight from the RFC text on
// BoringSSL's HKDF, EVP_AEAD, AES and ChaCha20 (none of the engine's code),
// which must agree byte for byte with the engine in both directions.
#include <gtest/gtest.h>

#include <openssl/aead.h>
#include <openssl/aes.h>
#include <openssl/chacha.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/dtls13.h"
#include "tests/support/backends.h"
#include "tests/dtls_test_util.h"
#include "tests/support/vectors.h"

namespace rl::dtls13 {
namespace {

using test::Bytes;

// ---- the reference reading of RFC 9147 §4 ----------------------------------------

namespace ref {

const EVP_MD* md(Suite s) { return s == Suite::aes256_gcm ? EVP_sha384() : EVP_sha256(); }
size_t key_len(Suite s) { return s == Suite::aes128_gcm ? 16 : 32; }

// RFC 8446 §7.1 HkdfLabel, with RFC 9147 §5.9's "dtls13" in place of "tls13 ".
Bytes expand_label(Suite s, const Bytes& secret, const std::string& label, size_t len) {
  const std::string full = "dtls13" + label;
  Bytes info = {static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len),
                static_cast<uint8_t>(full.size())};
  info.insert(info.end(), full.begin(), full.end());
  info.push_back(0);  // empty context
  Bytes out(len);
  EXPECT_TRUE(HKDF_expand(out.data(), len, md(s), secret.data(), secret.size(), info.data(),
                          info.size()));
  return out;
}

struct Keys {
  Bytes key, iv, sn;
};
Keys keys(Suite s, const Bytes& secret) {
  return {expand_label(s, secret, "key", key_len(s)), expand_label(s, secret, "iv", 12),
          expand_label(s, secret, "sn", key_len(s))};
}

// §4.2.3: Mask = AES-ECB(sn_key, Ciphertext[0..15]) or
// ChaCha20(sn_key, Ciphertext[0..3] as block counter, Ciphertext[4..15] as nonce).
Bytes mask(Suite s, const Bytes& sn, const uint8_t* ct) {
  Bytes m(16);
  if (s == Suite::chacha20_poly1305) {
    const uint32_t counter = ct[0] | ct[1] << 8 | ct[2] << 16 | uint32_t{ct[3]} << 24;
    const uint8_t zeros[16] = {};
    CRYPTO_chacha_20(m.data(), zeros, 16, sn.data(), ct + 4, counter);
  } else {
    AES_KEY k;
    AES_set_encrypt_key(sn.data(), static_cast<unsigned>(sn.size() * 8), &k);
    AES_encrypt(ct, m.data(), &k);
  }
  return m;
}

const EVP_AEAD* aead(Suite s) {
  return s == Suite::aes128_gcm   ? EVP_aead_aes_128_gcm()
         : s == Suite::aes256_gcm ? EVP_aead_aes_256_gcm()
                                  : EVP_aead_chacha20_poly1305();
}

void nonce(const Bytes& iv, uint64_t seq, uint8_t out[12]) {
  // §4: the 64-bit sequence_number, epoch not included; RFC 8446 §5.3.
  for (int i = 0; i < 12; ++i) out[i] = iv[i];
  for (int i = 0; i < 8; ++i) out[4 + i] ^= static_cast<uint8_t>(seq >> (56 - 8 * i));
}

struct Shape {
  Bytes cid;
  bool seq16 = true, length = true;
};

// Builds DTLSCiphertext for epoch/seq from content, type and padding.
Bytes protect(Suite s, const Bytes& secret, uint64_t epoch, uint64_t seq, const Shape& sh,
              uint8_t type, const Bytes& content, size_t pad) {
  const Keys k = keys(s, secret);
  Bytes inner = content;  // DTLSInnerPlaintext
  inner.push_back(type);
  inner.insert(inner.end(), pad, 0);
  Bytes hdr = {static_cast<uint8_t>(0x20 | (sh.cid.empty() ? 0 : 0x10) | (sh.seq16 ? 0x08 : 0) |
                                    (sh.length ? 0x04 : 0) | (epoch & 3))};
  hdr.insert(hdr.end(), sh.cid.begin(), sh.cid.end());
  const size_t seq_at = hdr.size();
  if (sh.seq16) hdr.push_back(static_cast<uint8_t>(seq >> 8));
  hdr.push_back(static_cast<uint8_t>(seq));
  const size_t ct_len = inner.size() + 16;
  if (sh.length) {
    hdr.push_back(static_cast<uint8_t>(ct_len >> 8));
    hdr.push_back(static_cast<uint8_t>(ct_len));
  }
  // "The entire header value ... (but prior to record number encryption) is
  // used as the additional data value".
  uint8_t n[12];
  nonce(k.iv, seq, n);
  bssl::ScopedEVP_AEAD_CTX ctx;
  EXPECT_TRUE(EVP_AEAD_CTX_init(ctx.get(), aead(s), k.key.data(), k.key.size(), 16, nullptr));
  Bytes ct(ct_len);
  size_t out_len = 0;
  EXPECT_TRUE(EVP_AEAD_CTX_seal(ctx.get(), ct.data(), &out_len, ct.size(), n, 12, inner.data(),
                                inner.size(), hdr.data(), hdr.size()));
  const Bytes m = mask(s, k.sn, ct.data());
  hdr[seq_at] ^= m[0];
  if (sh.seq16) hdr[seq_at + 1] ^= m[1];
  hdr.insert(hdr.end(), ct.begin(), ct.end());
  return hdr;
}

struct Opened {
  uint64_t seq;
  uint8_t type;
  Bytes content;
};

// Opens one record (exactly `rec`) knowing the CID length, with `expected`
// = highest seen + 1; reconstructs the closest sequence number by trying the
// three candidates around it (§4.2.2).
std::optional<Opened> unprotect(Suite s, const Bytes& secret, size_t cid_len, uint64_t expected,
                                const Bytes& rec) {
  const Keys k = keys(s, secret);
  if (rec.empty() || (rec[0] & 0xe0) != 0x20) return std::nullopt;
  const bool seq16 = rec[0] & 0x08, has_len = rec[0] & 0x04;
  const size_t seq_at = 1 + ((rec[0] & 0x10) ? cid_len : 0);
  const size_t hdr_len = seq_at + (seq16 ? 2 : 1) + (has_len ? 2 : 0);
  if (rec.size() < hdr_len + 16) return std::nullopt;
  Bytes hdr(rec.begin(), rec.begin() + hdr_len);
  Bytes ct(rec.begin() + hdr_len, rec.end());
  const Bytes m = mask(s, k.sn, ct.data());
  hdr[seq_at] ^= m[0];
  if (seq16) hdr[seq_at + 1] ^= m[1];
  const uint64_t low = seq16 ? (uint64_t{hdr[seq_at]} << 8 | hdr[seq_at + 1]) : hdr[seq_at];
  const uint64_t span = seq16 ? 65536 : 256;
  uint64_t best = 0, best_dist = UINT64_MAX;
  const uint64_t base = expected & ~(span - 1);
  for (int64_t d : {-1, 0, 1}) {
    if (d < 0 && base < span) continue;
    const uint64_t c = base + d * static_cast<int64_t>(span) + low;
    const uint64_t dist = c > expected ? c - expected : expected - c;
    if (dist < best_dist) best = c, best_dist = dist;
  }
  uint8_t n[12];
  nonce(k.iv, best, n);
  bssl::ScopedEVP_AEAD_CTX ctx;
  EXPECT_TRUE(EVP_AEAD_CTX_init(ctx.get(), aead(s), k.key.data(), k.key.size(), 16, nullptr));
  Bytes out(ct.size());
  size_t out_len = 0;
  if (!EVP_AEAD_CTX_open(ctx.get(), out.data(), &out_len, out.size(), n, 12, ct.data(), ct.size(),
                         hdr.data(), hdr.size()))
    return std::nullopt;
  out.resize(out_len);
  while (!out.empty() && out.back() == 0) out.pop_back();
  if (out.empty()) return std::nullopt;
  const uint8_t type = out.back();
  out.pop_back();
  return Opened{best, type, out};
}

}  // namespace ref

// ---- helpers ---------------------------------------------------------------------

Bytes secret_for(Suite s, uint8_t seed) {
  return test::random_bytes(s == Suite::aes256_gcm ? 48 : 32, seed);
}

// A buffer with room on both sides, as the engine expects.
using Buf = test::RecordBuf<Record, 8 + kMaxCidLen>;

Bytes seal_one(RecordProtection& a, const Bytes& plain, const ref::Shape& sh = {},
               uint8_t type = 23, uint16_t pad = 0) {
  Buf b(plain, type);
  b.rec.padding = pad;
  b.rec.seq16 = sh.seq16;
  b.rec.with_length = sh.length;
  EXPECT_EQ(a.seal({&b.rec, 1}), 1u);
  EXPECT_EQ(b.rec.status(), Status::ok);
  return Bytes(b.rec.pkt.data(), b.rec.pkt.data() + b.rec.pkt.length);
}

// `out` views a copy that dies on return: read only its scalar fields.
Status open_one(RecordProtection& b, Bytes wire, Bytes* plain = nullptr, Record* out = nullptr) {
  Record r = Buf::view(wire);
  b.open({&r, 1});
  if (plain != nullptr && r.status() == Status::ok)
    plain->assign(r.pkt.data(), r.pkt.data() + r.pkt.length);
  if (out != nullptr) *out = r;
  return r.status();
}

void pair(RecordProtection& a, RecordProtection& b, Suite s, const Bytes& cid = {},
          const Limits* limits = nullptr, uint32_t window = 64) {
  KeyOptions o;
  o.limits = limits;
  o.replay_window = window;
  ASSERT_EQ(a.install(Direction::seal, 3, s, secret_for(s, 1), o), Status::ok);
  ASSERT_EQ(b.install(Direction::open, 3, s, secret_for(s, 1), o), Status::ok);
  ASSERT_EQ(a.set_seal_cid(cid), Status::ok);
  ASSERT_EQ(b.set_open_cid(cid), Status::ok);
}

struct OpenState {
  bool any;
  uint64_t highest, opened;
  bool live;
  bool operator==(const OpenState&) const = default;
};
OpenState state_of(const RecordProtection& b, uint64_t epoch) {
  const ReplayWindow* w = b.window(epoch);
  const KeyEpoch* k = b.key(Direction::open, epoch);
  return {w != nullptr && !w->empty(), w != nullptr ? w->highest() : 0,
          k != nullptr ? k->counters().opened : 0, k != nullptr};
}

std::vector<ref::Shape> shapes() {
  std::vector<ref::Shape> v;
  for (bool cid : {false, true})
    for (bool s16 : {false, true})
      for (bool len : {false, true}) v.push_back({cid ? Bytes{0xc1, 0xd2, 0xe3, 0xf4, 5} : Bytes{}, s16, len});
  return v;
}
std::string name(Suite s, const ref::Shape& sh) {
  return std::string(suite_info(s).name) + (sh.cid.empty() ? "" : " cid") +
         (sh.seq16 ? " seq16" : " seq8") + (sh.length ? " L" : " noL");
}

// ---- the engine against the reference reading ---------------------------------------

TEST(Dtls13Reference, EngineSealEqualsReferenceByteForByte) {
  test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites) {
      for (const ref::Shape& sh : shapes()) {
        SCOPED_TRACE(name(s, sh));
        RecordProtection a, b;
        pair(a, b, s, sh.cid);
        for (uint64_t seq = 0; seq < 3; ++seq) {
          const Bytes content = test::random_bytes(10 + 30 * seq, seq);
          const Bytes ours = seal_one(a, content, sh, 22, static_cast<uint16_t>(seq));
          const Bytes want = ref::protect(s, secret_for(s, 1), 3, seq, sh, 22, content, seq);
          ASSERT_EQ(test::to_hex(ours), test::to_hex(want)) << "seq " << seq;
          const auto back = ref::unprotect(s, secret_for(s, 1), sh.cid.size(), seq, ours);
          ASSERT_TRUE(back.has_value());
          EXPECT_EQ(back->seq, seq);
          EXPECT_EQ(back->type, 22);
          EXPECT_EQ(back->content, content);
        }
      }
    }
  });
}

TEST(Dtls13Reference, EngineOpensReferenceRecords) {
  for (Suite s : kAllSuites) {
    for (const ref::Shape& sh : shapes()) {
      SCOPED_TRACE(name(s, sh));
      RecordProtection b;
      ASSERT_EQ(b.install(Direction::open, 7, s, secret_for(s, 9)), Status::ok);
      ASSERT_EQ(b.set_open_cid(sh.cid), Status::ok);
      for (uint64_t seq : {0ull, 1ull, 5ull, 100ull, 101ull}) {
        const Bytes content = test::random_bytes(seq % 50, seq + 1);
        Bytes wire = ref::protect(s, secret_for(s, 9), 7, seq, sh, 23, content, seq % 7);
        Record r = Buf::view(wire);
        b.open({&r, 1});
        ASSERT_EQ(r.status(), Status::ok) << "seq " << seq;
        EXPECT_EQ(r.seq, seq);
        EXPECT_EQ(r.epoch, 7u);
        EXPECT_EQ(r.type, 23);
        EXPECT_EQ(Bytes(r.pkt.data(), r.pkt.data() + r.pkt.length), content);
        EXPECT_EQ(Bytes(r.cid.begin(), r.cid.end()), sh.cid);
      }
    }
  }
}

TEST(Dtls13Reference, KeysFromSecretWithDtls13Prefix) {
  // A record protected with keys derived under the TLS 1.3 prefix must not
  // open: the "dtls13" label prefix is part of the contract (§5.9).
  const Suite s = Suite::aes128_gcm;
  const Bytes secret = secret_for(s, 4);
  RecordProtection b;
  ASSERT_EQ(b.install(Direction::open, 3, s, secret), Status::ok);
  ref::Shape sh;
  const Bytes good = ref::protect(s, secret, 3, 0, sh, 23, {1, 2, 3}, 0);
  // Same record with the key/iv/sn from "tls13 " labels.
  auto tls13 = [&](const std::string& label, size_t len) {
    const std::string full = "tls13 " + label;
    Bytes info = {0, static_cast<uint8_t>(len), static_cast<uint8_t>(full.size())};
    info.insert(info.end(), full.begin(), full.end());
    info.push_back(0);
    Bytes out(len);
    HKDF_expand(out.data(), len, EVP_sha256(), secret.data(), secret.size(), info.data(),
                info.size());
    return out;
  };
  EXPECT_NE(tls13("key", 16), ref::keys(s, secret).key);
  EXPECT_EQ(open_one(b, good), Status::ok);
}

// Bursts of the usual records (16-bit sequence number, length, no padding:
// the seal's lean loop in core/dtls13.cc) broken by every kind that takes
// the general loop (padding, 8-bit sequence number, no length, another type,
// an invalid type, no headroom, empty content), sealed at once, over two
// chunks, and one at a time on a second sealer: the same statuses and bytes,
// and each record as the reference encoder builds it. CIDs put the sequence
// number and length in the first, across, and in the second 8 header bytes;
// 12 bytes make a header too long for the lean loop.
TEST(Dtls13Reference, SealBurstsEqualOneAtATimeAndReference) {
  test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites) {
      for (const Bytes& cid : {Bytes{}, Bytes{1, 2, 3}, Bytes{1, 2, 3, 4, 5}, Bytes{1, 2, 3, 4, 5, 6},
                               Bytes(9, 7), Bytes(12, 8)}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " cid " + std::to_string(cid.size()));
        RecordProtection a, one, b;
        pair(a, b, s, cid);
        ASSERT_EQ(one.install(Direction::seal, 3, s, secret_for(s, 1)), Status::ok);
        ASSERT_EQ(one.set_seal_cid(cid), Status::ok);
        uint64_t seq = 0;
        for (int round = 0; round < 3; ++round) {
          std::vector<Buf> burst, single;
          std::vector<ref::Shape> shape;
          std::vector<Bytes> content;
          for (size_t i = 0; i < 35; ++i) {
            const int odd = i % 9 == 4 ? static_cast<int>((i / 9 + 2 * round) % 7) + 1 : 0;
            ref::Shape sh{cid, odd != 2, odd != 3};
            content.push_back(test::random_bytes(odd == 7 ? 0 : 1 + (53 * i) % 400, i + 40 * round));
            for (auto* v : {&burst, &single}) {
              v->emplace_back(content.back(), odd == 4 ? 22 : odd == 5 ? 20 : 23);
              Record& r = v->back().rec;
              r.seq16 = sh.seq16;
              r.with_length = sh.length;
              r.padding = odd == 1 ? 9 : 0;
              if (odd == 6) r.pkt.offset = 3;  // no room for the header
            }
            shape.push_back(sh);
          }
          std::vector<Record> recs;
          for (Buf& x : burst) recs.push_back(x.rec);
          const size_t ok = a.seal(recs);
          size_t ok_one = 0;
          for (size_t i = 0; i < recs.size(); ++i) {
            SCOPED_TRACE("round " + std::to_string(round) + " record " + std::to_string(i));
            Record& r1 = single[i].rec;
            ok_one += one.seal({&r1, 1});
            ASSERT_EQ(recs[i].status(), r1.status());
            EXPECT_EQ(burst[i].mem, single[i].mem);  // every byte of the buffer
            if (r1.status() != Status::ok) continue;
            EXPECT_EQ(recs[i].pkt.offset, r1.pkt.offset);
            EXPECT_EQ(recs[i].pkt.length, r1.pkt.length);
            EXPECT_EQ(recs[i].seq, seq);
            EXPECT_EQ(recs[i].epoch, 3u);
            const Bytes want = ref::protect(s, secret_for(s, 1), 3, seq, shape[i], r1.type,
                                            content[i], r1.padding);
            EXPECT_EQ(test::to_hex(Bytes(recs[i].pkt.data(), recs[i].pkt.data() + recs[i].pkt.length)),
                      test::to_hex(want));
            ++seq;
          }
          EXPECT_EQ(ok, ok_one);
          EXPECT_EQ(a.next_seq(), one.next_seq());
          EXPECT_EQ(a.next_seq(), seq);
        }
      }
    }
  });
}

// ---- round trips and header shapes -------------------------------------------------

TEST(Dtls13, RoundTripEveryShapeAndSize) {
  for (Suite s : kAllSuites) {
    for (const ref::Shape& sh : shapes()) {
      SCOPED_TRACE(name(s, sh));
      RecordProtection a, b;
      pair(a, b, s, sh.cid);
      for (size_t len : {0, 1, 15, 100, 1350, 16384}) {
        const Bytes plain = test::random_bytes(len, len);
        const Bytes wire = seal_one(a, plain, sh, 23, len == 0 ? 5 : 0);
        EXPECT_EQ(wire[0] & 0xe0, 0x20);
        EXPECT_EQ(wire[0] & 3, 3);
        EXPECT_EQ(wire.size(), seal_headroom(sh.cid.size(), sh.seq16, sh.length) + len + 1 +
                                   (len == 0 ? 5 : 0) + 16);
        Bytes back;
        ASSERT_EQ(open_one(b, wire, &back), Status::ok);
        EXPECT_EQ(back, plain);
      }
    }
  }
}

TEST(Dtls13, SealRefusals) {
  RecordProtection a, b;
  pair(a, b, Suite::aes128_gcm);
  Buf big(Bytes(16385, 1));
  a.seal({&big.rec, 1});
  EXPECT_EQ(big.rec.status(), Status::record_overflow);
  Buf cc(Bytes(3, 1), 20);  // change_cipher_spec does not exist in DTLS 1.3
  a.seal({&cc.rec, 1});
  EXPECT_EQ(cc.rec.status(), Status::invalid_argument);
  Bytes mem(40);
  Record r;
  r.pkt = {mem.data(), 40, 2, 10, Status::ok};
  a.seal({&r, 1});
  EXPECT_EQ(r.status(), Status::buffer_too_small);
  EXPECT_EQ(a.next_seq(), 0u);
  EXPECT_EQ(a.install(Direction::seal, 3, Suite::aes128_gcm, Bytes(48, 1)),
            Status::invalid_argument);  // SHA-256 suite: 32-byte secret
}

// ---- sequence number reconstruction ------------------------------------------------

TEST(Dtls13Seq, ReconstructsAcross8And16BitWraps) {
  for (bool s16 : {false, true}) {
    SCOPED_TRACE(s16 ? "seq16" : "seq8");
    const Suite s = Suite::chacha20_poly1305;
    RecordProtection a, b;
    pair(a, b, s);
    ref::Shape sh;
    sh.seq16 = s16;
    const uint64_t total = s16 ? 140000 : 700;
    const uint64_t step = s16 ? 997 : 61;  // less than half the window apart
    std::vector<Bytes> keep;
    for (uint64_t i = 0; i < total; ++i) {
      Bytes w = seal_one(a, {uint8_t(i)}, sh);
      if (i % step == 0) keep.push_back(std::move(w));
    }
    for (size_t i = 0; i < keep.size(); ++i) {
      Record r;
      ASSERT_EQ(open_one(b, keep[i], nullptr, &r), Status::ok) << i;
      EXPECT_EQ(r.seq, i * step);
    }
    // Out of order but within half the window behind the highest: still ok.
    RecordProtection c;
    KeyOptions big;
    big.replay_window = 4096;
    ASSERT_EQ(c.install(Direction::open, 3, s, secret_for(s, 1), big), Status::ok);
    ASSERT_EQ(open_one(c, keep[3]), Status::ok);
    ASSERT_EQ(open_one(c, keep[2]), Status::ok);
  }
}

TEST(Dtls13Seq, GapBeyondHalfWindowIsNotReconstructed) {
  // 8-bit sequence numbers cannot span a gap of more than 128: the record
  // is reconstructed to the wrong number and fails to authenticate, and
  // nothing changes.
  RecordProtection a, b;
  pair(a, b, Suite::aes128_gcm);
  ref::Shape sh;
  sh.seq16 = false;
  for (int i = 0; i < 300; ++i) seal_one(a, {1}, sh);
  ASSERT_EQ(open_one(b, seal_one(a, {0})), Status::ok);  // seq 300, 16-bit
  for (int i = 301; i < 500; ++i) seal_one(a, {1}, sh);
  const Bytes far = seal_one(a, {2}, sh);  // seq 500: read as 244
  const OpenState before = state_of(b, 3);
  EXPECT_EQ(open_one(b, far), Status::auth_failed);
  EXPECT_EQ(state_of(b, 3), before);
}

// ---- datagrams ----------------------------------------------------------------------

TEST(Dtls13Datagram, SeveralRecordsLastWithoutLength) {
  const Suite s = Suite::aes256_gcm;
  const Bytes cid = {1, 2, 3};
  RecordProtection a, b;
  pair(a, b, s, cid);
  ref::Shape withL{cid, true, true}, noL{cid, false, false};
  const Bytes r0 = seal_one(a, {'a'}, withL), r1 = seal_one(a, {'b'}, withL);
  const Bytes r2 = seal_one(a, {'c', 'c'}, withL), r3 = seal_one(a, {'d'}, noL);
  Bytes bad = r1;
  bad[bad.size() - 3] ^= 1;
  // A DTLSPlaintext handshake record (epoch 0) sharing the datagram.
  const Bytes plain_rec = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 7, 0, 2, 0xab, 0xcd};
  Bytes dgram = r0;
  for (const Bytes* x : std::initializer_list<const Bytes*>{&plain_rec, &bad, &r2, &r3}) dgram.insert(dgram.end(), x->begin(), x->end());
  Record out[8];
  size_t found = 0;
  EXPECT_EQ(b.open_datagram(dgram, out, &found), 3u);
  ASSERT_EQ(found, 5u);
  EXPECT_EQ(out[0].status(), Status::ok);
  EXPECT_EQ(out[0].pkt.data()[0], 'a');
  EXPECT_EQ(out[1].status(), Status::not_protected);
  EXPECT_EQ(out[1].pkt.length, plain_rec.size());
  EXPECT_EQ(out[2].status(), Status::auth_failed);
  EXPECT_EQ(out[3].status(), Status::ok);
  EXPECT_EQ(out[3].pkt.length, 2u);
  EXPECT_EQ(out[4].status(), Status::ok);
  EXPECT_EQ(out[4].pkt.data()[0], 'd');
  EXPECT_EQ(out[4].seq, 3u);
  EXPECT_EQ(Bytes(out[4].cid.begin(), out[4].cid.end()), cid);
  // Garbage after a length-framed record ends the walk as malformed.
  Bytes g = r0;
  g.push_back(0x80);
  g.push_back(1);
  RecordProtection c;
  ASSERT_EQ(c.install(Direction::open, 3, s, secret_for(s, 1)), Status::ok);
  ASSERT_EQ(c.set_open_cid(cid), Status::ok);
  EXPECT_EQ(c.open_datagram(g, out, &found), 1u);
  ASSERT_EQ(found, 2u);
  EXPECT_EQ(out[1].status(), Status::malformed);
}

// ---- epochs and key update --------------------------------------------------------------

TEST(Dtls13Epochs, KeyUpdateOldEpochKeptUntilCallerDropsIt) {
  const Suite s = Suite::aes128_gcm;
  RecordProtection a, b;
  pair(a, b, s);
  const Bytes e3 = seal_one(a, {3});
  ASSERT_EQ(a.update(Direction::seal), Status::ok);
  EXPECT_EQ(a.seal_epoch(), 4u);
  EXPECT_EQ(a.next_seq(), 0u);
  const Bytes e4 = seal_one(a, {4});
  EXPECT_EQ(e4[0] & 3, 0);
  // The reference reading derives epoch 4's secret with "traffic upd".
  const Bytes next = ref::expand_label(s, secret_for(s, 1), "traffic upd", 32);
  EXPECT_EQ(test::to_hex(e4), test::to_hex(ref::protect(s, next, 4, 0, {}, 23, {4}, 0)));

  const OpenState before = state_of(b, 3);
  EXPECT_EQ(open_one(b, e4), Status::unknown_epoch);
  EXPECT_EQ(state_of(b, 3), before);
  ASSERT_EQ(open_one(b, seal_one(a, {5})) , Status::unknown_epoch);
  KeyEvent ev;
  while (b.poll_event(ev)) {}
  ASSERT_EQ(b.update(Direction::open), Status::ok);
  Record r;
  ASSERT_EQ(open_one(b, e4, nullptr, &r), Status::ok);
  EXPECT_EQ(r.epoch, 4u);
  bool updated = false;
  while (b.poll_event(ev)) updated |= ev.kind == KeyEvent::peer_updated && ev.epoch == 4;
  EXPECT_FALSE(updated);  // epoch 3 had seen no record yet: not an update
  EXPECT_EQ(open_one(b, e3, nullptr, &r), Status::ok);  // late record, old epoch
  EXPECT_EQ(r.epoch, 3u);
  EXPECT_EQ(b.open_current_epoch(), 4u);
  ASSERT_EQ(b.expire(Direction::open, 3), Status::ok);
  ASSERT_EQ(a.update(Direction::seal), Status::ok);
  ASSERT_EQ(b.update(Direction::open), Status::ok);
  ASSERT_EQ(open_one(b, seal_one(a, {6})), Status::ok);
  while (b.poll_event(ev)) updated |= ev.kind == KeyEvent::peer_updated && ev.epoch == 5;
  EXPECT_TRUE(updated);
  Bytes again = e3;
  EXPECT_EQ(open_one(b, again), Status::unknown_epoch);
}

// ---- limits -------------------------------------------------------------------------------

TEST(Dtls13Limits, SoftHardAndIntegrity) {
  Limits l;
  l.soft_records = 1;
  l.hard_records = 2;
  l.max_auth_failures = 3;
  RecordProtection a, b;
  pair(a, b, Suite::chacha20_poly1305, {}, &l);
  KeyEvent e;
  while (a.poll_event(e)) {}
  const Bytes r0 = seal_one(a, {0});
  ASSERT_TRUE(a.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::soft_limit);
  seal_one(a, {1});
  Buf third(Bytes{2});
  a.seal({&third.rec, 1});
  EXPECT_EQ(third.rec.status(), Status::key_exhausted);
  // Update gives a fresh budget (the caller's limits carry over).
  ASSERT_EQ(a.update(Direction::seal), Status::ok);
  a.seal({&third.rec, 1});
  EXPECT_EQ(third.rec.status(), Status::ok);
  Bytes bad = r0;
  bad.back() ^= 0x10;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(open_one(b, bad), Status::auth_failed);
  EXPECT_EQ(open_one(b, r0), Status::unknown_epoch);  // the key died at the limit
}

// Sender a, burst receiver b and one-at-a-time receiver c of epoch 3 with
// the integrity limit `max_failures` (no CID).
struct LimitedTrio {
  RecordProtection a, b, c;
  LimitedTrio(Suite s, uint64_t max_failures) {
    Limits l;
    l.max_auth_failures = max_failures;
    pair(a, b, s, {}, &l);
    KeyOptions o;
    o.limits = &l;
    EXPECT_EQ(c.install(Direction::open, 3, s, secret_for(s, 1), o), Status::ok);
  }
};

// A forgery that reaches the integrity limit (§4.5.3) inside a burst kills
// the key there: the genuine records after it are refused in the burst as
// one at a time, and left as they arrived. Limits of 1 to 40 put that
// failure at the head, middle and tail of the first burst, in the second,
// or nowhere.
TEST(Dtls13Limits, IntegrityLimitReachedInsideABurst) {
  for (Suite s : kAllSuites) {
    for (uint64_t limit : {1, 2, 3, 7, 11, 12, 40}) {
      SCOPED_TRACE(std::string(suite_info(s).name) + " limit " + std::to_string(limit));
      LimitedTrio t(s, limit);
      RecordProtection &a = t.a, &b = t.b, &c = t.c;
      test::Wire wire;
      size_t forged = 0;
      for (size_t i = 0; i < 50; ++i) {
        const Bytes plain = test::random_bytes(40 + i, static_cast<uint8_t>(i));
        Bytes w = seal_one(a, plain);
        if (i % 3 == 2) {
          w[i % 2 ? w.size() - 1 : w.size() - 20] ^= 0x04;
          wire.refused(w);
          ++forged;
        } else if (forged >= limit) {
          wire.refused(w);
        } else {
          wire.add(w, 23, plain);
        }
      }
      test::expect_burst_equals_one_by_one<Buf>(b, c, wire, {});
      test::expect_same_events(b, c);
      EXPECT_EQ(b.key(Direction::open, 3) == nullptr, forged >= limit);
    }
  }
}

// A forged copy of a record earlier in the same burst is a replay, as one
// at a time, not a failure that the integrity limit would count.
TEST(Dtls13Limits, ForgedRepeatInABurstIsAReplayNotAFailure) {
  for (Suite s : kAllSuites) {
    SCOPED_TRACE(suite_info(s).name);
    LimitedTrio t(s, 100);  // a limit above the burst: one chunk
    RecordProtection &a = t.a, &b = t.b, &c = t.c;
    test::Wire wire;
    wire.refused(Bytes{0x2f, 0x00});  // too short: the burst takes the general loops
    for (uint8_t i = 0; i < 3; ++i) {
      const Bytes plain = test::random_bytes(60, i);
      wire.add(seal_one(a, plain), 23, plain);
      if (i == 1) {
        Bytes f = wire.records[1];
        f[f.size() - 1] ^= 0x01;
        wire.refused(f);
      }
    }
    test::expect_burst_equals_one_by_one<Buf>(b, c, wire, {3});
    ASSERT_NE(b.key(Direction::open, 3), nullptr);
    EXPECT_EQ(b.key(Direction::open, 3)->counters().auth_failures, 0u);
    EXPECT_EQ(b.key(Direction::open, 3)->counters().replays, 1u);
  }
}

// ---- mutation, truncation, short records ---------------------------------------------------

TEST(Dtls13Mutation, EveryByteFailsAndChangesNothing) {
  for (Suite s : kAllSuites) {
    for (const ref::Shape& sh : shapes()) {
      SCOPED_TRACE(name(s, sh));
      RecordProtection a, b;
      pair(a, b, s, sh.cid);
      ASSERT_EQ(open_one(b, seal_one(a, {0}, sh)), Status::ok);
      const Bytes good = seal_one(a, test::random_bytes(21, 2), sh, 23, 3);
      const OpenState before = state_of(b, 3);
      for (size_t i = 0; i < good.size(); ++i) {
        for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x40}}) {
          Bytes m = good;
          m[i] ^= flip;
          const Bytes arrived = m;
          Record r = Buf::view(m);
          b.open({&r, 1});
          ASSERT_NE(r.status(), Status::ok) << "byte " << i;
          ASSERT_EQ(m, arrived) << "byte " << i;
          ASSERT_EQ(state_of(b, 3), before) << "byte " << i;
        }
      }
      EXPECT_EQ(open_one(b, good), Status::ok);
    }
  }
}

// A lone record after one that opened alone takes open_one's guessed
// sequence number (the next one expected): its AEAD runs before the record
// number mask is known. Every byte of such a record, changed, must fail as
// the unguessed path fails it: bytes as they arrived, no state changed, one
// integrity-limit count per auth failure and none for a wrong guess; the
// genuine record then opens. A fresh receiver for each mutation, so that
// every one meets the guess (a wrong guess turns guessing off until a record
// opens again).
TEST(Dtls13Mutation, GuessedSequenceEveryByte) {
  for (Suite s : kAllSuites) {
    for (const ref::Shape& sh : shapes()) {
      if (!sh.seq16 || !sh.length) continue;  // the one-record lean shape
      SCOPED_TRACE(name(s, sh));
      RecordProtection a, scratch;
      pair(a, scratch, s, sh.cid);
      const Bytes first = seal_one(a, test::random_bytes(17, 1), sh);
      const Bytes plain = test::random_bytes(33, 2);
      const Bytes good = seal_one(a, plain, sh);
      for (size_t i = 0; i < good.size(); ++i) {
        for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x40}, uint8_t{0x80}}) {
          RecordProtection b, unused;
          pair(unused, b, s, sh.cid);
          ASSERT_EQ(open_one(b, first), Status::ok);
          const OpenState before = state_of(b, 3);
          const uint64_t failures = b.key(Direction::open, 3)->counters().auth_failures;
          Bytes m = good;
          m[i] ^= flip;
          const Bytes arrived = m;
          Record r = Buf::view(m);
          ASSERT_EQ(b.open({&r, 1}), 0u) << "byte " << i;
          ASSERT_NE(r.status(), Status::ok) << "byte " << i;
          ASSERT_EQ(m, arrived) << "byte " << i;
          ASSERT_EQ(state_of(b, 3), before) << "byte " << i;
          ASSERT_EQ(b.key(Direction::open, 3)->counters().auth_failures,
                    failures + (r.status() == Status::auth_failed ? 1 : 0))
              << "byte " << i;
          Bytes got;
          Record out;
          ASSERT_EQ(open_one(b, good, &got, &out), Status::ok) << "byte " << i;
          ASSERT_EQ(out.seq, 1u);
          ASSERT_EQ(got, plain);
        }
      }
    }
  }
}

TEST(Dtls13Mutation, TruncationAndShortCiphertext) {
  const Suite s = Suite::aes128_gcm;
  RecordProtection a, b;
  pair(a, b, s);
  ref::Shape noL;
  noL.length = false;
  const Bytes good = seal_one(a, {1, 2, 3}, noL);
  for (size_t n = 0; n < good.size(); ++n) {
    Bytes cut(good.begin(), good.begin() + n);
    Record r = Buf::view(cut);
    b.open({&r, 1});
    EXPECT_NE(r.status(), Status::ok);
  }
  // §4.2.3: fewer than 16 ciphertext bytes is rejected before anything else.
  Bytes tiny = {0x28, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  EXPECT_EQ(open_one(b, tiny), Status::truncated);
  EXPECT_TRUE(b.window(3)->empty());
  // A first byte outside 001xxxxx is not a DTLSCiphertext.
  Bytes not13 = good;
  not13[0] = 0x17;
  EXPECT_EQ(open_one(b, not13), Status::malformed);
}

TEST(Dtls13Replay, DuplicatesAndWindow) {
  RecordProtection a, b;
  pair(a, b, Suite::aes256_gcm, {}, nullptr, 2048);
  std::vector<Bytes> w;
  for (int i = 0; i < 3000; ++i) w.push_back(seal_one(a, {uint8_t(i)}));
  EXPECT_EQ(open_one(b, w[2999]), Status::ok);
  EXPECT_EQ(open_one(b, w[2999]), Status::replayed);
  EXPECT_EQ(open_one(b, w[952]), Status::ok);   // 2999 - 2047: left edge
  EXPECT_EQ(open_one(b, w[951]), Status::too_old);
  Bytes d1 = w[1000], d2 = w[1000];
  Record rs[2] = {Buf::view(d1), Buf::view(d2)};
  EXPECT_EQ(b.open(rs), 1u);
  EXPECT_EQ(rs[1].status(), Status::replayed);
  EXPECT_EQ(d2, w[1000]);  // opened, then refused: put back as it arrived
}

// The records after a lean run (part 2 of the test below): one of each kind
// that takes another way through open, or none.
enum class Odd {
  none, handshake, alert, padded, forged, junk, duplicate, late, seq8, no_length, gap,
  old_epoch, empty, largest, overflow, kCount
};

// Bursts that mix the usual records with every kind that takes another way
// through open: padded, another type, an alert, a forged record, junk, a
// duplicate, a late record below the newest, two epochs. Opened at once and
// one at a time on a second receiver; both are also held to what was sealed.
// Part 2 opens one burst per call, so that each starts where the lean loops
// (core/dtls13.cc) take it: a run of the usual records of the current epoch
// (16-bit sequence number, length), then one odd record at a chosen place,
// then usual records again; with CIDs that put the sequence number in the
// first, across, and in the second 8 header bytes, and one (12 bytes) whose
// header is too long for the lean loops.
TEST(Dtls13, MixedBurstsAgreeWithOneAtATime) {
  test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites) {
      for (const ref::Shape& sh :
           {ref::Shape{{}, true, true}, ref::Shape{{0xc1, 0xd2, 0xe3}, false, true},
            ref::Shape{{1, 2, 3, 4, 5, 6}, true, true},
            ref::Shape{{9, 8, 7, 6, 5, 4, 3, 2, 1}, true, true},
            ref::Shape{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, true, true}}) {
        SCOPED_TRACE(name(s, sh));
        RecordProtection a, b, c;
        pair(a, b, s, sh.cid, nullptr, 256);
        KeyOptions o;
        o.replay_window = 256;
        ASSERT_EQ(c.install(Direction::open, 3, s, secret_for(s, 1), o), Status::ok);
        ASSERT_EQ(c.set_open_cid(sh.cid), Status::ok);
        test::Wire wire;
        auto add = [&](const Bytes& plain, uint8_t type = 23, uint16_t pad = 0) {
          wire.add(seal_one(a, plain, sh, type, pad), type, plain);
        };
        for (int round = 0; round < 3; ++round) {
          if (round == 2) {  // the peer moves to epoch 4; epoch 3 stays for late records
            ASSERT_EQ(a.install(Direction::seal, 4, s, secret_for(s, 2), o), Status::ok);
            ASSERT_EQ(b.install(Direction::open, 4, s, secret_for(s, 2), o), Status::ok);
            ASSERT_EQ(c.install(Direction::open, 4, s, secret_for(s, 2), o), Status::ok);
          }
          for (int i = 0; i < 5; ++i) add(test::random_bytes(1350 + i, 40 + i + round));
          add(test::random_bytes(40, 52), 22);
          add({1, 90}, 21);
          add(test::random_bytes(100, 56), 23, 20);  // padded
          Bytes forged = wire.records[wire.records.size() - 3];
          forged[forged.size() / 2] ^= 0x40;
          wire.refused(forged);
          wire.refused(test::random_bytes(9, 53));
          wire.refused(wire.records[wire.records.size() - 9]);  // a duplicate of an earlier record
          const Bytes early = seal_one(a, test::random_bytes(70, 54), sh);
          add(test::random_bytes(80, 55));
          // late, below the newest: still inside the window
          wire.add(early, 23, test::random_bytes(70, 54));
          add({});
          for (int i = 0; i < 40; ++i) add(test::random_bytes(64 + 97 * i, 60 + i));
        }
        test::expect_burst_equals_one_by_one<Buf>(b, c, wire, {3, 4});

        // Part 2. Both receivers now have epoch 4 current and epoch 3 kept.
        const ref::Shape ln{sh.cid, true, true};  // the shape the lean loops take
        uint8_t seed = 0;
        auto usual = [&](size_t len) {
          const Bytes plain = test::random_bytes(len, ++seed);
          wire.add(seal_one(a, plain, ln), 23, plain);
        };
        // One record sealed after each burst and held back; the late kind
        // sends the one from two bursts ago (below the top, in the window).
        std::vector<std::pair<Bytes, Bytes>> held;  // wire, content
        auto hold = [&] {
          const Bytes plain = test::random_bytes(30, ++seed);
          held.emplace_back(seal_one(a, plain, ln), plain);
        };
        hold();
        hold();
        uint64_t old_seq = b.window(3)->highest() + 1;  // epoch 3: above its top
        for (int k = 0; k < static_cast<int>(Odd::kCount); ++k) {
          for (size_t pos : {0, 1, 7, 30}) {
            const Odd odd = static_cast<Odd>(k);
            SCOPED_TRACE("odd kind " + std::to_string(k) + " at " + std::to_string(pos));
            wire.clear();
            const size_t len = std::min<size_t>(32, pos + 4);
            for (size_t i = 0; i < pos; ++i) usual(20 + (37 * i) % 300);
            switch (odd) {
              case Odd::none: usual(500); break;
              case Odd::handshake: wire.add(seal_one(a, {5, 6, 7}, ln, 22), 22, {5, 6, 7}); break;
              case Odd::alert: wire.add(seal_one(a, {1, 0}, ln, 21), 21, {1, 0}); break;
              case Odd::padded: wire.add(seal_one(a, {3}, ln, 23, 7), 23, {3}); break;
              case Odd::forged: {
                Bytes f = seal_one(a, test::random_bytes(60, ++seed), ln);
                f[f.size() - 20] ^= 1;
                wire.refused(f);
                break;
              }
              case Odd::junk: wire.refused(test::random_bytes(40, ++seed)); break;
              case Odd::duplicate:
                if (pos == 0) {
                  // The last record of the previous burst.
                  wire.refused(seal_one(a, {}, ln));
                  ASSERT_EQ(open_one(b, wire.records.back()), Status::ok);
                  ASSERT_EQ(open_one(c, wire.records.back()), Status::ok);
                } else {
                  wire.refused(wire.records[pos / 2]);
                }
                break;
              case Odd::late:
                wire.add(held[held.size() - 2].first, 23, held[held.size() - 2].second);
                break;
              case Odd::seq8: wire.add(seal_one(a, {8}, {sh.cid, false, true}), 23, {8}); break;
              case Odd::no_length: wire.add(seal_one(a, {9}, {sh.cid, true, false}), 23, {9}); break;
              case Odd::gap:  // 100 records never arrive
                for (int i = 0; i < 100; ++i) seal_one(a, {}, ln);
                usual(77);
                break;
              case Odd::old_epoch:  // a late record of epoch 3, above its top
                wire.add(ref::protect(s, secret_for(s, 1), 3, old_seq++, ln, 23, {4, 4}, 0), 23, {4, 4});
                break;
              case Odd::empty: usual(0); break;
              case Odd::largest: usual(kMaxPlaintext); break;
              case Odd::overflow: {  // content of 2^14 + 1 bytes (RFC 8446 §5.4)
                const uint64_t seq = a.next_seq();
                seal_one(a, {}, ln);  // never arrives: its sequence number is taken
                wire.refused(ref::protect(s, secret_for(s, 2), 4, seq, ln, 23,
                                          Bytes(kMaxPlaintext + 1, 1), 0));
                break;
              }
              default: FAIL();
            }
            while (wire.records.size() < len) usual(100 + wire.records.size());
            test::expect_burst_equals_one_by_one<Buf>(b, c, wire, {3, 4});
            hold();
          }
        }
      }
    }
  });
}

// The lean loops reconstruct a 16-bit sequence number as expected + d with
// d = (low - expected) mod 2^16 for d <= 2^15 only; RFC 9147 §4.2.2 (closest
// to expected) gives the same there, and for d = 2^15 + 1 the number below
// expected (refused here: far below the window). Records built by the
// reference encoder. A burst reconstructs every record from the expected
// value at its start, one at a time moves it on; the distances are chosen
// so that both read the same number: the record alone, or after three
// records when 3 more (0x8004 - 3 = 0x8001) is still past the half.
TEST(Dtls13Seq, LeanReconstructionAtHalfTheSpace) {
  test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites) {
      for (const Bytes& cid : {Bytes{}, Bytes{1, 2, 3, 4, 5, 6}, Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " cid " + std::to_string(cid.size()));
        RecordProtection a, b, c;
        pair(a, b, s, cid, nullptr, 256);
        ASSERT_EQ(c.install(Direction::open, 3, s, secret_for(s, 1), {nullptr, 256}), Status::ok);
        ASSERT_EQ(c.set_open_cid(cid), Status::ok);
        const ref::Shape ln{cid, true, true};
        test::Wire wire;
        auto rec = [&](uint64_t seq, bool ok) {
          const Bytes plain = test::random_bytes(50, static_cast<uint8_t>(seq));
          const Bytes record = ref::protect(s, secret_for(s, 1), 3, seq, ln, 23, plain, 0);
          if (ok) wire.add(record, 23, plain);
          else wire.refused(record);
        };
        auto burst = [&] {
          test::expect_burst_equals_one_by_one<Buf>(b, c, wire, {3});
          wire.clear();
        };
        for (uint64_t q = 0; q < 3; ++q) rec(q, true);
        burst();  // top 2: expected 3
        uint64_t e = 3;
        for (uint64_t d : {uint64_t{0x7fff}, uint64_t{0x8000}, uint64_t{0x8001}, uint64_t{0xffff},
                           uint64_t{0}, uint64_t{1}}) {
          SCOPED_TRACE("alone, d " + std::to_string(d));
          const bool ok = d <= 0x8000;
          rec(e + d, ok);
          burst();
          const uint64_t top = ok ? e + d : e - 1;
          for (uint64_t i = 1; i <= 3; ++i) rec(top + i, true);
          burst();
          e = top + 4;
        }
        for (uint64_t d : {uint64_t{0x7fff}, uint64_t{0x8000}, uint64_t{0x8004}}) {
          SCOPED_TRACE("after three, d " + std::to_string(d));
          const bool ok = d <= 0x8000;
          for (uint64_t i = 0; i < 3; ++i) rec(e + i, true);
          rec(e + d, ok);
          burst();
          e = (ok ? e + d : e + 2) + 1;
        }
      }
    }
  });
}

// A duplicate that is not next to its twin, after a record with a higher
// sequence number: the commit phase must still catch it.
TEST(Dtls13Replay, DuplicateAfterHigherRecordInOneBurst) {
  for (Suite s : kAllSuites) {
    RecordProtection a, b;
    pair(a, b, s);
    Bytes w0 = seal_one(a, {1}), w1 = seal_one(a, {2}), w2 = w0;
    const Bytes sent0 = w0;
    Record rs[3] = {Buf::view(w0), Buf::view(w1), Buf::view(w2)};
    EXPECT_EQ(b.open(rs), 2u);
    EXPECT_EQ(rs[0].status(), Status::ok);
    EXPECT_EQ(rs[1].status(), Status::ok);
    EXPECT_EQ(rs[2].status(), Status::replayed);
    EXPECT_EQ(w2, sent0);  // opened, then refused: put back as it arrived
  }
}

// A record with an 8-bit sequence number 140 behind one that came first in
// the same burst. One at a time its number is reconstructed from the
// highest so far (§4.2.2): 10 after 150 reads as 266 and fails. The burst
// does the same (the chunk ends before it, and a second call opens it after
// 150 is committed); with 150 forged in front, 10 opens both ways. A window
// of 256 keeps 10 inside it.
TEST(Dtls13Replay, SequenceNumberReconstructedAfterTheRecordsBeforeIt) {
  for (bool forged : {false, true}) {
    SCOPED_TRACE(forged ? "the record in front forged" : "the record in front genuine");
    RecordProtection a, one, burst;
    pair(a, one, Suite::aes128_gcm, {}, nullptr, 256);
    KeyOptions o;
    o.replay_window = 256;
    ASSERT_EQ(burst.install(Direction::open, 3, Suite::aes128_gcm, secret_for(Suite::aes128_gcm, 1), o),
              Status::ok);
    ref::Shape sh;
    sh.seq16 = false;
    std::vector<Bytes> wire;
    for (int i = 0; i <= 160; ++i) wire.push_back(seal_one(a, {static_cast<uint8_t>(i)}, sh));
    for (int i = 0; i < 10; ++i) {
      ASSERT_EQ(open_one(one, wire[i]), Status::ok);
      ASSERT_EQ(open_one(burst, wire[i]), Status::ok);
    }
    Bytes front = wire[150];
    if (forged) front[front.size() - 1] ^= 1;
    std::vector<Bytes> in = {front, wire[10], wire[11], wire[151]}, copy = in;
    std::vector<Record> rs;
    for (Bytes& w : in) rs.push_back(Buf::view(w));
    burst.open(rs);
    for (size_t i = 0; i < copy.size(); ++i) {
      SCOPED_TRACE(i);
      Record r;
      EXPECT_EQ(open_one(one, copy[i], nullptr, &r), rs[i].status());
      if (r.status() == Status::ok) {
        EXPECT_EQ(rs[i].seq, r.seq);
      }
    }
    EXPECT_EQ(rs[0].status(), forged ? Status::auth_failed : Status::ok);
    EXPECT_EQ(rs[1].status(), forged ? Status::ok : Status::auth_failed);
    EXPECT_EQ(burst.window(3)->highest(), one.window(3)->highest());
  }
}

}  // namespace
}  // namespace rl::dtls13

namespace rl::dtls13 {
namespace {

// Records that start down the lean loops (core/dtls13.cc) and are refused
// later (forged, replayed, another type) report what the general loop
// reports: not newest, no CID, whatever the view held before.
TEST(Dtls13Cid, RefusedRecordsOfALeanBurstAreNotNewest) {
  for (Suite s : kAllSuites) {
    const Bytes cid = {7, 8, 9};
    RecordProtection a, b;
    pair(a, b, s, cid);
    ASSERT_EQ(open_one(b, seal_one(a, {0}, {cid})), Status::ok);  // the current epoch is known
    Bytes w0 = seal_one(a, {1}, {cid}), w1 = seal_one(a, {2}, {cid}), w2 = w0,
          w3 = seal_one(a, {3}, {cid}, 22);
    w1[w1.size() - 1] ^= 1;  // forged tag
    Record rs[4] = {Buf::view(w0), Buf::view(w1), Buf::view(w2), Buf::view(w3)};
    const uint8_t junk[1] = {0};
    for (Record& r : rs) {
      r.newest = true;
      r.cid = junk;
    }
    EXPECT_EQ(b.open(rs), 2u);
    EXPECT_EQ(rs[0].status(), Status::ok);
    EXPECT_TRUE(rs[0].newest);
    EXPECT_EQ(Bytes(rs[0].cid.begin(), rs[0].cid.end()), cid);
    for (int i : {1, 2}) {
      SCOPED_TRACE(i);
      EXPECT_NE(rs[i].status(), Status::ok);
      EXPECT_FALSE(rs[i].newest);
      EXPECT_TRUE(rs[i].cid.empty());
    }
    EXPECT_EQ(rs[3].status(), Status::ok);
    EXPECT_EQ(rs[3].type, 22);
    EXPECT_TRUE(rs[3].newest);
  }
}

TEST(Dtls13Cid, NewestFlagAcrossEpochs) {
  const Suite s = Suite::chacha20_poly1305;
  const Bytes cid = {0xde, 0xad};
  RecordProtection a, b;
  pair(a, b, s, cid);
  const Bytes r0 = seal_one(a, {0}, {cid}), r1 = seal_one(a, {1}, {cid});
  Bytes w1 = r1;  // the CID view points into this buffer
  Record r = Buf::view(w1);
  b.open({&r, 1});
  ASSERT_EQ(r.status(), Status::ok);
  EXPECT_TRUE(r.newest);
  EXPECT_EQ(Bytes(r.cid.begin(), r.cid.end()), cid);
  ASSERT_EQ(open_one(b, r0, nullptr, &r), Status::ok);
  EXPECT_FALSE(r.newest);
  ASSERT_EQ(a.update(Direction::seal), Status::ok);
  ASSERT_EQ(b.update(Direction::open), Status::ok);
  const Bytes e4 = seal_one(a, {2}, {cid});
  ASSERT_EQ(open_one(b, e4, nullptr, &r), Status::ok);
  EXPECT_TRUE(r.newest);
}


// A record opened alone (open's one-record path) gives what the same record
// gives at the head of a burst (open_chunk): status, type, sequence number,
// newest, CID, bytes (a refused record's as they arrived), counters and
// events; for the usual record, a forged one, a padded handshake record,
// one that arrives late (below the window's top), after the soft age limit
// and after the hard one. Each burst is the record and a copy of it (the
// copy is refused as a replay or a failure; only the first is compared).
TEST(Dtls13, OneRecordAloneEqualsTheHeadOfABurst) {
  struct Fake {
    uint64_t t = 100;
    static uint64_t read(void* c) { return static_cast<Fake*>(c)->t; }
  } fake;
  for (Suite s : kAllSuites) {
    for (const Bytes& cid : {Bytes{}, Bytes{7, 8, 9}}) {
      SCOPED_TRACE(std::string(suite_info(s).name) + " cid " + std::to_string(cid.size()));
      fake.t = 100;
      Limits l;
      l.soft_age_s = 5;
      l.hard_age_s = 10;
      KeyOptions o;
      o.limits = &l;
      const Clock clock{&Fake::read, &fake};
      RecordProtection a(clock), one(clock), burst(clock);
      ASSERT_EQ(a.install(Direction::seal, 3, s, secret_for(s, 1), o), Status::ok);
      ASSERT_EQ(one.install(Direction::open, 3, s, secret_for(s, 1), o), Status::ok);
      ASSERT_EQ(burst.install(Direction::open, 3, s, secret_for(s, 1), o), Status::ok);
      ASSERT_EQ(a.set_seal_cid(cid), Status::ok);
      ASSERT_EQ(one.set_open_cid(cid), Status::ok);
      ASSERT_EQ(burst.set_open_cid(cid), Status::ok);
      const uint8_t junk[1] = {0};
      auto both = [&](const Bytes& w, Status want) {
        Bytes x = w, y = w, y2 = w;
        Record r = Buf::view(x);
        Record rs[2] = {Buf::view(y), Buf::view(y2)};
        for (Record* q : {&r, &rs[0]}) {
          q->newest = true;
          q->cid = junk;
        }
        EXPECT_EQ(one.open({&r, 1}), want == Status::ok ? 1u : 0u);
        burst.open(rs);
        const Record& q = rs[0];
        EXPECT_EQ(r.status(), want);
        EXPECT_EQ(q.status(), r.status());
        EXPECT_EQ(q.newest, r.newest);
        EXPECT_EQ(q.cid.size(), r.cid.size());
        if (r.status() == Status::ok) {
          EXPECT_EQ(r.cid.size(), cid.size());
          EXPECT_EQ(q.type, r.type);
          EXPECT_EQ(q.epoch, r.epoch);
          EXPECT_EQ(q.seq, r.seq);
          EXPECT_EQ(Bytes(q.pkt.data(), q.pkt.data() + q.pkt.length),
                    Bytes(r.pkt.data(), r.pkt.data() + r.pkt.length));
        } else {
          EXPECT_FALSE(r.newest);
          EXPECT_TRUE(r.cid.empty());
          EXPECT_EQ(x, w);
          EXPECT_EQ(y, w);
        }
        const KeyEpoch* ko = one.key(Direction::open, 3);
        const KeyEpoch* kb = burst.key(Direction::open, 3);
        ASSERT_TRUE(ko != nullptr && kb != nullptr);
        EXPECT_EQ(ko->counters().opened, kb->counters().opened);
        EXPECT_EQ(ko->counters().bytes_opened, kb->counters().bytes_opened);
        EXPECT_EQ(one.window(3)->highest(), burst.window(3)->highest());
        KeyEvent eo, eb;
        while (one.poll_event(eo)) {
          ASSERT_TRUE(burst.poll_event(eb));
          EXPECT_EQ(eo.kind, eb.kind);
        }
        EXPECT_FALSE(burst.poll_event(eb));
      };
      both(seal_one(a, {0, 1, 2}, {cid}), Status::ok);
      Bytes forged = seal_one(a, test::random_bytes(40, 3), {cid});
      forged[forged.size() - 2] ^= 4;
      both(forged, Status::auth_failed);
      both(seal_one(a, test::random_bytes(30, 4), {cid}, 22, 3), Status::ok);  // padded handshake
      const Bytes late = seal_one(a, {5}, {cid});
      both(seal_one(a, {6}, {cid}), Status::ok);
      both(late, Status::ok);  // below the window's top: not the lean reconstruction
      fake.t += 6;  // past the soft age
      both(seal_one(a, {7}, {cid}), Status::ok);
      fake.t += 5;  // past the hard age
      Bytes expired_w;
      {
        // Sealed by a sender without the age limit (ours refuses by now).
        RecordProtection a2;
        ASSERT_EQ(a2.install(Direction::seal, 3, s, secret_for(s, 1)), Status::ok);
        ASSERT_EQ(a2.set_seal_cid(cid), Status::ok);
        for (int i = 0; i < 9; ++i) seal_one(a2, {0});
        expired_w = seal_one(a2, {8}, {cid});
      }
      both(expired_w, Status::key_expired);
    }
  }
}


// Sealing one record at a time (seal's one-record path) gives exactly what
// bursts give (seal_chunk's lean and general loops): bytes of every buffer,
// statuses, epochs, sequence numbers, the next sequence number, counters
// and events; with and without a CID (also one too long for the lean
// header), near the record and byte limits and with an age limit.
TEST(Dtls13, SealOneAtATimeEqualsBursts) {
  struct Fake {
    uint64_t t = 100;
    static uint64_t read(void* c) { return static_cast<Fake*>(c)->t; }
  } fake;
  struct In {
    Bytes plain;
    uint8_t type = 23;
    uint16_t pad = 0;
    bool seq16 = true, with_length = true;
    uint32_t head = 8 + kMaxCidLen;
    int tail = -1;  // -1: RecordBuf's
  };
  std::vector<In> mix;
  for (int i = 0; i < 5; ++i) mix.push_back({test::random_bytes(1350 + i, 90 + i)});
  mix.push_back({test::random_bytes(20, 100), 22});
  mix.push_back({test::random_bytes(20, 101), 23, 7});
  mix.push_back({test::random_bytes(20, 102), 23, 0, false});
  mix.push_back({test::random_bytes(20, 103), 23, 0, true, false});
  mix.push_back({test::random_bytes(20, 104), 24});  // not a type that can be sealed
  mix.push_back({test::random_bytes(20, 105), 23, 0, true, true, 2});
  mix.push_back({test::random_bytes(20, 106), 23, 0, true, true, 8 + kMaxCidLen, 16});
  mix.push_back({test::random_bytes(kMaxPlaintext + 1, 107)});
  mix.push_back({{}, 23});
  for (int i = 0; i < 4; ++i) mix.push_back({test::random_bytes(64 + 301 * i, 110 + i)});
  auto run = [&](const char* what, Suite s, const Bytes& cid, const Limits* l, bool ages,
                 size_t burst_len) {
    SCOPED_TRACE(std::string(suite_info(s).name) + " " + what + " cid " +
                 std::to_string(cid.size()));
    fake.t = 100;
    const Clock clock = ages ? Clock{&Fake::read, &fake} : Clock{};
    RecordProtection a(clock), b(clock);
    KeyOptions o;
    o.limits = l;
    ASSERT_EQ(a.install(Direction::seal, 3, s, secret_for(s, 1), o), Status::ok);
    ASSERT_EQ(b.install(Direction::seal, 3, s, secret_for(s, 1), o), Status::ok);
    ASSERT_EQ(a.set_seal_cid(cid), Status::ok);
    ASSERT_EQ(b.set_seal_cid(cid), Status::ok);
    if (ages) fake.t += 7;  // past the soft age
    std::vector<Buf> ba, bb;
    for (const In& in : mix) {
      for (auto* v : {&ba, &bb}) {
        v->emplace_back(in.plain, in.type);
        Record& r = v->back().rec;
        r.padding = in.pad;
        r.seq16 = in.seq16;
        r.with_length = in.with_length;
        r.pkt.offset = in.head;
        if (in.tail >= 0) r.pkt.capacity = r.pkt.offset + r.pkt.length + in.tail;
      }
    }
    std::vector<Record> recs;
    for (Buf& x : ba) recs.push_back(x.rec);
    size_t ok_burst = 0, ok_one = 0;
    for (size_t i = 0; i < recs.size(); i += burst_len)
      ok_burst += a.seal(std::span<Record>(recs).subspan(i, std::min(burst_len, recs.size() - i)));
    for (size_t i = 0; i < mix.size(); ++i) {
      SCOPED_TRACE("record " + std::to_string(i));
      Record r = bb[i].rec;
      ok_one += b.seal({&r, 1});
      EXPECT_EQ(recs[i].status(), r.status());
      EXPECT_EQ(recs[i].pkt.offset, r.pkt.offset);
      EXPECT_EQ(recs[i].pkt.length, r.pkt.length);
      if (r.status() == Status::ok) {
        EXPECT_EQ(recs[i].epoch, r.epoch);
        EXPECT_EQ(recs[i].seq, r.seq);
      }
      EXPECT_EQ(ba[i].mem, bb[i].mem);
    }
    EXPECT_EQ(ok_burst, ok_one);
    EXPECT_EQ(a.next_seq(), b.next_seq());
    const KeyCounters& ca = a.key(Direction::seal, 3)->counters();
    const KeyCounters& cb = b.key(Direction::seal, 3)->counters();
    EXPECT_EQ(ca.sealed, cb.sealed);
    EXPECT_EQ(ca.bytes_sealed, cb.bytes_sealed);
    KeyEvent ea, eb;
    while (a.poll_event(ea)) {
      ASSERT_TRUE(b.poll_event(eb));
      EXPECT_EQ(ea.kind, eb.kind);
      EXPECT_EQ(ea.records, eb.records);
      EXPECT_EQ(ea.bytes, eb.bytes);
    }
    EXPECT_FALSE(b.poll_event(eb));
  };
  for (Suite s : kAllSuites) {
    for (const Bytes& cid : {Bytes{}, Bytes{1, 2, 3}, test::random_bytes(12, 120)}) {
      run("bursts of 5", s, cid, nullptr, false, 5);
      run("one burst", s, cid, nullptr, false, 32);
      Limits l;
      l.soft_records = 4;
      l.hard_records = 9;
      run("record limits", s, cid, &l, false, 3);
      Limits bytes;
      bytes.soft_bytes = 3000;
      bytes.hard_bytes = 6000;
      run("byte limits", s, cid, &bytes, false, 4);
      Limits ages;
      ages.soft_age_s = 5;
      ages.hard_age_s = 100;
      run("age limit", s, cid, &ages, true, 5);
    }
  }
}

}  // namespace
}  // namespace rl::dtls13
