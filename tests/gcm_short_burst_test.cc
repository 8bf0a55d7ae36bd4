// Bursts of short AES-GCM packets (AAD and data of at most 64 bytes) under one
// key with equal lengths, the usual shape of a protocol burst. The avx512 tier
// hashes four such packets side by side (one lane each, with broadcast powers
// of H when key and length agree, per-lane powers otherwise); random mixed
// bursts (simd_diff_test) almost never line up four alike, so this test makes
// them: every SIMD tier against the portable backend (BoringSSL), byte for
// byte and tag for tag, then open, where forged packets fail and keep their bytes.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "simd/aead_key.h"
#include "simd/backend.h"
#include "tests/support/vectors.h"

namespace rl {
namespace {

using test::Bytes;

struct Pkt {
  Bytes aad, data, tag;
  std::array<uint8_t, kNonceLen> nonce{};
};

AeadJob job(Pkt& p, const AeadKey& k) {
  AeadJob j;
  j.key = &k;
  std::copy(p.nonce.begin(), p.nonce.end(), j.nonce);
  j.aad = p.aad;
  j.data = p.data;
  j.tag = p.tag.data();
  return j;
}

TEST(GcmShortBurst, EqualLengthsAgainstPortable) {
  std::vector<Backend> tiers;
  for (Backend b : kAllBackends)
    if (b != Backend::portable && backend_supported(b)) tiers.push_back(b);
  if (tiers.empty()) GTEST_SKIP() << "no SIMD tier supported on this CPU/build";
  uint64_t seed = 1;
  size_t cases = 0;
  for (Backend t : tiers) {
    SCOPED_TRACE(to_string(t));
    const BackendOps& tier = *backend_ops_for(t);
    for (Suite suite : {Suite::aes128_gcm, Suite::aes256_gcm}) {
      for (size_t tag_len : {size_t{16}, size_t{12}}) {
        AeadKey keys[2];
        for (AeadKey& k : keys)
          ASSERT_EQ(k.init(suite, test::random_bytes(suite_info(suite).key_len, seed++), tag_len), Status::ok);
        for (size_t len = 0; len <= 64; ++len) {
          for (size_t alen : {0, 1, 5, 13, 16, 17, 40}) {
            for (size_t n : {4, 8, 13, 32}) {
              // pattern 0: one key for the burst; 1: the key changes every four
              // packets (four alike per lane group, eight not alike).
              for (int pattern = 0; pattern < 2; ++pattern) {
                SCOPED_TRACE(::testing::Message() << suite_info(suite).name << " tag " << tag_len << " len " << len
                                                  << " aad " << alen << " burst " << n << " pattern " << pattern);
                std::vector<Pkt> mine(n);
                std::vector<const AeadKey*> key(n);
                for (size_t i = 0; i < n; ++i) {
                  Pkt& p = mine[i];
                  p.aad = test::random_bytes(alen, seed++);
                  p.data = test::random_bytes(len, seed++);
                  p.tag.assign(16, 0);
                  const Bytes nb = test::random_bytes(kNonceLen, seed++);
                  std::copy(nb.begin(), nb.end(), p.nonce.begin());
                  key[i] = &keys[pattern == 0 ? 0 : (i / 4) % 2];
                }
                std::vector<Pkt> ref = mine;
                const std::vector<Pkt> plain = mine;
                std::vector<AeadJob> jm, jr;
                for (size_t i = 0; i < n; ++i) {
                  jm.push_back(job(mine[i], *key[i]));
                  jr.push_back(job(ref[i], *key[i]));
                }
                tier.seal(jm);
                portable::seal(jr);
                for (size_t i = 0; i < n; ++i) {
                  ASSERT_EQ(jm[i].status, Status::ok) << i;
                  ASSERT_EQ(jr[i].status, Status::ok) << i;
                  ASSERT_EQ(mine[i].data, ref[i].data) << "ciphertext, packet " << i;
                  ASSERT_EQ(mine[i].tag, ref[i].tag) << "tag, packet " << i;
                }
                // Forge every fifth packet (data, tag or AAD bit), open the burst.
                std::vector<Bytes> arrived(n);
                std::vector<bool> forged(n);
                for (size_t i = 0; i < n; ++i) {
                  jm[i] = job(mine[i], *key[i]);
                  forged[i] = i % 5 == 2;
                  if (forged[i]) {
                    const size_t where = (i / 5) % 3;
                    if (where == 0 && len > 0)
                      mine[i].data[(i * 7) % len] ^= 0x10;
                    else if (where == 1 && alen > 0)
                      mine[i].aad[(i * 3) % alen] ^= 0x01;
                    else
                      mine[i].tag[i % tag_len] ^= 0x80;
                  }
                  arrived[i] = mine[i].data;
                }
                tier.open(jm);
                for (size_t i = 0; i < n; ++i) {
                  if (forged[i]) {
                    ASSERT_EQ(jm[i].status, Status::auth_failed) << i;
                    ASSERT_EQ(mine[i].data, arrived[i]) << "failed open changed bytes, packet " << i;
                  } else {
                    ASSERT_EQ(jm[i].status, Status::ok) << i;
                    ASSERT_EQ(mine[i].data, plain[i].data) << "plaintext, packet " << i;
                  }
                }
                cases += n;
              }
            }
          }
        }
      }
    }
  }
  std::printf("[ gcm short bursts ] %zu packets per direction\n", cases);
}

}  // namespace
}  // namespace rl
