# rl-replay decryption of QUIC, ESP and SRTP/SRTCP captures from real peers (ngtcp2, Scapy,
# libsrtp2; tests/data/replay/make_*.sh), compared frame by frame with independent ground
# truth (tshark's decryption, or the plaintexts the generator protected). The script needs
# only the Python standard library.
if(RL_BUILD_TOOLS)
  if(RL_PYTHON3)
    add_test(NAME replay_decrypt_b
      COMMAND ${RL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/replay/decrypt_b_test.py
              $<TARGET_FILE:rl-replay> ${CMAKE_CURRENT_SOURCE_DIR}/data/replay)
  else()
    message(WARNING "python3 not found: the replay_decrypt_b test is not run")
  endif()
endif()
