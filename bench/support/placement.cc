// hwloc placement for the bench executables (see placement.h). Not timed:
// everything here runs at start-up or in a benchmark's setup.
#include "bench/support/placement.h"

#include <hwloc.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "bench/support/bench_util.h"

namespace rl::bench {
namespace {

// One topology for the process, loaded once; hwloc allows concurrent
// read-only use, the mutex only orders the binding calls and their messages.
struct Topo {
  hwloc_topology_t t = nullptr;
  bool ok = false;
  std::mutex mu;
  Topo() {
    if (hwloc_topology_init(&t) == 0 && hwloc_topology_load(t) == 0) ok = true;
  }
  ~Topo() {
    if (t) hwloc_topology_destroy(t);
  }
};

Topo& topo() {
  static Topo* p = new Topo();  // never destroyed: worker threads may outlive statics
  return *p;
}

int g_main_core = -1;

std::string human_bytes(unsigned long long b) {
  char buf[32];
  if (b >= (1ull << 30) && b % (1ull << 30) == 0)
    snprintf(buf, sizeof buf, "%llu GiB", b >> 30);
  else if (b >= (1ull << 30))
    snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20))
    snprintf(buf, sizeof buf, "%llu MiB", b >> 20);
  else
    snprintf(buf, sizeof buf, "%llu KiB", b >> 10);
  return buf;
}

std::string plural(int n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

bool env_set(const char* k) {
  const char* v = getenv(k);
  return v && *v && strcmp(v, "0") != 0;
}

}  // namespace

void start_up() {
  const bool quiet = env_set("RL_BENCH_QUIET");
  const std::string topo_line = topology_summary();
  const double hz = tsc::hz();
  char tsc_line[96];
  snprintf(tsc_line, sizeof tsc_line, "%.0f", hz);
  benchmark::AddCustomContext("rl_topology", topo_line);
  benchmark::AddCustomContext("rl_tsc_hz", tsc_line);
  benchmark::AddCustomContext("rl_method", common::kMethod);
  if (!quiet) {
    fprintf(stderr, "[placement] topology: %s\n", topo_line.c_str());
    fprintf(stderr, "[placement] TSC: %.1f MHz (measured over 50 ms against CLOCK_MONOTONIC)\n",
            hz / 1e6);
  }

  std::string placement;
  if (env_set("RL_BENCH_NO_PIN")) {
    placement = "not pinned (RL_BENCH_NO_PIN)";
  } else {
    int core = core_count() - 1;
    if (const char* c = getenv("RL_BENCH_CORE"); c && *c) core = atoi(c);
    std::string why;
    const int n = core_count();
    if (pin_thread_to_core(core, &why)) g_main_core = ((core % n) + n) % n;
    placement = why;
  }
  benchmark::AddCustomContext("rl_placement", placement);
  if (!quiet) fprintf(stderr, "[placement] benchmark thread: %s\n", placement.c_str());
}

int core_count() {
  Topo& tp = topo();
  if (!tp.ok) return 1;
  const int n = hwloc_get_nbobjs_by_type(tp.t, HWLOC_OBJ_CORE);
  return n > 0 ? n : 1;
}

int main_core() { return g_main_core; }

std::string topology_summary() {
  Topo& tp = topo();
  if (!tp.ok) return "hwloc could not load the topology";
  auto count = [&](hwloc_obj_type_t ty) { return hwloc_get_nbobjs_by_type(tp.t, ty); };
  std::string s = plural(count(HWLOC_OBJ_PACKAGE), "package") + ", " +
                  plural(count(HWLOC_OBJ_CORE), "core") + ", " + plural(count(HWLOC_OBJ_PU), "PU") +
                  ", " + plural(count(HWLOC_OBJ_NUMANODE), "NUMA node");
  std::string mem;
  for (int i = 0; i < count(HWLOC_OBJ_NUMANODE); ++i) {
    hwloc_obj_t n = hwloc_get_obj_by_type(tp.t, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    if (n && n->attr && n->attr->numanode.local_memory)
      mem += (mem.empty() ? "" : ", ") + human_bytes(n->attr->numanode.local_memory);
  }
  if (!mem.empty()) s += " (" + mem + ")";
  const struct {
    hwloc_obj_type_t type;
    const char* label;
  } caches[] = {{HWLOC_OBJ_L1CACHE, "L1d"}, {HWLOC_OBJ_L2CACHE, "L2"}, {HWLOC_OBJ_L3CACHE, "L3"}};
  const char* sep = "; ";
  for (const auto& c : caches) {
    const int n = count(c.type);
    if (n <= 0) continue;
    hwloc_obj_t o = hwloc_get_obj_by_type(tp.t, c.type, 0);
    if (!o || !o->attr) continue;
    s += sep + std::string(c.label) + " " + human_bytes(o->attr->cache.size) + " x" +
         std::to_string(n);
    sep = ", ";
  }
  char ver[48];
  const unsigned v = hwloc_get_api_version();
  snprintf(ver, sizeof ver, " (hwloc API %u.%u.%u)", v >> 16, (v >> 8) & 0xff, v & 0xff);
  return s + ver;
}

bool pin_thread_to_core(int core, std::string* why) {
  Topo& tp = topo();
  if (!tp.ok) {
    if (why) *why = "not pinned: hwloc could not load the topology";
    return false;
  }
  std::lock_guard<std::mutex> lock(tp.mu);
  const int n = core_count();
  core = ((core % n) + n) % n;
  hwloc_obj_t c = hwloc_get_obj_by_type(tp.t, HWLOC_OBJ_CORE, static_cast<unsigned>(core));
  if (!c) {
    if (why) *why = "not pinned: no core " + std::to_string(core);
    return false;
  }
  // One PU of the core, so the thread does not wander between SMT siblings.
  hwloc_bitmap_t cpu = hwloc_bitmap_dup(c->cpuset);
  hwloc_bitmap_singlify(cpu);
  const int pu = hwloc_bitmap_first(cpu);
  const bool pinned = hwloc_set_cpubind(tp.t, cpu, HWLOC_CPUBIND_THREAD) == 0;
  const int cpu_errno = errno;
  hwloc_bitmap_free(cpu);

  // Allocations this thread makes from now on (the benchmark's buffers, made
  // in its setup) come from the core's NUMA node.
  const bool bound =
      hwloc_set_membind(tp.t, c->nodeset, HWLOC_MEMBIND_BIND,
                        HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) == 0;
  const int mem_errno = errno;
  if (why) {
    char nodes[64] = "?";
    hwloc_bitmap_list_snprintf(nodes, sizeof nodes, c->nodeset);
    std::string s = pinned ? "pinned to core " + std::to_string(core) + " (PU " +
                                 std::to_string(pu) + ")"
                           : "not pinned (hwloc_set_cpubind: " +
                                 std::string(strerror(cpu_errno)) + ")";
    s += bound ? ", memory bound to NUMA node " + std::string(nodes)
               : ", memory not bound (hwloc_set_membind: " + std::string(strerror(mem_errno)) +
                     "; first-touch allocation on the pinned core instead)";
    *why = s;
  }
  return pinned;
}

}  // namespace rl::bench
