// TLS 1.2 AEAD records (RFC 5246 §6.2.3.3, RFC 5288, RFC 7905) and the TLS 1.2
// PRF / key block (RFC 5246 §5, §6.3): real OpenSSL captures with key logs from
// the shared vectors, an independent reading of the nonce/AAD rules, round
// trips, every-byte mutation, limits, alerts, misuse.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include <openssl/hmac.h>

#include "core/aead.h"
#include "core/tls.h"
#include "core/tls12_prf.h"
#include "tests/support/backends.h"
#include "tests/support/vectors.h"
#include "tests/tls_test_util.h"

namespace rl::tls {
namespace {

using rl::test::Bytes;
using rl::test::hex;
using rl::test::random_bytes;
using test::Buf;

Config v12(bool stop = true) {
  Config c;
  c.version = Version::tls12;
  c.stop_after_failure = stop;
  return c;
}

Suite suite_of(const std::string& name) {
  if (name.find("CHACHA20") != std::string::npos) return Suite::chacha20_poly1305;
  if (name.find("AES_256_GCM") != std::string::npos) return Suite::aes256_gcm;
  return Suite::aes128_gcm;
}

// ---- PRF ------------------------------------------------------------------------

// P_SHA256 written out a second way (one HMAC call per step) to cross-check
// the streaming implementation for odd lengths.
Bytes p_hash_reference(const EVP_MD* md, const Bytes& secret, const Bytes& seed, size_t n) {
  Bytes out, a = seed;
  while (out.size() < n) {
    uint8_t buf[64];
    unsigned len = 0;
    HMAC(md, secret.data(), secret.size(), a.data(), a.size(), buf, &len);
    a.assign(buf, buf + len);
    Bytes in = a;
    in.insert(in.end(), seed.begin(), seed.end());
    HMAC(md, secret.data(), secret.size(), in.data(), in.size(), buf, &len);
    out.insert(out.end(), buf, buf + len);
  }
  out.resize(n);
  return out;
}

TEST(Tls12Prf, MatchesAStepByStepReadingOfRfc5246Section5) {
  const Bytes secret = random_bytes(48, 1), seed = random_bytes(64, 2);
  for (Hash h : {Hash::sha256, Hash::sha384}) {
    for (size_t n : {1u, 31u, 32u, 33u, 48u, 100u, 200u}) {
      Bytes out(n);
      ASSERT_EQ(tls12_prf(h, secret, "test label", seed, out), Status::ok);
      Bytes label_seed = {'t', 'e', 's', 't', ' ', 'l', 'a', 'b', 'e', 'l'};
      label_seed.insert(label_seed.end(), seed.begin(), seed.end());
      EXPECT_EQ(out, p_hash_reference(h == Hash::sha256 ? EVP_sha256() : EVP_sha384(), secret,
                                      label_seed, n))
          << n;
    }
  }
}

TEST(Tls12Prf, KeyBlockFromCaptures) {
  auto v = rl::test::load_vectors("tls12_dtls12_aead_captures.json");
  RL_SKIP_IF_MISSING(v, "tls12_dtls12_aead_captures.json");
  size_t n = 0;
  for (auto& ex : (*v)["examples"]) {
    SCOPED_TRACE(ex["id"].get<std::string>());
    const Suite s = suite_of(ex["cipher_suite"].get<std::string>());
    KeyBlock kb;
    ASSERT_EQ(tls12_key_block(s, suite_info(s).hash, hex(ex["master_secret"].get<std::string>()),
                              hex(ex["client_random"].get<std::string>()),
                              hex(ex["server_random"].get<std::string>()), kb),
              Status::ok);
    auto& d = ex["key_block_derived"];
    auto span_bytes = [](std::span<const uint8_t> sp) { return Bytes(sp.begin(), sp.end()); };
    EXPECT_EQ(span_bytes(kb.client_key()), hex(d["client_write_key"].get<std::string>()));
    EXPECT_EQ(span_bytes(kb.server_key()), hex(d["server_write_key"].get<std::string>()));
    EXPECT_EQ(span_bytes(kb.client_iv()), hex(d["client_write_iv"].get<std::string>()));
    EXPECT_EQ(span_bytes(kb.server_iv()), hex(d["server_write_iv"].get<std::string>()));
    // The seed order matters (server_random first): swapped randoms differ.
    KeyBlock swapped;
    ASSERT_EQ(tls12_key_block(s, suite_info(s).hash, hex(ex["master_secret"].get<std::string>()),
                              hex(ex["server_random"].get<std::string>()),
                              hex(ex["client_random"].get<std::string>()), swapped),
              Status::ok);
    EXPECT_NE(span_bytes(swapped.client_key()), span_bytes(kb.client_key()));
    ++n;
  }
  EXPECT_EQ(n, 4u);
}

TEST(Tls12Prf, Misuse) {
  KeyBlock kb;
  EXPECT_EQ(tls12_key_block(Suite::aes128_gcm, Hash::sha256, random_bytes(47, 1), random_bytes(32, 2),
                            random_bytes(32, 3), kb),
            Status::invalid_argument);
  EXPECT_EQ(tls12_key_block(Suite::aes128_gcm, Hash::sha256, random_bytes(48, 1), random_bytes(31, 2),
                            random_bytes(32, 3), kb),
            Status::invalid_argument);
}

// ---- records from the captures ----------------------------------------------

TEST(Tls12, CaptureRecordsOpenAndChaChaResealsByteExact) {
  auto v = rl::test::load_vectors("tls12_dtls12_aead_captures.json");
  RL_SKIP_IF_MISSING(v, "tls12_dtls12_aead_captures.json");
  size_t n = 0;
  for (auto& ex : (*v)["examples"]) {
    if (ex["protocol"] != "TLS 1.2") continue;
    const Suite s = suite_of(ex["cipher_suite"].get<std::string>());
    KeyBlock kb;
    ASSERT_EQ(tls12_key_block(s, suite_info(s).hash, hex(ex["master_secret"].get<std::string>()),
                              hex(ex["client_random"].get<std::string>()),
                              hex(ex["server_random"].get<std::string>()), kb),
              Status::ok);
    for (auto& r : ex["protected_records"]) {
      SCOPED_TRACE(ex["id"].get<std::string>() + " " + r["capture_label"].get<std::string>() + " " +
                   r["direction"].get<std::string>());
      const bool c2s = r["direction"] == "client_to_server";
      const uint64_t seq = load_be64(hex(r["sequence_number_implicit"].get<std::string>()).data());
      const Bytes wire = hex(r["record"].get<std::string>());
      const Bytes plain = hex(r["plaintext"].get<std::string>());
      const uint8_t type = r["content_type"].get<uint8_t>();
      RecordProtection rx(v12());
      ASSERT_EQ(rx.install_tls12(Direction::open, s, c2s ? kb.client_key() : kb.server_key(),
                                 c2s ? kb.client_iv() : kb.server_iv(), nullptr, seq),
                Status::ok);
      Buf w = Buf::wire(wire);
      ASSERT_EQ(rx.open({&w.rec, 1}), 1u) << to_string(w.rec.status);
      EXPECT_EQ(w.bytes(), plain);
      EXPECT_EQ(w.rec.type, type);
      EXPECT_EQ(w.rec.seq, seq);

      RecordProtection tx(v12());
      ASSERT_EQ(tx.install_tls12(Direction::seal, s, c2s ? kb.client_key() : kb.server_key(),
                                 c2s ? kb.client_iv() : kb.server_iv(), nullptr, seq),
                Status::ok);
      Buf p(plain, type);
      ASSERT_EQ(tx.seal({&p.rec, 1}), 1u);
      if (s == Suite::chacha20_poly1305) {
        EXPECT_EQ(p.bytes(), wire);  // RFC 7905: nothing on the wire but the record
      } else {
        // OpenSSL chose its own explicit nonce; ours is the sequence number
        // (RFC 5288 §3), so compare everything else and open it back.
        const Bytes sealed = p.bytes();
        EXPECT_EQ(sealed.size(), wire.size());
        EXPECT_EQ(Bytes(sealed.begin(), sealed.begin() + 5), Bytes(wire.begin(), wire.begin() + 5));
        Bytes explicit_nonce(sealed.begin() + 5, sealed.begin() + 13);
        Bytes want(8);
        store_be64(want.data(), seq);
        EXPECT_EQ(explicit_nonce, want);
        RecordProtection rx2(v12());
        ASSERT_EQ(rx2.install_tls12(Direction::open, s, c2s ? kb.client_key() : kb.server_key(),
                                    c2s ? kb.client_iv() : kb.server_iv(), nullptr, seq),
                  Status::ok);
        Buf w2 = Buf::wire(p.bytes());
        ASSERT_EQ(rx2.open({&w2.rec, 1}), 1u);
        EXPECT_EQ(w2.bytes(), plain);
      }
      ++n;
    }
  }
  EXPECT_EQ(n, 10u);
}

// ---- an independent reading of RFC 5288 / RFC 7905 ---------------------------

TEST(Tls12, NonceAndAadFollowRfc5288AndRfc7905) {
  for (Suite s : kAllSuites) {
    SCOPED_TRACE(suite_info(s).name);
    const bool gcm = s != Suite::chacha20_poly1305;
    const Bytes key = random_bytes(suite_info(s).key_len, 1), iv = random_bytes(gcm ? 4 : 12, 2);
    const uint64_t seq = 0x0102030405060708;
    RecordProtection tx(v12());
    ASSERT_EQ(tx.install_tls12(Direction::seal, s, key, iv, nullptr, seq), Status::ok);
    const Bytes plain = random_bytes(33, 3);
    Buf p(plain, handshake);
    ASSERT_EQ(tx.seal({&p.rec, 1}), 1u);
    const Bytes wire = p.bytes();
    // Header: type, 0x0303, length = explicit nonce + ciphertext + tag.
    const size_t expl = gcm ? 8 : 0;
    ASSERT_EQ(wire.size(), 5 + expl + 33 + 16);
    EXPECT_EQ(wire[0], handshake);
    EXPECT_EQ(load_be16(&wire[1]), 0x0303);
    EXPECT_EQ(load_be16(&wire[3]), expl + 33 + 16);
    // Nonce: salt ‖ seq (GCM, seq also on the wire) or iv XOR seq (ChaCha20).
    uint8_t nonce[12];
    if (gcm) {
      std::memcpy(nonce, iv.data(), 4);
      store_be64(nonce + 4, seq);
      EXPECT_EQ(Bytes(wire.begin() + 5, wire.begin() + 13), Bytes(nonce + 4, nonce + 12));
    } else {
      for (int i = 0; i < 12; ++i) nonce[i] = iv[i];
      for (int i = 0; i < 8; ++i) nonce[4 + i] ^= static_cast<uint8_t>(seq >> (56 - 8 * i));
    }
    // AAD: seq ‖ type ‖ version ‖ plaintext length.
    Bytes aad(13);
    store_be64(aad.data(), seq);
    aad[8] = handshake;
    aad[9] = 3, aad[10] = 3;
    store_be16(&aad[11], 33);
    AeadKey k;
    ASSERT_EQ(k.init(s, key), Status::ok);
    Bytes ct(wire.begin() + 5 + expl, wire.end() - 16), tag(wire.end() - 16, wire.end());
    AeadJob j;
    j.key = &k;
    std::memcpy(j.nonce, nonce, 12);
    j.aad = aad;
    j.data = ct;
    j.tag = tag.data();
    rl::open({&j, 1});
    ASSERT_EQ(j.status, Status::ok);
    EXPECT_EQ(ct, plain);
  }
}

// ---- round trips, mutation, limits, alerts --------------------------------------

struct Pair12 {
  RecordProtection tx, rx;
  Pair12(Suite s, uint64_t seed, bool stop = true) : tx(v12()), rx(v12(stop)) {
    const Bytes key = random_bytes(suite_info(s).key_len, seed);
    const Bytes iv = random_bytes(s == Suite::chacha20_poly1305 ? 12 : 4, seed + 1);
    EXPECT_EQ(tx.install_tls12(Direction::seal, s, key, iv), Status::ok);
    EXPECT_EQ(rx.install_tls12(Direction::open, s, key, iv), Status::ok);
  }
};

TEST(Tls12, RoundTripsEverySuite) {
  const size_t sizes[] = {0, 1, 64, 576, 1350, 9000, kMaxPlaintext};
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      Pair12 p(s, 1);
      std::vector<Buf> bufs;
      for (size_t i = 0; i < std::size(sizes); ++i)
        bufs.emplace_back(random_bytes(sizes[i], i), i % 2 && sizes[i] ? handshake : application_data);
      std::vector<Record> recs;
      for (auto& b : bufs) recs.push_back(b.rec);
      ASSERT_EQ(p.tx.seal(recs), recs.size());
      for (size_t i = 0; i < recs.size(); ++i) EXPECT_EQ(recs[i].length, p.tx.sealed_size(sizes[i]));
      ASSERT_EQ(p.rx.open(recs), recs.size());
      for (size_t i = 0; i < recs.size(); ++i) {
        EXPECT_EQ(recs[i].type, bufs[i].rec.type);
        EXPECT_EQ(recs[i].seq, i);
        EXPECT_EQ(Bytes(recs[i].data(), recs[i].data() + recs[i].length), random_bytes(sizes[i], i));
      }
    }
  });
}

