#include "simd/backend.h"

#include <cstdio>
#include <cstdlib>

#include "simd/cpu.h"
#include "simd/tiers.h"

namespace rl {
namespace {

// What a tier needs, for the message that refuses it.
const char* backend_requirements(Backend b) {
  switch (b) {
    case Backend::portable: return "nothing";
    case Backend::avx2: return "AVX2 + VAES + VPCLMULQDQ + AES-NI + PCLMUL + BMI2 with OS YMM state";
    case Backend::avx512:
      return "AVX-512F/BW/VL + VAES + VPCLMULQDQ + AES-NI + BMI2 with OS ZMM state";
  }
  return "?";
}

constexpr BackendOps kPortable{"portable", portable::seal, portable::open, portable::mask,
                               seal_then_mask<portable::seal, portable::mask>,
                               mask_then_open<portable::open, portable::mask>};

Backend initial_backend() {
  const char* env = std::getenv("RL_BACKEND");
  if (env == nullptr || *env == '\0') return best_backend();
  const std::string_view name(env);
  if (name == "auto") return best_backend();
  const std::optional<Backend> b = parse_backend(name);
  if (!b) {
    std::fprintf(stderr, "recordlayer: RL_BACKEND=%s is not one of portable|avx2|avx512|auto; using auto\n", env);
    return best_backend();
  }
  if (!backend_supported(*b)) {
    std::fprintf(stderr, "recordlayer: RL_BACKEND=%s refused: this CPU/OS/build lacks %s; using auto (%s)\n", env,
                 backend_requirements(*b), to_string(best_backend()));
    return best_backend();
  }
  return *b;
}

struct Active {
  Backend backend;
  const BackendOps* ops;
};

Active& active() {
  static Active a = [] {
    const Backend b = initial_backend();
    return Active{b, backend_ops_for(b)};
  }();
  return a;
}

}  // namespace

const char* to_string(Backend b) {
  switch (b) {
    case Backend::portable: return "portable";
    case Backend::avx2: return "avx2";
    case Backend::avx512: return "avx512";
  }
  return "?";
}

std::optional<Backend> parse_backend(std::string_view name) {
  for (Backend b : kAllBackends)
    if (name == to_string(b)) return b;
  return std::nullopt;
}

const BackendOps* backend_ops_for(Backend b) {
  switch (b) {
    case Backend::portable: return &kPortable;
    case Backend::avx2: return tier_avx2_ops();
    case Backend::avx512: return tier_avx512_ops();
  }
  return nullptr;
}

bool backend_supported(Backend b) {
  const CpuFeatures& f = cpu_features();
  switch (b) {
    case Backend::portable: return true;
    case Backend::avx2:
      return backend_ops_for(b) != nullptr && f.avx2 && f.vaes && f.vpclmulqdq && f.aesni && f.pclmul &&
             f.bmi2;
    case Backend::avx512:
      return backend_ops_for(b) != nullptr && f.avx512f && f.avx512bw && f.avx512vl && f.vaes &&
             f.vpclmulqdq && f.aesni && f.bmi2;  // BMI2: MULX in the ChaCha20-Poly1305 chains
  }
  return false;
}

Backend best_backend() {
  if (backend_supported(Backend::avx512)) return Backend::avx512;
  if (backend_supported(Backend::avx2)) return Backend::avx2;
  return Backend::portable;
}

Status set_backend(Backend b) {
  if (!backend_supported(b)) return Status::unsupported;
  active() = Active{b, backend_ops_for(b)};
  return Status::ok;
}

Backend active_backend() { return active().backend; }
const BackendOps& backend_ops() { return *active().ops; }

}  // namespace rl
