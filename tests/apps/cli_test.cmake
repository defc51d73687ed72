# The apps as a user runs them: --help, bad input (clear message, exit code 2), the same pi for any
# ranks x threads, --report-layout, and the benchmarks' JSON field names.
# Run by ctest as: cmake -DPLX_PI=... -DPLX_BENCH=... -DMPIEXEC=... -P cli_test.cmake
cmake_minimum_required(VERSION 3.25)

include(${CMAKE_CURRENT_LIST_DIR}/run_case.cmake)

set(mpi ${MPIEXEC} --oversubscribe)

run_case("pi --help lists its and the shared options" 0 "--samples.*--seed.*--json.*--threads.*--report-layout"
         ${PLX_PI} --help)
run_case("pi --samples 0 is refused" 2 "--samples" ${PLX_PI} --samples 0)
run_case("pi with an unknown option is refused" 2 "--bogus" ${PLX_PI} --bogus)
run_case("pi --threads 0 is refused" 2 "--threads must be at least 1, not 0" ${PLX_PI} --threads 0)
run_case("pi --samples abc is not a number" 2 "--samples: 'abc' is not a number" ${PLX_PI} --samples abc)
run_case("pi --samples 2.5 is not a whole number" 2 "--samples: '2.5' is not a whole number" ${PLX_PI} --samples 2.5)
run_case("pi --seed -3 is refused" 2 "--seed must be at least 0, not -3" ${PLX_PI} --seed -3)
run_case("bench --repeats abc is not a number" 2 "--repeats: 'abc' is not a number" ${PLX_BENCH} balance --repeats abc)
if(last_output MATCHES "[0-9]{30}")
  message(SEND_ERROR "a bad number printed a long range: ${last_output}")
endif()
run_case("bad OMP_NUM_THREADS is named" 2 "OMP_NUM_THREADS='lots'"
         ${CMAKE_COMMAND} -E env OMP_NUM_THREADS=lots ${PLX_PI} --samples 10)
run_case("help under mpirun is printed once" 0 "^[^\n]*\n" ${mpi} -n 2 ${PLX_PI} --help)
string(REGEX MATCHALL "Usage:" usages "${last_output}")
list(LENGTH usages usage_count)
if(NOT usage_count EQUAL 1)
  message(SEND_ERROR "--help under 2 ranks printed ${usage_count} usage lines, expected 1")
endif()

run_case("pi on 2 ranks x 1 thread" 0 "\"pi\": " ${mpi} -n 2 ${PLX_PI} --samples 3000000 --seed 5 --json --threads 1)
string(REGEX MATCH "\"pi\": [0-9.]+" pi_2x1 "${last_output}")
expect_json("pi JSON" samples=3000000 seed=5 ranks=2 threads=1)
run_case("pi on 1 rank x 2 threads" 0 "\"pi\": " ${mpi} -n 1 --bind-to none ${PLX_PI} --samples 3000000 --seed 5 --json --threads 2)
string(REGEX MATCH "\"pi\": [0-9.]+" pi_1x2 "${last_output}")
run_case("pi on 3 ranks x 2 threads" 0 "\"ranks\": 3, \"threads\": 2" ${mpi} -n 3 ${PLX_PI} --samples 3000000 --seed 5 --json --threads 2 --quiet)
string(REGEX MATCH "\"pi\": [0-9.]+" pi_3x2 "${last_output}")
if(NOT pi_2x1 STREQUAL pi_1x2 OR NOT pi_2x1 STREQUAL pi_3x2)
  message(SEND_ERROR "pi differs between layouts: '${pi_2x1}' '${pi_1x2}' '${pi_3x2}'")
endif()

run_case("--report-layout prints a table" 0 "rank +host +node-rank +threads +cores.*\n +1 +"
         ${mpi} -n 2 ${PLX_PI} --samples 1000 --report-layout --quiet)
run_case("oversubscription is warned about once" 0 "warning: oversubscribed layout"
         ${mpi} -n 2 ${PLX_PI} --samples 1000 --threads 4)

