// Filling AEAD jobs on the record-layer hot path (TLS, DTLS 1.2, DTLS 1.3, QUIC).
//
// The kernels read a job's 12-byte nonce and a short AAD with one wide
// (masked) load. A load that spans several narrower stores still sitting in
// the store buffer cannot be forwarded and waits until they reach the cache
// (a store-forwarding stall, ~20 cycles). So the nonce, and an AAD built on
// the stack, are composed in registers and written with ONE 16-byte store
// that covers everything the kernel reads: the nonce store also covers the
// 4 padding bytes after AeadJob::nonce (checked below), an AAD slot is 16
// bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/keys.h"
#include "simd/jobs.h"

namespace rl::recjob {

static_assert(offsetof(AeadJob, aad) >= offsetof(AeadJob, nonce) + 16,
              "a 16-byte nonce store must stay inside AeadJob's nonce and padding");

// Two little-endian 64-bit words = 16 bytes in memory order.
struct Block16 {
  uint64_t lo, hi;
};

inline void store16(void* dst, Block16 b) {
#if defined(__SSE2__)
  _mm_storeu_si128(static_cast<__m128i*>(dst),
                   _mm_set_epi64x(static_cast<long long>(b.hi), static_cast<long long>(b.lo)));
#else
  std::memcpy(dst, &b, 16);
#endif
}

inline uint64_t le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// A 12-byte IV held as the two words of a Block16 (bytes 12..15 zero), read
// once per burst.
inline Block16 load_iv(const uint8_t iv[kNonceLen]) { return {le64(iv), le32(iv + 8)}; }

// iv XOR the left-zero-padded big-endian 64-bit `seq` (RFC 8446 §5.3,
// RFC 7905 §2, RFC 9147 §4): nonce bytes 4..11 are XORed with BE64(seq).
inline Block16 xor_seq(Block16 iv, uint64_t seq) {
  const uint64_t be = __builtin_bswap64(seq);  // memory order of BE64(seq)
  return {iv.lo ^ (be << 32), iv.hi ^ (be >> 32)};
}

// salt(4) ‖ explicit(8) with the explicit part given in memory order
// (RFC 5288 §3).
inline Block16 salt_explicit(uint32_t salt_le, const uint8_t* explicit_nonce) {
  return {uint64_t{salt_le} | uint64_t{le32(explicit_nonce)} << 32, le32(explicit_nonce + 4)};
}
inline Block16 salt_seq(uint32_t salt_le, uint64_t be_seq_number) {
  const uint64_t be = __builtin_bswap64(be_seq_number);
  return {uint64_t{salt_le} | be << 32, be >> 32};
}

// The same nonces composed in an XMM register instead of two general ones,
// for loops that are short of general registers (the QUIC 1-RTT and DTLS 1.2
// lean loops: ~8 fewer instructions per packet). Without SSE2, Block16.
#if defined(__SSE2__)
using Nonce128 = __m128i;
inline Nonce128 load_iv128(const uint8_t iv[kNonceLen]) {
  const Block16 b = load_iv(iv);
  return _mm_set_epi64x(static_cast<long long>(b.hi), static_cast<long long>(b.lo));
}
inline Nonce128 xor_seq(Nonce128 iv, uint64_t seq) {
  // BE64(seq) in bytes 0..7, moved to bytes 4..11.
  return _mm_xor_si128(iv, _mm_slli_si128(_mm_cvtsi64_si128(static_cast<long long>(__builtin_bswap64(seq))), 4));
}
// The salt alone (bytes 4..15 zero), then salt ‖ explicit with the explicit
// part's 8 bytes given as they sit in memory (a little-endian load).
inline Nonce128 salt128(const uint8_t* salt) { return _mm_cvtsi32_si128(static_cast<int>(le32(salt))); }
inline Nonce128 with_explicit(Nonce128 salt, uint64_t mem) {
  return _mm_or_si128(_mm_slli_si128(_mm_cvtsi64_si128(static_cast<long long>(mem)), 4), salt);
}
inline void store16(void* dst, Nonce128 v) { _mm_storeu_si128(static_cast<__m128i*>(dst), v); }
#else
using Nonce128 = Block16;
inline Nonce128 load_iv128(const uint8_t iv[kNonceLen]) { return load_iv(iv); }
inline Nonce128 salt128(const uint8_t* salt) { return {le32(salt), 0}; }
inline Nonce128 with_explicit(Nonce128 salt, uint64_t mem) { return {salt.lo | mem << 32, mem >> 32}; }
#endif

// The 13-byte TLS 1.2 / DTLS 1.2 AAD (RFC 5246 §6.2.3.3, RFC 6347 §4.1.2.1):
// seq64 ‖ type ‖ version ‖ length, seq64 being epoch ‖ seq48 for DTLS.
inline Block16 aad13(uint64_t seq64, uint8_t type, uint16_t version, uint16_t len) {
  return {__builtin_bswap64(seq64),
          uint64_t{type} | uint64_t{__builtin_bswap16(version)} << 8 |
              uint64_t{__builtin_bswap16(len)} << 24};
}

// Constructs job `j` in place (raw storage) with every field given: nothing
// is zeroed first and then overwritten, and the nonce is one store.
// `nonce`: a Block16 (also as {lo, hi}) or a Nonce128.
template <class Nonce = Block16>
inline AeadJob& make(AeadJob* slot, const AeadKey* key, Nonce nonce,
                     std::span<const uint8_t> aad, std::span<uint8_t> data, uint8_t* tag) {
  AeadJob* j = ::new (static_cast<void*>(slot)) AeadJob;
  store16(j->nonce, nonce);
  j->key = key;
  j->aad = aad;
  j->data = data;
  j->tag = tag;
  j->status = Status::ok;
  return *j;
}

// Whether `n` more sealed records of at most `max_bytes` in total stay below
// every record and byte limit in `l` (soft and hard), counted so far in `c`.
// Then admitting them with one admit_seal(n, bytes) gives exactly what
// admitting them one at a time would (no limit trips part way, no event falls
// due), so a burst is counted once.
inline bool far_from_limits(const Limits& l, const KeyCounters& c, uint64_t n, uint64_t max_bytes) {
  const uint64_t rec_cap = l.soft_records < l.hard_records ? l.soft_records : l.hard_records;
  const uint64_t byte_cap = l.soft_bytes < l.hard_bytes ? l.soft_bytes : l.hard_bytes;
  return c.sealed < rec_cap && n < rec_cap - c.sealed && c.bytes_sealed < byte_cap &&
         max_bytes < byte_cap - c.bytes_sealed;
}
inline bool far_from_limits(const KeyEpoch& k, uint64_t n, uint64_t max_bytes) {
  return far_from_limits(k.limits(), k.counters(), n, max_bytes);
}

// Fast mode (far_from_limits) asks the key once per burst whether it is live
// and not too old, at the first record that gets that far; every later record
// of the burst gets the same answer.
struct BurstAdmit {
  Status answer = Status::ok;
  bool asked = false;
  Status operator()(KeyEpoch& k, uint64_t now) {
    if (!asked) {
      answer = k.admit_seal(0, 0, now);
      asked = true;
    }
    return answer;
  }
};

}  // namespace rl::recjob
