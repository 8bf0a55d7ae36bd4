// The UDP data paths (io_uring and recvmmsg/sendmmsg) on loopback: every byte
// arrives, GSO/GRO split and join correctly, crypto runs in place on the
// pool buffers, nothing allocates after warm-up, faults are counted not fatal.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/aead.h"
#include "io/topology.h"
#include "io/udp_path.h"

// GCC cannot see that these replacements pair malloc with free.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts every global allocation so that the hot path can be shown to make none.
static std::atomic<uint64_t> g_allocs{0};
void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace rl::io {
namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t l = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  return ntohs(a.sin_port);
}

struct Pair {
  std::unique_ptr<UdpPath> rx, tx;
};

// Whether a test of path `k` can run: io_uring allowed here, and RL_IO (the
// CI runs the suite once with RL_IO=uring and once with RL_IO=mmsg) not
// forcing the other path.
bool path_allowed(PathKind k) {
  if (k == PathKind::uring && !uring_available()) return false;
  const char* env = std::getenv("RL_IO");
  return env == nullptr || *env == '\0' || std::strcmp(env, to_string(k)) == 0;
}

Pair make_pair(PathConfig cfg) {
  std::string err;
  const sockaddr_in any = loopback(0);
  const int rfd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any, nullptr, 0,
                                  cfg.gro, &err);
  EXPECT_GE(rfd, 0) << err;
  const sockaddr_in dst = loopback(port_of(rfd));
  const int tfd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any,
                                  reinterpret_cast<const sockaddr*>(&dst), sizeof dst, false, &err);
  EXPECT_GE(tfd, 0) << err;
  Pair p;
  p.rx = make_udp_path(rfd, cfg, &err);
  p.tx = make_udp_path(tfd, cfg, &err);
  EXPECT_TRUE(p.rx && p.tx) << err;
  return p;
}

struct Variant {
  const char* name;
  PathKind kind;
  bool gso, gro, zc;
};

class IoPathTest : public ::testing::TestWithParam<Variant> {};

// Datagram i carries its index and a pattern; sizes vary so that GSO runs
// end on short datagrams and GRO has to split unequal tails.
uint32_t size_of(uint32_t i) { return i % 7 == 6 ? 100 + i % 50 : 1350; }
uint8_t byte_at(uint32_t i, uint32_t k) { return static_cast<uint8_t>(i * 131 + k * 7); }

