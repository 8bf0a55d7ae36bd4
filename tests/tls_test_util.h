// Helpers shared by the TLS tests: records in owned buffers with head/tailroom.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/tls.h"
#include "tests/support/vectors.h"

namespace rl::tls::test {

using rl::test::Bytes;

// A buffer with `head` bytes of headroom before the content and room after it.
struct Buf {
  std::vector<uint8_t> mem;
  Record rec;
  Buf(const Bytes& content, uint8_t type = application_data, size_t head = 16,
      size_t tail = kMaxPlaintext + 300) {
    mem.assign(head + content.size() + tail, 0xee);
    if (!content.empty()) std::memcpy(mem.data() + head, content.data(), content.size());
    rec.buf = mem.data();
    rec.capacity = static_cast<uint32_t>(mem.size());
    rec.offset = static_cast<uint32_t>(head);
    rec.length = static_cast<uint32_t>(content.size());
    rec.type = type;
  }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  Buf(Buf&&) = default;
  Buf& operator=(Buf&&) = default;
  // A whole protected record, to open.
  static Buf wire(const Bytes& record) {
    Buf b(record, application_data, 0, 0);
    return b;
  }
  Bytes bytes() const { return Bytes(rec.buf + rec.offset, rec.buf + rec.offset + rec.length); }
};

}  // namespace rl::tls::test
