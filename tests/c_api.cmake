# tests/c_api.cmake - C11 programs that use the C API exactly as C users do: they include only
# kmalloc/kmalloc.h and link the static library. Included from tests/CMakeLists.txt.
#
#   kmalloc_c_api_test         profile=linux-6 over a 32 MiB arena     (ctest: c_api.linux6, unit)
#   kmalloc_c_api_linux4_test  profile=linux-4-slab                     (ctest: c_api.linux4, unit)
#   kmalloc_c_api_report_test  misuse with a recording handler, kmalloc_validate, kmalloc_stats
#                                                                       (ctest: c_api.report, unit)
#   kmalloc_c_api_region_test  kmalloc_init_region over a static buffer; mmap/munmap wrapped to
#                              show the library never calls them        (ctest: c_api.region, unit)
#   kmalloc_c_api_platform_test kmalloc_set_platform: the test's spinlock and cpu ids, two "cpus"
#                              freeing each other's objects             (ctest: c_api.platform)
#
# Each prints "N passed, M failed" and exits non-zero on a failure.
#
#   kmalloc_c_api_exit_test    C++: kfree/kmalloc from a global destructor and an atexit
#                              handler after the library's own destructors (c_api.exit_kfree, unit)
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
kmalloc_c_api_test(kmalloc_c_api_report_test c_api_report_test.c c_api.report)
kmalloc_c_api_test(kmalloc_c_api_region_test c_api_region_test.c c_api.region)
kmalloc_c_api_test(kmalloc_c_api_platform_test c_api_platform_test.c c_api.platform)
find_package(Threads REQUIRED)
target_link_libraries(kmalloc_c_api_platform_test PRIVATE Threads::Threads)
# Every mmap/munmap call of the objects linked in (the static library) goes to the test's
# counting __wrap_mmap/__wrap_munmap.
target_link_options(kmalloc_c_api_region_test PRIVATE -Wl,--wrap=mmap -Wl,--wrap=munmap)

# The default heap outlives every static destructor: exit 0 and no report.
add_executable(kmalloc_c_api_exit_test ${CMAKE_CURRENT_SOURCE_DIR}/capi_exit_program.cpp)
target_link_libraries(kmalloc_c_api_exit_test PRIVATE kmalloc::kmalloc kmalloc_warnings)
add_test(NAME c_api.exit_kfree COMMAND kmalloc_c_api_exit_test)
set_tests_properties(c_api.exit_kfree PROPERTIES LABELS unit FAIL_REGULAR_EXPRESSION "kmalloc: |CHECK failed")
