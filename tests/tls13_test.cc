// TLS 1.3 record protection (RFC 8446 §5): RFC 8448 §3 values typed in and
// from the shared vectors, round trips per suite and padding policy, every-byte
// mutation, key update, limits, close_notify, record_overflow, misuse.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/aead.h"
#include "core/hkdf.h"
#include "core/tls.h"
#include "tests/support/backends.h"
#include "tests/support/vectors.h"
#include "tests/tls_test_util.h"

namespace rl::tls {
namespace {

using rl::test::Bytes;
using rl::test::hex;
using rl::test::random_bytes;
using test::Buf;

Config v13(bool stop = true) {
  Config c;
  c.version = Version::tls13;
  c.stop_after_failure = stop;
  return c;
}

// ---- RFC 8448 §3, typed in from the RFC text ---------------------------------
// {client} derive write traffic keys for application data:
//   PRK (client_application_traffic_secret_0) 9e 40 64 6c ... 04 a5
//   key: 17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51
//   iv:  5b 78 92 3d ee 08 57 90 33 e5 23 d9
// {client} send application_data record: payload 00 01 02 ... 31 (50 bytes),
// complete record 17 03 03 00 43 a2 3f ... 15 e4; then the alert record
// (close_notify) 17 03 03 00 13 c9 87 ... e0 e3.
const char* kClientAppSecret =
    "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5";
const char* kClientAppKey = "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51";
const char* kClientAppIv = "5b 78 92 3d ee 08 57 90 33 e5 23 d9";
const char* kClientAppRecord =
    "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa 66 bc ab"
    " 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d"
    " ea e6 3a ee bb 21 69 49 15 e4";
const char* kClientCloseNotify = "17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3";

Bytes payload_0_to_31() {
  Bytes p(50);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i);
  return p;
}

TEST(Tls13, Rfc8448TypedInKeySchedule) {
  const Bytes secret = hex(kClientAppSecret);
  uint8_t key[16], iv[12];
  ASSERT_EQ(hkdf_expand_label(Hash::sha256, secret, "key", {}, key), Status::ok);
  ASSERT_EQ(hkdf_expand_label(Hash::sha256, secret, "iv", {}, iv), Status::ok);
  EXPECT_EQ(Bytes(key, key + 16), hex(kClientAppKey));
  EXPECT_EQ(Bytes(iv, iv + 12), hex(kClientAppIv));
}

TEST(Tls13, Rfc8448TypedInRecordsOpenAndSeal) {
  rl::test::for_each_backend([](Backend) {
    const Bytes secret = hex(kClientAppSecret);
    // Open: the server side reads the client's records.
    RecordProtection rx(v13());
    ASSERT_EQ(rx.install(Direction::open, Suite::aes128_gcm, secret), Status::ok);
    Buf a = Buf::wire(hex(kClientAppRecord));
    Buf c = Buf::wire(hex(kClientCloseNotify));
    Record burst[2] = {a.rec, c.rec};
    EXPECT_EQ(rx.open(burst), 2u);
    EXPECT_EQ(burst[0].status, Status::ok);
    EXPECT_EQ(burst[0].type, application_data);
    EXPECT_EQ(burst[0].seq, 0u);
    EXPECT_EQ(Bytes(burst[0].data(), burst[0].data() + burst[0].length), payload_0_to_31());
    EXPECT_EQ(burst[1].type, alert);
    EXPECT_EQ(Bytes(burst[1].data(), burst[1].data() + burst[1].length), hex("01 00"));
    EXPECT_TRUE(rx.closed(Direction::open));

    // Seal: the client produces the same bytes.
    RecordProtection tx(v13());
    ASSERT_EQ(tx.install(Direction::seal, Suite::aes128_gcm, secret), Status::ok);
    Buf p(payload_0_to_31());
    EXPECT_EQ(tx.seal({&p.rec, 1}), 1u);
    EXPECT_EQ(p.bytes(), hex(kClientAppRecord));
    Buf q({});
    EXPECT_EQ(tx.seal_alert(q.rec, warning, close_notify), Status::ok);
    EXPECT_EQ(q.bytes(), hex(kClientCloseNotify));
    Buf more(Bytes{1, 2, 3});
    EXPECT_EQ(tx.seal({&more.rec, 1}), 0u);
    EXPECT_EQ(more.rec.status, Status::closed);
  });
}

// ---- RFC 8448 §3 from the shared vectors -----------------------------------

TEST(Tls13, Rfc8448VectorsTrafficKeys) {
  auto v = rl::test::load_vectors("tls13_rfc8448.json");
  RL_SKIP_IF_MISSING(v, "tls13_rfc8448.json");
  size_t n = 0;
  for (auto& [name, tk] : (*v)["traffic_keys"].items()) {
    SCOPED_TRACE(name);
    const Bytes secret = hex(tk["secret"].get<std::string>());
    uint8_t key[16], iv[12];
    ASSERT_EQ(hkdf_expand_label(Hash::sha256, secret, "key", {}, key), Status::ok);
    ASSERT_EQ(hkdf_expand_label(Hash::sha256, secret, "iv", {}, iv), Status::ok);
    EXPECT_EQ(Bytes(key, key + 16), hex(tk["key"].get<std::string>()));
    EXPECT_EQ(Bytes(iv, iv + 12), hex(tk["iv"].get<std::string>()));
    ++n;
  }
  EXPECT_EQ(n, 4u);
}

TEST(Tls13, Rfc8448VectorsEveryRecordOpensAndResealsByteExact) {
  auto v = rl::test::load_vectors("tls13_rfc8448.json");
  RL_SKIP_IF_MISSING(v, "tls13_rfc8448.json");
  size_t n = 0;
  for (auto& rec : (*v)["records"]) {
    SCOPED_TRACE(rec["id"].get<std::string>());
    // The traffic secret whose key this record uses.
    Bytes secret;
    for (auto& [name, tk] : (*v)["traffic_keys"].items())
      if (tk["key"] == rec["key"]) secret = hex(tk["secret"].get<std::string>());
    ASSERT_EQ(secret.size(), 32u);
    const uint64_t seq = rec["sequence_number_derived"].get<uint64_t>();
    const uint8_t type = rec["inner_content_type_derived"].get<uint8_t>();
    const Bytes wire = hex(rec["complete_record"].get<std::string>());
    const Bytes payload = hex(rec["payload"].get<std::string>());

    RecordProtection rx(v13());
    ASSERT_EQ(rx.install(Direction::open, Suite::aes128_gcm, secret, nullptr, seq), Status::ok);
    Buf w = Buf::wire(wire);
    ASSERT_EQ(rx.open({&w.rec, 1}), 1u) << to_string(w.rec.status);
    EXPECT_EQ(w.rec.type, type);
    EXPECT_EQ(w.rec.seq, seq);
    EXPECT_EQ(w.bytes(), payload);
    EXPECT_EQ(rx.sequence(Direction::open), seq + 1);

    RecordProtection tx(v13());
    ASSERT_EQ(tx.install(Direction::seal, Suite::aes128_gcm, secret, nullptr, seq), Status::ok);
    Buf p(payload, type);
    ASSERT_EQ(tx.seal({&p.rec, 1}), 1u);
    EXPECT_EQ(p.bytes(), wire);
    ++n;
  }
  EXPECT_EQ(n, 7u);
}

// ---- an independent reading of §5.2 for crafted records ---------------------

struct RawKeys {
  rl::AeadKey key;
  uint8_t iv[12];
  explicit RawKeys(Suite s, const Bytes& secret) {
    const SuiteInfo si = suite_info(s);
    uint8_t k[32];
    EXPECT_EQ(hkdf_expand_label(si.hash, secret, "key", {}, {k, si.key_len}), Status::ok);
    EXPECT_EQ(hkdf_expand_label(si.hash, secret, "iv", {}, iv), Status::ok);
    EXPECT_EQ(key.init(s, {k, si.key_len}), Status::ok);
  }
};

// Builds 23 03 03 len ‖ AEAD(inner) by hand: nonce = iv XOR seq, AAD = header.
Bytes raw_seal13(const RawKeys& k, uint64_t seq, const Bytes& inner) {
  Bytes rec(5 + inner.size() + 16);
  rec[0] = 23, rec[1] = 3, rec[2] = 3;
  rec[3] = static_cast<uint8_t>((inner.size() + 16) >> 8);
  rec[4] = static_cast<uint8_t>(inner.size() + 16);
  std::memcpy(rec.data() + 5, inner.data(), inner.size());
  AeadJob j;
  j.key = &k.key;
  for (int i = 0; i < 12; ++i) j.nonce[i] = k.iv[i];
  for (int i = 0; i < 8; ++i) j.nonce[4 + i] ^= static_cast<uint8_t>(seq >> (56 - 8 * i));
  j.aad = {rec.data(), 5};
  j.data = {rec.data() + 5, inner.size()};
  j.tag = rec.data() + 5 + inner.size();
  rl::seal({&j, 1});
  EXPECT_EQ(j.status, Status::ok);
  return rec;
}

TEST(Tls13, InnerPlaintextRules) {
  const Bytes secret = random_bytes(32, 7);
  RawKeys k(Suite::aes128_gcm, secret);
  auto open_one = [&](const Bytes& wire, Record* out = nullptr) {
    RecordProtection rx(v13(false));
    EXPECT_EQ(rx.install(Direction::open, Suite::aes128_gcm, secret), Status::ok);
    Buf w = Buf::wire(wire);
    rx.open({&w.rec, 1});
    if (w.rec.status != Status::ok) {
      EXPECT_EQ(w.bytes(), wire) << "a refused record must read as it arrived";
      EXPECT_EQ(rx.sequence(Direction::open), 0u);
    }
    if (out != nullptr) *out = w.rec;
    return w.rec.status;
  };
  // Padding is stripped, the real type is the last non-zero byte.
  Record r;
  EXPECT_EQ(open_one(raw_seal13(k, 0, hex("616263 16 000000000000")), &r), Status::ok);
  EXPECT_EQ(r.type, handshake);
  EXPECT_EQ(r.length, 3u);
  // All-zero inner plaintext (§5.4): no content type at all.
  EXPECT_EQ(open_one(raw_seal13(k, 0, Bytes(20, 0))), Status::malformed);
  // Zero-length handshake and alert are refused, zero-length application data is fine.
  EXPECT_EQ(open_one(raw_seal13(k, 0, hex("16 0000"))), Status::malformed);
  EXPECT_EQ(open_one(raw_seal13(k, 0, hex("15"))), Status::malformed);
  EXPECT_EQ(open_one(raw_seal13(k, 0, hex("17 00"))), Status::ok);
  // An alert is exactly two bytes; change_cipher_spec and unknown types are never protected.
  EXPECT_EQ(open_one(raw_seal13(k, 0, hex("010000 15"))), Status::malformed);
  EXPECT_EQ(open_one(raw_seal13(k, 0, hex("01 14"))), Status::malformed);
  EXPECT_EQ(open_one(raw_seal13(k, 0, hex("01 63"))), Status::malformed);
  // Inner plaintext of 2^14+1 is the maximum; one byte more is record_overflow.
  Bytes big(kMaxInner13, 0x41);
  big.back() = application_data;
  EXPECT_EQ(open_one(raw_seal13(k, 0, big), &r), Status::ok);
  EXPECT_EQ(r.length, kMaxPlaintext);
  Bytes over(kMaxInner13 + 1, 0x41);
  over.back() = application_data;
  EXPECT_EQ(open_one(raw_seal13(k, 0, over)), Status::record_overflow);
  // Outer length beyond 2^14+256 is refused before any AEAD work.
  Bytes huge(5 + kMaxCiphertext13 + 1, 0);
  huge[0] = 23, huge[1] = 3, huge[2] = 3;
  huge[3] = static_cast<uint8_t>((kMaxCiphertext13 + 1) >> 8);
  huge[4] = static_cast<uint8_t>(kMaxCiphertext13 + 1);
  EXPECT_EQ(open_one(huge), Status::record_overflow);
  // Outer type must be application_data; the compatibility change_cipher_spec is not protected.
  Bytes wrong = raw_seal13(k, 0, hex("01 17"));
  wrong[0] = 22;
  EXPECT_EQ(open_one(wrong), Status::malformed);
  EXPECT_EQ(open_one(hex("140303000101")), Status::not_protected);
  // Short or long views of a record.
  Bytes good = raw_seal13(k, 0, hex("01 17"));
  EXPECT_EQ(open_one(Bytes(good.begin(), good.end() - 1)), Status::truncated);
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_EQ(open_one(longer), Status::malformed);
  EXPECT_EQ(open_one(hex("170303")), Status::truncated);
  EXPECT_EQ(open_one(hex("1703030010")), Status::truncated);
  Bytes tag_only(5 + 16, 0);
  tag_only[0] = 23, tag_only[1] = 3, tag_only[2] = 3, tag_only[4] = 16;
  EXPECT_EQ(open_one(tag_only), Status::malformed);
}

// ---- round trips ------------------------------------------------------------

struct Pair {
  RecordProtection tx, rx;
  Bytes secret;
  Pair(Suite s, uint64_t seed, bool stop = true) : tx(v13()), rx(v13(stop)) {
    secret = random_bytes(hash_len(suite_info(s).hash), seed);
    EXPECT_EQ(tx.install(Direction::seal, s, secret), Status::ok);
    EXPECT_EQ(rx.install(Direction::open, s, secret), Status::ok);
  }
};

TEST(Tls13, RoundTripsEverySuiteAndPadding) {
  const size_t sizes[] = {0, 1, 15, 16, 100, 1350, 4000, kMaxPlaintext};
  const Padding pads[] = {{Padding::none, 0}, {Padding::multiple, 1}, {Padding::multiple, 64},
                          {Padding::multiple, 1000}, {Padding::full, 0}};
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      for (const Padding& pad : pads) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " pad kind " + std::to_string(pad.kind) +
                     " n " + std::to_string(pad.n));
        Pair p(s, 1);
        ASSERT_EQ(p.tx.set_padding(pad), Status::ok);
        std::vector<Buf> bufs;
        std::vector<Bytes> contents;
        for (size_t i = 0; i < std::size(sizes); ++i) {
          contents.push_back(random_bytes(sizes[i], 100 + i));
          bufs.emplace_back(contents.back(), sizes[i] == 0 ? application_data
                                                            : (i % 2 ? handshake : application_data));
        }
        std::vector<Record> recs;
        for (auto& b : bufs) recs.push_back(b.rec);
        ASSERT_EQ(p.tx.seal(recs), recs.size());
        for (size_t i = 0; i < recs.size(); ++i) {
          EXPECT_EQ(recs[i].seq, i);
          const size_t inner = recs[i].length - 5 - 16;
          EXPECT_EQ(recs[i].length, p.tx.sealed_size(sizes[i]));
          if (pad.kind == Padding::full) { EXPECT_EQ(inner, kMaxInner13); }
          if (pad.kind == Padding::multiple && inner < kMaxInner13) { EXPECT_EQ(inner % pad.n, 0u); }
          EXPECT_GE(inner, sizes[i] + 1);
          // Records are opened from the wire: only the record itself.
          recs[i].capacity = recs[i].offset + recs[i].length;
        }
        ASSERT_EQ(p.rx.open(recs), recs.size());
        for (size_t i = 0; i < recs.size(); ++i) {
          EXPECT_EQ(recs[i].status, Status::ok);
          EXPECT_EQ(recs[i].type, bufs[i].rec.type);
          EXPECT_EQ(Bytes(recs[i].data(), recs[i].data() + recs[i].length), contents[i]);
        }
        EXPECT_EQ(p.rx.counters(Direction::open).opened, recs.size());
        EXPECT_EQ(p.tx.counters(Direction::seal).sealed, recs.size());
      }
    }
  });
}

