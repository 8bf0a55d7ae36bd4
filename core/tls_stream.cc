#include "core/tls_stream.h"

#include <algorithm>
#include <cstring>

#include "core/bytes.h"

namespace rl::tls {

// ---- reader -------------------------------------------------------------------

StreamReader::StreamReader(size_t max_body) : max_body_(std::min(max_body, kMaxCiphertext12)) {}

Status StreamReader::feed(std::span<uint8_t> chunk) {
  if (error_ != Status::ok) return error_;
  if (pos_ < chunk_.size()) return Status::invalid_argument;  // previous chunk not used up
  chunk_ = chunk;
  pos_ = 0;
  held_ = -1;  // spans yielded from the previous chunk are no longer needed
  return Status::ok;
}

// RFC 8446 §5.1 / RFC 5246 §6.2.1: type ‖ version ‖ uint16 length. Types 20..24
// (24 = heartbeat, RFC 6520) and major version 3 are all a TLS stream can carry;
// anything else means the stream lost its framing.
Status StreamReader::check_header(const uint8_t* h, size_t& total) {
  if (h[0] < change_cipher_spec || h[0] > 24 || h[1] != 3) return error_ = Status::malformed;
  const size_t len = load_be16(h + 3);
  if (len > max_body_) return error_ = Status::record_overflow;
  total = kHeaderLen + len;
  return Status::ok;
}

Status StreamReader::next(std::span<uint8_t>& record) {
  if (error_ != Status::ok) return error_;
  const size_t avail = chunk_.size() - pos_;
  if (fill_ > 0) {
    // Finish the record that started in an earlier chunk.
    uint8_t* s = slots_[fill_slot_];
    size_t total = kHeaderLen;
    if (fill_ < kHeaderLen) {
      const size_t take = std::min(kHeaderLen - fill_, avail);
      if (take > 0) std::memcpy(s + fill_, chunk_.data() + pos_, take);
      fill_ += take, pos_ += take;
      if (fill_ < kHeaderLen) return Status::truncated;
    }
    if (const Status st = check_header(s, total); st != Status::ok) return st;
    const size_t take = std::min(total - fill_, chunk_.size() - pos_);
    if (take > 0) std::memcpy(s + fill_, chunk_.data() + pos_, take);
    fill_ += take, pos_ += take;
    if (fill_ < total) return Status::truncated;
    record = {s, total};
    fill_ = 0;
    held_ = fill_slot_;
    fill_slot_ ^= 1;
    return Status::ok;
  }
  if (avail == 0) return Status::truncated;
  uint8_t* p = chunk_.data() + pos_;
  if (avail >= kHeaderLen) {
    size_t total = 0;
    if (const Status st = check_header(p, total); st != Status::ok) return st;
    if (avail >= total) {
      record = {p, total};  // in place: no copy
      pos_ += total;
      return Status::ok;
    }
  }
  // The chunk ends inside a record: keep its start, in a slot that does not
  // hold a record yielded from this chunk.
  if (fill_slot_ == held_) fill_slot_ ^= 1;
  std::memcpy(slots_[fill_slot_], p, avail);
  fill_ = avail;
  pos_ = chunk_.size();
  return Status::truncated;
}

// ---- writer -------------------------------------------------------------------

StreamWriter::StreamWriter(RecordProtection& rp, std::span<uint8_t> out, size_t record_size)
    : rp_(rp), out_(out), record_size_(std::clamp<size_t>(record_size, 1, kMaxPlaintext)) {}

Status StreamWriter::seal_batch(Record* recs, size_t n) {
  if (n == 0) return Status::ok;
  rp_.seal({recs, n});
  for (size_t i = 0; i < n; ++i) {
    if (recs[i].status != Status::ok) {
      error_ = recs[i].status;
      cur_len_ = 0;
      return error_;
    }
    sealed_end_ = recs[i].offset + recs[i].length;
  }
  return Status::ok;
}

Status StreamWriter::write(std::span<const uint8_t> data, size_t& accepted) {
  accepted = 0;
  if (error_ != Status::ok) return error_;
  constexpr size_t kBurst = 32;
  Record batch[kBurst];
  size_t n = 0;
  const size_t head = rp_.header_size();
  size_t start = sealed_end_;  // where the record being filled begins
  auto fits = [&](size_t content) { return start + rp_.sealed_size(content) <= out_.size(); };

  while (accepted < data.size()) {
    size_t take = std::min(record_size_ - cur_len_, data.size() - accepted);
    if (!fits(cur_len_ + take)) {
      // sealed_size() grows with the content: find the most that still fits.
      size_t lo = 0, hi = take;
      while (lo < hi) {
        const size_t mid = (lo + hi + 1) / 2;
        if (fits(cur_len_ + mid)) lo = mid; else hi = mid - 1;
      }
      take = lo;
    }
    if (take == 0) break;  // output full
    std::memcpy(out_.data() + start + head + cur_len_, data.data() + accepted, take);
    cur_len_ += take;
    accepted += take;
    if (cur_len_ < record_size_) break;  // coalescing: wait for more or flush()
    Record& r = batch[n++];
    r.buf = out_.data();
    r.offset = static_cast<uint32_t>(start + head);
    r.length = static_cast<uint32_t>(cur_len_);
    r.capacity = static_cast<uint32_t>(start + rp_.sealed_size(cur_len_));
    r.type = application_data;
    start += rp_.sealed_size(cur_len_);
    cur_len_ = 0;
    if (n == kBurst) {
      if (const Status st = seal_batch(batch, n); st != Status::ok) return st;
      n = 0;
    }
  }
  return seal_batch(batch, n);
}

Status StreamWriter::flush() {
  if (error_ != Status::ok) return error_;
  if (cur_len_ == 0) return Status::ok;
  Record r;
  r.buf = out_.data();
  r.offset = static_cast<uint32_t>(sealed_end_ + rp_.header_size());
  r.length = static_cast<uint32_t>(cur_len_);
  r.capacity = static_cast<uint32_t>(sealed_end_ + rp_.sealed_size(cur_len_));
  r.type = application_data;
  cur_len_ = 0;
  return seal_batch(&r, 1);
}

void StreamWriter::consume(size_t n) {
  n = std::min(n, sealed_end_);
  // Move what is left (unsent records and the record being filled) to the front.
  const size_t keep = sealed_end_ - n + (cur_len_ > 0 ? rp_.header_size() + cur_len_ : 0);
  std::memmove(out_.data(), out_.data() + n, keep);
  sealed_end_ -= n;
}

}  // namespace rl::tls