TEST_P(IoPathTest, EveryByteArrivesAndCryptoRunsInPlace) {
  const Variant v = GetParam();
  if (!path_allowed(v.kind)) GTEST_SKIP() << to_string(v.kind) << " not allowed here or not RL_IO";
  PathConfig cfg;
  cfg.kind = v.kind;
  cfg.gso = v.gso;
  cfg.gro = v.gro;
  cfg.zerocopy = v.zc;
  cfg.zc_min_bytes = 0;  // exercise the zero-copy path for every send
  cfg.rx_buffers = 256;
  cfg.tx_buffers = 256;
  Pair p = make_pair(cfg);
  ASSERT_TRUE(p.rx && p.tx);
  ASSERT_EQ(p.rx->kind(), v.kind);

  AeadKey key;
  ASSERT_EQ(key.init(Suite::aes128_gcm, std::vector<uint8_t>(16, 7)), Status::ok);
  constexpr uint32_t kTotal = 2000, kBurst = 32, kTag = 16;
  uint32_t sent = 0, received = 0;
  std::vector<uint8_t> seen(kTotal, 0);
  TxPacket tx[kBurst];
  AeadJob jobs[kBurst];
  RxPacket rx[64];
  uint64_t allocs_at_warm = 0;
  for (int rounds = 0; received < kTotal && rounds < 20000; ++rounds) {
    if (rounds == 50) allocs_at_warm = g_allocs.load();
    // Send a burst when there is room in flight (loopback drops if we flood).
    if (sent < kTotal && sent - received < 512) {
      uint32_t n = 0;
      for (; n < kBurst && sent + n < kTotal; ++n) {
        const uint32_t id = p.tx->tx_pool().acquire();
        if (id == BufferPool::kNone) break;
        const uint32_t i = sent + n, len = size_of(i);
        uint8_t* b = p.tx->tx_pool().data(id);
        store_be32(b, i);
        for (uint32_t k = 4; k < len - kTag; ++k) b[k] = byte_at(i, k);
        AeadJob& j = jobs[n];
        j = AeadJob{};
        j.key = &key;
        store_be32(j.nonce + 8, i);
        j.aad = {b, 4};
        j.data = {b + 4, len - 4 - kTag};
        j.tag = b + len - kTag;
        tx[n] = TxPacket{id, 0, len};
      }
      seal({jobs, n});
      const size_t acc = p.tx->send({tx, n});
      for (size_t k = acc; k < n; ++k) p.tx->tx_pool().release(tx[k].buf);
      sent += static_cast<uint32_t>(acc);
    }
    p.tx->poll();
    const size_t got = p.rx->receive(rx, 5);
    uint32_t nj = 0;
    for (size_t r = 0; r < got; ++r) {
      ASSERT_GE(rx[r].len, 4u + kTag);
      AeadJob& j = jobs[nj++ % kBurst];
      j = AeadJob{};
      j.key = &key;
      std::memcpy(j.nonce + 8, rx[r].data, 4);
      j.aad = {rx[r].data, 4};
      j.data = {rx[r].data + 4, rx[r].len - 4 - kTag};
      j.tag = rx[r].data + rx[r].len - kTag;
      open({&j, 1});
      ASSERT_EQ(j.status, Status::ok);
      const uint32_t i = load_be32(rx[r].data);
      ASSERT_LT(i, kTotal);
      ASSERT_EQ(rx[r].len, size_of(i));
      for (uint32_t k = 4; k < rx[r].len - kTag; ++k) ASSERT_EQ(rx[r].data[k], byte_at(i, k)) << i;
      EXPECT_EQ(seen[i], 0) << "duplicate " << i;
      seen[i] = 1;
      ++received;
    }
    p.rx->recycle({rx, got});
  }
  EXPECT_EQ(received, kTotal) << "rx " << p.rx->counters().rx_packets << " nobufs "
                              << p.rx->counters().rx_nobufs;
  EXPECT_EQ(g_allocs.load() - allocs_at_warm, 0u) << "the data path allocated";
  p.tx->drain(1000);
  EXPECT_EQ(p.tx->tx_in_flight(), 0u);
  EXPECT_EQ(p.tx->tx_pool().available(), p.tx->tx_pool().count()) << "a TX buffer was lost";
  if (v.gro) {
    // GSO trains on loopback arrive as GRO super-datagrams: they were split here.
    EXPECT_GT(p.rx->counters().gro_segments, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Paths, IoPathTest,
    ::testing::Values(Variant{"mmsg", PathKind::mmsg, false, false, false},
                      Variant{"mmsg_gso_gro", PathKind::mmsg, true, true, false},
                      Variant{"uring", PathKind::uring, false, false, false},
                      Variant{"uring_gso_gro", PathKind::uring, true, true, false},
                      Variant{"uring_zc", PathKind::uring, false, false, true},
                      Variant{"uring_gso_zc", PathKind::uring, true, true, true}),
    [](const auto& info) { return std::string(info.param.name); });

// Forwarding without a copy (rl-pipe's hop): src -> mid_rx; mid grows each
// datagram to the front in place (an 8-byte header in the rx_headroom) and
// mid_tx sends it from mid_rx's buffer with send_from; the buffer is recycled
// on completion. Far more datagrams than mid_rx has buffers: a buffer that
// was not given back would stall the hop. No allocation after warm-up.
class ForwardTest : public ::testing::TestWithParam<std::pair<PathKind, bool>> {};

TEST_P(ForwardTest, SendFromReceiveBuffersRecyclesThem) {
  const auto [kind, zc] = GetParam();
  if (!path_allowed(kind)) GTEST_SKIP() << to_string(kind) << " not allowed here or not RL_IO";
  PathConfig cfg;
  cfg.kind = kind;
  cfg.zerocopy = zc;
  cfg.zc_min_bytes = 0;
  cfg.rx_buffers = 64;
  cfg.tx_buffers = 64;
  PathConfig mid_cfg = cfg;
  mid_cfg.rx_headroom = 8;
  std::string err;
  const sockaddr_in any = loopback(0);
  const int dst_fd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any, nullptr, 0, false, &err);
  const int mid_rx_fd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any, nullptr, 0, false, &err);
  const sockaddr_in to_dst = loopback(port_of(dst_fd)), to_mid = loopback(port_of(mid_rx_fd));
  const int mid_tx_fd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any,
                                        reinterpret_cast<const sockaddr*>(&to_dst), sizeof to_dst, false, &err);
  const int src_fd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any,
                                     reinterpret_cast<const sockaddr*>(&to_mid), sizeof to_mid, false, &err);
  auto dst = make_udp_path(dst_fd, cfg, &err);
  auto src = make_udp_path(src_fd, cfg, &err);
  auto mid_rx = make_udp_path(mid_rx_fd, mid_cfg, &err);
  auto mid_tx = make_udp_path(mid_tx_fd, cfg, &err);
  ASSERT_TRUE(dst && src && mid_rx && mid_tx) << err;
  ASSERT_EQ(mid_rx->kind(), kind);

  constexpr uint32_t kTotal = 1500;
  uint32_t sent = 0, received = 0;
  std::vector<uint8_t> seen(kTotal, 0);
  RxPacket rx[32];
  uint64_t allocs_at_warm = 0;
  for (int round = 0; received < kTotal && round < 20000; ++round) {
    if (round == 50) allocs_at_warm = g_allocs.load();
    if (sent < kTotal && sent - received < 48) {  // fewer in flight than mid has buffers
      TxPacket t[16];
      uint32_t n = 0;
      for (; n < 16 && sent + n < kTotal; ++n) {
        const uint32_t id = src->tx_pool().acquire();
        if (id == BufferPool::kNone) break;
        const uint32_t i = sent + n, len = size_of(i);
        uint8_t* b = src->tx_pool().data(id);
        store_be32(b, i);
        for (uint32_t k = 4; k < len; ++k) b[k] = byte_at(i, k);
        t[n] = TxPacket{id, 0, len};
      }
      const size_t acc = src->send({t, n});
      for (size_t k = acc; k < n; ++k) src->tx_pool().release(t[k].buf);
      sent += static_cast<uint32_t>(acc);
    }
    src->poll();
    // The hop.
    const size_t got = mid_rx->receive(rx, 1);
    RxPacket fwd[32];
    for (size_t r = 0; r < got; ++r) {
      const std::span<uint8_t> whole = mid_rx->rx_buffer(rx[r].buf);
      ASSERT_GE(rx[r].data - whole.data(), 8) << "no headroom in front of the datagram";
      ASSERT_LE(rx[r].data + rx[r].len, whole.data() + whole.size());
      uint8_t* h = rx[r].data - 8;
      store_be32(h, 0x46574421);  // "FWD!"
      store_be32(h + 4, rx[r].len);
      fwd[r] = RxPacket{h, rx[r].len + 8, rx[r].buf};
    }
    size_t done = 0;
    for (int tries = 0; done < got && tries < 100; ++tries) {
      done += mid_tx->send_from(*mid_rx, {fwd + done, got - done});
      if (done < got) mid_tx->poll();
    }
    ASSERT_EQ(done, got);
    mid_tx->poll();
    // The far end.
    const size_t n = dst->receive(rx, 1);
    for (size_t r = 0; r < n; ++r) {
      ASSERT_GE(rx[r].len, 12u);
      ASSERT_EQ(load_be32(rx[r].data), 0x46574421u);
      ASSERT_EQ(load_be32(rx[r].data + 4), rx[r].len - 8);
      const uint8_t* d = rx[r].data + 8;
      const uint32_t i = load_be32(d);
      ASSERT_LT(i, kTotal);
      ASSERT_EQ(rx[r].len - 8, size_of(i));
      for (uint32_t k = 4; k < size_of(i); ++k) ASSERT_EQ(d[k], byte_at(i, k)) << i;
      EXPECT_EQ(seen[i]++, 0) << "duplicate " << i;
      ++received;
    }
    dst->recycle({rx, n});
  }
  EXPECT_EQ(received, kTotal) << "mid rx nobufs " << mid_rx->counters().rx_nobufs;
  EXPECT_EQ(g_allocs.load() - allocs_at_warm, 0u) << "the forwarding hop allocated";
  mid_tx->drain(1000);
  EXPECT_EQ(mid_tx->tx_in_flight(), 0u);
  EXPECT_EQ(mid_tx->tx_pool().available(), mid_tx->tx_pool().count()) << "send_from used the TX pool";
  mid_tx.reset();  // before mid_rx, whose buffers it sent from
}

