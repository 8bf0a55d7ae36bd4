// Truncated sequence/packet number reconstruction and QUIC PN length.
#include <gtest/gtest.h>

#include "core/seqnum.h"

namespace rl {
namespace {

// RFC 9000 App. A.3 worked example: largest 0xa82f30ea, truncated 0x9b32 (16 bits).
TEST(Seqnum, Rfc9000AppendixA3) {
  EXPECT_EQ(reconstruct_closest(0xa82f30ea + 1, 0x9b32, 16, 62), 0xa82f9b32u);
}

// RFC 9000 App. A.2 / §17.1 example: PN 0xac5c02 with 0xabe8b3 acked -> 2 bytes,
// PN 0xace8fe with the same ack -> 3 bytes.
TEST(Seqnum, Rfc9000PnLength) {
  EXPECT_EQ(quic_pn_length(0xac5c02, 0xabe8b3, false), 2u);
  EXPECT_EQ(quic_pn_length(0xace8fe, 0xabe8b3, false), 3u);
  EXPECT_EQ(quic_pn_length(0, 0, true), 1u);
  EXPECT_EQ(quic_pn_length(127, 0, true), 1u);   // 128 unacked: log2 = 7, 8 bits
  EXPECT_EQ(quic_pn_length(128, 0, true), 2u);
}

TEST(Seqnum, Edges) {
  // Near zero: no underflow.
  EXPECT_EQ(reconstruct_closest(0, 0xff, 8), 0xffu);
  EXPECT_EQ(reconstruct_closest(1, 0, 8), 0u);
  // Wraps forward across a window boundary.
  EXPECT_EQ(reconstruct_closest(0x1fe, 0x01, 8), 0x201u);
  // And backward.
  EXPECT_EQ(reconstruct_closest(0x201, 0xff, 8), 0x1ffu);
  // At the QUIC limit 2^62 - 1 nothing is pushed above it.
  const uint64_t max = (uint64_t{1} << 62) - 1;
  EXPECT_LE(reconstruct_closest(max, 0x00, 8, 62), max);
  // 64-bit space: no wrap past 2^64.
  EXPECT_EQ(reconstruct_closest(~uint64_t{0}, 0xfe, 8), ~uint64_t{0} - 1);
}

TEST(Seqnum, ExhaustiveSmallWindow) {
  for (uint64_t expected = 0; expected < 2000; ++expected)
    for (uint64_t delta = 0; delta < 256; ++delta) {
      // Any true value within half a window of `expected` is recovered exactly.
      const int64_t off = static_cast<int64_t>(delta) - 127;
      if (static_cast<int64_t>(expected) + off < 0) continue;
      const uint64_t truth = expected + off;
      ASSERT_EQ(reconstruct_closest(expected, truth & 0xff, 8), truth) << expected << " " << off;
    }
}

}  // namespace
}  // namespace rl
