// AEAD job layer vs BoringSSL EVP_AEAD, per packet, in the same run.
//   seal|open/aead/<suite>/<bytes>/<burst>       our job layer, active backend
//   seal|open/boringssl/<suite>/<bytes>/1        EVP_AEAD_CTX_seal/open per packet
//   seal|open/aead-scale<N>/<suite>/1350/32      N workers, one per core, each
//                                                its own keys and buffers
// Keys are set up outside the timed loop for everyone; AAD is 13 bytes (a TLS
// 1.2 / DTLS header) for everyone; open verifies the tag for everyone.
#include <openssl/aead.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>

#include "bench/support/bench_util.h"
#include "bench/support/flip_open.h"
#include "bench/support/placement.h"
#include "core/aead.h"

namespace rl::bench {
namespace {

constexpr size_t kAad = common::kAeadAadLen;
constexpr auto& kSizes = common::kAeadSizes;
constexpr size_t kBursts[] = {1, 32};

struct Burst {
  std::vector<std::vector<uint8_t>> data, tags;
  std::vector<uint8_t> aad;
  std::vector<AeadJob> jobs;
  Burst(const AeadKey& key, size_t bytes, size_t burst) : aad(pattern(kAad, 3)) {
    for (size_t i = 0; i < burst; ++i) {
      data.push_back(pattern(bytes, static_cast<uint8_t>(i)));
      tags.emplace_back(16);
      AeadJob j;
      j.key = &key;
      for (size_t b = 0; b < kNonceLen; ++b) j.nonce[b] = static_cast<uint8_t>(i + b);
      j.aad = aad;
      j.data = data.back();
      j.tag = tags.back().data();
      jobs.push_back(j);
    }
  }
};

// One burst of jobs under one key, and what one timed step does with it.
// Scaling workers each own one, built on their own (pinned, NUMA-bound) thread.
class AeadLoop {
 public:
  AeadLoop(Suite s, bool do_open, size_t bytes, size_t burst)
      : key_(std::make_unique<AeadKey>()), do_open_(do_open) {
    key_->init(s, pattern(suite_info(s).key_len, 9));
    b_ = std::make_unique<Burst>(*key_, bytes, burst);
    // Every iteration a successful open, with nothing untimed (FlipOpen).
    if (do_open) flip_ = std::make_unique<FlipOpen>(b_->jobs, burst);
  }

  // One burst; false if an open did not authenticate.
  bool step() {
    if (!do_open_) {
      seal(b_->jobs);
      benchmark::DoNotOptimize(b_->tags[0][0]);
      return true;
    }
    const std::span<AeadJob> jobs = flip_->open(0);
    bool ok = true;
    for (const auto& j : jobs) ok &= j.status == Status::ok;
    return ok;
  }

