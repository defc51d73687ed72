# plx-cosmo as a user runs it: defaults, the output file and its sidecar, --force, bad parameters (a clear
# message naming the parameter, exit code 2, no output file), a TOML file overridden by flags, --json.
# Run by ctest as: cmake -DPLX_COSMO=... -DMPIEXEC=... -DWORK_DIR=... -P cosmo_cli_test.cmake
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(mpi ${MPIEXEC} --oversubscribe)

include(${CMAKE_CURRENT_LIST_DIR}/run_case.cmake)

run_case("--help" 0 "--dim.*--n.*--box.*--seed.*--spectrum.*--times.*--out.*--force.*--json.*--threads" ${PLX_COSMO} --help)

# Bad parameters: refused before any work, no output file.
# A mistyped option is named with the nearest known one (CLI11 alone took its value as the TOML file).
run_case("a typo is named" 2 "error: unknown option '--nn': did you mean '--n'\\?" ${PLX_COSMO} --nn 64)
run_case("a typo with =" 2 "unknown option '--outt': did you mean '--out'\\?" ${PLX_COSMO} --outt=a.h5)
run_case("n < 2" 2 "--n must be at least 2" ${mpi} -n 2 ${PLX_COSMO} --n 1 --out bad.h5)
expect_no_file(bad.h5 "n < 2")
run_case("box <= 0" 2 "--box must be positive" ${mpi} -n 2 ${PLX_COSMO} --box -1 --out bad.h5)
run_case("unknown spectrum" 2 "cdm" ${mpi} -n 2 ${PLX_COSMO} --spectrum cdm --out bad.h5)
run_case("times not increasing" 2 "--times must be increasing" ${mpi} -n 2 ${PLX_COSMO} --times 0,2,1 --out bad.h5)
run_case("unreadable table" 2 "no-such-table.dat" ${mpi} -n 2 ${PLX_COSMO} --spectrum table --table no-such-table.dat --out bad.h5)
file(WRITE "${WORK_DIR}/backwards.dat" "# k P\n1.0 2.0\n0.5 1.0\n")
run_case("non-monotonic table" 2 "backwards.dat.*line 3" ${mpi} -n 2 ${PLX_COSMO} --spectrum table --table backwards.dat --out bad.h5)
run_case("memory beyond the node" 2 "GiB on a node" ${mpi} -n 2 ${PLX_COSMO} --dim 3 --n 8192 --out bad.h5)
expect_no_file(bad.h5 "bad parameters")

# Bad output paths, found before any work on 2 ranks: exit code 2 and one line from root, not one line per
# rank followed by MPI_Abort's banner.
file(MAKE_DIRECTORY "${WORK_DIR}/a_directory")
run_case("output in a missing directory" 2 "no-such-dir.*does not exist" ${mpi} -n 2 ${PLX_COSMO} --quiet --out no-such-dir/c.h5)
expect_one_clean_line("output in a missing directory")
run_case("a directory as the output" 2 "a_directory.*is a directory" ${mpi} -n 2 ${PLX_COSMO} --quiet --out a_directory)
expect_one_clean_line("a directory as the output")
run_case("unwritable --wisdom" 2 "--wisdom 'no-such-dir/w.fftw' cannot be written" ${mpi} -n 2 ${PLX_COSMO} --quiet --out wisdom.h5 --wisdom no-such-dir/w.fftw)
expect_one_clean_line("unwritable --wisdom")
expect_no_file(wisdom.h5 "unwritable --wisdom")

# A write that fails on rank 1 only (an injected full disk, so this runs without root): every rank stops,
# root prints one line naming the file and the cause, exit 1, and no temporary file is left.
run_case("a full disk on rank 1 only" 1 "error: (H5Dwrite|pwrite) failed.*injected.h5.tmp.*No space left on device"
         ${CMAKE_COMMAND} -E env PLX_FAULT=hdf5.write@1 ${mpi} -n 2 ${PLX_COSMO} --quiet --out injected.h5)
expect_one_clean_line("a full disk on rank 1 only")
expect_no_file(injected.h5 "a full disk on rank 1 only")
# The same in the third write, the displacement's first part (written a few planes at a time).
run_case("a full disk on rank 1 in the displacement" 1 "error: (H5Dwrite|pwrite) failed.*displacement.*injected.h5.tmp.*No space left on device"
         ${CMAKE_COMMAND} -E env PLX_FAULT=hdf5.write@1,after=2 ${mpi} -n 2 ${PLX_COSMO} --quiet --out injected.h5)
expect_one_clean_line("a full disk on rank 1 in the displacement")
expect_no_file(injected.h5 "a full disk on rank 1 in the displacement")
# The final sync fails on rank 1 only (each rank syncs its own writes before root renames): every rank stops,
# and neither the output nor its temporary file is left.
run_case("the final sync fails on rank 1 only" 1 "error: cannot flush '.*injected.h5.tmp.*' to disk: No space left on device.*on rank 1"
         ${CMAKE_COMMAND} -E env PLX_FAULT=output.sync@1 ${mpi} -n 2 ${PLX_COSMO} --quiet --out injected.h5)
