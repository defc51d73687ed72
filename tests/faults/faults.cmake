# The fault sweep (issue 18): every fault site of every app, one armed fault per run, with the invariants of
# tests/faults/sweep.py. Label `faults`. Here the bounded part that CI runs: per app, every site's first or last
# pass on 2 and 3 ranks up to a budget, and for the resumable apps kill -9, SIGINT and SIGTERM then resume.
# The whole sweep: ./bootstrap.sh faults (docs/faults.md, "The sweep").
plx_add_unit_test(plx_fault_registry_tests SOURCES faults/fault_registry_test.cpp)
target_compile_definitions(plx_fault_registry_tests PRIVATE PLX_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

if(PLX_SYSTEM_PYTHON3)
  set(PLX_FAULT_BUDGET 4 CACHE STRING "faulted runs per app and rank count in the ctest part of the fault sweep")
  set(sweep ${PLX_SYSTEM_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/faults/sweep.py --build ${PROJECT_BINARY_DIR}
            --mpiexec "${MPIEXEC_EXECUTABLE} --oversubscribe")
  foreach(app pi cosmo cosmo3d ensemble web h5map run)
    add_test(NAME faults_${app}
             COMMAND ${sweep} --apps ${app} --ranks 2,3 --budget ${PLX_FAULT_BUDGET}
                     --jsonl ${CMAKE_CURRENT_BINARY_DIR}/faults_${app}.jsonl)
    set_tests_properties(faults_${app} PROPERTIES TIMEOUT 1200 LABELS "faults;mpi;python" PROCESSORS 2)
  endforeach()
  foreach(app ensemble h5map run)
    add_test(NAME faults_${app}_interrupted
             COMMAND ${sweep} --apps ${app} --ranks 2 --no-faults --crashes 2 --signals
                     --jsonl ${CMAKE_CURRENT_BINARY_DIR}/faults_${app}_interrupted.jsonl)
    set_tests_properties(faults_${app}_interrupted PROPERTIES TIMEOUT 1200 LABELS "faults;mpi;python" PROCESSORS 2)
  endforeach()
endif()

add_test(NAME faults_environment COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/faults/environment_test.sh
                                         $<TARGET_FILE:plx-pi> ${MPIEXEC_EXECUTABLE})
set_tests_properties(faults_environment PROPERTIES TIMEOUT 120 LABELS "faults;mpi" PROCESSORS 2)
