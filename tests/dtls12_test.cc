// DTLS 1.2 record layer (core/dtls.h): captured OpenSSL records opened and
// re-sealed byte-exact, RFC 9146 CID records checked against an AAD built
// here from the RFC text with BoringSSL directly, replay-window edges,
// sequence exhaustion, limits, every-byte mutation and truncation.
#include <gtest/gtest.h>

#include <openssl/aead.h>
#include <openssl/hmac.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/dtls.h"
#include "tests/support/backends.h"
#include "tests/dtls_test_util.h"
#include "tests/support/vectors.h"

namespace rl::dtls {
namespace {

using test::Bytes;
using test::hex;

// ---- helpers -----------------------------------------------------------------

// TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label ‖ seed) with HMAC, written
// here so the captures' key blocks are derived independently of the engine.
Bytes tls12_prf(const EVP_MD* md, const Bytes& secret, const std::string& label,
                const Bytes& seed, size_t n) {
  Bytes ls(label.begin(), label.end());
  ls.insert(ls.end(), seed.begin(), seed.end());
  Bytes out, a = ls;
  while (out.size() < n) {
    unsigned len = 0;
    uint8_t buf[EVP_MAX_MD_SIZE];
    HMAC(md, secret.data(), secret.size(), a.data(), a.size(), buf, &len);
    a.assign(buf, buf + len);
    Bytes in = a;
    in.insert(in.end(), ls.begin(), ls.end());
    HMAC(md, secret.data(), secret.size(), in.data(), in.size(), buf, &len);
    out.insert(out.end(), buf, buf + len);
  }
  out.resize(n);
  return out;
}

// A buffer with room on both sides, as the engine expects.
using Buf = test::RecordBuf<Record, 64 + kMaxCidLen>;

Bytes key_for(Suite s, uint8_t seed) { return test::random_bytes(suite_info(s).key_len, seed); }
Bytes iv_for(Suite s, uint8_t seed) {
  return test::random_bytes(s == Suite::chacha20_poly1305 ? 12 : 4, seed + 100);
}

// Installs matching seal (a) and open (b) keys for epoch 1.
void pair(RecordProtection& a, RecordProtection& b, Suite s, uint32_t window = 64,
          const Limits* limits = nullptr) {
  KeyOptions o;
  o.replay_window = window;
  o.limits = limits;
  ASSERT_EQ(a.install(Direction::seal, 1, s, key_for(s, 1), iv_for(s, 1), o), Status::ok);
  ASSERT_EQ(b.install(Direction::open, 1, s, key_for(s, 1), iv_for(s, 1), o), Status::ok);
}

Bytes seal_one(RecordProtection& a, const Bytes& plain, uint8_t type = 23, uint16_t pad = 0) {
  Buf b(plain, type);
  b.rec.padding = pad;
  EXPECT_EQ(a.seal({&b.rec, 1}), 1u);
  EXPECT_EQ(b.rec.status(), Status::ok);
  return b.bytes();
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

// The receive-side state a failed open must leave alone.
struct OpenState {
  bool any;
  uint64_t highest;
  bool live;
  uint64_t opened;
  bool operator==(const OpenState&) const = default;
};
OpenState state_of(const RecordProtection& b, uint16_t epoch) {
  const ReplayWindow* w = b.window(epoch);
  const KeyEpoch* k = b.key(Direction::open, epoch);
  return {w != nullptr && !w->empty(), w != nullptr ? w->highest() : 0, k != nullptr,
          k != nullptr ? k->counters().opened : 0};
}

// ---- captured OpenSSL records --------------------------------------------------

TEST(Dtls12Captures, KeyBlockOpenAndResealByteExact) {
  auto v = test::load_vectors("tls12_dtls12_aead_captures.json");
  RL_SKIP_IF_MISSING(v, "tls12_dtls12_aead_captures.json");
  size_t checked = 0;
  for (const auto& ex : (*v)["examples"]) {
    if (ex["protocol"] != "DTLS 1.2") continue;
    const std::string suite_name = ex["cipher_suite"];
    SCOPED_TRACE(suite_name);
    const bool chacha = suite_name.find("CHACHA20") != std::string::npos;
    const bool aes256 = suite_name.find("AES_256_GCM") != std::string::npos;
    const Suite s = chacha ? Suite::chacha20_poly1305
                           : (aes256 ? Suite::aes256_gcm : Suite::aes128_gcm);
    const EVP_MD* md = suite_name.find("SHA384") != std::string::npos ? EVP_sha384() : EVP_sha256();
    // RFC 5246 §6.3: key_block = PRF(master, "key expansion", server_random ‖
    // client_random); AEAD suites have no MAC keys, so it is
    // client_write_key ‖ server_write_key ‖ client_write_IV ‖ server_write_IV.
    Bytes seed = hex(ex["server_random"].get<std::string>());
    const Bytes cr = hex(ex["client_random"].get<std::string>());
    seed.insert(seed.end(), cr.begin(), cr.end());
    const size_t kl = suite_info(s).key_len, ivl = chacha ? 12 : 4;
    const Bytes kb = tls12_prf(md, hex(ex["master_secret"].get<std::string>()), "key expansion",
                               seed, 2 * kl + 2 * ivl);
    const Bytes ckey(kb.begin(), kb.begin() + kl), skey(kb.begin() + kl, kb.begin() + 2 * kl);
    const Bytes civ(kb.begin() + 2 * kl, kb.begin() + 2 * kl + ivl),
        siv(kb.begin() + 2 * kl + ivl, kb.end());
    const auto& kbd = ex["key_block_derived"];
    ASSERT_EQ(test::to_hex(ckey), kbd["client_write_key"]);
    ASSERT_EQ(test::to_hex(skey), kbd["server_write_key"]);
    ASSERT_EQ(test::to_hex(civ), kbd["client_write_iv"]);
    ASSERT_EQ(test::to_hex(siv), kbd["server_write_iv"]);

    for (const auto& rv : ex["protected_records"]) {
      SCOPED_TRACE(rv["capture_label"].get<std::string>());
      const bool c2s = rv["direction"] == "client_to_server";
      const Bytes& key = c2s ? ckey : skey;
      const Bytes& iv = c2s ? civ : siv;
      Bytes wire = hex(rv["record"].get<std::string>());
      const uint64_t rn = load_be64(hex(rv["epoch_and_sequence_number"].get<std::string>()).data());
      const uint16_t epoch = static_cast<uint16_t>(rn >> 48);
      const uint64_t seq = rn & kMaxSeq;

      RecordProtection rx;
      ASSERT_EQ(rx.install(Direction::open, epoch, s, key, iv), Status::ok);
      Bytes plain;
      Record got;
      ASSERT_EQ(open_one(rx, wire, &plain, &got), Status::ok);
      EXPECT_EQ(test::to_hex(plain), rv["plaintext"]);
      EXPECT_EQ(got.type, rv["content_type"].get<int>());
      EXPECT_EQ(got.epoch, epoch);
      EXPECT_EQ(got.seq, seq);
      // The same record again is a replay.
      EXPECT_EQ(open_one(rx, wire), Status::replayed);

      // Re-seal at the same epoch/seq. OpenSSL's GCM explicit nonce starts at
      // a random value and counts up; the offset reproduces it.
      KeyOptions o;
      o.first_seq = seq;
      if (!chacha) {
        const uint64_t explicit_nonce = load_be64(hex(rv["explicit_nonce"].get<std::string>()).data());
        o.gcm_explicit_offset = explicit_nonce - rn;
      }
      RecordProtection tx;
      ASSERT_EQ(tx.install(Direction::seal, epoch, s, key, iv, o), Status::ok);
      EXPECT_EQ(test::to_hex(seal_one(tx, plain, got.type)), rv["record"]);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 10u);
}

// ---- round trips ------------------------------------------------------------------

TEST(Dtls12, RoundTripEverySuiteAndSize) {
  test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      RecordProtection a, b;
      pair(a, b, s);
      for (size_t len : {0, 1, 15, 16, 17, 100, 1350, 16384}) {
        const Bytes plain = test::random_bytes(len, len);
        const Bytes wire = seal_one(a, plain, 22);
        ASSERT_EQ(wire.size(), 13 + (s == Suite::chacha20_poly1305 ? 0 : 8) + len + 16);
        EXPECT_EQ(wire[0], 22);
        EXPECT_EQ(load_be16(wire.data() + 1), 0xfefd);
        EXPECT_EQ(load_be16(wire.data() + 3), 1);
        Bytes back;
        Record r;
        ASSERT_EQ(open_one(b, wire, &back, &r), Status::ok);
        EXPECT_EQ(back, plain);
        EXPECT_EQ(r.type, 22);
      }
      EXPECT_EQ(a.next_seq(), 8u);
      EXPECT_EQ(b.key(Direction::open, 1)->counters().opened, 8u);
    }
  });
}

TEST(Dtls12, SealRefusesOversizeAndMissingRoom) {
  RecordProtection a, b;
  pair(a, b, Suite::aes128_gcm);
  Buf big(Bytes(16385, 1));
  a.seal({&big.rec, 1});
  EXPECT_EQ(big.rec.status(), Status::record_overflow);
  Bytes mem(100);
  Record r;
  r.pkt = {mem.data(), 100, 10, 50, Status::ok};  // 10 bytes headroom < 21
  a.seal({&r, 1});
  EXPECT_EQ(r.status(), Status::buffer_too_small);
  r.pkt = {mem.data(), 100, 30, 60, Status::ok};  // 10 bytes tailroom < 16
  a.seal({&r, 1});
  EXPECT_EQ(r.status(), Status::buffer_too_small);
  EXPECT_EQ(a.next_seq(), 0u);  // nothing consumed a sequence number
  Buf badtype(Bytes(4, 1), 99);
  a.seal({&badtype.rec, 1});
  EXPECT_EQ(badtype.rec.status(), Status::invalid_argument);
}

// ---- RFC 9146 Connection IDs ----------------------------------------------------

// The RFC 9146 §4/§5 record built here from the RFC text with BoringSSL's
// EVP_AEAD directly (not the engine): header with CID, DTLSInnerPlaintext, and
//   additional_data = seq_num_placeholder(8 x 0xff) ‖ tls12_cid ‖ cid_length ‖
//     tls12_cid ‖ DTLSCiphertext.version ‖ epoch ‖ sequence_number ‖ cid ‖
//     length_of_DTLSInnerPlaintext
Bytes reference_cid_record(Suite s, const Bytes& key, const Bytes& iv, uint16_t epoch,
                           uint64_t seq, const Bytes& cid, uint8_t type, const Bytes& content,
                           size_t pad) {
  Bytes inner = content;
  inner.push_back(type);
  inner.insert(inner.end(), pad, 0);
  Bytes aad(8, 0xff);
  aad.push_back(25);
  aad.push_back(static_cast<uint8_t>(cid.size()));
  aad.push_back(25);
  aad.push_back(0xfe);
  aad.push_back(0xfd);
  for (int i = 1; i >= 0; --i) aad.push_back(static_cast<uint8_t>(epoch >> (8 * i)));
  for (int i = 5; i >= 0; --i) aad.push_back(static_cast<uint8_t>(seq >> (8 * i)));
  aad.insert(aad.end(), cid.begin(), cid.end());
  aad.push_back(static_cast<uint8_t>(inner.size() >> 8));
  aad.push_back(static_cast<uint8_t>(inner.size()));
  uint8_t nonce[12];
  uint8_t rn[8];
  store_be64(rn, uint64_t{epoch} << 48 | seq);
  Bytes explicit_part;
  if (s == Suite::chacha20_poly1305) {
    for (int i = 0; i < 12; ++i) nonce[i] = iv[i] ^ (i < 4 ? 0 : rn[i - 4]);
  } else {
    std::memcpy(nonce, iv.data(), 4);
    std::memcpy(nonce + 4, rn, 8);
    explicit_part.assign(rn, rn + 8);
  }
  const EVP_AEAD* alg = s == Suite::aes128_gcm   ? EVP_aead_aes_128_gcm()
                        : s == Suite::aes256_gcm ? EVP_aead_aes_256_gcm()
                                                 : EVP_aead_chacha20_poly1305();
  bssl::ScopedEVP_AEAD_CTX ctx;
  EXPECT_TRUE(EVP_AEAD_CTX_init(ctx.get(), alg, key.data(), key.size(), 16, nullptr));
  Bytes ct(inner.size() + 16);
  size_t ct_len = 0;
  EXPECT_TRUE(EVP_AEAD_CTX_seal(ctx.get(), ct.data(), &ct_len, ct.size(), nonce, 12, inner.data(),
                                inner.size(), aad.data(), aad.size()));
  Bytes rec = {25, 0xfe, 0xfd};
  for (int i = 1; i >= 0; --i) rec.push_back(static_cast<uint8_t>(epoch >> (8 * i)));
  for (int i = 5; i >= 0; --i) rec.push_back(static_cast<uint8_t>(seq >> (8 * i)));
  rec.insert(rec.end(), cid.begin(), cid.end());
  const size_t frag = explicit_part.size() + ct_len;
  rec.push_back(static_cast<uint8_t>(frag >> 8));
  rec.push_back(static_cast<uint8_t>(frag));
  rec.insert(rec.end(), explicit_part.begin(), explicit_part.end());
  rec.insert(rec.end(), ct.begin(), ct.begin() + ct_len);
  return rec;
}

TEST(Dtls12Cid, MatchesRfc9146ReferenceBothWays) {
  for (Suite s : kAllSuites) {
    for (size_t cid_len : {1, 4, 8, 255}) {
      for (size_t pad : {0, 3}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " cid " + std::to_string(cid_len) +
                     " pad " + std::to_string(pad));
        const Bytes cid = test::random_bytes(cid_len, 7);
        const Bytes content = test::random_bytes(40, 8);
        RecordProtection a, b;
        pair(a, b, s);
        ASSERT_EQ(a.set_seal_cid(cid), Status::ok);
        ASSERT_EQ(b.set_open_cid(cid), Status::ok);
        const Bytes ours = seal_one(a, content, 23, static_cast<uint16_t>(pad));
        const Bytes ref =
            reference_cid_record(s, key_for(s, 1), iv_for(s, 1), 1, 0, cid, 23, content, pad);
        EXPECT_EQ(test::to_hex(ours), test::to_hex(ref));
        // Open the reference's next record (seq 1) with the engine.
        const Bytes ref1 =
            reference_cid_record(s, key_for(s, 1), iv_for(s, 1), 1, 1, cid, 21, {1, 0}, pad);
        Bytes wire = ref1;  // the CID view points into this buffer
        Record r = Buf::view(wire);
        b.open({&r, 1});
        ASSERT_EQ(r.status(), Status::ok);
        EXPECT_EQ(Bytes(r.pkt.data(), r.pkt.data() + r.pkt.length), (Bytes{1, 0}));
        EXPECT_EQ(r.type, 21);
        EXPECT_EQ(r.epoch, 1);
        ASSERT_EQ(r.cid.size(), cid_len);
        EXPECT_EQ(Bytes(r.cid.begin(), r.cid.end()), cid);
      }
    }
  }
}

