#!/usr/bin/env bash
# A single-machine SLURM cluster for trying and testing jobscripts/: munged, one slurmctld and several
# emulated slurmd nodes (node1..nodeN), each claiming all of this machine's cores.
#
#   tests/slurm/local_cluster.sh start DIR [NODES]   write DIR/slurm.conf, start the daemons, wait until
#                                                    every node is idle (default 2 nodes)
#   tests/slurm/local_cluster.sh stop DIR            cancel its jobs and stop its daemons
#   tests/slurm/local_cluster.sh status DIR          sinfo of the cluster; exit 1 when it is not up
#   tests/slurm/local_cluster.sh can-run             exit 0 when this user may start one (root, or
#                                                    passwordless sudo), else print why and exit 77
#
# Then point the client commands at it:  export SLURM_CONF=DIR/slurm.conf
#
# Needs Debian's slurmctld slurmd slurm-client munge libpmix-dev (./bootstrap.sh deps installs them) and
# root, or sudo without a password: the daemons run as root (SlurmUser=root), jobs run as their submitter.
# No systemd and no cgroups are needed (proctrack/linuxproc, task/affinity). Ports: PLX_SLURM_PORT
# (default 16817) for slurmctld, +1 for slurmd, and +10.. for the nodes; choose another base to run two
# clusters at once.
set -euo pipefail

port=${PLX_SLURM_PORT:-16817}

die() { echo "local_cluster: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

can_run() {
  if [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
    echo "local_cluster: starting slurmctld/slurmd needs root or passwordless sudo (this is $(id -un)): skipped"
    return 77
  fi
  local missing=()
  for tool in slurmctld slurmd sbatch scontrol munged munge unmunge; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "local_cluster: missing ${missing[*]}: install slurmctld slurmd slurm-client munge libpmix-dev" \
         "(./bootstrap.sh deps)" >&2
    return 1
  fi
}

# munged is machine-wide: reuse a running one, else start it (as the munge user, as systemd would).
start_munge() {
  local dir=$1
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  if ! as_root test -s /etc/munge/munge.key; then
    as_root mungekey --create --keyfile=/etc/munge/munge.key
    as_root chown munge:munge /etc/munge/munge.key
    as_root chmod 0400 /etc/munge/munge.key
  fi
  as_root mkdir -p /run/munge
  as_root chown munge:munge /run/munge
  as_root chmod 0755 /run/munge
  if [ "$(id -u)" -eq 0 ]; then runuser -u munge -- /usr/sbin/munged; else sudo -n -u munge /usr/sbin/munged; fi
  touch "$dir/munged.started-here"
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "munged did not come up (munge -n | unmunge fails)"
}

write_config() {
  local dir=$1 nodes=$2
  local host cpus_line memory_mb node_memory
  host=$(hostname -s)
  # The hardware line slurmd itself detects, so the emulated nodes are exactly this machine.
  cpus_line=$(slurmd -C | head -1 | grep -o 'CPUs=.*ThreadsPerCore=[0-9]*')
  memory_mb=$(slurmd -C | head -1 | grep -o 'RealMemory=[0-9]*' | cut -d= -f2)
  node_memory=$(( memory_mb / 2 < 4000 ? memory_mb / 2 : 4000 ))
  mkdir -p "$dir/spool" "$dir/log" "$dir/tmp"
  cat >"$dir/slurm.conf" <<EOF
# Written by tests/slurm/local_cluster.sh: $nodes emulated nodes on $host.
ClusterName=plx
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
# A requeued job may start again once its credential expires: 10 s, not the default 120 s.
AuthInfo=cred_expire=10
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
TmpFS=$dir/tmp/%n
# No cgroups in containers: track processes by their parent, bind tasks with sched_setaffinity.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Debian's Open MPI initialises under srun only through PMIx.
MpiDefault=pmix
# No slurmdbd: no accounting, finished jobs go to a text file instead.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
# Schedule every 5 s so short test jobs and requeues do not wait a minute.
SchedulerParameters=sched_interval=5,bf_interval=5
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=30
MinJobAge=300
NodeName=node[1-$nodes] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$((port + 10))-$((port + 9 + nodes))] $cpus_line RealMemory=$node_memory
PartitionName=debug Nodes=node[1-$nodes] Default=YES MaxTime=INFINITE State=UP
EOF
}

stop_daemons() {
  local dir=$1
  [ -f "$dir/slurm.conf" ] || return 0
  if [ -f "$dir/slurmctld.pid" ] && as_root kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    as_root env SLURM_CONF="$dir/slurm.conf" scancel --quiet --partition=debug 2>/dev/null || true
    sleep 1
  fi
  local pids=()
  for pidfile in "$dir"/slurmd-*.pid "$dir/slurmctld.pid"; do
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    as_root kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    as_root rm -f "$pidfile"
  done
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do as_root kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do as_root kill -KILL "$pid" 2>/dev/null || true; done
  if [ -f "$dir/munged.started-here" ] && [ -f /run/munge/munged.pid ]; then
    as_root kill -TERM "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    rm -f "$dir/munged.started-here"
  fi
}

wait_until_idle() {
  local dir=$1 nodes=$2
  for _ in $(seq 150); do
    local idle
    idle=$(SLURM_CONF=$dir/slurm.conf sinfo -h -N -o '%t' 2>/dev/null | grep -c '^idle' || true)
    [ "$idle" -eq "$nodes" ] && return 0
    sleep 0.2
  done
  echo "local_cluster: the nodes did not become idle in 30 s; sinfo says:" >&2
  SLURM_CONF=$dir/slurm.conf sinfo -N >&2 || true
  tail -n 20 "$dir"/log/*.log >&2 || true
  return 1
}

command=${1:-}
case "$command" in
  start)
    [ $# -ge 2 ] || die "usage: $0 start DIR [NODES]"
    dir=$(mkdir -p "$2" && cd "$2" && pwd)
    nodes=${3:-2}
    [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "NODES must be a positive whole number, not '$nodes'"
    can_run || exit $?
    stop_daemons "$dir"
    # Another cluster on these ports would answer our sinfo and take our jobs.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is in use (another local cluster?): stop it, or choose other ports with PLX_SLURM_PORT"
    fi
    as_root rm -rf "$dir/spool" "$dir/log" "$dir/tmp"
    write_config "$dir" "$nodes"
    start_munge "$dir"
    as_root slurmctld -f "$dir/slurm.conf" -c -i
    for i in $(seq "$nodes"); do
      mkdir -p "$dir/tmp/node$i"
      as_root slurmd -f "$dir/slurm.conf" -N "node$i"
    done
    wait_until_idle "$dir" "$nodes" || { stop_daemons "$dir"; exit 1; }
    echo "local SLURM cluster up: $nodes nodes; export SLURM_CONF=$dir/slurm.conf"
    ;;
  stop)
    [ $# -ge 2 ] || die "usage: $0 stop DIR"
    [ -d "$2" ] || exit 0
    stop_daemons "$(cd "$2" && pwd)"
    ;;
  status)
    [ $# -ge 2 ] || die "usage: $0 status DIR"
    SLURM_CONF=$(cd "$2" && pwd)/slurm.conf sinfo -N
    ;;
  can-run)
    can_run
    ;;
  *)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "$command" ] || [ "$command" = "-h" ] || [ "$command" = "--help" ] || exit 2
    ;;
esac
