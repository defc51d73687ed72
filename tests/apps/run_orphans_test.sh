#!/usr/bin/env bash
# Tasks die with the farm (issue 12, goal 5): kill -9 of mpiexec and of every rank of plx-run leaves no task
# process alive 2 s later, neither the tasks' shells nor what they started in the foreground or background,
# nor what moved to a session of its own (setsid: issue 18, case 13). And a task that ends normally leaves
# nothing running either, setsid'ed background processes included.
# Usage: run_orphans_test.sh PLX_RUN MPIEXEC WORK_DIR
set -u
PLX_RUN=$1
MPIEXEC=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
# A copy of sleep under a name no other process has, so that pgrep -f finds exactly the tasks' processes.
marker="plx-orphan-$$-$RANDOM"
cp "$(command -v sleep)" "$WORK/$marker"
for id in 1 2 3 4 5 6; do echo "$WORK/$marker 300 & setsid $WORK/$marker 302 & setsid $WORK/$marker 301"; done > tasks.txt
cleanup() { pkill -9 -f "$WORK/$marker" 2>/dev/null; }
trap cleanup EXIT

"$MPIEXEC" --oversubscribe -n 2 "$PLX_RUN" tasks.txt --threads 1 --workdir w --quiet >run.log 2>&1 &
launcher=$!
# Two ranks x one slot: two tasks of three sleeps each, two of them in sessions of their own.
for _ in $(seq 300); do
  [ "$(pgrep -f -c "^$WORK/$marker 30[012]")" -ge 6 ] && break
  sleep 0.1
done
running=$(pgrep -f -c "^$WORK/$marker 30[012]")
[ "$running" -ge 6 ] || { echo "FAILED: only $running task processes started: $(cat run.log)"; exit 1; }
# Open MPI gives each rank a process group of its own: the ranks are mpiexec's children.
ranks=$(pgrep -P "$launcher" | tr '\n' ' ')
[ -n "$ranks" ] || { echo "FAILED: no ranks under mpiexec $launcher"; exit 1; }
kill -9 $ranks "$launcher"
wait "$launcher" 2>/dev/null
sleep 2
left=$(pgrep -f -a "$WORK/$marker")
if [ -n "$left" ]; then
  echo "FAILED: task processes alive 2 s after kill -9 of mpiexec and ranks $ranks:"
  echo "$left"
  exit 1
fi
echo "ok: $running task processes (and their shells and shims) gone within 2 s of kill -9 of mpiexec and ranks $ranks"

# A task that ends normally but left a setsid'ed process running in the background: gone with the task.
# The task waits until that process is in its new session (it writes its pid from there), then ends.
echo "setsid sh -c 'echo \$\$ > $WORK/escaped.pid; exec $WORK/$marker 310' & while [ ! -s $WORK/escaped.pid ]; do sleep 0.05; done" > leave.txt
"$MPIEXEC" --oversubscribe -n 2 "$PLX_RUN" leave.txt --threads 1 --workdir w2 --quiet >leave.log 2>&1 ||
  { echo "FAILED: the farm failed: $(cat leave.log)"; exit 1; }
left=$(pgrep -f -a "$WORK/$marker 310")
if [ -n "$left" ]; then
  echo "FAILED: a setsid'ed background process outlived its finished task:"
  echo "$left"
  exit 1
fi
echo "ok: a setsid'ed background process ended with its task"
