#!/usr/bin/env bash
# plx-run as a user runs it: bad input (exit 2, no task started), a sweep, kill -9 of the whole job then
# --resume (every task succeeds, no recorded task runs again), SIGTERM and SIGUSR1 drains (exit 75) then
# --resume. Usage: run_cli_test.sh PLX_RUN MPIEXEC WORK_DIR
set -u
PLX_RUN=$1
MPIEXEC=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
mpi=("$MPIEXEC" --oversubscribe)
failures=0
ok() { echo "ok: $*"; }
bad() { echo "FAILED: $*"; failures=$((failures + 1)); }

# expect CODE REGEX NAME -- command...: exit code and a message matching REGEX (stdout+stderr)
expect() {
  local code=$1 regex=$2 name=$3
  shift 4
  local out
  out=$("$@" 2>&1)
  local got=$?
  if [ "$got" != "$code" ]; then bad "$name: exit $got, expected $code: $out"
  elif ! grep -Eq -- "$regex" <<<"$out"; then bad "$name: output does not match '$regex': $out"
  else ok "$name"; fi
}

# journal_ok_ids FILE: ids recorded as succeeded
journal_ok_ids() { grep -o 'id=[0-9]* outcome=ok' "$1" | sed 's/id=\([0-9]*\).*/\1/' | sort -n | uniq; }

# --- bad input: a clear message, exit code 2, and no task started
echo 'touch started' > one.txt
expect 2 "no-such.txt" "missing task file" -- "$PLX_RUN" no-such.txt --quiet
# An error every rank has is printed once, by root, and ends without MPI_Abort's banner.
out=$("${mpi[@]}" -n 3 "$PLX_RUN" no-such.txt --quiet 2>&1)
code=$?
if [ "$code" = 2 ] && [ "$(grep -c 'error' <<<"$out")" = 1 ] && ! grep -q "MPI_ABORT" <<<"$out"; then
  ok "a bad task file on 3 ranks: one line, exit 2"
else
  bad "a bad task file on 3 ranks: exit $code, expected 2 and one error line: $out"
fi
printf '# nothing\n\n   \n' > empty.txt
expect 2 "no tasks" "empty task list" -- "$PLX_RUN" empty.txt --quiet
printf 'command = "echo {x} {y}"\n[parameters]\nx = [1, 2]\n' > unknown.toml
expect 2 "\{y\}" "sweep naming an unknown parameter" -- "$PLX_RUN" unknown.toml --quiet
printf 'command = "echo {x}"\n[parameters]\nx = { start = 5, stop = 1 }\n' > range.toml
expect 2 "stop" "bad range" -- "$PLX_RUN" range.toml --quiet
expect 2 "^--slots must be at least 1, not 0" "--slots 0" -- "$PLX_RUN" one.txt --slots 0 --quiet
expect 2 "^--retries: 'abc' is not a number" "--retries abc" -- "$PLX_RUN" one.txt --retries abc --quiet
expect 2 "^--retries must be at least 0, not -1" "--retries -1" -- "$PLX_RUN" one.txt --retries -1 --quiet
touch not-a-dir
expect 2 "not-a-dir" "unwritable work directory" -- "$PLX_RUN" one.txt --workdir not-a-dir --quiet
[ -e started ] && bad "a task started despite bad input" || ok "no task started"
expect 0 "1 tasks: 1 succeeded" "one task" -- "$PLX_RUN" one.txt --workdir w1 --quiet
# --json: one JSON object, whatever the work directory is called
weird='w"ird\dir'
out=$("$PLX_RUN" one.txt --workdir "$weird" --json --quiet 2>&1)
if python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert d["tasks"] == 1 and d["succeeded"] == 1 and d["stopped"] is False, d' "$out"; then
  ok "--json is JSON"
else
  bad "--json is not the JSON expected: $out"
