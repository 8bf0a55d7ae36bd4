// Timing the raw AEAD's open with every open succeeding and nothing refilled.
// Counter-mode AEADs open in place to the other side of the keystream, so two
// tags per job do it: sealing P gives C with tag(C); sealing C gives P back
// with tag(P). Opening P with tag(P) yields C, opening C with tag(C) yields P,
// and so on; each round's jobs point at the tag of what their data is now.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/aead.h"

namespace rl::bench {

class FlipOpen {
 public:
  // `jobs`: rounds of `burst` jobs (key, nonce, AAD, plaintext data, and the
  // tag pointer where tag(P) goes), kept by reference. Seals each twice.
  FlipOpen(std::span<AeadJob> jobs, size_t burst)
      : jobs_(jobs), burst_(burst), tag_p_(jobs.size()), tag_c_(jobs.size() * 16),
        on_plain_(jobs.size() / burst, 1) {
    for (size_t i = 0; i < jobs.size(); ++i) {
      tag_p_[i] = jobs[i].tag;
      jobs[i].tag = &tag_c_[16 * i];
    }
    seal(jobs);  // data = C, tag(C) aside
    for (size_t i = 0; i < jobs.size(); ++i) jobs[i].tag = tag_p_[i];
    seal(jobs);  // data = P, tag(P) where the caller put it
  }

  // Opens round r in place (P -> C or C -> P) and returns its jobs.
  std::span<AeadJob> open(size_t r) {
    const std::span<AeadJob> round = jobs_.subspan(r * burst_, burst_);
    for (size_t i = 0; i < burst_; ++i) {
      const size_t at = r * burst_ + i;
      round[i].tag = on_plain_[r] ? tag_p_[at] : &tag_c_[16 * at];
    }
    rl::open(round);
    on_plain_[r] ^= 1;
    return round;
  }

 private:
  std::span<AeadJob> jobs_;
  size_t burst_;
  std::vector<uint8_t*> tag_p_;
  std::vector<uint8_t> tag_c_;
  std::vector<uint8_t> on_plain_;
};

}  // namespace rl::bench
