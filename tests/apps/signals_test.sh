#!/usr/bin/env bash
# Ctrl-C, `timeout` and scancel as a user meets them (issue 18, section 4): SIGINT or SIGTERM to mpiexec, and
# to every rank (what srun and SLURM do), for plx-pi, plx-cosmo, plx-web, plx-ensemble and plx-run at 2 ranks.
# Each run ends promptly with the documented exit code (75 from the ranks; 1 from Open MPI's mpirun, which
# exits 1 whatever its ranks return once it has been signalled), at most one error line that says what was
# kept and how to go on, no temporary file left; and the rerun (--resume where the app has one) completes
# with output identical to an uninterrupted run (h5diff). Then a stale temporary of a dead process on this
# host is removed by the next run, while one of another host, or of a live process, is kept.
#
# Not timed: each signal waits for a marker (the output's temporary file, the resume state, a task's output),
# and signals to the ranks go to frozen ranks (SIGSTOP, signal, SIGCONT), so the run cannot finish first.
# Signals to mpiexec reach the ranks about 1 s later (mpirun's SIGCONT, then SIGTERM); a run that finishes
# within that second is reported as not judged, not as a failure.
# Usage: signals_test.sh PLX_PI PLX_COSMO PLX_WEB PLX_ENSEMBLE PLX_RUN MPIEXEC WORK_DIR
set -u
PLX_PI=$1
PLX_COSMO=$2
PLX_WEB=$3
PLX_ENSEMBLE=$4
PLX_RUN=$5
MPIEXEC=$6
WORK=$7
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
# Job control: a background job of a script otherwise starts with SIGINT ignored, and mpiexec keeps that.
set -m
mpi=("$MPIEXEC" --oversubscribe -n 2)
failures=0
ok() { echo "ok: $*"; }
bad() { echo "FAILED: $*"; failures=$((failures + 1)); }
note() { echo "note: $*"; }

launcher=""
# start NAME command...: runs it in the background, stdout and stderr to NAME.out / NAME.err
start() {
  local name=$1
  shift
  "$@" > "$name.out" 2> "$name.err" &
  launcher=$!
}

# wait_for DESCRIPTION TEST...: waits up to 120 s for `TEST...` to succeed while the job runs
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1200); do
    "$@" && return 0
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.1
  done
  "$@"
}
has_file() { compgen -G "$1" > /dev/null; }

# signal_job SIGNAL TARGET: TARGET "mpiexec" or "ranks" (every rank, frozen while the signal is sent)
signal_job() {
  local signal=$1 target=$2
  local ranks
  ranks=$(pgrep -P "$launcher" | tr '\n' ' ')
  if [ "$target" = mpiexec ]; then
    kill "-$signal" "$launcher"
  else
    kill -STOP $ranks 2>/dev/null
    kill "-$signal" $ranks 2>/dev/null
    kill -CONT $ranks 2>/dev/null
  fi
}

