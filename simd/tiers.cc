// Placeholder registry: no SIMD tier is built yet (issues 9 and 10 add them).
#include "simd/tiers.h"

namespace rl {
const BackendOps* tier_avx2_ops() { return nullptr; }
const BackendOps* tier_avx512_ops() { return nullptr; }
}  // namespace rl
