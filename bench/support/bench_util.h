// Shared helpers for the benchmark suites: names as DESIGN.md §7b says
// (<op>/<impl>/<suite>/<bytes>/<burst>), counters, sizes.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rl::bench {

inline std::string name(const char* op, const char* impl, const char* suite, size_t bytes,
                        size_t burst) {
  return std::string(op) + "/" + impl + "/" + suite + "/" + std::to_string(bytes) + "/" +
         std::to_string(burst);
}

// Sets bytes_per_second and items_per_second on every benchmark.
inline void set_counters(benchmark::State& st, size_t bytes, size_t burst) {
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * bytes * burst));
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * burst));
}

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31);
  return v;
}

}  // namespace rl::bench
