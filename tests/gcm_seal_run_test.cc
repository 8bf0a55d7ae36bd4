// Seal bursts of long AES-GCM packets (over 512 bytes), the shape the avx512
// tier's seal runs take: each AES-128 packet of such a run leaves its last
// GHASH group and its tag to the next packet's first pass, and the run's last
// one is sealed on the plain path. These bursts vary what ends or interrupts a
// run (a short packet, a packet of exactly 512 bytes, an AES-256 packet, a
// second key), the last group's size (1..8 ZMMs, partial blocks) and the tag
// length, and compare every SIMD tier against the portable backend
// (BoringSSL) byte for byte and tag for tag, then open the sealed bursts.
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

TEST(GcmSealRun, LongBurstsAgainstPortable) {
  std::vector<Backend> tiers;
  for (Backend b : kAllBackends)
    if (b != Backend::portable && backend_supported(b)) tiers.push_back(b);
  if (tiers.empty()) GTEST_SKIP() << "no SIMD tier supported on this CPU/build";
  uint64_t seed = 7;
  size_t cases = 0;
  // Lengths over 512 whose last group (after whole 512-byte chunks) spans
  // 1..8 ZMMs, with and without partial blocks.
  const size_t lens[] = {513, 577, 640, 700, 831, 960, 1023, 1024, 1350, 1472, 1537, 4103};
  for (Backend t : tiers) {
    SCOPED_TRACE(to_string(t));
    const BackendOps& tier = *backend_ops_for(t);
    for (size_t tag_len : {size_t{16}, size_t{12}, size_t{8}}) {
      AeadKey k128[2], k256;
      for (AeadKey& k : k128)
        ASSERT_EQ(k.init(Suite::aes128_gcm, test::random_bytes(16, seed++), tag_len), Status::ok);
      ASSERT_EQ(k256.init(Suite::aes256_gcm, test::random_bytes(32, seed++), tag_len), Status::ok);
      for (size_t n : {1, 2, 3, 5, 9, 32}) {
        // pattern 0: one key, equal lengths; 1: two AES-128 keys in turn,
        // lengths in turn; 2: every third packet short (40 bytes), exactly
        // 512 bytes or AES-256, breaking the run; 3: random long lengths.
        for (int pattern = 0; pattern < 4; ++pattern) {
          for (size_t li = 0; li < std::size(lens); ++li) {
            SCOPED_TRACE(::testing::Message() << "tag " << tag_len << " burst " << n << " pattern " << pattern
                                              << " len " << lens[li]);
            std::vector<Pkt> mine(n);
            std::vector<const AeadKey*> key(n);
            for (size_t i = 0; i < n; ++i) {
              size_t len = lens[li];
              key[i] = &k128[0];
              if (pattern == 1) {
                key[i] = &k128[i % 2];
                len = lens[(li + i) % std::size(lens)];
              } else if (pattern == 2 && i % 3 == 1) {
                const size_t kind = (i / 3) % 3;
                if (kind == 0) len = 40;
                if (kind == 1) len = 512;
                if (kind == 2) key[i] = &k256;
              } else if (pattern == 3) {
                len = 513 + test::random_bytes(2, seed++)[0] * 7 % 1500;
              }
              Pkt& p = mine[i];
              p.aad = test::random_bytes(i % 4 == 3 ? 70 : 13, seed++);
              p.data = test::random_bytes(len, seed++);
              p.tag.assign(16, 0);
              const Bytes nb = test::random_bytes(kNonceLen, seed++);
              std::copy(nb.begin(), nb.end(), p.nonce.begin());
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
              ASSERT_EQ(mine[i].tag, ref[i].tag) << "tag (and the bytes after it), packet " << i;
            }
            for (size_t i = 0; i < n; ++i) jm[i] = job(mine[i], *key[i]);
            tier.open(jm);
            for (size_t i = 0; i < n; ++i) {
              ASSERT_EQ(jm[i].status, Status::ok) << i;
              ASSERT_EQ(mine[i].data, plain[i].data) << "plaintext, packet " << i;
            }
            cases += n;
          }
        }
      }
    }
  }
  std::printf("[ gcm seal runs ] %zu packets\n", cases);
}

}  // namespace
}  // namespace rl
