# rl-bench also measures the replay tool's input side (bench/replay_bench.cc): it needs the
# rl_replay library (tools/replay, libpcap). Not a peer library: no symbol clash with BoringSSL.
include(${PROJECT_SOURCE_DIR}/tools/replay/rl_replay.cmake)
target_link_libraries(rl-bench PRIVATE rl_replay)
