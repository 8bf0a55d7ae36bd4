// The one dispatch seam between protocols and CPU kernels. A backend runs
// bursts of jobs; it is chosen once (best the CPU supports, or RL_BACKEND) and
// can be forced so that tests run every backend on the same inputs.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "simd/jobs.h"

namespace rl {

enum class Backend : uint8_t { portable, avx2, avx512 };
inline constexpr Backend kAllBackends[] = {Backend::portable, Backend::avx2, Backend::avx512};

struct BackendOps {
  const char* name;
  void (*seal)(std::span<AeadJob>);
  void (*open)(std::span<AeadJob>);
  void (*mask)(std::span<MaskJob>);
  // One job sealed, then (only when it sealed) mask job m over its
  // ciphertext: m's 16-byte sample lies in the job's data, as QUIC's and
  // DTLS 1.3's lone seals have it. A tier may compute the mask inside the
  // seal's own passes; the result is that of seal, then mask.
  void (*seal_masked)(AeadJob& job, MaskJob& m);
  // One job opened, and mask job m over its sample (in the job's data) as it
  // arrived, whatever the open's result: a lone open that starts before its
  // header protection is off (QUIC, DTLS 1.3) checks its guess with m. A tier
  // may compute the mask inside the open's own passes.
  void (*open_masked)(AeadJob& job, MaskJob& m);
};

// seal_masked and open_masked for kernels without a joint path.
template <void (*Seal)(std::span<AeadJob>), void (*Mask)(std::span<MaskJob>)>
void seal_then_mask(AeadJob& job, MaskJob& m) {
  Seal({&job, 1});
  if (job.status == Status::ok) Mask({&m, 1});
}
template <void (*Open)(std::span<AeadJob>), void (*Mask)(std::span<MaskJob>)>
void mask_then_open(AeadJob& job, MaskJob& m) {
  Mask({&m, 1});  // before the open decrypts the sample in place
  Open({&job, 1});
}

const char* to_string(Backend b);
std::optional<Backend> parse_backend(std::string_view name);  // "auto" -> nullopt

// Whether this build has the tier and this CPU/OS can run it.
bool backend_supported(Backend b);
// Best supported tier.
Backend best_backend();
// Forces a tier; refused with `unsupported` when backend_supported(b) is false.
// Not synchronised with a data path running on other threads: set it first.
Status set_backend(Backend b);
Backend active_backend();
// RL_BACKEND=portable|avx2|avx512|auto is read on first use; an unknown or
// unsupported value is reported on stderr and `auto` is used.
const BackendOps& backend_ops();
const BackendOps* backend_ops_for(Backend b);  // nullptr when not built in

// Entry points for the portable backend (BoringSSL); simd tiers add their own.
namespace portable {
void seal(std::span<AeadJob> jobs);
void open(std::span<AeadJob> jobs);
void mask(std::span<MaskJob> jobs);
}  // namespace portable

}  // namespace rl
