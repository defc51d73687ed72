# plx-web as a user runs it on a plx-cosmo file: bad input (not a plx-cosmo file, no /potential, times not
# increasing, an unwritable or existing output) refused with one message naming it, exit code 2 and no output
# file; a failed write or read on one rank only; a run's datasets and attributes; the trace of the tensor
# equal to the cosmology run's density; bitwise the same file on 1 and 3 ranks.
# Run by ctest as: cmake -DPLX_WEB=... -DPLX_COSMO=... -DMPIEXEC=... -DWORK_DIR=... -P web_cli_test.cmake
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(mpi ${MPIEXEC} --oversubscribe)

include(${CMAKE_CURRENT_LIST_DIR}/run_case.cmake)
find_program(SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)
find_program(H5DIFF h5diff REQUIRED)
find_program(H5DUMP h5dump REQUIRED)

run_case("--help" 0 "input.*--times.*none.*--domains.*--threshold.*--min-node-mass.*--min-filament-mass.*--out.*--force.*--json.*--progress"
         ${PLX_WEB} --help)

# The inputs: a 3D and a 2D cosmology run.
run_case("plx-cosmo 3D" 0 "wrote cosmo3.h5" ${mpi} -n 2 ${PLX_COSMO} --dim 3 --n 20 --times 0,1 --out cosmo3.h5 --quiet)
run_case("plx-cosmo 2D" 0 "wrote cosmo2.h5" ${mpi} -n 2 ${PLX_COSMO} --n 48 --times 0,1 --out cosmo2.h5 --quiet)

# Bad input: one line from root, exit code 2, no output.
run_case("a missing input" 2 "no-such.h5" ${mpi} -n 2 ${PLX_WEB} --quiet no-such.h5 --out bad.h5)
expect_one_clean_line("a missing input")
file(WRITE "${WORK_DIR}/notes.txt" "not HDF5\n")
run_case("an input that is not HDF5" 2 "input 'notes.txt'" ${mpi} -n 2 ${PLX_WEB} --quiet notes.txt --out bad.h5)
expect_one_clean_line("an input that is not HDF5")
# (Python through files: a ';' in a command would split it into CMake list items.)
file(WRITE "${WORK_DIR}/other.py" "import h5py\nh5py.File('other.h5', 'w')['/x'] = [1.0, 2.0]\n")
run_case("an HDF5 file that plx-cosmo did not write" 0 "" ${SYSTEM_PYTHON} other.py)
run_case("not a plx-cosmo file" 2 "input 'other.h5' is not a plx-cosmo file: it has no attribute 'dim'"
         ${mpi} -n 2 ${PLX_WEB} --quiet other.h5 --out bad.h5)
expect_one_clean_line("not a plx-cosmo file")
file(WRITE "${WORK_DIR}/no_potential.py"
     "import h5py, shutil\nshutil.copy('cosmo2.h5', 'no_potential.h5')\ndel h5py.File('no_potential.h5', 'a')['/potential']\n")
run_case("a plx-cosmo file without /potential" 0 "" ${SYSTEM_PYTHON} no_potential.py)
run_case("missing /potential" 2 "input 'no_potential.h5' has no /potential"
         ${mpi} -n 2 ${PLX_WEB} --quiet no_potential.h5 --out bad.h5)
expect_one_clean_line("missing /potential")
run_case("times not increasing" 2 "--times must be increasing: 2.000000 is followed by 1.000000"
         ${mpi} -n 2 ${PLX_WEB} --quiet cosmo2.h5 --times 0,2,1 --out bad.h5)
expect_one_clean_line("times not increasing")
run_case("times that do not parse" 2 "--times: 'x' is not a number" ${PLX_WEB} --quiet cosmo2.h5 --times 0,x --out bad.h5)
run_case("--domains beyond the grid's planes" 2 "--domains 49 is more than the grid's 48 planes"
         ${mpi} -n 2 ${PLX_WEB} --quiet cosmo2.h5 --domains 49 --out bad.h5)