fi
echo 'true' > other.txt
expect 2 "another task set|task file changed" "journal of another task set" -- "$PLX_RUN" other.txt --workdir w1 --resume --quiet
expect 2 "resume" "existing journal without --resume" -- "$PLX_RUN" one.txt --workdir w1 --quiet
# A second run on a journal that a running one holds is refused, naming the holder (its lock, flock).
echo "while [ ! -e '$PWD/held-go' ]; do sleep 0.1; done" > held.txt
"$PLX_RUN" held.txt --workdir wh --quiet > held.out 2>&1 &
holder=$!
for _ in $(seq 300); do [ -s wh/journal ] && break; sleep 0.1; done
expect 2 "wh/journal' is in use by another process: process $holder on host" "a journal held by a running run" -- \
  "$PLX_RUN" held.txt --workdir wh --resume --quiet
touch held-go
wait "$holder" && grep -q "1 tasks: 1 succeeded" held.out && ok "the holder finishes" || bad "the holder: $(cat held.out)"

# --- a sweep: 2 x 3 tasks
printf 'command = "echo {name}-{x} >> sweep.log"\n[parameters]\nx = [1, 2, 3]\nname = ["a", "b"]\n' > sweep.toml
expect 0 "6 tasks: 6 succeeded" "sweep of 2 x 3" -- "${mpi[@]}" -n 2 "$PLX_RUN" sweep.toml --workdir ws --quiet
[ "$(sort sweep.log | tr '\n' ' ')" = "a-1 a-2 a-3 b-1 b-2 b-3 " ] && ok "sweep expansion" || bad "sweep expansion: $(sort sweep.log | tr '\n' ' ')"

# --- kill -9 of every process mid-run, then --resume
: > ran.log
for i in $(seq 0 59); do echo 'sleep 0.15; echo $PLX_TASK_ID >> ran.log'; done > kill.txt
# Every process of the job: mpiexec, the ranks (Open MPI gives them process groups of their own) and the
# tasks. Frozen first, so none reacts to the others dying, then killed at once.
descendants() { local child; for child in $(ps -o pid= --ppid "$1"); do echo "$child"; descendants "$child"; done; }
"${mpi[@]}" -n 2 "$PLX_RUN" kill.txt --workdir wk --quiet > /dev/null 2>&1 &
leader=$!
sleep 2
job="$leader $(descendants "$leader")"
kill -STOP $job 2>/dev/null
kill -9 $job 2>/dev/null
wait "$leader" 2>/dev/null
gone() { local state; state=$(ps -o stat= -p "$1" 2>/dev/null); [ -z "$state" ] || [[ $state == Z* ]]; }
for pid in $job; do for _ in $(seq 100); do gone "$pid" && break; sleep 0.05; done; done
cp wk/journal journal-at-kill
before=$(journal_ok_ids journal-at-kill | wc -l)
[ "$before" -gt 0 ] && [ "$before" -lt 60 ] && ok "killed mid-run with $before tasks recorded" || bad "kill: $before tasks recorded"
cp ran.log ran-at-kill.log
expect 0 "60 tasks: 60 succeeded" "resume after kill -9" -- "${mpi[@]}" -n 2 "$PLX_RUN" kill.txt --workdir wk --resume --quiet
[ "$(journal_ok_ids wk/journal | wc -l)" = 60 ] && ok "every task recorded as succeeded" || bad "journal after resume"
missing=$(comm -23 <(seq 0 59 | sort) <(sort -u ran.log))
[ -z "$missing" ] && ok "every task ran" || bad "tasks never ran: $missing"
rerun=""
for id in $(journal_ok_ids journal-at-kill); do
  [ "$(grep -cx "$id" ran.log)" = 1 ] || rerun="$rerun $id"
done
[ -z "$rerun" ] && ok "no recorded task ran again" || bad "recorded tasks ran again:$rerun"
expect 0 "60 tasks: 60 succeeded" "the same tasks uninterrupted" -- "${mpi[@]}" -n 2 "$PLX_RUN" kill.txt --workdir wk-whole --quiet
if h5diff wk/summary.h5 wk-whole/summary.h5 /id /id > /dev/null && h5diff wk/summary.h5 wk-whole/summary.h5 /outcome /outcome > /dev/null &&
   h5diff wk/summary.h5 wk-whole/summary.h5 /exit_code /exit_code > /dev/null; then
  ok "the summary equals an uninterrupted run's (ids, outcomes, exit codes)"
