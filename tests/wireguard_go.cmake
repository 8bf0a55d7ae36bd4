# WireGuard transport data, live against wireguard-go (Debian's userspace
# implementation, on a TUN device in a network namespace of its own):
# tests/interop/wireguard_go.py does the Noise IK handshakes in Python
# (tests/data/wireguard/make_capture.py) and the UDP, rl-wg-tool seals and
# opens every transport message. Needs root, /dev/net/tun, wireguard-go, wg
# and ip; the script exits 77 (skip) when the machine cannot run it.
add_executable(rl-wg-tool ${CMAKE_CURRENT_SOURCE_DIR}/interop/wg_tool.cc)
target_link_libraries(rl-wg-tool PRIVATE recordlayer_static)
target_compile_options(rl-wg-tool PRIVATE ${RL_WARNINGS})
if(RL_PYTHON3)
  add_test(NAME wireguard_go_interop
    COMMAND ${RL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/interop/wireguard_go.py
            --tool $<TARGET_FILE:rl-wg-tool>)
  # The script keeps its own deadline (75 s) below this one, so that it always
  # gets to stop wireguard-go and delete its namespace.
  set_tests_properties(wireguard_go_interop PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 110 RUN_SERIAL TRUE)
endif()
