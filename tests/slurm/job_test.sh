#!/usr/bin/env bash
# One jobscript through the local SLURM cluster (tests/slurm/local_cluster.sh), as a user submits it, and
# the checks on what it leaves behind.
#
#   job_test.sh CASE REPO_DIR APPS_DIR WORK_DIR CLUSTER_DIR
#
# CASE: pi_srun pi_mpirun cosmo cosmo_bad_params array farm_requeue farm_failure ensemble_requeue web. Exit 0 pass, 1 fail,
# 77 skipped (not root and no passwordless sudo: the cluster cannot be started).
set -euo pipefail

case_name=$1 repo=$2 apps=$3 work=$4 cluster=$5
jobscripts=$repo/jobscripts

"$repo/tests/slurm/local_cluster.sh" can-run || exit $?

export SLURM_CONF=$cluster/slurm.conf PLX_BIN=$apps
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() {
  echo "FAIL ($case_name): $*" >&2
  for log in "$work"/*.out "$work"/*/*.out; do
    [ -f "$log" ] && { echo "--- $log" >&2; cat "$log" >&2; }
  done
  exit 1
}

# sbatch, from the work directory (the scripts write their logs and runs/ there); prints the job id.
submit() {
  sbatch --parsable "$@" | cut -d';' -f1
}

# Every state of the job (one line per array element), until none is pending, running or requeued.
# `sbatch --wait` polls far more slowly than this.
wait_for() {
  local job=$1 limit=$2 states
  for ((waited = 0; waited < limit * 2; waited++)); do
    states=$(scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
    if [ -n "$states" ] && ! grep -qvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)$' \
         <<<"$states"; then
      echo "$states"
      return 0
    fi
    sleep 0.5
  done
  squeue >&2 || true
  scancel "$job" 2>/dev/null || true
  fail "job $job not finished after ${limit} s (states: $(echo $states))"
}

job_field() {  # job_field JOB NAME: the value of NAME= in scontrol show job (first element)
  scontrol show job "$1" | grep -o "\b$2=[^ ]*" | head -1 | cut -d= -f2
}

expect_completed() {
  local job=$1 states
  states=$(wait_for "$job" "$2")
  [ "$(sort -u <<<"$states")" = COMPLETED ] || fail "job $job ended $(echo $states), expected COMPLETED"
  [ "$(job_field "$job" ExitCode)" = "0:0" ] || fail "job $job exit code $(job_field "$job" ExitCode)"
}

# The log's header and --report-layout table show what was asked: RANKS ranks of THREADS threads, each
# bound to THREADS cores, on NODES distinct SLURM nodes.
check_layout() {
  local log=$1 ranks=$2 threads=$3 nodes=$4
  grep -q "^== job .* on $nodes node(s): node" "$log" || fail "$log: no node list line for $nodes nodes"
  grep -q "^== plx-[a-z]* (parallax [0-9.]*, git" "$log" || fail "$log: no parallax version line"
  local rows
  # Rows: a rank number first and node-rank "k/n" fourth. Lines in between are not the table's end: mpirun
  # forwards the ranks' stderr (the banner, layout warnings) separately and may put it among the rows.
  rows=$(awk '$1 == "rank" && $2 == "host" { table = 1; next } table && $1 ~ /^[0-9]+$/ && $4 ~ /^[0-9]+\/[0-9]+$/ { print }' "$log")
  [ "$(wc -l <<<"$rows")" -eq "$ranks" ] || fail "$log: layout has $(wc -l <<<"$rows") rank rows, asked $ranks"
  # rank host slurm-node node-rank threads cores "(k of n)"
  awk -v t="$threads" '$5 != t || $7 != "(" t { bad = 1 } END { exit bad }' <<<"$rows" ||
    fail "$log: a rank does not run $threads threads on $threads cores:"$'\n'"$rows"
  [ "$(awk '{ print $3 }' <<<"$rows" | sort -u | wc -l)" -eq "$nodes" ] ||
    fail "$log: ranks are not spread over $nodes SLURM nodes:"$'\n'"$rows"
}

check_pi() {
  local log=$1
  local pi
  pi=$(grep -o '^pi ~= [0-9.]*' "$log" | awk '{ print $3 }')
  [ -n "$pi" ] || fail "$log: no pi estimate"
  awk -v pi="$pi" 'BEGIN { exit !(pi > 3.13 && pi < 3.153) }' || fail "pi estimate $pi is not near 3.14159"
}

