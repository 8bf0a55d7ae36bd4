# Live TLS 1.2 / 1.3 interop with OpenSSL's libssl (issue 3). The peer is its
# own executable linked with OpenSSL only: OpenSSL and BoringSSL export the
# same symbols and must never share a process. tls_interop_test (created by
# tests/CMakeLists.txt like every *_test.cc) spawns it with fork/exec.
#
# Debian ships BoringSSL's libssl under .../android/ too; make sure the system
# OpenSSL is the one found.
find_package(OpenSSL 3 COMPONENTS SSL Crypto)
if(OPENSSL_FOUND AND TARGET tls_interop_test)
  if(OPENSSL_SSL_LIBRARY MATCHES "/android/" OR OPENSSL_INCLUDE_DIR MATCHES "/android")
    message(FATAL_ERROR "FindOpenSSL picked BoringSSL (${OPENSSL_SSL_LIBRARY}); install libssl-dev")
  endif()
  add_executable(openssl_tls_peer ${CMAKE_CURRENT_SOURCE_DIR}/peers/openssl_tls_peer.cc)
  target_link_libraries(openssl_tls_peer PRIVATE OpenSSL::SSL OpenSSL::Crypto)
  target_compile_options(openssl_tls_peer PRIVATE ${RL_WARNINGS})
  add_dependencies(tls_interop_test openssl_tls_peer)
  target_compile_definitions(tls_interop_test PRIVATE
    RL_OPENSSL_TLS_PEER="$<TARGET_FILE:openssl_tls_peer>")
  message(STATUS "TLS interop peer: OpenSSL ${OPENSSL_VERSION} (${OPENSSL_SSL_LIBRARY})")
elseif(TARGET tls_interop_test)
  message(WARNING "OpenSSL (libssl-dev) not found: tls_interop_test will skip")
endif()
