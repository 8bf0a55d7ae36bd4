// What this CPU and OS can run, read once from CPUID and XGETBV.
#pragma once

namespace rl {

struct CpuFeatures {
  bool aesni = false, pclmul = false, avx = false, avx2 = false;
  bool vaes = false, vpclmulqdq = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512ifma = false;
  bool sha = false, bmi2 = false, adx = false;
  bool os_ymm = false, os_zmm = false;  // XCR0 says the OS saves that state
};

const CpuFeatures& cpu_features();

}  // namespace rl
