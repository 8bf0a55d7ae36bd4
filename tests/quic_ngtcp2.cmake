# Differential test of core/quic against ngtcp2's crypto helpers over GnuTLS
# (Debian: libngtcp2-crypto-gnutls-dev). GnuTLS and BoringSSL share no
# symbols, so the peer library is linked into the test itself.
pkg_check_modules(RL_NGTCP2 IMPORTED_TARGET libngtcp2_crypto_gnutls libngtcp2 gnutls)
if(RL_NGTCP2_FOUND)
  rl_add_test(quic_ngtcp2_diff SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/quic_ngtcp2_diff.cc
              LIBS PkgConfig::RL_NGTCP2)
else()
  message(STATUS "ngtcp2 crypto (GnuTLS) not found: quic_ngtcp2_diff not built")
endif()
