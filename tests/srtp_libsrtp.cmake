# SRTP interop with Debian's libsrtp2 (package libsrtp2-dev). libsrtp2 is built
# on NSS there, so it can share the test executable with BoringSSL: no symbol
# in common (nm -D of libsrtp2, libnss3, libnspr4 vs BoringSSL's libcrypto).
pkg_check_modules(SRTP2 IMPORTED_TARGET libsrtp2)
if(TARGET srtp_libsrtp_interop_test)
  if(SRTP2_FOUND)
    target_link_libraries(srtp_libsrtp_interop_test PRIVATE PkgConfig::SRTP2)
  else()
    message(WARNING "libsrtp2 not found (apt-get install libsrtp2-dev): SRTP interop test skipped")
    set_target_properties(srtp_libsrtp_interop_test PROPERTIES EXCLUDE_FROM_ALL ON)
  endif()
endif()
