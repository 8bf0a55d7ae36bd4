# The replay tool's input side and key parsers as a static library, used by rl-replay,
# its tests (tests/replay.cmake) and its benchmark (bench/peers/replay.cmake). Included from
# several places; defined once.
if(TARGET rl_replay)
  return()
endif()
set(RL_REPLAY_DIR ${PROJECT_SOURCE_DIR}/tools/replay)
file(GLOB RL_REPLAY_SOURCES CONFIGURE_DEPENDS ${RL_REPLAY_DIR}/*.cc)
list(REMOVE_ITEM RL_REPLAY_SOURCES ${RL_REPLAY_DIR}/main.cc)
add_library(rl_replay STATIC ${RL_REPLAY_SOURCES})
target_include_directories(rl_replay PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(rl_replay PUBLIC recordlayer_static PkgConfig::PCAP)
# GCC 12 reports -Wrestrict/-Wstringop-overread false positives inside libstdc++ for
# std::string concatenation (GCC bug 105329); the messages here build strings that way.
target_compile_options(rl_replay PRIVATE ${RL_WARNINGS}
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict -Wno-stringop-overread>)
