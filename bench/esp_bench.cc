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
#include "bench/support/packet_pool.h"
#include "core/aead.h"
#include "core/bytes.h"
#include "core/esp.h"

namespace rl::bench {
namespace {

constexpr size_t kEspSizes[] = {64, 576, 1400, 8900};
constexpr size_t kBaselineSizes[] = {1400, 8900};  // where the framing goal is measured
constexpr size_t kBursts[] = {1, 32};
constexpr uint32_t kSpi = 0x00c0ffee;

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
  PacketPool pool(bytes, burst, do_open ? pool_rounds(bytes, burst) : 1);
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
    run_protocol_opens(
        st, pool, [&](std::span<PacketView> round) { db->seal(kSpi, round, meta); },
        [&](std::span<PacketView> round) { return db->open(round); });
  }
  set_counters(st, bytes, burst);
}

// The raw AEAD over the same pool layout: 8-byte AAD, 16-byte tag.
void bm_aead8(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst) {
  auto key = std::make_unique<AeadKey>();
  key->init(s, pattern(suite_info(s).key_len, 9));
  PacketPool pool(bytes, burst, do_open ? pool_rounds(bytes, burst) : 1);
  const auto aad = pattern(8, 3);
  std::vector<std::vector<uint8_t>> tag_mem(pool.rounds * burst, std::vector<uint8_t>(16));
  std::vector<uint8_t*> tags;
  for (auto& t : tag_mem) tags.push_back(t.data());
  run_raw_aead(st, *key, aad, tags, do_open, pool);
}

int register_all() {
  for (Suite s : kAllSuites)
    for (bool o : {false, true}) {
      const char* op = o ? "open" : "seal";
      for (size_t burst : kBursts) {
        for (size_t bytes : kBaselineSizes)
          benchmark::RegisterBenchmark(name(op, "aead-esp", suite_info(s).name, bytes, burst).c_str(),
                                       bm_aead8, s, o, bytes, burst);
        for (size_t bytes : kEspSizes) {
          auto* b = benchmark::RegisterBenchmark(name(op, "esp", suite_info(s).name, bytes, burst).c_str(),
                                                 bm_esp, s, o, bytes, burst);
          if (o) b->UseManualTime();  // run_protocol_opens' OpenClock
        }
      }
    }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