TEST(Dtls12Cid, DraftStyleAadIsRejected) {
  // An AAD in the pre-RFC draft shape (seq_num ‖ tls12_cid ‖ version ‖ cid ‖
  // cid_length ‖ length) must not authenticate.
  const Suite s = Suite::aes128_gcm;
  const Bytes cid = {0xaa, 0xbb, 0xcc};
  RecordProtection b;
  ASSERT_EQ(b.install(Direction::open, 1, s, key_for(s, 1), iv_for(s, 1)), Status::ok);
  ASSERT_EQ(b.set_open_cid(cid), Status::ok);
  Bytes inner = {'h', 'i', 23};
  Bytes aad = {0, 1, 0, 0, 0, 0, 0, 0, 25, 0xfe, 0xfd};
  aad.insert(aad.end(), cid.begin(), cid.end());
  aad.push_back(3);
  aad.push_back(0);
  aad.push_back(3);
  uint8_t nonce[12];
  std::memcpy(nonce, iv_for(s, 1).data(), 4);
  store_be64(nonce + 4, uint64_t{1} << 48);
  bssl::ScopedEVP_AEAD_CTX ctx;
  const Bytes key = key_for(s, 1);
  ASSERT_TRUE(EVP_AEAD_CTX_init(ctx.get(), EVP_aead_aes_128_gcm(), key.data(), 16, 16, nullptr));
  Bytes ct(inner.size() + 16);
  size_t n = 0;
  ASSERT_TRUE(EVP_AEAD_CTX_seal(ctx.get(), ct.data(), &n, ct.size(), nonce, 12, inner.data(),
                                inner.size(), aad.data(), aad.size()));
  Bytes rec = {25, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 0};
  rec.insert(rec.end(), cid.begin(), cid.end());
  rec.push_back(0);
  rec.push_back(static_cast<uint8_t>(8 + n));
  rec.insert(rec.end(), nonce + 4, nonce + 12);
  rec.insert(rec.end(), ct.begin(), ct.begin() + n);
  EXPECT_EQ(open_one(b, rec), Status::auth_failed);
}

TEST(Dtls12Cid, WrongOrMissingCidRefused) {
  const Suite s = Suite::chacha20_poly1305;
  RecordProtection a, b;
  pair(a, b, s);
  ASSERT_EQ(b.set_open_cid(Bytes{1, 2, 3, 4}), Status::ok);
  // A plain record when a CID was negotiated.
  EXPECT_EQ(open_one(b, seal_one(a, {1, 2, 3})), Status::malformed);
  // Another association's CID of the same length.
  ASSERT_EQ(a.set_seal_cid(Bytes{1, 2, 3, 5}), Status::ok);
  EXPECT_EQ(open_one(b, seal_one(a, {1, 2, 3})), Status::unknown_epoch);
  ASSERT_EQ(a.set_seal_cid(Bytes{1, 2, 3, 4}), Status::ok);
  EXPECT_EQ(open_one(b, seal_one(a, {1, 2, 3})), Status::ok);
  // A CID record when we issued none.
  RecordProtection c;
  ASSERT_EQ(c.install(Direction::open, 1, s, key_for(s, 1), iv_for(s, 1)), Status::ok);
  EXPECT_EQ(open_one(c, seal_one(a, {1, 2, 3})), Status::malformed);
}

TEST(Dtls12Cid, AllZeroInnerPlaintextRefused) {
  // Build with the reference encoder an inner plaintext with no type byte.
  const Suite s = Suite::aes256_gcm;
  const Bytes cid = {9, 9};
  RecordProtection b;
  ASSERT_EQ(b.install(Direction::open, 1, s, key_for(s, 1), iv_for(s, 1)), Status::ok);
  ASSERT_EQ(b.set_open_cid(cid), Status::ok);
  // content {} with type 0 and padding: all zero.
  const Bytes rec = reference_cid_record(s, key_for(s, 1), iv_for(s, 1), 1, 5, cid, 0, {}, 4);
  EXPECT_EQ(open_one(b, rec), Status::malformed);
  EXPECT_TRUE(b.window(1)->empty());
  EXPECT_EQ(b.key(Direction::open, 1)->counters().opened, 0u);
  // Refused, so its bytes stay as they arrived, alone and in a burst after a
  // record that opens.
  Bytes w = rec;
  Record r = Buf::view(w);
  EXPECT_EQ(b.open({&r, 1}), 0u);
  EXPECT_EQ(w, rec);
  Bytes w0 = reference_cid_record(s, key_for(s, 1), iv_for(s, 1), 1, 4, cid, 23, {1, 2}, 0);
  Bytes w1 = rec;
  Record rs[2] = {Buf::view(w0), Buf::view(w1)};
  EXPECT_EQ(b.open(rs), 1u);
  EXPECT_EQ(rs[1].status(), Status::malformed);
  EXPECT_EQ(w1, rec);
  EXPECT_EQ(b.window(1)->highest(), 4u);
}

// ---- replay window, epochs, sequence exhaustion -----------------------------------

