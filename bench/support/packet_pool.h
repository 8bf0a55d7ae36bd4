// What the tunnel benchmarks (ESP, WireGuard) share: a pool of inner IPv4
// packets with head- and tailroom, sized so that open can rotate over a few
// hundred KiB (the replay window refuses repeats, so a used pool is sealed
// again with timing paused), and the raw AEAD over the same pool, the
// baseline their framing is measured against.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "bench/support/bench_util.h"
#include "bench/support/flip_open.h"
#include "core/aead.h"
#include "core/bytes.h"
#include "core/packet.h"

namespace rl::bench {

inline constexpr size_t kPoolHead = 64, kPoolTail = 64;
inline constexpr size_t kPoolBytes = 384 * 1024;

// Rounds of `burst` packets of `bytes` that make about kPoolBytes.
inline size_t pool_rounds(size_t bytes, size_t burst) {
  return std::clamp<size_t>(kPoolBytes / (bytes * burst), 16, 4096);
}

struct PacketPool {
  size_t rounds, burst, bytes;
  std::vector<std::vector<uint8_t>> mem;  // one buffer per packet
  std::vector<PacketView> views, fresh;   // fresh: the views to restore before each call
  PacketPool(size_t bytes_, size_t burst_, size_t rounds_) : rounds(rounds_), burst(burst_), bytes(bytes_) {
    for (size_t i = 0; i < rounds * burst; ++i) {
      mem.push_back(pattern(kPoolHead + bytes + kPoolTail, static_cast<uint8_t>(i)));
      uint8_t* p = mem.back().data() + kPoolHead;
      p[0] = 0x45;  // an IPv4 header that states its own length
      store_be16(p + 2, static_cast<uint16_t>(bytes));
      views.push_back(PacketView{mem.back().data(), static_cast<uint32_t>(mem.back().size()), kPoolHead,
                                 static_cast<uint32_t>(bytes), Status::ok});
    }
    fresh = views;
  }
  std::span<PacketView> round(size_t r) { return {views.data() + r * burst, burst}; }
  void restore(size_t r) { std::copy_n(fresh.begin() + r * burst, burst, views.begin() + r * burst); }
  uint8_t* payload(size_t i) { return mem[i].data() + kPoolHead; }
};

// A protocol's open over the pool: every round sealed with seal_round(span)
// (each from its plaintext), then opened in order with open_round(span),
// which returns how many opened; when the pool is used up it is sealed again
// outside the row's time (the replay window refuses repeats; OpenClock: the
// row is registered with UseManualTime()).
template <class SealRound, class OpenRound>
void run_protocol_opens(benchmark::State& st, PacketPool& pool, SealRound&& seal_round, OpenRound&& open_round) {
  const std::vector<PacketView> plain = pool.fresh;
  auto reseal = [&] {
    std::copy(plain.begin(), plain.end(), pool.fresh.begin());
    for (size_t r = 0; r < pool.rounds; ++r) {
      pool.restore(r);
      seal_round(pool.round(r));
    }
    std::copy(pool.views.begin(), pool.views.end(), pool.fresh.begin());
  };
  reseal();
  size_t r = 0;
  OpenClock clock(st);
  for (auto _ : st) {
    if (open_round(pool.round(r)) != pool.burst) st.SkipWithError("open failed");
    if (++r == pool.rounds) {
      clock.untimed(reseal);
      r = 0;
    } else {
      benchmark::DoNotOptimize(pool.views[0].status);
    }
  }
}

// rl::seal / rl::open of each pool packet's `bytes` in place with `aad` and
// the tag at tags[i] (one round per iteration, rotating): what a protocol row
// over the same pool does without its framing. Open flips each buffer between
// plaintext and ciphertext (FlipOpen), so every timed open succeeds.
inline void run_raw_aead(benchmark::State& st, const AeadKey& key, std::span<const uint8_t> aad,
                         std::span<uint8_t* const> tags, bool do_open, PacketPool& pool) {
  const size_t n = pool.rounds * pool.burst;
  std::vector<AeadJob> jobs(n);
  for (size_t i = 0; i < n; ++i) {
    AeadJob& j = jobs[i];
    j.key = &key;
    store_be64(j.nonce + 4, i + 1);
    j.aad = aad;
    j.data = {pool.payload(i), pool.bytes};
    j.tag = tags[i];
  }
  std::optional<FlipOpen> flip;
  if (do_open) flip.emplace(jobs, pool.burst);
  size_t r = 0;
  for (auto _ : st) {
    if (do_open) {
      if (flip->open(r)[0].status != Status::ok) st.SkipWithError("open failed");
    } else {
      const std::span<AeadJob> round{jobs.data() + r * pool.burst, pool.burst};
      seal(round);
      benchmark::DoNotOptimize(round[0].tag[0]);
    }
    r = r + 1 == pool.rounds ? 0 : r + 1;
  }
  set_counters(st, pool.bytes, pool.burst);
}

}  // namespace rl::bench
