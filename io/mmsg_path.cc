// The fallback path: recvmmsg/sendmmsg, same buffers and same contract as
// the io_uring path, for machines where io_uring is not allowed.
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <type_traits>
#include <vector>

#include "io/gso.h"
#include "io/udp_path.h"

namespace rl::io {
namespace {

constexpr size_t kBurst = 64;

class MmsgPath final : public UdpPath {
 public:
  MmsgPath(int fd, const PathConfig& cfg) : cfg_(cfg) {
    fd_ = fd;
    gro_ = cfg.gro;
  }
  ~MmsgPath() override {
    if (fd_ >= 0) close(fd_);
  }

  bool init(std::string* error) {
    head_ = cfg_.gro ? 0 : (cfg_.rx_headroom + 63) & ~63u;
    const uint32_t rx_size = (cfg_.gro ? 65536 : cfg_.buffer_size) + head_;
    if (rx_.init(cfg_.rx_buffers, rx_size, cfg_.numa_node) != Status::ok ||
        tx_.init(cfg_.tx_buffers, cfg_.buffer_size, cfg_.numa_node) != Status::ok) {
      if (error) *error = "mmsg: buffer pools";
      return false;
    }
    refs_.assign(cfg_.rx_buffers, 0);
    rx_ids_.assign(kBurst, BufferPool::kNone);
    rx_ctrl_.assign(kBurst * kGroCmsgSpace, 0);
    tx_ctrl_.assign(kBurst * kGsoCmsgSpace, 0);
    tx_iov_.resize(kBurst * 16);
    return true;
  }

  PathKind kind() const override { return PathKind::mmsg; }
  void disown_fd() { fd_ = -1; }

  // Datagrams already received but not handed out are served first; a new
  // recvmmsg only runs when none is left, so that every received message
  // (a GRO super-datagram can hold 64 datagrams, more than `out` has room
  // for) is queued whole and none is overwritten. Before, a second
  // super-datagram replaced the pending one: its datagrams were lost and its
  // buffer never came back (the mmsg-gso bench "drops").
  size_t receive(std::span<RxPacket> out, int timeout_ms) override {
    size_t n = take_pending(out, 0);
    if (n == out.size() || pend_.left > 0 || q_count_ > 0) return n;
    pollfd p{fd_, POLLIN, 0};
    if (n == 0 && ::poll(&p, 1, timeout_ms) <= 0) return 0;
    // Without GRO every message is one datagram: no more than fit in `out`.
    const size_t want = gro_ ? kBurst : std::min(kBurst, out.size() - n);
    size_t posted = 0;
    for (; posted < want; ++posted) {
      rx_ids_[posted] = rx_.acquire();
      if (rx_ids_[posted] == BufferPool::kNone) break;
      rx_iov_[posted] = iovec{rx_.data(rx_ids_[posted]) + head_, rx_.buffer_size() - head_};
      msghdr& m = rx_msgs_[posted].msg_hdr;
      m = msghdr{};
      m.msg_iov = &rx_iov_[posted];
      m.msg_iovlen = 1;
      if (gro_) {
        m.msg_control = &rx_ctrl_[posted * kGroCmsgSpace];
        m.msg_controllen = kGroCmsgSpace;
      }
    }
    if (posted == 0) {
      ++c_.rx_nobufs;
      return n;
    }
    const int r = recvmmsg(fd_, rx_msgs_, static_cast<unsigned>(posted), MSG_DONTWAIT, nullptr);
    ++c_.rx_calls;
    const size_t got = r > 0 ? static_cast<size_t>(r) : 0;
    for (size_t i = got; i < posted; ++i) rx_.release(rx_ids_[i]);
    for (size_t i = 0; i < got; ++i) {
      const msghdr& m = rx_msgs_[i].msg_hdr;
      if (m.msg_flags & MSG_TRUNC) ++c_.rx_truncated;
      q_[i] = Msg{rx_ids_[i], rx_msgs_[i].msg_len, gro_ ? gro_segment(m) : 0};
    }
    q_head_ = 0;
    q_count_ = got;
    return take_pending(out, n);
  }

  void recycle(std::span<const RxPacket> pkts) override {
    for (const RxPacket& p : pkts)
      if (p.buf < refs_.size() && refs_[p.buf] > 0 && --refs_[p.buf] == 0) rx_.release(p.buf);
  }

  size_t send(std::span<const TxPacket> pkts) override { return send_impl(pkts, nullptr); }
  size_t send_from(UdpPath& from, std::span<const RxPacket> pkts) override {
    return send_impl(pkts, &from);
  }
  std::span<uint8_t> rx_buffer(uint32_t buf) override { return {rx_.data(buf), rx_.buffer_size()}; }