TEST(Dtls12Replay, WindowEdges) {
  for (uint32_t size : {64u, 2048u}) {
    SCOPED_TRACE(size);
    const Suite s = Suite::aes128_gcm;
    RecordProtection a, b;
    pair(a, b, s, size);
    // Seal seq 0 .. 3*size records and keep a few.
    std::vector<Bytes> recs;
    for (uint64_t i = 0; i <= 3 * size; ++i) recs.push_back(seal_one(a, {uint8_t(i)}));
    // Window start: the very first record may be any sequence number.
    EXPECT_EQ(open_one(b, recs[5]), Status::ok);
    EXPECT_EQ(open_one(b, recs[0]), Status::ok);  // older but inside the window
    EXPECT_EQ(open_one(b, recs[0]), Status::replayed);
    EXPECT_EQ(open_one(b, recs[5]), Status::replayed);
    // Far future: jumps the window; everything older than size is too_old.
    EXPECT_EQ(open_one(b, recs[3 * size]), Status::ok);
    EXPECT_EQ(open_one(b, recs[2 * size]), Status::too_old);
    EXPECT_EQ(open_one(b, recs[2 * size + 1]), Status::ok);  // the left edge
    EXPECT_EQ(open_one(b, recs[2 * size + 1]), Status::replayed);
    EXPECT_EQ(open_one(b, recs[3 * size - 1]), Status::ok);
    EXPECT_EQ(b.window(1)->highest(), 3 * size);
  }
}

TEST(Dtls12Replay, DuplicateInsideOneBurst) {
  RecordProtection a, b;
  pair(a, b, Suite::aes256_gcm);
  Bytes w1 = seal_one(a, {1}), w2 = w1;
  Record rs[2] = {Buf::view(w1), Buf::view(w2)};
  EXPECT_EQ(b.open(rs), 1u);
  EXPECT_EQ(rs[0].status(), Status::ok);
  EXPECT_EQ(rs[1].status(), Status::replayed);
}

// A duplicate that is not next to its twin, after a record with a higher
// sequence number: the commit phase must still catch it.
TEST(Dtls12Replay, DuplicateAfterHigherRecordInOneBurst) {
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
    EXPECT_EQ(b.window(1)->highest(), 1u);
  }
}

// A repeat inside the window as the burst found it, after records of the
// same burst that move the window a whole size past it: one at a time it
// is too old by the time it comes, and the burst says so too (both count
// as a replay). Lean prefix first, and behind a refused record (general
// loop only).
TEST(Dtls12Replay, RepeatLeftTooOldByTheBurstBeforeIt) {
  for (bool general : {false, true}) {
    SCOPED_TRACE(general);
    RecordProtection a, b;
    pair(a, b, Suite::aes128_gcm, 64);
    std::vector<Bytes> recs;
    for (int i = 0; i <= 80; ++i) recs.push_back(seal_one(a, {uint8_t(i)}));
    for (int i = 0; i <= 48; ++i) ASSERT_EQ(open_one(b, recs[i]), Status::ok);
    std::vector<Bytes> wire;
    if (general) wire.push_back(Bytes(5, 0x17));  // junk first: no lean prefix
    for (int i = 49; i <= 70; ++i) wire.push_back(recs[i]);
    wire.push_back(recs[6]);   // 70 - 6 = 64: too old once 70 is in
    wire.push_back(recs[7]);   // 70 - 7 = 63: still inside, a replay
    std::vector<Record> rs;
    for (Bytes& w : wire) rs.push_back(Buf::view(w));
    EXPECT_EQ(b.open(rs), 22u);
    EXPECT_EQ(rs[rs.size() - 2].status(), Status::too_old);
    EXPECT_EQ(rs[rs.size() - 1].status(), Status::replayed);
    EXPECT_EQ(b.key(Direction::open, 1)->counters().replays, 2u);
  }
}

// Bursts that mix the usual records (open's lean parse) with every record
// that needs its general loop: another type, an alert, a forged record,
// junk, a wrong version, a duplicate, a late record below the newest, and
// records of two epochs. Opened at once, and one at a time on a second
// receiver; both are also held to what was sealed.
TEST(Dtls12, MixedBurstsAgreeWithOneAtATime) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      RecordProtection a, b, c;
      pair(a, b, s, 256);
      KeyOptions o;
      o.replay_window = 256;
      ASSERT_EQ(c.install(Direction::open, 1, s, key_for(s, 1), iv_for(s, 1), o), Status::ok);
      test::Wire wire;
      auto add = [&](const Bytes& plain, uint8_t type = 23) {
        wire.add(seal_one(a, plain, type), type, plain);
      };
      for (int round = 0; round < 3; ++round) {
        if (round == 2) {  // the peer moves to epoch 2; epoch 1 stays for late records
          ASSERT_EQ(a.install(Direction::seal, 2, s, key_for(s, 2), iv_for(s, 2), o), Status::ok);
          ASSERT_EQ(b.install(Direction::open, 2, s, key_for(s, 2), iv_for(s, 2), o), Status::ok);
          ASSERT_EQ(c.install(Direction::open, 2, s, key_for(s, 2), iv_for(s, 2), o), Status::ok);
        }
        for (int i = 0; i < 5; ++i) add(test::random_bytes(1350 + i, 40 + i + round));
        add(test::random_bytes(40, 52), 22);
        add({1, 90}, 21);
        Bytes forged = wire.records[wire.records.size() - 3];
        forged[forged.size() / 2] ^= 0x40;
        wire.refused(forged);
        wire.refused(test::random_bytes(9, 53));
        Bytes bad_version = seal_one(a, {7});
        bad_version[2] ^= 1;
        wire.refused(bad_version);
        wire.refused(wire.records[wire.records.size() - 8]);  // a duplicate of an earlier record
        const Bytes early = seal_one(a, test::random_bytes(70, 54));
        add(test::random_bytes(80, 55));
        // late, below the newest: still inside the window
        wire.add(early, 23, test::random_bytes(70, 54));
        add({});
        for (int i = 0; i < 40; ++i) add(test::random_bytes(64 + 97 * i, 60 + i));
      }
      test::expect_burst_equals_one_by_one<Buf>(b, c, wire, {1, 2});
    }
  });
}

TEST(Dtls12Replay, SequenceNumberNeverWraps) {
  for (Suite s : kAllSuites) {
    RecordProtection a, b;
    KeyOptions o;
    o.first_seq = kMaxSeq - 1;
    ASSERT_EQ(a.install(Direction::seal, 1, s, key_for(s, 1), iv_for(s, 1), o), Status::ok);
    ASSERT_EQ(b.install(Direction::open, 1, s, key_for(s, 1), iv_for(s, 1)), Status::ok);
    const Bytes last0 = seal_one(a, {1});
    const Bytes last1 = seal_one(a, {2});
    EXPECT_EQ(load_be48(last1.data() + 5), kMaxSeq);
    Buf more(Bytes{3});
    a.seal({&more.rec, 1});
    EXPECT_EQ(more.rec.status(), Status::key_exhausted);
    EXPECT_EQ(a.next_seq(), kMaxSeq + 1);  // stays exhausted, no wrap to 0
    a.seal({&more.rec, 1});
    EXPECT_EQ(more.rec.status(), Status::key_exhausted);
    EXPECT_EQ(open_one(b, last1), Status::ok);
    EXPECT_EQ(open_one(b, last0), Status::ok);
    // 2^48 is not installable either.
    o.first_seq = kMaxSeq + 1;
    EXPECT_EQ(a.install(Direction::seal, 2, s, key_for(s, 1), iv_for(s, 1), o),
              Status::invalid_argument);
  }
}

TEST(Dtls12Epochs, UnknownEpochChangesNothingAndPreviousEpochStays) {
  const Suite s = Suite::chacha20_poly1305;
  RecordProtection a, b;
  pair(a, b, s);
  const Bytes e1 = seal_one(a, {1});
  ASSERT_EQ(a.install(Direction::seal, 2, s, key_for(s, 2), iv_for(s, 2)), Status::ok);
  const Bytes e2 = seal_one(a, {2});
  const OpenState before = state_of(b, 1);
  EXPECT_EQ(open_one(b, e2), Status::unknown_epoch);
  EXPECT_EQ(state_of(b, 1), before);
  ASSERT_EQ(b.install(Direction::open, 2, s, key_for(s, 2), iv_for(s, 2)), Status::ok);
  EXPECT_EQ(open_one(b, e2), Status::ok);
  EXPECT_EQ(open_one(b, e1), Status::ok);  // late record of the previous epoch
  ASSERT_EQ(b.expire(Direction::open, 1), Status::ok);
  EXPECT_EQ(open_one(b, seal_one(a, {3})), Status::ok);
  Bytes e1b = e1;
  EXPECT_EQ(open_one(b, e1b), Status::unknown_epoch);
  // A third epoch evicts the oldest.
  ASSERT_EQ(b.install(Direction::open, 3, s, key_for(s, 3), iv_for(s, 3)), Status::ok);
  ASSERT_EQ(b.install(Direction::open, 4, s, key_for(s, 4), iv_for(s, 4)), Status::ok);
  EXPECT_EQ(b.key(Direction::open, 2), nullptr);
  // Refused install keeps the old key.
  EXPECT_EQ(b.install(Direction::open, 4, s, Bytes(5, 0), iv_for(s, 4)),
            Status::invalid_argument);
  EXPECT_NE(b.key(Direction::open, 4), nullptr);
}

// ---- limits ----------------------------------------------------------------------

TEST(Dtls12Limits, SoftEventHardExhaustionIntegrityLimit) {
  Limits l;
  l.soft_records = 2;
  l.hard_records = 3;
  l.max_auth_failures = 2;
  RecordProtection a, b;
  pair(a, b, Suite::aes128_gcm, 64, &l);
  KeyEvent e;
  while (a.poll_event(e)) {}
  seal_one(a, {1});
  const Bytes r2 = seal_one(a, {2});
  ASSERT_TRUE(a.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::soft_limit);
  seal_one(a, {3});
  Buf fourth(Bytes{4});
  a.seal({&fourth.rec, 1});
  EXPECT_EQ(fourth.rec.status(), Status::key_exhausted);
  ASSERT_TRUE(a.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::hard_limit);
  // Integrity limit on the open side: two forgeries kill the key.
  Bytes bad = r2;
  bad.back() ^= 1;
  EXPECT_EQ(open_one(b, bad), Status::auth_failed);
  EXPECT_EQ(open_one(b, bad), Status::auth_failed);
  EXPECT_EQ(open_one(b, r2), Status::unknown_epoch);  // the key is gone
  bool integrity = false;
  while (b.poll_event(e)) integrity |= e.kind == KeyEvent::integrity_limit;
  EXPECT_TRUE(integrity);
}

