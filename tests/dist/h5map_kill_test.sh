#!/usr/bin/env bash
# map_to_h5 under kill -9: a run killed (mpiexec and every rank) at random instants, during writes too,
# then resumed until it finishes, gives a file that h5diff finds identical to an uninterrupted run's, and
# the resumed runs computed fewer rows than there are.
#
#   h5map_kill_test.sh DRIVER MPIEXEC [MPIEXEC_ARGS...]
set -euo pipefail
driver=$1
shift
mpiexec=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/reference" "$work/killed"

# The same command line in both directories, so that the command_line attributes match too.
(cd "$work/reference" && "${mpiexec[@]}" -n 2 "$driver" out.h5 --resume >/dev/null)

kills=0
attempt=0
for delay in 1.3 1.8 1.5 2.2 1.6 2.0; do  # MPI starts in about 1 s here
  [ -e "$work/killed/out.h5" ] && break
  attempt=$((attempt + 1))
  (cd "$work/killed" && exec "${mpiexec[@]}" -n 2 "$driver" out.h5 --resume >"$work/attempt.$attempt" 2>&1) &
  launcher=$!
  sleep "$delay"
  if [ -z "$(grep '^computed' "$work/attempt.$attempt" 2>/dev/null)" ]; then
    # Open MPI puts each rank in a process group of its own: kill the ranks (mpiexec's children), then it.
    ranks=$(pgrep -P "$launcher" || true)
    kill -9 $ranks "$launcher" 2>/dev/null || true
    kills=$((kills + 1))
  fi
  wait "$launcher" 2>/dev/null || true
  # Every rank gone before the next attempt.
  for _ in $(seq 50); do { [ -n "${ranks:-}" ] && kill -0 $ranks 2>/dev/null; } || break; sleep 0.1; done
done
[ "$kills" -gt 0 ] || { echo "FAIL: no run was killed (the driver finished too fast)"; exit 1; }
if [ -e "$work/killed/out.h5" ]; then  # the last attempt finished before its kill
  partial_rows=$(grep '^computed' "$work/attempt.$attempt")
else
  partial_rows=$(cd "$work/killed" && "${mpiexec[@]}" -n 2 "$driver" out.h5 --resume | grep '^computed')
fi
echo "after $kills kills, the last run: $partial_rows"
computed=${partial_rows#computed }
computed=${computed%% of*}
total=${partial_rows##* of }
[ "$computed" -lt "$total" ] || { echo "FAIL: the resumed run computed every row again"; exit 1; }
for leftover in out.h5.partial out.h5.journal; do
  [ ! -e "$work/killed/$leftover" ] || { echo "FAIL: $leftover left behind"; exit 1; }
done
h5diff "$work/reference/out.h5" "$work/killed/out.h5"
echo "identical to the uninterrupted run"

# A second run while the first holds the work files (the "use --resume" advice followed too early) is
# refused at once with exit 2, naming the holder; it used to write into the same partial and journal.
mkdir "$work/locked"
(cd "$work/locked" && exec "${mpiexec[@]}" -n 2 "$driver" out.h5 --n 100000 >/dev/null 2>&1) &
first=$!
for _ in $(seq 300); do [ -e "$work/locked/out.h5.journal" ] && break; sleep 0.1; done
set +e
second=$(cd "$work/locked" && "${mpiexec[@]}" -n 2 "$driver" out.h5 --n 100000 --resume 2>&1)
code=$?
set -e
ranks=$(pgrep -P "$first" || true)
kill -9 $ranks "$first" 2>/dev/null || true
wait "$first" 2>/dev/null || true
if [ "$code" != 2 ] || ! grep -q "in use by another run (host .* pid [0-9]*" <<<"$second"; then
  echo "FAIL: a second run on the same work files: exit $code: $second"
  exit 1
fi
echo "a second run is refused: $(grep -m1 '^error' <<<"$second")"
