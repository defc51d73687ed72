# plx-ensemble as a user runs it: --help, bad input (a clear message, exit code 2, one line, no output),
# --json, an existing output, and a run that fails after its realizations are stored: without --resume it is
# refused, against other parameters it is refused, with --resume it finishes, equal to an uninterrupted run.
# Run by ctest as: cmake -DPLX_ENSEMBLE=... -DMPIEXEC=... -DWORK_DIR=... -P ensemble_cli_test.cmake
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(mpi ${MPIEXEC} --oversubscribe)
include(${CMAKE_CURRENT_LIST_DIR}/run_case.cmake)

function(expect_no_output path why)
  file(GLOB leftovers "${WORK_DIR}/${path}*")
  if(leftovers)
    message(SEND_ERROR "${why}: ${leftovers} should not exist")
  endif()
endfunction()

run_case("--help" 0 "--realizations.*--seed.*--out.*--resume.*--force.*--json.*--progress.*--dim.*--n.*--box.*--spectrum.*--table.*--normalisation.*--times"
         ${PLX_ENSEMBLE} --help)

# Bad input: refused before any work, one line from root, exit 2, nothing written.
run_case("a typo is named" 2 "unknown option '--realizatons': did you mean '--realizations'\\?"
         ${PLX_ENSEMBLE} --realizatons 50)
run_case("--realizations is required" 2 "--realizations is required" ${PLX_ENSEMBLE} --n 8 --out bad.h5)
run_case("M < 2" 2 "--realizations must be at least 2 for a covariance, not 1"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 1 --n 8 --out bad.h5 --quiet)
expect_one_clean_line("M < 2")
run_case("bins >= M - 2" 2 "--realizations 6 with 4 P\\(k\\) bins: the precision matrix is undefined.*--realizations 7 or more"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 6 --n 8 --out bad.h5 --quiet)
expect_one_clean_line("bins >= M - 2")
run_case("a field option as plx-cosmo checks it" 2 "--n must be at least 2, not 1"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 10 --n 1 --out bad.h5 --quiet)
run_case("an unknown spectrum" 2 "cdm" ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 10 --n 8 --spectrum cdm --out bad.h5 --quiet)
run_case("an unwritable output" 2 "no-such-dir.*does not exist"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 10 --n 8 --out no-such-dir/e.h5 --quiet)
expect_one_clean_line("an unwritable output")
# Fewer than 2 P(k) bins, and more rows than a file can hold: exit 2 naming the option (issue 18: --n 2 committed
# a file, then vector::_M_range_check; --realizations 1e19 printed HDF5's 20-line error stack).
foreach(n 2 3)
  run_case("--n ${n}: one bin" 2 "--n ${n} gives 1 P\\(k\\) bin\\(s\\).*use --n 4 or more"
           ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 10 --dim 2 --n ${n} --out bad.h5 --quiet)
  expect_one_clean_line("--n ${n}: one bin")
endforeach()
run_case("--realizations 1e19" 2 "--realizations 10000000000000000000: their rows"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 1e19 --dim 2 --n 16 --out bad.h5 --quiet)
expect_one_clean_line("--realizations 1e19")
if(last_output_all MATCHES "HDF5-DIAG")
  message(SEND_ERROR "--realizations 1e19: HDF5's error stack printed:\n${last_output_all}")
endif()
expect_no_output(bad.h5 "bad input")
# More rows than the output's whole file system holds (1e15 rows of 136 bytes: 136 PB) is bad input too; it
# ended at run time with EFBIG and Open MPI's own lines about it.
run_case("--realizations 1e15" 2 "--realizations 1000000000000000: their rows of 136 bytes each need .* more than the whole file system"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 1e15 --dim 2 --n 16 --out bad.h5 --quiet)
expect_one_clean_line("--realizations 1e15")
expect_no_output(bad.h5 "a file larger than its file system")