// ---- mutation and truncation --------------------------------------------------------

TEST(Dtls12Mutation, EveryByteFailsAndChangesNothing) {
  for (Suite s : kAllSuites) {
    for (bool cid : {false, true}) {
      SCOPED_TRACE(std::string(suite_info(s).name) + (cid ? " cid" : ""));
      RecordProtection a, b;
      pair(a, b, s);
      if (cid) {
        ASSERT_EQ(a.set_seal_cid(Bytes{7, 7, 7}), Status::ok);
        ASSERT_EQ(b.set_open_cid(Bytes{7, 7, 7}), Status::ok);
      }
      ASSERT_EQ(open_one(b, seal_one(a, {0})), Status::ok);  // window non-empty
      const Bytes good = seal_one(a, test::random_bytes(33, 3), 23, cid ? 2 : 0);
      const OpenState before = state_of(b, 1);
      const uint64_t seal_seq = a.next_seq();
      for (size_t i = 0; i < good.size(); ++i) {
        for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
          Bytes m = good;
          m[i] ^= flip;
          const Bytes arrived = m;
          Record r = Buf::view(m);
          b.open({&r, 1});
          ASSERT_NE(r.status(), Status::ok) << "byte " << i;
          ASSERT_EQ(m, arrived) << "byte " << i << " bytes changed by failed open";
          ASSERT_EQ(state_of(b, 1), before) << "byte " << i;
        }
      }
      EXPECT_EQ(a.next_seq(), seal_seq);
      EXPECT_EQ(open_one(b, good), Status::ok);  // still opens afterwards
    }
  }
}

TEST(Dtls12Mutation, TruncationAtEveryLength) {
  RecordProtection a, b;
  pair(a, b, Suite::aes128_gcm);
  const Bytes good = seal_one(a, test::random_bytes(20, 1));
  for (size_t n = 0; n < good.size(); ++n) {
    // Exact-size heap copy so ASan catches any overread.
    Bytes cut(good.begin(), good.begin() + n);
    Record r = Buf::view(cut);
    b.open({&r, 1});
    EXPECT_NE(r.status(), Status::ok);
  }
  EXPECT_TRUE(b.window(1)->empty());
}

// ---- datagrams ---------------------------------------------------------------------

TEST(Dtls12Datagram, SeveralRecordsEachWithItsStatus) {
  const Suite s = Suite::aes256_gcm;
  RecordProtection a, b;
  pair(a, b, s);
  const Bytes r0 = seal_one(a, {'a'}), r1 = seal_one(a, {'b', 'b'}), r2 = seal_one(a, {'c'});
  Bytes bad = r1;
  bad[20] ^= 4;
  Bytes dgram = r0;
  dgram.insert(dgram.end(), bad.begin(), bad.end());
  dgram.insert(dgram.end(), r2.begin(), r2.end());
  dgram.insert(dgram.end(), r0.begin(), r0.begin() + 5);  // a truncated tail
  Record out[8];
  size_t found = 0;
  EXPECT_EQ(b.open_datagram(dgram, out, &found), 2u);
  ASSERT_EQ(found, 4u);
  EXPECT_EQ(out[0].status(), Status::ok);
  EXPECT_EQ(out[0].pkt.data()[0], 'a');
  EXPECT_EQ(out[1].status(), Status::auth_failed);
  EXPECT_EQ(out[2].status(), Status::ok);
  EXPECT_EQ(out[2].pkt.data()[0], 'c');
  EXPECT_EQ(out[3].status(), Status::truncated);
}

TEST(Dtls12, BurstOfManyRecordsAcrossChunks) {
  RecordProtection a, b;
  pair(a, b, Suite::chacha20_poly1305);
  std::vector<Buf> bufs;
  for (int i = 0; i < 70; ++i) bufs.emplace_back(test::random_bytes(100 + i, i));
  std::vector<Record> recs;
  for (auto& x : bufs) recs.push_back(x.rec);
  EXPECT_EQ(a.seal(recs), 70u);
  std::vector<Bytes> wires;
  for (auto& r : recs) wires.emplace_back(r.pkt.data(), r.pkt.data() + r.pkt.length);
  std::vector<Record> in;
  for (auto& w : wires) in.push_back(Buf::view(w));
  EXPECT_EQ(b.open(in), 70u);
  for (int i = 0; i < 70; ++i) EXPECT_EQ(in[i].pkt.length, 100u + i);
}

}  // namespace
}  // namespace rl::dtls

namespace rl::dtls {
namespace {

TEST(Dtls12Cid, NewestFlagForPeerAddressUpdates) {
  // RFC 9146 §6: only an authenticated record newer than all before it may
  // move the peer address.
  const Suite s = Suite::aes128_gcm;
  const Bytes cid = {0x42};
  RecordProtection a, b;
  pair(a, b, s);
  ASSERT_EQ(a.set_seal_cid(cid), Status::ok);
  ASSERT_EQ(b.set_open_cid(cid), Status::ok);
  std::vector<Bytes> w;
  for (int i = 0; i < 8; ++i) w.push_back(seal_one(a, {uint8_t(i)}));
  Record r;
  ASSERT_EQ(open_one(b, w[5], nullptr, &r), Status::ok);
  EXPECT_TRUE(r.newest);
  ASSERT_EQ(open_one(b, w[3], nullptr, &r), Status::ok);
  EXPECT_FALSE(r.newest);  // late: must not move the address
  ASSERT_EQ(open_one(b, w[6], nullptr, &r), Status::ok);
  EXPECT_TRUE(r.newest);
  Bytes forged = w[7];
  forged[forged.size() - 1] ^= 1;
  ASSERT_EQ(open_one(b, forged, nullptr, &r), Status::auth_failed);
  EXPECT_FALSE(r.newest);
  // A newer epoch is newest even with a lower sequence number.
  ASSERT_EQ(a.install(Direction::seal, 2, s, key_for(s, 2), iv_for(s, 2)), Status::ok);
  ASSERT_EQ(b.install(Direction::open, 2, s, key_for(s, 2), iv_for(s, 2)), Status::ok);
  ASSERT_EQ(open_one(b, seal_one(a, {9}), nullptr, &r), Status::ok);
  EXPECT_TRUE(r.newest);
  EXPECT_EQ(r.epoch, 2);
  ASSERT_EQ(open_one(b, w[7], nullptr, &r), Status::ok);
  EXPECT_FALSE(r.newest);  // epoch 1, late
}

}  // namespace
}  // namespace rl::dtls

namespace rl::dtls {
namespace {

uint64_t fake_now(void* ctx) { return *static_cast<uint64_t*>(ctx); }

TEST(Dtls12Limits, AgeLimitsUseTheInjectedClock) {
  uint64_t now = 1000;
  Clock clock{fake_now, &now};
  RecordProtection a(clock), b(clock);
  Limits l;
  l.soft_age_s = 10;
  l.hard_age_s = 20;
  pair(a, b, Suite::aes128_gcm, 64, &l);
  KeyEvent e;
  while (a.poll_event(e)) {}
  const Bytes r0 = seal_one(a, {1});
  EXPECT_FALSE(a.poll_event(e));
  now = 1011;
  const Bytes r1 = seal_one(a, {2});
  ASSERT_TRUE(a.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::soft_limit);
  EXPECT_EQ(open_one(b, r0), Status::ok);
  now = 1020;
  Buf late(Bytes{3});
  a.seal({&late.rec, 1});
  EXPECT_EQ(late.rec.status(), Status::key_expired);
  EXPECT_EQ(open_one(b, r1), Status::key_expired);
  EXPECT_TRUE(b.window(1)->highest() == 0);  // r1 was not committed
}

}  // namespace
}  // namespace rl::dtls

// ---- the lean loops against the general ones ------------------------------------
//
// open and seal take the usual burst (application data of one epoch, no CID,
// rising record numbers, far from every limit) through lean loops that
// commit the window and count once per burst; everything else through the
// general loops. These bursts hit every way in and out of the lean loops, and
// each is held to one-at-a-time opens (records, windows bit by bit, counters,
// events) and to what was sealed.

