# DTLS 1.2 through rl-pipe, live against OpenSSL (tests/interop/dtls12_pipe_live.py):
# openssl s_server and s_client do the handshake on loopback, one of them is
# killed and rl-pipe --proto dtls12 --symmetric takes its place with the key
# block of its master secret (key log) and the ServerHello's random (-msg), so
# that every application record of the other one is opened by our engine and
# every record it reads was sealed by it. Three suites, both roles. Exits 77
# (skip) without an openssl binary.
if(RL_BUILD_TOOLS AND TARGET rl_io AND RL_PYTHON3)  # rl-pipe is built then (tools/CMakeLists.txt)
  add_test(NAME dtls12_pipe_live_interop
    COMMAND ${RL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/interop/dtls12_pipe_live.py
            --pipe $<TARGET_FILE:rl-pipe>)
  set_tests_properties(dtls12_pipe_live_interop PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()
