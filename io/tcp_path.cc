#include "io/tcp_path.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace rl::io {

struct TcpTlsPath::Impl {
  io_uring ring{};
  bool ring_ok = false;
  bool uring = true;  // false: poll/recv/send fallback
  int fd = -1;
  uint8_t* rx = nullptr;
  uint8_t* tx = nullptr;
  size_t rx_len = 0, tx_len = 0;
  tls::RecordProtection* rp = nullptr;
  tls::StreamReader reader;
  std::optional<tls::StreamWriter> writer;
  bool eof = false;
  static constexpr size_t kBurst = 32;
  tls::Record recs[kBurst];

  ~Impl() {
    if (ring_ok) io_uring_queue_exit(&ring);
    if (rx != nullptr) munmap(rx, rx_len);
    if (tx != nullptr) munmap(tx, tx_len);
    if (fd >= 0) close(fd);
  }
  // Submits one SQE and waits for its completion (and, for a zero-copy send,
  // the notification); returns the result.
  int run(bool zc, uint64_t* copied) {
    io_uring_submit(&ring);
    int res = 0;
    bool more = zc, got_res = false;
    while (!got_res || more) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(&ring, &cqe) != 0) return -EIO;
      if (cqe->flags & IORING_CQE_F_NOTIF) {
        if (copied != nullptr && (cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)) ++*copied;
        more = false;
      } else {
        res = cqe->res;
        got_res = true;
        if (!(cqe->flags & IORING_CQE_F_MORE)) more = false;
      }
      io_uring_cqe_seen(&ring, cqe);
    }
    return res;
  }
};

TcpTlsPath::TcpTlsPath() : impl_(std::make_unique<Impl>()) {}
TcpTlsPath::~TcpTlsPath() = default;

bool TcpTlsPath::init(int fd, tls::RecordProtection& rp, std::string* error, size_t rx_bytes,
                      size_t tx_bytes) {
  Impl& m = *impl_;
  m.fd = fd;
  m.rp = &rp;
  auto map = [](size_t n) -> uint8_t* {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  };
  m.rx_len = rx_bytes;
  m.tx_len = tx_bytes;
  m.rx = map(rx_bytes);
  m.tx = map(tx_bytes);
  if (m.rx == nullptr || m.tx == nullptr) {
    if (error) *error = "tcp: buffer memory";
    return false;
  }
  const char* env = std::getenv("RL_IO");
  m.uring = uring_available() && !(env != nullptr && std::strcmp(env, "mmsg") == 0);
  if (!m.uring) {  // the fallback: plain syscalls on the same buffers
    m.writer.emplace(rp, std::span<uint8_t>(m.tx, m.tx_len));
    return true;
  }
  if (int r = io_uring_queue_init(8, &m.ring, 0); r < 0) {
    if (error) *error = std::string("io_uring_queue_init: ") + strerror(-r);
    return false;
  }
  m.ring_ok = true;
  const iovec regs[2] = {{m.rx, m.rx_len}, {m.tx, m.tx_len}};
  if (int r = io_uring_register_buffers(&m.ring, regs, 2); r < 0) {
    if (error) *error = std::string("io_uring_register_buffers: ") + strerror(-r);
    return false;
  }
  m.writer.emplace(rp, std::span<uint8_t>(m.tx, m.tx_len));
  return true;
}

PathKind TcpTlsPath::kind() const { return impl_->uring ? PathKind::uring : PathKind::mmsg; }