namespace rl::dtls {
namespace {

size_t explicit_len_for(Suite s) { return s == Suite::chacha20_poly1305 ? 0 : 8; }

// Receiver b opens each wire as one burst, receiver c one record at a time.
struct LeanPair {
  RecordProtection a, b, c;
  test::Wire wire;
  void install(Suite s, uint16_t epoch, uint32_t window, const Limits* l = nullptr,
               uint64_t first_seq = 0) {
    KeyOptions o;
    o.replay_window = window;
    o.limits = l;
    o.first_seq = first_seq;
    ASSERT_EQ(a.install(Direction::seal, epoch, s, key_for(s, epoch), iv_for(s, epoch), o),
              Status::ok);
    ASSERT_EQ(b.install(Direction::open, epoch, s, key_for(s, epoch), iv_for(s, epoch), o),
              Status::ok);
    ASSERT_EQ(c.install(Direction::open, epoch, s, key_for(s, epoch), iv_for(s, epoch), o),
              Status::ok);
  }
  Bytes seal(size_t len, uint8_t type = 23) {
    const Bytes plain = test::random_bytes(len, static_cast<uint8_t>(len * 7 + type));
    return seal_one(a, plain, type);
  }
  void add(size_t len, uint8_t type = 23) {
    const Bytes plain = test::random_bytes(len, static_cast<uint8_t>(len * 7 + type));
    wire.add(seal_one(a, plain, type), type, plain);
  }
  void open_and_compare(std::initializer_list<uint64_t> epochs) {
    test::expect_burst_equals_one_by_one<Buf>(b, c, wire, epochs);
    test::expect_same_windows(b, c, epochs);
    test::expect_same_events(b, c);
    wire.clear();
  }
};

// Forgeries first, in the middle and last of otherwise lean bursts of 20
// (epoch 1): the commit leaves the lean run there and the general one goes
// on. P: LeanPair or CidQuad.
template <class P>
void forgeries_in_runs(P& p) {
  for (size_t at : {size_t{0}, size_t{7}, size_t{19}}) {
    SCOPED_TRACE("forged at " + std::to_string(at));
    for (size_t i = 0; i < 20; ++i) {
      if (i == at) {
        Bytes f = p.seal(200);
        f[f.size() - 3] ^= 0x01;
        p.wire.refused(f);
      } else {
        p.add(300 + i);
      }
    }
    p.open_and_compare({1});
  }
}

TEST(Dtls12Lean, OpenRunsAgreeWithOneAtATime) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      LeanPair p;
      p.install(s, 1, 256);
      // A whole lean burst, then one of a single record.
      for (int i = 0; i < 32; ++i) p.add(100 + 40 * i);
      p.open_and_compare({1});
      p.add(1350);
      p.open_and_compare({1});
      forgeries_in_runs(p);
      // Gaps: records lost on the way, within a 64-bit block, across
      // blocks, and past the whole window (its ring is cleared).
      for (size_t gap : {size_t{1}, size_t{3}, size_t{63}, size_t{64}, size_t{130}, size_t{300},
                         size_t{1000}}) {
        SCOPED_TRACE("gap " + std::to_string(gap));
        p.add(60);
        for (size_t g = 0; g < gap; ++g) p.seal(1);
        p.add(61);
        p.add(62);
        p.open_and_compare({1});
      }
      // A late record (below the window's top) first, then rising ones.
      const Bytes late = p.seal(70);
      p.add(71);
      p.open_and_compare({1});
      p.wire.add(late, 23, test::random_bytes(70, static_cast<uint8_t>(70 * 7 + 23)));
      for (int i = 0; i < 5; ++i) p.add(80 + i);
      p.open_and_compare({1});
      // A duplicate inside a lean run, and a record of the run repeated
      // after it; a record too long for 2^14 bytes of content, another type.
      p.add(90);
      p.add(91);
      p.wire.refused(p.wire.records[0]);
      p.add(92);
      p.open_and_compare({1});
      p.add(93);
      p.add(40, 22);
      p.add(94);
      p.add({}, 23);
      p.add(95);
      p.open_and_compare({1});
      // More than one chunk (kBurst = 32) of lean records.
      for (int i = 0; i < 70; ++i) p.add(64 + i);
      p.open_and_compare({1});
      // A new epoch: a burst that switches in its middle, then late records
      // of the old epoch (lean under an epoch older than the newest: none of
      // them is "newest"), then the new one again.
      const Bytes old1 = p.seal(111), old2 = p.seal(112), old3 = p.seal(113);
      p.add(114);
      p.install(s, 2, 256);
      p.add(115);
      p.add(116);
      p.open_and_compare({1, 2});
      p.wire.add(old1, 23, test::random_bytes(111, static_cast<uint8_t>(111 * 7 + 23)));
      p.wire.add(old2, 23, test::random_bytes(112, static_cast<uint8_t>(112 * 7 + 23)));
      p.wire.add(old3, 23, test::random_bytes(113, static_cast<uint8_t>(113 * 7 + 23)));
      p.open_and_compare({1, 2});
      for (int i = 0; i < 6; ++i) p.add(120 + i);
      p.open_and_compare({1, 2});
      // A record of an epoch nobody installed ends a lean run.
      p.add(130);
      Bytes unknown = p.seal(131);
      unknown[3] = 0x7f;
      p.wire.refused(unknown);
      p.add(132);
      p.open_and_compare({1, 2});
    }
  });
}

// The counters are written once per lean run unless the run crosses the
// soft byte limit: then the event must carry the counters of the record that
// crossed it, as one at a time.
TEST(Dtls12Lean, SoftByteLimitInsideARun) {
  for (uint64_t soft : {uint64_t{1000}, uint64_t{1001}, uint64_t{4000}}) {
    SCOPED_TRACE("soft bytes " + std::to_string(soft));
    Limits l;
    l.soft_bytes = soft;
    LeanPair p;
    p.install(Suite::aes128_gcm, 1, 64, &l);
    test::expect_same_events(p.b, p.c);  // the installs
    for (int i = 0; i < 12; ++i) p.add(250);
    p.open_and_compare({1});
    for (int i = 0; i < 12; ++i) p.add(250);
    p.open_and_compare({1});
  }
}

// A forgery that reaches the integrity limit (RFC 9147 §4.5.3) inside a
// burst kills the key there: the genuine records after it are refused in the
// burst as one at a time, and left as they arrived. Limits of 1 to 40 put
// that failure at the head, middle and tail of the first burst, in the
// second, or nowhere.
TEST(Dtls12Limits, IntegrityLimitReachedInsideABurst) {
  for (Suite s : kAllSuites) {
    for (uint64_t limit : {1, 2, 3, 7, 11, 12, 40}) {
      SCOPED_TRACE(std::string(suite_info(s).name) + " limit " + std::to_string(limit));
      Limits l;
      l.max_auth_failures = limit;
      LeanPair p;
      p.install(s, 1, 64, &l);
      size_t forged = 0;
      for (size_t i = 0; i < 50; ++i) {
        if (i % 3 == 2) {
          Bytes f = p.seal(40 + i);
          f[i % 2 ? f.size() - 1 : f.size() - 20] ^= 0x04;
          p.wire.refused(f);
          ++forged;
        } else if (forged >= limit) {
          p.wire.refused(p.seal(40 + i));
        } else {
          p.add(40 + i);
        }
      }
      p.open_and_compare({});
      EXPECT_EQ(p.b.key(Direction::open, 1) == nullptr, forged >= limit);
    }
  }
}

// A forged copy of a record earlier in the same burst: one at a time it is
// refused before its AEAD as a replay, so in a burst it is a replay too and
// does not count against the integrity limit.
TEST(Dtls12Limits, ForgedRepeatInABurstIsAReplayNotAFailure) {
  for (Suite s : kAllSuites) {
    SCOPED_TRACE(suite_info(s).name);
    Limits l;
    l.max_auth_failures = 100;  // more than the burst: one chunk
    LeanPair p;
    p.install(s, 1, 64, &l);
    p.wire.refused(Bytes{23, 0xfe, 0xfd});  // too short: the burst takes the general loops
    p.add(100);
    p.add(101);
    Bytes f = p.wire.records[1];
    f[f.size() - 1] ^= 0x01;
    p.wire.refused(f);  // after its genuine copy
    p.add(102);
    p.open_and_compare({1});
    ASSERT_NE(p.b.key(Direction::open, 1), nullptr);
    EXPECT_EQ(p.b.key(Direction::open, 1)->counters().auth_failures, 0u);
    EXPECT_EQ(p.b.key(Direction::open, 1)->counters().replays, 1u);
  }
}

// Epoch 0 with an empty window has no record number below its first (the
// general loop takes the first record); record numbers up to the last of the
// sequence space; epoch 0xffff, where the next record number would wrap.
// P: LeanPair, or CidQuad; setup(p) runs after install (a CID, or nothing).
template <class P, class Setup>
void record_number_edges(Suite s, Setup&& setup) {
  {
    P p;
    p.install(s, 0, 64);
    setup(p);
    for (int i = 0; i < 5; ++i) p.add(30 + i);
    p.open_and_compare({0});
    for (int i = 0; i < 5; ++i) p.add(40 + i);
    p.open_and_compare({0});
  }
  for (uint16_t epoch : {uint16_t{1}, uint16_t{0xffff}}) {
    SCOPED_TRACE("epoch " + std::to_string(epoch));
    P p;
    p.install(s, epoch, 64, nullptr, kMaxSeq - 9);
    setup(p);
    for (int i = 0; i < 4; ++i) p.add(50 + i);
    p.open_and_compare({epoch});
    for (int i = 0; i < 6; ++i) p.add(60 + i);  // the last is seq 2^48 - 1
    const Bytes last = p.wire.records.back(), before = p.wire.records[4];
    p.open_and_compare({epoch});
    EXPECT_EQ(p.b.window(epoch)->highest(), kMaxSeq);
    // Replays of the last record numbers stay refused, alone or in a burst.
    p.wire.refused(before);
    p.wire.refused(last);
    p.open_and_compare({epoch});
    p.wire.refused(last);
    p.open_and_compare({epoch});
  }
}

TEST(Dtls12Lean, EdgesOfTheRecordNumberSpace) {
  for (Suite s : kAllSuites) {
    SCOPED_TRACE(suite_info(s).name);
    record_number_edges<LeanPair>(s, [](LeanPair&) {});
  }
}

