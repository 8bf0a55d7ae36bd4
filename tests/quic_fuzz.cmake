# The fuzz targets link the library uninstrumented, so libFuzzer would see
# no coverage inside core/quic.cc. Compile it into quic_open_fuzz itself (with
# the target's -fsanitize=fuzzer); the archive's copy is then never pulled in.
# Deferred: tests/CMakeLists.txt creates the fuzz targets after including us.
function(rl_quic_fuzz_instrument)
  if(TARGET quic_open_fuzz)
    target_sources(quic_open_fuzz PRIVATE ${PROJECT_SOURCE_DIR}/core/quic.cc)
    # Out-of-bounds reads in the parser must crash, not pass silently.
    target_compile_options(quic_open_fuzz PRIVATE -fsanitize=address,undefined)
    target_link_options(quic_open_fuzz PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
if(RL_FUZZ)
  cmake_language(DEFER CALL rl_quic_fuzz_instrument)
endif()