INSTANTIATE_TEST_SUITE_P(Paths, ForwardTest,
                         ::testing::Values(std::pair{PathKind::mmsg, false}, std::pair{PathKind::uring, false},
                                           std::pair{PathKind::uring, true}),
                         [](const auto& info) {
                           return std::string(to_string(info.param.first)) + (info.param.second ? "_zc" : "");
                         });

// 64 equal datagrams in one burst with GSO and zero-copy: more segments than
// a zero-copy send can pin (MAX_SKB_FRAGS), so the path must split the run;
// before it did, every such send failed with EMSGSIZE and nothing arrived.
TEST(IoPath, LongZeroCopyGsoRunsArrive) {
  if (!path_allowed(PathKind::uring)) GTEST_SKIP() << "io_uring not allowed here or not RL_IO";
  PathConfig cfg;
  cfg.gso = cfg.gro = cfg.zerocopy = true;
  cfg.zc_min_bytes = 0;
  cfg.rx_buffers = 64;
  Pair p = make_pair(cfg);
  ASSERT_TRUE(p.rx && p.tx);
  ASSERT_EQ(p.tx->kind(), PathKind::uring);
  TxPacket t[64];
  for (uint32_t i = 0; i < 64; ++i) {
    t[i] = TxPacket{p.tx->tx_pool().acquire(), 0, 1350};
    ASSERT_NE(t[i].buf, BufferPool::kNone);
    std::memset(p.tx->tx_pool().data(t[i].buf), static_cast<int>(i), 1350);
  }
  ASSERT_EQ(p.tx->send(t), 64u);
  p.tx->drain(1000);
  uint32_t got = 0;
  RxPacket rx[64];
  for (int round = 0; round < 200 && got < 64; ++round) {
    const size_t n = p.rx->receive(rx, 5);
    for (size_t r = 0; r < n; ++r) EXPECT_EQ(rx[r].len, 1350u);
    got += static_cast<uint32_t>(n);
    p.rx->recycle({rx, n});
  }
  EXPECT_EQ(got, 64u);
  EXPECT_EQ(p.tx->counters().tx_errors, 0u);
  EXPECT_EQ(p.tx->tx_pool().available(), p.tx->tx_pool().count());
}

