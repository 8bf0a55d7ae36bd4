# The SRTP suites once more on each kernel tier: gtest_discover_tests runs them
# with RL_BACKEND unset (auto = the best tier this CPU has); these entries pin
# the portable (BoringSSL) kernels, the AVX2 ones and the AVX-512 ones (VAES +
# SHA-NI, see core/srtp_kernels.cc), so every path runs in CI on the same
# inputs. On a CPU without a tier, RL_BACKEND=<tier> falls back to auto (with
# a note on stderr).
foreach(t srtp_test srtp_libsrtp_interop_test srtp_simd_diff_test)
  if(TARGET ${t})
    get_target_property(excluded ${t} EXCLUDE_FROM_ALL)
    if(excluded)
      continue()
    endif()
    foreach(tier portable avx2 avx512)
      add_test(NAME ${t}_${tier} COMMAND ${t})
      set_tests_properties(${t}_${tier} PROPERTIES TIMEOUT 300
        ENVIRONMENT "RL_BACKEND=${tier};RL_SHARED_DIR=${PROJECT_SOURCE_DIR}/../shared")
    endforeach()
  endif()
endforeach()
