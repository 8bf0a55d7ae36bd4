# BoringSSL as Debian ships it (package android-libboringssl-dev): headers in
# /usr/include/android, libcrypto.so in /usr/lib/<triplet>/android. Defines the
# imported target BoringSSL::crypto, linked with an rpath to that directory.
find_path(BoringSSL_INCLUDE_DIR openssl/is_boringssl.h
  PATHS /usr/include/android NO_DEFAULT_PATH)
find_library(BoringSSL_CRYPTO_LIBRARY NAMES crypto
  PATHS /usr/lib/x86_64-linux-gnu/android /usr/lib/aarch64-linux-gnu/android
  NO_DEFAULT_PATH)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BoringSSL
  REQUIRED_VARS BoringSSL_CRYPTO_LIBRARY BoringSSL_INCLUDE_DIR
  FAIL_MESSAGE "BoringSSL not found: install the Debian package android-libboringssl-dev (apt-get install android-libboringssl-dev)")
if(BoringSSL_FOUND AND NOT TARGET BoringSSL::crypto)
  add_library(BoringSSL::crypto SHARED IMPORTED)
  set_target_properties(BoringSSL::crypto PROPERTIES
    IMPORTED_LOCATION ${BoringSSL_CRYPTO_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${BoringSSL_INCLUDE_DIR})
  get_filename_component(_rl_bssl_dir ${BoringSSL_CRYPTO_LIBRARY} DIRECTORY)
  set_property(TARGET BoringSSL::crypto PROPERTY INTERFACE_LINK_OPTIONS "LINKER:-rpath,${_rl_bssl_dir}")
endif()
