// The SIMD tiers this build has. Each returns nullptr until its kernels exist;
// backend.cc checks the CPU before handing one out.
#pragma once
#include "simd/backend.h"

namespace rl {
const BackendOps* tier_avx2_ops();
const BackendOps* tier_avx512_ops();
}  // namespace rl