expect_one_clean_line("--domains beyond the grid's planes")
run_case("a negative --domains" 2 "--domains must be at least 0, not -1" ${PLX_WEB} --quiet cosmo2.h5 --domains -1 --out bad.h5)
run_case("a negative --min-node-mass" 2 "--min-node-mass must be at least 0, not -1"
         ${PLX_WEB} --quiet cosmo2.h5 --min-node-mass -1 --out bad.h5)
expect_no_file(bad.h5 "bad input")
file(MAKE_DIRECTORY "${WORK_DIR}/a_directory")
run_case("output in a missing directory" 2 "no-such-dir.*does not exist" ${mpi} -n 2 ${PLX_WEB} --quiet cosmo2.h5 --out no-such-dir/w.h5)
expect_one_clean_line("output in a missing directory")
run_case("a directory as the output" 2 "a_directory.*is a directory" ${mpi} -n 2 ${PLX_WEB} --quiet cosmo2.h5 --out a_directory)
expect_one_clean_line("a directory as the output")
run_case("the input as the output" 2 "--out 'cosmo2.h5' is the input file" ${mpi} -n 2 ${PLX_WEB} --quiet cosmo2.h5 --out cosmo2.h5 --force)

# A potential that is not finite (issue 18, case 6), and a grid whose model cannot fit in a node (case 12): bad
# input, found before any work, one line, exit 2, no output.
foreach(bad nan inf)
  file(WRITE "${WORK_DIR}/${bad}.py"
       "import h5py, shutil\nshutil.copy('cosmo2.h5', '${bad}.h5')\nh5py.File('${bad}.h5', 'a')['/potential'][40, 7] = float('${bad}')\n")
  run_case("a potential holding ${bad}: the file" 0 "" ${SYSTEM_PYTHON} ${bad}.py)
  run_case("a potential holding ${bad}" 2 "error: input '${bad}.h5': /potential holds -?${bad} at cell 1927 \\(C order\\)"
           ${mpi} -n 2 ${PLX_WEB} --quiet ${bad}.h5 --out bad.h5)
  expect_one_clean_line("a potential holding ${bad}")
endforeach()
# (The dataset is declared, never written: the file stays small.)
file(WRITE "${WORK_DIR}/huge.py"
     "import h5py, numpy\nf = h5py.File('huge.h5', 'w')\nf.attrs['dim'] = 3\nf.attrs['N'] = 4096\nf.attrs['L'] = 50.0\n"
     "f.attrs['seed'] = numpy.uint64(1)\nf.create_dataset('/potential', shape=(4096, 4096, 4096), dtype='f8')\n")
run_case("a 4096^3 input: the file" 0 "" ${SYSTEM_PYTHON} huge.py)
run_case("a 4096^3 input beyond the node" 2 "error: the 4096\\^3 input grid needs about [0-9.]+ GiB on a node that has"
         ${mpi} -n 2 ${PLX_WEB} --quiet huge.h5 --out bad.h5)
expect_one_clean_line("a 4096^3 input beyond the node")
expect_no_file(bad.h5 "input that is not finite or too large")

# A write, or the potential's read, failing on rank 1 only: every rank stops, one line, exit 1, no output.
run_case("a full disk on rank 1 only" 1 "error: (H5Dwrite|pwrite) failed.*injected.h5.tmp.*No space left on device"
         ${CMAKE_COMMAND} -E env PLX_FAULT=hdf5.write@1 ${mpi} -n 2 ${PLX_WEB} --quiet cosmo2.h5 --out injected.h5)
expect_one_clean_line("a full disk on rank 1 only")
expect_no_file(injected.h5 "a full disk on rank 1 only")
run_case("an unreadable potential on rank 1 only" 1 "error: H5Dread failed.*potential"
         ${CMAKE_COMMAND} -E env PLX_FAULT=hdf5.read@1 ${mpi} -n 2 ${PLX_WEB} --quiet cosmo2.h5 --out injected.h5)
