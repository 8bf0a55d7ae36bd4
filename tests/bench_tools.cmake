# Tests of tools/bench-merge and tools/bench-report on synthetic Google
# Benchmark JSON (tests/bench_tools_test.py). Run with Debian's python3, which
# has python3-matplotlib for the plot test; another python3 first on PATH may
# not.
find_program(RL_BENCH_TOOLS_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT RL_BENCH_TOOLS_PYTHON)
  find_program(RL_BENCH_TOOLS_PYTHON python3)
endif()
if(RL_BENCH_TOOLS_PYTHON)
  add_test(NAME bench_tools
    COMMAND ${RL_BENCH_TOOLS_PYTHON} ${PROJECT_SOURCE_DIR}/tests/bench_tools_test.py)
  set_tests_properties(bench_tools PROPERTIES
    ENVIRONMENT "RL_SOURCE_DIR=${PROJECT_SOURCE_DIR}" TIMEOUT 120)
else()
  message(WARNING "python3 not found: the bench_tools test is not run")
endif()