// A peer that vanished: ICMP port unreachable turns into ECONNREFUSED on the
// connected socket; it is counted, buffers come back, nothing crashes.
TEST(IoPath, VanishedPeerIsCounted) {
  for (PathKind kind : {PathKind::mmsg, PathKind::uring}) {
    if (!path_allowed(kind)) continue;
    std::string err;
    const sockaddr_in any = loopback(0);
    const int probe = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any, nullptr, 0, false, &err);
    const uint16_t dead_port = port_of(probe);
    ::close(probe);  // nobody listens there now
    const sockaddr_in dst = loopback(dead_port);
    const int fd = open_udp_socket(reinterpret_cast<const sockaddr*>(&any), sizeof any,
                                   reinterpret_cast<const sockaddr*>(&dst), sizeof dst, false, &err);
    PathConfig cfg;
    cfg.kind = kind;
    auto path = make_udp_path(fd, cfg, &err);
    ASSERT_TRUE(path);
    for (int round = 0; round < 20; ++round) {
      TxPacket t[4];
      uint32_t n = 0;
      for (; n < static_cast<uint32_t>(1 + round % 4); ++n) {
        t[n] = TxPacket{path->tx_pool().acquire(), 0, 64};
        if (t[n].buf == BufferPool::kNone) break;
      }
      const size_t acc = path->send({t, n});
      for (size_t k = acc; k < n; ++k) path->tx_pool().release(t[k].buf);
      path->drain(100);
    }
    EXPECT_GT(path->counters().tx_refused, 0u) << to_string(kind);
    EXPECT_EQ(path->tx_pool().available(), path->tx_pool().count()) << to_string(kind);
  }
}