// ---- every-byte mutation ----------------------------------------------------

TEST(Tls13, EveryByteMutationFailsAndChangesNothing) {
  rl::test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      Pair p(s, 2, /*stop=*/false);
      // Move both sides off sequence 0 so the mutation runs at seq 3.
      for (int i = 0; i < 3; ++i) {
        Buf b(Bytes{1, 2, 3});
        ASSERT_EQ(p.tx.seal({&b.rec, 1}), 1u);
        Buf w = Buf::wire(b.bytes());
        ASSERT_EQ(p.rx.open({&w.rec, 1}), 1u);
      }
      ASSERT_EQ(p.tx.set_padding({Padding::multiple, 8}), Status::ok);
      Buf b(random_bytes(37, 3), handshake);
      ASSERT_EQ(p.tx.seal({&b.rec, 1}), 1u);
      const Bytes wire = b.bytes();
      const KeyCounters before = p.rx.counters(Direction::open);
      for (size_t i = 0; i < wire.size(); ++i) {
        for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
          Bytes bad = wire;
          bad[i] ^= flip;
          Buf w = Buf::wire(bad);
          EXPECT_EQ(p.rx.open({&w.rec, 1}), 0u) << "byte " << i;
          EXPECT_NE(w.rec.status, Status::ok);
          EXPECT_EQ(w.bytes(), bad) << "byte " << i << ": bytes must stay as they arrived";
          EXPECT_EQ(p.rx.sequence(Direction::open), 3u);
          EXPECT_EQ(p.rx.generation(Direction::open), 0u);
          EXPECT_EQ(p.rx.counters(Direction::open).opened, before.opened);
          EXPECT_FALSE(p.rx.closed(Direction::open));
        }
      }
      EXPECT_GT(p.rx.counters(Direction::open).auth_failures, 0u);
      // The untouched record still opens: key and sequence state are intact.
      Buf w = Buf::wire(wire);
      ASSERT_EQ(p.rx.open({&w.rec, 1}), 1u);
      EXPECT_EQ(w.bytes(), random_bytes(37, 3));
      EXPECT_EQ(w.rec.seq, 3u);
    }
  });
}