TEST(Tls12, EveryByteMutationFailsAndChangesNothing) {
  rl::test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      Pair12 p(s, 2, /*stop=*/false);
      for (int i = 0; i < 2; ++i) {
        Buf b(Bytes{1, 2, 3});
        ASSERT_EQ(p.tx.seal({&b.rec, 1}), 1u);
        Buf w = Buf::wire(b.bytes());
        ASSERT_EQ(p.rx.open({&w.rec, 1}), 1u);
      }
      Buf b(random_bytes(29, 3), handshake);
      ASSERT_EQ(p.tx.seal({&b.rec, 1}), 1u);
      const Bytes wire = b.bytes();
      for (size_t i = 0; i < wire.size(); ++i) {
        for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x40}}) {
          Bytes bad = wire;
          bad[i] ^= flip;
          Buf w = Buf::wire(bad);
          EXPECT_EQ(p.rx.open({&w.rec, 1}), 0u) << "byte " << i;
          EXPECT_EQ(w.bytes(), bad) << "byte " << i;
          EXPECT_EQ(p.rx.sequence(Direction::open), 2u);
          EXPECT_EQ(p.rx.counters(Direction::open).opened, 2u);
        }
      }
      Buf w = Buf::wire(wire);
      ASSERT_EQ(p.rx.open({&w.rec, 1}), 1u);
      EXPECT_EQ(w.bytes(), random_bytes(29, 3));
    }
  });
}

