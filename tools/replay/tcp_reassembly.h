// One direction of a TCP connection turned back into the byte stream the receiver read:
// in order, retransmitted and overlapping bytes dropped (bytes already delivered are never
// delivered again), out-of-order segments held (bounded), gaps reported.
// Each delivered chunk carries the 1-based frame that made it deliverable, so a record
// that spans segments is attributed to the frame that delivered its last byte.
#pragma once
#include <cstdint>
#include <functional>
#include <map>

#include "tools/replay/common.h"

namespace rl::replay {

class TcpStream {
 public:
  struct Limits {
    size_t max_held_bytes = 4u << 20;  // out-of-order bytes held before declaring a gap
    size_t max_held_segments = 2048;
  };
  struct Output {
    virtual ~Output() = default;
    virtual void on_bytes(ByteSpan data, uint64_t frame) = 0;
    // `len` stream bytes starting at stream offset `offset` will never come.
    virtual void on_gap(uint64_t offset, uint64_t len, uint64_t frame) = 0;
  };
  TcpStream() = default;
  explicit TcpStream(Limits l) : lim_(l) {}

  // A SYN from this direction: the stream starts at isn + 1.
  void on_syn(uint32_t isn);
  // One segment's payload (may be empty with FIN). Delivers what became in-order.
  void on_segment(uint32_t seq, ByteSpan payload, bool fin, uint64_t frame, Output& out);
  // End of capture: held segments behind a hole are delivered after a reported gap.
  void flush(uint64_t frame, Output& out);

  uint64_t delivered() const { return next_; }  // stream offset of the next expected byte
  bool started() const { return started_; }
  bool fin_seen() const { return fin_; }
  struct Counters {
    uint64_t segments = 0, retransmitted_bytes = 0, overlap_bytes = 0, out_of_order = 0,
             gaps = 0, gap_bytes = 0, after_fin_bytes = 0;
  };
  const Counters& counters() const { return ctr_; }
  size_t held_bytes() const { return held_bytes_; }

 private:
  void deliver_held(uint64_t frame, Output& out);
  void skip_to_first_held(uint64_t frame, Output& out);

  Limits lim_;
  bool started_ = false, fin_ = false;
  uint32_t base_seq_ = 0;  // sequence number of stream offset 0
  uint64_t next_ = 0;      // next stream offset expected
  uint64_t fin_offset_ = UINT64_MAX;
  std::map<uint64_t, Bytes> held_;  // stream offset -> bytes, out of order
  size_t held_bytes_ = 0;
  Counters ctr_;
};

}  // namespace rl::replay
