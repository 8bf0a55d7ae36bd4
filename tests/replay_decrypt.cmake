# rl-replay decryption (TLS 1.2/1.3, DTLS 1.2) against independent ground truth: the
# committed real captures of tests/data/replay (make_decrypt_captures.sh) and their
# tshark-derived *.truth.txt (extract_truth.py), compared frame by frame, plus mutation and
# bad-input checks (tests/replay_decrypt_test.py). Needs only python3 and the tool.
if(RL_BUILD_TOOLS)
  if(RL_PYTHON3)
    add_test(NAME replay_decrypt
      COMMAND ${RL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/replay_decrypt_test.py
              $<TARGET_FILE:rl-replay> ${CMAKE_CURRENT_SOURCE_DIR}/data/replay)
    set_tests_properties(replay_decrypt PROPERTIES TIMEOUT 120)
  else()
    message(WARNING "python3 not found: the replay_decrypt test is not run")
  endif()
endif()
