// TLS over TCP: cutting a byte stream into records, and records into a stream.
//
// StreamReader takes whatever recv() returned (records split across reads,
// many records in one read) and yields whole records. A record that lies
// complete inside the fed chunk is yielded in place (a span into the caller's
// chunk, no copy); only a record that straddles two reads is assembled in one
// of the reader's two fixed slots. Every span yielded stays valid until the
// next feed() (and while the caller keeps the chunk's memory), so a caller can
// collect all records of a read and open them as one burst.
//
// StreamWriter turns application writes into records in a caller-provided
// output buffer: a large write is cut into records of `record_size` content
// bytes (at most 2^14), small writes are coalesced into one record until it is
// full or flush() is called. Full records are sealed in place as one burst per
// write() call; the output is the concatenation of sealed records.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/tls.h"

namespace rl::tls {

class StreamReader {
 public:
  // Records whose header announces more than `max_body` bytes are refused with
  // record_overflow (2^14+256 for TLS 1.3, 2^14+2048 for TLS 1.2; at most the latter).
  explicit StreamReader(size_t max_body = kMaxCiphertext13);

  // Hands the reader the next chunk of the stream. The previous chunk must be
  // used up (next() returned truncated); otherwise invalid_argument and nothing changes.
  Status feed(std::span<uint8_t> chunk);

  // ok: `record` is one whole record (header included).
  // truncated: every byte fed so far is consumed; feed more.
  // malformed (not a TLS record header: type outside 20..24 or version major
  // not 3) or record_overflow: the stream is unusable; every later call says so.
  Status next(std::span<uint8_t>& record);

  size_t buffered() const { return fill_; }  // bytes of a partial record held
  Status error() const { return error_; }

  static constexpr size_t kSlotSize = kHeaderLen + kMaxCiphertext12;

 private:
  Status check_header(const uint8_t* h, size_t& total);

  uint8_t slots_[2][kSlotSize];
  std::span<uint8_t> chunk_;
  size_t pos_ = 0;
  size_t fill_ = 0;     // bytes of the partial record in slots_[fill_slot_]
  int fill_slot_ = 0;
  int held_ = -1;       // slot yielded since the last feed()
  size_t max_body_;
  Status error_ = Status::ok;
};

class StreamWriter {
 public:
  // `record_size`: content bytes per record (1..2^14). The output buffer must
  // hold at least one sealed record of that size.
  StreamWriter(RecordProtection& rp, std::span<uint8_t> out, size_t record_size = kMaxPlaintext);

  // Takes as much of `data` as fits in the output buffer (`accepted` says how
  // much), seals every record that became full. ok with accepted < size means
  // the output is full: send some of it, consume(), write the rest. Any seal
  // failure is returned and the writer stops (further calls return it).
  Status write(std::span<const uint8_t> data, size_t& accepted);
  // Seals the record being filled, if any.
  Status flush();

  // Sealed bytes, ready to send.
  std::span<const uint8_t> output() const { return {out_.data(), sealed_end_}; }
  // The caller sent the first `n` bytes of output().
  void consume(size_t n);
  size_t pending_content() const { return cur_len_; }

 private:
  Status seal_batch(Record* recs, size_t n);

  RecordProtection& rp_;
  std::span<uint8_t> out_;
  size_t record_size_;
  size_t sealed_end_ = 0;  // end of the sealed records; the open record starts here
  size_t cur_len_ = 0;     // content bytes in the open record
  Status error_ = Status::ok;
};

}  // namespace rl::tls
