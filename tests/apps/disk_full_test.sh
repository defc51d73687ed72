#!/usr/bin/env bash
# A full disk is an error, never a hang: the apps write onto a 2 MiB tmpfs and must exit non-zero within
# seconds, on every rank, naming the file and "No space left on device", and leave no temporary file.
#   cosmo: plx-cosmo at 2 ranks (the slab write fails on the rank that writes) and 3 ranks (Open MPI loses the
#          ENOSPC of some writes; the close must notice).
#   run:   plx-run whose tasks fill the disk, so that summary.h5 cannot be written, and then so that the
#          journal append fails; the journal stays readable and --resume, after the file system is grown,
#          completes the run.
# Mounting needs root: otherwise the test reports itself skipped (exit 77); the injected one-rank failures
# of tests/io/hdf5_test.cpp cover the same code paths without it.
#   ensemble: plx-ensemble's row store on a full disk, and its resume on a nearly full one (see the case).
# Usage: disk_full_test.sh cosmo|run|ensemble PLX_COSMO_OR_PLX_RUN_OR_PLX_ENSEMBLE MPIEXEC WORK_DIR
set -u
CASE=$1
APP=$2
MPIEXEC=$3
WORK=$4
# A hang is what this test is about: each run gets this long before it counts as hung (it takes seconds).
HANG_S=60

if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: mounting a small tmpfs needs root"
  exit 77
fi
full=$WORK/full
mountpoint -q "$full" 2>/dev/null && umount "$full"
rm -rf "$WORK" && mkdir -p "$full" || exit 1
if ! mount -t tmpfs -o size=2m tmpfs "$full"; then
  echo "skipped: cannot mount a tmpfs here"
  exit 77
fi
# Unmounted however the test ends (failure, ctest's timeout sends SIGTERM).
trap 'cd /; umount "$full" 2>/dev/null || umount -l "$full"' EXIT
trap 'exit 1' TERM INT
cd "$WORK" || exit 1

mpi=("$MPIEXEC" --oversubscribe)
failures=0
ok() { echo "ok: $*"; }
bad() { echo "FAILED: $*"; failures=$((failures + 1)); }

# fails NAME REGEX... -- command: exits non-zero (not by the hang timeout) with output matching every REGEX
fails() {
  local name=$1
  shift
  local regexes=()
  while [ "$1" != "--" ]; do regexes+=("$1"); shift; done
  shift
  local out got start=$SECONDS
  out=$(timeout -k 5 "$HANG_S" "$@" 2>&1)
  got=$?
  if [ "$got" = 124 ] || [ "$got" = 137 ]; then bad "$name: hung (killed after ${HANG_S} s): $out"; return; fi
  if [ "$got" = 0 ]; then bad "$name: exit 0 on a full disk: $out"; return; fi
  for regex in "${regexes[@]}"; do
    grep -Eq -- "$regex" <<<"$out" || { bad "$name: output lacks '$regex': $out"; return; }
  done
  ok "$name (exit $got after $((SECONDS - start)) s)"
  grep -m1 '^error' <<<"$out"
}

# no_temporaries NAME DIR: no "*.tmp.*" file left in DIR
no_temporaries() {
  local left
  left=$(find "$2" -maxdepth 1 -name '*.tmp.*' 2>/dev/null)
  [ -z "$left" ] && ok "$1: no temporary file left" || bad "$1: temporary files left: $left"
}

