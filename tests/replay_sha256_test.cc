// The replay tool's SHA-256 (tools/replay/sha256.h): the SHA-NI implementation must give
// BoringSSL's SHA256() digest bit for bit, at every length around the block and padding
// boundaries and on random data; plus the FIPS 180-4 example digests typed in.
#include <gtest/gtest.h>

#include "tests/support/vectors.h"
#include "tools/replay/common.h"
#include "tools/replay/sha256.h"
#include "tools/replay/verdict.h"

namespace rl::replay {
namespace {

std::string hexd(const Digest& d) { return hex(ByteSpan(d.data(), d.size())); }

TEST(ReplaySha256, FipsExamples) {
  // FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional"): "abc", the empty
  // message and the 448-bit two-block message.
  const std::string abc = "abc";
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  const char* want_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const char* want_empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const char* want_two = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
  auto span = [](const std::string& s) {
    return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(hexd(sha256(span(abc))), want_abc);
  EXPECT_EQ(hexd(sha256(ByteSpan())), want_empty);
  EXPECT_EQ(hexd(sha256(span(two))), want_two);
  EXPECT_EQ(hexd(sha256_boringssl(span(abc))), want_abc);
  if (!sha256_shani_supported()) GTEST_SKIP() << "no SHA extensions on this CPU";
  EXPECT_EQ(hexd(sha256_shani(span(abc))), want_abc);
  EXPECT_EQ(hexd(sha256_shani(ByteSpan())), want_empty);
  EXPECT_EQ(hexd(sha256_shani(span(two))), want_two);
}

TEST(ReplaySha256, ShaniMatchesBoringSslAtEveryLength) {
  if (!sha256_shani_supported()) GTEST_SKIP() << "no SHA extensions on this CPU";
  const Bytes data = rl::test::random_bytes(4096 + 64, 7);
  // Every length up to 1100 (all padding cases: 55/56/63/64 mod 64), then longer ones, at
  // several alignments.
  for (size_t len = 0; len <= 1100; ++len) {
    for (size_t off : {size_t{0}, size_t{1}, size_t{13}}) {
      const ByteSpan in(data.data() + off, len);
      ASSERT_EQ(hexd(sha256_shani(in)), hexd(sha256_boringssl(in))) << "len " << len << " off " << off;
    }
  }
  for (size_t len : {1350u, 1500u, 2047u, 2048u, 4096u}) {
    const ByteSpan in(data.data() + 3, len);
    EXPECT_EQ(hexd(sha256_shani(in)), hexd(sha256_boringssl(in))) << len;
  }
  // One flipped bit anywhere changes the digest (the comparison above can fail).
  Bytes m(data.begin(), data.begin() + 200);
  const Digest base = sha256_shani(m);
  for (size_t i = 0; i < m.size(); i += 17) {
    m[i] ^= 0x10;
    EXPECT_NE(sha256_shani(m), base) << i;
    EXPECT_EQ(sha256_shani(m), sha256_boringssl(m)) << i;
    m[i] ^= 0x10;
  }
}

TEST(ReplaySha256, PairsMatchBoringSslForAnyTwoLengths) {
  const Bytes data = rl::test::random_bytes(3000, 11);
  // Equal lengths (the interleaved path end to end), unequal ones (a common prefix of
  // blocks interleaved, the rest alone), and tails of one vs two padding blocks.
  const size_t lens[] = {0, 1, 55, 56, 63, 64, 65, 119, 120, 200, 1350, 1351, 1400, 2900};
  for (size_t la : lens) {
    for (size_t lb : lens) {
      const ByteSpan a(data.data() + 1, la), b(data.data() + 77, lb);
      Digest da, db;
      sha256_pair(a, b, da, db);
      ASSERT_EQ(hexd(da), hexd(sha256_boringssl(a))) << la << " " << lb;
      ASSERT_EQ(hexd(db), hexd(sha256_boringssl(b))) << la << " " << lb;
      if (sha256_shani_supported()) {
        sha256_shani_x2(a, b, da, db);
        ASSERT_EQ(hexd(da), hexd(sha256_boringssl(a))) << la << " " << lb;
        ASSERT_EQ(hexd(db), hexd(sha256_boringssl(b))) << la << " " << lb;
      }
    }
  }
}

TEST(ReplaySha256, VerdictDigestIsLazyAndKept) {
  const Bytes plain = {'h', 'i'};
  Verdict v;
  v.set_plaintext(plain);
  EXPECT_FALSE(v.sha256.has_value());  // nothing hashed until an output asks
  ASSERT_TRUE(v.digest().has_value());
  EXPECT_EQ(hex(*v.sha256), "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4");
  Verdict none;
  EXPECT_FALSE(none.digest().has_value());
  EXPECT_NE(to_json(v).find("\"sha256\":\"8f434346"), std::string::npos);
  EXPECT_NE(to_json(none).find("\"sha256\":null"), std::string::npos);
}

}  // namespace
}  // namespace rl::replay