# A run, its JSON line, and an existing output.
run_case("a run on 2 ranks" 0 "\"realizations\": 20"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 20 --dim 3 --n 8 --times 0.5,1 --out e.h5 --json --quiet)
expect_json("a run on 2 ranks is JSON" realizations=20 computed=20 bins=4 times=2 dim=3 n=8 ranks=2 output=e.h5)
run_case("an existing output is kept without --force" 2 "e.h5' exists: use --force"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 20 --dim 3 --n 8 --times 0.5,1 --out e.h5 --quiet)
expect_one_clean_line("an existing output is kept without --force")
run_case("--force overwrites" 0 "wrote e.h5: 20 realizations"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 20 --dim 3 --n 8 --times 0.5,1 --out e.h5 --force --quiet)

# A TOML file of plx-cosmo's keys, a flag over it.
file(WRITE "${WORK_DIR}/field.toml" "dim = 3\nn = 12\nbox = 100.0\nnormalisation = \"sigma8\"\n[spectrum]\nmodel = \"eisenstein-hu\"\n")
run_case("a TOML file and flags" 0 "\"bins\": 4"
         ${mpi} -n 2 ${PLX_ENSEMBLE} field.toml --n 8 --realizations 12 --out toml.h5 --json --quiet)

# The reference: an uninterrupted run in its own directory (the same command line, so the same attributes).
file(MAKE_DIRECTORY "${WORK_DIR}/whole")
set(args --realizations 24 --dim 3 --n 8 --times 1,2 --normalisation none --out r.h5 --quiet)
execute_process(COMMAND ${mpi} -n 2 ${PLX_ENSEMBLE} ${args} WORKING_DIRECTORY "${WORK_DIR}/whole" RESULT_VARIABLE code)
if(NOT code EQUAL 0)
  message(SEND_ERROR "the uninterrupted run failed: ${code}")
endif()
# The same run, failing on rank 1 only once every realization is stored (an injected full disk at its first
# HDF5 write, a covariance dataset): one line, exit 1, the rows kept for a resume.
run_case("a write failure on rank 1 after the realizations" 1 "No space left on device"
         ${CMAKE_COMMAND} -E env PLX_FAULT=hdf5.write@1 ${mpi} -n 2 ${PLX_ENSEMBLE} ${args})
expect_one_clean_line("a write failure on rank 1 after the realizations")
if(EXISTS "${WORK_DIR}/r.h5" OR NOT EXISTS "${WORK_DIR}/r.h5.journal")
  message(SEND_ERROR "after the failure: no r.h5 and a journal expected")
endif()
run_case("an unfinished run without --resume" 2 "use --resume to continue it or --force to start over"
         ${mpi} -n 2 ${PLX_ENSEMBLE} ${args})
run_case("a resume against another box" 2 "cannot resume 'r.h5'"
         ${mpi} -n 2 ${PLX_ENSEMBLE} ${args} --box 60 --resume)
expect_one_clean_line("a resume against another box")
run_case("a resume against another M" 2 "cannot resume 'r.h5'"
         ${mpi} -n 2 ${PLX_ENSEMBLE} --realizations 25 --dim 3 --n 8 --times 1,2 --normalisation none --out r.h5 --quiet --resume)
run_case("the resume" 0 "\"computed\": 0" ${mpi} -n 3 ${PLX_ENSEMBLE} ${args} --resume --json)
# Every dataset bitwise, and the attributes of "/" (the run's own ranks and command line, attributes of the
# /realizations datasets, may differ: the resume ran on 3 ranks).
find_program(SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)
set(compare [=[
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
other = []
b.visititems(lambda name, obj: other.append(name) if isinstance(obj, h5py.Dataset) else None)
assert sorted(names) == sorted(other), (names, other)
for name in names:
    assert a[name][()].tobytes() == b[name][()].tobytes() and a[name].dtype == b[name].dtype, name
root = {k: str(v) for k, v in a.attrs.items()}
assert root == {k: str(v) for k, v in b.attrs.items()}, "attributes of /"
print("identical:", len(names), "datasets")
]=])
run_case("the resumed file equals the uninterrupted one" 0 "identical: 23 datasets"
         ${SYSTEM_PYTHON} -c "${compare}" r.h5 whole/r.h5)

