// A UDP data path for one worker: bursts of datagrams in, bursts out, with
// the packet bytes living in a BufferPool so that crypto runs in place
// between receive and send (DESIGN.md §6). Two implementations:
//   uring  io_uring: multishot recvmsg with a provided-buffer ring, sendmsg or
//          sendmsg_zc (buffer returned only on the notification CQE),
//          optional UDP GSO/GRO.
//   mmsg   recvmmsg/sendmmsg, the fallback when io_uring is not allowed.
// Chosen at start-up (probe), or forced with RL_IO=uring|mmsg.
// Not thread-safe: one path per worker thread.
#pragma once
#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "io/buffer_pool.h"

namespace rl::io {

enum class PathKind : uint8_t { uring, mmsg };
const char* to_string(PathKind k);

struct PathConfig {
  PathKind kind = PathKind::uring;
  bool gso = false;            // UDP_SEGMENT on send for runs of equal-size datagrams
  bool gro = false;            // UDP_GRO on receive (split by the segment-size cmsg)
  bool zerocopy = false;       // SENDMSG_ZC (uring only)
  uint32_t zc_min_bytes = 8192;  // smaller sends use plain sendmsg (zero-copy costs more there)
  uint32_t rx_buffers = 1024;  // provided buffers (power of two for uring)
  uint32_t tx_buffers = 1024;
  uint32_t buffer_size = 2048; // 65536 when gro is on (a GRO super-datagram)
  uint32_t ring_entries = 256;
  int numa_node = -1;
  // Bytes kept free in front of every received datagram, so that a forwarder
  // can seal it in place (a protocol header grows it to the front), rounded
  // up to 64; 0 means the datagram starts its buffer.
  // Not for GRO receive: a segment's headroom is the previous segment.
  uint32_t rx_headroom = 0;
};

// A received datagram: bytes inside pool buffer `buf` (several datagrams of a
// GRO super-datagram share one buffer; recycle each of them).
struct RxPacket {
  uint8_t* data;
  uint32_t len;
  uint32_t buf;
};

// A datagram to send: `len` bytes at `data(buf) + offset` of the TX pool.
// send() takes the buffer; it goes back to the pool when the kernel is done.
struct TxPacket {
  uint32_t buf;
  uint32_t offset;
  uint32_t len;
};

struct IoCounters {
  uint64_t rx_packets = 0, rx_bytes = 0, rx_calls = 0, rx_truncated = 0, rx_nobufs = 0;
  uint64_t tx_packets = 0, tx_bytes = 0, tx_calls = 0, tx_errors = 0, tx_refused = 0;
  uint64_t tx_again = 0, tx_zc = 0, tx_zc_copied = 0, sq_full = 0, gro_segments = 0;
};

class UdpPath {
 public:
  virtual ~UdpPath() = default;
  virtual PathKind kind() const = 0;
  // Up to out.size() datagrams; waits at most timeout_ms for the first.
  virtual size_t receive(std::span<RxPacket> out, int timeout_ms) = 0;
  // Hands received buffers back (once per RxPacket, in any order).
  virtual void recycle(std::span<const RxPacket> pkts) = 0;
  // Queues a burst to the connected peer; returns how many were accepted
  // (the rest keep their buffers: the caller may retry or release them).
  virtual size_t send(std::span<const TxPacket> pkts) = 0;
  // Reaps completions (returns finished TX buffers to the pool).
  virtual void poll() = 0;
  // Waits (bounded) until every in-flight send has completed.
  virtual void drain(int timeout_ms) = 0;
  virtual uint32_t tx_in_flight() const = 0;

  // Forwarding without a copy: sends datagrams that live in the receive
  // buffers of `from` (received there, then sealed or opened in place).
  // pkts[i].buf is the RxPacket's buffer id in `from`, data/len the bytes to
  // send inside that buffer. Each accepted packet is recycled to `from` (once
  // per RxPacket, as receive() handed them out) when the kernel is done with
  // its bytes; the rest stay the caller's to recycle. `from` must outlive the
  // sends (drain() first) and be used by the same thread.
  virtual size_t send_from(UdpPath& from, std::span<const RxPacket> pkts) = 0;
  // The whole receive buffer `buf` (for the room around a datagram).
  virtual std::span<uint8_t> rx_buffer(uint32_t buf) = 0;

  BufferPool& tx_pool() { return tx_; }
  const IoCounters& counters() const { return c_; }
  int fd() const { return fd_; }

 protected:
  BufferPool tx_;
  IoCounters c_;
  int fd_ = -1;
};

// A bound (and optionally connected) UDP socket for a path. `bind_addr` and
// `peer` are IPv4/IPv6 socket addresses; peer may be null (receive only).
int open_udp_socket(const sockaddr* bind_addr, socklen_t bind_len, const sockaddr* peer,
                    socklen_t peer_len, bool gro, std::string* error);

// Creates the path over socket `fd` (takes ownership). RL_IO overrides
// cfg.kind; a failed io_uring set-up falls back to mmsg (reported in *error).
std::unique_ptr<UdpPath> make_udp_path(int fd, PathConfig cfg, std::string* error);

// Whether io_uring can be set up here (ENOSYS, EPERM under seccomp, ...).
bool uring_available();

}  // namespace rl::io