// Seal: the same records sealed as one burst (a1) and one at a time (a2,
// same keys) give the same bytes, statuses, record numbers, counters and
// events, whatever mix of lean-eligible and other records a burst holds.
TEST(Dtls12Lean, SealBurstsAgreeWithOneAtATime) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      for (uint64_t offset : {uint64_t{0}, uint64_t{0x0123456789abcdef}}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " offset " + std::to_string(offset));
        RecordProtection a1, a2;
        KeyOptions o;
        o.gcm_explicit_offset = offset;
        ASSERT_EQ(a1.install(Direction::seal, 3, s, key_for(s, 3), iv_for(s, 3), o), Status::ok);
        ASSERT_EQ(a2.install(Direction::seal, 3, s, key_for(s, 3), iv_for(s, 3), o), Status::ok);
        // kinds: 0 lean, 1 bad type, 2 no headroom, 3 no tailroom, 4 too long,
        // 5 empty, 6 handshake, 7 exactly no room to spare
        const std::vector<std::vector<int>> bursts = {
            std::vector<int>(32, 0), {0}, {1}, {2, 0, 0}, {0, 0, 3, 0}, {0, 4, 0, 5, 6, 0},
            {7, 7, 0}, std::vector<int>(40, 0), {6}, {0, 0, 0, 1}};
        for (const auto& kinds : bursts) {
          std::vector<Bytes> m1, m2;
          std::vector<Record> r1, r2;
          const size_t ex = explicit_len_for(s);
          for (size_t i = 0; i < kinds.size(); ++i) {
            const int k = kinds[i];
            const size_t len = k == 4 ? 16385 : k == 5 ? 0 : 100 + 13 * i;
            const size_t head = k == 2 ? 13 + ex - 1 : k == 7 ? 13 + ex : 40;
            const size_t tail = k == 3 ? 15 : k == 7 ? 16 : 40;
            Bytes mem = test::random_bytes(head + len + tail, static_cast<uint8_t>(i));
            Record r;
            r.type = k == 1 ? 99 : k == 6 ? 22 : 23;
            m1.push_back(mem);
            m2.push_back(mem);
            r.pkt = {nullptr, static_cast<uint32_t>(mem.size()), static_cast<uint32_t>(head),
                     static_cast<uint32_t>(len), Status::ok};
            r1.push_back(r);
            r2.push_back(r);
          }
          for (size_t i = 0; i < kinds.size(); ++i) {
            r1[i].pkt.buf = m1[i].data();
            r2[i].pkt.buf = m2[i].data();
          }
          size_t ok2 = 0;
          for (Record& r : r2) ok2 += a2.seal({&r, 1});
          EXPECT_EQ(a1.seal(r1), ok2);
          for (size_t i = 0; i < kinds.size(); ++i) {
            SCOPED_TRACE("record " + std::to_string(i) + " kind " + std::to_string(kinds[i]));
            EXPECT_EQ(r1[i].status(), r2[i].status());
            EXPECT_EQ(r1[i].pkt.offset, r2[i].pkt.offset);
            EXPECT_EQ(r1[i].pkt.length, r2[i].pkt.length);
            EXPECT_EQ(m1[i], m2[i]);
            if (r2[i].status() != Status::ok) continue;
            EXPECT_EQ(r1[i].epoch, r2[i].epoch);
            EXPECT_EQ(r1[i].seq, r2[i].seq);
            EXPECT_TRUE(r1[i].cid.empty());
          }
          EXPECT_EQ(a1.next_seq(), a2.next_seq());
          const KeyCounters& c1 = a1.key(Direction::seal, 3)->counters();
          const KeyCounters& c2 = a2.key(Direction::seal, 3)->counters();
          EXPECT_EQ(c1.sealed, c2.sealed);
          EXPECT_EQ(c1.bytes_sealed, c2.bytes_sealed);
          test::expect_same_events(a1, a2);
        }
        // And what was sealed opens, in order.
        RecordProtection b;
        ASSERT_EQ(b.install(Direction::open, 3, s, key_for(s, 3), iv_for(s, 3)), Status::ok);
        Bytes plain = test::random_bytes(500, 9);
        EXPECT_EQ(open_one(b, seal_one(a1, plain)), Status::ok);
      }
    }
  });
}

// seal_one (a burst of one record) asks the key once, admit_seal(1, length),
// where seal_chunk asks admit_seal(0, 0) and then counts; it takes only keys
// without an age limit, far from their limits, short of the end of the
// sequence space, and no CID, and hands everything else to seal_chunk. At
// each of those edges, sealing one record at a time must give what bursts
// give: bytes, statuses, record numbers, counters, and events with the
// counters they carry. The clock is injected and moves between rounds (a
// burst reads it once; the same round sealed one at a time sees the same
// time).
uint64_t g_edge_now = 0;
TEST(Dtls12Lean, SealOneAtATimeAtTheEdges) {
  const Clock clock{[](void*) { return g_edge_now; }, nullptr};
  struct Edge {
    const char* name;
    Limits limits;
    bool cid;
    uint64_t first_seq;
  };
  Limits age, soft_rec, hard_rec, bytes;
  age.soft_age_s = 10;
  age.hard_age_s = 20;
  soft_rec.soft_records = 7;
  hard_rec.soft_records = 5;
  hard_rec.hard_records = 9;
  bytes.soft_bytes = 1000;
  bytes.hard_bytes = 2500;
  const Edge edges[] = {{"unlimited", Limits{}, false, 0},
                        {"age limits", age, false, 0},
                        {"soft records", soft_rec, false, 0},
                        {"hard records", hard_rec, false, 0},
                        {"soft and hard bytes", bytes, false, 0},
                        {"cid", Limits{}, true, 0},
                        {"end of the sequence space", Limits{}, false, kMaxSeq - 6}};
  for (Suite s : kAllSuites)
    for (const Edge& e : edges) {
      SCOPED_TRACE(std::string(suite_info(s).name) + " " + e.name);
      g_edge_now = 1000;
      RecordProtection a1(clock), a2(clock);
      KeyOptions o;
      o.limits = &e.limits;
      o.first_seq = e.first_seq;
      for (RecordProtection* a : {&a1, &a2}) {
        ASSERT_EQ(a->install(Direction::seal, 4, s, key_for(s, 4), iv_for(s, 4), o), Status::ok);
        if (e.cid) {
          ASSERT_EQ(a->set_seal_cid(Bytes{1, 2, 3}), Status::ok);
        }
      }
      test::expect_same_events(a1, a2);
      for (int round = 0; round < 6; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        g_edge_now = 1000 + 6 * static_cast<uint64_t>(round);  // soft age in round 2, hard in 4
        const size_t n = 1 + static_cast<size_t>(round) % 4;
        std::vector<Bytes> m1, m2;
        std::vector<Record> r1(n), r2(n);
        for (size_t i = 0; i < n; ++i) {
          const size_t len = 90 + 37 * i + 11 * static_cast<size_t>(round);
          m1.push_back(test::random_bytes(64 + kMaxCidLen + len + 40, static_cast<uint8_t>(i + 9 * round)));
          m2.push_back(m1.back());
          r1[i].type = r2[i].type = (round == 3 && i == 1) ? 99 : 23;  // one refused type
          r1[i].pkt = {m1[i].data(), static_cast<uint32_t>(m1[i].size()), 64 + kMaxCidLen,
                       static_cast<uint32_t>(len), Status::ok};
          r2[i].pkt = {m2[i].data(), static_cast<uint32_t>(m2[i].size()), 64 + kMaxCidLen,
                       static_cast<uint32_t>(len), Status::ok};
        }
        size_t ok2 = 0;
        for (Record& r : r2) ok2 += a2.seal({&r, 1});
        EXPECT_EQ(a1.seal(r1), ok2);
        for (size_t i = 0; i < n; ++i) {
          SCOPED_TRACE("record " + std::to_string(i));
          EXPECT_EQ(r1[i].status(), r2[i].status());
          EXPECT_EQ(r1[i].pkt.offset, r2[i].pkt.offset);
          EXPECT_EQ(r1[i].pkt.length, r2[i].pkt.length);
          EXPECT_EQ(m1[i], m2[i]);
          if (r2[i].status() != Status::ok) continue;
          EXPECT_EQ(r1[i].seq, r2[i].seq);
          EXPECT_EQ(r1[i].epoch, r2[i].epoch);
        }
        EXPECT_EQ(a1.next_seq(), a2.next_seq());
        const KeyEpoch* k1 = a1.key(Direction::seal, 4);
        const KeyEpoch* k2 = a2.key(Direction::seal, 4);
        ASSERT_EQ(k1 != nullptr, k2 != nullptr);
        if (k1 != nullptr) {
          EXPECT_EQ(k1->counters().sealed, k2->counters().sealed);
          EXPECT_EQ(k1->counters().bytes_sealed, k2->counters().bytes_sealed);
        }
        test::expect_same_events(a1, a2);
      }
    }
}

}  // namespace
}  // namespace rl::dtls

// ---- CID records through the lean loops -------------------------------------------
//
// RFC 9146 records (a CID of up to 32 bytes, no padding on seal) take the
// lean loops too. Each wire is opened four ways: as bursts and one record at
// a time, each through the lean loops (open) and through the general loops
// only (a refused record first in every burst: the lean parse never starts);
// lean and general must agree exactly (statuses, bytes, out fields, windows,
// counters, events), and all four with what was sealed.