TEST(Tls13, FailureStopsTheOpenDirectionByDefault) {
  Pair p(Suite::aes128_gcm, 4);
  std::vector<Buf> bufs;
  for (int i = 0; i < 8; ++i) bufs.emplace_back(random_bytes(100, 50 + i));
  std::vector<Record> recs;
  for (auto& b : bufs) recs.push_back(b.rec);
  ASSERT_EQ(p.tx.seal(recs), 8u);
  std::vector<Bytes> wire;
  for (auto& r : recs) wire.emplace_back(r.data(), r.data() + r.length);
  recs[5].data()[20] ^= 1;
  const Bytes bad5(recs[5].data(), recs[5].data() + recs[5].length);
  EXPECT_EQ(p.rx.open(recs), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(recs[i].status, Status::ok);
  EXPECT_EQ(recs[5].status, Status::auth_failed);
  EXPECT_EQ(Bytes(recs[5].data(), recs[5].data() + recs[5].length), bad5);
  for (int i = 6; i < 8; ++i) {
    EXPECT_EQ(recs[i].status, Status::closed);
    // They authenticated in the burst, and were put back as they arrived.
    EXPECT_EQ(Bytes(recs[i].data(), recs[i].data() + recs[i].length), wire[i]);
  }
  EXPECT_EQ(p.rx.sequence(Direction::open), 5u);
  EXPECT_EQ(p.rx.failure(), Status::auth_failed);
  EXPECT_TRUE(p.rx.closed(Direction::open));
  Buf again = Buf::wire(wire[5]);
  EXPECT_EQ(p.rx.open({&again.rec, 1}), 0u);
  EXPECT_EQ(again.rec.status, Status::closed);
}

TEST(Tls13, WithoutStopAForgedRecordIsAsIfItNeverArrived) {
  Pair p(Suite::chacha20_poly1305, 5, /*stop=*/false);
  std::vector<Buf> bufs;
  for (int i = 0; i < 6; ++i) bufs.emplace_back(random_bytes(64, 60 + i));
  std::vector<Record> sealed;
  for (auto& b : bufs) sealed.push_back(b.rec);
  ASSERT_EQ(p.tx.seal(sealed), 6u);
  std::vector<Buf> wire;
  for (int i = 0; i < 6; ++i) {
    if (i == 3) wire.push_back(Buf::wire(random_bytes(5, 9)));  // junk, not even a record
    wire.push_back(Buf::wire(Bytes(sealed[i].data(), sealed[i].data() + sealed[i].length)));
  }
  Bytes forged(5 + 40, 0x33);
  forged[0] = 23, forged[1] = 3, forged[2] = 3, forged[3] = 0, forged[4] = 40;
  wire.insert(wire.begin() + 1, Buf::wire(forged));
  std::vector<Record> recs;
  for (auto& w : wire) recs.push_back(w.rec);
  EXPECT_EQ(p.rx.open(recs), 6u);
  EXPECT_EQ(recs[1].status, Status::auth_failed);
  EXPECT_NE(recs[4].status, Status::ok);  // the junk
  uint64_t want = 0;
  for (auto& r : recs)
    if (r.status == Status::ok) { EXPECT_EQ(r.seq, want++); }
  EXPECT_EQ(p.rx.sequence(Direction::open), 6u);
}

// ---- key update ---------------------------------------------------------------

TEST(Tls13, KeyUpdateBothDirections) {
  for (Suite s : kAllSuites) {
    SCOPED_TRACE(suite_info(s).name);
    const Hash h = suite_info(s).hash;
    const Bytes c_secret = random_bytes(hash_len(h), 11), s_secret = random_bytes(hash_len(h), 12);
    RecordProtection client(v13()), server(v13());
    ASSERT_EQ(client.install(Direction::seal, s, c_secret), Status::ok);
    ASSERT_EQ(client.install(Direction::open, s, s_secret), Status::ok);
    ASSERT_EQ(server.install(Direction::seal, s, s_secret), Status::ok);
    ASSERT_EQ(server.install(Direction::open, s, c_secret), Status::ok);
    auto send = [](RecordProtection& from, RecordProtection& to, const Bytes& msg, uint8_t type) {
      Buf b(msg, type);
      EXPECT_EQ(from.seal({&b.rec, 1}), 1u);
      Buf w = Buf::wire(b.bytes());
      to.open({&w.rec, 1});
      if (w.rec.status == Status::ok) { EXPECT_EQ(w.bytes(), msg); }
      return w.rec.status;
    };
    for (int i = 0; i < 3; ++i) ASSERT_EQ(send(client, server, random_bytes(20, i), application_data), Status::ok);
    ASSERT_EQ(send(server, client, random_bytes(20, 5), application_data), Status::ok);

    // The client sends KeyUpdate(update_requested) and moves its write key.
    const Bytes ku_req = hex("18 000001 01"), ku_not = hex("18 000001 00");
    ASSERT_EQ(send(client, server, ku_req, handshake), Status::ok);
    ASSERT_EQ(client.update(Direction::seal), Status::ok);
    ASSERT_EQ(server.update(Direction::open), Status::ok);
    EXPECT_EQ(client.sequence(Direction::seal), 0u);
    EXPECT_EQ(server.sequence(Direction::open), 0u);
    EXPECT_EQ(client.generation(Direction::seal), 1u);
    // The server answers and moves its own write key.
    ASSERT_EQ(send(server, client, ku_not, handshake), Status::ok);
    ASSERT_EQ(server.update(Direction::seal), Status::ok);
    ASSERT_EQ(client.update(Direction::open), Status::ok);
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(send(client, server, random_bytes(30, 20 + i), application_data), Status::ok);
      ASSERT_EQ(send(server, client, random_bytes(30, 30 + i), application_data), Status::ok);
    }
    // The new key is the RFC 8446 §7.2 one: a fresh object installed with
    // HKDF-Expand-Label(secret, "traffic upd", "", Hash.length) reads it.
    Bytes next(hash_len(h));
    ASSERT_EQ(hkdf_expand_label(h, c_secret, "traffic upd", {}, next), Status::ok);
    RecordProtection fresh(v13());
    ASSERT_EQ(fresh.install(Direction::open, s, next, nullptr, 3), Status::ok);
    ASSERT_EQ(send(client, fresh, random_bytes(10, 40), application_data), Status::ok);
    // A second update on one side only: the other side can no longer read.
    ASSERT_EQ(client.update(Direction::seal), Status::ok);
    EXPECT_EQ(client.generation(Direction::seal), 2u);
    EXPECT_EQ(send(client, server, random_bytes(10, 41), application_data), Status::auth_failed);
  }
}