// The paths, for the fault tests that run over both.
std::vector<PathKind> kinds() {
  std::vector<PathKind> k;
  for (PathKind p : {PathKind::mmsg, PathKind::uring})
    if (path_allowed(p)) k.push_back(p);
  return k;
}

// Sends `n` datagrams numbered first.. (4-byte index, then a pattern) of
// `len` bytes; returns how many the path accepted (the rest are released).
uint32_t send_numbered(UdpPath& p, uint32_t first, uint32_t n, uint32_t len) {
  TxPacket t[64];
  uint32_t k = 0;
  for (; k < n && k < 64; ++k) {
    const uint32_t id = p.tx_pool().acquire();
    if (id == BufferPool::kNone) break;
    uint8_t* b = p.tx_pool().data(id);
    store_be32(b, first + k);
    for (uint32_t j = 4; j < len; ++j) b[j] = byte_at(first + k, j);
    t[k] = TxPacket{id, 0, len};
  }
  const size_t acc = p.send({t, k});
  for (size_t j = acc; j < k; ++j) p.tx_pool().release(t[j].buf);
  return static_cast<uint32_t>(acc);
}

// The receive buffers run out (ENOBUFS from the io_uring buffer ring; an
// empty pool for recvmmsg) while the caller holds every one of them: counted,
// the datagrams wait in the socket, and once buffers are recycled every one
// of them arrives, in order, none twice.
TEST(IoFaults, ReceiveBuffersRunDry) {
  for (PathKind kind : kinds()) {
    SCOPED_TRACE(to_string(kind));
    PathConfig cfg;
    cfg.kind = kind;
    cfg.rx_buffers = 8;
    cfg.tx_buffers = 64;
    Pair p = make_pair(cfg);
    ASSERT_TRUE(p.rx && p.tx);
    ASSERT_EQ(p.rx->kind(), kind);
    constexpr uint32_t kTotal = 64;
    ASSERT_EQ(send_numbered(*p.tx, 0, kTotal, 300), kTotal);
    p.tx->drain(1000);
    std::vector<RxPacket> held;
    RxPacket rx[16];
    // Take what fits into 8 buffers and keep it.
    for (int round = 0; round < 50 && held.size() < 8; ++round) {
      const size_t n = p.rx->receive(rx, 5);
      held.insert(held.end(), rx, rx + n);
    }
    ASSERT_EQ(held.size(), 8u) << "8 buffers, 8 datagrams";
    // Nothing more can come in while every buffer is held.
    for (int round = 0; round < 5; ++round) EXPECT_EQ(p.rx->receive(rx, 2), 0u);
    EXPECT_GT(p.rx->counters().rx_nobufs, 0u) << "running dry was not counted";
    uint32_t next = 0;
    for (const RxPacket& r : held) {
      ASSERT_EQ(load_be32(r.data), next++);
      ASSERT_EQ(r.len, 300u);
    }
    p.rx->recycle(held);
    // The rest was waiting in the socket.
    for (int round = 0; round < 500 && next < kTotal; ++round) {
      const size_t n = p.rx->receive(rx, 5);
      for (size_t r = 0; r < n; ++r) {
        ASSERT_EQ(load_be32(rx[r].data), next) << "lost or reordered";
        for (uint32_t j = 4; j < 300; ++j) ASSERT_EQ(rx[r].data[j], byte_at(next, j));
        ++next;
      }
      p.rx->recycle({rx, n});
    }
    EXPECT_EQ(next, kTotal);
    EXPECT_EQ(p.rx->counters().rx_packets, kTotal);
  }
}

