// A fixed set of equal-size packet buffers in one NUMA-local region, handed
// out by index. All memory is allocated at init; acquire/release never
// allocate. The whole region can be registered with io_uring as one fixed
// buffer (region()). Not thread-safe: one pool per worker.
#pragma once
#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "simd/status.h"

namespace rl::io {

class BufferPool {
 public:
  static constexpr uint32_t kNone = ~uint32_t{0};

  BufferPool() = default;
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // `size` is rounded up to 64 bytes. invalid_argument for 0 or too large.
  Status init(uint32_t count, uint32_t size, int numa_node);

  uint32_t acquire();  // kNone when exhausted (counted in exhausted())
  void release(uint32_t id);

  uint8_t* data(uint32_t id) const { return base_ + static_cast<size_t>(id) * size_; }
  uint32_t id_of(const uint8_t* p) const {
    return static_cast<uint32_t>(static_cast<size_t>(p - base_) / size_);
  }
  uint32_t buffer_size() const { return size_; }
  uint32_t count() const { return count_; }
  uint32_t available() const { return static_cast<uint32_t>(top_); }
  uint64_t exhausted() const { return exhausted_; }
  iovec region() const { return iovec{base_, static_cast<size_t>(count_) * size_}; }

 private:
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  uint32_t size_ = 0, count_ = 0;
  std::vector<uint32_t> free_;  // stack of free ids, sized once at init
  size_t top_ = 0;
  uint64_t exhausted_ = 0;
};

}  // namespace rl::io
