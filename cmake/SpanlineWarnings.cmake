# Warnings for our own targets only; third-party headers are included as SYSTEM.
function(spanline_enable_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wno-sign-conversion
    # GCC 12 warns on designated initializers that leave members at their defaults,
    # which is exactly how our option structs are meant to be used.
    -Wno-missing-field-initializers)
  if(SPANLINE_SANITIZE)
    string(REPLACE ";" "," sanitizers "${SPANLINE_SANITIZE}")
    # No recovery: a UBSan finding aborts like an ASan one, so a test (or a fuzz input)
    # that hits undefined behaviour fails instead of printing and passing.
    target_compile_options(${target} PRIVATE -fsanitize=${sanitizers} -fno-sanitize-recover=all
                                             -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${sanitizers})
    # GCC 12's flow analysis is confused by ASan's instrumentation: it warns that
    # libstdc++'s <regex> (std::function inside _NFA's states) may use uninitialized
    # members, in every test file that includes it. The normal build keeps the warning.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND "address" IN_LIST SPANLINE_SANITIZE)
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
  endif()
  if(SPANLINE_FUZZ)
    # Coverage feedback for libFuzzer in our code; the fuzz targets link the fuzzer itself.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()
