# Tests of tools/bench-merge and tools/bench-report on synthetic Google
# Benchmark JSON (tests/bench_tools_test.py). Run with Debian's python3, which
# has python3-matplotlib for the plot test; another python3 first on PATH may
# not.
if(RL_PYTHON3)
  add_test(NAME bench_tools
    COMMAND ${RL_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/bench_tools_test.py)
  set_tests_properties(bench_tools PROPERTIES
    ENVIRONMENT "RL_SOURCE_DIR=${PROJECT_SOURCE_DIR}" TIMEOUT 120)
else()
  message(WARNING "python3 not found: the bench_tools test is not run")
endif()
