// IPsec ESP beside the raw AEAD job layer, same process, same run.
//   seal|open/esp/<suite>/<bytes>/<burst>    rl::esp::Sadb, tunnel mode, no ESN,
//                                            <bytes> = inner IPv4 packet
//   seal|open/aead-esp/<suite>/<bytes>/<burst>  rl::seal/open on <bytes> with
//                                            an 8-byte AAD (ESP's SPI ‖ Seq) over
//                                            the same buffers as the esp rows: the
//                                            baseline ESP framing is measured against
// Seal reuses one burst of buffers every iteration (cache-hot, as aead_bench.cc
// does). ESP open needs fresh sequence numbers (the replay window refuses
// repeats), so open rotates over a pool of a few hundred KiB that is sealed
// again with timing paused every `rounds` iterations (well under 1% at these
// pool sizes); the aead-esp open rotates over the same pool, so cache effects
// are alike. (aead_bench.cc's aead rows are one hot burst with a 13-byte AAD.)
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "bench/support/bench_util.h"
#include "bench/support/flip_open.h"
#include "core/aead.h"
#include "core/bytes.h"
#include "core/esp.h"

namespace rl::bench {
namespace {

constexpr size_t kEspSizes[] = {64, 576, 1400, 8900};
constexpr size_t kBaselineSizes[] = {1400, 8900};  // where the framing goal is measured
constexpr size_t kBursts[] = {1, 32};
constexpr size_t kHead = 64, kTail = 64;
constexpr size_t kPoolBytes = 384 * 1024;
constexpr uint32_t kSpi = 0x00c0ffee;

size_t rounds_for(size_t bytes, size_t burst) {
  return std::clamp<size_t>(kPoolBytes / (bytes * burst), 16, 4096);
}

struct Pool {
  size_t rounds, burst, bytes;
  std::vector<std::vector<uint8_t>> mem;  // one buffer per packet
  std::vector<PacketView> views, fresh;   // fresh: the views to restore before each call
  Pool(size_t bytes_, size_t burst_, size_t rounds_)
      : rounds(rounds_), burst(burst_), bytes(bytes_) {
    for (size_t i = 0; i < rounds * burst; ++i) {
      mem.push_back(pattern(kHead + bytes + kTail, static_cast<uint8_t>(i)));
      uint8_t* p = mem.back().data() + kHead;
      p[0] = 0x45;  // an IPv4 header that states its own length
      store_be16(p + 2, static_cast<uint16_t>(bytes));
      views.push_back(PacketView{mem.back().data(), static_cast<uint32_t>(mem.back().size()),
                                 kHead, static_cast<uint32_t>(bytes), Status::ok});
    }
    fresh = views;
  }
  std::span<PacketView> round(size_t r) { return {views.data() + r * burst, burst}; }
  void restore(size_t r) {
    std::copy_n(fresh.begin() + r * burst, burst, views.begin() + r * burst);
  }
};

esp::SaConfig sa_config(Suite s, const std::vector<uint8_t>& keymat) {
  esp::SaConfig c;
  c.spi = kSpi;
  c.suite = s;
  c.keymat = keymat;
  c.mode = esp::Mode::tunnel;
  c.replay_window = 1024;
  return c;
}

void bm_esp(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst) {
  const auto keymat = pattern(suite_info(s).key_len + esp::kSaltLen, 9);
  auto db = std::make_unique<esp::Sadb>();
  const esp::SaConfig c = sa_config(s, keymat);
  if (db->install(Direction::seal, c) != Status::ok || db->install(Direction::open, c) != Status::ok) {
    st.SkipWithError("install failed");
    return;
  }
  Pool pool(bytes, burst, do_open ? rounds_for(bytes, burst) : 1);
  // The inner version nibble is not looked at once the buffers hold
  // ciphertext from an earlier iteration: say "IPv4" explicitly.
  const std::vector<esp::SealMeta> meta(burst, esp::SealMeta{esp::kNextHeaderIpv4, false, 0});
  if (!do_open) {
    size_t r = 0;
    for (auto _ : st) {
      pool.restore(r);
      if (db->seal(kSpi, pool.round(r), meta) != burst) st.SkipWithError("seal failed");
      r = r + 1 == pool.rounds ? 0 : r + 1;
    }
  } else {
    // Seal every round; remember the sealed views; open them in order.
    auto reseal = [&] {
      for (size_t r = 0; r < pool.rounds; ++r) {
        pool.restore(r);
        db->seal(kSpi, pool.round(r), meta);
      }
      std::copy(pool.views.begin(), pool.views.end(), pool.fresh.begin());
    };
    const std::vector<PacketView> plain = pool.fresh;
    reseal();
    size_t r = 0;
    for (auto _ : st) {
      if (db->open(pool.round(r)) != burst) st.SkipWithError("open failed");
      if (++r == pool.rounds) {
        st.PauseTiming();
        std::copy(plain.begin(), plain.end(), pool.fresh.begin());
        reseal();
        st.ResumeTiming();
        r = 0;
      } else {
        benchmark::DoNotOptimize(pool.views[0].status);
      }
    }
  }
  set_counters(st, bytes, burst);
}

// The raw AEAD over the same pool layout: 8-byte AAD, 16-byte tag. Open
// flips each buffer between plaintext and ciphertext (FlipOpen), so every
// iteration is a successful open.
void bm_aead8(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst) {
  auto key = std::make_unique<AeadKey>();
  key->init(s, pattern(suite_info(s).key_len, 9));
  Pool pool(bytes, burst, do_open ? rounds_for(bytes, burst) : 1);
  const size_t n = pool.rounds * burst;
  const auto aad = pattern(8, 3);
  std::vector<std::vector<uint8_t>> tag_p(n, std::vector<uint8_t>(16));
  std::vector<AeadJob> jobs(n);
  for (size_t i = 0; i < n; ++i) {
    AeadJob& j = jobs[i];
    j.key = key.get();
    store_be64(j.nonce + 4, i + 1);
    j.aad = aad;
    j.data = {pool.mem[i].data() + kHead, bytes};
    j.tag = tag_p[i].data();
  }
  std::optional<FlipOpen> flip;
  if (do_open) flip.emplace(jobs, burst);
  size_t r = 0;
  for (auto _ : st) {
    if (do_open) {
      if (flip->open(r)[0].status != Status::ok) st.SkipWithError("open failed");
    } else {
      const std::span<AeadJob> round{jobs.data() + r * burst, burst};
      seal(round);
      benchmark::DoNotOptimize(round[0].tag[0]);
    }
    r = r + 1 == pool.rounds ? 0 : r + 1;
  }
  set_counters(st, bytes, burst);
}

int register_all() {
  for (Suite s : kAllSuites)
    for (bool o : {false, true}) {
      const char* op = o ? "open" : "seal";
      for (size_t burst : kBursts) {
        for (size_t bytes : kBaselineSizes)
          benchmark::RegisterBenchmark(name(op, "aead-esp", suite_info(s).name, bytes, burst).c_str(),
                                       bm_aead8, s, o, bytes, burst);
        for (size_t bytes : kEspSizes)
          benchmark::RegisterBenchmark(name(op, "esp", suite_info(s).name, bytes, burst).c_str(),
                                       bm_esp, s, o, bytes, burst);
      }
    }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
