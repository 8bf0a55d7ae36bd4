#include "simd/cpu.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace rl {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  f.pclmul = c & (1u << 1);
  f.aesni = c & (1u << 25);
  const bool osxsave = c & (1u << 27);
  f.avx = c & (1u << 28);
  if (osxsave) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    f.os_ymm = (lo & 0x6) == 0x6;            // SSE + AVX state
    f.os_zmm = f.os_ymm && (lo & 0xe0) == 0xe0;  // opmask + ZMM_Hi256 + Hi16_ZMM
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = b & (1u << 5);
    f.bmi2 = b & (1u << 8);
    f.avx512f = b & (1u << 16);
    f.adx = b & (1u << 19);
    f.avx512ifma = b & (1u << 21);
    f.sha = b & (1u << 29);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.vaes = c & (1u << 9);
    f.vpclmulqdq = c & (1u << 10);
  }
  if (!f.os_ymm) f.avx = f.avx2 = f.vaes = f.vpclmulqdq = false;
  if (!f.os_zmm) f.avx512f = f.avx512bw = f.avx512vl = f.avx512ifma = false;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace rl