namespace rl::dtls {
namespace {

// Opens through the general loops only: each chunk of up to kBurst - 1
// records goes after a record with no buffer, which is refused
// (invalid_argument) before anything is looked up and changes nothing.
size_t open_general_only(RecordProtection& rp, std::span<Record> rs) {
  size_t ok = 0;
  for (size_t i = 0; i < rs.size(); i += RecordProtection::kBurst - 1) {
    const size_t n = std::min(RecordProtection::kBurst - 1, rs.size() - i);
    std::vector<Record> v(n + 1);
    for (size_t k = 0; k < n; ++k) v[k + 1] = rs[i + k];
    ok += rp.open(v);
    EXPECT_EQ(v[0].status(), Status::invalid_argument);
    for (size_t k = 0; k < n; ++k) rs[i + k] = v[k + 1];
  }
  return ok;
}

// The same for seal: a record of an invalid type first.
size_t seal_general_only(RecordProtection& rp, std::span<Record> rs) {
  size_t ok = 0;
  for (size_t i = 0; i < rs.size(); i += RecordProtection::kBurst - 1) {
    const size_t n = std::min(RecordProtection::kBurst - 1, rs.size() - i);
    std::vector<Record> v(n + 1);
    v[0].type = 99;
    for (size_t k = 0; k < n; ++k) v[k + 1] = rs[i + k];
    ok += rp.seal(v);
    EXPECT_EQ(v[0].status(), Status::invalid_argument);
    for (size_t k = 0; k < n; ++k) rs[i + k] = v[k + 1];
  }
  return ok;
}

std::vector<std::string> drain_events(RecordProtection& a) {
  std::vector<std::string> out;
  KeyEvent e;
  while (a.poll_event(e))
    out.push_back(std::string(to_string(e.kind)) + " epoch " + std::to_string(e.epoch) + " " +
                  to_string(e.dir) + " records " + std::to_string(e.records) + " bytes " +
                  std::to_string(e.bytes));
  return out;
}

void expect_same_open_state(const RecordProtection& x, const RecordProtection& y,
                            std::initializer_list<uint64_t> epochs) {
  test::expect_same_windows(x, y, epochs);
  for (uint64_t ep : epochs) {
    SCOPED_TRACE("counters of epoch " + std::to_string(ep));
    const KeyEpoch* kx = x.key(Direction::open, static_cast<uint16_t>(ep));
    const KeyEpoch* ky = y.key(Direction::open, static_cast<uint16_t>(ep));
    ASSERT_EQ(kx != nullptr, ky != nullptr);
    if (kx == nullptr) continue;
    EXPECT_EQ(kx->counters().opened, ky->counters().opened);
    EXPECT_EQ(kx->counters().bytes_opened, ky->counters().bytes_opened);
    EXPECT_EQ(kx->counters().auth_failures, ky->counters().auth_failures);
    EXPECT_EQ(kx->counters().replays, ky->counters().replays);
  }
}

void expect_same_records(const std::vector<Record>& x, const std::vector<Bytes>& wx,
                         const std::vector<Record>& y, const std::vector<Bytes>& wy) {
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    EXPECT_EQ(x[i].status(), y[i].status());
    EXPECT_EQ(wx[i], wy[i]);  // refused: as it arrived; opened: the same plaintext in place
    if (x[i].status() != Status::ok || y[i].status() != Status::ok) continue;
    EXPECT_EQ(x[i].pkt.offset, y[i].pkt.offset);
    EXPECT_EQ(x[i].pkt.length, y[i].pkt.length);
    EXPECT_EQ(x[i].type, y[i].type);
    EXPECT_EQ(x[i].epoch, y[i].epoch);
    EXPECT_EQ(x[i].seq, y[i].seq);
    EXPECT_EQ(x[i].newest, y[i].newest);
    EXPECT_EQ(Bytes(x[i].cid.begin(), x[i].cid.end()), Bytes(y[i].cid.begin(), y[i].cid.end()));
    EXPECT_EQ(x[i].cid.data(), wx[i].data() + 11);
  }
}

// a seals with a CID (a_plain with the same keys and none); b opens bursts
// through open(), g through the general loops only, c and d one record at a
// time the same two ways. g's bursts hold kBurst - 1 records after its
// refused one, so b31 opens the same bursts through open() (where a burst
// ends decides whether a copy of a record is refused before the AEAD or
// after it), and b the whole wire at once (bursts of kBurst).
struct CidQuad {
  RecordProtection a, a_plain, b, b31, c, g, d;
  Bytes cid;
  Suite suite = Suite::aes128_gcm;
  test::Wire wire;
  void install(Suite s, uint16_t epoch, uint32_t window, const Limits* l = nullptr,
               uint64_t first_seq = 0) {
    suite = s;
    KeyOptions o;
    o.replay_window = window;
    o.limits = l;
    o.first_seq = first_seq;
    for (RecordProtection* x : {&a, &a_plain})
      ASSERT_EQ(x->install(Direction::seal, epoch, s, key_for(s, epoch), iv_for(s, epoch), o),
                Status::ok);
    for (RecordProtection* x : {&b, &b31, &c, &g, &d})
      ASSERT_EQ(x->install(Direction::open, epoch, s, key_for(s, epoch), iv_for(s, epoch), o),
                Status::ok);
  }
  void set_cid(const Bytes& id) {
    cid = id;
    ASSERT_EQ(a.set_seal_cid(cid), Status::ok);
    for (RecordProtection* x : {&b, &b31, &c, &g, &d}) ASSERT_EQ(x->set_open_cid(cid), Status::ok);
  }
  Bytes plain_for(size_t len, uint8_t type) {
    return test::random_bytes(len, static_cast<uint8_t>(len * 7 + type));
  }
  Bytes seal(size_t len, uint8_t type = 23, uint16_t pad = 0) {
    return seal_one(a, plain_for(len, type), type, pad);
  }
  void add(size_t len, uint8_t type = 23, uint16_t pad = 0) {
    wire.add(seal(len, type, pad), type, plain_for(len, type));
  }
  // A record that authenticates but whose inner plaintext has no valid
  // type (RFC 9146 §4): at the sealer's next record number, which is then
  // used up.
  void add_bad_inner(uint8_t type) {
    const KeyEpoch* k = a.key(Direction::seal, a.seal_epoch());
    ASSERT_NE(k, nullptr);
    const uint16_t epoch = a.seal_epoch();
    const uint64_t seq = a.next_seq();
    seal(1);
    wire.refused(reference_cid_record(suite, key_for(suite, epoch), iv_for(suite, epoch), epoch,
                                      seq, cid, type, {}, 4));
  }
  void open_and_compare(std::initializer_list<uint64_t> epochs) {
    const std::vector<Bytes>& w = wire.records;
    std::vector<Bytes> wb = w, w31 = w, wg = w, wc = w, wd = w;
    std::vector<Record> rb, r31, rg, rc(w.size()), rd(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      rb.push_back(Buf::view(wb[i]));
      r31.push_back(Buf::view(w31[i]));
      rg.push_back(Buf::view(wg[i]));
    }
    b.open(rb);
    size_t ok_31 = 0;
    for (size_t i = 0; i < w.size(); i += RecordProtection::kBurst - 1)
      ok_31 += b31.open(std::span<Record>(r31).subspan(
          i, std::min(RecordProtection::kBurst - 1, w.size() - i)));
    const size_t ok_g = open_general_only(g, rg);
    size_t ok_c = 0, ok_d = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      rc[i] = Buf::view(wc[i]);
      rd[i] = Buf::view(wd[i]);
      ok_c += c.open({&rc[i], 1});
      ok_d += open_general_only(d, {&rd[i], 1});
    }
    EXPECT_EQ(ok_31, ok_g);
    EXPECT_EQ(ok_c, ok_d);
    {
      SCOPED_TRACE("bursts: lean vs general");
      expect_same_records(r31, w31, rg, wg);
      expect_same_open_state(b31, g, epochs);
      EXPECT_EQ(drain_events(b31), drain_events(g));
    }
    {
      SCOPED_TRACE("one at a time: lean vs general");
      expect_same_records(rc, wc, rd, wd);
      expect_same_open_state(c, d, epochs);
    }
    const std::vector<std::string> eb = drain_events(b), ec = drain_events(c);
    EXPECT_EQ(ec, drain_events(d));
    // Bursts against one at a time, and both against what was sealed (a
    // duplicate inside a burst may be refused as a replay or a failure).
    for (size_t i = 0; i < w.size(); ++i) {
      SCOPED_TRACE("sent record " + std::to_string(i));
      const auto& [type, content] = wire.sent[i];
      EXPECT_EQ(rc[i].status() == Status::ok, type != 0);
      EXPECT_EQ(rb[i].status() == Status::ok, type != 0);
      if (type == 0) {
        EXPECT_EQ(wb[i], w[i]);
        EXPECT_EQ(wc[i], w[i]);
        continue;
      }
      for (const Record* r : {&rb[i], &rc[i]}) {
        EXPECT_EQ(r->type, type);
        EXPECT_EQ(Bytes(r->pkt.data(), r->pkt.data() + r->pkt.length), content);
        EXPECT_EQ(Bytes(r->cid.begin(), r->cid.end()), cid);
      }
      EXPECT_EQ(rb[i].newest, rc[i].newest);
      EXPECT_EQ(rb[i].seq, rc[i].seq);
    }
    test::expect_same_windows(b, c, epochs);
    EXPECT_EQ(eb, ec);
    for (uint64_t ep : epochs) {
      const KeyEpoch* kb = b.key(Direction::open, static_cast<uint16_t>(ep));
      const KeyEpoch* kc = c.key(Direction::open, static_cast<uint16_t>(ep));
      ASSERT_EQ(kb != nullptr, kc != nullptr);
      if (kb == nullptr) continue;
      EXPECT_EQ(kb->counters().opened, kc->counters().opened);
      EXPECT_EQ(kb->counters().bytes_opened, kc->counters().bytes_opened);
      EXPECT_EQ(kb->counters().auth_failures, kc->counters().auth_failures);
      EXPECT_EQ(kb->counters().replays, kc->counters().replays);
    }
    wire.clear();
  }
};

Bytes cid_of(size_t n) { return test::random_bytes(n, static_cast<uint8_t>(200 + n)); }

