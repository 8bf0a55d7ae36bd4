#include "io/topology.h"

#include <hwloc.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <sstream>

namespace rl::io {
namespace {
hwloc_topology_t T(void* p) { return static_cast<hwloc_topology_t>(p); }
}  // namespace

const Topology& Topology::get() {
  static const Topology t;
  return t;
}

Topology::Topology() {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
    description_ = "hwloc: topology unavailable\n";
    return;
  }
  topo_ = topo;
  std::ostringstream d;
  const int npkg = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
  const int ncore = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  const int npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  const int nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  d << "packages " << npkg << ", cores " << ncore << ", hardware threads " << npu
    << ", NUMA nodes " << nnuma << "\n";
  for (hwloc_obj_type_t t : {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE}) {
    const int n = hwloc_get_nbobjs_by_type(topo, t);
    if (n <= 0) continue;
    hwloc_obj_t o = hwloc_get_obj_by_type(topo, t, 0);
    char type[32];
    hwloc_obj_type_snprintf(type, sizeof type, o, 0);
    d << type << ": " << n << " x " << (o->attr ? o->attr->cache.size / 1024 : 0) << " KiB\n";
  }
  for (int i = 0; i < ncore; ++i) {
    hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, i);
    const int pu = hwloc_bitmap_first(core->cpuset);
    int node = -1;
    if (core->nodeset != nullptr && !hwloc_bitmap_iszero(core->nodeset))
      node = hwloc_bitmap_first(core->nodeset);
    cores_.push_back(Core{static_cast<unsigned>(i), static_cast<unsigned>(pu < 0 ? 0 : pu), node});
    d << "core " << i << ": PU " << pu << ", NUMA node " << node << "\n";
  }
  description_ = d.str();
}

Topology::~Topology() {
  if (topo_ != nullptr) hwloc_topology_destroy(T(topo_));
}

bool Topology::pin_current_thread(unsigned core) const {
  if (topo_ == nullptr || core >= cores_.size()) return false;
  hwloc_obj_t c = hwloc_get_obj_by_type(T(topo_), HWLOC_OBJ_CORE, static_cast<int>(core));
  return c != nullptr && hwloc_set_cpubind(T(topo_), c->cpuset, HWLOC_CPUBIND_THREAD) == 0;
}

void* Topology::alloc_on_node(size_t bytes, int numa_node) const {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (topo_ != nullptr && numa_node >= 0) {
    // Best effort: a machine without NUMA support still gets working memory.
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    hwloc_bitmap_only(set, static_cast<unsigned>(numa_node));
    hwloc_set_area_membind(T(topo_), p, bytes, set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET);
    hwloc_bitmap_free(set);
  }
  std::memset(p, 0, bytes);  // fault the pages in now, on that node
  return p;
}

void Topology::release(void* p, size_t bytes) const {
  if (p != nullptr) munmap(p, bytes);
}

std::vector<unsigned> Topology::choose_cores(const std::string& list) const {
  std::vector<unsigned> out;
  if (list.empty()) {
    for (const Core& c : cores_) out.push_back(c.index);
    return out;
  }
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    unsigned a = 0, b = 0;
    if (std::sscanf(part.c_str(), "%u-%u", &a, &b) == 2) {
      for (unsigned i = a; i <= b; ++i)
        if (i < cores_.size()) out.push_back(i);
    } else if (std::sscanf(part.c_str(), "%u", &a) == 1 && a < cores_.size()) {
      out.push_back(a);
    }
  }
  return out;
}

}  // namespace rl::io
