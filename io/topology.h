// Where workers run and where their memory lives, from hwloc (DESIGN.md §6).
// Loaded once; read-only afterwards, so safe to share between threads.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace rl::io {

struct Core {
  unsigned index;     // logical core number (hwloc order)
  unsigned first_pu;  // OS index of its first hardware thread
  int numa_node;      // OS index of its NUMA node, -1 when unknown
};

class Topology {
 public:
  static const Topology& get();

  const std::vector<Core>& cores() const { return cores_; }
  // Package, cores, caches and NUMA nodes, one line each, for reports.
  const std::string& describe() const { return description_; }

  // Pins the calling thread to `core` (all of its hardware threads).
  bool pin_current_thread(unsigned core) const;
  // Memory bound to `numa_node` (falls back to ordinary pages where binding
  // is not possible); zeroed; release with release().
  void* alloc_on_node(size_t bytes, int numa_node) const;
  void release(void* p, size_t bytes) const;

  // Parses a `--cpus` style list ("0,2-3"); empty string = every core.
  std::vector<unsigned> choose_cores(const std::string& list) const;

  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

 private:
  Topology();
  void* topo_ = nullptr;  // hwloc_topology_t
  std::vector<Core> cores_;
  std::string description_;
};

}  // namespace rl::io