else
  bad "the summaries of the interrupted and the uninterrupted run differ"
fi

# --- root records other ranks' results while its own task runs; kill -9 then, and nothing recorded reruns.
# Rank 0's one slot takes a task that sleeps a minute; rank 1's slot runs the other 20. Before the result
# courier, root read results only between its own tasks: the journal stayed empty for that minute.
: > ran-live.log
for i in $(seq 0 20); do
  echo 'if [ "$PLX_RANK" = 0 ] && [ ! -e resume-now ]; then sleep 60; else sleep 0.1; fi; echo $PLX_TASK_ID >> ran-live.log'
done > live.txt
"${mpi[@]}" -n 2 "$PLX_RUN" live.txt --workdir wl --slots 1 --quiet > /dev/null 2>&1 &
leader=$!
recorded=0
for _ in $(seq 300); do
  recorded=$( (journal_ok_ids wl/journal 2>/dev/null || true) | wc -l)
  [ "$recorded" -ge 20 ] && break
  sleep 0.1
done
job="$leader $(descendants "$leader")"
[ "$recorded" -ge 20 ] && ok "rank 1's 20 tasks are in the journal while rank 0's task runs" ||
  bad "only $recorded of rank 1's 20 tasks reached the journal while rank 0's task ran"
kill -STOP $job 2>/dev/null
kill -9 $job 2>/dev/null
wait "$leader" 2>/dev/null
for pid in $job; do for _ in $(seq 100); do gone "$pid" && break; sleep 0.05; done; done
cp wl/journal journal-live-at-kill
touch resume-now
expect 0 "21 tasks: 21 succeeded" "resume after kill -9 during root's task" -- "${mpi[@]}" -n 2 "$PLX_RUN" live.txt --workdir wl --slots 1 --resume --quiet
rerun=""
for id in $(journal_ok_ids journal-live-at-kill); do
  [ "$(grep -cx "$id" ran-live.log)" = 1 ] || rerun="$rerun $id"
done
[ -z "$rerun" ] && ok "none of rank 1's recorded tasks ran again" || bad "recorded tasks ran again:$rerun"

# --- SIGTERM to a single process: drain, exit 75, journal intact; then --resume
# Timings leave a slow machine room: MPI start-up (and the signal handlers) well before the signal, and
# work left after it.
for i in $(seq 0 39); do echo 'sleep 0.3'; done > term.txt
"$PLX_RUN" term.txt --workdir wt --slots 2 --grace 10 --quiet > term.out 2>&1 &
pid=$!
sleep 2
kill -TERM "$pid"
wait "$pid"
code=$?
[ "$code" = 75 ] && ok "SIGTERM drains with exit 75" || bad "SIGTERM: exit $code: $(cat term.out)"
grep -q "interrupted" wt/journal && bad "SIGTERM: a task was killed despite the grace" || ok "running tasks finished within the grace"
expect 0 "40 tasks: 40 succeeded" "resume after SIGTERM" -- "$PLX_RUN" term.txt --workdir wt --slots 2 --resume --quiet

# --- SIGUSR1 (SLURM's early warning) to mpiexec, which forwards it to every rank
for i in $(seq 0 39); do echo 'sleep 0.3'; done > usr1.txt
"${mpi[@]}" -n 2 "$PLX_RUN" usr1.txt --workdir wu --grace 10 --quiet > usr1.out 2>&1 &
pid=$!
sleep 2.5
kill -USR1 "$pid"
wait "$pid"
code=$?
[ "$code" = 75 ] && ok "SIGUSR1 through mpiexec drains with exit 75" || bad "SIGUSR1: exit $code: $(cat usr1.out)"
expect 0 "40 tasks: 40 succeeded" "resume after SIGUSR1" -- "${mpi[@]}" -n 2 "$PLX_RUN" usr1.txt --workdir wu --resume --quiet

