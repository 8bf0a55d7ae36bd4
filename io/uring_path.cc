// The io_uring path.
//   Receive: one multishot RECVMSG armed on the socket, buffers picked by the
//   kernel from a provided-buffer ring over the RX pool; each completion is a
//   datagram (or a GRO super-datagram, split here by its segment size). A
//   buffer goes back to the ring when every datagram in it was recycled.
//   Send: one SENDMSG (or SENDMSG_ZC) per datagram or per GSO run, from the TX
//   pool, which is also registered with the ring as a fixed buffer. Buffers
//   of a plain send return to the pool on its completion; those of a
//   zero-copy send only on the notification CQE, when the kernel is done with
//   the pages (never earlier: that is the classic zero-copy bug).
#include <errno.h>
#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <type_traits>
#include <vector>

#include "io/gso.h"
#include "io/udp_path.h"

// Kernel 6.2+ reports whether a zero-copy send fell back to copying; the
// headers of liburing 2.3 predate the names.
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace rl::io {
namespace {

constexpr uint64_t kRxTag = 1;
constexpr uint64_t kTxFlag = uint64_t{1} << 63;
constexpr uint16_t kGroup = 0;
constexpr size_t kMaxZcSegments = 8;

struct TxSlot {
  UdpPath* from = nullptr;  // send_from: the buffers are `from`'s receive buffers
  RxPacket rx[kMaxGsoSegments];
  msghdr msg{};
  iovec iov[kMaxGsoSegments];
  uint8_t ctrl[kGsoCmsgSpace];
  uint32_t bufs[kMaxGsoSegments];
  uint32_t nbufs = 0;
  uint32_t bytes = 0;
  bool zc = false;
  bool again = false;  // EAGAIN: to be queued for retry once its notification is in
};

class UringPath final : public UdpPath {
 public:
  UringPath(int fd, const PathConfig& cfg) : cfg_(cfg) { fd_ = fd; }

  ~UringPath() override {
    if (ring_ok_) {
      drain(1000);
      io_uring_queue_exit(&ring_);  // cancels the multishot receive
    }
    if (br_ != nullptr) munmap(br_, br_bytes_);
    if (fd_ >= 0) close(fd_);
  }

  bool init(std::string* error) {
    uint32_t nrx = 1;
    while (nrx < cfg_.rx_buffers && nrx < 32768) nrx <<= 1;
    head_ = cfg_.gro ? 0 : (cfg_.rx_headroom + 63) & ~63u;
    const uint32_t rx_size = (cfg_.gro ? 65536 : cfg_.buffer_size) + head_;
    if (rx_.init(nrx, rx_size, cfg_.numa_node) != Status::ok ||
        tx_.init(cfg_.tx_buffers, cfg_.buffer_size, cfg_.numa_node) != Status::ok) {
      if (error) *error = "uring: buffer pools";
      return false;
    }
    io_uring_params params{};
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    params.cq_entries = cfg_.ring_entries * 8;
    params.flags |= IORING_SETUP_CQSIZE;
    int r = io_uring_queue_init_params(cfg_.ring_entries, &ring_, &params);
    if (r < 0) {  // older kernels: no COOP_TASKRUN / SUBMIT_ALL
      params = io_uring_params{};
      r = io_uring_queue_init(cfg_.ring_entries, &ring_, 0);
    }
    if (r < 0) {
      if (error) *error = std::string("io_uring_queue_init: ") + strerror(-r);
      return false;
    }
    ring_ok_ = true;
    // The TX pool as one fixed buffer: pages pinned once, not per send.
    const iovec region = tx_.region();
    registered_ = io_uring_register_buffers(&ring_, &region, 1) == 0;

    // Provided-buffer ring over the RX pool.
    br_bytes_ = (sizeof(io_uring_buf) * nrx + 4095) & ~size_t{4095};
    void* mem = mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
      if (error) *error = "uring: buffer ring memory";
      return false;
    }
    br_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(br_);
    reg.ring_entries = nrx;
    reg.bgid = kGroup;
    if ((r = io_uring_register_buf_ring(&ring_, &reg, 0)) != 0) {
      if (error) *error = std::string("io_uring_register_buf_ring: ") + strerror(-r);
      return false;
    }
    br_mask_ = io_uring_buf_ring_mask(nrx);
    for (uint32_t i = 0; i < nrx; ++i) {
      const uint32_t id = rx_.acquire();
      io_uring_buf_ring_add(br_, rx_.data(id) + head_, rx_.buffer_size() - head_,
                            static_cast<uint16_t>(id), br_mask_, static_cast<int>(i));
    }
    io_uring_buf_ring_advance(br_, static_cast<int>(nrx));
    refs_.assign(nrx, 0);
    rxq_.resize(nrx);

    rx_msg_ = msghdr{};
    // The kernel lays out [recvmsg_out | name | control | payload]; a name
    // area rounded up to 8 keeps the control messages aligned for cmsghdr.
    rx_msg_.msg_namelen = (sizeof(sockaddr_in6) + 7) & ~size_t{7};
    rx_msg_.msg_controllen = cfg_.gro ? kGroCmsgSpace : 0;

    slots_.resize(cfg_.ring_entries);
    free_slots_.resize(cfg_.ring_entries);
    for (uint32_t i = 0; i < cfg_.ring_entries; ++i) free_slots_[i] = cfg_.ring_entries - 1 - i;
    nfree_ = cfg_.ring_entries;
    retry_.assign(cfg_.ring_entries, 0);
    // The receive is armed by the first receive(), not here: io_uring runs a
    // request's task work (the multishot recvmsg copying datagrams into the
    // buffers) in the task that submitted it, and init() runs in whichever
    // thread built the path. Armed here, the receive work of a worker ran in
    // the thread that created it (the bench's sender), serialised with that
    // thread's sends.
    return true;
  }

  PathKind kind() const override { return PathKind::uring; }
  void disown_fd() { fd_ = -1; }

  size_t receive(std::span<RxPacket> out, int timeout_ms) override {
    size_t n = take_pending(out, 0);
    if (n == out.size()) return n;
    // Re-armed after it ended, unless it ended because the buffer ring ran
    // dry (ENOBUFS) and nothing was recycled since: the datagrams wait in the
    // socket until the caller hands buffers back.
    if (!armed_ && !starved_) {
      arm_receive();
      io_uring_submit(&ring_);
    }
    reap();
    if (n == 0 && rxq_count_ == 0 && pend_.left == 0 && timeout_ms > 0) {
      wait(timeout_ms);
      reap();
    }
    return take_pending(out, n);
  }

  void recycle(std::span<const RxPacket> pkts) override {
    int added = 0;
    for (const RxPacket& p : pkts) {
      if (p.buf >= refs_.size() || refs_[p.buf] == 0 || --refs_[p.buf] != 0) continue;
      io_uring_buf_ring_add(br_, rx_.data(p.buf) + head_, rx_.buffer_size() - head_,
                            static_cast<uint16_t>(p.buf), br_mask_, added++);
    }
    if (added > 0) {
      io_uring_buf_ring_advance(br_, added);
      starved_ = false;
    }
  }

  size_t send(std::span<const TxPacket> pkts) override { return send_impl(pkts, nullptr); }
  size_t send_from(UdpPath& from, std::span<const RxPacket> pkts) override {
    return send_impl(pkts, &from);
  }
  std::span<uint8_t> rx_buffer(uint32_t buf) override { return {rx_.data(buf), rx_.buffer_size()}; }

  // A send the socket cannot take at once (its buffer full) must neither
  // be lost nor overtaken. Left to io_uring it would wait armed on the
  // socket, every blocked send of a burst on its own, and the kernel wakes
  // such waiters last-armed first: datagrams left out of order (the
  // BlockedPeerBackpressure test saw 0..14, 30, ...). Linking the sends of a
  // burst kept the order but cost ~10% of the sender's cycles per datagram
  // (each link hop is a task-work round). So sends are MSG_DONTWAIT: a full
  // socket fails them at once with EAGAIN (counted in tx_again), they keep
  // their slot and buffers and queue up in order in retry_, and while any is
  // queued new sends are refused (the caller keeps its buffers, as with
  // sendmmsg's EAGAIN); each send()/poll() tries the queue again, in order.
  template <class P>
  size_t send_impl(std::span<const P> pkts, UdpPath* from) {
    if (nretry_ > 0) {
      retry();
      if (nretry_ > 0) return 0;
    }
    size_t accepted = 0;
    bool queued = false;
    while (accepted < pkts.size()) {
      const auto rest = pkts.subspan(accepted);
      size_t run = cfg_.gso ? gso_run(rest) : 1;
      // A zero-copy send pins the user pages as skb fragments, at most
      // MAX_SKB_FRAGS (17) of them, and every segment is its own iovec of up
      // to 2 pages: a longer GSO run fails with EMSGSIZE instead of being
      // sent (the loopback bench lost every 32-segment run that way).
      if (cfg_.zerocopy && run > kMaxZcSegments) run = kMaxZcSegments;
      io_uring_sqe* sqe = nfree_ > 0 ? io_uring_get_sqe(&ring_) : nullptr;
      if (sqe == nullptr) {
        ++c_.sq_full;
        if (queued) io_uring_submit(&ring_);
        queued = false;
        reap();  // make room, then try once more
        if (nretry_ > 0) break;  // the socket is full: the rest stays the caller's
        sqe = nfree_ > 0 ? io_uring_get_sqe(&ring_) : nullptr;
        if (sqe == nullptr) break;
      }
      const uint32_t si = free_slots_[--nfree_];
      TxSlot& s = slots_[si];
      s.msg = msghdr{};
      s.msg.msg_iov = s.iov;
      s.msg.msg_iovlen = run;
      s.nbufs = static_cast<uint32_t>(run);
      s.bytes = 0;
      s.from = from;
      for (size_t i = 0; i < run; ++i) {
        if constexpr (std::is_same_v<P, RxPacket>) {
          s.iov[i] = iovec{rest[i].data, rest[i].len};
          s.rx[i] = rest[i];
        } else {
          s.iov[i] = iovec{tx_.data(rest[i].buf) + rest[i].offset, rest[i].len};
        }
        s.bufs[i] = rest[i].buf;
        s.bytes += rest[i].len;
      }
      if (run > 1) put_gso_cmsg(s.msg, s.ctrl, static_cast<uint16_t>(rest[0].len));
      s.zc = cfg_.zerocopy && s.bytes >= cfg_.zc_min_bytes;
      if (s.zc) ++c_.tx_zc;
      prep_send(sqe, si);
      ++in_flight_;
      queued = true;
      accepted += run;
    }
    if (queued) {
      io_uring_submit(&ring_);
      ++c_.tx_calls;
    }
    reap();
    return accepted;
  }

  void prep_send(io_uring_sqe* sqe, uint32_t si) {
    TxSlot& s = slots_[si];
    if (s.zc) {
      io_uring_prep_sendmsg_zc(sqe, fd_, &s.msg, MSG_DONTWAIT);
      sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
    } else if (s.nbufs == 1) {
      // One datagram to the connected peer: SEND, no msghdr to copy in.
      io_uring_prep_send(sqe, fd_, s.iov[0].iov_base, s.iov[0].iov_len, MSG_DONTWAIT);
    } else {
      io_uring_prep_sendmsg(sqe, fd_, &s.msg, MSG_DONTWAIT);
    }
    io_uring_sqe_set_data64(sqe, kTxFlag | si);
  }

  // Submits the queued EAGAIN sends again, all of them, in order (those
  // that fail again queue up again in the same order: inline completions
  // come back in submission order).
  void retry() {
    const uint32_t n = nretry_;
    uint32_t done = 0;
    for (; done < n; ++done) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) break;
      prep_send(sqe, retry_[(retry_head_ + done) % retry_.size()]);
    }
    retry_head_ = (retry_head_ + done) % retry_.size();
    nretry_ -= done;
    // Any not resubmitted (no room in the SQ: cannot happen, the SQ has an
    // entry per slot) would now sit behind the ones that fail again.
    io_uring_submit(&ring_);
    reap();
  }

  void poll() override {
    reap();
    if (nretry_ > 0) retry();
  }

  void drain(int timeout_ms) override {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (in_flight_ > 0 && std::chrono::steady_clock::now() < end) {
      if (nretry_ > 0) retry();
      io_uring_submit(&ring_);
      wait(10);
      reap();
    }
  }

  uint32_t tx_in_flight() const override { return in_flight_; }

 private:
  // Without GRO nothing is needed from the control data or the source
  // address: a multishot RECV puts the datagram at the start of the buffer,
  // with no recvmsg header to lay out and parse (cheaper per datagram).
  void arm_receive() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return;
    if (cfg_.gro)
      io_uring_prep_recvmsg_multishot(sqe, fd_, &rx_msg_, 0);
    else
      io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kGroup;
    io_uring_sqe_set_data64(sqe, kRxTag);
    armed_ = true;
  }

  void wait(int timeout_ms) {
    __kernel_timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000LL};
    io_uring_cqe* cqe = nullptr;
    io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
  }

  // Reaps every completion: TX buffers go back to the pool, received
  // datagrams are queued for receive(). Never stops early, so a receive
  // completion can't hold sends' completions hostage.
  void reap() {
    io_uring_cqe* cqe;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      const uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag & kTxFlag)
        tx_complete(static_cast<uint32_t>(tag & ~kTxFlag), cqe);
      else
        rx_complete(cqe);
      io_uring_cqe_seen(&ring_, cqe);
    }
  }

  void rx_complete(io_uring_cqe* cqe) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) armed_ = false;  // re-armed on next receive()
    if (cqe->res < 0) {
      if (cqe->res == -ENOBUFS) {
        ++c_.rx_nobufs;
        starved_ = true;
      }
      // On a connected socket an ICMP port unreachable from a vanished peer
      // ends the pending receive with ECONNREFUSED.
      else if (cqe->res == -ECONNREFUSED) ++c_.tx_refused;
      return;
    }
    if (!(cqe->flags & IORING_CQE_F_BUFFER)) return;
    const uint32_t id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    ++c_.rx_calls;
    uint8_t* base = rx_.data(id) + head_;
    if (!cfg_.gro) {
      const uint32_t len = static_cast<uint32_t>(cqe->res);
      if (len == 0) {
        recycle_raw(id);
        return;
      }
      // RECV does not report MSG_TRUNC: a datagram that filled the buffer
      // may have been cut (it then fails authentication).
      if (len >= rx_.buffer_size() - head_) ++c_.rx_truncated;
      rxq_[(rxq_head_ + rxq_count_++) % rxq_.size()] = RxDone{id, base, len, len};
      return;
    }
    io_uring_recvmsg_out* o = io_uring_recvmsg_validate(base, cqe->res, &rx_msg_);
    if (o == nullptr) {
      recycle_raw(id);
      return;
    }
    if (o->flags & MSG_TRUNC) ++c_.rx_truncated;
    uint32_t seg = 0;
    if (cfg_.gro) {
      for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(o, &rx_msg_); c != nullptr;
           c = io_uring_recvmsg_cmsg_nexthdr(o, &rx_msg_, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int v = 0;
          memcpy(&v, CMSG_DATA(c), sizeof v);
          seg = v > 0 ? static_cast<uint32_t>(v) : 0;
        }
      }
    }
    uint8_t* payload = static_cast<uint8_t*>(io_uring_recvmsg_payload(o, &rx_msg_));
    const uint32_t len = io_uring_recvmsg_payload_length(o, cqe->res, &rx_msg_);
    if (len == 0) {
      recycle_raw(id);
      return;
    }
    RxDone& d = rxq_[(rxq_head_ + rxq_count_++) % rxq_.size()];  // one slot per buffer: never full
    d = RxDone{id, payload, len, seg == 0 ? len : seg};
  }

  size_t take_pending(std::span<RxPacket> out, size_t n) {
    while (n < out.size()) {
      if (pend_.left == 0) {
        if (rxq_count_ == 0) break;
        const RxDone& d = rxq_[rxq_head_];
        rxq_head_ = (rxq_head_ + 1) % rxq_.size();
        --rxq_count_;
        pend_ = Pending{d.buf, d.ptr, d.len, d.seg, true};
      }
      const uint32_t len = std::min(pend_.left, pend_.seg);
      out[n++] = RxPacket{pend_.ptr, len, pend_.buf};
      ++refs_[pend_.buf];
      ++c_.rx_packets;
      c_.rx_bytes += len;
      if (!pend_.first || len < pend_.left) ++c_.gro_segments;
      pend_.first = false;
      pend_.ptr += len;
      pend_.left -= len;
    }
    return n;
  }

  void recycle_raw(uint32_t id) {
    io_uring_buf_ring_add(br_, rx_.data(id) + head_, rx_.buffer_size() - head_, static_cast<uint16_t>(id),
                          br_mask_, 0);
    io_uring_buf_ring_advance(br_, 1);
    starved_ = false;
  }

  void tx_complete(uint32_t si, io_uring_cqe* cqe) {
    TxSlot& s = slots_[si];
    if (cqe->flags & IORING_CQE_F_NOTIF) {  // zero-copy: the kernel is done with the pages
      if (cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) ++c_.tx_zc_copied;
      if (s.again)
        queue_retry(si);  // its retry waited for the pages to be free
      else
        finish(si);
      return;
    }
    if (cqe->res == -EAGAIN || cqe->res == -ENOBUFS) {
      ++c_.tx_again;
      // Kept, to be sent again in order; a zero-copy send first waits for
      // its notification.
      if (s.zc && (cqe->flags & IORING_CQE_F_MORE))
        s.again = true;
      else
        queue_retry(si);
      return;
    }
    if (cqe->res < 0) {
      if (cqe->res == -ECONNREFUSED) ++c_.tx_refused;
      else ++c_.tx_errors;
    } else {
      c_.tx_packets += s.nbufs;
      c_.tx_bytes += s.bytes;
    }
    // A zero-copy send that will still get a notification keeps its buffers.
    if (s.zc && (cqe->flags & IORING_CQE_F_MORE)) return;
    finish(si);
  }

  void queue_retry(uint32_t si) {
    slots_[si].again = false;
    retry_[(retry_head_ + nretry_++) % retry_.size()] = si;
  }

  void finish(uint32_t si) {
    TxSlot& s = slots_[si];
    if (s.from != nullptr)
      s.from->recycle({s.rx, s.nbufs});
    else
      for (uint32_t i = 0; i < s.nbufs; ++i) tx_.release(s.bufs[i]);
    s.nbufs = 0;
    s.from = nullptr;
    free_slots_[nfree_++] = si;
    --in_flight_;
  }

  struct Pending {
    uint32_t buf = BufferPool::kNone;
    uint8_t* ptr = nullptr;
    uint32_t left = 0, seg = 0;
    bool first = true;
  } pend_;
  struct RxDone {
    uint32_t buf;
    uint8_t* ptr;
    uint32_t len, seg;
  };
  std::vector<RxDone> rxq_;  // completed receives not yet handed out
  size_t rxq_head_ = 0, rxq_count_ = 0;

  PathConfig cfg_;
  io_uring ring_{};
  bool ring_ok_ = false, registered_ = false, armed_ = false, starved_ = false;
  uint32_t head_ = 0;  // rx_headroom, rounded up to 64
  BufferPool rx_;
  io_uring_buf_ring* br_ = nullptr;
  size_t br_bytes_ = 0;
  int br_mask_ = 0;
  std::vector<uint16_t> refs_;
  msghdr rx_msg_{};
  std::vector<TxSlot> slots_;
  std::vector<uint32_t> free_slots_;
  uint32_t nfree_ = 0, in_flight_ = 0;
  std::vector<uint32_t> retry_;  // slots of EAGAIN sends, in order
  uint32_t retry_head_ = 0, nretry_ = 0;
};

}  // namespace

std::unique_ptr<UdpPath> make_uring_path(int fd, const PathConfig& cfg, std::string* error) {
  auto p = std::make_unique<UringPath>(fd, cfg);
  if (!p->init(error)) {
    p->disown_fd();  // the caller falls back to mmsg on the same socket
    return nullptr;
  }
  return p;
}

}  // namespace rl::io
