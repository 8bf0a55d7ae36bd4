// The packet model (DESIGN.md §3): a view into caller memory,
//   buf: [ headroom | record/packet (offset, length) | tailroom ]  up to capacity.
// Seal takes the plaintext at [offset, offset+length) and leaves the protected
// record there (offset moves back over the header it wrote, length grows by
// header, padding and tag). Open does the reverse. Nothing is copied or
// allocated; each packet carries its own Status.
#pragma once
#include <cstdint>
#include <span>

#include "simd/status.h"

namespace rl {

struct PacketView {
  uint8_t* buf = nullptr;
  uint32_t capacity = 0;
  uint32_t offset = 0;
  uint32_t length = 0;
  Status status = Status::ok;

  uint8_t* data() const { return buf + offset; }
  std::span<uint8_t> bytes() const { return {buf + offset, length}; }
  uint32_t headroom() const { return offset; }
  uint32_t tailroom() const { return capacity - offset - length; }
  bool well_formed() const {
    return buf != nullptr && offset <= capacity && length <= capacity - offset;
  }
  // Asks for the line at offset + at before the view is checked: the address
  // is computed on integers, since a view as the caller handed it may be
  // empty (buf null), where pointer arithmetic is undefined; a prefetch never
  // faults.
  void prefetch(size_t at = 0) const {
    __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(buf) + offset + at));
  }
};

}  // namespace rl
