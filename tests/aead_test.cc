// The AEAD job layer: Wycheproof and RFC 8439 vectors, every-byte mutation,
// non-destructive failed open, bursts with mixed keys, misuse, wiping.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "core/aead.h"
#include "tests/support/backends.h"
#include "tests/support/vectors.h"

namespace rl {
namespace {

using test::Bytes;
using test::hex;

struct Sealed {
  Bytes data;
  Bytes tag;
};

Sealed seal_one(const AeadKey& key, const Bytes& nonce, const Bytes& aad, const Bytes& msg) {
  Sealed s{msg, Bytes(key.tag_len())};
  AeadJob j;
  j.key = &key;
  std::memcpy(j.nonce, nonce.data(), kNonceLen);
  j.aad = aad;
  j.data = s.data;
  j.tag = s.tag.data();
  seal({&j, 1});
  EXPECT_EQ(j.status, Status::ok);
  return s;
}

Status open_one(const AeadKey& key, const Bytes& nonce, const Bytes& aad, Bytes& data,
                Bytes& tag) {
  AeadJob j;
  j.key = &key;
  std::memcpy(j.nonce, nonce.data(), kNonceLen);
  j.aad = aad;
  j.data = data;
  j.tag = tag.data();
  open({&j, 1});
  return j.status;
}

void run_wycheproof(const char* file, Suite s128, Suite s256) {
  auto doc = test::load_wycheproof(file);
  if (!doc) GTEST_SKIP() << file << " not found under " << test::shared_dir() / "vectors/wycheproof";
  size_t ran = 0;
  test::for_each_backend([&](Backend) {
    for (const auto& g : (*doc)["testGroups"]) {
      if (g["ivSize"] != 96 || g["tagSize"] != 128) continue;  // 12-byte nonces, full tags
      const int ks = g["keySize"];
      if (ks != 128 && ks != 256) continue;
      const Suite suite = ks == 128 ? s128 : s256;
      for (const auto& t : g["tests"]) {
        SCOPED_TRACE("tcId " + std::to_string(t["tcId"].get<int>()));
        const Bytes key = hex(t["key"].get<std::string>()), iv = hex(t["iv"].get<std::string>());
        const Bytes aad = hex(t["aad"].get<std::string>()), msg = hex(t["msg"].get<std::string>());
        const Bytes ct = hex(t["ct"].get<std::string>()), tag = hex(t["tag"].get<std::string>());
        const bool valid = t["result"] != "invalid";
        auto k = std::make_unique<AeadKey>();
        ASSERT_EQ(k->init(suite, key), Status::ok);
        Bytes data = ct, tg = tag;
        const Status st = open_one(*k, iv, aad, data, tg);
        if (valid) {
          ASSERT_EQ(st, Status::ok);
          EXPECT_EQ(data, msg);
          const Sealed s = seal_one(*k, iv, aad, msg);
          EXPECT_EQ(s.data, ct);
          EXPECT_EQ(s.tag, tag);
        } else {
          EXPECT_EQ(st, Status::auth_failed);
          EXPECT_EQ(data, ct) << "failed open must leave the bytes as they arrived";
        }
        ++ran;
      }
    }
  });
  EXPECT_GT(ran, 100u);
}

TEST(Aead, WycheproofAesGcm) { run_wycheproof("aes_gcm_test.json", Suite::aes128_gcm, Suite::aes256_gcm); }

TEST(Aead, WycheproofChaCha20Poly1305) {
  run_wycheproof("chacha20_poly1305_test.json", Suite::chacha20_poly1305, Suite::chacha20_poly1305);
}

// RFC 8439 §2.8.2, typed in from the RFC.
TEST(Aead, Rfc8439Section282) {
  const Bytes key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const Bytes nonce = hex("070000004041424344454647");
  const Bytes aad = hex("50515253c0c1c2c3c4c5c6c7");
  const std::string text =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.";
  const Bytes msg(text.begin(), text.end());
  const Bytes ct = hex(
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da"
      "92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585"
      "808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116");
  const Bytes tag = hex("1ae10b594f09e26a7e902ecbd0600691");
  test::for_each_backend([&](Backend) {
    AeadKey k;
    ASSERT_EQ(k.init(Suite::chacha20_poly1305, key), Status::ok);
    const Sealed s = seal_one(k, nonce, aad, msg);
    EXPECT_EQ(s.data, ct);
    EXPECT_EQ(s.tag, tag);
    Bytes d = ct, t = tag;
    ASSERT_EQ(open_one(k, nonce, aad, d, t), Status::ok);
    EXPECT_EQ(d, msg);
  });
}

class AeadSuiteTest : public ::testing::TestWithParam<Suite> {};

// Every byte of ciphertext, tag, AAD and nonce, flipped, must fail open and
// leave the ciphertext as it arrived.
TEST_P(AeadSuiteTest, EveryByteMutationFails) {
  const Suite s = GetParam();
  test::for_each_backend([&](Backend) {
    AeadKey k;
    ASSERT_EQ(k.init(s, test::random_bytes(suite_info(s).key_len, 1)), Status::ok);
    const Bytes nonce = test::random_bytes(12, 2), aad = test::random_bytes(13, 3);
    const Bytes msg = test::random_bytes(77, 4);
    const Sealed sealed = seal_one(k, nonce, aad, msg);
    auto expect_fail = [&](Bytes n, Bytes a, Bytes d, Bytes t) {
      const Bytes before = d;
      EXPECT_EQ(open_one(k, n, a, d, t), Status::auth_failed);
      EXPECT_EQ(d, before);
    };
    for (size_t i = 0; i < sealed.data.size(); ++i) {
      Bytes d = sealed.data;
      d[i] ^= 0x01;
      expect_fail(nonce, aad, d, sealed.tag);
    }
    for (size_t i = 0; i < sealed.tag.size(); ++i) {
      Bytes t = sealed.tag;
      t[i] ^= 0x80;
      expect_fail(nonce, aad, sealed.data, t);
    }
    for (size_t i = 0; i < aad.size(); ++i) {
      Bytes a = aad;
      a[i] ^= 0x10;
      expect_fail(nonce, a, sealed.data, sealed.tag);
    }
    for (size_t i = 0; i < nonce.size(); ++i) {
      Bytes n = nonce;
      n[i] ^= 0x04;
      expect_fail(n, aad, sealed.data, sealed.tag);
    }
    Bytes d = sealed.data, t = sealed.tag;
    ASSERT_EQ(open_one(k, nonce, aad, d, t), Status::ok);
    EXPECT_EQ(d, msg);
  });
}

// A burst mixing suites, keys, lengths (0..), AAD sizes and one forged packet:
// each job gets its own Status and the forged one does not fail its neighbours.
TEST_P(AeadSuiteTest, BurstMixedKeysAndLengths) {
  const Suite s = GetParam();
  test::for_each_backend([&](Backend) {
    AeadKey k1, k2;
    ASSERT_EQ(k1.init(s, test::random_bytes(suite_info(s).key_len, 11)), Status::ok);
    ASSERT_EQ(k2.init(Suite::aes128_gcm, test::random_bytes(16, 12)), Status::ok);
    constexpr size_t kN = 40;
    std::vector<Bytes> plain(kN), data(kN), tags(kN, Bytes(16)), aads(kN);
    std::vector<AeadJob> jobs(kN);
    for (size_t i = 0; i < kN; ++i) {
      plain[i] = test::random_bytes(i * 37 % 300, 100 + i);
      data[i] = plain[i];
      aads[i] = test::random_bytes(i % 21, 200 + i);
      jobs[i].key = i % 3 == 0 ? &k2 : &k1;
      const Bytes n = test::random_bytes(12, 300 + i);
      std::memcpy(jobs[i].nonce, n.data(), 12);
      jobs[i].aad = aads[i];
      jobs[i].data = data[i];
      jobs[i].tag = tags[i].data();
    }
    seal(jobs);
    for (auto& j : jobs) ASSERT_EQ(j.status, Status::ok);
    tags[7][0] ^= 1;  // forge one
    open(jobs);
    for (size_t i = 0; i < kN; ++i) {
      if (i == 7) {
        EXPECT_EQ(jobs[i].status, Status::auth_failed);
        EXPECT_NE(data[i], plain[i]);
      } else {
        EXPECT_EQ(jobs[i].status, Status::ok) << i;
        EXPECT_EQ(data[i], plain[i]) << i;
      }
    }
  });
}

// Truncated tags (ESP ICV 8 and 12) round-trip and are refused when altered.
TEST_P(AeadSuiteTest, TruncatedTags) {
  const Suite s = GetParam();
  for (size_t tl : {8u, 12u}) {
    AeadKey k;
    ASSERT_EQ(k.init(s, test::random_bytes(suite_info(s).key_len, 5), tl), Status::ok);
    EXPECT_EQ(k.tag_len(), tl);
    const Bytes nonce = test::random_bytes(12, 6), aad = test::random_bytes(8, 7);
    const Bytes msg = test::random_bytes(64, 8);
    Sealed sealed = seal_one(k, nonce, aad, msg);
    ASSERT_EQ(sealed.tag.size(), tl);
    // The truncated tag is the prefix of the full tag.
    AeadKey full;
    ASSERT_EQ(full.init(s, test::random_bytes(suite_info(s).key_len, 5)), Status::ok);
    const Sealed f = seal_one(full, nonce, aad, msg);
    EXPECT_EQ(Bytes(f.tag.begin(), f.tag.begin() + tl), sealed.tag);
    Bytes d = sealed.data;
    ASSERT_EQ(open_one(k, nonce, aad, d, sealed.tag), Status::ok);
    EXPECT_EQ(d, msg);
    sealed.tag[tl - 1] ^= 1;
    d = sealed.data;
    EXPECT_EQ(open_one(k, nonce, aad, d, sealed.tag), Status::auth_failed);
  }
}

TEST_P(AeadSuiteTest, WipeClearsEveryKeyByte) {
  const Suite s = GetParam();
  AeadKey k;
  const Bytes key(suite_info(s).key_len, 0xa5);
  ASSERT_EQ(k.init(s, key), Status::ok);
  auto raw = k.debug_raw_bytes();
  EXPECT_NE(std::count(raw.begin(), raw.end(), 0xa5), 0);
  k.wipe();
  EXPECT_FALSE(k.valid());
  for (uint8_t b : k.debug_raw_bytes()) ASSERT_EQ(b, 0);
  for (uint8_t b : k.debug_state_bytes()) ASSERT_EQ(b, 0);
  // A wiped key refuses work with key_expired and touches nothing.
  Bytes data = test::random_bytes(32, 9), tag(16);
  const Bytes before = data;
  EXPECT_EQ(open_one(k, Bytes(12), {}, data, tag), Status::key_expired);
  EXPECT_EQ(data, before);
}

INSTANTIATE_TEST_SUITE_P(Suites, AeadSuiteTest,
                         ::testing::Values(Suite::aes128_gcm, Suite::aes256_gcm,
                                           Suite::chacha20_poly1305),
                         [](const auto& info) { return std::string(suite_info(info.param).name); });

TEST(Aead, MisuseRefusedAtInit) {
  AeadKey k;
  EXPECT_EQ(k.init(Suite::aes128_gcm, Bytes(32)), Status::invalid_argument);
  EXPECT_EQ(k.init(Suite::aes256_gcm, Bytes(16)), Status::invalid_argument);
  EXPECT_EQ(k.init(Suite::chacha20_poly1305, Bytes(31)), Status::invalid_argument);
  EXPECT_EQ(k.init(static_cast<Suite>(99), Bytes(16)), Status::invalid_argument);
  EXPECT_EQ(k.init(Suite::aes128_gcm, Bytes(16), 4), Status::invalid_argument);
  EXPECT_EQ(k.init(Suite::aes128_gcm, Bytes(16), 17), Status::invalid_argument);
  EXPECT_FALSE(k.valid());
  AeadJob j;  // no key at all
  Bytes d(4);
  j.data = d;
  seal({&j, 1});
  EXPECT_EQ(j.status, Status::invalid_argument);
}

// RFC 9001 §A.2 gives an AES-128 HP key, sample and mask; §A.5 the ChaCha20 ones.
TEST(Mask, Rfc9001AesAndChaCha) {
  test::for_each_backend([&](Backend) {
    MaskKey aes, cc;
    ASSERT_EQ(aes.init(Suite::aes128_gcm, hex("9f50449e04a0e810283a1e9933adedd2")), Status::ok);
    ASSERT_EQ(cc.init(Suite::chacha20_poly1305,
                      hex("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4")),
              Status::ok);
    const Bytes s1 = hex("d1b1c98dd7689fb8ec11d242b123dc9b");
    const Bytes s2 = hex("5e5cd55c41f69080575d7999c25a5bfb");
    MaskJob jobs[2];
    jobs[0].key = &aes;
    jobs[0].sample = s1.data();
    jobs[1].key = &cc;
    jobs[1].sample = s2.data();
    mask(jobs);
    EXPECT_EQ(test::to_hex(jobs[0].mask, 5), "437b9aec36");
    EXPECT_EQ(test::to_hex(jobs[1].mask, 5), "aefefe7d03");
  });
  MaskKey k;
  EXPECT_EQ(k.init(Suite::aes128_gcm, Bytes(32)), Status::invalid_argument);
}

TEST(Backend, SelectionAndRefusal) {
  EXPECT_TRUE(backend_supported(Backend::portable));
  EXPECT_EQ(set_backend(Backend::portable), Status::ok);
  EXPECT_EQ(active_backend(), Backend::portable);
  for (Backend b : kAllBackends) {
    if (!backend_supported(b)) {
      EXPECT_EQ(set_backend(b), Status::unsupported);
    }
  }
  EXPECT_EQ(parse_backend("avx512"), Backend::avx512);
  EXPECT_FALSE(parse_backend("sse9").has_value());
  set_backend(best_backend());
}

}  // namespace
}  // namespace rl
