#!/usr/bin/env bash
# checkpointed_map's group commit under kill -9: runs killed (mpiexec and every rank) at random instants,
# between and during group commits, then resumed until one finishes, return the uninterrupted run's results
# (the same digest), and the finishing run computed fewer items than there are.
#
#   checkpoint_kill_test.sh DRIVER MPIEXEC [MPIEXEC_ARGS...]
set -euo pipefail
driver=$1
shift
mpiexec=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

reference=$("${mpiexec[@]}" -n 2 "$driver" "$work/reference.ckpt" | grep '^computed')
kills=0
attempt=0
for delay in 1.4 1.9 1.6 2.3 1.7; do  # MPI starts in about 1 s here; the whole run takes about 6 s
  attempt=$((attempt + 1))
  "${mpiexec[@]}" -n 2 "$driver" "$work/killed.ckpt" >"$work/attempt.$attempt" 2>&1 &
  launcher=$!
  sleep "$delay"
  ranks=$(pgrep -P "$launcher" || true)
  if [ -z "$(grep '^computed' "$work/attempt.$attempt" 2>/dev/null)" ]; then
    kill -9 $ranks "$launcher" 2>/dev/null || true
    kills=$((kills + 1))
  fi
  wait "$launcher" 2>/dev/null || true
  for _ in $(seq 50); do { [ -n "$ranks" ] && kill -0 $ranks 2>/dev/null; } || break; sleep 0.1; done
done
[ "$kills" -gt 0 ] || { echo "FAIL: no run was killed (the driver finished too fast)"; exit 1; }
last=$("${mpiexec[@]}" -n 2 "$driver" "$work/killed.ckpt" | grep '^computed')
echo "reference: $reference"
echo "after $kills kills, the last run: $last"
[ "${last##* digest }" = "${reference##* digest }" ] || { echo "FAIL: the resumed results differ"; exit 1; }
computed=${last#computed }
computed=${computed%% of*}
[ "$computed" -lt 60000 ] || { echo "FAIL: the resumed run computed every item again"; exit 1; }
[ "$kills" -eq 5 ] || { echo "FAIL: a run finished before its kill (the driver is too fast here)"; exit 1; }
echo "the resumed results equal the uninterrupted run's"
