#include "tools/replay/tcp_reassembly.h"

namespace rl::replay {

void TcpStream::on_syn(uint32_t isn) {
  if (started_) return;  // a retransmitted SYN changes nothing
  started_ = true;
  base_seq_ = isn + 1;
  next_ = 0;
}

void TcpStream::on_segment(uint32_t seq, ByteSpan payload, bool fin, uint64_t frame, Output& out) {
  ++ctr_.segments;
  if (!started_) {  // capture began mid-stream: take this segment as the start
    started_ = true;
    base_seq_ = seq;
    next_ = 0;
  }
  // Unwrap the 32-bit sequence number relative to what we expect next (RFC 9293 §3.4:
  // sequence space arithmetic is modulo 2^32, windows are far smaller than 2^31).
  const uint32_t next_seq = base_seq_ + static_cast<uint32_t>(next_);
  const int64_t rel = static_cast<int32_t>(seq - next_seq);
  int64_t off = static_cast<int64_t>(next_) + rel;
  if (fin) {
    const int64_t fo = off + static_cast<int64_t>(payload.size());
    if (fo >= 0 && !fin_) {
      fin_ = true;
      fin_offset_ = static_cast<uint64_t>(fo);
    }
  }
  if (payload.empty()) return;
  if (off < 0) {  // starts before the stream (a retransmitted SYN with data, or wrap noise)
    const int64_t drop = -off;
    if (drop >= static_cast<int64_t>(payload.size())) {
      ctr_.retransmitted_bytes += payload.size();
      return;
    }
    payload = payload.subspan(static_cast<size_t>(drop));
    off = 0;
  }
  uint64_t uoff = static_cast<uint64_t>(off);
  if (fin_ && uoff >= fin_offset_) {
    ctr_.after_fin_bytes += payload.size();
    return;
  }
  // Bytes before next_ were delivered already: a retransmission, or an overlap if only
  // partly old.
  if (uoff < next_) {
    const uint64_t old = next_ - uoff;
    if (old >= payload.size()) {
      ctr_.retransmitted_bytes += payload.size();
      return;
    }
    ctr_.overlap_bytes += old;
    payload = payload.subspan(static_cast<size_t>(old));
    uoff = next_;
  }
  if (uoff == next_) {
    // In order: deliver it; held segments it overlaps lose the overlapping bytes.
    out.on_bytes(payload, frame);
    next_ += payload.size();
    deliver_held(frame, out);
    return;
  }
  // Out of order: hold it (drop bytes some held segment already covers).
  ++ctr_.out_of_order;
  auto it = held_.find(uoff);
  if (it != held_.end()) {
    if (it->second.size() >= payload.size()) {
      ctr_.retransmitted_bytes += payload.size();
      return;
    }
    // Longer than what we hold at this offset: keep the held bytes, add the tail.
    ctr_.overlap_bytes += it->second.size();
    const size_t have = it->second.size();
    held_bytes_ += payload.size() - have;
    it->second.insert(it->second.end(), payload.begin() + static_cast<ptrdiff_t>(have),
                      payload.end());
  } else {
    held_bytes_ += payload.size();
    held_.emplace(uoff, Bytes(payload.begin(), payload.end()));
  }
  if (held_bytes_ > lim_.max_held_bytes || held_.size() > lim_.max_held_segments) {
    // The hole will not be filled in a reasonable window: declare it lost.
    skip_to_first_held(frame, out);
    deliver_held(frame, out);
  }
}

void TcpStream::deliver_held(uint64_t frame, Output& out) {
  while (!held_.empty()) {
    auto it = held_.begin();
    const uint64_t o = it->first;
    if (o > next_) break;
    Bytes b = std::move(it->second);
    held_bytes_ -= b.size();
    held_.erase(it);
    const uint64_t end = o + b.size();
    if (end <= next_) {
      ctr_.retransmitted_bytes += b.size();
      continue;
    }
    const size_t skip = static_cast<size_t>(next_ - o);
    ctr_.overlap_bytes += skip;
    out.on_bytes(ByteSpan(b).subspan(skip), frame);
    next_ = end;
  }
}

void TcpStream::skip_to_first_held(uint64_t frame, Output& out) {
  if (held_.empty()) return;
  const uint64_t o = held_.begin()->first;
  if (o <= next_) return;
  ++ctr_.gaps;
  ctr_.gap_bytes += o - next_;
  out.on_gap(next_, o - next_, frame);
  next_ = o;
}

void TcpStream::flush(uint64_t frame, Output& out) {
  while (!held_.empty()) {
    skip_to_first_held(frame, out);
    deliver_held(frame, out);
  }
  // The FIN says how long the stream was: anything missing before it is a gap too.
  if (fin_ && fin_offset_ > next_) {
    ++ctr_.gaps;
    ctr_.gap_bytes += fin_offset_ - next_;
    out.on_gap(next_, fin_offset_ - next_, frame);
    next_ = fin_offset_;
  }
}

}  // namespace rl::replay
