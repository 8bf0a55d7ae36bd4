# Live DTLS 1.2 interop with OpenSSL's libssl: the peer is its own executable
# (OpenSSL and BoringSSL export the same symbols and must never share one
# binary); tests/dtls_interop_test.cc fork/execs it and talks over a
# socketpair. Without OpenSSL the test skips with a message.
find_package(OpenSSL 3 COMPONENTS SSL Crypto)
if(OpenSSL_FOUND AND NOT OPENSSL_SSL_LIBRARY MATCHES "/android/"
   AND NOT OPENSSL_CRYPTO_LIBRARY MATCHES "/android/"
   AND NOT OPENSSL_INCLUDE_DIR MATCHES "/android")
  add_executable(openssl_dtls_peer ${CMAKE_CURRENT_LIST_DIR}/peers/openssl_dtls_peer.cc)
  # Only OpenSSL: no rl_* target, no BoringSSL headers or library.
  target_link_libraries(openssl_dtls_peer PRIVATE OpenSSL::SSL OpenSSL::Crypto)
  target_compile_options(openssl_dtls_peer PRIVATE ${RL_WARNINGS})
  if(TARGET dtls_interop_test)
    add_dependencies(dtls_interop_test openssl_dtls_peer)
    target_compile_definitions(dtls_interop_test PRIVATE
      RL_OPENSSL_DTLS_PEER="$<TARGET_FILE:openssl_dtls_peer>")
  endif()
  message(STATUS "DTLS interop peer: ${OPENSSL_SSL_LIBRARY} ${OPENSSL_CRYPTO_LIBRARY}")
else()
  message(STATUS "DTLS interop peer: OpenSSL 3 (libssl-dev) not found outside the BoringSSL dir; dtls_interop_test will skip")
endif()
