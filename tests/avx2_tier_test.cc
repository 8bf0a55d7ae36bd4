// The AVX2 tier's dispatch and key state: RL_BACKEND picks it (or refuses it
// with a message naming what is missing), `auto` prefers AVX-512, then AVX2,
// then portable; its expanded key lives in its own region of AeadKey's state
// and is wiped with the key; and packets sealed by one tier open on every
// other (the tiers agree with BoringSSL bit for bit in simd_diff_test).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

#include "core/aead.h"
#include "simd/cpu.h"
#include "tests/support/vectors.h"

namespace rl {
namespace {

using test::Bytes;

TEST(Avx2Tier, NameAndCpuCheck) {
  EXPECT_EQ(parse_backend("avx2"), Backend::avx2);
  EXPECT_STREQ(to_string(Backend::avx2), "avx2");
  const CpuFeatures& f = cpu_features();
  const bool cpu_has = f.os_ymm && f.avx2 && f.vaes && f.vpclmulqdq && f.aesni && f.pclmul && f.bmi2;
  EXPECT_EQ(backend_supported(Backend::avx2), cpu_has);
  ASSERT_NE(backend_ops_for(Backend::avx2), nullptr);
  EXPECT_STREQ(backend_ops_for(Backend::avx2)->name, "avx2");
}

TEST(Avx2Tier, AutoPrefersWidestSupported) {
  const Backend want = backend_supported(Backend::avx512) ? Backend::avx512
                       : backend_supported(Backend::avx2) ? Backend::avx2
                                                          : Backend::portable;
  EXPECT_EQ(best_backend(), want);
}

TEST(Avx2Tier, ForcedThroughApi) {
  const Backend saved = active_backend();
  if (backend_supported(Backend::avx2)) {
    ASSERT_EQ(set_backend(Backend::avx2), Status::ok);
    EXPECT_EQ(active_backend(), Backend::avx2);
    EXPECT_EQ(backend_ops().seal, backend_ops_for(Backend::avx2)->seal);
  } else {
    EXPECT_EQ(set_backend(Backend::avx2), Status::unsupported);
    EXPECT_EQ(active_backend(), saved);
  }
  set_backend(saved);
}

// Child side of EnvSelects: prints the tier RL_BACKEND gave this process.
TEST(Avx2Tier, ChildReport) {
  if (std::getenv("RL_AVX2_TIER_CHILD") == nullptr) GTEST_SKIP() << "only run as a child of EnvSelects";
  std::printf("ACTIVE=%s\n", to_string(active_backend()));
}

std::string run_child(const std::string& env) {
  std::array<char, 512> self{};
  const ssize_t n = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) return {};
  const std::string cmd = "RL_AVX2_TIER_CHILD=1 RL_BACKEND=" + env + " '" + std::string(self.data(), n) +
                          "' --gtest_filter=Avx2Tier.ChildReport 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {};
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

// RL_BACKEND is read on first use: each value runs in its own process.
TEST(Avx2Tier, EnvSelects) {
  for (Backend b : kAllBackends) {
    SCOPED_TRACE(to_string(b));
    const std::string out = run_child(to_string(b));
    const Backend want = backend_supported(b) ? b : best_backend();
    EXPECT_NE(out.find(std::string("ACTIVE=") + to_string(want) + "\n"), std::string::npos) << out;
    if (!backend_supported(b)) {
      EXPECT_NE(out.find("refused"), std::string::npos) << out;  // says so on stderr
    } else {
      EXPECT_EQ(out.find("refused"), std::string::npos) << out;
    }
  }
  const std::string out = run_child("auto");
  EXPECT_NE(out.find(std::string("ACTIVE=") + to_string(best_backend()) + "\n"), std::string::npos) << out;
  const std::string bad = run_child("avx3");
  EXPECT_NE(bad.find("not one of"), std::string::npos) << bad;
  EXPECT_NE(bad.find(std::string("ACTIVE=") + to_string(best_backend()) + "\n"), std::string::npos) << bad;
}

// The tier's round keys and powers of H are in their own region after the
// first tier's, are there after init, and are gone after wipe().
TEST(Avx2Tier, KeyStateRegionWiped) {
  if (!backend_supported(Backend::avx2)) GTEST_SKIP() << "AVX2 tier not supported on this CPU";
  for (Suite s : {Suite::aes128_gcm, Suite::aes256_gcm}) {
    AeadKey k;
    ASSERT_EQ(k.init(s, test::random_bytes(suite_info(s).key_len, 91)), Status::ok);
    const auto all = k.debug_state_bytes();
    ASSERT_EQ(all.size(), AeadKey::kBackendStateSize + AeadKey::kAvx2StateSize);
    const auto region = all.subspan(AeadKey::kBackendStateSize);
    // 11 or 15 round keys twice, and 17 powers of H.
    EXPECT_GT(std::count_if(region.begin(), region.end(), [](uint8_t b) { return b != 0; }), 400);
    k.wipe();
    for (uint8_t b : k.debug_state_bytes()) ASSERT_EQ(b, 0);
  }
  AeadKey c;  // ChaCha20-Poly1305 reads the raw key: nothing expanded
  ASSERT_EQ(c.init(Suite::chacha20_poly1305, test::random_bytes(32, 92)), Status::ok);
  const auto region = c.debug_state_bytes().subspan(AeadKey::kBackendStateSize);
  EXPECT_TRUE(std::all_of(region.begin(), region.end(), [](uint8_t b) { return b == 0; }));
}

// Sealed by one tier, opened by every tier (and the other way round), for
// every suite, tag length and a spread of lengths around the kernels' edges.
TEST(Avx2Tier, CrossTierRoundTrip) {
  if (!backend_supported(Backend::avx2)) GTEST_SKIP() << "AVX2 tier not supported on this CPU";
  const size_t lens[] = {0, 1, 15, 16, 17, 63, 64, 65, 240, 241, 255, 256, 257, 447, 448, 449,
                         511, 512, 513, 1350, 4097, 16384};
  uint64_t seed = 1;
  for (Suite s : kAllSuites)
    for (size_t tl : {16u, 12u, 8u}) {
      AeadKey k;
      ASSERT_EQ(k.init(s, test::random_bytes(suite_info(s).key_len, seed++), tl), Status::ok);
      for (size_t len : lens)
        for (Backend from : kAllBackends)
          for (Backend to : kAllBackends) {
            if (!backend_supported(from) || !backend_supported(to)) continue;
            if (from != Backend::avx2 && to != Backend::avx2) continue;
            SCOPED_TRACE(std::string(suite_info(s).name) + " len " + std::to_string(len) + " " +
                         to_string(from) + " -> " + to_string(to));
            const Bytes plain = test::random_bytes(len, seed++), aad = test::random_bytes(len % 40, seed++);
            Bytes data = plain, tag(tl);
            AeadJob j;
            j.key = &k;
            for (size_t i = 0; i < kNonceLen; ++i) j.nonce[i] = static_cast<uint8_t>(seed + i);
            j.aad = aad;
            j.data = data;
            j.tag = tag.data();
            backend_ops_for(from)->seal({&j, 1});
            ASSERT_EQ(j.status, Status::ok);
            backend_ops_for(to)->open({&j, 1});
            ASSERT_EQ(j.status, Status::ok);
            ASSERT_EQ(data, plain);
          }
    }
}

}  // namespace
}  // namespace rl