expect_one_clean_line("the final sync fails on rank 1 only")
expect_no_file(injected.h5 "the final sync fails on rank 1 only")
# An MPI failure on rank 1 only in the frames' particle exchange, while rank 0 goes on: every rank stops
# together (the exchange agrees on failures before its messages), with a message naming the call, and
# leaves no output, not even the temporary file.
run_case("an MPI failure in the frames on rank 1" 1 "MPI_Alltoall"
         ${CMAKE_COMMAND} -E env PLX_FAULT=MPI_Alltoall@1 ${mpi} -n 2 ${PLX_COSMO} --dim 3 --n 32 --quiet --out mpi_fault.h5)
expect_no_file(mpi_fault.h5 "an MPI failure in the frames on rank 1")

# Numbers and seeds: a message naming the flag, or the file, line and key a value came from; exit code 2.
run_case("--n abc is not a number" 2 "--n: 'abc' is not a number" ${PLX_COSMO} --n abc --out bad.h5)
run_case("--box with a unit is not a number" 2 "--box: '5Mpc' is not a number" ${PLX_COSMO} --box 5Mpc --out bad.h5)
if(last_output MATCHES "[0-9]{30}")
  message(SEND_ERROR "a bad number printed a long range: ${last_output}")
endif()
run_case("a negative --seed is refused" 2 "--seed must be at least 0, not -3" ${mpi} -n 2 ${PLX_COSMO} --seed -3 --out bad.h5)
run_case("a --seed beyond 64 bits is refused" 2 "--seed must be at most 18446744073709551615"
         ${PLX_COSMO} --seed 18446744073709551616 --out bad.h5)
file(WRITE "${WORK_DIR}/negative_seed.toml" "dim = 2\nseed = -1\n")
run_case("a negative seed in the TOML file is refused" 2 "negative_seed.toml:2: 'seed' must be at least 0, not -1"
         ${mpi} -n 2 ${PLX_COSMO} negative_seed.toml --out bad.h5)
file(WRITE "${WORK_DIR}/n1.toml" "dim = 2\nn = 1\n")
run_case("a bad value in the TOML file names file, line and key" 2 "n1.toml:2: 'n' must be at least 2, not 1"
         ${mpi} -n 2 ${PLX_COSMO} n1.toml --out bad.h5)
run_case("a bad value from a flag over the file is named by the flag" 2 "error[^:\n]*: --n must be at least 2, not 1"
         ${PLX_COSMO} n1.toml --n 1 --out bad.h5)
file(WRITE "${WORK_DIR}/cdm.toml" "dim = 2\n[spectrum]\nmodel = \"cdm\"\n")
run_case("an unknown spectrum in the TOML file names file, line and key" 2
         "cdm.toml:3: 'spectrum.model': unknown spectrum model 'cdm'" ${mpi} -n 2 ${PLX_COSMO} cdm.toml --out bad.h5)
file(WRITE "${WORK_DIR}/times.toml" "times = [0.0, 2.0, 1.0]\n")
run_case("times not increasing in the TOML file names file, line and key" 2
         "times.toml:1: 'times' must be increasing" ${PLX_COSMO} times.toml --out bad.h5)
file(WRITE "${WORK_DIR}/no_table.toml" "[spectrum]\nmodel = \"table\"\ntable = \"no-such-table.dat\"\n")
run_case("a missing table in the TOML file names file, line and key" 2
         "no_table.toml:3: 'spectrum.table': cannot open spectrum table 'no-such-table.dat'"
         ${PLX_COSMO} no_table.toml --out bad.h5)
expect_no_file(bad.h5 "bad numbers and seeds")

# A run with defaults on 2 ranks, then a second one refused without --force.
run_case("defaults on 2 ranks" 0 "wrote cosmo.h5" ${mpi} -n 2 ${PLX_COSMO} --quiet)
foreach(f cosmo.h5 cosmo.xmf)
  if(NOT EXISTS "${WORK_DIR}/${f}")
    message(SEND_ERROR "defaults: ${f} was not written")
  endif()
endforeach()
run_case("existing output is kept without --force" 2 "--force" ${mpi} -n 2 ${PLX_COSMO} --quiet)
expect_one_clean_line("existing output is kept without --force")
run_case("--force overwrites" 0 "wrote cosmo.h5" ${mpi} -n 2 ${PLX_COSMO} --quiet --force)

# TOML file, overridden by a flag; JSON timings.
file(WRITE "${WORK_DIR}/small.toml" "dim = 3\nn = 16\nbox = 100.0\ntimes = [0.0, 1.0]\nout = \"small.h5\"\n[spectrum]\nmodel = \"eisenstein-hu\"\n")
set(num "[0-9.e-]+")  # a JSON number as the apps write it: 0.25, 12.0, 1e-06
run_case("toml + flags + json" 0
         "\"noise\": ${num}, \"density\": ${num}, \"potential\": ${num}, \"displacement\": ${num}, \"frames\": ${num}, \"power_spectrum\": ${num}, \"write\": ${num}, \"plan\": ${num}, \"total\": ${num}, \"peak_rss_mb\": \\[${num}, ${num}, ${num}\\], \"memory_estimate_mb\": \\[${num}, ${num}, ${num}\\], \"dim\": 3, \"n\": 12, \"ranks\": 3, \"threads\": [0-9]+, \"out\": \"small.h5\"}"
         ${mpi} -n 3 ${PLX_COSMO} small.toml --n 12 --json --quiet)