// Several GRO super-datagrams waiting at once, taken out 8 datagrams at a
// time: one receive call may pull more super-datagrams than the caller's
// span holds; each must be kept whole until handed out. (The recvmmsg path
// used to keep only the last one: the others' datagrams were lost and their
// buffers never came back.)
TEST(IoFaults, ManyGroSuperDatagramsThroughASmallSpan) {
  for (PathKind kind : kinds()) {
    SCOPED_TRACE(to_string(kind));
    PathConfig cfg;
    cfg.kind = kind;
    cfg.gso = cfg.gro = true;
    cfg.rx_buffers = 16;
    cfg.tx_buffers = 256;
    Pair p = make_pair(cfg);
    ASSERT_TRUE(p.rx && p.tx);
    constexpr uint32_t kTotal = 256;
    for (uint32_t first = 0; first < kTotal; first += 64) ASSERT_EQ(send_numbered(*p.tx, first, 64, 1200), 64u);
    p.tx->drain(1000);
    std::vector<uint8_t> seen(kTotal, 0);
    uint32_t got = 0;
    RxPacket rx[8];
    for (int round = 0; round < 2000 && got < kTotal; ++round) {
      const size_t n = p.rx->receive(rx, 5);
      for (size_t r = 0; r < n; ++r) {
        ASSERT_EQ(rx[r].len, 1200u);
        const uint32_t i = load_be32(rx[r].data);
        ASSERT_LT(i, kTotal);
        for (uint32_t j = 4; j < 1200; j += 97) ASSERT_EQ(rx[r].data[j], byte_at(i, j)) << i;
        ASSERT_EQ(seen[i]++, 0) << "twice: " << i;
        ++got;
      }
      p.rx->recycle({rx, n});
    }
    EXPECT_EQ(got, kTotal) << "rx_nobufs " << p.rx->counters().rx_nobufs;
    EXPECT_GT(p.rx->counters().gro_segments, 0u) << "no GRO here: the test proves less";
    // The receive buffers all came back: a second full round fits in them.
    for (uint32_t first = 0; first < kTotal; first += 64) ASSERT_EQ(send_numbered(*p.tx, first, 64, 1200), 64u);
    p.tx->drain(1000);
    got = 0;
    for (int round = 0; round < 2000 && got < kTotal; ++round) {
      const size_t n = p.rx->receive(rx, 5);
      got += static_cast<uint32_t>(n);
      p.rx->recycle({rx, n});
    }
    EXPECT_EQ(got, kTotal);
  }
}

