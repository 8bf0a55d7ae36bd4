// libFuzzer: the TCP record reader (core/tls_stream.cc). The input is cut
// into chunks whose sizes come from the input itself; the records the reader
// yields, concatenated, must be exactly a prefix of the stream, each with a
// header that announces its own length, and the reader must never yield a
// record after an error.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/bytes.h"
#include "core/tls_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rl;
  using namespace rl::tls;
  if (size < 1) return 0;
  const size_t max_body = (data[0] & 1) ? kMaxCiphertext12 : kMaxCiphertext13;
  const size_t step = 1 + data[0] / 2;  // chunk sizes cycle 1..step*3
  auto reader = std::make_unique<StreamReader>(max_body);
  std::vector<uint8_t> stream(data + 1, data + size), yielded;
  size_t pos = 0, i = 0;
  bool dead = false;
  while (pos < stream.size()) {
    const size_t n = std::min(stream.size() - pos, step * (1 + i++ % 3));
    // Each chunk in its own allocation: ASan catches reads past its end.
    // Sometimes an empty feed (a read that returned nothing).
    if (i % 7 == 3) {
      if (reader->feed({}) != Status::ok && !dead) __builtin_trap();
      std::span<uint8_t> none;
      if (reader->next(none) == Status::ok) __builtin_trap();
    }
    std::unique_ptr<uint8_t[]> chunk(new uint8_t[n]);
    std::memcpy(chunk.get(), stream.data() + pos, n);
    pos += n;
    const Status fed = reader->feed({chunk.get(), n});
    if (fed != Status::ok) {
      if (!dead) __builtin_trap();  // only a dead reader refuses a used-up chunk
      break;
    }
    std::span<uint8_t> rec;
    Status st;
    while ((st = reader->next(rec)) == Status::ok) {
      if (dead) __builtin_trap();
      if (rec.size() < kHeaderLen || rec.size() != kHeaderLen + load_be16(rec.data() + 3) ||
          rec.size() > kHeaderLen + max_body)
        __builtin_trap();
      yielded.insert(yielded.end(), rec.begin(), rec.end());
    }
    if (st != Status::truncated) dead = true;
  }
  if (yielded.size() > stream.size() ||
      (!yielded.empty() && std::memcmp(yielded.data(), stream.data(), yielded.size()) != 0))
    __builtin_trap();
  return 0;
}
