# tests/c_api.cmake - C11 programs that use the C API exactly as C users do: they include only
# kmalloc/kmalloc.h and link the static library. Included from tests/CMakeLists.txt.
#
#   kmalloc_c_api_test         profile=linux-6 over a 32 MiB arena     (ctest: c_api.linux6, unit)
#   kmalloc_c_api_linux4_test  profile=linux-4-slab                     (ctest: c_api.linux4, unit)
#
# Each prints "N passed, M failed" and exits non-zero on a failure.
function(kmalloc_c_api_test target source test_name)
  add_executable(${target} ${CMAKE_CURRENT_SOURCE_DIR}/${source})
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/${source} PROPERTIES LANGUAGE C)
  set_target_properties(${target} PROPERTIES
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_EXTENSIONS OFF
    # The C linker, as a C project would: libkmalloc needs no C++ runtime.
    LINKER_LANGUAGE C)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -pedantic)
  target_link_libraries(${target} PRIVATE kmalloc::kmalloc)
  # The library's C++ code is instrumented for UBSan's C++-only checks (-fsanitize=function),
  # whose handlers clang links only for C++; ask for them explicitly.
  if(KMALLOC_SANITIZE AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
    target_link_options(${target} PRIVATE -fsanitize-link-c++-runtime)
  endif()
  add_test(NAME ${test_name} COMMAND ${target})
  # The exit code decides (a PASS_REGULAR_EXPRESSION would hide sanitizer exit codes).
  set_tests_properties(${test_name} PROPERTIES LABELS unit)
endfunction()

kmalloc_c_api_test(kmalloc_c_api_test c_api_test.c c_api.linux6)
kmalloc_c_api_test(kmalloc_c_api_linux4_test c_api_linux4_test.c c_api.linux4)