run_case("bench balance JSON" 0
         "\"benchmark\": \"balance\", \"workers\": 2, \"makespan_s\": [0-9.]+, \"optimum_s\": [0-9.]+, \"ratio\": [0-9.]+"
         ${mpi} -n 2 ${PLX_BENCH} balance --unit-ms 5 --json --quiet)
expect_json("bench balance JSON parses" benchmark=balance workers=2)
run_case("bench dispatch JSON" 0
         "\"benchmark\": \"dispatch\", \"schedule\": \"dynamic\", \"chunk\": \"auto\", \"ranks\": 2, \"threads\": 1, \"tasks\": 2000, \"us_per_task\": [0-9.]+"
         ${mpi} -n 2 ${PLX_BENCH} dispatch --tasks 2000 --repeats 1 --json --threads 1 --quiet)
expect_json("bench dispatch JSON parses" benchmark=dispatch chunk=auto tasks=2000)
if(NOT last_output MATCHES "\"schedule\": \"static\", \"chunk\": 1, ")
  message(SEND_ERROR "bench dispatch: chunk 1 is not the number 1: ${last_output}")
endif()
run_case("bench calls JSON" 0 "\"benchmark\": \"calls\", \"ranks\": 2, \"threads\": 1, \"items\": 8, \"calls\": 20, \"passive_wait\": false, \"us_per_call\": [0-9.]+, \"floor_us\": [0-9.]+"
         ${mpi} -n 2 ${PLX_BENCH} calls --calls 20 --json --threads 1 --quiet)
expect_json("bench calls JSON parses" benchmark=calls calls=20)
# Several layouts in one run: the first ranks take part, one line each.
run_case("bench calls layouts" 0 "\"ranks\": 1, \"threads\": 1, \"items\": 4, .*\n.*\"ranks\": 2, \"threads\": 2, \"items\": 8, "
         ${mpi} -n 2 ${PLX_BENCH} calls --calls 20 --json --threads 2 --quiet --layouts 1x1,2x2,1x1)
run_case("bench calls layout beyond the run" 2 "--layouts: 3x1 needs 3 ranks x 1 threads, but this run has 2 x 1"
         ${mpi} -n 2 ${PLX_BENCH} calls --calls 20 --threads 1 --quiet --layouts 3x1)
# A failure inside a 2-rank layout of a 3-rank run: the third rank, asleep outside the layout, ends too.
run_case("bench calls failure in a layout" 1 "passing results to root failed on rank 1"
         ${CMAKE_COMMAND} -E env PLX_FAULT=MPI_Isend@1 ${mpi} -n 3 ${PLX_BENCH} calls --calls 20 --threads 1 --quiet
         --layouts 2x1)
run_case("bench calls bad layout" 2 "--layouts: '2y1' is not RANKSxTHREADS"
         ${mpi} -n 2 ${PLX_BENCH} calls --calls 20 --threads 1 --quiet --layouts 2x1,2y1)
run_case("bench fft JSON" 0 "\"benchmark\": \"fft\", \"variant\": \"pipeline\", \"dim\": 2, \"n\": 16, "
         ${mpi} -n 2 ${PLX_BENCH} fft --dim 2 --n 16 --repeats 1 --json --threads 1 --quiet)
expect_json("bench fft JSON parses" benchmark=fft variant=fftw-floor n=16 plan=estimate)
run_case("bench needs a subcommand" 2 "subcommand" ${PLX_BENCH})
run_case("bench farm JSON" 0
         "\"benchmark\": \"farm\", \"tool\": \"plx-run\", \"tasks\": 40, \"seconds\": [0-9.]+, \"tasks_per_s\": [0-9.]+, \"ranks\": 2, \"slots\": 1, \"journal_us_per_task\": [0-9.]+"
         ${mpi} -n 2 ${PLX_BENCH} farm --tasks 40 --json --threads 1 --quiet)
