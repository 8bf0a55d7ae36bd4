// HKDF and HKDF-Expand-Label against RFC 5869 and RFC 8448 (typed in from the RFCs).
#include <gtest/gtest.h>

#include "core/hkdf.h"
#include "tests/support/vectors.h"

namespace rl {
namespace {
using test::Bytes;
using test::hex;

// RFC 5869 Appendix A.1 (SHA-256).
TEST(Hkdf, Rfc5869Case1) {
  const Bytes ikm(22, 0x0b), salt = hex("000102030405060708090a0b0c"),
              info = hex("f0f1f2f3f4f5f6f7f8f9");
  Bytes prk(32), okm(42);
  ASSERT_EQ(hkdf_extract(Hash::sha256, salt, ikm, prk), Status::ok);
  EXPECT_EQ(test::to_hex(prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  ASSERT_EQ(hkdf_expand(Hash::sha256, prk, info, okm), Status::ok);
  EXPECT_EQ(test::to_hex(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

// RFC 8448 §3: server handshake traffic secret -> write key and iv.
TEST(Hkdf, ExpandLabelRfc8448) {
  const Bytes secret = hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
  Bytes key(16), iv(12);
  ASSERT_EQ(hkdf_expand_label(Hash::sha256, secret, "key", {}, key), Status::ok);
  ASSERT_EQ(hkdf_expand_label(Hash::sha256, secret, "iv", {}, iv), Status::ok);
  EXPECT_EQ(test::to_hex(key), "3fce516009c21727d0f2e4e86ee403bc");
  EXPECT_EQ(test::to_hex(iv), "5d313eb2671276ee13000b30");
  // The DTLS 1.3 prefix gives different keys from the same secret.
  Bytes dkey(16);
  ASSERT_EQ(hkdf_expand_label(Hash::sha256, secret, "key", {}, dkey, kDtls13LabelPrefix), Status::ok);
  EXPECT_NE(dkey, key);
}

// RFC 9001 §A.1: client_initial_secret -> "quic key" (labels go through the same function).
TEST(Hkdf, ExpandLabelRfc9001Client) {
  const Bytes secret = hex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea");
  Bytes key(16);
  ASSERT_EQ(hkdf_expand_label(Hash::sha256, secret, "quic key", {}, key), Status::ok);
  EXPECT_EQ(test::to_hex(key), "1f369613dd76d5467730efcbe3b1a22d");
}

TEST(Hkdf, MisuseRefused) {
  Bytes prk(31);
  EXPECT_EQ(hkdf_extract(Hash::sha256, {}, Bytes(4), prk), Status::invalid_argument);
  Bytes big(255 * 32 + 1);
  EXPECT_EQ(hkdf_expand(Hash::sha256, Bytes(32), {}, big), Status::invalid_argument);
  Bytes out(16);
  EXPECT_EQ(hkdf_expand_label(Hash::sha256, Bytes(32), std::string(250, 'x'), {}, out),
            Status::invalid_argument);
}

}  // namespace
}  // namespace rl
