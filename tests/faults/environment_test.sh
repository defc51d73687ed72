#!/usr/bin/env bash
# PLX_FAULT and PLX_FAULT_COUNT as a user (or the sweep) sets them: an unknown site or a malformed spec is
# refused with exit 2 and one line naming it; PLX_FAULT_COUNT writes every rank's pass counts.
#
#   environment_test.sh PLX_PI MPIEXEC
set -euo pipefail
pi=$1
mpiexec=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { "$mpiexec" --oversubscribe -n 2 "$pi" --quiet --threads 1 --samples 1e5 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

for spec in hdf5.wirte MPI_Bcats@1 "MPI_Bcast,after=x" "MPI_Bcast,sometimes=1"; do
  rc=0
  PLX_FAULT=$spec run >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "PLX_FAULT=$spec exited $rc, not 2: $(cat "$work/err")"
  grep -q "PLX_FAULT" "$work/err" || fail "PLX_FAULT=$spec: the message does not name PLX_FAULT: $(cat "$work/err")"
done

PLX_FAULT_COUNT="$work/counts" run >/dev/null
for rank in 0 1; do
  [ -s "$work/counts.$rank" ] || fail "no counts for rank $rank"
  grep -Eq '^MPI_Allreduce [1-9][0-9]*$' "$work/counts.$rank" || fail "rank $rank counted no MPI_Allreduce: $(cat "$work/counts.$rank")"
done

# An armed MPI failure at a counted pass ends the run with exit 1.
rc=0
PLX_FAULT="MPI_Allreduce@1,after=0" run >/dev/null 2>"$work/err" || rc=$?
[ "$rc" -eq 1 ] || fail "an injected MPI_Allreduce failure exited $rc: $(cat "$work/err")"
echo "PLX_FAULT and PLX_FAULT_COUNT behave"