TEST(Dtls12Lean, CidOpenAgreesWithGeneralAndOneAtATime) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites)
      for (size_t cl : {1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 24, 31, 32, 33, 255}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " cid " + std::to_string(cl));
        CidQuad p;
        p.install(s, 1, 256);
        p.set_cid(cid_of(cl));
        // A whole lean burst with every inner type and some padding, then a
        // burst of one.
        for (int i = 0; i < 32; ++i)
          p.add(100 + 40 * i, i % 7 == 3 ? 22 : i % 11 == 5 ? 21 : 23, i % 5 == 4 ? 13 : 0);
        p.open_and_compare({1});
        p.add(1350);
        p.open_and_compare({1});
        p.add(0);
        p.open_and_compare({1});
        forgeries_in_runs(p);
        // Another association's CID (each of its bytes), a plain record, a
        // bad version, a record cut short, a header only.
        for (size_t at : {size_t{0}, cl / 2, cl - 1}) {
          p.add(40);
          Bytes f = p.seal(41);
          f[11 + at] ^= 0x80;
          p.wire.refused(f);
          p.add(42);
          p.wire.refused(seal_one(p.a_plain, {1, 2, 3}));
          p.add(43);
          Bytes v = p.seal(44);
          v[2] ^= 1;
          p.wire.refused(v);
          p.add(45);
          Bytes t = p.seal(46);
          t.pop_back();
          p.wire.refused(t);
          p.wire.refused(Bytes(t.begin(), t.begin() + std::min(t.size(), 13 + cl)));
          p.add(47);
          p.open_and_compare({1});
        }
        // Inner plaintexts without a valid type (all zero, type 99), first
        // and inside a run.
        p.add_bad_inner(0);
        p.add(50);
        p.add_bad_inner(99);
        p.add(51);
        p.open_and_compare({1});
        // The longest inner plaintext (2^14 bytes: content and type), then
        // one byte too long, inside a rising run.
        {
          p.add(kMaxPlaintext - 1);
          const uint64_t seq = p.a.next_seq();
          p.seal(1);
          p.wire.refused(reference_cid_record(s, key_for(s, 1), iv_for(s, 1), 1, seq, p.cid, 23,
                                              Bytes(kMaxPlaintext, 1), 0));
          p.add(53);
          p.open_and_compare({1});
        }
        // Replays: a duplicate inside a run, a record of an earlier burst,
        // a late record below the top, gaps.
        p.add(60);
        p.add(61);
        p.wire.refused(p.wire.records[0]);
        p.add(62);
        const Bytes late = p.seal(63);
        p.add(64);
        p.open_and_compare({1});
        p.wire.add(late, 23, p.plain_for(63, 23));
        p.add(65);
        for (int g = 0; g < 70; ++g) p.seal(1);
        p.add(66);
        p.add(67);
        p.open_and_compare({1});
        // More than one chunk.
        for (int i = 0; i < 70; ++i) p.add(64 + i);
        p.open_and_compare({1});
        // A new epoch in the middle of a burst, late records of the old one,
        // an epoch nobody installed.
        const Bytes old1 = p.seal(111), old2 = p.seal(112);
        p.add(114);
        p.install(s, 2, 256);
        p.set_cid(p.cid);
        p.add(115);
        p.add(116);
        p.open_and_compare({1, 2});
        p.wire.add(old1, 23, p.plain_for(111, 23));
        p.wire.add(old2, 23, p.plain_for(112, 23));
        p.add(117);
        Bytes unknown = p.seal(118);
        unknown[3] = 0x7f;
        p.wire.refused(unknown);
        p.add(119);
        p.open_and_compare({1, 2});
      }
  });
}

// Near the limits: the soft byte limit crossed inside a lean run (the event
// carries the counters of the record that crossed it), and forgeries that
// reach the integrity limit inside a burst (the key dies there); record
// numbers at the ends of the sequence space.
TEST(Dtls12Lean, CidNearLimitsAndEdges) {
  for (Suite s : kAllSuites)
    for (size_t cl : {4, 16}) {
      SCOPED_TRACE(std::string(suite_info(s).name) + " cid " + std::to_string(cl));
      for (uint64_t soft : {uint64_t{1000}, uint64_t{1001}, uint64_t{4000}}) {
        SCOPED_TRACE("soft bytes " + std::to_string(soft));
        Limits l;
        l.soft_bytes = soft;
        CidQuad p;
        p.install(s, 1, 64, &l);
        p.set_cid(cid_of(cl));
        for (int i = 0; i < 12; ++i) p.add(250);
        p.open_and_compare({1});
        for (int i = 0; i < 12; ++i) p.add(250, 23, 3);
        p.open_and_compare({1});
      }
      {
        Limits l;
        l.soft_auth_failures = 1;
        l.max_auth_failures = 3;
        CidQuad p;
        p.install(s, 1, 64, &l);
        p.set_cid(cid_of(cl));
        // Two failures in round 0; the third, in round 1, kills the key:
        // what follows it is refused, in bursts as one at a time (RFC 9147
        // §4.5.3); round 2 is refused.
        for (int round = 0; round < 3; ++round) {
          if (round < 2) p.add(30);
          else p.wire.refused(p.seal(30));
          Bytes f = p.seal(31);
          f[f.size() - 1] ^= 1;
          p.wire.refused(f);
          if (round == 0) p.add(32);
          else p.wire.refused(p.seal(32));
          Bytes f2 = p.seal(33);
          f2[f2.size() - 20] ^= 1;  // in the ciphertext
          p.wire.refused(f2);
          if (round == 0) p.add(34);
          else p.wire.refused(p.seal(34));
          p.open_and_compare({});
        }
        EXPECT_EQ(p.b.key(Direction::open, 1), nullptr);
        EXPECT_EQ(p.g.key(Direction::open, 1), nullptr);
      }
      record_number_edges<CidQuad>(s, [&](CidQuad& p) { p.set_cid(cid_of(cl)); });
    }
}

// Seal: the same CID records sealed as bursts (lean), one at a time
// (seal_one), and through the general loop only give the same bytes,
// statuses, record numbers, counters and events; what lean seals opens (and
// the RFC 9146 reference encoder's bytes are held to ours in
// Dtls12Cid.MatchesRfc9146ReferenceBothWays).
TEST(Dtls12Lean, CidSealBurstsAgreeWithGeneralAndOneAtATime) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites)
      for (size_t cl : {1, 3, 4, 8, 9, 16, 17, 32, 33}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " cid " + std::to_string(cl));
        const Bytes cid = cid_of(cl);
        RecordProtection a1, a2, a3;  // bursts, one at a time, general only
        KeyOptions o;
        o.gcm_explicit_offset = 0x0123456789abcdef;
        for (RecordProtection* a : {&a1, &a2, &a3}) {
          ASSERT_EQ(a->install(Direction::seal, 3, s, key_for(s, 3), iv_for(s, 3), o), Status::ok);
          ASSERT_EQ(a->set_seal_cid(cid), Status::ok);
        }
        const size_t ex = explicit_len_for(s);
        // kinds: 0 lean, 1 bad type, 2 one byte short of headroom, 3 one byte
        // short of tailroom (tag and type), 4 inner plaintext too long, 5
        // empty, 6 handshake, 7 exactly enough room, 8 padding, 9 the
        // longest lean content (2^14 - 1), 10 padding without room for it
        const std::vector<std::vector<int>> bursts = {
            std::vector<int>(32, 0), {0}, {1}, {2, 0, 0}, {0, 0, 3, 0}, {0, 4, 0, 5, 6, 0},
            {7, 7, 0}, std::vector<int>(40, 0), {6}, {0, 0, 0, 1}, {8}, {0, 8, 0}, {9, 0},
            {0, 10, 0}, {7}, {2}, {3}, {5}};
        for (const auto& kinds : bursts) {
          std::vector<Bytes> m1, m2, m3, plain;
          std::vector<Record> r1, r2, r3;
          for (size_t i = 0; i < kinds.size(); ++i) {
            const int k = kinds[i];
            const size_t len = k == 4 ? 16384 : k == 9 ? 16383 : k == 5 ? 0 : 100 + 13 * i;
            const size_t head = k == 2 ? 13 + cl + ex - 1 : k == 7 ? 13 + cl + ex : 40 + cl;
            const size_t tail = k == 3 ? 16 : k == 7 ? 17 : k == 10 ? 20 : 60;
            Bytes mem = test::random_bytes(head + len + tail, static_cast<uint8_t>(i));
            Record r;
            r.type = k == 1 ? 99 : k == 6 ? 22 : 23;
            r.padding = k == 8 ? 9 : k == 10 ? 4 : 0;
            plain.emplace_back(mem.begin() + head, mem.begin() + head + len);
            m1.push_back(mem);
            m2.push_back(mem);
            m3.push_back(mem);
            r.pkt = {nullptr, static_cast<uint32_t>(mem.size()), static_cast<uint32_t>(head),
                     static_cast<uint32_t>(len), Status::ok};
            r1.push_back(r);
            r2.push_back(r);
            r3.push_back(r);
          }
          for (size_t i = 0; i < kinds.size(); ++i) {
            r1[i].pkt.buf = m1[i].data();
            r2[i].pkt.buf = m2[i].data();
            r3[i].pkt.buf = m3[i].data();
          }
          size_t ok2 = 0;
          for (Record& r : r2) ok2 += a2.seal({&r, 1});
          EXPECT_EQ(a1.seal(r1), ok2);
          EXPECT_EQ(seal_general_only(a3, r3), ok2);
          for (size_t i = 0; i < kinds.size(); ++i) {
            SCOPED_TRACE("record " + std::to_string(i) + " kind " + std::to_string(kinds[i]));
            for (const auto& [r, m] : {std::pair{&r1[i], &m1[i]}, std::pair{&r2[i], &m2[i]}}) {
              EXPECT_EQ(r->status(), r3[i].status());
              EXPECT_EQ(r->pkt.offset, r3[i].pkt.offset);
              EXPECT_EQ(r->pkt.length, r3[i].pkt.length);
              EXPECT_EQ(*m, m3[i]);
              if (r3[i].status() != Status::ok) continue;
              EXPECT_EQ(r->epoch, r3[i].epoch);
              EXPECT_EQ(r->seq, r3[i].seq);
              EXPECT_TRUE(r->cid.empty());
            }
          }
          for (RecordProtection* a : {&a1, &a2}) {
            EXPECT_EQ(a->next_seq(), a3.next_seq());
            const KeyCounters& c = a->key(Direction::seal, 3)->counters();
            const KeyCounters& c3 = a3.key(Direction::seal, 3)->counters();
            EXPECT_EQ(c.sealed, c3.sealed);
            EXPECT_EQ(c.bytes_sealed, c3.bytes_sealed);
          }
          const std::vector<std::string> events = drain_events(a3);
          EXPECT_EQ(drain_events(a1), events);
          EXPECT_EQ(drain_events(a2), events);
          // What was sealed opens, in order, with its type and content.
          RecordProtection b;
          ASSERT_EQ(b.install(Direction::open, 3, s, key_for(s, 3), iv_for(s, 3)), Status::ok);
          ASSERT_EQ(b.set_open_cid(cid), Status::ok);
          for (size_t i = 0; i < kinds.size(); ++i) {
            if (r1[i].status() != Status::ok) continue;
            Bytes w(r1[i].pkt.data(), r1[i].pkt.data() + r1[i].pkt.length);
            Record r = Buf::view(w);
            ASSERT_EQ(b.open({&r, 1}), 1u) << "record " << i;
            EXPECT_EQ(r.type, r1[i].type);
            EXPECT_EQ(r.seq, r1[i].seq);
            EXPECT_EQ(Bytes(r.pkt.data(), r.pkt.data() + r.pkt.length), plain[i]);
          }
        }
      }
  });
}

}  // namespace
}  // namespace rl::dtls
