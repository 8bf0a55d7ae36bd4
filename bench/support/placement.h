// Thread and memory placement for the benchmark executables, with hwloc.
//
// Every bench executable links placement.cc and main.cc (CMake adds them to
// each rl-bench* target). At start-up, in main, start_up() prints the machine's topology
// (packages, cores, caches, NUMA nodes) and the measured TSC frequency to
// stderr, pins the main thread -- the one Google Benchmark runs single-threaded
// benchmarks on -- to one core, and binds that thread's memory allocations to
// the core's NUMA node, so the buffers each benchmark allocates in its setup
// are local. The same facts go into the JSON context (rl_topology,
// rl_placement, rl_tsc_hz, rl_method).
//
// Environment: RL_BENCH_CORE=<n> picks the core (default: the last one, away
// from the interrupts that usually land on core 0), RL_BENCH_NO_PIN=1 turns
// pinning off, RL_BENCH_QUIET=1 keeps the start-up lines off stderr.
#pragma once
#include <string>

namespace rl::bench {

// Prints the topology and the TSC frequency, pins the calling thread and binds
// its memory, and records all of it in the JSON context. Called once by main.
void start_up();

// Cores hwloc sees (at least 1).
int core_count();

// The core the main benchmark thread was pinned to at start-up, -1 if none.
int main_core();

// Pins the calling thread to one PU of core `core` (logical index, modulo the
// core count) and binds its future allocations to that core's NUMA node.
// Returns false and says why in *why when either step failed (the benchmark
// still runs, unpinned).
bool pin_thread_to_core(int core, std::string* why = nullptr);

// One line: "1 package, 2 cores, 2 PUs, 1 NUMA node; L1d 32 KiB x2, ...".
std::string topology_summary();

}  // namespace rl::bench
