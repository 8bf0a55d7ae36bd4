// Loopback throughput of the UDP data paths with crypto in place:
//   sender (core 0): acquire TX buffers, write header, seal the burst, send
//   receiver (core 1): receive a burst, open it in place, recycle
// Rows: io/<path>/<proto>/<bytes>/<burst> with path uring, uring-gso,
// uring-zc, uring-gso-zc, mmsg, mmsg-gso; proto `aead` = an 8-byte sequence
// header + AES-128-GCM payload + 16-byte tag, one AEAD job per datagram;
// `esp` = the real rl::esp::Sadb (UDP-encapsulated transport mode,
// AES-128-GCM, ICV 16, 4096-packet replay window, opened with open_udp);
// `quic` = the real rl::quic::PacketProtection (1-RTT short header, 8-byte
// DCID, AES-128-GCM, header protection; limits lifted so that a long run
// does not hit the confidentiality limit). Both seal the burst in place in
// the TX pool buffers and open it in place in the RX pool buffers.
// Counters: items_per_second (packets opened), bytes_per_second (protected
// payload opened), gbit_per_second, drops (sent, never opened),
// socket_drops (skbs the receiving socket dropped, SO_MEMINFO; a GSO run
// counts once), stalls_20ms (windows written off by time), and
// cycles_per_packet = tx_cycles_per_packet + rx_cycles_per_packet: each
// thread's own CPU time (CLOCK_THREAD_CPUTIME_ID) at the nominal clock per
// packet opened, the sender's wait for window room left out. On a shared
// machine the packet rates follow the share of the cores the two threads
// get; the cycle counts do not, and the pair cannot go faster than
// clock / max(tx, rx) cycles per packet.
#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "bench/support/bench_util.h"
#include "core/aead.h"
#include "core/esp.h"
#include "core/quic.h"
#include "io/topology.h"
#include "io/udp_path.h"

namespace rl::io {
namespace {

constexpr uint32_t kHeader = 8, kTag = 16;
// Packets in flight before the sender waits: 1.4 MB of 1350-byte datagrams,
// well inside the 8 MB receive buffer even for zero-copy GSO skbs, whose
// truesize on loopback is several times their payload (2048 overflowed it).
constexpr int64_t kWindow = 1024;

double nominal_hz() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("cpu MHz", 0) == 0) return std::stod(line.substr(line.find(':') + 1)) * 1e6;
  return 0;
}

// CPU time of the calling thread (user + system), in seconds.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// The socket's SO_MEMINFO entry `what` (receive queue bytes, drops, ...).
uint64_t meminfo(int fd, int what) {
  uint32_t m[SK_MEMINFO_VARS] = {};
  socklen_t l = sizeof m;
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, m, &l) != 0 || l <= what * sizeof(uint32_t)) return 0;
  return m[what];
}
// Skbs the socket dropped (receive buffer full): a GSO run counts once.
uint64_t socket_drops(int fd) { return meminfo(fd, SK_MEMINFO_DROPS); }

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

enum class Proto : uint8_t { aead, esp, quic };
const char* proto_name(Proto p) { return p == Proto::aead ? "aead" : p == Proto::esp ? "esp" : "quic"; }

