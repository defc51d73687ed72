#!/usr/bin/env bash
# plx::node_shared across nodes: 2 emulated SLURM nodes x 2 ranks on the local cluster
# (tests/slurm/local_cluster.sh). All four ranks share one host, so MPI alone would put them in one node;
# the SLURM node name must split them (communicator::split_node). Checks, from node_shared_probe's report:
# exactly one copy per node (two distinct backing files, each mapped by both ranks of its node, one leader
# per node) and the PSS the ranks of a node gained summed to about one copy.
#
#   node_shared_test.sh REPO_DIR PROBE WORK_DIR CLUSTER_DIR
#
# Exit 0 pass, 1 fail, 77 skipped (not root and no passwordless sudo: the cluster cannot be started).
set -euo pipefail

repo=$1 probe=$2 work=$3 cluster=$4
"$repo/tests/slurm/local_cluster.sh" can-run || exit $?

export SLURM_CONF=$cluster/slurm.conf
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
rm -rf "$work"
mkdir -p "$work"
cd "$work"

mib=32
fail() {
  echo "FAIL (node_shared): $*" >&2
  for log in probe.out srun.txt mpirun.txt; do
    [ -f "$log" ] && { echo "--- $log" >&2; cat "$log" >&2; }
  done
  exit 1
}

cat >probe.sbatch <<SCRIPT
#!/usr/bin/env bash
#SBATCH --job-name=plx-node-shared
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=1
#SBATCH --time=00:05:00
#SBATCH --output=probe.out
set -euo pipefail
export OMP_NUM_THREADS=1
# The emulated nodes share one host, where Open MPI's shared-memory transport (btl/vader) names its segments
# after the host and the node-local rank: node1's and node2's local rank 0 would open the same segment (a
# crash in MPI_Comm_dup). Between ranks, TCP; the node-shared window itself (osc/sm) names its segment after
# the leader's world rank, which differs.
export OMPI_MCA_btl=self,tcp OMPI_MCA_pml=ob1
srun --cpus-per-task=1 --mpi=pmix "$probe" $mib >srun.txt
# And through Open MPI's mpirun inside the allocation (it starts its daemons on the nodes with srun).
mpirun -x OMPI_MCA_btl -x OMPI_MCA_pml "$probe" $mib >mpirun.txt
SCRIPT
job=$(sbatch --parsable probe.sbatch | cut -d';' -f1)

for ((waited = 0; waited < 240; waited++)); do
  state=$(scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
  case "$state" in
    COMPLETED) break ;;
    PENDING | RUNNING | CONFIGURING | COMPLETING | "") sleep 0.5 ;;
    *) fail "job $job ended $state" ;;
  esac
done
[ "$state" = COMPLETED ] || { scancel "$job" 2>/dev/null || true; fail "job $job not finished after 120 s ($state)"; }

# check LAUNCHER: the probe's report in LAUNCHER.txt.
check() {
  local launcher=$1 report=$1.txt rows
  [ -f "$report" ] || fail "$launcher: no report"
  rows=$(grep '^rank ' "$report" || true)
  [ "$(wc -l <<<"$rows")" -eq 4 ] || fail "$launcher: expected 4 rank lines"
  ! grep -q WRONG-VALUES <<<"$rows" || fail "$launcher: a rank read other values than root's"
  # Fields: rank R slurm_node N node_rank K node_size S leader L copy ID pss_growth B
  [ "$(awk '{ print $4 }' <<<"$rows" | sort -u | wc -l)" -eq 2 ] || fail "$launcher: the ranks do not run on 2 SLURM nodes"
  awk '$8 != 2 { bad = 1 } END { exit bad }' <<<"$rows" || fail "$launcher: a node communicator does not hold its node's 2 ranks"
  [ "$(awk '{ print $4, $12 }' <<<"$rows" | sort -u | wc -l)" -eq 2 ] ||
    fail "$launcher: the ranks of a node map different copies, or two nodes share one"
  grep -q "^input_bytes $((mib << 20)) copies 2 leaders 2\$" "$report" || fail "$launcher: not exactly one copy and one leader per node"
  # PSS the ranks of each node gained: about one copy (a copy per rank would be twice that).
  awk -v input=$((mib << 20)) '{ grown[$4] += $14 }
    END { for (node in grown) if (grown[node] < 0.9 * input || grown[node] > 1.1 * input + 4194304) {
            printf "node %s: PSS grew by %d bytes for a %d-byte input\n", node, grown[node], input; bad = 1 }
          exit bad }' <<<"$rows" >&2 || fail "$launcher: a node's memory is not one copy"
}
check srun
check mpirun
echo "PASS (node_shared)"
