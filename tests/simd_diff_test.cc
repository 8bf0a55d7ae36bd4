// Differential tests: every SIMD tier this CPU runs against the portable
// backend (BoringSSL), on the same random inputs. Seal output and tags must be
// bit-identical, open must round-trip, every forgery must fail and leave the
// bytes as they arrived, and nothing outside a job's buffers may be touched.
//
// The bounded run (CI) does at least 200,000 AEAD cases per tier; RL_SIMD_LONG=1
// or `--long` on the command line runs at least 10^7.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/aead.h"
#include "tests/support/vectors.h"

namespace rl {
namespace {

using test::Bytes;

bool long_run() {
  if (const char* e = std::getenv("RL_SIMD_LONG"); e != nullptr && *e != '\0' && *e != '0')
    return true;
  for (const std::string& a : ::testing::internal::GetArgvs())
    if (a == "--long") return true;
  return false;
}

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
  void fill(uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(next() >> 17);
  }
  Bytes bytes(size_t n) {
    Bytes b(n);
    fill(b.data(), n);
    return b;
  }
};

std::vector<Backend> simd_tiers() {
  std::vector<Backend> v;
  for (Backend b : kAllBackends)
    if (b != Backend::portable && backend_supported(b)) v.push_back(b);
  return v;
}

#define RL_REQUIRE_SIMD_TIER()                                                     \
  if (simd_tiers().empty()) GTEST_SKIP() << "no SIMD tier supported on this CPU/build"

// Runs body(tier, r) once per SIMD tier this CPU runs, under the tier's name
// and with r seeded alike, so every tier sees the same inputs. Skips the test
// when there is no tier; stops after a tier's fatal failure (an ASSERT in body
// ends only that call).
template <class F>
void for_each_tier(uint64_t seed, F&& body) {
  RL_REQUIRE_SIMD_TIER();
  for (Backend t : simd_tiers()) {
    SCOPED_TRACE(to_string(t));
    Rng r{seed};
    body(*backend_ops_for(t), r);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

constexpr size_t kGuard = 32;

// One packet laid out in its own buffer, at an arbitrary misalignment, with
// guard bytes around data and tag to catch any write outside them.
struct Packet {
  Bytes buf;  // [guard | aad | data | tag | guard]
  size_t off = 0, aad_len = 0, data_len = 0, tag_len = 0;
  uint8_t nonce[kNonceLen] = {};

  Packet(Rng& r, size_t aad, size_t len, size_t tag) : aad_len(aad), data_len(len), tag_len(tag) {
    off = kGuard + r.below(64);
    buf.resize(off + aad + len + tag + kGuard);
    r.fill(buf.data(), buf.size());
    r.fill(nonce, kNonceLen);
  }
  uint8_t* aad() { return buf.data() + off; }
  uint8_t* data() { return aad() + aad_len; }
  uint8_t* tag() { return data() + data_len; }
  AeadJob job(const AeadKey& k) {
    AeadJob j;
    j.key = &k;
    std::memcpy(j.nonce, nonce, kNonceLen);
    j.aad = {aad(), aad_len};
    j.data = {data(), data_len};
    j.tag = tag();
    return j;
  }
};

struct KeyPool {
  std::vector<std::unique_ptr<AeadKey>> keys;
  KeyPool(Rng& r, bool with_chacha, bool only_chacha = false) {
    for (Suite s : kAllSuites) {
      if (s == Suite::chacha20_poly1305 && !with_chacha) continue;
      if (s != Suite::chacha20_poly1305 && only_chacha) continue;
      for (size_t tl : {16u, 16u, 12u, 8u}) {
        auto k = std::make_unique<AeadKey>();
        EXPECT_EQ(k->init(s, r.bytes(suite_info(s).key_len), tl), Status::ok);
        keys.push_back(std::move(k));
      }
    }
  }
  const AeadKey& pick(Rng& r) { return *keys[r.below(keys.size())]; }
};

// Seals one packet with the tier and with BoringSSL, compares, opens it with
// the tier, and (every `forge_every` cases) checks that one flipped bit fails
// and changes nothing. Returns false on the first mismatch (with a failure).
bool check_one(const BackendOps& tier, Rng& r, const AeadKey& k, size_t aad, size_t len,
               bool forge) {
  Packet p(r, aad, len, k.tag_len());
  Packet q = p;  // same bytes for the reference
  const Bytes plain(p.data(), p.data() + len);
  AeadJob a = p.job(k), b = q.job(k);
  tier.seal({&a, 1});
  portable::seal({&b, 1});
  if (a.status != Status::ok || b.status != Status::ok) {
    ADD_FAILURE() << "seal status " << to_string(a.status) << " / " << to_string(b.status);
    return false;
  }
  if (p.buf != q.buf) {
    ADD_FAILURE() << "seal differs from BoringSSL: suite " << suite_info(k.suite()).name
                  << " aad " << aad << " len " << len << " tag " << k.tag_len() << " offset "
                  << p.off;
    return false;
  }
  if (forge) {
    // Flip one bit of the ciphertext, tag, AAD or nonce.
    const Bytes before = p.buf;
    AeadJob f = p.job(k);
    const size_t where = r.below(4);
    size_t bit = 0;
    if (where == 0 && len > 0) {
      bit = r.below(len * 8);
      p.data()[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    } else if (where == 1 || (where == 0 && len == 0)) {
      bit = r.below(k.tag_len() * 8);
      p.tag()[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    } else if (where == 2 && aad > 0) {
      bit = r.below(aad * 8);
      p.aad()[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    } else {
      bit = r.below(kNonceLen * 8);
      f.nonce[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    }
    const Bytes forged = p.buf;
    tier.open({&f, 1});
    if (f.status != Status::auth_failed || p.buf != forged) {
      ADD_FAILURE() << "forgery (part " << where << " bit " << bit << ") gave "
                    << to_string(f.status) << " len " << len << " aad " << aad;
      return false;
    }
    p.buf = before;
  }
  AeadJob o = p.job(k);
  tier.open({&o, 1});
  if (o.status != Status::ok || !std::equal(plain.begin(), plain.end(), p.data())) {
    ADD_FAILURE() << "open failed to round-trip: " << to_string(o.status) << " len " << len;
    return false;
  }
  return true;
}

size_t case_budget() { return long_run() ? 10'000'000 : 200'000; }

// One burst: sealed by the tier and by BoringSSL (bit-identical), then about
// one job in `forge_one_in` (never if 0) gets a flipped bit in its ciphertext,
// AAD, nonce or tag, and the tier opens the whole burst: forged jobs fail and
// keep their bytes as they arrived, the others give the plaintext back.
// Returns false after the first mismatch (reported with `what`).
bool check_burst(const BackendOps& tier, Rng& r, std::vector<Packet>& mine,
                 const std::vector<const AeadKey*>& keys, size_t forge_one_in,
                 const std::string& what) {
  const size_t n = mine.size();
  std::vector<Packet> ref = mine;
  std::vector<AeadJob> jm, jr;
  std::vector<Bytes> plain;
  for (size_t i = 0; i < n; ++i) {
    jm.push_back(mine[i].job(*keys[i]));
    jr.push_back(ref[i].job(*keys[i]));
    plain.emplace_back(mine[i].data(), mine[i].data() + mine[i].data_len);
  }
  tier.seal(jm);
  portable::seal(jr);
  for (size_t i = 0; i < n; ++i) {
    if (jm[i].status != Status::ok || jr[i].status != Status::ok || mine[i].buf != ref[i].buf) {
      ADD_FAILURE() << what << ": seal of job " << i << " of " << n << " differs ("
                    << to_string(jm[i].status) << " / " << to_string(jr[i].status) << ") suite "
                    << suite_info(keys[i]->suite()).name << " len " << mine[i].data_len << " aad "
                    << mine[i].aad_len << " tag " << mine[i].tag_len;
      return false;
    }
  }
  std::vector<bool> forged(n, false);
  std::vector<Bytes> arrived(n);
  for (size_t i = 0; i < n; ++i) {
    jm[i] = mine[i].job(*keys[i]);
    forged[i] = forge_one_in != 0 && r.below(forge_one_in) == 0;
    if (forged[i]) {
      const uint8_t bit = static_cast<uint8_t>(1u << r.below(8));
      const size_t where = r.below(4);
      if (where == 0 && mine[i].data_len > 0)
        mine[i].data()[r.below(mine[i].data_len)] ^= bit;
      else if (where == 1 && mine[i].aad_len > 0)
        mine[i].aad()[r.below(mine[i].aad_len)] ^= bit;
      else if (where == 2)
        jm[i].nonce[r.below(kNonceLen)] ^= bit;
      else
        mine[i].tag()[r.below(mine[i].tag_len)] ^= bit;
    }
    arrived[i] = mine[i].buf;
  }
  tier.open(jm);
  for (size_t i = 0; i < n; ++i) {
    const bool good = forged[i] ? jm[i].status == Status::auth_failed && mine[i].buf == arrived[i]
                                : jm[i].status == Status::ok &&
                                      std::equal(plain[i].begin(), plain[i].end(), mine[i].data());
    if (!good) {
      ADD_FAILURE() << what << ": open of " << (forged[i] ? "forged " : "") << "job " << i
                    << " of " << n << " gave " << to_string(jm[i].status) << " len "
                    << mine[i].data_len << " aad " << mine[i].aad_len
                    << (forged[i] ? " (or changed the bytes)" : "");
      return false;
    }
  }
  return true;
}

// Every payload length 0..1024 with AAD lengths 0..64, then random lengths up
// to 16400, then AAD lengths up to 1100, through every tier; about a fifth of the cases also forge one bit.
TEST(SimdDiff, LengthsAndAad) {
  for_each_tier(0x5eed0001, [](const BackendOps& tier, Rng& r) {
    KeyPool pool(r, /*with_chacha=*/false);
    size_t cases = 0;
    const size_t reps = long_run() ? 20 : 1;
    for (size_t rep = 0; rep < reps; ++rep)
      for (size_t len = 0; len <= 1024; ++len)
        for (size_t a = 0; a < 4; ++a) {
          const size_t aad = a == 0 ? 0 : r.below(65);
          ASSERT_TRUE(check_one(tier, r, pool.pick(r), aad, len, r.below(5) == 0));
          ++cases;
        }
    const size_t big = long_run() ? 200'000 : 4'000;
    for (size_t i = 0; i < big; ++i) {
      ASSERT_TRUE(check_one(tier, r, pool.pick(r), r.below(65), r.below(16401), r.below(5) == 0));
      ++cases;
    }
    // Long AAD (past the kernels' 256-byte single-group limit) with short and long data.
    for (size_t i = 0; i < big; ++i) {
      ASSERT_TRUE(check_one(tier, r, pool.pick(r), r.below(1100), r.below(i % 2 ? 600 : 3000),
                            r.below(5) == 0));
      ++cases;
    }
    std::printf("[ %s ] %zu single-packet cases\n", tier.name, cases);
  });
}

// The single-packet kernel works in 512-byte chunks whose GHASH is stitched
// into the next chunk's (or the tail group's) AES rounds: every length within
// a ZMM of a chunk boundary up to 16 KiB + 512, each with a forged twin, for
// every AAD shape that takes a different grouping (none, joins the first
// chunk, hashed on its own).
TEST(SimdDiff, ChunkBoundaries) {
  for_each_tier(0x5eed0007, [](const BackendOps& tier, Rng& r) {
    KeyPool pool(r, /*with_chacha=*/false);
    size_t cases = 0;
    for (size_t k = 1; k <= 33; ++k)
      for (int d : {-65, -64, -63, -17, -16, -1, 0, 1, 15, 16, 63, 64, 65})
        for (size_t aad : {size_t{0}, size_t{13}, size_t{64}, size_t{300}}) {
          const size_t len = static_cast<size_t>(static_cast<long>(512 * k) + d);
          ASSERT_TRUE(check_one(tier, r, pool.pick(r), aad, len, true)) << "len " << len;
          ++cases;
        }
    std::printf("[ %s ] %zu chunk-boundary cases\n", tier.name, cases);
  });
}

// The same coverage for ChaCha20-Poly1305 alone (full and truncated tags):
// every length 0..1024 with AAD 0..64, lengths around the 8- and 16-block
// passes of the keystream and the 8-block Poly1305 groups, random lengths to
// 16400, long AAD; then ChaCha20-only bursts to the bounded budget (>= 200,000
// cases per tier; RL_SIMD_LONG=1 for >= 10^7).
TEST(SimdDiff, ChaChaLengthsAndAad) {
  for_each_tier(0x5eed0011, [](const BackendOps& tier, Rng& r) {
    KeyPool pool(r, /*with_chacha=*/true, /*only_chacha=*/true);
    size_t cases = 0;
    const size_t reps = long_run() ? 20 : 1;
    for (size_t rep = 0; rep < reps; ++rep)
      for (size_t len = 0; len <= 1024; ++len)
        for (size_t a = 0; a < 4; ++a) {
          const size_t aad = a == 0 ? 0 : a == 1 ? len % 65 : r.below(65);
          ASSERT_TRUE(check_one(tier, r, pool.pick(r), aad, len, r.below(5) == 0));
          ++cases;
        }
    for (size_t base : {448u, 512u, 960u, 1024u, 1472u, 1536u, 1984u, 2048u, 16384u})
      for (size_t d = 0; d < 130; ++d)
        for (size_t aad : {0u, 13u, 16u, 17u, 129u}) {
          ASSERT_TRUE(check_one(tier, r, pool.pick(r), aad, base + d - 65, r.below(3) == 0));
          ++cases;
        }
    const size_t big = long_run() ? 200'000 : 4'000;
    for (size_t i = 0; i < big; ++i) {
      ASSERT_TRUE(check_one(tier, r, pool.pick(r), r.below(65), r.below(16401), r.below(5) == 0));
      ++cases;
    }
    for (size_t i = 0; i < big; ++i) {
      ASSERT_TRUE(check_one(tier, r, pool.pick(r), r.below(1100), r.below(i % 2 ? 600 : 3000),
                            r.below(5) == 0));
      ++cases;
    }
    // Packet-sized bursts of one key: the bulk of the bounded budget.
    const size_t budget = case_budget();
    std::vector<Packet> mine;
    while (cases < budget) {
      const AeadKey& k = pool.pick(r);
      const size_t n = 1 + r.below(32);
      mine.clear();
      for (size_t i = 0; i < n; ++i) mine.emplace_back(r, r.below(65), r.below(1501), k.tag_len());
      ASSERT_TRUE(check_burst(tier, r, mine, std::vector<const AeadKey*>(n, &k), 0, "one-key burst"));
      cases += n;
    }
    std::printf("[ %s ] %zu ChaCha20-Poly1305 cases\n", tier.name, cases);
  });
}

// Long single ChaCha20-Poly1305 packets (the avx512 tier's long path: a
// 32-block first pass above 4 KiB, whole 32-block passes XORed straight into
// the data, 16- and 8-block tails; Poly1305 groups of eight blocks): every
// length near the 4 KiB switch and near each 2048-byte pass boundary after
// the first 1984 bytes up to ~20 KiB (multiples of 16 and 64, +-1), AAD
// shapes that shift the Poly1305 groups, random lengths 2049..20000; half of
// them forged (the failed open must give the bytes back as they arrived).
// Then a 16 KiB and a 9000-byte packet with one bit flipped at each pass
// boundary and in the tag: each must fail and leave every byte as it was.
TEST(SimdDiff, ChaChaLongPackets) {
  for_each_tier(0x5eed0017, [](const BackendOps& tier, Rng& r) {
    KeyPool pool(r, /*with_chacha=*/true, /*only_chacha=*/true);
    size_t cases = 0;
    std::vector<size_t> bases = {2048, 4096};
    for (size_t k = 1; 1984 + 2048 * k <= 20480; ++k) bases.push_back(1984 + 2048 * k);
    for (size_t base : bases)
      for (long d : {-65L, -64L, -63L, -17L, -16L, -15L, -1L, 0L, 1L, 15L, 16L, 17L, 63L, 64L, 65L})
        for (size_t aad : {size_t{0}, size_t{1}, size_t{13}, size_t{16}, size_t{64}, size_t{300}}) {
          const size_t len = static_cast<size_t>(static_cast<long>(base) + d);
          ASSERT_TRUE(check_one(tier, r, pool.pick(r), aad, len, r.below(2) == 0)) << "len " << len;
          ++cases;
        }
    for (size_t i = 0; i < 1500; ++i) {
      ASSERT_TRUE(check_one(tier, r, pool.pick(r), r.below(65), 2049 + r.below(20000 - 2049 + 1),
                            r.below(2) == 0));
      ++cases;
    }
    for (size_t len : {size_t{16384}, size_t{9000}}) {
      const AeadKey& k = pool.pick(r);
      Packet p(r, 13, len, k.tag_len());
      AeadJob s = p.job(k);
      tier.seal({&s, 1});
      ASSERT_EQ(s.status, Status::ok);
      const Bytes sealed = p.buf;
      for (size_t at : {size_t{0}, size_t{959}, size_t{960}, size_t{1983}, size_t{1984}, size_t{4031},
                        size_t{4032}, len / 2, len - 1025, len - 64, len - 1}) {
        p.data()[at] ^= 0x10;
        const Bytes arrived = p.buf;
        AeadJob o = p.job(k);
        tier.open({&o, 1});
        EXPECT_EQ(o.status, Status::auth_failed) << "len " << len << " flip at " << at;
        EXPECT_TRUE(p.buf == arrived) << "len " << len << " flip at " << at << ": bytes changed";
        p.buf = sealed;
        ++cases;
      }
      p.tag()[k.tag_len() - 1] ^= 0x80;
      const Bytes arrived = p.buf;
      AeadJob o = p.job(k);
      tier.open({&o, 1});
      EXPECT_EQ(o.status, Status::auth_failed);
      EXPECT_TRUE(p.buf == arrived) << "len " << len << " tag flip: bytes changed";
      p.buf = sealed;
      AeadJob g = p.job(k);
      tier.open({&g, 1});
      EXPECT_EQ(g.status, Status::ok);
    }
    std::printf("[ %s ] %zu long ChaCha20-Poly1305 cases\n", tier.name, cases);
  });
}

// Bursts of 1..64 jobs, mixed suites (ChaCha20 too), keys, truncated tags,
// lengths and AAD; some jobs forged. Each job gets its own status; a forged
// job's bytes are left as they arrived; neighbours are unaffected.
TEST(SimdDiff, MixedBursts) {
  for_each_tier(0x5eed0002, [](const BackendOps& tier, Rng& r) {
    KeyPool pool(r, /*with_chacha=*/true);
    const size_t budget = case_budget();
    size_t cases = 0;
    std::vector<Packet> mine;
    std::vector<const AeadKey*> keys;
    while (cases < budget) {
      const size_t n = 1 + r.below(64);
      mine.clear(), keys.clear();
      for (size_t i = 0; i < n; ++i) {
        const AeadKey& k = pool.pick(r);
        // Mostly packet-sized, sometimes tiny, sometimes large.
        const size_t sel = r.below(16);
        const size_t len = sel < 6 ? r.below(129) : sel < 15 ? r.below(1501) : r.below(9001);
        mine.emplace_back(r, r.below(65), len, k.tag_len());
        keys.push_back(&k);
      }
      ASSERT_TRUE(check_burst(tier, r, mine, keys, 8, "mixed burst"));
      cases += n;
    }
    std::printf("[ %s ] %zu burst cases\n", tier.name, cases);
  });
}

// AES-GCM bursts shaped for the avx512 tier's multi-packet short paths:
// data of 0..64 bytes (eight or four per group) and 65..192 bytes (four per
// group, two or three ZMMs each, by size class), AAD of at most 16 bytes
// (hashed across the lanes) or 17..64 (per packet), one key, or keys of the
// same or different AES sizes, truncated tags, about one job in eight forged.
// Bursts take all the classes mixed (and lengths past 192, the one-at-a-time
// path) or one class only, so that its groups fill.
TEST(SimdDiff, ShortGcmBands) {
  for_each_tier(0x5eed0128, [](const BackendOps& tier, Rng& r) {
    KeyPool pool(r, /*with_chacha=*/false);
    const size_t budget = long_run() ? 2000000 : 30000;
    size_t cases = 0;
    std::vector<Packet> mine;
    std::vector<const AeadKey*> keys;
    while (cases < budget) {
      const size_t n = 4 + r.below(37);
      const AeadKey* one_key = r.below(2) == 0 ? &pool.pick(r) : nullptr;
      const bool header_aad = r.below(4) != 0;
      const size_t band = r.below(5);  // 0..1: every class and a little past; 2..4: 0..64, 65..128, 129..192
      const size_t lo = band < 3 ? 0 : 64 * (band - 3) + 65;
      const size_t hi = band < 2 ? 200 : 64 * (band - 1);
      mine.clear(), keys.clear();
      for (size_t i = 0; i < n; ++i) {
        const AeadKey& k = one_key != nullptr ? *one_key : pool.pick(r);
        const size_t len = lo + r.below(hi - lo + 1);
        mine.emplace_back(r, header_aad ? r.below(17) : 17 + r.below(48), len, k.tag_len());
        keys.push_back(&k);
      }
      ASSERT_TRUE(check_burst(tier, r, mine, keys, 8, "short gcm bands"));
      cases += n;
    }
    std::printf("[ %s ] %zu short-band cases\n", tier.name, cases);
  });
}

// ChaCha20-Poly1305 bursts of 16..64 packets of up to 1472 bytes, the sizes
// the avx512 tier runs sixteen at a time across the lanes, drawn from its two
// bands (0..448 and 449..1472 bytes; packets of each band are collected
// apart): equal lengths, lengths within 64 bytes of each other, and mixed
// lengths (partly outside that band); AAD of 0..64 bytes per packet (lanes
// end their MAC input at different blocks), truncated tags, about one job in
// eight forged.
TEST(SimdDiff, ChaChaAcrossLanes) {
  for_each_tier(0x5eed00c4, [](const BackendOps& tier, Rng& r) {
    KeyPool pool(r, /*with_chacha=*/true, /*only_chacha=*/true);
    const size_t budget = long_run() ? 2000000 : 40000;
    size_t cases = 0;
    while (cases < budget) {
      const size_t n = 16 + r.below(49);
      const size_t mode = r.below(4);
      const bool short_band = r.below(2) == 0;
      const size_t lo = short_band ? 0 : 449, hi = short_band ? 448 : 1472;
      // In the short band also bursts of 0..2-byte packets (keepalives).
      const size_t base = short_band && r.below(4) == 0 ? r.below(3) : lo + r.below(hi - lo + 1);
      const size_t aad_fixed = r.below(2) == 0 ? r.below(65) : SIZE_MAX;
      const AeadKey* one_key = r.below(2) == 0 ? &pool.pick(r) : nullptr;
      std::vector<Packet> mine;
      std::vector<const AeadKey*> keys;
      for (size_t i = 0; i < n; ++i) {
        const AeadKey& k = one_key != nullptr ? *one_key : pool.pick(r);
        size_t len = base;
        if (mode == 1) len = std::min<size_t>(hi, lo + r.below(64) + (base - lo) * 15 / 16);
        if (mode == 2) len = lo + r.below(hi - lo + 1);
        if (mode == 3) len = r.below(8) == 0 ? r.below(2000) : base;
        mine.emplace_back(r, aad_fixed != SIZE_MAX ? aad_fixed : r.below(65), len, k.tag_len());
        keys.push_back(&k);
      }
      ASSERT_TRUE(check_burst(tier, r, mine, keys, 8, "across lanes, mode " + std::to_string(mode)));
      cases += n;
    }
    std::printf("[ %s ] %zu across-lanes cases\n", tier.name, cases);
  });
}

// Every bit of one packet's ciphertext, tag, AAD and nonce, flipped in turn
// inside a burst of sixteen sealed across the lanes (lanes 3 and 12, one per
// Poly1305 register): that packet fails and keeps its bytes, the other
// fifteen open. A burst from each band: 500..605 and 70..115 bytes.
TEST(SimdDiff, ChaChaAcrossLanesEveryBitFlip) {
  for_each_tier(0x5eed00c5, [](const BackendOps& tier, Rng& r) {
    AeadKey k;
    ASSERT_EQ(k.init(Suite::chacha20_poly1305, r.bytes(32)), Status::ok);
    size_t flips = 0;
    for (const size_t base : {500u, 70u}) {
      std::vector<Packet> sealed;
      for (size_t i = 0; i < 16; ++i) sealed.emplace_back(r, 13, base + (base > 448 ? 7 : 3) * i, k.tag_len());
      std::vector<Bytes> plain;
      for (Packet& p : sealed) plain.emplace_back(p.data(), p.data() + p.data_len);
      std::vector<AeadJob> jobs;
      for (Packet& p : sealed) jobs.push_back(p.job(k));
      tier.seal(jobs);
      for (size_t victim : {3u, 12u}) {
        const Packet& v = sealed[victim];
        const size_t bits = 8 * (v.data_len + v.tag_len + v.aad_len + kNonceLen);
        for (size_t bit = 0; bit < bits; ++bit) {
          std::vector<Packet> work = sealed;
          std::vector<AeadJob> js;
          for (Packet& p : work) js.push_back(p.job(k));
          const uint8_t m = static_cast<uint8_t>(1u << (bit % 8));
          size_t byte = bit / 8;
          Packet& w = work[victim];
          if (byte < w.data_len) w.data()[byte] ^= m;
          else if ((byte -= w.data_len) < w.tag_len) w.tag()[byte] ^= m;
          else if ((byte -= w.tag_len) < w.aad_len) w.aad()[byte] ^= m;
          else js[victim].nonce[byte - w.aad_len] ^= m;
          const Bytes arrived = w.buf;
          tier.open(js);
          for (size_t i = 0; i < 16; ++i) {
            if (i == victim) {
              ASSERT_EQ(js[i].status, Status::auth_failed) << "bit " << bit;
              ASSERT_EQ(work[i].buf, arrived) << "bit " << bit;
            } else {
              ASSERT_EQ(js[i].status, Status::ok) << "bit " << bit << " job " << i;
              ASSERT_TRUE(std::equal(plain[i].begin(), plain[i].end(), work[i].data()));
            }
          }
          ++flips;
        }
      }
    }
    std::printf("[ %s ] %zu bit flips across lanes\n", tier.name, flips);
  });
}

// Every single bit of ciphertext, tag, AAD and nonce, flipped in turn, fails
// open on every tier and leaves the bytes unchanged, alone and inside a burst
// of four; lengths around the 16/64/128/256/448/512-byte boundaries of the
// kernels; AES-GCM and ChaCha20-Poly1305.
TEST(SimdDiff, EveryBitFlipFails) {
  for_each_tier(0x5eed0003, [](const BackendOps& tier, Rng& r) {
    for (Suite s : kAllSuites) {
      AeadKey k;
      ASSERT_EQ(k.init(s, r.bytes(suite_info(s).key_len)), Status::ok);
      for (size_t len : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 127u, 128u, 129u, 255u, 256u, 257u,
                         300u, 448u, 449u, 513u}) {
        Packet p(r, len % 2 ? 1 + r.below(64) : r.below(70), len, k.tag_len());
        AeadJob j = p.job(k);
        tier.seal({&j, 1});
        ASSERT_EQ(j.status, Status::ok);
        const Bytes sealed = p.buf;
        // A valid neighbour, so that the forged job also runs inside a burst
        // (the tier's multi-packet path) next to packets that must still open.
        Packet good(r, p.aad_len, len, k.tag_len());
        const Bytes good_plain(good.data(), good.data() + len);
        AeadJob gj = good.job(k);
        tier.seal({&gj, 1});
        const Bytes good_sealed = good.buf;
        auto expect_fail = [&](AeadJob f, const char* what, size_t bit) {
          const Bytes before = p.buf;
          AeadJob alone = f;
          tier.open({&alone, 1});
          ASSERT_EQ(alone.status, Status::auth_failed) << what << " bit " << bit << " len " << len;
          ASSERT_EQ(p.buf, before) << what << " bit " << bit << " len " << len;
          std::vector<Packet> others(3, good);
          AeadJob burst[4] = {others[0].job(k), f, others[1].job(k), others[2].job(k)};
          tier.open(std::span<AeadJob>(burst, 4));
          ASSERT_EQ(burst[1].status, Status::auth_failed) << what << " bit " << bit << " in a burst";
          ASSERT_EQ(p.buf, before) << what << " bit " << bit << " in a burst";
          for (size_t o = 0; o < 3; ++o) {
            ASSERT_EQ(burst[o == 0 ? 0 : o + 1].status, Status::ok);
            ASSERT_TRUE(std::equal(good_plain.begin(), good_plain.end(), others[o].data()));
          }
          ASSERT_EQ(good.buf, good_sealed);
          p.buf = sealed;
        };
        auto flip_region = [&](uint8_t* base, size_t n, const char* what) {
          for (size_t bit = 0; bit < n * 8; ++bit) {
            base[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
            expect_fail(p.job(k), what, bit);
          }
        };
        flip_region(p.data(), len, "ciphertext");
        flip_region(p.tag(), k.tag_len(), "tag");
        flip_region(p.aad(), p.aad_len, "aad");
        for (size_t bit = 0; bit < kNonceLen * 8; ++bit) {
          AeadJob f = p.job(k);
          f.nonce[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
          expect_fail(f, "nonce", bit);
        }
        AeadJob o = p.job(k);
        tier.open({&o, 1});
        ASSERT_EQ(o.status, Status::ok);
      }
    }
  });
}

// Batched masks against BoringSSL's one-at-a-time AES (and ChaCha20) masks:
// bursts of 1..64 mixing AES-128, AES-256 and ChaCha20 keys, including
// unusable jobs (no key, no sample), which get a zero mask as on portable.
TEST(SimdDiff, MaskBursts) {
  for_each_tier(0x5eed0004, [](const BackendOps& tier, Rng& r) {
    std::vector<std::unique_ptr<MaskKey>> keys;
    for (int i = 0; i < 12; ++i) {
      const Suite s = kAllSuites[i % 3];
      auto k = std::make_unique<MaskKey>();
      ASSERT_EQ(k->init(s, r.bytes(suite_info(s).hp_key_len)), Status::ok);
      keys.push_back(std::move(k));
    }
    MaskKey dead;
    size_t cases = 0;
    for (int round = 0; round < 3000; ++round) {
      const size_t n = 1 + r.below(64);
      std::vector<Bytes> samples(n);
      std::vector<MaskJob> a(n), b(n);
      for (size_t i = 0; i < n; ++i) {
        samples[i] = r.bytes(16 + r.below(8));  // not always 16-aligned sizes around it
        const size_t sel = r.below(40);
        // Runs of one key (the wide path) broken by other keys and unusable jobs.
        const MaskKey* k = i > 0 && a[i - 1].key != nullptr && r.below(8) != 0
                               ? a[i - 1].key
                               : keys[r.below(keys.size())].get();
        a[i].key = sel == 0 ? nullptr : sel == 1 ? &dead : k;
        a[i].sample = sel == 2 ? nullptr : samples[i].data() + r.below(samples[i].size() - 15);
        r.fill(a[i].mask, 16);
        b[i] = a[i];
      }
      tier.mask(a);
      portable::mask(b);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(0, std::memcmp(a[i].mask, b[i].mask, 16)) << "round " << round << " job " << i;
      cases += n;
    }
    std::printf("[ %s ] %zu mask cases\n", tier.name, cases);
  });
}

// ChaCha20 masks (QUIC §5.4.4, DTLS 1.3 §4.2.3) in long same-key runs (the
// tier's 16- and 8-lane passes and their remainders), against BoringSSL one at
// a time, with samples at every alignment and counters near 2^32.
TEST(SimdDiff, ChaChaMaskRuns) {
  for_each_tier(0x5eed0014, [](const BackendOps& tier, Rng& r) {
    MaskKey k1, k2;
    ASSERT_EQ(k1.init(Suite::chacha20_poly1305, r.bytes(32)), Status::ok);
    ASSERT_EQ(k2.init(Suite::chacha20_poly1305, r.bytes(32)), Status::ok);
    size_t cases = 0;
    for (size_t n = 1; n <= 80; ++n)
      for (int rep = 0; rep < 20; ++rep) {
        Bytes pool = r.bytes(16 * n + 64);
        std::vector<MaskJob> a(n), b(n);
        for (size_t i = 0; i < n; ++i) {
          a[i].key = (rep % 4 == 3 && i % 5 == 4) ? &k2 : &k1;  // runs broken by another key
          a[i].sample = pool.data() + r.below(pool.size() - 15);
          if (rep % 3 == 0) {  // counter words close to wrapping
            uint8_t* s = const_cast<uint8_t*>(a[i].sample);
            s[3] = 0xff, s[2] = 0xff, s[1] = static_cast<uint8_t>(0xff - r.below(2));
          }
          b[i] = a[i];
        }
        tier.mask(a);
        portable::mask(b);
        for (size_t i = 0; i < n; ++i)
          ASSERT_EQ(0, std::memcmp(a[i].mask, b[i].mask, 16)) << "n " << n << " job " << i;
        cases += n;
      }
    std::printf("[ %s ] %zu ChaCha20 mask cases\n", tier.name, cases);
  });
}

// seal_masked (one job sealed, then a mask over its ciphertext, as QUIC's and
// DTLS 1.3's lone seals call it) against BoringSSL's seal, then its mask; and
// open_masked of the result (a lone guessed open: the mask over the sample as
// it arrived, whatever the open gives; every third packet forged). Every data
// length 0..2200 (the avx512 tier computes a ChaCha20 mask in a spare lane of
// the packet's keystream passes, so lengths either side of every pass
// boundary and of the 2048-byte buffered open), for each pairing of AEAD and
// mask suites, with the sample anywhere in the data or, now and then, partly
// outside it (the joint paths must not take those). A job that fails to seal
// leaves the mask as it was; one that fails to open still gives it.
TEST(SimdDiff, SealAndOpenMasked) {
  for_each_tier(0x5eed0024, [](const BackendOps& tier, Rng& r) {
    size_t cases = 0, joint = 0;
    for (Suite as : kAllSuites)
      for (Suite ms : kAllSuites) {
        AeadKey k;
        MaskKey mk;
        ASSERT_EQ(k.init(as, r.bytes(suite_info(as).key_len)), Status::ok);
        ASSERT_EQ(mk.init(ms, r.bytes(suite_info(ms).hp_key_len)), Status::ok);
        for (size_t len = 0; len <= 2200; ++len) {
          const size_t aad = r.below(40);
          Packet p(r, aad, len, k.tag_len());
          Packet q = p;
          const Bytes plain(p.data(), p.data() + len);
          AeadJob a = p.job(k), b = q.job(k);
          MaskJob ma, mb;
          ma.key = mb.key = &mk;
          // The sample: in the data (usually at its start, as QUIC and DTLS
          // 1.3 place it), or reaching into the AAD or the tag.
          const size_t where = r.below(8);
          const size_t in_data = len < 16 ? 0 : where < 5 ? r.below(4) : r.below(len - 15);
          const uint8_t* at_p = len >= 16 && where < 7 ? p.data() + in_data : p.aad();
          ma.sample = at_p;
          mb.sample = q.buf.data() + (at_p - p.buf.data());
          r.fill(ma.mask, 16);
          std::memcpy(mb.mask, ma.mask, 16);
          tier.seal_masked(a, ma);
          portable::seal({&b, 1});
          portable::mask({&mb, 1});
          ASSERT_EQ(a.status, Status::ok) << "len " << len;
          ASSERT_TRUE(p.buf == q.buf) << suite_info(as).name << " len " << len << " aad " << aad;
          ASSERT_EQ(0, std::memcmp(ma.mask, mb.mask, 16))
              << suite_info(as).name << "/" << suite_info(ms).name << " len " << len << " sample at "
              << in_data << " (" << where << ")";
          joint += as == Suite::chacha20_poly1305 && ms == Suite::chacha20_poly1305 && len > 960 && where < 7;
          ++cases;
          // open_masked of what was sealed, every third one forged: the mask
          // over the sample as it arrived (BoringSSL's mask of the sealed
          // bytes), then the open's own result.
          const bool forge = len % 3 == 0;
          if (forge) p.tag()[r.below(k.tag_len())] ^= static_cast<uint8_t>(1u << r.below(8));
          const Bytes arrived = p.buf;
          MaskJob oa = ma, ob = ma;
          r.fill(oa.mask, 16);
          portable::mask({&ob, 1});
          AeadJob o = p.job(k);
          tier.open_masked(o, oa);
          ASSERT_EQ(0, std::memcmp(oa.mask, ob.mask, 16)) << "open_masked: " << suite_info(as).name << "/"
                                                           << suite_info(ms).name << " len " << len;
          if (forge) {
            ASSERT_EQ(o.status, Status::auth_failed) << "len " << len;
            ASSERT_TRUE(p.buf == arrived) << "len " << len;
          } else {
            ASSERT_EQ(o.status, Status::ok) << "len " << len;
            ASSERT_TRUE(std::equal(p.data(), p.data() + len, plain.begin())) << "len " << len;
          }
        }
      }
    // A job that does not seal (no tag buffer): its status, and no mask.
    AeadKey k;
    MaskKey mk;
    ASSERT_EQ(k.init(Suite::chacha20_poly1305, r.bytes(32)), Status::ok);
    ASSERT_EQ(mk.init(Suite::chacha20_poly1305, r.bytes(32)), Status::ok);
    Packet p(r, 13, 1350, 16);
    AeadJob a = p.job(k);
    a.tag = nullptr;
    MaskJob m;
    m.key = &mk;
    m.sample = p.data();
    std::memset(m.mask, 0xa5, 16);
    const Bytes before = p.buf;
    tier.seal_masked(a, m);
    EXPECT_NE(a.status, Status::ok);
    EXPECT_TRUE(p.buf == before);
    for (uint8_t b : m.mask) ASSERT_EQ(b, 0xa5);
    // A job that does not open (no tag buffer; a key wiped): its status, its
    // bytes as they arrived, and the mask all the same, at lengths that a
    // usable job would take through each of the joint paths.
    AeadKey dead;
    ASSERT_EQ(dead.init(Suite::chacha20_poly1305, r.bytes(32)), Status::ok);
    dead.wipe();
    for (size_t len : {64u, 256u, 1350u, 3000u})
      for (int how = 0; how < 2; ++how) {
        Packet q(r, 13, len, 16);
        AeadJob o = q.job(how == 0 ? k : dead);
        if (how == 0) o.tag = nullptr;
        MaskJob got, want;
        got.key = want.key = &mk;
        got.sample = want.sample = q.data();
        std::memset(got.mask, 0xa5, 16);
        portable::mask({&want, 1});
        const Bytes arrived = q.buf;
        tier.open_masked(o, got);
        EXPECT_NE(o.status, Status::ok) << "len " << len << " case " << how;
        EXPECT_TRUE(q.buf == arrived) << "len " << len << " case " << how;
        EXPECT_EQ(0, std::memcmp(got.mask, want.mask, 16)) << "len " << len << " case " << how;
      }
    std::printf("[ %s ] %zu seal_masked and open_masked cases (%zu ChaCha20 with ChaCha20 masks over 960 bytes)\n",
                tier.name, cases, joint);
  });
}

// The tier's expanded state (round keys, powers of H) exists after init and is
// gone after wipe(), for AEAD keys and header-protection keys.
TEST(SimdDiff, TierStateWiped) {
  RL_REQUIRE_SIMD_TIER();
  for (Suite s : {Suite::aes128_gcm, Suite::aes256_gcm}) {
    AeadKey k;
    ASSERT_EQ(k.init(s, test::random_bytes(suite_info(s).key_len, 77)), Status::ok);
    auto st = k.debug_state_bytes();
    EXPECT_GT(std::count_if(st.begin(), st.end(), [](uint8_t b) { return b != 0; }), 256);
    k.wipe();
    for (uint8_t b : k.debug_state_bytes()) ASSERT_EQ(b, 0);

    MaskKey m;
    ASSERT_EQ(m.init(s, test::random_bytes(suite_info(s).hp_key_len, 78)), Status::ok);
    EXPECT_NE(m.simd_rounds(), 0);
    auto rk = m.debug_simd_bytes();
    EXPECT_GT(std::count_if(rk.begin(), rk.end(), [](uint8_t b) { return b != 0; }), 100);
    m.wipe();
    EXPECT_EQ(m.simd_rounds(), 0);
    for (uint8_t b : m.debug_simd_bytes()) ASSERT_EQ(b, 0);
  }
}

// RL_BACKEND / set_backend reach the tier: the active ops are the tier's.
TEST(SimdDiff, ForcedTierIsUsed) {
  RL_REQUIRE_SIMD_TIER();
  const Backend saved = active_backend();
  for (Backend t : simd_tiers()) {
    ASSERT_EQ(set_backend(t), Status::ok);
    EXPECT_STREQ(backend_ops().name, to_string(t));
    EXPECT_EQ(backend_ops().seal, backend_ops_for(t)->seal);
  }
  set_backend(saved);
}

}  // namespace
}  // namespace rl