  // sendmmsg copies the bytes: buffers go back as soon as it returns.
  template <class P>
  size_t send_impl(std::span<const P> pkts, UdpPath* from) {
    auto done_with = [&](const P& p) {
      if constexpr (std::is_same_v<P, RxPacket>)
        from->recycle({&p, 1});
      else
        tx_.release(p.buf);
    };
    size_t accepted = 0;
    while (accepted < pkts.size()) {
      // Build up to kBurst messages (each a datagram or a GSO run).
      size_t nmsg = 0, covered = 0, iov_used = 0;
      size_t first_pkt[kBurst];
      while (nmsg < kBurst && accepted + covered < pkts.size()) {
        const auto rest = pkts.subspan(accepted + covered);
        const size_t run = cfg_.gso ? gso_run(rest) : 1;
        if (iov_used + run > tx_iov_.size()) break;
        msghdr& m = tx_msgs_[nmsg].msg_hdr;
        m = msghdr{};
        m.msg_iov = &tx_iov_[iov_used];
        m.msg_iovlen = run;
        for (size_t i = 0; i < run; ++i)
          tx_iov_[iov_used + i] = iov_of(rest[i]);
        if (run > 1) put_gso_cmsg(m, &tx_ctrl_[nmsg * kGsoCmsgSpace], static_cast<uint16_t>(rest[0].len));
        first_pkt[nmsg] = accepted + covered;
        iov_used += run;
        covered += run;
        ++nmsg;
      }
      const int r = sendmmsg(fd_, tx_msgs_, static_cast<unsigned>(nmsg), MSG_DONTWAIT);
      ++c_.tx_calls;
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
          ++c_.tx_again;
          return accepted;  // caller keeps the rest
        }
        // The first message failed (ECONNREFUSED after an ICMP error, ...):
        // count it, drop its datagrams, go on with the rest.
        errno == ECONNREFUSED ? ++c_.tx_refused : ++c_.tx_errors;
        const size_t run = tx_msgs_[0].msg_hdr.msg_iovlen;
        for (size_t i = 0; i < run; ++i) done_with(pkts[first_pkt[0] + i]);
        accepted += run;
        continue;
      }
      for (int k = 0; k < r; ++k) {
        const size_t run = tx_msgs_[k].msg_hdr.msg_iovlen;
        for (size_t i = 0; i < run; ++i) {
          const P& p = pkts[first_pkt[k] + i];
          c_.tx_bytes += p.len;
          done_with(p);  // sendmmsg copied the bytes
        }
        c_.tx_packets += run;
        accepted += run;
      }
      // A short count means message r failed and sendmmsg dropped its error
      // (it only reports one when nothing was sent): go round again, so the
      // failing message comes first and its errno is seen.
    }
    return accepted;
  }

  void poll() override {}
  void drain(int) override {}
  uint32_t tx_in_flight() const override { return 0; }

 private:
  // The messages of the last recvmmsg not yet handed out, and the datagrams
  // of the one being handed out (a GRO super-datagram may hold more than the
  // caller's span has room for).
  struct Msg {
    uint32_t buf, len, seg;
  };
  Msg q_[kBurst] = {};
  size_t q_head_ = 0, q_count_ = 0;
  struct Pending {
    uint32_t buf = BufferPool::kNone;
    uint8_t* ptr = nullptr;
    uint32_t left = 0, seg = 0;
  } pend_;

  size_t take_pending(std::span<RxPacket> out, size_t n) {
    while (n < out.size()) {
      if (pend_.left == 0) {
        if (pend_.buf != BufferPool::kNone && refs_[pend_.buf] == 0) rx_.release(pend_.buf);  // empty datagram
        pend_.buf = BufferPool::kNone;
        if (q_count_ == 0) break;
        const Msg& m = q_[q_head_++];
        --q_count_;
        pend_ = Pending{m.buf, rx_.data(m.buf) + head_, m.len, m.seg == 0 ? m.len : m.seg};
        continue;
      }
      const uint32_t len = std::min(pend_.left, pend_.seg);
      out[n++] = RxPacket{pend_.ptr, len, pend_.buf};
      ++refs_[pend_.buf];
      ++c_.rx_packets;
      c_.rx_bytes += len;
      if (pend_.seg != pend_.left || pend_.ptr != rx_.data(pend_.buf) + head_) ++c_.gro_segments;
      pend_.ptr += len;
      pend_.left -= len;
    }
    if (pend_.left == 0 && pend_.buf != BufferPool::kNone) {
      if (refs_[pend_.buf] == 0) rx_.release(pend_.buf);
      pend_.buf = BufferPool::kNone;
    }
    return n;
  }

  iovec iov_of(const TxPacket& p) { return iovec{tx_.data(p.buf) + p.offset, p.len}; }
  static iovec iov_of(const RxPacket& p) { return iovec{p.data, p.len}; }

  PathConfig cfg_;
  uint32_t head_ = 0;  // rx_headroom, rounded up to 64
  bool gro_ = false;
  BufferPool rx_;
  std::vector<uint16_t> refs_;
  std::vector<uint32_t> rx_ids_;
  std::vector<uint8_t> rx_ctrl_, tx_ctrl_;
  std::vector<iovec> tx_iov_;
  mmsghdr rx_msgs_[kBurst] = {};
  iovec rx_iov_[kBurst] = {};
  mmsghdr tx_msgs_[kBurst] = {};
};

}  // namespace

std::unique_ptr<UdpPath> make_mmsg_path(int fd, const PathConfig& cfg, std::string* error) {
  auto p = std::make_unique<MmsgPath>(fd, cfg);
  if (!p->init(error)) {
    p->disown_fd();
    return nullptr;
  }
  return p;
}

}  // namespace rl::io