string(REGEX REPLACE "[^\n]*plx-bench: [^\n]*failed[^\n]*\n" "" last_output "${last_output}")  # a peer not installed
expect_json("bench farm JSON parses" benchmark=farm tasks=40)
run_case("bench ensemble JSON" 0
         "\"benchmark\": \"ensemble\", \"tool\": \"plx-ensemble\", \"n\": 8, \"realizations\": 8, \"seconds\": [0-9.]+, \"realizations_per_s\": [0-9.]+"
         ${mpi} -n 2 ${PLX_BENCH} ensemble --n 8 --realizations 8 --numpy-realizations 7 --repeats 2 --json --threads 1 --quiet)
# The numpy peer's line, where /usr/bin/python3 has numpy (else a warning on stderr and no line).
if(last_output MATCHES "numpy-pool" AND NOT last_output MATCHES
   "\"benchmark\": \"ensemble\", \"tool\": \"numpy-pool\", \"n\": 8, \"realizations\": 7, \"seconds\": [0-9.]+, \"realizations_per_s\": [0-9.]+}")
  message(SEND_ERROR "bench ensemble: the numpy-pool line is not as documented:\n${last_output}")
endif()
expect_json("bench ensemble JSON parses" benchmark=ensemble n=8)
run_case("bench ensemble needs 2 realizations" 2 "--realizations" ${PLX_BENCH} ensemble --realizations 1)
run_case("bench shared JSON" 0
         "\"benchmark\": \"shared\", \"mode\": \"shared\", \"ranks\": 2, \"input_bytes\": 4194304, \"node_pss_bytes\": [0-9]+, \"load_seconds\": [0-9.]+"
         ${mpi} -n 2 ${PLX_BENCH} shared --bytes 4194304 --json --quiet)
expect_json("bench shared JSON parses" benchmark=shared mode=copy ranks=2 input_bytes=4194304)
run_case("bench shared --dir that does not exist is refused" 2 "error: --dir: .*does not exist"
         ${mpi} -n 2 ${PLX_BENCH} shared --bytes 8192 --dir /nonexistent/plx-dir --quiet)
run_case("bench shared --bytes beyond a node's memory is refused before writing" 2
         "error: --bytes 1000000000000000: 2 copies of the input need"
         ${mpi} -n 2 ${PLX_BENCH} shared --bytes 1000000000000000 --quiet)
# plx-bench io: plx-cosmo's write stage (3D N = 16: 16^3 cells x 5 doubles = 163840 bytes) and dd, one line each;
# both tools' files are gone afterwards.
set(io_dir "${CMAKE_CURRENT_BINARY_DIR}/bench-io")
file(REMOVE_RECURSE "${io_dir}")
file(MAKE_DIRECTORY "${io_dir}")
run_case("bench io JSON" 0
         "\"benchmark\": \"io\", \"tool\": \"plx\", \"bytes\": 163840, \"seconds\": [0-9.]+, \"gb_per_s\": [0-9.]+, \"ranks\": 2, \"dim\": 3, \"n\": 16, \"ratio_to_dd\": [0-9.]+"
         ${mpi} -n 2 ${PLX_BENCH} io --n 16 --repeats 2 --dir ${io_dir} --json --quiet)
if(NOT last_output MATCHES "\"benchmark\": \"io\", \"tool\": \"dd\", \"bytes\": 163840, \"seconds\": [0-9.]+, \"gb_per_s\": [0-9.]+")
  message(SEND_ERROR "bench io: no dd line: ${last_output}")
endif()
expect_json("bench io JSON parses" benchmark=io tool=dd bytes=163840 ranks=2)
file(GLOB io_left "${io_dir}/*")
if(io_left)
  message(SEND_ERROR "plx-bench io left files behind: ${io_left}")
endif()
run_case("bench io --n 1 is refused" 2 "--n" ${PLX_BENCH} io --n 1)
run_case("bench io --dir that does not exist is refused" 2 "--dir: .*does not exist"
         ${mpi} -n 2 ${PLX_BENCH} io --dir /nonexistent/plx-dir --quiet)