// Both ends of one protocol: the sender seals views in place, the receiver
// opens them in place. Each end is used by one thread only.
class ProtoPair {
 public:
  explicit ProtoPair(Proto p) : p_(p) {
    const std::vector<uint8_t> k(20, 3), secret(32, 5);
    key_.init(Suite::aes128_gcm, std::vector<uint8_t>(16, 3));
    if (p == Proto::esp) {
      esp::SaConfig c;
      c.spi = 0x1001;
      c.keymat = k;
      c.mode = esp::Mode::transport;
      c.replay_window = 4096;
      ok_ = tx_sa_.install(Direction::seal, c) == Status::ok &&
            rx_sa_.install(Direction::open, c) == Status::ok;
      for (esp::SealMeta& m : meta_) m.next_header = 17;
    } else if (p == Proto::quic) {
      const uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
      Limits unlimited{};
      ok_ = tx_q_.set_dcid(dcid) == Status::ok && rx_q_.set_short_dcid_length(8) == Status::ok &&
            tx_q_.install(quic::Level::one_rtt, Direction::seal, Suite::aes128_gcm, secret, &unlimited) ==
                Status::ok &&
            rx_q_.install(quic::Level::one_rtt, Direction::open, Suite::aes128_gcm, secret, &unlimited) ==
                Status::ok;
    }
  }
  bool ok() const { return ok_; }
  uint32_t headroom() const {
    return p_ == Proto::aead ? kHeader : p_ == Proto::esp ? 16 : 1 + 8 + 4;
  }
  // Seals views holding payload at [offset, offset+length); `seq` numbers the
  // aead framing. Returns how many are ok.
  size_t seal(std::span<PacketView> v, uint64_t seq) {
    if (p_ == Proto::esp) return tx_sa_.seal(0x1001, v, std::span<const esp::SealMeta>(meta_, v.size()));
    if (p_ == Proto::quic) {
      for (size_t i = 0; i < v.size(); ++i) {
        qp_tx_[i] = quic::Packet{};
        qp_tx_[i].view = v[i];
      }
      const size_t ok = tx_q_.seal({qp_tx_, v.size()});
      for (size_t i = 0; i < v.size(); ++i) v[i] = qp_tx_[i].view;
      return ok;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      PacketView& pv = v[i];
      uint8_t* b = pv.data() - kHeader;
      store_be64(b, seq + i);
      AeadJob& j = jobs_tx_[i];
      j = AeadJob{};
      j.key = &key_;
      store_be64(j.nonce + 4, seq + i);
      j.aad = {b, kHeader};
      j.data = {pv.data(), pv.length};
      j.tag = pv.data() + pv.length;
      pv.offset -= kHeader;
      pv.length += kHeader + kTag;
    }
    seal_jobs({jobs_tx_, v.size()});
    return v.size();
  }
  size_t open(std::span<PacketView> v) {
    size_t ok = 0;
    if (p_ == Proto::esp) return rx_sa_.open_udp(v);
    if (p_ == Proto::quic) {
      for (size_t i = 0; i < v.size(); ++i) {
        qp_rx_[i] = quic::Packet{};
        qp_rx_[i].view = v[i];
      }
      return rx_q_.open({qp_rx_, v.size()});
    }
    for (size_t i = 0; i < v.size(); ++i) {
      AeadJob& j = jobs_rx_[i];
      uint8_t* d = v[i].data();
      j = AeadJob{};
      j.key = &key_;
      std::memcpy(j.nonce + 4, d, kHeader);
      j.aad = {d, kHeader};
      j.data = {d + kHeader, v[i].length - kHeader - kTag};
      j.tag = d + v[i].length - kTag;
    }
    open_jobs({jobs_rx_, v.size()});
    for (size_t i = 0; i < v.size(); ++i) ok += jobs_rx_[i].status == Status::ok;
    return ok;
  }

 private:
  static void seal_jobs(std::span<AeadJob> j) { rl::seal(j); }
  static void open_jobs(std::span<AeadJob> j) { rl::open(j); }
  Proto p_;
  bool ok_ = true;
  AeadKey key_;
  AeadJob jobs_tx_[64], jobs_rx_[64];
  esp::Sadb tx_sa_, rx_sa_;
  esp::SealMeta meta_[64];
  quic::PacketProtection tx_q_, rx_q_;
  quic::Packet qp_tx_[64], qp_rx_[64];
};

struct Variant {
  PathKind kind;
  bool gso, zc;
};

