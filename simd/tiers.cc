// Registry of the SIMD tiers. Baseline code: it only takes the tiers' function
// addresses and calls their key preparation after checking the CPU.
#include "simd/tiers.h"

#include "simd/aes_schedule.h"
#include "simd/avx2/aes_gcm_avx2.h"
#include "simd/avx512/aes_gcm_avx512.h"

namespace rl {

const BackendOps* tier_avx2_ops() {
  static constexpr BackendOps ops{"avx2", avx2::seal, avx2::open, avx2::mask,
                                  seal_then_mask<avx2::seal, avx2::mask>, mask_then_open<avx2::open, avx2::mask>};
  return &ops;
}

const BackendOps* tier_avx512_ops() {
  static constexpr BackendOps ops{"avx512", avx512::seal, avx512::open, avx512::mask, avx512::seal_masked,
                                  avx512::open_masked};
  return &ops;
}

void tier_prepare_aead_key(Suite suite, const uint8_t* key, uint8_t* state) {
  if (suite == Suite::chacha20_poly1305) return;
  if (backend_supported(Backend::avx512)) avx512::gcm_prepare(suite, key, state);
  // The avx2 tier keeps its own layout after the first region, so that either
  // tier can run the key on a CPU that has both.
  static_assert(avx2::kStateSize <= AeadKey::kAvx2StateSize);
  if (backend_supported(Backend::avx2)) avx2::gcm_prepare(suite, key, state + AeadKey::kBackendStateSize);
}

int tier_prepare_aes_key(const uint8_t* key, size_t key_len, uint8_t* round_keys) {
  if (key_len != 16 && key_len != 32) return 0;
  if (!backend_supported(Backend::avx512) && !backend_supported(Backend::avx2)) return 0;
  return aes_expand(key, key_len, round_keys);
}

}  // namespace rl
