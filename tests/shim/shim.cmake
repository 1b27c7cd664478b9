# tests/shim/shim.cmake - the malloc shim's tests (built when the shim is: not in sanitizer,
# coverage or fuzz builds).
#   malloc_shim_test        GoogleTest, linked to libkmalloc-malloc.so     (ctest label: shim)
#   malloc_shim_symbols     the shim imports no malloc-family symbol and exports only them
#   malloc_shim_preload     C and C++ programs under LD_PRELOAD, calls before main, stats file
if(NOT TARGET kmalloc_malloc)
  return()
endif()
find_package(Threads REQUIRED)
add_executable(malloc_shim_test ${CMAKE_CURRENT_LIST_DIR}/malloc_shim_test.cpp)
target_link_libraries(malloc_shim_test PRIVATE kmalloc_malloc GTest::gtest_main Threads::Threads)
# The test asks for impossible sizes and frees a static array on purpose.
target_compile_options(malloc_shim_test PRIVATE
  $<$<CXX_COMPILER_ID:GNU>:-Wno-alloc-size-larger-than -Wno-free-nonheap-object>)
gtest_discover_tests(malloc_shim_test
  DISCOVERY_TIMEOUT 60
  PROPERTIES LABELS shim
  ENVIRONMENT "KMALLOC_OPTIONS=arena=4M,stats=${CMAKE_CURRENT_BINARY_DIR}/malloc-shim-test-%p.txt")
add_executable(malloc_shim_preload_program ${CMAKE_CURRENT_LIST_DIR}/preload_program.cpp)
target_link_libraries(malloc_shim_preload_program PRIVATE Threads::Threads)
add_test(NAME malloc_shim_symbols
  COMMAND ${CMAKE_COMMAND} -DSHIM=$<TARGET_FILE:kmalloc_malloc> -DNM=${CMAKE_NM}
          -P ${CMAKE_CURRENT_LIST_DIR}/shim_symbols.cmake)
add_test(NAME malloc_shim_preload
  COMMAND ${CMAKE_COMMAND} -DSHIM=$<TARGET_FILE:kmalloc_malloc>
          -DPROGRAM=$<TARGET_FILE:malloc_shim_preload_program> -DWORK=${CMAKE_CURRENT_BINARY_DIR}
          -P ${CMAKE_CURRENT_LIST_DIR}/shim_preload.cmake)
set_tests_properties(malloc_shim_symbols malloc_shim_preload PROPERTIES LABELS shim)