TEST(Tls13, KeyUpdateEventsAndCounters) {
  Pair p(Suite::aes256_gcm, 13);
  KeyEvent e;
  while (p.tx.poll_event(e)) {}
  Buf b(Bytes(10, 1));
  ASSERT_EQ(p.tx.seal({&b.rec, 1}), 1u);
  EXPECT_EQ(p.tx.counters(Direction::seal).sealed, 1u);
  ASSERT_EQ(p.tx.update(Direction::seal), Status::ok);
  EXPECT_EQ(p.tx.counters(Direction::seal).sealed, 0u);
  // The expired old key is reported.
  bool expired = false;
  while (p.tx.poll_event(e))
    if (e.kind == KeyEvent::expired && e.epoch == 0 && e.dir == Direction::seal) expired = true;
  EXPECT_TRUE(expired);
}

// ---- limits -----------------------------------------------------------------

TEST(Tls13, RecordLimitsSoftEventThenHardRefusal) {
  Limits l;
  l.soft_records = 2;
  l.hard_records = 3;
  const Bytes secret = random_bytes(32, 14);
  RecordProtection tx(v13());
  ASSERT_EQ(tx.install(Direction::seal, Suite::aes128_gcm, secret, &l), Status::ok);
  std::vector<Buf> bufs;
  for (int i = 0; i < 5; ++i) bufs.emplace_back(Bytes(10, uint8_t(i)));
  std::vector<Record> recs;
  for (auto& b : bufs) recs.push_back(b.rec);
  EXPECT_EQ(tx.seal(recs), 3u);
  EXPECT_EQ(recs[3].status, Status::key_exhausted);
  EXPECT_EQ(recs[4].status, Status::key_exhausted);
  EXPECT_EQ(recs[3].length, 10u);  // untouched
  EXPECT_EQ(tx.sequence(Direction::seal), 3u);
  std::vector<KeyEvent::Kind> kinds;
  KeyEvent e;
  while (tx.poll_event(e)) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<KeyEvent::Kind>{KeyEvent::soft_limit, KeyEvent::hard_limit}));
  // A key update gives a fresh budget.
  ASSERT_EQ(tx.update(Direction::seal), Status::ok);
  Buf again(Bytes(10, 9));
  EXPECT_EQ(tx.seal({&again.rec, 1}), 1u);
}

