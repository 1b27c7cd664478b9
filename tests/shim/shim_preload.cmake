# tests/shim/shim_preload.cmake - runs PROGRAM without and with LD_PRELOAD=SHIM, and checks
# that the outputs are the same and that the stats file shows the shim served the run.
foreach(var SHIM PROGRAM WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "shim_preload.cmake: -D${var}= is required")
  endif()
endforeach()
execute_process(COMMAND ${PROGRAM} OUTPUT_VARIABLE plain RESULT_VARIABLE rc_plain)
set(stats ${WORK}/preload-stats.txt)
file(REMOVE ${stats})
execute_process(COMMAND ${CMAKE_COMMAND} -E env LD_PRELOAD=${SHIM}
                        KMALLOC_OPTIONS=arena=8M,stats=${stats} ${PROGRAM}
                OUTPUT_VARIABLE shimmed RESULT_VARIABLE rc_shim)
if(NOT rc_plain EQUAL 0 OR NOT rc_shim EQUAL 0)
  message(FATAL_ERROR "exit status: ${rc_plain} without the shim, ${rc_shim} with it")
endif()
if(NOT plain STREQUAL shimmed)
  message(FATAL_ERROR "outputs differ:\n--- without\n${plain}--- with\n${shimmed}")
endif()
file(READ ${stats} text)
foreach(pattern "calls: malloc=[1-9]" "operator new=[1-9]" "calloc=[1-9]" "posix_memalign=1"
                " valloc=7 "
                "served: slab=[1-9][0-9][0-9]" "huge=[1-9]" "kmalloc-64 ")
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "stats file ${stats} lacks '${pattern}':\n${text}")
  endif()
endforeach()
message(STATUS "same output with and without the shim; stats: ${stats}")