void bm_loopback(benchmark::State& st, Variant v, Proto proto, uint32_t bytes, uint32_t burst) {
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
  ProtoPair pp(proto);
  if (!pp.ok()) {
    st.SkipWithError("protocol keys refused");
    return;
  }

  std::atomic<uint64_t> received{0}, failed{0};
  std::atomic<bool> stop{false};
  std::atomic<double> rx_cpu{0};
  std::thread receiver([&] {
    topo.pin_current_thread(ncores > 1 ? 1 : 0);
    pthread_setname_np(pthread_self(), "io-bench-rx");  // for perf --sort comm
    const double cpu_start = thread_cpu_seconds();
    RxPacket pk[64];
    PacketView views[64];
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t n = rx->receive(pk, 1);
      for (size_t i = 0; i < n; ++i) views[i] = PacketView{pk[i].data, pk[i].len, 0, pk[i].len, Status::ok};
      const uint64_t ok = n == 0 ? 0 : pp.open({views, n});
      rx->recycle({pk, n});
      received.fetch_add(ok, std::memory_order_relaxed);
      failed.fetch_add(n - ok, std::memory_order_relaxed);
    }
    rx_cpu = thread_cpu_seconds() - cpu_start;
  });
  topo.pin_current_thread(0);

  const uint32_t head = pp.headroom();
  std::vector<TxPacket> tp(burst);
  std::vector<PacketView> views(burst);
  std::vector<uint32_t> ids(burst);
  uint64_t seq = 0, sent = 0, lost = 0, stalls = 0;
  const uint64_t drops0 = socket_drops(rx->fd());
  double tx_cpu = 0, wait_cpu = 0;
  const double cpu0 = thread_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    // Wait for room in the window. Datagrams the receiving socket dropped
    // never arrive: after 100 us without progress, with nothing left in the
    // socket's queue (SO_MEMINFO) nor in the sender's, what has not arrived
    // is written off at once, so a drop is counted (`drops`), not timed; a
    // loss seen no other way is written off after 20 ms (`stalls_20ms`).
    // A write-off of a burst the receiver still holds only widens the window.
    auto arrived = [&] { return received.load(std::memory_order_relaxed) + failed.load(std::memory_order_relaxed); };
    auto outstanding = [&] {
      return static_cast<int64_t>(sent) - static_cast<int64_t>(lost) - static_cast<int64_t>(arrived());
    };
    if (outstanding() > kWindow) {
      const double w0 = thread_cpu_seconds();
      uint64_t last = arrived();
      auto since = std::chrono::steady_clock::now();
      while (outstanding() > kWindow) {
        tx->poll();
        const auto now = std::chrono::steady_clock::now();
        if (const uint64_t a = arrived(); a != last) {
          last = a;
          since = now;
        } else if (now - since > std::chrono::milliseconds(20)) {
          lost = sent - a;
          ++stalls;
        } else if (now - since > std::chrono::microseconds(100) && tx->tx_in_flight() == 0 &&
                   meminfo(rx->fd(), SK_MEMINFO_RMEM_ALLOC) == 0 && socket_drops(rx->fd()) != drops0) {
          lost = sent - a;
        }
      }
      wait_cpu += thread_cpu_seconds() - w0;
    }
    uint32_t n = 0;
    for (; n < burst; ++n) {
      const uint32_t id = tx->tx_pool().acquire();
      if (id == BufferPool::kNone) break;
      ids[n] = id;
      views[n] = PacketView{tx->tx_pool().data(id), tx->tx_pool().buffer_size(), head, bytes, Status::ok};
    }
    pp.seal({views.data(), n}, seq);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (views[i].status != Status::ok) {
        tx->tx_pool().release(ids[i]);
        continue;
      }
      tp[m++] = TxPacket{ids[i], views[i].offset, views[i].length};
    }
    const size_t acc = tx->send({tp.data(), m});
    for (size_t k = acc; k < m; ++k) tx->tx_pool().release(tp[k].buf);
    seq += n;
    sent += acc;
  }
  // Let the receiver catch up with what is still in flight (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (received + failed < sent && std::chrono::steady_clock::now() < deadline) tx->poll();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  tx_cpu = thread_cpu_seconds() - cpu0 - wait_cpu;
  stop = true;
  receiver.join();
  tx->drain(1000);

  const double pkts = static_cast<double>(received.load());
  st.counters["items_per_second"] = benchmark::Counter(pkts / secs);
  st.counters["bytes_per_second"] = benchmark::Counter(pkts * bytes / secs);
  st.counters["gbit_per_second"] = benchmark::Counter(pkts * bytes * 8 / secs / 1e9);
  st.counters["drops"] = benchmark::Counter(static_cast<double>(sent) - pkts);
  st.counters["socket_drops"] = benchmark::Counter(static_cast<double>(socket_drops(rx->fd()) - drops0));
  st.counters["stalls_20ms"] = benchmark::Counter(static_cast<double>(stalls));
  st.counters["auth_failed"] = benchmark::Counter(static_cast<double>(failed.load()));
  // CPU cycles per packet opened, at the nominal clock: the sender's without
  // the time it spun waiting for room in the window, the receiver's whole
  // loop (it sleeps in the kernel when idle). On a loaded machine the
  // packet rates follow the share of the cores the threads get; these don't.
  // tx/rx apart: the pair runs at the rate of the slower side.
  if (const double hz = nominal_hz(); hz > 0 && pkts > 0) {
    st.counters["cycles_per_packet"] = benchmark::Counter((tx_cpu + rx_cpu.load()) * hz / pkts);
    st.counters["tx_cycles_per_packet"] = benchmark::Counter(tx_cpu * hz / pkts);
    st.counters["rx_cycles_per_packet"] = benchmark::Counter(rx_cpu.load() * hz / pkts);
  }
  const IoCounters& c = tx->counters();
  st.counters["tx_calls"] = benchmark::Counter(static_cast<double>(c.tx_calls));
  st.counters["zc_copied"] = benchmark::Counter(static_cast<double>(c.tx_zc_copied));
  st.counters["tx_errors"] = benchmark::Counter(static_cast<double>(c.tx_errors + c.tx_again + c.tx_refused));
  st.counters["rx_truncated"] = benchmark::Counter(static_cast<double>(rx->counters().rx_truncated));
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
  for (Proto proto : {Proto::aead, Proto::esp, Proto::quic})
    for (const Row& r : rows)
      for (uint32_t burst : {32u}) {
        const std::string name = std::string("io/") + r.name + "/" + proto_name(proto) + "/1350/" +
                                 std::to_string(burst);
        benchmark::RegisterBenchmark(name.c_str(), bm_loopback, r.v, proto, 1350u, burst);
      }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::io