TEST(Tls13, AgeLimitsOnAnInjectedClock) {
  struct Fake {
    uint64_t t = 5000;
    static uint64_t read(void* c) { return static_cast<Fake*>(c)->t; }
  } fake;
  Config c = v13();
  c.clock = Clock{&Fake::read, &fake};
  Limits l;
  l.soft_age_s = 10;
  l.hard_age_s = 20;
  const Bytes secret = random_bytes(32, 23);
  RecordProtection tx(c), rx(c);
  ASSERT_EQ(tx.install(Direction::seal, Suite::aes128_gcm, secret, &l), Status::ok);
  ASSERT_EQ(rx.install(Direction::open, Suite::aes128_gcm, secret, &l), Status::ok);
  auto seal_one = [&](Bytes& wire) {
    Buf b(Bytes(8, 1));
    tx.seal({&b.rec, 1});
    wire = b.bytes();
    return b.rec.status;
  };
  Bytes w1, w2, w3;
  EXPECT_EQ(seal_one(w1), Status::ok);
  fake.t += 10;
  EXPECT_EQ(seal_one(w2), Status::ok);
  KeyEvent e;
  ASSERT_TRUE(tx.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::soft_limit);
  fake.t += 10;
  EXPECT_EQ(seal_one(w3), Status::key_expired);
  Buf r1 = Buf::wire(w1);
  EXPECT_EQ(rx.open({&r1.rec, 1}), 0u);
  EXPECT_EQ(r1.rec.status, Status::key_expired);
}

