# rl-bench-libsrtp: libsrtp2 (Debian package libsrtp2-dev) as the SRTP peer,
# in its own executable as every peer library is (DESIGN.md §7b).
pkg_check_modules(SRTP2 IMPORTED_TARGET libsrtp2)
if(SRTP2_FOUND)
  add_executable(rl-bench-libsrtp ${CMAKE_CURRENT_LIST_DIR}/libsrtp_bench.cc)
  target_link_libraries(rl-bench-libsrtp PRIVATE PkgConfig::SRTP2 benchmark::benchmark_main)
  target_include_directories(rl-bench-libsrtp PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(rl-bench-libsrtp PRIVATE ${RL_WARNINGS})
else()
  message(WARNING "libsrtp2 not found (apt-get install libsrtp2-dev): rl-bench-libsrtp not built")
endif()
