# rl-bench-io: the io/ data paths on loopback (seal -> send -> receive -> open),
# its own executable because it needs io_uring, hwloc and two threads.
if(TARGET rl_io)
  add_executable(rl-bench-io ${PROJECT_SOURCE_DIR}/bench/io/loopback_bench.cc)
  target_link_libraries(rl-bench-io PRIVATE rl_io rl_bench_support)
  target_include_directories(rl-bench-io PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(rl-bench-io PRIVATE ${RL_WARNINGS})
endif()