TEST(Tls13, DefaultLimitIsRfc8446RecordLimitForGcm) {
  RecordProtection tx(v13());
  ASSERT_EQ(tx.install(Direction::seal, Suite::aes128_gcm, random_bytes(32, 1)), Status::ok);
  // RFC 8446 §5.5: 2^24.5 full-size records for AES-GCM.
  EXPECT_EQ(default_limits(Protocol::tls13, Suite::aes128_gcm).hard_records, 23726566u);
}

TEST(Tls13, SequenceNeverWraps) {
  const Bytes secret = random_bytes(32, 15);
  const uint64_t start = ~uint64_t{0} - 1;
  RecordProtection tx(v13()), rx(v13());
  ASSERT_EQ(tx.install(Direction::seal, Suite::chacha20_poly1305, secret, nullptr, start), Status::ok);
  ASSERT_EQ(rx.install(Direction::open, Suite::chacha20_poly1305, secret, nullptr, start), Status::ok);
  std::vector<Buf> bufs;
  for (int i = 0; i < 3; ++i) bufs.emplace_back(Bytes(10, uint8_t(i)));
  std::vector<Record> recs;
  for (auto& b : bufs) recs.push_back(b.rec);
  EXPECT_EQ(tx.seal(recs), 2u);
  EXPECT_EQ(recs[0].seq, start);
  EXPECT_EQ(recs[1].seq, ~uint64_t{0});
  EXPECT_EQ(recs[2].status, Status::key_exhausted);
  recs.pop_back();
  EXPECT_EQ(rx.open(recs), 2u);
  // A third record under this key cannot exist; the open side refuses too.
  Bytes third = hex("170303001b");
  third.resize(5 + 27, 0);
  Buf w = Buf::wire(third);
  EXPECT_EQ(rx.open({&w.rec, 1}), 0u);
  EXPECT_EQ(w.rec.status, Status::key_exhausted);
}

TEST(Tls13, IntegrityLimitWipesTheKey) {
  Limits l;
  l.max_auth_failures = 2;
  const Bytes secret = random_bytes(32, 22);
  RecordProtection tx(v13()), rx(v13(/*stop=*/false));
  ASSERT_EQ(tx.install(Direction::seal, Suite::aes128_gcm, secret), Status::ok);
  ASSERT_EQ(rx.install(Direction::open, Suite::aes128_gcm, secret, &l), Status::ok);
  std::vector<Buf> bufs;
  for (int i = 0; i < 3; ++i) bufs.emplace_back(Bytes(20, uint8_t(i)));
  std::vector<Record> recs;
  for (auto& b : bufs) recs.push_back(b.rec);
  ASSERT_EQ(tx.seal(recs), 3u);
  const Bytes good1(recs[1].data(), recs[1].data() + recs[1].length);
  recs[0].data()[10] ^= 1;  // forged
  Buf forged2 = Buf::wire(Bytes(recs[0].data(), recs[0].data() + recs[0].length));
  forged2.rec.buf[12] ^= 2;
  Record burst[3] = {recs[0], forged2.rec, recs[1]};
  EXPECT_EQ(rx.open(burst), 0u);
  EXPECT_EQ(burst[0].status, Status::auth_failed);
  EXPECT_EQ(burst[1].status, Status::auth_failed);
  EXPECT_EQ(burst[2].status, Status::key_exhausted);  // the second failure reached the limit
  EXPECT_EQ(Bytes(burst[2].data(), burst[2].data() + burst[2].length), good1);
  KeyEvent e;
  bool integrity = false;
  while (rx.poll_event(e)) integrity |= e.kind == KeyEvent::integrity_limit;
  EXPECT_TRUE(integrity);
  Buf again = Buf::wire(good1);
  EXPECT_EQ(rx.open({&again.rec, 1}), 0u);
  EXPECT_EQ(again.rec.status, Status::key_expired);
}

