// The sliding replay window against a brute-force model, plus its edges.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/replay_window.h"
#include "tests/support/vectors.h"

namespace rl {
namespace {

// The model: a set of everything committed and the highest value.
struct Model {
  uint32_t size;
  std::set<uint64_t> seen;
  uint64_t top = 0;
  bool any = false;
  Status check(uint64_t s) const {
    if (!any || s > top) return Status::ok;
    if (top - s >= size) return Status::too_old;
    return seen.count(s) ? Status::replayed : Status::ok;
  }
  void commit(uint64_t s) {
    seen.insert(s);
    if (!any || s > top) top = s;
    any = true;
  }
};

TEST(ReplayWindow, Edges) {
  ReplayWindow w;
  ASSERT_EQ(w.init(64), Status::ok);
  EXPECT_EQ(w.check(0), Status::ok);
  w.commit(0);
  EXPECT_EQ(w.check(0), Status::replayed);
  w.commit(100);
  EXPECT_EQ(w.check(36), Status::too_old);   // 100 - 36 = 64: just outside
  EXPECT_EQ(w.check(37), Status::ok);        // oldest inside
  w.commit(37);
  EXPECT_EQ(w.check(37), Status::replayed);
  EXPECT_EQ(w.check(100), Status::replayed);
  EXPECT_EQ(w.check(101), Status::ok);
  w.commit(1'000'000);  // far future clears everything
  EXPECT_EQ(w.check(999'999), Status::ok);
  EXPECT_EQ(w.check(1'000'000 - 64), Status::too_old);
  EXPECT_EQ(w.init(0), Status::invalid_argument);
  EXPECT_EQ(w.init(ReplayWindow::kLargestSize + 1), Status::invalid_argument);
}

TEST(ReplayWindow, CheckChangesNothing) {
  ReplayWindow w;
  ASSERT_EQ(w.init(128), Status::ok);
  w.commit(500);
  for (uint64_t s = 0; s < 2000; ++s) (void)w.check(s);
  EXPECT_EQ(w.highest(), 500u);
  EXPECT_EQ(w.check(499), Status::ok);
  EXPECT_EQ(w.check(500), Status::replayed);
}

// A number left of the window is not marked by commit(): with a window of 64
// the ring has two blocks, so 50's bit (block 0) would land in the ring slot
// that holds block 2 (128..191) and mark 178, a number not yet received.
TEST(ReplayWindow, CommitLeftOfTheWindowMarksNothing) {
  for (uint32_t size : {1u, 64u, 100u, 4096u, 8128u}) {
    SCOPED_TRACE(size);
    ReplayWindow w;
    ASSERT_EQ(w.init(size), Status::ok);
    const uint64_t top = 3 * uint64_t{size} + 170;
    w.commit(top);
    std::vector<Status> before;
    for (uint64_t s = 0; s <= top + 200; ++s) before.push_back(w.check(s));
    for (uint64_t s = 0; s + size <= top; ++s) w.commit(s);  // every one too old
    for (uint64_t s = 0; s <= top + 200; ++s) ASSERT_EQ(w.check(s), before[s]) << s;
    w.commit(top + 10);
    if (size > 2) {
      EXPECT_EQ(w.check(top + 8), Status::ok);  // inside, not received
    }
  }
}

TEST(ReplayWindow, HighValuesNearTheTop) {
  ReplayWindow w;
  ASSERT_EQ(w.init(64), Status::ok);
  const uint64_t top = ~uint64_t{0};
  w.commit(top - 1);
  w.commit(top);
  EXPECT_EQ(w.check(top), Status::replayed);
  EXPECT_EQ(w.check(top - 2), Status::ok);
  EXPECT_EQ(w.check(top - 64), Status::too_old);
}

TEST(ReplayWindow, MatchesModelRandomised) {
  for (uint32_t size : {1u, 32u, 64u, 65u, 100u, 1024u, 2048u, 4096u, 8128u}) {
    ReplayWindow w;
    ASSERT_EQ(w.init(size), Status::ok);
    Model m{size, {}, 0, false};
    uint64_t base = 0;
    const auto rnd = test::random_bytes(200000, size);
    for (size_t i = 0; i + 4 < rnd.size(); i += 4) {
      const uint32_t r = uint32_t{rnd[i]} | uint32_t{rnd[i + 1]} << 8 | uint32_t{rnd[i + 2]} << 16;
      // mostly near the top, sometimes far ahead, sometimes far behind
      uint64_t s;
      if (r % 50 == 0) base += r % (4 * size + 7);
      s = base + (r >> 4) % (2 * size + 3);
      s = s >= size ? s - size / 2 : s;
      const Status want = m.check(s);
      ASSERT_EQ(w.check(s), want) << "size " << size << " seq " << s;
      if (want == Status::ok && (rnd[i + 3] & 3) != 0) {  // some packets fail auth: no commit
        w.commit(s);
        m.commit(s);
      }
    }
  }
}

// ReplayWindow::commit_rising (the SRTP lean loop's commit)
// leaves exactly what one commit() per index does: rising runs with gaps
// inside a block, across blocks and beyond the window, from an empty window
// and a used one, every window size the policy allows at its edges.
TEST(ReplayWindow, CommitRisingEqualsOneCommitEach) {
  uint64_t rng = 99;
  auto rand = [&](uint64_t n) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (rng >> 33) % n;
  };
  for (uint32_t size : {64u, 65u, 128u, 1000u, 4096u, 8128u}) {
    ReplayWindow a, b;
    ASSERT_EQ(a.init(size), Status::ok);
    ASSERT_EQ(b.init(size), Status::ok);
    uint64_t top = rand(1000);
    for (int round = 0; round < 300; ++round) {
      std::vector<uint64_t> seqs;
      const size_t n = rand(40);
      for (size_t i = 0; i < n; ++i) {
        const uint64_t r = rand(100);
        top += r < 80 ? 1 : r < 95 ? 1 + rand(100) : 1 + rand(3 * size);
        seqs.push_back(top);
      }
      for (uint64_t q : seqs) a.commit(q);
      b.commit_rising(seqs.data(), seqs.size());
      ASSERT_EQ(a.empty(), b.empty());
      if (a.empty()) continue;
      ASSERT_EQ(a.highest(), b.highest());
      const uint64_t lo = a.highest() > 2 * size ? a.highest() - 2 * size : 0;
      for (uint64_t q = lo; q <= a.highest() + 2; ++q) ASSERT_EQ(a.check(q), b.check(q)) << q;
    }
  }
}

}  // namespace
}  // namespace rl
