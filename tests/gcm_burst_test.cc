// Bursts shaped for the avx512 AES-GCM fast paths, which random mixed bursts
// (simd_diff_test) almost never form, on every SIMD tier against the portable
// backend (BoringSSL), byte for byte and tag for tag, then opened:
// - short packets (AAD and data of at most 64 bytes) of equal length under one
//   key, the usual protocol burst: the tier hashes four side by side (one lane
//   each, broadcast powers of H when key and length agree, per-lane otherwise);
//   forged packets fail and keep their bytes;
// - runs of long AES-128 seals (over 512 bytes): each packet leaves its last
//   GHASH group and tag to the next packet's first pass and the run's last one
//   takes the plain path; the bursts vary what ends a run (a short packet, one
//   of exactly 512 bytes, an AES-256 packet, a second key), the last group's
//   size (1..8 ZMMs, partial blocks) and the tag length.
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

std::vector<Backend> simd_tiers() {
  std::vector<Backend> tiers;
  for (Backend b : kAllBackends)
    if (b != Backend::portable && backend_supported(b)) tiers.push_back(b);
  return tiers;
}

// Seals the burst with the tier into `jm` and, from the same bytes, with the
// portable backend: every ciphertext and whole tag buffer must be identical
// (so nothing is written past a truncated tag either).
void seal_both(const BackendOps& tier, std::vector<Pkt>& mine,
               const std::vector<const AeadKey*>& key, std::vector<AeadJob>& jm) {
  std::vector<Pkt> ref = mine;
  std::vector<AeadJob> jr;
  jm.clear();
  for (size_t i = 0; i < mine.size(); ++i) {
    jm.push_back(job(mine[i], *key[i]));
    jr.push_back(job(ref[i], *key[i]));
  }
  tier.seal(jm);
  portable::seal(jr);
  for (size_t i = 0; i < mine.size(); ++i) {
    ASSERT_EQ(jm[i].status, Status::ok) << i;
    ASSERT_EQ(jr[i].status, Status::ok) << i;
    ASSERT_EQ(mine[i].data, ref[i].data) << "ciphertext, packet " << i;
    ASSERT_EQ(mine[i].tag, ref[i].tag) << "tag (and the bytes after it), packet " << i;
  }
}

TEST(GcmShortBurst, EqualLengthsAgainstPortable) {
  const std::vector<Backend> tiers = simd_tiers();
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
                const std::vector<Pkt> plain = mine;
                std::vector<AeadJob> jm;
                ASSERT_NO_FATAL_FAILURE(seal_both(tier, mine, key, jm));
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

TEST(GcmSealRun, LongBurstsAgainstPortable) {
  const std::vector<Backend> tiers = simd_tiers();
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
            const std::vector<Pkt> plain = mine;
            std::vector<AeadJob> jm;
            ASSERT_NO_FATAL_FAILURE(seal_both(tier, mine, key, jm));
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
