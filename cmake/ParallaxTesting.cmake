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

function(plx_add_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE parallax::parallax GTest::gtest GTest::gtest_main ${ARG_LIBRARIES})
  parallax_enable_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES LABELS unit TIMEOUT 60)
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