// One read into the RX buffer: bytes read, 0 when nothing came in time,
// -1 at end of stream or on an error.
int TcpTlsPath::read_some(int timeout_ms) {
  Impl& m = *impl_;
  if (!m.uring) {
    pollfd p{m.fd, POLLIN, 0};
    const int pr = ::poll(&p, 1, timeout_ms < 0 ? -1 : timeout_ms);
    if (pr == 0 || (pr < 0 && errno == EINTR)) return 0;
    const ssize_t n = pr < 0 ? -1 : recv(m.fd, m.rx, m.rx_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return n <= 0 ? -1 : static_cast<int>(n);
  }
  io_uring_sqe* sqe = io_uring_get_sqe(&m.ring);
  // Registered buffer 0 (the RX region); sockets ignore the offset. A linked
  // timeout cancels the read when nothing comes in time.
  io_uring_prep_read_fixed(sqe, m.fd, m.rx, static_cast<unsigned>(m.rx_len), 0, 0);
  io_uring_sqe_set_data64(sqe, 1);
  __kernel_timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000LL};
  if (timeout_ms >= 0) {
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe* t = io_uring_get_sqe(&m.ring);
    io_uring_prep_link_timeout(t, &ts, 0);
    io_uring_sqe_set_data64(t, 3);
  }
  io_uring_submit(&m.ring);
  int n = 0;
  for (int pending = timeout_ms >= 0 ? 2 : 1; pending > 0; --pending) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe(&m.ring, &cqe) != 0) return -1;
    if (io_uring_cqe_get_data64(cqe) == 1) n = cqe->res;
    io_uring_cqe_seen(&m.ring, cqe);
  }
  if (n == -ECANCELED || n == -EINTR) return 0;  // timed out: nothing came
  return n <= 0 ? -1 : n;
}

long TcpTlsPath::receive(int timeout_ms, Deliver deliver, void* ctx) {
  Impl& m = *impl_;
  if (m.eof || m.reader.error() != Status::ok) return -1;
  const int n = read_some(timeout_ms);
  if (n == 0) return 0;
  if (n < 0) {
    m.eof = true;
    return -1;
  }
  ++c_.rx_reads;
  c_.rx_bytes += static_cast<uint64_t>(n);
  if (m.reader.feed({m.rx, static_cast<size_t>(n)}) != Status::ok) return -1;
  long opened = 0;
  for (;;) {
    size_t k = 0;
    std::span<uint8_t> rec;
    Status s = Status::ok;
    while (k < Impl::kBurst && (s = m.reader.next(rec)) == Status::ok) {
      tls::Record& r = m.recs[k++];
      r = tls::Record{};
      static_cast<PacketView&>(r) = PacketView{rec.data(), static_cast<uint32_t>(rec.size()), 0,
                                               static_cast<uint32_t>(rec.size()), Status::ok};
    }
    if (k > 0) {
      m.rp->open({m.recs, k});
      for (size_t i = 0; i < k; ++i) {
        if (m.recs[i].status != Status::ok) {
          ++c_.records_failed;
          m.eof = true;  // TLS: a record that fails ends the connection (RFC 8446 §5.2)
          continue;
        }
        ++c_.records_opened;
        ++opened;
        deliver(ctx, m.recs[i]);
      }
    }
    if (s == Status::truncated) break;
    if (s != Status::ok) return -1;  // malformed framing
  }
  return m.eof ? -1 : opened;
}

Status TcpTlsPath::send_output() {
  Impl& m = *impl_;
  while (!m.writer->output().empty()) {
    const std::span<const uint8_t> out = m.writer->output();
    if (!m.uring) {  // send() copies: the TX buffer is free when it returns
      const ssize_t r = ::send(m.fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        ++c_.tx_errors;
        return Status::closed;
      }
      ++c_.tx_sends;
      c_.tx_bytes += static_cast<uint64_t>(r);
      m.writer->consume(static_cast<size_t>(r));
      continue;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&m.ring);
    // Zero-copy from registered buffer 1: the bytes are sealed records in the
    // TX region itself.
    io_uring_prep_send_zc_fixed(sqe, m.fd, out.data(), out.size(), MSG_NOSIGNAL, 0, 1);
    sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
    io_uring_sqe_set_data64(sqe, 2);
    const int r = m.run(true, &c_.tx_zc_copied);
    if (r < 0) {
      ++c_.tx_errors;
      return Status::closed;
    }
    ++c_.tx_sends;
    c_.tx_bytes += static_cast<uint64_t>(r);
    m.writer->consume(static_cast<size_t>(r));
  }
  return Status::ok;
}

Status TcpTlsPath::send(std::span<const uint8_t> data, bool flush) {
  Impl& m = *impl_;
  while (!data.empty()) {
    size_t took = 0;
    if (Status s = m.writer->write(data, took); s != Status::ok) return s;
    data = data.subspan(took);
    if (Status s = send_output(); s != Status::ok) return s;
  }
  if (flush) {
    if (Status s = m.writer->flush(); s != Status::ok) return s;
    return send_output();
  }
  return Status::ok;
}

}  // namespace rl::io
