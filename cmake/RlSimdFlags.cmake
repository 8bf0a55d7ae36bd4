# Per-file ISA flags for simd/: a file (or folder) named after its tier gets
# that tier's flags; everything else is built for the baseline x86-64 and
# reaches the tiers only through run-time dispatch (simd/backend.cc).
function(rl_simd_flags sources)
  if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    return()
  endif()
  foreach(src ${sources})
    if(src MATCHES "avx512")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS
        "-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512ifma;-mvaes;-mvpclmulqdq;-maes;-mpclmul;-mavx2;-mbmi2;-msha")
    elseif(src MATCHES "avx2")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS
        "-mavx2;-mvaes;-mvpclmulqdq;-maes;-mpclmul;-mbmi2;-msha")
    endif()
  endforeach()
endfunction()
