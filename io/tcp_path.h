// TLS over TCP on io_uring (DESIGN.md §6): receive into a registered (fixed)
// buffer with READ_FIXED, cut the bytes into records with tls::StreamReader
// (records lying whole in the buffer are opened there, in place; one that
// straddles two reads is assembled in the reader's slot), open them as one
// burst; seal application data into records with tls::StreamWriter directly
// in a registered TX buffer and send them with SEND_ZC from it, reusing the
// buffer only after the zero-copy notification.
// Sends are synchronous (send() returns when the kernel is done with the
// bytes); one object per connection, one thread.
// Fallback: where io_uring is not available (or RL_IO=mmsg forces it) the
// same object reads with poll()+recv() into the same buffer and sends with
// send() (which copies, so the TX buffer is free again when it returns);
// records are cut, opened and sealed in place exactly as above.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/tls.h"
#include "core/tls_stream.h"
#include "io/udp_path.h"

namespace rl::io {

struct TcpCounters {
  uint64_t rx_reads = 0, rx_bytes = 0, records_opened = 0, records_failed = 0;
  uint64_t tx_sends = 0, tx_bytes = 0, tx_zc_copied = 0, tx_errors = 0;
};

class TcpTlsPath {
 public:
  // A record handed to the caller: content in place, valid until the next receive().
  using Deliver = void (*)(void* ctx, const tls::Record& rec);

  TcpTlsPath();
  ~TcpTlsPath();
  TcpTlsPath(const TcpTlsPath&) = delete;
  TcpTlsPath& operator=(const TcpTlsPath&) = delete;

  // Takes ownership of the connected socket `fd`. `rp` seals and opens (one
  // object holds both directions' keys) and must outlive the path.
  bool init(int fd, tls::RecordProtection& rp, std::string* error, size_t rx_bytes = 65536,
            size_t tx_bytes = 4 * (tls::kMaxCiphertext13 + tls::kHeaderLen));

  // One read (waits at most timeout_ms, a linked io_uring timeout; negative:
  // no limit); every whole record is opened in one
  // burst and handed to `deliver` (failed records are counted, not handed
  // out). Returns records opened, 0 when nothing came, -1 at end of stream
  // or when the stream is unusable (malformed framing, failed record).
  long receive(int timeout_ms, Deliver deliver, void* ctx);

  // Seals `data` as application data and sends it; flush=true also seals a
  // partly filled record. Returns ok once the kernel is done with the bytes.
  Status send(std::span<const uint8_t> data, bool flush);

  const TcpCounters& counters() const { return c_; }
  // uring, or mmsg for the plain-syscall fallback (named as the UDP paths).
  PathKind kind() const;

 private:
  Status send_output();
  int read_some(int timeout_ms);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  TcpCounters c_;
};

}  // namespace rl::io
