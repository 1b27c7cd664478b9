# tests/shim/shim_symbols.cmake - libkmalloc-malloc.so serves every call itself: it imports no
# malloc-family symbol (no forwarding to libc), and exports exactly the malloc family and the
# replaceable operator new/delete.
execute_process(COMMAND ${NM} -D --undefined-only ${SHIM} OUTPUT_VARIABLE undefined
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${SHIM}")
endif()
set(family malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc
           pvalloc malloc_usable_size __libc_malloc __libc_free __libc_calloc __libc_realloc
           __libc_memalign dlsym)
foreach(name ${family})
  if(undefined MATCHES "[ \t]U ${name}(@|\n)")
    message(FATAL_ERROR "the shim imports ${name}:\n${undefined}")
  endif()
endforeach()
execute_process(COMMAND ${NM} -D --defined-only ${SHIM} OUTPUT_VARIABLE defined)
string(REGEX MATCHALL "[TWV] [^\n]+" exported "${defined}")
list(TRANSFORM exported REPLACE "^[TWV] " "")
list(FILTER exported EXCLUDE REGEX "^_init$|^_fini$|@")
list(SORT exported)
set(expected ${family})
list(REMOVE_ITEM expected __libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign
     dlsym)
# operator new/delete: 8 new and 12 delete signatures (Itanium mangling: _Znwm, _Znam, _ZdlPv...)
list(FILTER exported EXCLUDE REGEX "^_Z(nw|na|dl|da)")
list(SORT expected)
if(NOT exported STREQUAL expected)
  message(FATAL_ERROR "the shim exports:\n${exported}\nexpected:\n${expected}")
endif()
string(REGEX MATCHALL "[TW] _Z(nw|na)[^\n]*" news "${defined}")
string(REGEX MATCHALL "[TW] _Z(dl|da)[^\n]*" deletes "${defined}")
list(LENGTH news n_new)
list(LENGTH deletes n_delete)
if(NOT n_new EQUAL 8 OR NOT n_delete EQUAL 12)
  message(FATAL_ERROR "expected 8 operator new and 12 operator delete, got ${n_new} and ${n_delete}")
endif()
message(STATUS "no malloc-family imports; exports: ${exported} + ${n_new} new + ${n_delete} delete")
