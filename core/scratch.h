// Per-burst scratch arrays on the stack without constructing all N elements
// on every call: AeadJob/MaskJob have member initializers, and zeroing 32 of
// them costs more than the framing of a small record. Each element used is
// constructed in place (make) before use.
#pragma once
#include <cstddef>
#include <new>
#include <span>

namespace rl {

template <class T, size_t N>
struct Scratch {
  union {
    T v[N];
  };
  Scratch() {}
  ~Scratch() {}
  T& make(size_t i) { return *new (&v[i]) T{}; }
  T& operator[](size_t i) { return v[i]; }
  std::span<T> first(size_t n) { return {v, n}; }
};

}  // namespace rl
