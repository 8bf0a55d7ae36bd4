# The OpenVPN data channel, live against openvpn 2.6 (Debian's openvpn, two
# processes in network namespaces): tests/interop/openvpn_live.py lets the
# real client and server do the TLS handshake, takes the client's keys from
# it (tests/data/openvpn/ekm_shim.c), then puts rl-pipe --proto openvpn
# --symmetric in the client's place, so that every data packet the server
# gets is sealed by our engine and every one it sends is opened by it. Needs
# root, /dev/net/tun, openvpn, ip, gcc and openssl; the script exits 77
# (skip) when the machine cannot run it.
if(RL_BUILD_TOOLS AND TARGET rl_io AND RL_PYTHON3)  # rl-pipe is built then (tools/CMakeLists.txt)
  add_test(NAME openvpn_live_interop
    COMMAND ${RL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/interop/openvpn_live.py
            --pipe $<TARGET_FILE:rl-pipe>)
  set_tests_properties(openvpn_live_interop PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 RUN_SERIAL TRUE)
endif()
