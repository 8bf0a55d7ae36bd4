# Replay tool tests: every tests/replay_*_test.cc (created by tests/CMakeLists.txt) also
# links the rl_replay library (tools/replay), which is defined here when tools are off.
include(${PROJECT_SOURCE_DIR}/tools/replay/rl_replay.cmake)
file(GLOB RL_REPLAY_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/replay_*_test.cc)
foreach(src ${RL_REPLAY_TESTS})
  get_filename_component(name ${src} NAME_WE)
  target_link_libraries(${name} PRIVATE rl_replay)
  target_compile_options(${name} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict -Wno-stringop-overread>)
endforeach()

# The command line itself, when the tool is built.
if(RL_BUILD_TOOLS)
  add_test(NAME replay_cli
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/replay/cli_test.sh $<TARGET_FILE:rl-replay>
            ${CMAKE_CURRENT_SOURCE_DIR}/data/replay)
endif()

# libFuzzer targets for the replay parsers (tests/replay/*_fuzz.cc), built with clang when
# RL_FUZZ=ON; they land in bin/ beside the others, so tools/run smoke-runs them too.
if(RL_FUZZ)
  file(GLOB RL_REPLAY_FUZZERS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/replay/*_fuzz.cc)
  foreach(src ${RL_REPLAY_FUZZERS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE rl_replay)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer ${RL_WARNINGS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    list(APPEND RL_REPLAY_FUZZ_TARGETS ${name})  # tests/CMakeLists.txt: fuzz_targets
  endforeach()
endif()
