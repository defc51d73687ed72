#!/usr/bin/env bash
# parallax bootstrap: installs the Debian 12 packages that are missing, builds in Release, and runs.
#
#   ./bootstrap.sh run [plx-cosmo options] set up, build the library and the apps (not the tests), run the
#                                         main job: plx-cosmo on 2 ranks with the
#                                         workshop defaults, output in build/run/cosmo.h5 (+ .xmf)
#   ./bootstrap.sh install [PREFIX]       set up, build the apps, install them into PREFIX (default ~/.local:
#                                         bin/plx-*, bin/plx-plot, share/parallax/plot) and print the PATH line
#   ./bootstrap.sh test                   set up, build, run the whole test suite (ctest), the jobscripts
#                                         through a local SLURM cluster included (as root or with sudo)
#   ./bootstrap.sh deps                   only install missing packages (those of the tests too)
#   ./bootstrap.sh build [preset]         only build (presets: release, debug, asan)
#   ./bootstrap.sh bench                  build and run the benchmarks with their peers (docs/performance.md)
#   ./bootstrap.sh faults [sweep options] build and run the whole fault sweep (tests/faults/sweep.py: every fault
#                                         site of every app, kill -9, SIGINT, SIGTERM); the report goes to
#                                         build/faults/ (table.txt, runs.jsonl). ctest runs a bounded part of it.
#
# Works as root or as a user with sudo. As root it also sets Open MPI's run-as-root variables, so the
# commands above need no MPI knowledge.
set -euo pipefail
cd "$(dirname "$0")"

packages=(g++ make cmake git pkg-config libopenmpi-dev openmpi-bin libfftw3-dev libfftw3-mpi-dev
          libhdf5-openmpi-dev hdf5-tools libeigen3-dev libgtest-dev libcli11-dev libfmt-dev libcereal-dev
          librandom123-dev libtomlplusplus-dev nlohmann-json3-dev python3-h5py python3-matplotlib python3-xarray python3-h5netcdf
          libcgal-dev libgmp-dev libmpfr-dev libtbb-dev)
# The test suite also runs jobscripts/ through a local SLURM cluster (tests/slurm/local_cluster.sh); srun's
# PMIx plugin loads libpmix.so, which only the -dev package provides. doxygen builds the API reference, which
# the ctest docs_api_reference checks.
test_packages=(slurmctld slurmd slurm-client munge libpmix-dev python3-scipy doxygen)
bench_packages=(python3-joblib python3-mpi4py python3-numpy parallel python3-scipy)

say() { printf '==> %s\n' "$*" >&2; }

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  # Packages with daemons (munge, slurmctld, slurmd) would start them on installation, unconfigured, and a
  # failed start fails the installation: the standard policy-rc.d "101" stops that for the installation's
  # length. The tests start the daemons they need themselves (tests/slurm/local_cluster.sh).
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    own_policy=1
  fi
  local status=0
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    status=$?
  [ $own_policy -eq 0 ] || "${sudo[@]}" rm -f "$policy"
  return $status
}

mpi_environment() {
  if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
}

build() {
  local preset=${1:-release}
  say "building ($preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
}

# The library and the apps only (no tests): the first result sooner.
build_apps() {
  say "building the library and the apps (release; ./bootstrap.sh test builds the tests too)"
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target plx-apps
}

