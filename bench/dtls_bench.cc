// DTLS record framing cost over the raw AEAD (bench/aead_bench.cc rows
// seal|open/aead/<suite>/<bytes>/<burst> run in the same process):
//   seal|open/dtls12/<suite>/<bytes>/<burst>
//   seal|open/dtls12-cid/<suite>/<bytes>/<burst>  RFC 9146 records, 8-byte CID
//   seal|open/dtls13/<suite>/<bytes>/<burst>
// Seal: headers, nonces, AAD, limits, sequence numbers (and DTLS 1.3 record
// number masks) for a burst, in place. Open: parse, (unmask, reconstruct),
// replay check, AEAD, commit. Open needs fresh records every time (the
// replay window refuses repeats), so a ring of pre-sealed bursts is opened in
// order and re-sealed, untimed, each time it runs out; the ring is sized so
// that the pause is rare. Keys have unlimited usage limits here so that the
// benchmark itself never hits the AES-GCM record limit.
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "bench/support/bench_util.h"
#include "core/dtls.h"
#include "core/dtls13.h"

namespace rl::bench {
namespace {

constexpr size_t kSizes[] = {64, 576, 1350, 16384};
constexpr size_t kBursts[] = {1, 32};
constexpr uint32_t kHead = 32, kTail = 48;

struct Dtls12 {
  using Proto = dtls::RecordProtection;
  using Rec = dtls::Record;
  static constexpr const char* kName = "dtls12";
  static void setup(Proto& tx, Proto& rx, Suite s) {
    const auto key = pattern(suite_info(s).key_len, 9);
    const auto iv = pattern(s == Suite::chacha20_poly1305 ? 12 : 4, 4);
    static const Limits unlimited{};
    dtls::KeyOptions o;
    o.limits = &unlimited;
    o.replay_window = 4096;
    tx.install(Direction::seal, 1, s, key, iv, o);
    rx.install(Direction::open, 1, s, key, iv, o);
  }
};

// RFC 9146 CID records (no padding) both ways; the AEAD plaintext is one
// byte longer than the content (the inner type).
struct Dtls12Cid : Dtls12 {
  static constexpr const char* kName = "dtls12-cid";
  static void setup(Proto& tx, Proto& rx, Suite s) {
    Dtls12::setup(tx, rx, s);
    static const uint8_t cid[8] = {0xc1, 0xd0, 0x5e, 0x77, 0x01, 0x02, 0x03, 0x04};
    tx.set_seal_cid(cid);
    rx.set_open_cid(cid);
  }
};

struct Dtls13 {
  using Proto = dtls13::RecordProtection;
  using Rec = dtls13::Record;
  static constexpr const char* kName = "dtls13";
  static void setup(Proto& tx, Proto& rx, Suite s) {
    const auto secret = pattern(hash_len(suite_info(s).hash), 9);
    static const Limits unlimited{};
    dtls13::KeyOptions o;
    o.limits = &unlimited;
    o.replay_window = 4096;
    tx.install(Direction::seal, 3, s, secret, o);
    rx.install(Direction::open, 3, s, secret, o);
  }
};

template <class P>
struct Ring {
  std::vector<std::vector<uint8_t>> mem;
  std::vector<typename P::Rec> recs;
  size_t bytes;
  Ring(size_t n, size_t b) : bytes(b) {
    for (size_t i = 0; i < n; ++i) mem.push_back(pattern(kHead + b + kTail, static_cast<uint8_t>(i)));
    recs.resize(n);
    reset_plain();
  }
  void reset_plain() {
    for (size_t i = 0; i < recs.size(); ++i) {
      recs[i].pkt = {mem[i].data(), static_cast<uint32_t>(mem[i].size()), kHead,
                     static_cast<uint32_t>(bytes), Status::ok};
      recs[i].type = 23;
    }
  }
};

template <class P>
void bm_seal(benchmark::State& st, Suite s, size_t bytes, size_t burst) {
  auto tx = std::make_unique<typename P::Proto>();
  auto rx = std::make_unique<typename P::Proto>();
  P::setup(*tx, *rx, s);
  Ring<P> ring(burst, bytes);
  for (auto _ : st) {
    ring.reset_plain();
    if (tx->seal(ring.recs) != burst) st.SkipWithError("seal failed");
    benchmark::DoNotOptimize(ring.mem[0][0]);
  }
  set_counters(st, bytes, burst);
}

template <class P>
void bm_open(benchmark::State& st, Suite s, size_t bytes, size_t burst) {
  auto tx = std::make_unique<typename P::Proto>();
  auto rx = std::make_unique<typename P::Proto>();
  P::setup(*tx, *rx, s);
  // Enough bursts that re-sealing is rare, but a working set that stays in
  // this core's 1 MiB L2 like the raw AEAD rows' burst: at most ~640 KiB, at
  // least 2 bursts; the refill is not timed (OpenClock). Records arrive in
  // order, so any replay window works.
  size_t rounds = std::max<size_t>(2, 1024 / burst);
  rounds = std::min(rounds, std::max<size_t>(2, (640u << 10) / (burst * (bytes + kHead + kTail))));
  Ring<P> ring(rounds * burst, bytes);
  std::vector<PacketView> saved(ring.recs.size());  // the sealed views
  auto refill = [&] {
    ring.reset_plain();
    tx->seal(ring.recs);
    for (size_t i = 0; i < saved.size(); ++i) saved[i] = ring.recs[i].pkt;
  };
  refill();
  size_t r = 0;
  OpenClock clock(st);
  for (auto _ : st) {
    if (r == rounds) {
      clock.untimed(refill);
      r = 0;
    }
    std::span<typename P::Rec> b(ring.recs.data() + r * burst, burst);
    for (size_t i = 0; i < burst; ++i) b[i].pkt = saved[r * burst + i];
    if (rx->open(b) != burst) st.SkipWithError("open failed");
    ++r;
  }
  set_counters(st, bytes, burst);
}

template <class P>
void register_proto(std::span<const size_t> sizes = kSizes) {
  for (Suite s : kAllSuites)
    for (size_t bytes : sizes)
      for (size_t burst : kBursts) {
        benchmark::RegisterBenchmark(name("seal", P::kName, suite_info(s).name, bytes, burst).c_str(),
                                     bm_seal<P>, s, bytes, burst);
        benchmark::RegisterBenchmark(name("open", P::kName, suite_info(s).name, bytes, burst).c_str(),
                                     bm_open<P>, s, bytes, burst)
            ->UseManualTime();  // OpenClock
      }
}

int register_all() {
  register_proto<Dtls12>();
  static constexpr size_t kCidSizes[] = {64, 1350};
  register_proto<Dtls12Cid>(kCidSizes);
  register_proto<Dtls13>();
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
