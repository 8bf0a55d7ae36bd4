// Helpers shared by the DTLS 1.2 and DTLS 1.3 tests.
#pragma once
#include <cstdint>
#include <cstring>

#include "tests/support/vectors.h"

namespace rl::test {

// A record in an owned buffer with `kHead` bytes of headroom (header, CID,
// explicit nonce) and room after the content (tag, inner type, padding), as
// the engine expects; `Record` is dtls::Record or dtls13::Record.
template <class Record, uint32_t kHead>
struct RecordBuf {
  static constexpr uint32_t kTail = 64 + 256;
  Bytes mem;
  Record rec;
  explicit RecordBuf(const Bytes& plain, uint8_t type = 23) {
    mem.assign(kHead + plain.size() + kTail, 0xee);
    if (!plain.empty()) std::memcpy(mem.data() + kHead, plain.data(), plain.size());
    rec.pkt = {mem.data(), static_cast<uint32_t>(mem.size()), kHead,
               static_cast<uint32_t>(plain.size()), Status::ok};
    rec.type = type;
  }
  // rec.pkt points into mem: moving keeps the heap buffer, copying would not.
  RecordBuf(const RecordBuf&) = delete;
  RecordBuf& operator=(const RecordBuf&) = delete;
  RecordBuf(RecordBuf&&) = default;
  RecordBuf& operator=(RecordBuf&&) = default;
  // A received record: exactly the bytes, no room needed.
  static Record view(Bytes& wire) {
    Record r;
    r.pkt = {wire.data(), static_cast<uint32_t>(wire.size()), 0,
             static_cast<uint32_t>(wire.size()), Status::ok};
    return r;
  }
  Bytes bytes() const { return Bytes(rec.pkt.data(), rec.pkt.data() + rec.pkt.length); }
};

}  // namespace rl::test
