// WireGuard transport data beside the raw AEAD, same process, same run.
//   seal|open/wireguard/chacha20poly1305/<bytes>/<burst>  rl::wireguard::Peer,
//                                   <bytes> = inner IPv4 packet (tunnel MTU
//                                   1420: 64 and 576 are multiples of 16 and
//                                   1420 is the MTU, so nothing is padded)
//   seal|open/aead-wireguard/chacha20poly1305/<bytes>/<burst>  rl::seal/open on
//                                   <bytes> with no AAD over the same buffers:
//                                   the baseline WireGuard framing is measured against
// As in esp_bench.cc: seal reuses one burst of buffers every iteration; open
// rotates over a pool of a few hundred KiB sealed again with timing paused
// when used up (the window refuses repeats), and the aead row's open rotates
// over the same pool.
#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "bench/support/bench_util.h"
#include "bench/support/packet_pool.h"
#include "core/aead.h"
#include "core/bytes.h"
#include "core/wireguard.h"

namespace rl::bench {
namespace {

constexpr size_t kSizes[] = {64, 576, 1420};
constexpr size_t kBursts[] = {1, 32};
constexpr uint32_t kMtu = 1420;

void bm_wireguard(benchmark::State& st, bool do_open, size_t bytes, size_t burst) {
  const auto k1 = pattern(32, 1), k2 = pattern(32, 2);
  auto tx = std::make_unique<wireguard::Peer>();
  auto rx = std::make_unique<wireguard::Peer>();
  tx->set_mtu(kMtu);
  // rx answered the handshake, but is installed as if it had initiated it so
  // that its keypair is current from the start (no promotion in the timing).
  if (tx->install({0x1111, 0x2222, k1, k2, true}) != Status::ok ||
      rx->install({0x2222, 0x1111, k2, k1, true}) != Status::ok) {
    st.SkipWithError("install failed");
    return;
  }
  PacketPool pool(bytes, burst, do_open ? pool_rounds(bytes, burst) : 1);
  if (!do_open) {
    for (auto _ : st) {
      pool.restore(0);
      if (tx->seal(pool.round(0)) != burst) st.SkipWithError("seal failed");
      benchmark::DoNotOptimize(pool.views[0].status);
    }
  } else {
    run_protocol_opens(
        st, pool, [&](std::span<PacketView> round) { tx->seal(round); },
        [&](std::span<PacketView> round) { return rx->open(round); });
  }
  set_counters(st, bytes, burst);
}

// The raw AEAD over the same pool layout: no AAD, the tag after the data.
void bm_aead_wireguard(benchmark::State& st, bool do_open, size_t bytes, size_t burst) {
  auto key = std::make_unique<AeadKey>();
  key->init(Suite::chacha20_poly1305, pattern(32, 9));
  PacketPool pool(bytes, burst, do_open ? pool_rounds(bytes, burst) : 1);
  std::vector<uint8_t*> tags;
  for (size_t i = 0; i < pool.rounds * burst; ++i) tags.push_back(pool.payload(i) + bytes);
  run_raw_aead(st, *key, {}, tags, do_open, pool);
}

int register_all() {
  const char* suite = suite_info(Suite::chacha20_poly1305).name;
  for (bool o : {false, true}) {
    const char* op = o ? "open" : "seal";
    for (size_t burst : kBursts)
      for (size_t bytes : kSizes) {
        benchmark::RegisterBenchmark(name(op, "aead-wireguard", suite, bytes, burst).c_str(),
                                     bm_aead_wireguard, o, bytes, burst);
        auto* b = benchmark::RegisterBenchmark(name(op, "wireguard", suite, bytes, burst).c_str(),
                                               bm_wireguard, o, bytes, burst);
        if (o) b->UseManualTime();  // run_protocol_opens' OpenClock
      }
  }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