# --- --task-usr1: ignored by default (a script the task runs cannot trap it), 'pass' leaves it to the tasks
echo "sh -c 'trap \"echo trapped\" USR1; kill -USR1 \$\$; echo after'" > trap.txt
expect 0 "1 tasks: 1 succeeded" "--task-usr1 ignore (default)" -- "$PLX_RUN" trap.txt --workdir wtrap-ignore --quiet
[ "$(cat wtrap-ignore/tasks/0.out)" = "after" ] && ok "a task's script cannot trap SIGUSR1 by default" ||
  bad "--task-usr1 ignore: $(cat wtrap-ignore/tasks/0.out)"
expect 0 "1 tasks: 1 succeeded" "--task-usr1 pass" -- "$PLX_RUN" trap.txt --workdir wtrap-pass --task-usr1 pass --quiet
[ "$(cat wtrap-pass/tasks/0.out | tr '\n' ' ')" = "trapped after " ] && ok "--task-usr1 pass: the task traps SIGUSR1" ||
  bad "--task-usr1 pass: $(cat wtrap-pass/tasks/0.out)"
expect 2 "task-usr1" "bad --task-usr1" -- "$PLX_RUN" trap.txt --workdir wtrap-bad --task-usr1 catch --quiet

# --- no descriptor of the ranks (MPI's sockets and shared memory) reaches a task
echo 'ls /proc/$$/fd' > fds.txt
expect 0 "1 tasks: 1 succeeded" "a task listing its descriptors" -- "${mpi[@]}" -n 2 "$PLX_RUN" fds.txt --workdir wfds --quiet
[ "$(cat wfds/tasks/0.out | tr '\n' ' ')" = "0 1 2 " ] && ok "a task inherits only stdin, stdout and stderr" ||
  bad "a task inherits descriptors: $(cat wfds/tasks/0.out | tr '\n' ' ')"

# --- --max-failures stops the run with exit 1 (more time would not help, so no requeue code)
for i in $(seq 0 29); do echo 'sleep 0.05; exit 1'; done > failing.txt
expect 1 "stopped: 2 tasks failed" "--max-failures 2 stops with exit 1" -- "$PLX_RUN" failing.txt --workdir wf --slots 1 --max-failures 2 --quiet
# Instant failures on 2 ranks x 2 slots: failures are counted where they happen, so at most the limit plus
# the 4 slots' running tasks fail before the run stops (it was 54 before, with root counting late).
for i in $(seq 0 199); do echo 'exit 1'; done > instant.txt
expect 1 "tasks failed \(--max-failures 2\)" "--max-failures on 2 ranks" -- "${mpi[@]}" -n 2 "$PLX_RUN" instant.txt --workdir wi --slots 2 --max-failures 2 --quiet
attempted=$(grep -c 'outcome=failed' wi/journal)
[ "$attempted" -le 6 ] && ok "--max-failures 2 on 4 slots: $attempted tasks failed (at most 6)" ||
  bad "--max-failures 2 on 4 slots: $attempted tasks failed, more than 2 + 4"

# --- walltime-aware dispatch: no task starts that the durations so far say would not finish in time
for i in $(seq 0 39); do echo 'sleep 0.3'; done > deadline.txt
expect 75 "deadline leaves no time" "--deadline drains before the end" -- "$PLX_RUN" deadline.txt --workdir wd --slots 2 --deadline 1.5 --quiet
grep -q "interrupted" wd/journal && bad "--deadline: a task was killed" || ok "--deadline killed no task"
expect 0 "40 tasks: 40 succeeded" "resume after --deadline" -- "$PLX_RUN" deadline.txt --workdir wd --slots 2 --resume --quiet
expect 2 "--deadline 'soon'" "bad --deadline" -- "$PLX_RUN" deadline.txt --workdir wd2 --deadline soon --quiet

echo "$((failures == 0 ? 1 : 0)) passed, $failures failed"
[ "$failures" = 0 ]