expect_json("toml + flags + json is JSON" dim=3 n=12 ranks=3 out=small.h5)
if(NOT EXISTS "${WORK_DIR}/small.h5")
  message(SEND_ERROR "toml: small.h5 was not written")
endif()
file(WRITE "${WORK_DIR}/typo.toml" "dim = 2\nbxo = 3\n")
run_case("a typo in the TOML file names the line" 2 "typo.toml:2: unknown key .bxo."
         ${PLX_COSMO} typo.toml)

# Ranks that own no slab still take part (N = 3 planes over 4 ranks), and every dataset is bitwise the
# same as a 1-rank run (h5diff without a tolerance compares exactly).
find_program(H5DIFF h5diff REQUIRED)
run_case("1 rank, N = 3" 0 "wrote one.h5" ${mpi} -n 1 ${PLX_COSMO} --dim 3 --n 3 --times 0,1,2 --out one.h5 --quiet)
run_case("4 ranks, N = 3 (one rank owns nothing)" 0 "wrote four.h5"
         ${mpi} -n 4 ${PLX_COSMO} --dim 3 --n 3 --times 0,1,2 --out four.h5 --quiet --threads 2)
foreach(dataset /density /potential /displacement /frames/000/density /frames/002/density /power_spectrum/power
                /power_spectrum/k /power_spectrum/modes)
  run_case("${dataset} identical on 1 and 4 ranks" 0 "" ${H5DIFF} one.h5 four.h5 ${dataset} ${dataset})
endforeach()

# The plotting tool renders the four pictures of a run.
find_program(SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)
run_case("plot.py renders a run" 0 "power_spectrum.png"
         ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../../apps/cosmo/plot.py one.h5 --out pictures --dpi 40)
foreach(picture density potential frames power_spectrum)
  if(NOT EXISTS "${WORK_DIR}/pictures/${picture}.png")
    message(SEND_ERROR "plot.py: ${picture}.png missing")
  endif()
endforeach()
# Seeds are unsigned 64-bit: the largest one, and one above 2^63 from the TOML file (a string there, as
# TOML's integers end at 2^63 - 1), reach the file unchanged as H5T_STD_U64LE.
find_program(H5DUMP h5dump REQUIRED)
run_case("the largest seed" 0 "wrote seed-max.h5"
         ${mpi} -n 2 ${PLX_COSMO} --n 8 --times 0,1 --seed 18446744073709551615 --out seed-max.h5 --quiet)
run_case("the largest seed is stored unchanged" 0 "H5T_STD_U64LE.*\\(0\\): 18446744073709551615\n" ${H5DUMP} -a /seed seed-max.h5)
file(WRITE "${WORK_DIR}/big_seed.toml" "seed = \"10000000000000000000\"\nn = 8\ntimes = [0.0, 1.0]\nout = \"seed-big.h5\"\n")
run_case("a seed above 2^63 from the TOML file" 0 "wrote seed-big.h5" ${mpi} -n 2 ${PLX_COSMO} big_seed.toml --quiet)
run_case("h5py reads the seed back unchanged" 0 "^10000000000000000000 uint64\n"
         ${SYSTEM_PYTHON} -c "import h5py, sys\ns = h5py.File(sys.argv[1], 'r').attrs['seed']\nprint(int(s), s.dtype)" seed-big.h5)
run_case("h5dump reads the seed back unchanged" 0 "\\(0\\): 10000000000000000000\n" ${H5DUMP} -a /seed seed-big.h5)

# --json: one JSON object whose "out" is the path as given, even with a quote and a backslash in it.
set(weird_path "we\"ird\\name.h5")
run_case("--json with a quote and a backslash in --out" 0 "\"out\": "
         ${mpi} -n 2 ${PLX_COSMO} --n 8 --times 0,1 --json --quiet --out ${weird_path})
expect_json("--json with a quote and a backslash in --out" "out=${weird_path}" dim=2 n=8 ranks=2)

run_case("plot.py names a missing file" 2 "no-such.h5" ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../../apps/cosmo/plot.py no-such.h5)
# Its first line names Debian's python, the one bootstrap.sh installs h5py and matplotlib for; a python without
# them (-S: no site packages) gets a message naming the interpreter and the packages, not a traceback.
run_case("plot.py runs as a program" 2 "no-such.h5" ${CMAKE_CURRENT_LIST_DIR}/../../apps/cosmo/plot.py no-such.h5)
run_case("plot.py without h5py says what to install" 1 "python3-h5py"
         ${SYSTEM_PYTHON} -S ${CMAKE_CURRENT_LIST_DIR}/../../apps/cosmo/plot.py one.h5)