expect_one_clean_line("an unreadable potential on rank 1 only")
expect_no_file(injected.h5 "an unreadable potential on rank 1 only")

# A 3D run: datasets, attributes, JSON; then refused without --force, replaced with it.
set(num "[0-9.e-]+")
run_case("3D on 2 ranks, --json" 0
         "\"class_fraction\": \\[${num}, ${num}, ${num}, ${num}\\], \"threshold\": 0.0, \"read\": ${num}, \"deformation\": ${num}, \"deformation_write\": ${num}, \"adhesion\": ${num}, \"total\": ${num}, \"dim\": 3, \"n\": 20, \"times\": 10, \"domains\": 1, \"ranks\": 2, \"threads\": [0-9]+, \"memory_estimate_mb\": ${num}, \"peak_rss_mb\": \\[${num}, ${num}\\], \"out\": \"web3.h5\"}"
         ${mpi} -n 2 ${PLX_WEB} --quiet cosmo3.h5 --out web3.h5 --json)
expect_json("3D --json is JSON" dim=3 n=20 ranks=2 out=web3.h5)
run_case("the classes are uint8 in /density's shape" 0 "H5T_STD_U8LE.*\\( 20, 20, 20 \\)"
         ${H5DUMP} -H -d /deformation/class web3.h5)
run_case("the eigenvalues are N^3 x 3" 0 "H5T_IEEE_F64LE.*\\( 20, 20, 20, 3 \\)" ${H5DUMP} -H -d /deformation/eigenvalues web3.h5)
file(WRITE "${WORK_DIR}/attributes.py" [=[
import sys, h5py
attrs = h5py.File(sys.argv[1], 'r').attrs
names = ['input', 'seed', 'dim', 'N', 'L', 'times', 'threshold', 'min_node_mass', 'min_filament_mass',
         'parallax_version', 'ranks', 'threads', 'command_line']
print(' '.join(f'{name}={attrs[name]}' for name in names).replace('\n', ''))
]=])
run_case("root attributes" 0
         "input=b?'?cosmo3.h5'? seed=42 dim=3 N=20 L=50.0 times=\\[0\\. .* 4\\. *\\] threshold=0.0 min_node_mass=0.0 min_filament_mass=0.0 parallax_version=.* ranks=2 threads=[0-9]+ command_line=.*plx-web --quiet cosmo3.h5 --out web3.h5 --json"
         ${SYSTEM_PYTHON} attributes.py web3.h5)
# Trace = Laplacian of phi = the density that produced it, cell by cell; the fractions sum to 1 and match the
# classes; eigenvalues sorted descending.
set(check [=[
import sys, h5py, numpy as np
web, cosmo = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
ev, cls, delta = web['/deformation/eigenvalues'][...], web['/deformation/class'][...], cosmo['/density'][...]
scale = np.abs(ev).max()
worst = np.abs(ev.sum(axis=-1) - delta).max()
assert worst < 1e-11 * scale, f'trace differs from the density by {worst} (scale {scale})'
assert (np.diff(ev, axis=-1) <= 0).all(), 'eigenvalues not sorted descending'
threshold = web['/deformation/class'].attrs['threshold']
assert (cls == (ev > threshold).sum(axis=-1)).all(), 'classes do not count the eigenvalues above the threshold'
fractions = web['/deformation/class'].attrs['class_fraction']
assert np.allclose(fractions, np.bincount(cls.ravel(), minlength=ev.shape[-1] + 1) / cls.size, rtol=0, atol=1e-15)
print(f'trace ok: {worst:.2e} of {scale:.2e}; fractions {fractions}')
]=])
file(WRITE "${WORK_DIR}/check_web.py" "${check}")
run_case("3D: trace = density, sorted, classes and fractions agree" 0 "trace ok" ${SYSTEM_PYTHON} check_web.py web3.h5 cosmo3.h5)
run_case("existing output is kept without --force" 2 "--force" ${mpi} -n 2 ${PLX_WEB} --quiet cosmo3.h5 --out web3.h5)
expect_one_clean_line("existing output is kept without --force")
run_case("--force overwrites, with a threshold" 0 "wrote web3.h5" ${mpi} -n 2 ${PLX_WEB} --quiet cosmo3.h5 --out web3.h5 --force --threshold 0.2)
run_case("3D with a threshold: classes and fractions agree" 0 "trace ok" ${SYSTEM_PYTHON} check_web.py web3.h5 cosmo3.h5)

