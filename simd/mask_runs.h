// What the SIMD tiers' mask() share: a burst of header-protection masks
// split into runs of consecutive jobs under one key (the usual case: one
// connection's packets), each run handed to the tier's kernel, and the one-
// sample AES-NI mask. Included only by tier files compiled with AES-NI.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <span>

#include "simd/aead_key.h"
#include "simd/jobs.h"
#include "simd/suite.h"

namespace rl::simd_masks {

// A job the kernels can take; anything else goes to the portable path,
// which reports why.
inline bool usable(const MaskJob& m) { return m.key != nullptr && m.key->valid() && m.sample != nullptr; }

// One AES-ECB block with AES-NI (a burst's lone sample, or a run of one).
template <int R>
inline void aes_mask1(MaskJob& m) {
  const auto* rk = reinterpret_cast<const __m128i*>(m.key->simd_round_keys());
  __m128i b = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m.sample)), _mm_loadu_si128(rk));
  for (int r = 1; r < R; ++r) b = _mm_aesenc_si128(b, _mm_loadu_si128(rk + r));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(m.mask), _mm_aesenclast_si128(b, _mm_loadu_si128(rk + R)));
}

// Runs of one ChaCha20 key (as long as they go) to chacha(first, n) when
// `chacha_ok`; runs of one AES key (at most aes_max) to aes(first, n);
// every other job to portable(job).
template <class Chacha, class Aes, class Portable>
inline void by_key_runs(std::span<MaskJob> jobs, bool chacha_ok, size_t aes_max, Chacha&& chacha, Aes&& aes,
                        Portable&& portable) {
  size_t i = 0;
  while (i < jobs.size()) {
    MaskJob& m = jobs[i];
    const bool is_chacha = usable(m) && m.key->suite() == Suite::chacha20_poly1305;
    const bool is_aes = usable(m) && !is_chacha && m.key->simd_rounds() != 0;
    if (!(is_chacha && chacha_ok) && !is_aes) {
      portable(m);
      ++i;
      continue;
    }
    const size_t max = is_chacha ? jobs.size() - i : aes_max;
    size_t e = i + 1;
    while (e < jobs.size() && e - i < max && jobs[e].key == m.key && jobs[e].sample != nullptr) ++e;
    if (is_chacha)
      chacha(&jobs[i], e - i);
    else
      aes(&jobs[i], e - i);
    i = e;
  }
}

}  // namespace rl::simd_masks