// ---- close_notify and alerts -------------------------------------------------

TEST(Tls13, CloseNotifyBothWays) {
  Pair p(Suite::aes128_gcm, 16);
  Buf a(Bytes(10, 1)), c({}), after(Bytes(10, 2));
  ASSERT_EQ(p.tx.seal({&a.rec, 1}), 1u);
  ASSERT_EQ(p.tx.seal_alert(c.rec, warning, close_notify), Status::ok);
  EXPECT_TRUE(p.tx.closed(Direction::seal));
  EXPECT_EQ(p.tx.seal({&after.rec, 1}), 0u);
  EXPECT_EQ(after.rec.status, Status::closed);
  EXPECT_EQ(after.rec.length, 10u);
  EXPECT_EQ(p.tx.sequence(Direction::seal), 2u);

  // Open app ‖ close_notify ‖ a record after it, in one burst.
  RecordProtection tx2(v13());
  ASSERT_EQ(tx2.install(Direction::seal, Suite::aes128_gcm, p.secret, nullptr, 2), Status::ok);
  Buf late(Bytes(10, 3));
  ASSERT_EQ(tx2.seal({&late.rec, 1}), 1u);
  const Bytes late_wire = late.bytes();
  Buf w0 = Buf::wire(a.bytes()), w1 = Buf::wire(c.bytes()), w2 = Buf::wire(late_wire);
  Record recs[3] = {w0.rec, w1.rec, w2.rec};
  EXPECT_EQ(p.rx.open(recs), 2u);
  EXPECT_EQ(recs[1].type, alert);
  EXPECT_EQ(recs[1].data()[0], warning);
  EXPECT_EQ(recs[1].data()[1], close_notify);
  EXPECT_EQ(recs[2].status, Status::closed);
  EXPECT_EQ(Bytes(recs[2].data(), recs[2].data() + recs[2].length), late_wire);
  EXPECT_TRUE(p.rx.closed(Direction::open));
  EXPECT_EQ(p.rx.failure(), Status::ok);
}

TEST(Tls13, ErrorAlertsCloseUserCanceledDoesNot) {
  {
    Pair p(Suite::aes128_gcm, 17);
    Buf c({});
    ASSERT_EQ(p.tx.seal_alert(c.rec, warning, user_canceled), Status::ok);
    EXPECT_FALSE(p.tx.closed(Direction::seal));
    Buf w = Buf::wire(c.bytes());
    ASSERT_EQ(p.rx.open({&w.rec, 1}), 1u);
    EXPECT_FALSE(p.rx.closed(Direction::open));
  }
  {
    Pair p(Suite::aes128_gcm, 18);
    Buf c({});
    ASSERT_EQ(p.tx.seal_alert(c.rec, fatal, bad_record_mac), Status::ok);
    EXPECT_TRUE(p.tx.closed(Direction::seal));
    Buf w = Buf::wire(c.bytes());
    ASSERT_EQ(p.rx.open({&w.rec, 1}), 1u);
    EXPECT_EQ(w.rec.type, alert);
    EXPECT_TRUE(p.rx.closed(Direction::open));
  }
}

// ---- seal-side refusals and misuse --------------------------------------------

TEST(Tls13, SealRefusalsUseNoSequenceNumber) {
  Pair p(Suite::aes128_gcm, 19);
  Buf over(Bytes(kMaxPlaintext + 1, 1));
  Buf no_head(Bytes(10, 1), application_data, 4);
  Buf no_tail(Bytes(10, 1), application_data, 16, 16);  // needs 1 + 16
  Buf empty_hs({}, handshake);
  Buf bad_type(Bytes(3, 1), change_cipher_spec);
  Buf long_alert(Bytes(3, 1), alert);
  Record recs[6] = {over.rec, no_head.rec, no_tail.rec, empty_hs.rec, bad_type.rec, long_alert.rec};
  EXPECT_EQ(p.tx.seal(recs), 0u);
  EXPECT_EQ(recs[0].status, Status::record_overflow);
  EXPECT_EQ(recs[1].status, Status::buffer_too_small);
  EXPECT_EQ(recs[2].status, Status::buffer_too_small);
  EXPECT_EQ(recs[3].status, Status::invalid_argument);
  EXPECT_EQ(recs[4].status, Status::invalid_argument);
  EXPECT_EQ(recs[5].status, Status::invalid_argument);
  EXPECT_EQ(p.tx.sequence(Direction::seal), 0u);
  Buf full_pad(Bytes(10, 1), application_data, 16, 100);
  ASSERT_EQ(p.tx.set_padding({Padding::full, 0}), Status::ok);
  EXPECT_EQ(p.tx.seal({&full_pad.rec, 1}), 0u);
  EXPECT_EQ(full_pad.rec.status, Status::buffer_too_small);
  EXPECT_EQ(p.tx.set_padding({Padding::multiple, 0}), Status::invalid_argument);
}