TEST(Tls12, OpenRules) {
  Pair12 p(Suite::aes128_gcm, 5, /*stop=*/false);
  auto open_one = [&](Bytes wire) {
    Buf w = Buf::wire(wire);
    p.rx.open({&w.rec, 1});
    return w.rec.status;
  };
  Bytes ccs = hex("1403030001 01");
  EXPECT_EQ(open_one(ccs), Status::malformed);  // a plaintext change_cipher_spec is not a protected record
  Bytes ccs2 = hex("1403030019");  // protected change_cipher_spec (renegotiation) of 2 bytes
  ccs2.resize(5 + 8 + 2 + 16, 0);
  EXPECT_EQ(open_one(ccs2), Status::malformed);
  Bytes short_rec = hex("1703030010");          // shorter than explicit nonce + tag
  short_rec.resize(5 + 16, 0);
  EXPECT_EQ(open_one(short_rec), Status::malformed);
  Bytes hs_empty = hex("1603030018");  // zero-length handshake fragment
  hs_empty.resize(5 + 24, 0);
  EXPECT_EQ(open_one(hs_empty), Status::malformed);
  Bytes alert3 = hex("150303001b");  // 3-byte alert
  alert3.resize(5 + 27, 0);
  EXPECT_EQ(open_one(alert3), Status::malformed);
  Bytes over(5 + 8 + kMaxPlaintext + 1 + 16, 0);  // plaintext 2^14+1
  over[0] = 23, over[1] = 3, over[2] = 3;
  store_be16(&over[3], static_cast<uint16_t>(over.size() - 5));
  EXPECT_EQ(open_one(over), Status::record_overflow);
  Bytes way_over(5 + kMaxCiphertext12 + 1, 0);
  way_over[0] = 23, way_over[1] = 3, way_over[2] = 3;
  store_be16(&way_over[3], static_cast<uint16_t>(way_over.size() - 5));
  EXPECT_EQ(open_one(way_over), Status::record_overflow);
  EXPECT_EQ(p.rx.sequence(Direction::open), 0u);
}

