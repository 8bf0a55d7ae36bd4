# rl-pipe end to end (tests/pipe_test.cc runs two rl-pipe processes): the test
# learns where the tool is; without tools (or without io/) it skips.
if(TARGET pipe_test AND RL_BUILD_TOOLS AND TARGET rl_io)
  target_compile_definitions(pipe_test PRIVATE RL_PIPE_EXE="$<TARGET_FILE:rl-pipe>")
  target_link_libraries(pipe_test PRIVATE rl_io)
  add_dependencies(pipe_test rl-pipe)
endif()