TEST(Tls13, InstallMisuseIsRefusedAndChangesNothing) {
  RecordProtection rp(v13());
  Buf b(Bytes(5, 1));
  EXPECT_EQ(rp.seal({&b.rec, 1}), 0u);
  EXPECT_EQ(b.rec.status, Status::unknown_epoch);
  EXPECT_EQ(rp.update(Direction::seal), Status::invalid_argument);
  const Bytes secret = random_bytes(32, 20);
  ASSERT_EQ(rp.install(Direction::seal, Suite::aes128_gcm, secret), Status::ok);
  // Wrong secret lengths for the suite's hash (SHA-384 for AES-256-GCM).
  EXPECT_EQ(rp.install(Direction::seal, Suite::aes256_gcm, secret), Status::invalid_argument);
  EXPECT_EQ(rp.install(Direction::seal, Suite::aes128_gcm, random_bytes(31, 1)), Status::invalid_argument);
  EXPECT_EQ(rp.install(Direction::seal, Suite::aes128_gcm, random_bytes(48, 1)), Status::invalid_argument);
  EXPECT_EQ(rp.install(Direction::seal, Suite::aes128_gcm, {}), Status::invalid_argument);
  // TLS 1.2 keys on a TLS 1.3 object.
  EXPECT_EQ(rp.install_tls12(Direction::seal, Suite::aes128_gcm, random_bytes(16, 1), random_bytes(4, 1)),
            Status::invalid_argument);
  // The first key is still the one in use.
  RecordProtection rx(v13());
  ASSERT_EQ(rx.install(Direction::open, Suite::aes128_gcm, secret), Status::ok);
  ASSERT_EQ(rp.seal({&b.rec, 1}), 1u);
  Buf w = Buf::wire(b.bytes());
  EXPECT_EQ(rx.open({&w.rec, 1}), 1u);
  // Expire wipes: later use says key_expired.
  ASSERT_EQ(rp.expire(Direction::seal), Status::ok);
  Buf c(Bytes(5, 1));
  EXPECT_EQ(rp.seal({&c.rec, 1}), 0u);
  EXPECT_EQ(c.rec.status, Status::key_expired);
  ASSERT_EQ(rx.expire(Direction::open), Status::ok);
  Buf w2 = Buf::wire(b.bytes());
  EXPECT_EQ(rx.open({&w2.rec, 1}), 0u);
  EXPECT_EQ(w2.rec.status, Status::key_expired);
}

TEST(Tls13, LargeBurstsCrossTheInternalChunk) {
  Pair p(Suite::aes256_gcm, 21);
  std::vector<Buf> bufs;
  for (int i = 0; i < 150; ++i) bufs.emplace_back(random_bytes(i, 200 + i), application_data, 16, 64);
  std::vector<Record> recs;
  for (auto& b : bufs) recs.push_back(b.rec);
  ASSERT_EQ(p.tx.seal(recs), 150u);
  ASSERT_EQ(p.rx.open(recs), 150u);
  for (int i = 0; i < 150; ++i) {
    EXPECT_EQ(recs[i].seq, uint64_t(i));
    EXPECT_EQ(Bytes(recs[i].data(), recs[i].data() + recs[i].length), random_bytes(i, 200 + i));
  }
}

// Bursts that mix the usual records (open's lean loops) with every record
// that needs its general loops: padded, another inner type, an alert that
// does not close, a forged record, junk, an unprotected ChangeCipherSpec, an
// empty application_data record. Without stop-after-failure, so that
// everything after a refusal still opens.
TEST(Tls13, MixedBurstsAgreeWithOneAtATime) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      Pair p(s, 31, /*stop=*/false);
      RecordProtection one(v13(false));
      ASSERT_EQ(one.install(Direction::open, s, p.secret), Status::ok);
      test::Wire wire;
      auto seal_one = [&](const Bytes& content, uint8_t type, Padding pad = {}) {
        EXPECT_EQ(p.tx.set_padding(pad), Status::ok);
        wire.seal(p.tx, content, type);
      };
      for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 5; ++i) seal_one(random_bytes(1350 + i, 40 + i + round), application_data);
        seal_one(random_bytes(100, 50), application_data, {Padding::multiple, 64});
        seal_one(random_bytes(3, 51), application_data);
        seal_one(random_bytes(40, 52), handshake);
        seal_one(Bytes{1, 90}, alert);  // warning user_canceled: does not close
        seal_one({}, application_data);
        Bytes forged = wire.records[wire.records.size() - 3];
        forged[forged.size() / 2] ^= 0x40;
        wire.refused(forged);
        wire.refused(Bytes{change_cipher_spec, 3, 3, 0, 1, 1});
        wire.refused(random_bytes(9, 53));  // junk
        for (int i = 0; i < 40; ++i) seal_one(random_bytes(64 + 97 * i, 60 + i), application_data);
      }
      test::expect_burst_equals_one_by_one(p.rx, one, wire);
    }
  });
}


// Sealing one record at a time (seal_one) gives exactly what bursts give
// (seal_chunk's simple and general loops): bytes, statuses, sequence
// numbers, counters and events; with padding, near the record limits, near
// the end of the sequence space, with an age limit, and across close_notify.
TEST(Tls13, SealOneAtATimeEqualsBursts) {
  rl::test::for_each_backend([&](Backend) {
    for (Suite s : kAllSuites) {
      SCOPED_TRACE(suite_info(s).name);
      const Bytes secret = random_bytes(hash_len(suite_info(s).hash), 70);
      test::seal_one_cases(
          v13(),
          [&](RecordProtection& rp, const Limits* l, uint64_t seq) {
            return rp.install(Direction::seal, s, secret, l, seq);
          },
          15);
    }
  });
}

}  // namespace
}  // namespace rl::tls
