# Test registration helpers.
#
#   plx_add_unit_test(name SOURCES a.cpp ...)                  plain GoogleTest, no mpirun
#   plx_add_mpi_test(name SOURCES a.cpp ... RANKS 1 2 3 4 [TIMEOUT s])
#   plx_add_mpi_test_variant(name variant ENVIRONMENT VAR=value ...)   the same binary again, other environment
#
# plx_add_mpi_test adds one ctest per rank count (name.np3), run through FindMPI's MPIEXEC_* variables,
# with PROCESSORS, TIMEOUT (a hang fails instead of blocking CI) and the `mpi` label, and with
# --oversubscribe when the MPI is Open MPI, so 4 ranks run on a 2-core machine. Settings only containers
# need (Open MPI's run-as-root variables) come from the environment, not from here.
include_guard(GLOBAL)
include(GoogleTest)

# A sanitizer build (the asan preset: Debug, ASan + UBSan) runs several times slower, CGAL's exact predicates
# most of all: its timeouts are scaled so that a slow test is not taken for a hang (they still catch one). The
# discovered GoogleTest cases here; every add_test of a directory by plx_scale_test_timeouts() at its end.
set(PLX_TEST_TIMEOUT_SCALE 1)
if(CMAKE_CXX_FLAGS MATCHES "-fsanitize")
  set(PLX_TEST_TIMEOUT_SCALE 4)
endif()

function(plx_add_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE parallax::parallax GTest::gtest GTest::gtest_main ${ARG_LIBRARIES})
  parallax_enable_warnings(${name})
  math(EXPR timeout "60 * ${PLX_TEST_TIMEOUT_SCALE}")
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES LABELS unit TIMEOUT ${timeout})
endfunction()

# One ctest per rank count, name.npN, running `target`'s binary with `environment` (a list, may be empty).
function(_plx_add_mpi_runs name target timeout environment)
  set(oversubscribe "")
  if(MPI_CXX_LIBRARY_VERSION_STRING MATCHES "Open MPI")
    set(oversubscribe --oversubscribe)
  endif()
  foreach(ranks IN LISTS ARGN)
    add_test(NAME ${name}.np${ranks}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${oversubscribe}
                     ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${target}> ${MPIEXEC_POSTFLAGS})
    set_tests_properties(${name}.np${ranks} PROPERTIES
      PROCESSORS ${ranks} TIMEOUT ${timeout} LABELS "mpi" ENVIRONMENT "${environment}")
  endforeach()
endfunction()

function(plx_add_mpi_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;RANKS;LIBRARIES" ${ARGN})
  if(NOT ARG_RANKS)
    set(ARG_RANKS 1 2 3 4)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE parallax::parallax plx_test_mpi_main ${ARG_LIBRARIES})
  parallax_enable_warnings(${name})
  _plx_add_mpi_runs(${name} ${name} ${ARG_TIMEOUT} "" ${ARG_RANKS})
endfunction()

# plx_add_mpi_test_variant(name variant ENVIRONMENT VAR=value ... [RANKS ...] [TIMEOUT s]) runs the binary of an
# earlier plx_add_mpi_test again, as name.variant.npN, with that environment.
function(plx_add_mpi_test_variant name variant)
  cmake_parse_arguments(ARG "" "TIMEOUT" "ENVIRONMENT;RANKS" ${ARGN})
  if(NOT ARG_RANKS)
    set(ARG_RANKS 1 2 3 4)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  _plx_add_mpi_runs(${name}.${variant} ${name} ${ARG_TIMEOUT} "${ARG_ENVIRONMENT}" ${ARG_RANKS})
endfunction()

# Scales the TIMEOUT of every test added so far in the calling directory by PLX_TEST_TIMEOUT_SCALE.
function(plx_scale_test_timeouts)
  if(PLX_TEST_TIMEOUT_SCALE EQUAL 1)
    return()
  endif()
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(test IN LISTS tests)
    get_test_property(${test} TIMEOUT timeout)
    if(timeout)
      math(EXPR timeout "${timeout} * ${PLX_TEST_TIMEOUT_SCALE}")
      set_tests_properties(${test} PROPERTIES TIMEOUT ${timeout})
    endif()
  endforeach()
endfunction()