// A peer that does not read: the send side fills up (EAGAIN). recvmmsg's
// fallback reports it (tx_again) and send() accepts fewer, the caller keeps
// the rest; io_uring keeps the blocked sends in flight, holding their
// buffers and ring slots (sq_full once the slots are gone), and completes
// them when the peer reads. A UNIX datagram socket pair stands in for the
// UDP socket: it is the one whose send queue a test can fill (loopback UDP
// hands each datagram to the receiver at once and drops what does not fit).
TEST(IoFaults, BlockedPeerBackpressure) {
  for (PathKind kind : kinds()) {
    SCOPED_TRACE(to_string(kind));
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    const int small = 16384;
    ASSERT_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    PathConfig cfg;
    cfg.kind = kind;
    cfg.ring_entries = 16;
    cfg.tx_buffers = 256;
    std::string err;
    auto tx = make_udp_path(sv[0], cfg, &err);
    ASSERT_TRUE(tx) << err;
    ASSERT_EQ(tx->kind(), kind);
    constexpr uint32_t kLen = 1000;
    uint32_t accepted = 0;
    for (int round = 0; round < 20; ++round) accepted += send_numbered(*tx, accepted, 32, kLen);
    ASSERT_GT(accepted, 0u);
    ASSERT_LT(accepted, 20u * 32) << "a peer that never reads took everything";
    const IoCounters& c = tx->counters();
    if (kind == PathKind::mmsg) {
      EXPECT_GT(c.tx_again, 0u);
      EXPECT_EQ(tx->tx_in_flight(), 0u);
      EXPECT_EQ(tx->tx_pool().available(), tx->tx_pool().count()) << "sendmmsg copied: nothing held";
    } else {
      EXPECT_GT(c.sq_full, 0u);
      EXPECT_GT(tx->tx_in_flight(), 0u) << "blocked sends should still be in flight";
      // A blocked send holds its buffer: none is back in the pool early.
      EXPECT_EQ(tx->tx_pool().available(), tx->tx_pool().count() - (accepted - c.tx_packets));
      EXPECT_GT(accepted, c.tx_packets);
    }
    // The peer reads: everything accepted arrives once, in order.
    uint8_t buf[2048];
    uint32_t next = 0;
    for (int round = 0; round < 2000 && next < accepted; ++round) {
      tx->poll();
      const ssize_t r = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
      if (r < 0) {
        ASSERT_EQ(errno, EAGAIN);
        usleep(500);
        continue;
      }
      ASSERT_EQ(r, static_cast<ssize_t>(kLen));
      ASSERT_EQ(load_be32(buf), next) << "lost or reordered";
      for (uint32_t j = 4; j < kLen; ++j) ASSERT_EQ(buf[j], byte_at(next, j));
      ++next;
    }
    EXPECT_EQ(next, accepted);
    tx->drain(1000);
    EXPECT_EQ(tx->tx_in_flight(), 0u);
    EXPECT_EQ(tx->tx_pool().available(), tx->tx_pool().count()) << "a TX buffer was lost";
    EXPECT_EQ(c.tx_packets, accepted);
    EXPECT_EQ(c.tx_errors, 0u);
    close(sv[1]);
  }
}

// A full submission queue: a burst of 64 single-datagram sends through a
// 4-entry ring. The path submits what it has, reaps, and goes on; every
// datagram arrives, none is lost, every buffer comes back.
TEST(IoFaults, FullSubmissionQueue) {
  if (!path_allowed(PathKind::uring)) GTEST_SKIP() << "io_uring not allowed here or not RL_IO";
  PathConfig cfg;
  cfg.ring_entries = 4;
  cfg.rx_buffers = 128;
  Pair p = make_pair(cfg);
  ASSERT_TRUE(p.rx && p.tx);
  ASSERT_EQ(p.tx->kind(), PathKind::uring);
  ASSERT_EQ(send_numbered(*p.tx, 0, 64, 200), 64u);
  EXPECT_GT(p.tx->counters().sq_full, 0u);
  p.tx->drain(1000);
  RxPacket rx[64];
  uint32_t next = 0;
  for (int round = 0; round < 200 && next < 64; ++round) {
    const size_t n = p.rx->receive(rx, 5);
    for (size_t r = 0; r < n; ++r) ASSERT_EQ(load_be32(rx[r].data), next++);
    p.rx->recycle({rx, n});
  }
  EXPECT_EQ(next, 64u);
  EXPECT_EQ(p.tx->tx_pool().available(), p.tx->tx_pool().count());
}