# 2D, every dataset bitwise the same on 1 rank and on 3 ranks x 2 threads (h5diff without a tolerance).
run_case("2D on 1 rank" 0 "wrote one.h5" ${mpi} -n 1 ${PLX_WEB} --quiet cosmo2.h5 --out one.h5)
run_case("2D on 3 ranks x 2 threads" 0 "wrote three.h5" ${mpi} -n 3 ${PLX_WEB} --quiet cosmo2.h5 --out three.h5 --threads 2)
run_case("2D: trace = density" 0 "trace ok" ${SYSTEM_PYTHON} check_web.py three.h5 cosmo2.h5)
foreach(dataset /deformation/eigenvalues /deformation/class /adhesion)
  run_case("${dataset} identical on 1 and 3 ranks" 0 "" ${H5DIFF} one.h5 three.h5 ${dataset} ${dataset})
endforeach()

# One time cut into spatial domains (issue 19): 3D, every adhesion dataset bitwise the same on 1 rank in one
# domain, on 3 ranks x 2 threads (automatic: 6 domains for the one time) and on 2 ranks in 7 domains.
run_case("3D one time, 1 rank, 1 domain" 0 "wrote d1.h5" ${mpi} -n 1 ${PLX_WEB} --quiet cosmo3.h5 --times 2 --out d1.h5 --domains 1)
run_case("3D one time, 3 ranks x 2 threads" 0 "\"domains\": 6"
         ${mpi} -n 3 ${PLX_WEB} --quiet cosmo3.h5 --times 2 --out d6.h5 --threads 2 --json)
run_case("3D one time, 2 ranks, 7 domains" 0 "wrote d7.h5" ${mpi} -n 2 ${PLX_WEB} --quiet cosmo3.h5 --times 2 --out d7.h5 --domains 7)
foreach(other d6 d7)
  run_case("/adhesion identical in 1 domain and in ${other}" 0 "" ${H5DIFF} d1.h5 ${other}.h5 /adhesion /adhesion)
endforeach()

# The deformation classes alone (--times none): no /adhesion, the classes as with the times.
run_case("--times none" 0 "wrote classes.h5" ${mpi} -n 2 ${PLX_WEB} --quiet cosmo2.h5 --times none --out classes.h5)
run_case("--times none: the same classes" 0 "" ${H5DIFF} one.h5 classes.h5 /deformation /deformation)
file(WRITE "${WORK_DIR}/no_adhesion.py"
     "import h5py\nf = h5py.File('classes.h5', 'r')\nprint('adhesion' in f, len(f.attrs['times']))\n")
run_case("--times none: no /adhesion" 0 "^False 0" ${SYSTEM_PYTHON} no_adhesion.py)

# The plotting tool renders the classes of a 3D and a 2D run, and names a file without them.
run_case("plot.py renders a 3D run" 0 "classes.png" ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../../apps/web/plot.py web3.h5 --out pictures3 --dpi 40)
run_case("plot.py renders a 2D run" 0 "classes.png" ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../../apps/web/plot.py three.h5 --out pictures2 --dpi 40)
foreach(dir pictures3 pictures2)
  if(NOT EXISTS "${WORK_DIR}/${dir}/classes.png")
    message(SEND_ERROR "plot.py: ${dir}/classes.png missing")
  endif()
endforeach()
run_case("plot.py names a file without classes" 2 "cosmo2.h5: missing /deformation/class"
         ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../../apps/web/plot.py cosmo2.h5)