TEST(Tls12, LimitsAndSequenceExhaustion) {
  Limits l;
  l.soft_records = 1;
  l.hard_records = 2;
  RecordProtection tx(v12());
  ASSERT_EQ(tx.install_tls12(Direction::seal, Suite::chacha20_poly1305, random_bytes(32, 1),
                             random_bytes(12, 2), &l),
            Status::ok);
  std::vector<Buf> bufs;
  for (int i = 0; i < 3; ++i) bufs.emplace_back(Bytes(8, uint8_t(i)));
  std::vector<Record> recs;
  for (auto& b : bufs) recs.push_back(b.rec);
  EXPECT_EQ(tx.seal(recs), 2u);
  EXPECT_EQ(recs[2].status, Status::key_exhausted);
  KeyEvent e;
  ASSERT_TRUE(tx.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::soft_limit);
  ASSERT_TRUE(tx.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::hard_limit);

  RecordProtection tx2(v12());
  ASSERT_EQ(tx2.install_tls12(Direction::seal, Suite::aes128_gcm, random_bytes(16, 1),
                              random_bytes(4, 2), nullptr, ~uint64_t{0}),
            Status::ok);
  Buf a(Bytes(8, 1)), b(Bytes(8, 2));
  EXPECT_EQ(tx2.seal({&a.rec, 1}), 1u);
  EXPECT_EQ(tx2.seal({&b.rec, 1}), 0u);
  EXPECT_EQ(b.rec.status, Status::key_exhausted);
}