# mpiexec flags for this machine: allow more ranks than cores (2 ranks on a 1-core machine, tests at 4).
mpi_flags() {
  # Open MPI 4 names itself "mpiexec (OpenRTE) 4.1.4", later ones "mpiexec (Open MPI) 5.x".
  if mpiexec --version 2>/dev/null | grep -Eq "Open MPI|OpenRTE"; then echo "--oversubscribe"; fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  run)
    install_missing "${packages[@]}"
    build_apps
    mpi_environment
    mkdir -p build/run
    say "running: mpiexec -n 2 plx-cosmo --out build/run/cosmo.h5 --force $*"
    mpiexec -n 2 $(mpi_flags) build/release/apps/plx-cosmo --out build/run/cosmo.h5 --force "$@"
    say "pictures: apps/plot/plx-plot build/run/cosmo.h5"
    say "to run the apps by name (mpirun -n 2 plx-cosmo ...): ./bootstrap.sh install, then"
    say "  export PATH=\"$HOME/.local/bin:\$PATH\" PYTHONPATH=\"$HOME/.local/share/parallax/python:\$PYTHONPATH\""
    ;;
  install)
    prefix=$(realpath -m "${1:-$HOME/.local}")  # absolute: the PATH line must work from anywhere
    install_missing "${packages[@]}"
    build_apps
    say "installing into $prefix"
    cmake --install build/release --prefix "$prefix" >/dev/null
    say "installed plx-pi plx-cosmo plx-ensemble plx-web plx-run plx-bench plx-plot in $prefix/bin, and the Python"
    say "reader (import parallax) in $prefix/share/parallax/python; add them to PATH and PYTHONPATH:"
    echo "export PATH=\"$prefix/bin:\$PATH\" PYTHONPATH=\"$prefix/share/parallax/python:\$PYTHONPATH\""
    ;;
  test)
    install_missing "${packages[@]}" "${test_packages[@]}"
    build release
    mpi_environment
    say "testing"
    ctest --preset release -j "$(nproc)"
    ;;
  deps)
    install_missing "${packages[@]}" "${test_packages[@]}"
    ;;
  faults)
    install_missing "${packages[@]}" "${test_packages[@]}"
    build release
    mpi_environment
    mkdir -p build/faults
    say "fault sweep: every site of every app on 2 and 3 ranks, then kill -9, SIGINT and SIGTERM (hours with the defaults on 2 cores; --max-per-site 2: about an hour)"
    /usr/bin/python3 tests/faults/sweep.py --build build/release --crashes 20 --signals --full-disk \
      --mpiexec "mpiexec $(mpi_flags)" --jsonl build/faults/runs.jsonl --work build/faults/runs "$@" |
      tee build/faults/table.txt
    ;;
  build)
    install_missing "${packages[@]}"
    build "${1:-release}"
    ;;
  bench)
    install_missing "${packages[@]}" "${bench_packages[@]}"
    build release
    mpi_environment
    # One session, parallax and its peers back to back, so their ratios compare like with like.
    bench=build/release/apps/plx-bench
    mpiexec -n 2 $(mpi_flags) $bench dispatch --json --quiet
    # Small calls in one run (issue 12): 2 x 1 uncrowded (the third rank sleeps), 3 x 1, and 3 x 2 crowded, each
    # with its MPI floor; then 3 x 2 with spinning OpenMP threads (the user's GOMP_SPINCOUNT keeps libgomp's
    # default, what every crowded run paid before).
    mpiexec -n 3 $(mpi_flags) $bench calls --json --quiet --threads 2 --layouts 2x1,3x1,3x2
    GOMP_SPINCOUNT=300000 mpiexec -n 3 $(mpi_flags) $bench calls --json --quiet --threads 2 --layouts 3x2 --calls 200
    mpiexec -n 2 $(mpi_flags) $bench balance --json --quiet --repeats 3
    mpiexec -n 1 --bind-to none $bench balance --json --quiet --threads 2 --repeats 3
    /usr/bin/python3 apps/bench/peers.py --json
    mpiexec -n 2 $(mpi_flags) $bench farm --json --quiet --threads 1
    for plan in estimate measure; do
      mpiexec -n 1 --bind-to none $bench fft --json --quiet --threads 2 --plan $plan --repeats 5
      mpiexec -n 2 $(mpi_flags) $bench fft --json --quiet --threads 1 --plan $plan --repeats 5
    done
    /usr/bin/python3 apps/cosmo/workshop_numpy.py --dim 3 --n 256 --variant fftn --repeats 3 --json
    /usr/bin/python3 apps/cosmo/workshop_numpy.py --dim 3 --n 256 --variant rfftn --repeats 3 --json
    # plx-ensemble and its numpy peer (multiprocessing.Pool(2)), both in each run: 3D N = 64, one evolved time.
    mpiexec -n 2 $(mpi_flags) $bench ensemble --json --quiet --threads 1
    # map_to_h5 against dd, same bytes, same file system (the build directory's).
    mpiexec -n 2 $(mpi_flags) $bench h5map --json --quiet --threads 1 --dir build
    mpiexec -n 1 --bind-to none $bench ensemble --json --quiet --threads 2
    # The adhesion model and its scipy peer: 2D N = 256 at 10 times, 3D N = 64 at D = 2 (scipy: minutes).
    mpiexec -n 1 --bind-to none $bench web --json --quiet --threads 2
    ;;
  *)
    sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'   # the comment block at the top, only
    [ -z "$command" ] || [ "$command" = "-h" ] || [ "$command" = "--help" ] || exit 2
    ;;
esac
