# The API reference: Doxygen over the public headers (include/parallax/, without detail/), from
# docs/Doxyfile.in configured into the build tree.
#
#   cmake --build --preset release --target docs     HTML in <build>/docs/html/index.html (warnings are listed,
#                                                    the target still succeeds)
#   ctest --preset release -R docs_api_reference      fails on any Doxygen warning: an undocumented public
#                                                    symbol, or a doc comment Doxygen cannot read
#
# Without doxygen (Debian: doxygen, one of bootstrap.sh's test packages) there is neither: configuring says so.
include_guard(GLOBAL)

find_package(Doxygen QUIET)
set(PLX_DOCS_OUTPUT_DIR "${PROJECT_BINARY_DIR}/docs")
set(PARALLAX_DOXYFILE "${PLX_DOCS_OUTPUT_DIR}/Doxyfile")
if(NOT DOXYGEN_FOUND)
  message(STATUS "doxygen not found: no docs target, no docs_api_reference test (Debian: apt-get install doxygen)")
  return()
endif()
configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${PARALLAX_DOXYFILE}" @ONLY)

# Runs doxygen with ${PARALLAX_DOXYFILE}, output under `out_dir`; STRICT fails on any warning.
function(plx_doxygen_command var out_dir strict)
  set(${var} ${CMAKE_COMMAND} -DDOXYGEN=${DOXYGEN_EXECUTABLE} -DDOXYFILE=${PARALLAX_DOXYFILE} -DOUT_DIR=${out_dir}
             -DSTRICT=${strict} -P ${PROJECT_SOURCE_DIR}/cmake/ParallaxRunDoxygen.cmake PARENT_SCOPE)
endfunction()

plx_doxygen_command(docs_command "${PLX_DOCS_OUTPUT_DIR}" OFF)
add_custom_target(docs COMMAND ${docs_command} COMMENT "API reference: ${PLX_DOCS_OUTPUT_DIR}/html/index.html"
                  VERBATIM)