TEST(Tls12, AlertsAndClose) {
  Pair12 p(Suite::aes256_gcm, 6);
  Buf warn({}), cn({}), after(Bytes(4, 4));
  // A warning-level alert other than close_notify does not close TLS 1.2.
  ASSERT_EQ(p.tx.seal_alert(warn.rec, warning, user_canceled), Status::ok);
  EXPECT_FALSE(p.tx.closed(Direction::seal));
  ASSERT_EQ(p.tx.seal_alert(cn.rec, warning, close_notify), Status::ok);
  EXPECT_EQ(p.tx.seal({&after.rec, 1}), 0u);
  EXPECT_EQ(after.rec.status, Status::closed);
  Buf w0 = Buf::wire(warn.bytes()), w1 = Buf::wire(cn.bytes());
  Record recs[2] = {w0.rec, w1.rec};
  EXPECT_EQ(p.rx.open(recs), 2u);
  EXPECT_EQ(recs[1].type, alert);
  EXPECT_TRUE(p.rx.closed(Direction::open));
}

TEST(Tls12, InstallMisuse) {
  RecordProtection rp(v12());
  EXPECT_EQ(rp.install_tls12(Direction::seal, Suite::aes128_gcm, random_bytes(32, 1), random_bytes(4, 1)),
            Status::invalid_argument);
  EXPECT_EQ(rp.install_tls12(Direction::seal, Suite::aes128_gcm, random_bytes(16, 1), random_bytes(12, 1)),
            Status::invalid_argument);
  EXPECT_EQ(rp.install_tls12(Direction::seal, Suite::chacha20_poly1305, random_bytes(32, 1),
                             random_bytes(4, 1)),
            Status::invalid_argument);
  EXPECT_EQ(rp.install(Direction::seal, Suite::aes128_gcm, random_bytes(32, 1)), Status::invalid_argument);
  ASSERT_EQ(rp.install_tls12(Direction::seal, Suite::aes128_gcm, random_bytes(16, 1), random_bytes(4, 1)),
            Status::ok);
  EXPECT_EQ(rp.update(Direction::seal), Status::invalid_argument);  // no KeyUpdate in TLS 1.2
  EXPECT_EQ(rp.header_size(), 13u);
}

// As in tls13_test: bursts of the usual records (open's lean loops) mixed
// with what needs the general loops, opened at once and one at a time.
TEST(Tls12, MixedBurstsAgreeWithOneAtATime) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      Pair12 p(s, 33, /*stop=*/false);
      RecordProtection one(v12(false));
      const Bytes key = random_bytes(suite_info(s).key_len, 33);
      const Bytes iv = random_bytes(s == Suite::chacha20_poly1305 ? 12 : 4, 34);
      ASSERT_EQ(one.install_tls12(Direction::open, s, key, iv), Status::ok);
      test::Wire wire;
      auto seal_one = [&](const Bytes& content, uint8_t type) { wire.seal(p.tx, content, type); };
      for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 5; ++i) seal_one(random_bytes(1350 + i, 40 + i + round), application_data);
        seal_one(random_bytes(40, 52), handshake);
        seal_one(Bytes{1, 90}, alert);  // warning user_canceled: does not close
        seal_one({}, application_data);
        Bytes forged = wire.records[wire.records.size() - 4];
        forged.at(forged.size() - 3) ^= 0x01;  // a tag byte
        wire.refused(forged);
        wire.refused(random_bytes(9, 53));  // junk
        for (int i = 0; i < 40; ++i) seal_one(random_bytes(64 + 97 * i, 60 + i), application_data);
      }
      test::expect_burst_equals_one_by_one(p.rx, one, wire);
    }
  });
}


// Sealing one record at a time (seal_one) gives exactly what bursts give
// (seal_chunk's simple and general loops): bytes, statuses, sequence
// numbers, counters and events; with padding (ignored by 1.2), near the record limits, near
// the end of the sequence space, with an age limit, and across close_notify.
TEST(Tls12, SealOneAtATimeEqualsBursts) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      const Bytes key = random_bytes(suite_info(s).key_len, 70);
      const Bytes iv = random_bytes(s == Suite::chacha20_poly1305 ? 12 : 4, 71);
      test::seal_one_cases(
          v12(),
          [&](RecordProtection& rp, const Limits* l, uint64_t seq) {
            return rp.install_tls12(Direction::seal, s, key, iv, l, seq);
          },
          16);  // 16 bytes of tailroom fit 1.2
    }
  });
}

}  // namespace
}  // namespace rl::tls