# finish: waits for the job (killing it after 120 s), sets `code`
finish() {
  local waited=0 hung=""
  while kill -0 "$launcher" 2>/dev/null && [ "$waited" -lt 1200 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$launcher" 2>/dev/null; then
    kill -9 "$launcher" $(pgrep -P "$launcher") 2>/dev/null
    hung=yes
  fi
  wait "$launcher" 2>/dev/null
  code=$?
  [ -z "$hung" ] || code=hang
}

# judge NAME EXPECTED_CODE REGEX [drain]: the job's exit code, one error line matching REGEX (none required
# where mpirun ended the job, expected code 1: it may SIGKILL first), no temporary left.
judge() {
  local name=$1 expected=$2 regex=$3 mode=${4:-}
  local lines
  lines=$(grep -c "error" "$name.err")
  if [ "$code" = hang ]; then
    bad "$name: still running 120 s after the signal"
  elif [ "$code" != "$expected" ]; then
    bad "$name: exit $code, expected $expected: $(cat "$name.err")"
  elif grep -q "MPI_ABORT\|ORTE_ERROR_LOG" "$name.err"; then
    bad "$name: an abort banner: $(cat "$name.err")"
  elif [ "$lines" = 0 ] && [ "$expected" = 1 ]; then
    # mpirun SIGKILLs 1 s after its SIGTERM and does not always pass on what a rank wrote just before
    note "$name: exit 1 without the line (mpirun lost it, or SIGKILLed the rank first)"
  elif [ "$lines" -gt 1 ] || { [ "$lines" = 0 ] && [ "$mode" != drain ]; }; then
    bad "$name: $lines error lines, expected one: $(cat "$name.err")"
  elif [ "$lines" = 1 ] && ! grep -Eq -- "$regex" "$name.err"; then
    bad "$name: the line does not match '$regex': $(cat "$name.err")"
  else
    ok "$name: exit $code, $(grep error "$name.err" || echo 'no line (SIGKILLed while draining)')"
  fi
  if has_file '*.tmp.*'; then
    bad "$name: temporary files left: $(ls ./*.tmp.*)"
    rm -f ./*.tmp.*
  fi
}

# same NAME A B: the two HDF5 files hold the same data, bitwise (h5diff). Only an attribute that records the
# command line (map_to_h5's `command_line`) may differ: the objects that carry one are compared again
# without their attributes, and any other difference fails.
same() {
  local out excluded=()
  out=$(h5diff "$2" "$3" 2>&1) && { ok "$1: identical to the uninterrupted run"; return; }
  for object in $(sed -n 's/^attribute: <command_line of <\([^>]*\)>>.*/\1/p' <<<"$out" | sort -u); do
    excluded+=(--exclude-attribute "$object")
  done
  if [ "${#excluded[@]}" -gt 0 ] && out=$(h5diff "${excluded[@]}" "$2" "$3" 2>&1); then
    ok "$1: identical to the uninterrupted run (but the command line)"
  else
    bad "$1: differs from the uninterrupted run: $(head -20 <<<"$out")"
  fi
}

# --- plx-pi: nothing to keep; SIGTERM and SIGINT to the ranks end it with 75 and one line
for signal in TERM INT; do
  start pi-$signal "${mpi[@]}" "$PLX_PI" --samples 1e13 --threads 1 --quiet --progress
  wait_for "progress" grep -q "%" pi-$signal.err
  signal_job $signal ranks
  finish
  judge pi-$signal 75 "^error: plx-pi stopped by SIG$signal before finishing; nothing is kept \(unfinished output files are removed\): run the same command again$"
done

# --- plx-cosmo: the unfinished output is removed
cosmo=(--dim 3 --n 96 --times 0:2:6 --threads 1 --quiet)
"${mpi[@]}" "$PLX_COSMO" "${cosmo[@]}" --out ref.h5 > /dev/null 2>&1 || bad "plx-cosmo reference run failed"
for case in "TERM ranks 75" "INT ranks 75" "INT mpiexec 1" "TERM mpiexec 1"; do
  read -r signal target expected <<<"$case"
  name="plx-cosmo, SIG$signal to $target"
  start "cosmo-$signal-$target" "${mpi[@]}" "$PLX_COSMO" "${cosmo[@]}" --out c.h5
  wait_for "the temporary" has_file 'c.h5.tmp.*'
  signal_job "$signal" "$target"
  finish
  if [ -e c.h5 ]; then
    note "$name: the run finished before mpirun passed the signal on: not judged"
    rm -f c.h5 c.xmf
    continue
  fi
  # mpirun turns SIGINT and SIGTERM alike into SIGTERM to the ranks
  [ "$target" = mpiexec ] && seen=TERM || seen=$signal
  judge "cosmo-$signal-$target" "$expected" "^error: plx-cosmo stopped by SIG$seen before finishing; nothing is kept"
  [ -e c.h5 ] && bad "$name: c.h5 exists"
done

# A stale temporary of c.h5 from a dead process on this host goes; one of another host, or of a live
# process, stays (its owner may be writing it).
host=$(hostname)
host=${host%%.*}
dead=$(sh -c 'echo $$')
touch "c.h5.tmp.$host.$dead-1a2b3c" "c.h5.tmp.other-node.$dead-1a2b3c" "c.h5.tmp.$host.$$-4d5e6f" \
      "d.h5.tmp.$host.$dead-1a2b3c"
"${mpi[@]}" "$PLX_COSMO" "${cosmo[@]}" --out c.h5 > stale.out 2> stale.err || bad "plx-cosmo after the stops: $(cat stale.err)"
same "plx-cosmo rerun after the stops" ref.h5 c.h5
[ -e "c.h5.tmp.$host.$dead-1a2b3c" ] && bad "a stale temporary of a dead process was kept" ||
  ok "a stale temporary of a dead process on this host was removed: $(cat stale.err)"
[ -e "c.h5.tmp.other-node.$dead-1a2b3c" ] && ok "another host's temporary was kept" || bad "another host's temporary was removed"
[ -e "c.h5.tmp.$host.$$-4d5e6f" ] && ok "a live process's temporary was kept" || bad "a live process's temporary was removed"
[ -e "d.h5.tmp.$host.$dead-1a2b3c" ] && ok "another output's temporary was kept" || bad "another output's temporary was removed"
rm -f ./*.tmp.*

# --- plx-web on a 2D field (3D adhesion takes minutes on a busy machine)
"${mpi[@]}" "$PLX_COSMO" --n 256 --times 0,1 --threads 1 --quiet --out field.h5 > /dev/null 2>&1 ||
  bad "plx-cosmo 2D field for plx-web failed"
web=(--times 0:1:3 --threads 1 --quiet)
"${mpi[@]}" "$PLX_WEB" field.h5 "${web[@]}" --out web-ref.h5 > /dev/null 2>&1 || bad "plx-web reference run failed"
for case in "TERM ranks 75" "INT mpiexec 1"; do
  read -r signal target expected <<<"$case"
  name="plx-web, SIG$signal to $target"
  start "web-$signal-$target" "${mpi[@]}" "$PLX_WEB" field.h5 "${web[@]}" --out w.h5
  wait_for "the temporary" has_file 'w.h5.tmp.*'
  signal_job "$signal" "$target"
  finish
  if [ -e w.h5 ]; then
    note "$name: the run finished before mpirun passed the signal on: not judged"
    rm -f w.h5
    continue
  fi
  [ "$target" = mpiexec ] && seen=TERM || seen=$signal
  judge "web-$signal-$target" "$expected" "^error: plx-web stopped by SIG$seen before finishing; nothing is kept"
  [ -e w.h5 ] && bad "$name: w.h5 exists"
done
"${mpi[@]}" "$PLX_WEB" field.h5 "${web[@]}" --out w.h5 > /dev/null 2>&1 || bad "plx-web rerun failed"
same "plx-web rerun after the stops" web-ref.h5 w.h5

# --- plx-ensemble: finished realizations are kept; --resume completes them
ensemble=(--realizations 8000 --dim 2 --n 32 --times 0.5,1 --threads 1 --quiet)
"${mpi[@]}" "$PLX_ENSEMBLE" "${ensemble[@]}" --out e-ref.h5 > /dev/null 2>&1 || bad "plx-ensemble reference run failed"
for case in "TERM ranks 75" "INT mpiexec 1"; do
  read -r signal target expected <<<"$case"
  name="plx-ensemble, SIG$signal to $target"
  rm -f e.h5 e.h5.*
  start "ensemble-$signal-$target" "${mpi[@]}" "$PLX_ENSEMBLE" "${ensemble[@]}" --out e.h5
  wait_for "the resume state" has_file 'e.h5.*'
  signal_job "$signal" "$target"
  finish
  if [ -e e.h5 ] && ! has_file 'e.h5.*'; then
    note "$name: the run finished before mpirun passed the signal on: not judged"
    continue
  fi
  judge "ensemble-$signal-$target" "$expected" \
    "^error: map 'ensemble' stopped on request: [0-9]+ of 8000 items finished; the finished work is kept: rerun with --resume$" drain
  "${mpi[@]}" "$PLX_ENSEMBLE" "${ensemble[@]}" --out e.h5 --resume > "ensemble-resume-$signal.out" 2>&1 ||
    bad "$name: --resume failed: $(cat "ensemble-resume-$signal.out")"
  same "$name, then --resume" e-ref.h5 e.h5
done

# --- plx-run: finished tasks are kept in the journal; --resume runs the rest
for id in $(seq 0 39); do echo "sleep 0.2; echo $id > done.$id"; done > tasks.txt
for case in "TERM ranks 75" "INT mpiexec 1"; do
  read -r signal target expected <<<"$case"
  name="plx-run, SIG$signal to $target"
  rm -rf wr done.*
  start "run-$signal-$target" "${mpi[@]}" "$PLX_RUN" tasks.txt --workdir wr --threads 1 --quiet
  wait_for "a finished task" has_file 'done.*'
  signal_job "$signal" "$target"
  finish
  if [ "$(ls done.* | wc -l)" = 40 ]; then
    note "$name: the run finished before mpirun passed the signal on: not judged"
    continue
  fi
  # plx-run says so on stdout, as part of its summary
  if [ "$code" = hang ] || [ "$code" != "$expected" ]; then
    bad "$name: exit $code, expected $expected: $(cat "run-$signal-$target.err")"
  elif [ "$target" = ranks ] && ! grep -q "stopped with work left (finished tasks are kept in the journal): rerun with --resume" "run-$signal-$target.out"; then
    bad "$name: no 'rerun with --resume' line: $(cat "run-$signal-$target.out")"
  elif grep -q "error" "run-$signal-$target.err"; then
    bad "$name: an error line: $(cat "run-$signal-$target.err")"
  else
    ok "$name: exit $code"
  fi
  has_file 'wr/*.tmp.*' && bad "$name: temporary files left: $(ls wr/*.tmp.*)"
  out=$("${mpi[@]}" "$PLX_RUN" tasks.txt --workdir wr --resume --threads 1 --quiet 2>&1) ||
    bad "$name: --resume failed: $out"
  [ "$(ls done.* | wc -l)" = 40 ] && ok "$name, then --resume: 40 tasks done" || bad "$name, then --resume: $(ls done.* | wc -l) of 40 done"
done

[ "$failures" = 0 ] || { echo "$failures failed"; exit 1; }
echo "all passed"
