# ESP interop with Scapy's IPsec (python3-scapy + python3-cryptography, the
# Debian packages that belong to /usr/bin/python3): rl-esp-tool is our side,
# tests/interop/esp_scapy.py drives both and compares bytes. The script exits
# 77 (skip) only when scapy cannot be imported.
add_executable(rl-esp-tool ${CMAKE_CURRENT_SOURCE_DIR}/interop/esp_tool.cc)
target_link_libraries(rl-esp-tool PRIVATE recordlayer_static)
target_compile_options(rl-esp-tool PRIVATE ${RL_WARNINGS})
if(RL_PYTHON3)
  add_test(NAME esp_scapy_interop
    COMMAND ${RL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/interop/esp_scapy.py
            --tool $<TARGET_FILE:rl-esp-tool>)
  set_tests_properties(esp_scapy_interop PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
