#!/usr/bin/env bash
# A crowded node restarts each rank once with OMP_WAIT_POLICY=passive (libgomp's own report, OMP_DISPLAY_ENV,
# shows it: the passive policy is a spin count of 0, where unset it is 300000), an uncrowded one or a user's own policy is left alone, and the commands the restarted program
# starts see the user's environment. Usage: passive_wait_test.sh PLX_RUN MPIEXEC WORK_DIR
set -u
PLX_RUN=$1
MPIEXEC=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
failures=0
ok() { echo "ok: $*"; }
bad() { echo "FAILED: $*"; failures=$((failures + 1)); }
for id in 1 2 3 4 5 6; do echo "env > $WORK/env.\$PLX_TASK_ID"; done > tasks.txt

# run NAME RANKS THREADS [VAR=VALUE...]: plx-run's stderr in NAME.err (libgomp prints its settings at load)
run() {
  local name=$1 ranks=$2 threads=$3
  shift 3
  rm -f env.*
  env OMP_DISPLAY_ENV=verbose "$@" "$MPIEXEC" --oversubscribe --bind-to none -n "$ranks" "$PLX_RUN" tasks.txt \
    --threads "$threads" --workdir "w-$name" >/dev/null 2>"$name.err" || bad "$name: plx-run failed: $(cat "$name.err")"
}
count() { grep -c -- "$1" "$2"; }

run crowded 3 2
starts=$(count "OPENMP DISPLAY ENVIRONMENT BEGIN" crowded.err)
passive=$(count "GOMP_SPINCOUNT = '0'" crowded.err)
if [ "$starts" = 6 ] && [ "$passive" = 3 ]; then ok "3 x 2 on this node: each rank restarted once, passive"
else bad "3 x 2: $starts starts (6 expected), $passive passive (3 expected)"; fi
grep -q "restarted with OMP_WAIT_POLICY=passive" crowded.err && ok "root says so" || bad "no note on stderr"
if [ "$(ls env.* 2>/dev/null | wc -l)" = 6 ] && ! grep -l "OMP_WAIT_POLICY\|PLX_PASSIVE_WAIT_RESTART" env.* >/dev/null; then
  ok "tasks see the user's environment"
else
  bad "tasks of the restarted farm: $(grep -h "OMP_WAIT_POLICY\|PLX_PASSIVE" env.* 2>&1)"
fi

# The farm's slots wait on commands: on the crowded node all 6 start at once (map_options::wake_team_at_once),
# not one per rank first. Each task waits until all 6 have started (up to 30 s), which only works if they run together.
for id in 1 2 3 4 5 6; do
  echo "touch $WORK/started.\$PLX_TASK_ID; for i in \$(seq 300); do [ \$(ls $WORK/started.* | wc -l) -ge 6 ] && exit 0; sleep 0.1; done; exit 1"
done > tasks.txt
rm -f started.*
"$MPIEXEC" --oversubscribe --bind-to none -n 3 "$PLX_RUN" tasks.txt --threads 2 --workdir w-together >/dev/null \
  2>together.err && ok "crowded farm: its 6 slots run together" || bad "crowded farm: slots did not run together: $(tail -3 together.err)"
for id in 1 2 3 4 5 6; do echo "env > $WORK/env.\$PLX_TASK_ID"; done > tasks.txt

run chosen 3 2 OMP_WAIT_POLICY=active
starts=$(count "OPENMP DISPLAY ENVIRONMENT BEGIN" chosen.err)
[ "$starts" = 3 ] && ! grep -q "GOMP_SPINCOUNT = '0'" chosen.err && ok "the user's OMP_WAIT_POLICY is kept" ||
  bad "OMP_WAIT_POLICY=active: $starts starts (3 expected)"
grep -q "OMP_WAIT_POLICY=active" env.1 && ok "and reaches the tasks" || bad "tasks lost OMP_WAIT_POLICY=active"

[ "$(nproc)" -ge 2 ] || { echo "skipping the uncrowded case: fewer than 2 cores"; exit $((failures > 0)); }
run uncrowded 2 1
starts=$(count "OPENMP DISPLAY ENVIRONMENT BEGIN" uncrowded.err)
[ "$starts" = 2 ] && ! grep -q "GOMP_SPINCOUNT = '0'" uncrowded.err && ok "2 x 1: not restarted" ||
  bad "2 x 1: $starts starts (2 expected)"

[ "$failures" = 0 ]