case "$CASE" in
  cosmo)
    for ranks in 2 3; do
      n=$([ "$ranks" = 2 ] && echo 512 || echo 256)
      fails "plx-cosmo on $ranks ranks, --n $n, full disk" "No space left on device" "c$ranks\.h5" -- \
        "${mpi[@]}" -n "$ranks" "$APP" --n "$n" --out "$full/c$ranks.h5" --quiet
      no_temporaries "plx-cosmo on $ranks ranks" "$full"
      [ -e "$full/c$ranks.h5" ] && bad "plx-cosmo on $ranks ranks: c$ranks.h5 exists" || ok "no c$ranks.h5"
      rm -f "$full"/*
    done
    ;;
  run)
    # 8 tasks of 400 kB: the last ones fail for want of space, then summary.h5 cannot be written.
    for i in $(seq 0 7); do echo 'head -c 400000 /dev/zero'; done > summary.txt
    fails "plx-run, summary.h5 on a full disk" "No space left on device" "summary\.h5" -- \
      "${mpi[@]}" -n 2 "$APP" summary.txt --workdir "$full/s" --quiet
    no_temporaries "plx-run summary" "$full/s"
    # 60 tasks of 100 kB: once the disk is full, the journal's next page cannot be allocated.
    for i in $(seq 0 59); do echo 'head -c 100000 /dev/zero'; done > journal.txt
    rm -rf "$full/s/tasks"
    fails "plx-run, journal on a full disk" "No space left on device" "journal" -- \
      "${mpi[@]}" -n 2 "$APP" journal.txt --workdir "$full/j" --quiet
    no_temporaries "plx-run journal" "$full/j"
    for dir in s j; do
      # Complete lines only: the failed append was cut off again (the reader would ignore a torn one too).
      [ "$(tail -c 1 "$full/$dir/journal" | od -An -c | tr -d ' ')" = '\n' ] &&
        ok "journal $dir ends with a complete record" || bad "journal $dir ends with a partial line"
    done
    # Space freed (the file system grown), --resume completes both runs.
    mount -o remount,size=64m "$full" || bad "cannot grow the tmpfs"
    for pair in "s summary.txt 8" "j journal.txt 60"; do
      set -- $pair
      out=$(timeout -k 5 "$HANG_S" "${mpi[@]}" -n 2 "$APP" "$2" --workdir "$full/$1" --resume --quiet 2>&1)
      got=$?
      if [ "$got" = 0 ] && grep -q "$3 tasks: $3 succeeded" <<<"$out" && [ -f "$full/$1/summary.h5" ]; then
        ok "--resume after freeing space ($2)"
      else
        bad "--resume after freeing space ($2): exit $got: $out"
      fi
      no_temporaries "plx-run --resume ($2)" "$full/$1"
    done
    ;;
  ensemble)
    # plx-ensemble (map_to_h5's row store) on a full disk, issue 18: the writer's failure mid-map is one line;
    # a resume that rebuilds its file on a disk with a few KB free fails without losing the rows, and the
    # resume after it, with space, commits a file equal to an uninterrupted run's (it committed zeros before).
    args=(--realizations 1000 --dim 2 --n 16 --threads 1 --quiet --out e.h5)
    mkdir -p ref && (cd ref && timeout -k 5 "$HANG_S" "${mpi[@]}" -n 2 "$APP" "${args[@]}" >/dev/null 2>&1) ||
      bad "the reference run failed"
    # one_line NAME OUT: exactly one line from parallax, no "writing the last rows", no HDF5 stack
    one_line() {
      local lines
      lines=$(grep -Ec '^(error|parallax)' <<<"$2")
      [ "$lines" = 1 ] && ! grep -Eq 'HDF5-DIAG|writing the last rows' <<<"$2" && ok "$1: one line" ||
        bad "$1: $lines lines: $2"
    }
    # Another file fills the disk but 64 KiB (a file system smaller than the output is refused up front).
    cd "$full" || exit 1
    head -c $(($(df -B1 --output=avail "$full" | tail -1) - 65536)) /dev/zero >filler 2>/dev/null
    out=$(timeout -k 5 "$HANG_S" "${mpi[@]}" -n 2 "$APP" "${args[@]}" 2>&1)
    got=$?
    [ "$got" = 1 ] && grep -q "No space left on device" <<<"$out" && ok "plx-ensemble, rows on a full disk: exit 1" ||
      bad "plx-ensemble, rows on a full disk: exit $got: $out"
    one_line "plx-ensemble, rows on a full disk" "$out"
    rm -f "$full"/*
    # Every row durable, then the summary's write fails: the resume must rebuild the file (its metadata changed).
    PLX_FAULT=hdf5.write@0,after=40 timeout -k 5 "$HANG_S" "${mpi[@]}" -n 2 "$APP" "${args[@]}" >/dev/null 2>&1
    [ -e e.h5.journal ] && ok "the rows are kept for a resume" || bad "no journal after the failed summary"
    free=$(df -B1 --output=avail "$full" | tail -1)
    head -c $((free - 6000)) /dev/zero >filler 2>/dev/null
    out=$(timeout -k 5 "$HANG_S" "${mpi[@]}" -n 2 "$APP" "${args[@]}" --resume 2>&1)
    got=$?
    case $got in
      0) bad "a resume on a disk with $(df -B1 --output=avail "$full" | tail -1) bytes free: exit 0: $out" ;;
      124 | 137) bad "a resume on a nearly full disk hung: $out" ;;
      1) ok "a resume on a nearly full disk: exit 1" ;;
      *) bad "a resume on a nearly full disk: exit $got: $out" ;;
    esac
    rm -f filler
    out=$(timeout -k 5 "$HANG_S" "${mpi[@]}" -n 2 "$APP" "${args[@]}" --resume 2>&1)
    got=$?
    [ "$got" = 0 ] && grep -q "(0 computed now)" <<<"$out" && ok "the resume with space: exit 0, no row computed again" ||
      bad "the resume with space: exit $got: $out"
    if /usr/bin/python3 - "$WORK/ref/e.h5" "$full/e.h5" <<'PY'; then ok "identical to the uninterrupted run"; else bad "the resumed file differs"; fi
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
for name in names:
    assert a[name][()].tobytes() == b[name][()].tobytes(), name
PY
    left=$(ls "$full" | grep -v '^e\.h5$')
    [ -z "$left" ] && ok "no work file left" || bad "left behind: $left"
    cd "$WORK" || exit 1
    ;;
  *)
    echo "unknown case '$CASE'"
    exit 2
    ;;
esac

[ "$failures" = 0 ] && echo "all passed" || echo "$failures failed"
[ "$failures" = 0 ]
