// The OpenVPN data channel beside the raw AEAD, same process, same run.
//   seal|open/openvpn/<suite>/<bytes>/<burst>       rl::openvpn::Channel,
//                                   P_DATA_V2; <bytes> = the inner IPv4 packet
//   seal|open/aead-openvpn/<suite>/<bytes>/<burst>  rl::seal/open on <bytes>
//                                   with an 8-byte AAD over the same buffers:
//                                   the baseline the framing is measured against
// As in wireguard_bench.cc: seal reuses one burst of buffers every iteration;
// open rotates over a pool of a few hundred KiB sealed again outside the
// row's time when used up (the window refuses repeats), and the aead row's
// open rotates over the same pool. The open row fills a Packet per view
// (what a caller of Channel::open holds) inside the timed loop.
#include <memory>
#include <vector>

#include "bench/support/bench_util.h"
#include "bench/support/packet_pool.h"
#include "core/aead.h"
#include "core/openvpn.h"

namespace rl::bench {
namespace {

constexpr size_t kSizes[] = {64, 576, 1400};
constexpr size_t kBursts[] = {1, 32};

void bm_openvpn(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst) {
  const auto material = pattern(openvpn::kKeyMaterialLen, 3);
  const std::span<const uint8_t, openvpn::kKeyMaterialLen> m(material.data(), openvpn::kKeyMaterialLen);
  openvpn::Config cfg;
  cfg.peer_id = 0x123456;
  cfg.replay_window = 1024;
  auto tx = std::make_unique<openvpn::Channel>(cfg);
  auto rx = std::make_unique<openvpn::Channel>(cfg);
  const Limits unlimited{};
  if (tx->install(openvpn::key_set(m, s, 0, false), &unlimited) != Status::ok ||
      rx->install(openvpn::key_set(m, s, 0, true), &unlimited) != Status::ok) {
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
    std::vector<openvpn::Packet> pk(burst);
    run_protocol_opens(
        st, pool,
        [&](std::span<PacketView> round) { tx->seal(round); },
        [&](std::span<PacketView> round) {
          for (size_t i = 0; i < round.size(); ++i) pk[i].view = round[i];
          return rx->open(pk);
        });
  }
  set_counters(st, bytes, burst);
}

// The raw AEAD over the same pool layout: an 8-byte AAD, the tag before the
// data as OpenVPN has it.
void bm_aead_openvpn(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst) {
  auto key = std::make_unique<AeadKey>();
  key->init(s, pattern(suite_info(s).key_len, 9));
  PacketPool pool(bytes, burst, do_open ? pool_rounds(bytes, burst) : 1);
  const auto aad = pattern(8, 4);
  std::vector<uint8_t*> tags;
  for (size_t i = 0; i < pool.rounds * burst; ++i) tags.push_back(pool.payload(i) - openvpn::kTagLen);
  run_raw_aead(st, *key, aad, tags, do_open, pool);
}

int register_all() {
  for (Suite s : kAllSuites)
    for (bool o : {false, true}) {
      const char* op = o ? "open" : "seal";
      for (size_t burst : kBursts)
        for (size_t bytes : kSizes) {
          benchmark::RegisterBenchmark(name(op, "aead-openvpn", suite_info(s).name, bytes, burst).c_str(),
                                       bm_aead_openvpn, s, o, bytes, burst);
          auto* b = benchmark::RegisterBenchmark(name(op, "openvpn", suite_info(s).name, bytes, burst).c_str(),
                                                 bm_openvpn, s, o, bytes, burst);
          if (o) b->UseManualTime();  // run_protocol_opens' OpenClock
        }
    }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
