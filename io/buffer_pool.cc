#include "io/buffer_pool.h"

#include "io/topology.h"

namespace rl::io {

BufferPool::~BufferPool() { Topology::get().release(base_, bytes_); }

Status BufferPool::init(uint32_t count, uint32_t size, int numa_node) {
  if (count == 0 || size == 0 || size > (1u << 20) || count > (1u << 20))
    return Status::invalid_argument;
  Topology::get().release(base_, bytes_);
  size_ = (size + 63) & ~63u;
  count_ = count;
  bytes_ = static_cast<size_t>(count) * size_;
  base_ = static_cast<uint8_t*>(Topology::get().alloc_on_node(bytes_, numa_node));
  if (base_ == nullptr) return Status::buffer_too_small;
  free_.assign(count, 0);
  for (uint32_t i = 0; i < count; ++i) free_[i] = count - 1 - i;  // hand out 0, 1, 2, ...
  top_ = count;
  exhausted_ = 0;
  return Status::ok;
}

uint32_t BufferPool::acquire() {
  if (top_ == 0) {
    ++exhausted_;
    return kNone;
  }
  return free_[--top_];
}

void BufferPool::release(uint32_t id) {
  if (id < count_ && top_ < count_) free_[top_++] = id;
}

}  // namespace rl::io