# HDF5's create, close and flush failing (injected on one rank, at each pass where the run makes one), and a
# write failing late (after the rows, while the summary is written): one line, exit 1, no temporary file; then
# --resume finishes with every dataset equal to the uninterrupted run's.
foreach(fault hdf5.create@0 hdf5.close@0 hdf5.close@1 hdf5.close@0,after=1 hdf5.close@0,after=2 hdf5.write@0,after=20)
  string(MAKE_C_IDENTIFIER "${fault}" dir)
  file(MAKE_DIRECTORY "${WORK_DIR}/${dir}")
  execute_process(COMMAND ${CMAKE_COMMAND} -E env PLX_FAULT=${fault} ${mpi} -n 2 ${PLX_ENSEMBLE} ${args}
                  WORKING_DIRECTORY "${WORK_DIR}/${dir}" RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 120)
  set(last_output_all "${out}${err}")
  if(NOT code EQUAL 1 OR NOT last_output_all MATCHES "injected by a test")
    message(SEND_ERROR "${fault}: exit ${code}, expected 1 and the injected failure:\n${last_output_all}")
  endif()
  # One line from parallax (the injected EIO reads "Input/output error": lines are counted, not words).
  string(REGEX MATCHALL "(^|\n)(error|parallax)[^\n]*" lines "${last_output_all}")
  list(LENGTH lines count)
  if(NOT count EQUAL 1 OR last_output_all MATCHES "MPI_ABORT|MPI_Abort|HDF5-DIAG")
    message(SEND_ERROR "${fault}: expected one error line and no MPI_Abort:\n${last_output_all}")
  endif()
  file(GLOB leftovers "${WORK_DIR}/${dir}/*.tmp*")
  if(leftovers OR EXISTS "${WORK_DIR}/${dir}/r.h5")
    message(SEND_ERROR "${fault}: left ${leftovers} or a committed r.h5")
  endif()
  execute_process(COMMAND ${mpi} -n 2 ${PLX_ENSEMBLE} ${args} --resume WORKING_DIRECTORY "${WORK_DIR}/${dir}"
                  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
  if(NOT code EQUAL 0)
    message(SEND_ERROR "${fault}: the resume failed (${code}):\n${out}${err}")
  endif()
  run_case("${fault}: the resumed file equals the uninterrupted one" 0 "identical: 23 datasets"
           ${SYSTEM_PYTHON} -c "${compare}" ${dir}/r.h5 whole/r.h5)
endforeach()

# A table spectrum edited between a failed run and its resume is another spectrum: refused.
file(WRITE "${WORK_DIR}/pk.dat" "# k P\n0.01 100.0\n10.0 0.1\n")
set(table_args --realizations 12 --dim 3 --n 8 --spectrum table --table pk.dat --out t.h5 --quiet)
run_case("a table run failing on rank 1" 1 "No space left on device"
         ${CMAKE_COMMAND} -E env PLX_FAULT=hdf5.write@1 ${mpi} -n 2 ${PLX_ENSEMBLE} ${table_args})
file(WRITE "${WORK_DIR}/pk.dat" "# k P\n0.01 200.0\n10.0 0.1\n")
run_case("a resume with an edited table" 2 "cannot resume 't.h5'" ${mpi} -n 2 ${PLX_ENSEMBLE} ${table_args} --resume)

# Any layout gives the same datasets: 1 rank x 2 threads against 3 ranks x 1 thread, compared bitwise as above.
set(layout_args --realizations 16 --dim 2 --n 16 --times 0.5,1 --quiet)
run_case("1 rank x 2 threads" 0 "wrote one.h5" ${mpi} -n 1 ${PLX_ENSEMBLE} ${layout_args} --threads 2 --out one.h5)
run_case("3 ranks x 1 thread" 0 "wrote three.h5" ${mpi} -n 3 ${PLX_ENSEMBLE} ${layout_args} --threads 1 --out three.h5)
run_case("every dataset identical on both layouts" 0 "identical: 23 datasets"
         ${SYSTEM_PYTHON} -c "${compare}" one.h5 three.h5)
