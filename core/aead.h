// The AEAD job layer that every protocol uses (DESIGN.md §3): build jobs for a
// burst, run them on the active backend, read each job's Status.
#pragma once
#include <cstdint>
#include <cstring>
#include <span>

#include "core/bytes.h"
#include "simd/backend.h"

namespace rl {

inline void seal(std::span<AeadJob> jobs) { backend_ops().seal(jobs); }
inline void open(std::span<AeadJob> jobs) { backend_ops().open(jobs); }
inline void mask(std::span<MaskJob> jobs) { backend_ops().mask(jobs); }
// One job sealed, then (when it sealed) m over its ciphertext; m.sample lies
// in job.data. Same result as seal, then mask; a tier may compute the mask in
// the seal's own passes (BackendOps::seal_masked).
inline void seal_masked(AeadJob& job, MaskJob& m) { backend_ops().seal_masked(job, m); }
// One job opened, and m over its sample (in job.data) as it arrived, whatever
// the open's result. Same result as mask, then open (BackendOps::open_masked).
inline void open_masked(AeadJob& job, MaskJob& m) { backend_ops().open_masked(job, m); }

// nonce = iv XOR the left-zero-padded 64-bit sequence number: TLS 1.3 (RFC 8446
// §5.3), TLS 1.2 ChaCha20 (RFC 7905 §2), QUIC (RFC 9001 §5.3), DTLS 1.3.
inline void xor_nonce(const uint8_t iv[kNonceLen], uint64_t seq, uint8_t out[kNonceLen]) {
  std::memcpy(out, iv, 4);
  store_be64(out + 4, load_be64(iv + 4) ^ seq);
}

}  // namespace rl
