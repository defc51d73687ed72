# cmake -DDOXYGEN=... -DDOXYFILE=... -DOUT_DIR=... -DSTRICT=ON|OFF -P ParallaxRunDoxygen.cmake
#
# Runs Doxygen with DOXYFILE, its output and warnings log under OUT_DIR, and prints the warnings. With STRICT
# it fails when there is any, which is how the ctest docs_api_reference holds every public symbol documented.
# OUT_DIR is set here rather than in the Doxyfile, so that the test and the docs target never write into each
# other's directory.
foreach(var DOXYGEN DOXYFILE OUT_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "ParallaxRunDoxygen.cmake: -D${var}=... is required")
  endif()
endforeach()
file(MAKE_DIRECTORY "${OUT_DIR}")
set(log "${OUT_DIR}/warnings.log")
file(REMOVE "${log}")
file(WRITE "${OUT_DIR}/Doxyfile.run" "@INCLUDE = ${DOXYFILE}\nOUTPUT_DIRECTORY = ${OUT_DIR}\nWARN_LOGFILE = ${log}\n")
execute_process(COMMAND "${DOXYGEN}" "${OUT_DIR}/Doxyfile.run" RESULT_VARIABLE rc)
set(warnings "")
if(EXISTS "${log}")
  file(READ "${log}" warnings)
  string(STRIP "${warnings}" warnings)
endif()
if(warnings)
  string(REGEX MATCHALL "\n" lines "\n${warnings}")
  list(LENGTH lines count)
  message("${warnings}")  # as Doxygen wrote them, one per line (message(WARNING) would re-wrap them)
  if(STRICT)
    message(FATAL_ERROR "Doxygen: ${count} warning(s) in the public headers (above). Document each public symbol "
                        "with a /// comment; docs/Doxyfile.in says what counts.")
  endif()
  message(WARNING "Doxygen: ${count} warning(s) in the public headers (above).")
elseif(NOT rc EQUAL 0)
  message(FATAL_ERROR "doxygen failed (exit ${rc}) without warnings in ${log}")
endif()
message(STATUS "API reference: ${OUT_DIR}/html/index.html")