// Shutdown with packets in flight: sends blocked on a peer that does not
// read, received datagrams never recycled, a GRO buffer half handed out.
// Destruction must come back (drain is bounded) without touching freed
// memory (ASan) or leaking (LSan).
TEST(IoFaults, ShutdownWithPacketsInFlight) {
  for (PathKind kind : kinds()) {
    SCOPED_TRACE(to_string(kind));
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    const int small = 16384;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    PathConfig cfg;
    cfg.kind = kind;
    std::string err;
    auto blocked = make_udp_path(sv[0], cfg, &err);
    ASSERT_TRUE(blocked) << err;
    for (int round = 0; round < 8; ++round) send_numbered(*blocked, 0, 32, 1000);
    if (kind == PathKind::uring) {
      EXPECT_GT(blocked->tx_in_flight(), 0u);
    }

    PathConfig gcfg;
    gcfg.kind = kind;
    gcfg.gso = gcfg.gro = true;
    gcfg.zerocopy = true;  // notifications still to come at shutdown
    gcfg.zc_min_bytes = 0;
    Pair p = make_pair(gcfg);
    ASSERT_TRUE(p.rx && p.tx);
    ASSERT_EQ(send_numbered(*p.tx, 0, 64, 1200), 64u);
    RxPacket rx[8];
    size_t got = 0;
    for (int round = 0; round < 100 && got == 0; ++round) got = p.rx->receive(rx, 5);
    EXPECT_GT(got, 0u);  // held, never recycled; more of the buffer still pending

    const auto t0 = std::chrono::steady_clock::now();
    blocked.reset();
    p.tx.reset();
    p.rx.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "shutdown hung";
    // The peer end sees the socket closed, not a crash; drain what was sent.
    uint8_t buf[2048];
    while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    close(sv[1]);
  }
}

TEST(IoPath, EnvironmentForcesTheFallback) {
  const char* was = std::getenv("RL_IO");
  const std::string saved = was ? was : "";
  setenv("RL_IO", "mmsg", 1);
  PathConfig cfg;  // asks for uring
  Pair p = make_pair(cfg);
  if (was)  // the rest of the suite runs as RL_IO asked
    setenv("RL_IO", saved.c_str(), 1);
  else
    unsetenv("RL_IO");
  ASSERT_TRUE(p.rx);
  EXPECT_EQ(p.rx->kind(), PathKind::mmsg);
}

TEST(Topology, DescribesAndPins) {
  const Topology& t = Topology::get();
  ASSERT_FALSE(t.cores().empty());
  EXPECT_NE(t.describe().find("cores"), std::string::npos);
  EXPECT_TRUE(t.pin_current_thread(0));
  void* m = t.alloc_on_node(1 << 20, t.cores()[0].numa_node);
  ASSERT_NE(m, nullptr);
  t.release(m, 1 << 20);
  EXPECT_EQ(t.choose_cores("0").size(), 1u);
  EXPECT_EQ(t.choose_cores("").size(), t.cores().size());
  EXPECT_TRUE(t.choose_cores("999").empty());
}

TEST(BufferPool, RefusesBadSizesAndCountsExhaustion) {
  BufferPool p;
  EXPECT_EQ(p.init(0, 100, -1), Status::invalid_argument);
  ASSERT_EQ(p.init(2, 100, -1), Status::ok);
  EXPECT_EQ(p.buffer_size(), 128u);
  const uint32_t a = p.acquire(), b = p.acquire();
  EXPECT_NE(a, b);
  EXPECT_EQ(p.acquire(), BufferPool::kNone);
  EXPECT_EQ(p.exhausted(), 1u);
  p.release(a);
  EXPECT_EQ(p.acquire(), a);
}

}  // namespace
}  // namespace rl::io
