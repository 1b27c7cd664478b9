# tests/exported_symbols.cmake - libkmalloc.so exports exactly the public API.
#
# The list of what it may export is tests/exported_symbols.txt: the demangled names of the
# functions declared in allocator/include/kmalloc/*.h (sorted, one per line). This test lists the
# dynamic symbols libkmalloc.so defines (`nm -D --defined-only`, demangled with c++filt) and fails
# on any symbol that is extra or missing, printing both sets.
#
# After adding, removing or changing a public function, regenerate the list from a build and
# review the diff (every new line must be declared in a public header):
#
#   tools/update_exported_symbols.sh build/dev
#
# This file has two roles:
#   include()d from tests/CMakeLists.txt: registers the ctest test exported_symbols (label unit).
#   cmake -DLIBRARY=<libkmalloc.so> -DLIST=<exported_symbols.txt> [-DNM=nm] [-DUPDATE=ON] -P <this>
#     checks the library against the list, or (UPDATE=ON) rewrites the list from the library.
#
# Sanitizer and coverage instrumentation adds symbols of its own to a library (__asan_*,
# __ubsan_*, __sanitizer_*, __llvm_profile_*, the profile runtime's __start_/__stop___llvm_prf_*
# section bounds and lprof*, and for UBSan's -fsanitize=function weak
# "typeinfo for <function type>"); they are left out before comparing.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  # ---- registration (tests/CMakeLists.txt)
  add_test(NAME exported_symbols
    COMMAND ${CMAKE_COMMAND} -DLIBRARY=$<TARGET_FILE:kmalloc_shared>
            -DLIST=${CMAKE_CURRENT_LIST_DIR}/exported_symbols.txt -DNM=${CMAKE_NM}
            -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(exported_symbols PROPERTIES LABELS unit)
  return()
endif()

# ---- the check (cmake -P)
if(NOT LIBRARY OR NOT LIST)
  message(FATAL_ERROR "usage: cmake -DLIBRARY=<libkmalloc.so> -DLIST=<list> [-DUPDATE=ON] -P ${CMAKE_SCRIPT_MODE_FILE}")
endif()
if(NOT EXISTS "${LIBRARY}")
  message(FATAL_ERROR "exported_symbols: no library at ${LIBRARY}")
endif()
if(NOT NM)
  find_program(NM NAMES nm llvm-nm-14 llvm-nm REQUIRED)
endif()
find_program(CXXFILT NAMES c++filt llvm-cxxfilt-14 llvm-cxxfilt REQUIRED)

# -P (POSIX format): "name type value [size]"; c++filt demangles the names in place, so a line
# is "<demangled name, maybe with spaces> <type> <value> [<size>]".
execute_process(COMMAND ${NM} -D --defined-only -P ${LIBRARY}
  COMMAND ${CXXFILT}
  OUTPUT_VARIABLE nm_out RESULTS_VARIABLE rcs ERROR_VARIABLE nm_err)
if(NOT rcs STREQUAL "0;0")
  message(FATAL_ERROR "exported_symbols: ${NM} -D | ${CXXFILT} failed on ${LIBRARY} (${rcs}): ${nm_err}")
endif()
string(REPLACE ";" "\\;" nm_out "${nm_out}")
string(REPLACE "\n" ";" nm_lines "${nm_out}")
set(actual "")
foreach(line IN LISTS nm_lines)
  if(line MATCHES "^(.+) ([A-Za-z]) [0-9a-fA-F]+( [0-9a-fA-F]+)?$")
    set(name "${CMAKE_MATCH_1}")
    set(type "${CMAKE_MATCH_2}")
    if(name MATCHES "^(__asan|__odr_asan|___asan|__ubsan|__sanitizer|__sancov|__lsan|__tsan|__llvm_profile|__llvm_prf|__start___llvm_prf|__stop___llvm_prf|lprof)")
      continue()
    endif()
    # A local symbol (lowercase type) in the dynamic table is no export: an unoptimised build
    # keeps one there for the TLS relocation of the hidden thread-slot cache.
    if(type MATCHES "^[abdgnrst]$")
      continue()
    endif()
    # UBSan's -fsanitize=function emits weak typeinfo of function types, -fno-rtti or not.
    if(type MATCHES "^[VvWw]$" AND name MATCHES "^typeinfo (name )?for .*\\)$")
      continue()
    endif()
    list(APPEND actual "${name}")
  endif()
endforeach()
list(FILTER actual EXCLUDE REGEX "^$")
list(REMOVE_DUPLICATES actual)
list(SORT actual)

if(UPDATE)
  list(JOIN actual "\n" text)
  file(WRITE "${LIST}" "${text}\n")
  list(LENGTH actual n)
  message(STATUS "exported_symbols: wrote ${n} symbols to ${LIST}")
  return()
endif()

file(STRINGS "${LIST}" expected ENCODING UTF-8)
list(FILTER expected EXCLUDE REGEX "^$")
set(extra ${actual})
set(missing ${expected})
if(expected)
  list(REMOVE_ITEM extra ${expected})
endif()
if(actual)
  list(REMOVE_ITEM missing ${actual})
endif()
list(LENGTH actual n_actual)
if(extra OR missing)
  set(msg "exported_symbols: ${LIBRARY} does not export exactly ${LIST}\n")
  foreach(s IN LISTS extra)
    string(APPEND msg "  + ${s}    (exported, not in the list: hide it or add it to a public header)\n")
  endforeach()
  foreach(s IN LISTS missing)
    string(APPEND msg "  - ${s}    (in the list, not exported)\n")
  endforeach()
  string(APPEND msg "If the public API changed on purpose: tools/update_exported_symbols.sh <build dir>\n")
  message(FATAL_ERROR "${msg}")
endif()
message(STATUS "exported_symbols: ${n_actual} symbols, exactly the list")
