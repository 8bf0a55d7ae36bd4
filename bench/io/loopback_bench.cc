// Loopback throughput of the UDP data paths with crypto in place:
//   sender (core 0): acquire TX buffers, write header, seal the burst, send
//   receiver (core 1): receive a burst, open it in place, recycle
// Rows: io/<path>/<proto>/<bytes>/<burst> with path uring, uring-gso,
// uring-zc, uring-gso-zc, mmsg, mmsg-gso; proto `aead` = an 8-byte sequence
// header + AES-128-GCM payload + 16-byte tag, one AEAD job per datagram.
// Counters: items_per_second (packets opened), bytes_per_second (protected
// payload opened), gbit_per_second, drops, cycles_per_packet (CPU time of
// both threads at the nominal clock / packets).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "bench/support/bench_util.h"
#include "core/aead.h"
#include "io/topology.h"
#include "io/udp_path.h"

namespace rl::io {
namespace {

constexpr uint32_t kHeader = 8, kTag = 16;
constexpr uint32_t kWindow = 2048;  // packets in flight before the sender waits

double nominal_hz() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("cpu MHz", 0) == 0) return std::stod(line.substr(line.find(':') + 1)) * 1e6;
  return 0;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

struct Variant {
  PathKind kind;
  bool gso, zc;
};

void bm_loopback(benchmark::State& st, Variant v, uint32_t bytes, uint32_t burst) {
  const Topology& topo = Topology::get();
  const unsigned ncores = static_cast<unsigned>(topo.cores().size());
  const int node = topo.cores().empty() ? -1 : topo.cores()[0].numa_node;
  PathConfig cfg;
  cfg.kind = v.kind;
  cfg.gso = v.gso;
  cfg.gro = v.gso;
  cfg.zerocopy = v.zc;
  cfg.numa_node = node;
  cfg.rx_buffers = v.gso ? 512 : 4096;
  cfg.tx_buffers = 4096;
  std::string err;
  const sockaddr_in any = loopback(0);
  const int rfd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any, nullptr, 0, cfg.gro, &err);
  sockaddr_in bound{};
  socklen_t bl = sizeof bound;
  getsockname(rfd, reinterpret_cast<sockaddr*>(&bound), &bl);
  const int tfd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any,
                                  reinterpret_cast<const sockaddr*>(&bound), sizeof bound, false, &err);
  auto rx = make_udp_path(rfd, cfg, &err);
  auto tx = make_udp_path(tfd, cfg, &err);
  if (!rx || !tx || rx->kind() != v.kind) {
    st.SkipWithError(("path not available: " + err).c_str());
    return;
  }
  AeadKey key;
  key.init(Suite::aes128_gcm, std::vector<uint8_t>(16, 3));

  std::atomic<uint64_t> received{0}, failed{0};
  std::atomic<bool> stop{false};
  std::thread receiver([&] {
    topo.pin_current_thread(ncores > 1 ? 1 : 0);
    RxPacket pk[64];
    AeadJob jobs[64];
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t n = rx->receive(pk, 1);
      for (size_t i = 0; i < n; ++i) {
        AeadJob& j = jobs[i];
        j = AeadJob{};
        j.key = &key;
        std::memcpy(j.nonce + 4, pk[i].data, kHeader);
        j.aad = {pk[i].data, kHeader};
        j.data = {pk[i].data + kHeader, pk[i].len - kHeader - kTag};
        j.tag = pk[i].data + pk[i].len - kTag;
      }
      open({jobs, n});
      uint64_t ok = 0;
      for (size_t i = 0; i < n; ++i) ok += jobs[i].status == Status::ok;
      rx->recycle({pk, n});
      received.fetch_add(ok, std::memory_order_relaxed);
      failed.fetch_add(n - ok, std::memory_order_relaxed);
    }
  });
  topo.pin_current_thread(0);

  const uint32_t len = kHeader + bytes + kTag;
  std::vector<TxPacket> tp(burst);
  std::vector<AeadJob> jobs(burst);
  uint64_t seq = 0, sent = 0;
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    while (sent - received.load(std::memory_order_relaxed) - failed.load(std::memory_order_relaxed) > kWindow)
      tx->poll();
    uint32_t n = 0;
    for (; n < burst; ++n) {
      const uint32_t id = tx->tx_pool().acquire();
      if (id == BufferPool::kNone) break;
      uint8_t* b = tx->tx_pool().data(id);
      store_be64(b, seq + n);
      AeadJob& j = jobs[n];
      j = AeadJob{};
      j.key = &key;
      store_be64(j.nonce + 4, seq + n);
      j.aad = {b, kHeader};
      j.data = {b + kHeader, bytes};
      j.tag = b + kHeader + bytes;
      tp[n] = TxPacket{id, 0, len};
    }
    seal({jobs.data(), n});
    const size_t acc = tx->send({tp.data(), n});
    for (size_t k = acc; k < n; ++k) tx->tx_pool().release(tp[k].buf);
    seq += n;
    sent += acc;
  }
  // Let the receiver catch up with what is still in flight (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (received + failed < sent && std::chrono::steady_clock::now() < deadline) tx->poll();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  stop = true;
  receiver.join();
  tx->drain(1000);

  const double pkts = static_cast<double>(received.load());
  st.counters["items_per_second"] = benchmark::Counter(pkts / secs);
  st.counters["bytes_per_second"] = benchmark::Counter(pkts * bytes / secs);
  st.counters["gbit_per_second"] = benchmark::Counter(pkts * bytes * 8 / secs / 1e9);
  st.counters["drops"] = benchmark::Counter(static_cast<double>(sent) - pkts);
  st.counters["auth_failed"] = benchmark::Counter(static_cast<double>(failed.load()));
  if (const double hz = nominal_hz(); hz > 0 && pkts > 0)
    st.counters["cycles_per_packet"] = benchmark::Counter(cpu * hz / pkts);
  const IoCounters& c = tx->counters();
  st.counters["tx_calls"] = benchmark::Counter(static_cast<double>(c.tx_calls));
  st.counters["zc_copied"] = benchmark::Counter(static_cast<double>(c.tx_zc_copied));
}

int register_all() {
  struct Row {
    const char* name;
    Variant v;
  };
  const Row rows[] = {
      {"uring", {PathKind::uring, false, false}},     {"uring-gso", {PathKind::uring, true, false}},
      {"uring-zc", {PathKind::uring, false, true}},   {"uring-gso-zc", {PathKind::uring, true, true}},
      {"mmsg", {PathKind::mmsg, false, false}},       {"mmsg-gso", {PathKind::mmsg, true, false}},
  };
  for (const Row& r : rows)
    for (uint32_t burst : {32u}) {
      const std::string name = std::string("io/") + r.name + "/aead/1350/" + std::to_string(burst);
      benchmark::RegisterBenchmark(name.c_str(), bm_loopback, r.v, 1350u, burst);
    }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::io