check_cosmo_file() {
  local file=$1 ranks=$2 threads=$3
  [ -f "$file" ] || fail "no output $file"
  [ -f "${file%.h5}.xmf" ] || fail "no XDMF sidecar next to $file"
  local listing
  listing=$(h5ls -r "$file")
  for dataset in /density /potential /displacement /frames/000/density /power_spectrum/k /power_spectrum/power; do
    grep -q "^$dataset  *Dataset" <<<"$listing" || fail "$file lacks $dataset"
  done
  h5dump -a /ranks "$file" | grep -q "(0): $ranks\$" || fail "$file: attribute ranks is not $ranks"
  h5dump -a /threads "$file" | grep -q "(0): $threads\$" || fail "$file: attribute threads is not $threads"
  ! ls "$(dirname "$file")" | grep -v '\.\(h5\|xmf\|toml\)$' | grep -q . || fail "stray files next to $file"
}

case "$case_name" in
  pi_srun | pi_mpirun)
    script=pi_hybrid.sbatch
    [ "$case_name" = pi_mpirun ] && script=pi_mpirun.sbatch
    job=$(submit --nodes=2 --ntasks-per-node=1 --cpus-per-task=2 "$jobscripts/$script" --samples 20000000 --seed 7)
    expect_completed "$job" 120
    log=$(ls "$work"/plx-pi*-"$job".out)
    check_layout "$log" 2 2 2
    check_pi "$log"
    ;;

  cosmo)
    job=$(submit --nodes=2 --ntasks-per-node=1 --cpus-per-task=2 "$jobscripts/cosmo_hybrid.sbatch" \
                 "$jobscripts/cosmo_example.toml" --n 32)
    expect_completed "$job" 180
    check_layout "$work/plx-cosmo-$job.out" 2 2 2
    check_cosmo_file "$work/runs/cosmo-$job/cosmo.h5" 2 2
    cmp -s "$jobscripts/cosmo_example.toml" "$work/runs/cosmo-$job/params.toml" || fail "parameters not kept in the run directory"
    ;;

  cosmo_bad_params)
    printf 'dim = 3\nn = 1\n' >bad.toml
    job=$(submit --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 "$jobscripts/cosmo_hybrid.sbatch" bad.toml)
    states=$(wait_for "$job" 120)
    [ "$states" = FAILED ] || fail "job $job ended $states, expected FAILED"
    [ "$(job_field "$job" ExitCode)" = "2:0" ] || fail "exit code $(job_field "$job" ExitCode), expected 2:0 (bad input)"
    grep -q "error.*\bn\b" "$work/plx-cosmo-$job.out" || fail "the log does not name the bad parameter n"
    [ -z "$(ls "$work/runs/cosmo-$job" | grep -v params.toml)" ] || fail "a failed run left output behind"
    ;;

  web)
    # The two-step workflow: the cosmology job, then plx-web on its file, submitted at once with
    # --dependency=afterok so that SLURM holds it until the first job has completed successfully.
    cosmo=$(submit --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 "$jobscripts/cosmo_hybrid.sbatch" \
                   "$jobscripts/cosmo_example.toml" --n 24)
    web=$(submit --dependency=afterok:"$cosmo" --nodes=2 --ntasks-per-node=1 --cpus-per-task=2 \
                 "$jobscripts/web.sbatch" "runs/cosmo-$cosmo/cosmo.h5" --threshold 0.1)
    expect_completed "$cosmo" 180
    expect_completed "$web" 180
    # Started only after the cosmology job ended (SLURM's times have a resolution of one second).
    [ "$(date -d "$(job_field "$web" StartTime)" +%s)" -ge "$(date -d "$(job_field "$cosmo" EndTime)" +%s)" ] ||
      fail "job $web started at $(job_field "$web" StartTime), before job $cosmo ended at $(job_field "$cosmo" EndTime)"
    check_layout "$work/plx-web-$web.out" 2 2 2
    file=$work/runs/web-$web/web.h5
    [ -f "$file" ] || fail "no output $file"
    listing=$(h5ls -r "$file")
    grep -q "^/deformation/eigenvalues  *Dataset {24, 24, 24, 3}" <<<"$listing" || fail "$file: no 24^3 x 3 eigenvalues"
    grep -q "^/deformation/class  *Dataset {24, 24, 24}" <<<"$listing" || fail "$file: no 24^3 classes"
    h5dump -a /ranks "$file" | grep -q "(0): 2\$" || fail "$file: attribute ranks is not 2"
    h5dump -a /input "$file" | grep -q "runs/cosmo-$cosmo/cosmo.h5" || fail "$file: attribute input does not name the cosmology file"
    ! ls "$(dirname "$file")" | grep -v '^web\.h5$' | grep -q . || fail "stray files next to $file"
    # A failed cosmology job never starts the web job: SLURM cancels it (--kill-on-invalid-dep=yes).
    printf 'dim = 3\nn = 1\n' >bad.toml
    bad=$(submit --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 "$jobscripts/cosmo_hybrid.sbatch" bad.toml)
    orphan=$(submit --dependency=afterok:"$bad" --kill-on-invalid-dep=yes --nodes=1 --ntasks-per-node=2 \
                    --cpus-per-task=1 "$jobscripts/web.sbatch" "runs/cosmo-$bad/cosmo.h5")
    [ "$(wait_for "$bad" 120)" = FAILED ] || fail "the bad cosmology job $bad did not fail"
    states=$(wait_for "$orphan" 120)
    [ "$states" = CANCELLED ] || fail "job $orphan, after a failed dependency, ended $states, expected CANCELLED"
    [ ! -e "$work/runs/web-$orphan" ] && [ ! -e "$work/plx-web-$orphan.out" ] || fail "job $orphan ran after its dependency failed"
    ;;

  array)
    job=$(submit --array=0-2 --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 "$jobscripts/cosmo_seeds_array.sbatch" \
                 "$jobscripts/cosmo_example.toml" --n 16)
    states=$(wait_for "$job" 180)
    [ "$(wc -l <<<"$states")" -eq 3 ] || fail "expected 3 array elements, saw: $(echo $states)"
    [ "$(sort -u <<<"$states")" = COMPLETED ] || fail "array elements ended $(echo $states)"
    for element in 0 1 2; do
      seed=$((1000 + element))
      log=$work/plx-cosmo-seeds-${job}_${element}.out
      [ -f "$log" ] || fail "no log $log for element $element"
      check_layout "$log" 2 1 1
      check_cosmo_file "$work/runs/cosmo-seeds-$job/seed-$seed.h5" 2 1
      h5dump -a /seed "$work/runs/cosmo-seeds-$job/seed-$seed.h5" | grep -q "(0): $seed\$" || fail "element $element did not use seed $seed"
    done
    # Different seeds, different fields.
    ! h5diff -q "$work/runs/cosmo-seeds-$job/seed-1000.h5" "$work/runs/cosmo-seeds-$job/seed-1001.h5" /density /density ||
      fail "seeds 1000 and 1001 gave the same density"
    ;;

  farm_requeue)
    # 10 tasks of 8 s on 2 slots need 40 s; the job has 1 minute and is warned 40 s before it ends (about
    # 20 s in), so it must drain, requeue itself and resume at least once.
    for i in $(seq 10); do echo "sleep 8; echo task \$PLX_TASK_ID attempt \$PLX_ATTEMPT"; done >tasks.txt
    job=$(submit --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=1 --signal=B:USR1@40 \
                 "$jobscripts/farm_requeue.sbatch" tasks.txt)
    expect_completed "$job" 280
    restarts=$(job_field "$job" Restarts)
    [ "$restarts" -ge 1 ] || fail "the job was never requeued (Restarts=$restarts)"
    log=$work/plx-farm-$job.out
    grep -q "USR1 received, asking plx-run to drain" "$log" || fail "no USR1 in the log"
    grep -q "requeueing job $job" "$log" || fail "no requeue in the log"
    grep -q "^== job $job (plx-farm) run $((restarts + 1)) " "$log" || fail "the log does not show run $((restarts + 1))"
    grep -q "every task succeeded" "$log" || fail "the last run did not finish every task"
    grep -q "^10 tasks: 10 succeeded" "runs/farm-$job/summary.txt" || fail "summary: $(head -1 "runs/farm-$job/summary.txt")"
    # Every task recorded exactly once, as succeeded: nothing ran twice, nothing was lost.
    records=$(grep '^id=' "runs/farm-$job/journal")
    [ "$(wc -l <<<"$records")" -eq 10 ] || fail "the journal has $(wc -l <<<"$records") records for 10 tasks"
    [ "$(grep -o '^id=[0-9]*' <<<"$records" | sort -u | wc -l)" -eq 10 ] || fail "a task is recorded twice"
    ! grep -qv 'outcome=ok' <<<"$records" || fail "a record is not a success"
    ;;

  farm_failure)
    printf '%s\n' 'true' 'echo "cannot open input.dat" >&2; exit 3' 'true' >tasks.txt
    job=$(submit --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 "$jobscripts/farm_requeue.sbatch" tasks.txt)
    states=$(wait_for "$job" 120)
    [ "$states" = FAILED ] || fail "job $job ended $states, expected FAILED"
    [ "$(job_field "$job" ExitCode)" = "1:0" ] || fail "exit code $(job_field "$job" ExitCode), expected 1:0"
    [ "$(job_field "$job" Restarts)" = 0 ] || fail "a job with a failed task was requeued"
    log=$work/plx-farm-$job.out
    grep -q "task *1 *failed *exit *3" "$log" || fail "the log does not name the failed task and its exit code"
    grep -q "plx-run exited with 1: failed tasks are listed" "$log" || fail "the log does not say why the job failed"
    grep -q "cannot open input.dat" "runs/farm-$job/tasks/1.err" || fail "the task's stderr was not kept"
    ;;

  ensemble_requeue)
    # 2 ranks need about 20 s for these 6000 realizations (300 a second on the 2-core development VM, half
    # that while the reference job runs alongside). Once the first run has reported progress (its first
    # line comes after 5 s), the batch script gets SLURM's warning signal (what --signal=B:USR1@N sends
    # near the time limit, sent here with scancel so the test does not depend on the machine's speed): it
    # must stop plx-ensemble, requeue itself and resume until the ensemble is complete. The file must then
    # equal that of the same job never interrupted, submitted alongside from another directory with the same
    # run directory name, so that even the command line kept in the attributes is the same: h5diff compares
    # every dataset and attribute.
    args=(--dim 3 --n 32 --times 0.5,1 --realizations 6000 --seed 7 --normalisation none)
    mkdir requeued reference
    job=$(cd requeued && PLX_RUNDIR=runs/ensemble submit --nodes=2 --ntasks-per-node=1 --cpus-per-task=1 \
                           "$jobscripts/ensemble_requeue.sbatch" "${args[@]}")
    reference=$(cd reference && PLX_RUNDIR=runs/ensemble submit --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
                                 "$jobscripts/ensemble_requeue.sbatch" "${args[@]}")
    log=$work/requeued/plx-ensemble-$job.out
    for ((waited = 0; waited < 240; waited++)); do
      grep -q "^ensemble  *[0-9]*/6000 " "$log" 2>/dev/null && break
      sleep 0.5
    done
    grep -q "^ensemble  *[0-9]*/6000 " "$log" || fail "job $job never reported progress"
    scancel --batch --signal=USR1 "$job"
    expect_completed "$job" 280
    expect_completed "$reference" 280
    restarts=$(job_field "$job" Restarts)
    [ "$restarts" -ge 1 ] || fail "the job was never requeued (Restarts=$restarts)"
    grep -q "USR1 received, stopping plx-ensemble" "$log" || fail "no USR1 in the log"
    grep -q "requeueing job $job" "$log" || fail "no requeue in the log"
    grep -q "^== job $job (plx-ensemble) run $((restarts + 1)) " "$log" || fail "the log does not show run $((restarts + 1))"
    grep -q "(6000 computed now)" "$log" && fail "the last run computed every realization again"
    grep -q "the ensemble is complete" "$log" || fail "the last run did not complete the ensemble"
    [ "$(job_field "$reference" Restarts)" = 0 ] || fail "the reference job was requeued"
    file=requeued/runs/ensemble/ensemble.h5
    [ -f "$file" ] && [ -f reference/runs/ensemble/ensemble.h5 ] || fail "no $file or reference/runs/ensemble/ensemble.h5"
    h5ls -r "$file" | grep -q "^/realizations/power  *Dataset {6000, 16}" || fail "$file: /realizations/power is not 6000 x 16"
    h5diff "$file" reference/runs/ensemble/ensemble.h5 >h5diff.txt ||
      fail "the requeued job's file differs from the uninterrupted job's: $(head -20 h5diff.txt)"
    ! ls requeued/runs/ensemble | grep -v '^ensemble\.h5$' | grep -q . || fail "stray files: $(ls requeued/runs/ensemble)"
    ;;

  *)
    echo "unknown case '$case_name'" >&2
    exit 2
    ;;
esac
echo "PASS ($case_name)"
