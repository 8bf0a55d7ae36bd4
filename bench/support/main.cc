// main() of every bench executable (it replaces benchmark_main: an object file
// defines main, so the linker never takes the one in libbenchmark_main.a).
// Order: flags, then placement (pin + NUMA binding, topology and TSC printed),
// then the start hooks (reference-packet tags), then the benchmarks.
#include "bench/support/bench_util.h"
#include "bench/support/placement.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  rl::bench::start_up();
  for (auto& hook : rl::bench::common::start_hooks()) hook();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
