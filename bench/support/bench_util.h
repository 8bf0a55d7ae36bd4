// Shared helpers for the benchmark suites: names as DESIGN.md §7b says
// (<op>/<impl>/<suite>/<bytes>/<burst>), counters, sizes.
//
// Header-only on purpose: every bench executable includes it, including the
// peer executables that link OpenSSL or other libraries instead of ours, so it
// depends on Google Benchmark and the C++ library only.
#pragma once
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace rl::bench {

// The time-stamp counter, for cycles/byte. Its frequency is measured once per
// process against CLOCK_MONOTONIC (the invariant TSC of current x86 CPUs ticks
// at a constant rate whatever the core clock does, so cycles here are TSC
// ticks, what other crypto benchmarks report as "cycles").
namespace tsc {

inline uint64_t now() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return 0;
#endif
}

inline double measure_hz(long ms) {
  timespec t0{}, t1{}, nap{0, ms * 1000000L};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const uint64_t c0 = now();
  nanosleep(&nap, nullptr);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const uint64_t c1 = now();
  const double ns = static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e9 +
                    static_cast<double>(t1.tv_nsec - t0.tv_nsec);
  return ns > 0 && c1 > c0 ? static_cast<double>(c1 - c0) * 1e9 / ns : 0.0;
}

// TSC ticks per second, 0 where there is no TSC. Measured on first use (the
// placement code calls it at start-up and prints it).
inline double hz() {
  static const double v = measure_hz(50);
  return v;
}

}  // namespace tsc

inline std::string name(const char* op, const char* impl, const char* suite, size_t bytes,
                        size_t burst) {
  return std::string(op) + "/" + impl + "/" + suite + "/" + std::to_string(bytes) + "/" +
         std::to_string(burst);
}

// Sets bytes_per_second and items_per_second on every benchmark, and
// cycles_per_byte = TSC frequency x the row's measured time / bytes processed
// (Google Benchmark divides by the row's time for kIsRate, then kInvert flips
// it, so the value is exactly tsc_hz / bytes_per_second; the console shows it
// with an "s" suffix because of that, the JSON value is plain cycles/byte).
inline void set_counters(benchmark::State& st, size_t bytes, size_t burst) {
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * bytes * burst));
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * burst));
  const double total = static_cast<double>(st.iterations()) * static_cast<double>(bytes * burst);
  const double hz = tsc::hz();
  if (hz > 0 && total > 0)
    st.counters["cycles_per_byte"] = benchmark::Counter(
        total / hz,
        static_cast<benchmark::Counter::Flags>(benchmark::Counter::kIsRate |
                                               benchmark::Counter::kInvert));
}

// The clock of an open row over a pool of sealed packets. Such a row opens
// one burst per iteration and, when the pool is used up, seals it again (the
// receiver refuses repeats). The reseal is not part of an open, and Google
// Benchmark's PauseTiming/ResumeTiming around it cost 1.3-2 us of timed CPU
// per pair on a VM (two CLOCK_THREAD_CPUTIME_ID system calls): 3-5% of a row
// of 32 x 1350 B, which the raw AEAD rows it is compared with never pay. So
// these rows are timed by the monotonic clock around the bursts only, as
// Google Benchmark's manual time (register them with ->UseManualTime(); main.cc's
// reporter keeps their names as DESIGN.md §7b has them). Wall-clock time is
// never less than the CPU time the other rows report, so nothing is flattered.
// The pause stays, so the JSON's cpu_time of these rows means what it did.
// Made right before the timed loop; credits the last stretch when destroyed.
class OpenClock {
 public:
  explicit OpenClock(benchmark::State& st) : st_(st), t0_(Clock::now()) {}
  OpenClock(const OpenClock&) = delete;
  OpenClock& operator=(const OpenClock&) = delete;
  ~OpenClock() { credit(); }
  // Runs f (the reseal) outside the row's time.
  template <class F>
  void untimed(F&& f) {
    credit();
    st_.PauseTiming();
    f();
    st_.ResumeTiming();
    t0_ = Clock::now();
  }

 private:
  using Clock = std::chrono::steady_clock;
  void credit() {
    const auto t = Clock::now();
    st_.SetIterationTime(std::chrono::duration<double>(t - t0_).count());
    t0_ = t;
  }
  benchmark::State& st_;
  Clock::time_point t0_;
};

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31);
  return v;
}

// What every AEAD row uses, ours and the peers' alike (kept in a nested
// namespace so suites that define their own kSizes/kAad do not clash).
namespace common {
inline constexpr size_t kAeadAadLen = 13;  // a TLS 1.2 / DTLS 1.2 record header
// The AEAD sizes of bench/aead_bench.cc plus the payload sizes the protocol
// suites use (QUIC 1200, SRTP/ESP 1400/1452, jumbo 8900), so that every
// protocol row has a raw-AEAD and a peer row of the same size to compare with.
inline constexpr size_t kAeadSizes[] = {64, 576, 1200, 1350, 1400, 1452, 8900, 9000, 16384};
inline constexpr size_t kPeerBurst = 32;  // packets in flight for burst APIs
// Said in every result file's context so readers know what was timed.
inline constexpr const char* kMethod =
    "keys set up outside the timed loop for every implementation; AAD 13 bytes; "
    "16-byte tag verified on open; same plaintext sizes for every implementation";

// The reference packet every implementation seals once at start-up, outside
// any timing: key = pattern(key_len, 9), nonce = 12 zero bytes, AAD =
// pattern(13, 3), plaintext = pattern(1350, 1). Each executable records the
// tag it got in its JSON context (rl_kat/<impl>/<suite>) and bench-report
// checks that all implementations agree, i.e. that they all did the same work.
inline constexpr size_t kReferenceBytes = 1350;
inline void record_reference_tag(const char* impl, const char* suite, const uint8_t* tag,
                                 size_t len = 16) {
  static const char* digits = "0123456789abcdef";
  std::string h;
  for (size_t i = 0; i < len; ++i) {
    h += digits[tag[i] >> 4];
    h += digits[tag[i] & 15];
  }
  benchmark::AddCustomContext(std::string("rl_kat/") + impl + "/" + suite, h);
}

// Work to do once in main, after flag parsing and placement and before the
// benchmarks run (bench/support/main.cc), rather than in a static initializer
// where other translation units may not be initialized yet.
inline std::vector<std::function<void()>>& start_hooks() {
  static std::vector<std::function<void()>> hooks;
  return hooks;
}
inline int at_start(std::function<void()> f) {
  start_hooks().push_back(std::move(f));
  return 0;
}
}  // namespace common

}  // namespace rl::bench