 private:
  std::unique_ptr<AeadKey> key_;
  std::unique_ptr<Burst> b_;
  std::unique_ptr<FlipOpen> flip_;
  bool do_open_;
};

void bm_aead(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst) {
  AeadLoop loop(s, do_open, bytes, burst);
  for (auto _ : st)
    if (!loop.step()) st.SkipWithError("open failed");
  set_counters(st, bytes, burst);
}

// Spin politely: pause, and give the core away now and then, since on a busy
// machine the thread being waited for may share it.
inline void cpu_relax(unsigned& spins) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
  if (++spins % 4096 == 0) std::this_thread::yield();
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// N workers, each pinned to its own core with its own key and buffers (built on
// its own thread, so its memory is on its core's NUMA node). One timed
// iteration = every worker runs kSteps bursts; the main thread is worker 0 and
// waits for the others, so the row's time covers the slowest worker and the
// bytes are everyone's: aggregate throughput. Efficiency per core
// (aggregate / (N x the 1-worker row)) is computed by tools/bench-report,
// from wall-clock time and from each worker's CPU time (cpu_bytes_per_second).
// Cycles/byte here are TSC ticks of wall-clock time per byte of all workers.
void bm_aead_scale(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst,
                   int workers) {
  constexpr int kSteps = 4;
  std::atomic<uint64_t> go{0}, done{0};
  std::atomic<int> ready{0};
  std::atomic<bool> stop{false}, failed{false};
  std::vector<std::thread> threads;
  double wall = 0, ticks = 0;
  // Each worker's own CPU time in its bursts (written by that worker only,
  // read after join): the throughput it had while it ran.
  std::vector<double> cpu(static_cast<size_t>(workers), 0.0);
  // Worker 0 is this thread on the core the other rows use, so the 1-worker
  // row matches them; worker w takes the w-th core after it.
  const int first = main_core() >= 0 ? main_core() : 0;
  pin_thread_to_core(first);
  for (int w = 1; w < workers; ++w)
    threads.emplace_back([&, w] {
      pin_thread_to_core(first + w);  // modulo the core count
      AeadLoop loop(s, do_open, bytes, burst);
      ready.fetch_add(1, std::memory_order_release);
      uint64_t seen = 0;
      unsigned spins = 0;
      for (;;) {
        uint64_t g;
        while ((g = go.load(std::memory_order_acquire)) == seen &&
               !stop.load(std::memory_order_relaxed))
          cpu_relax(spins);
        if (g == seen) break;  // stopped
        seen = g;
        const double c = thread_cpu_seconds();
        for (int i = 0; i < kSteps; ++i)
          if (!loop.step()) failed.store(true, std::memory_order_relaxed);
        cpu[static_cast<size_t>(w)] += thread_cpu_seconds() - c;
        done.fetch_add(1, std::memory_order_release);
      }
    });
  {
    AeadLoop mine(s, do_open, bytes, burst);
    while (ready.load(std::memory_order_acquire) != workers - 1) std::this_thread::yield();
    uint64_t target = 0;
    unsigned spins = 0;
    timespec t0{}, t1{};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const uint64_t c0 = tsc::now();
    for (auto _ : st) {
      go.fetch_add(1, std::memory_order_release);
      const double c = thread_cpu_seconds();
      for (int i = 0; i < kSteps; ++i)
        if (!mine.step()) failed.store(true, std::memory_order_relaxed);
      cpu[0] += thread_cpu_seconds() - c;
      target += static_cast<uint64_t>(workers - 1);
      while (done.load(std::memory_order_acquire) < target) cpu_relax(spins);
    }
    const uint64_t c1 = tsc::now();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    wall = static_cast<double>(t1.tv_sec - t0.tv_sec) +
           static_cast<double>(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    ticks = static_cast<double>(c1 - c0);
  }
  stop.store(true, std::memory_order_relaxed);
  for (auto& t : threads) t.join();
  if (main_core() >= 0) pin_thread_to_core(main_core());  // back where the other rows run
  if (failed.load()) st.SkipWithError("open failed");
  // Aggregate throughput is bytes over wall-clock time, not over the main
  // thread's CPU time (Google Benchmark's default, which would not see a
  // worker that was descheduled), and cycles/byte comes straight from the TSC.
  const size_t per_iter = burst * kSteps * static_cast<size_t>(workers);
  const double total = static_cast<double>(st.iterations()) * static_cast<double>(bytes * per_iter);
  if (wall <= 0) return;
  st.counters["bytes_per_second"] = benchmark::Counter(total / wall, benchmark::Counter::kDefaults,
                                                       benchmark::Counter::kIs1024);
  st.counters["items_per_second"] =
      benchmark::Counter(static_cast<double>(st.iterations() * per_iter) / wall);
  st.counters["per_core_bytes_per_second"] = benchmark::Counter(
      total / wall / workers, benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
  if (ticks > 0) st.counters["cycles_per_byte"] = ticks / total;
  st.counters["workers"] = workers;
  st.counters["wall_seconds"] = wall;
  // Sum over workers of bytes / own CPU time: what the cores delivered while
  // they ran. On a quiet machine it matches bytes_per_second; on a busy one
  // it leaves out the time other processes took the cores.
  double sum = 0;
  for (double c : cpu)
    if (c > 0) sum += total / workers / c;
  st.counters["cpu_bytes_per_second"] =
      benchmark::Counter(sum, benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
}

const EVP_AEAD* evp(Suite s) {
  switch (s) {
    case Suite::aes128_gcm: return EVP_aead_aes_128_gcm();
    case Suite::aes256_gcm: return EVP_aead_aes_256_gcm();
    default: return EVP_aead_chacha20_poly1305();
  }
}

void bm_boringssl(benchmark::State& st, Suite s, bool do_open, size_t bytes) {
  EVP_AEAD_CTX ctx;
  const auto key = pattern(suite_info(s).key_len, 9);
  EVP_AEAD_CTX_init(&ctx, evp(s), key.data(), key.size(), 16, nullptr);
  auto in = pattern(bytes, 1), aad = pattern(kAad, 3);
  std::vector<uint8_t> out(bytes + 16), back(bytes);
  uint8_t nonce[12] = {};
  size_t out_len = 0;
  EVP_AEAD_CTX_seal(&ctx, out.data(), &out_len, out.size(), nonce, 12, in.data(), in.size(),
                    aad.data(), aad.size());
  for (auto _ : st) {
    if (do_open) {
      size_t n = 0;
      if (!EVP_AEAD_CTX_open(&ctx, back.data(), &n, back.size(), nonce, 12, out.data(), out_len,
                             aad.data(), aad.size()))
        st.SkipWithError("open failed");
    } else {
      EVP_AEAD_CTX_seal(&ctx, out.data(), &out_len, out.size(), nonce, 12, in.data(), in.size(),
                        aad.data(), aad.size());
    }
    benchmark::DoNotOptimize(out[0]);
  }
  EVP_AEAD_CTX_cleanup(&ctx);
  set_counters(st, bytes, 1);
}

// The reference packet (bench_util.h) through our job layer and through
// EVP_AEAD, so the report can check every implementation computes the same.
void reference_tags() {
  constexpr size_t n = common::kReferenceBytes;
  for (Suite s : kAllSuites) {
    const auto key = pattern(suite_info(s).key_len, 9);
    const auto aad = pattern(kAad, 3);
    AeadKey k;
    k.init(s, key);
    auto data = pattern(n, 1);
    uint8_t tag[16] = {};
    AeadJob j;
    j.key = &k;
    j.aad = aad;
    j.data = data;
    j.tag = tag;
    seal(std::span<AeadJob>(&j, 1));
    common::record_reference_tag("aead", suite_info(s).name, tag);

    EVP_AEAD_CTX ctx;
    EVP_AEAD_CTX_init(&ctx, evp(s), key.data(), key.size(), 16, nullptr);
    const auto in = pattern(n, 1);
    std::vector<uint8_t> out(n + 16);
    uint8_t nonce[12] = {};
    size_t out_len = 0;
    EVP_AEAD_CTX_seal(&ctx, out.data(), &out_len, out.size(), nonce, 12, in.data(), in.size(),
                      aad.data(), aad.size());
    EVP_AEAD_CTX_cleanup(&ctx);
    common::record_reference_tag("boringssl", suite_info(s).name, out.data() + n);
  }
}

int register_all() {
  common::at_start(reference_tags);
  for (Suite s : kAllSuites)
    for (bool o : {false, true})
      for (size_t bytes : kSizes) {
        const char* op = o ? "open" : "seal";
        benchmark::RegisterBenchmark(name(op, "boringssl", suite_info(s).name, bytes, 1).c_str(),
                                     bm_boringssl, s, o, bytes);
        for (size_t burst : kBursts)
          benchmark::RegisterBenchmark(name(op, "aead", suite_info(s).name, bytes, burst).c_str(),
                                       bm_aead, s, o, bytes, burst);
      }
  // Multi-core scaling: 1..N workers at the headline size and burst.
  for (Suite s : {Suite::aes128_gcm, Suite::chacha20_poly1305})
    for (bool o : {false, true})
      for (int w = 1; w <= core_count(); ++w) {
        const std::string impl = "aead-scale" + std::to_string(w);
        benchmark::RegisterBenchmark(
            name(o ? "open" : "seal", impl.c_str(), suite_info(s).name, 1350, 32).c_str(),
            bm_aead_scale, s, o, size_t{1350}, size_t{32}, w);
      }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
