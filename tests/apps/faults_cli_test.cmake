# Issue 18, section 3, cases 11, 12, 14 and 15: an MPI failure on one rank, an allocation that fails, and the
# checks that must come before any work, on plx-cosmo and plx-ensemble at 2 ranks (the sweep's findings, kept
# as regression cases). Every faulted run must end within run_case's timeout (no hang), exit 1 and leave no
# temporary file. An MPI failure on one rank while the others succeeded in the same call may end with the
# rank-local line and MPI_Abort (the ranks are out of step); everything else ends with one clean line.
# Run by ctest as: cmake -DPLX_COSMO=... -DPLX_ENSEMBLE=... -DMPIEXEC=... -DWORK_DIR=... -P faults_cli_test.cmake
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(mpi ${MPIEXEC} --oversubscribe)

include(${CMAKE_CURRENT_LIST_DIR}/run_case.cmake)

set(cosmo ${mpi} -n 2 ${PLX_COSMO} --dim 3 --n 32 --threads 1 --quiet --out c.h5)
set(ensemble ${mpi} -n 2 ${PLX_ENSEMBLE} --dim 3 --n 16 --realizations 50 --threads 1 --quiet --out e.h5)

# Up front, before any table or file: one line from root, exit 2.
run_case("a --times count past INT_MAX" 2 "--times: count in '0:1:3e9' is too large: at most 4096 times"
         ${mpi} -n 2 ${PLX_COSMO} --quiet --times 0:1:3e9 --out bad.h5)
expect_one_clean_line("a --times count past INT_MAX")
run_case("more times than one attribute holds" 2 "--times: count in '0:1:5000' is too large"
         ${mpi} -n 2 ${PLX_COSMO} --quiet --times 0:1:5000 --out bad.h5)
foreach(n 4096 100000)
  run_case("plx-cosmo --n ${n} beyond the node" 2 "error: a ${n}\\^3 grid needs about [0-9.]+ GiB on a node that has"
           ${mpi} -n 2 ${PLX_COSMO} --dim 3 --n ${n} --out bad.h5)
  expect_one_clean_line("plx-cosmo --n ${n} beyond the node")
  if(last_output_all MATCHES "decomposition")
    message(SEND_ERROR "plx-cosmo --n ${n}: the decomposition table came before the memory check:\n${last_output_all}")
  endif()
endforeach()
run_case("plx-ensemble --n 2048 beyond the node" 2 "error: a 2048\\^3 grid for each of 1 thread per rank needs about"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --dim 3 --n 2048 --realizations 50 --threads 1 --quiet --out bad.h5)
expect_one_clean_line("plx-ensemble --n 2048 beyond the node")
expect_no_file(bad.h5 "checks before any work")

# MPI failures on one rank (issue 18, cases 14 and 15): these hung, or left c.h5.tmp.* behind. Not here:
# MPI_Bcast@1,after=0, the broadcast of the output's check on rank 1, before it knows the temporary's name:
# root's file is then left to the signal-time cleanup (SIGTERM from mpirun's abort) and the next run.
foreach(fault MPI_Allreduce@0,after=3 MPI_Allreduce@1,after=3 MPI_Allgather@0,after=0 MPI_Allgather@1,after=0
              MPI_Bcast@0,after=0 MPI_Bcast@0,after=1 MPI_Bcast@0,after=3 MPI_Bcast@1,after=3
              MPI_Allgather@1,after=1 MPI_Allgather@1,after=3)
  run_case("plx-cosmo, ${fault}" 1 "MPI_" ${CMAKE_COMMAND} -E env PLX_FAULT=${fault} ${cosmo})
  expect_no_file(c.h5 "plx-cosmo, ${fault}")
endforeach()
foreach(fault MPI_Allreduce@1,after=6 MPI_Bcast@1,after=6 MPI_Allgather@0,after=3 MPI_Allgather@1,after=3)
  file(REMOVE_RECURSE "${WORK_DIR}/e.h5.partial" "${WORK_DIR}/e.h5.journal")
  run_case("plx-ensemble, ${fault}" 1 "MPI_" ${CMAKE_COMMAND} -E env PLX_FAULT=${fault} ${ensemble})
  expect_no_file(e.h5 "plx-ensemble, ${fault}")
endforeach()

# An allocation of a field that fails on rank 1 only: every rank stops with one line (the fields are
# allocated collectively), exit 1, no temporary file.
foreach(pass 0 2 3)
  run_case("plx-cosmo, alloc.buffer@1,after=${pass}" 1 "error: cannot allocate a field of .* out of memory \\(rank 1 of 2\\)"
           ${CMAKE_COMMAND} -E env PLX_FAULT=alloc.buffer@1,after=${pass} ${cosmo})
  expect_one_clean_line("plx-cosmo, alloc.buffer@1,after=${pass}")
  expect_no_file(c.h5 "plx-cosmo, alloc.buffer@1,after=${pass}")
endforeach()
