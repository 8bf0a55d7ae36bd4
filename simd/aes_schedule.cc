// Built without tier flags: the function carries its own target (AES-NI on
// SSE2), so nothing wider than SSE can leak into it from a tier's options.
#include "simd/aes_schedule.h"

#include <immintrin.h>

#define RL_AESNI __attribute__((target("aes,sse2")))

namespace rl {
namespace {

RL_AESNI inline __m128i mix(__m128i k, __m128i t) {
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, t);
}
template <int kRcon>
RL_AESNI inline __m128i rot_sub(__m128i k) {  // RotWord(SubWord(last word)) ^ Rcon, in every word
  return _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k, kRcon), 0xff);
}
RL_AESNI inline __m128i sub_only(__m128i k) {  // SubWord(last word) for AES-256's odd steps
  return _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k, 0), 0xaa);
}

}  // namespace

RL_AESNI int aes_expand(const uint8_t* key, size_t key_len, uint8_t* out) {
  __m128i k[15];
  int rounds;
  if (key_len == 16) {
    k[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
    k[1] = mix(k[0], rot_sub<0x01>(k[0]));
    k[2] = mix(k[1], rot_sub<0x02>(k[1]));
    k[3] = mix(k[2], rot_sub<0x04>(k[2]));
    k[4] = mix(k[3], rot_sub<0x08>(k[3]));
    k[5] = mix(k[4], rot_sub<0x10>(k[4]));
    k[6] = mix(k[5], rot_sub<0x20>(k[5]));
    k[7] = mix(k[6], rot_sub<0x40>(k[6]));
    k[8] = mix(k[7], rot_sub<0x80>(k[7]));
    k[9] = mix(k[8], rot_sub<0x1b>(k[8]));
    k[10] = mix(k[9], rot_sub<0x36>(k[9]));
    rounds = 10;
  } else if (key_len == 32) {
    k[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
    k[1] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 16));
    k[2] = mix(k[0], rot_sub<0x01>(k[1]));
    k[3] = mix(k[1], sub_only(k[2]));
    k[4] = mix(k[2], rot_sub<0x02>(k[3]));
    k[5] = mix(k[3], sub_only(k[4]));
    k[6] = mix(k[4], rot_sub<0x04>(k[5]));
    k[7] = mix(k[5], sub_only(k[6]));
    k[8] = mix(k[6], rot_sub<0x08>(k[7]));
    k[9] = mix(k[7], sub_only(k[8]));
    k[10] = mix(k[8], rot_sub<0x10>(k[9]));
    k[11] = mix(k[9], sub_only(k[10]));
    k[12] = mix(k[10], rot_sub<0x20>(k[11]));
    k[13] = mix(k[11], sub_only(k[12]));
    k[14] = mix(k[12], rot_sub<0x40>(k[13]));
    rounds = 14;
  } else {
    return 0;
  }
  for (int i = 0; i <= rounds; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * i), k[i]);
  for (int i = 0; i <= rounds; ++i) k[i] = _mm_setzero_si128();
  return rounds;
}

}  // namespace rl
