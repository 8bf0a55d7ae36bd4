# Peer: OpenSSL 3 libcrypto (Debian libssl-dev), in its own executable
# rl-bench-openssl: BoringSSL (android-libboringssl-dev) exports the same
# symbols, so the two never share a process. Included from bench/CMakeLists.txt.
#
# FindOpenSSL must resolve to the system OpenSSL 3, never to the android
# BoringSSL copy in /usr/lib/<triplet>/android; refuse it if it does.
find_package(OpenSSL 3 COMPONENTS Crypto)
set(_rl_openssl_why "")
if(NOT OpenSSL_FOUND)
  set(_rl_openssl_why "OpenSSL 3 libcrypto not found (apt-get install libssl-dev)")
elseif(OPENSSL_CRYPTO_LIBRARY MATCHES "/android/" OR OPENSSL_INCLUDE_DIR MATCHES "/android")
  set(_rl_openssl_why "FindOpenSSL resolved to BoringSSL (${OPENSSL_CRYPTO_LIBRARY}); set OPENSSL_ROOT_DIR to the OpenSSL 3 install")
endif()

if(_rl_openssl_why STREQUAL "")
  message(STATUS "rl-bench-openssl: OpenSSL ${OPENSSL_VERSION} (${OPENSSL_CRYPTO_LIBRARY})")
  add_executable(rl-bench-openssl peers/openssl_bench.cc)
  target_link_libraries(rl-bench-openssl PRIVATE OpenSSL::Crypto rl_bench_support)
  target_compile_options(rl-bench-openssl PRIVATE ${RL_WARNINGS})
  rl_bench_peer(openssl rl-bench-openssl MEASURED)
else()
  rl_bench_peer(openssl "" "${_rl_openssl_why}")
endif()
