#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests and for trying
# scripts/fleet.sh: its own munge key and munged, a slurm.conf in a temporary
# directory, slurmctld and slurmd on a free localhost port pair. As root,
# without systemd (Debian 12: slurm-wlm 22.05, munge 0.5; scripts/setup.sh
# installs them).
#
#   scripts/slurm-local.sh start [DIR]   prints DIR and the line to use it:
#                                         export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-local.sh stop DIR      ends exactly the daemons start began
#                                         (their pids are in DIR), removes DIR
#   scripts/slurm-local.sh status DIR    sinfo against it
#
# Exit: 0 ok, 2 bad usage, 3 cannot start here (not root, packages missing,
# a daemon did not come up: the reason on stderr), 1 anything else.
set -euo pipefail

die() { echo "slurm-local: $*" >&2; exit "${2:-1}"; }
usage() { sed -n '/^#   scripts/,/^# Exit/p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
case "$cmd" in
  -h|--help) usage; exit 0 ;;
  start|stop|status) ;;
  "") die "needs start, stop or status (try --help)" 2 ;;
  *) die "unknown command '$cmd' (start, stop or status)" 2 ;;
esac

# Daemons recorded in DIR/pids as "name pid"; each is ended only if its
# /proc/PID/cmdline still names this DIR (a reused pid is left alone).
stop_dir() {
  local dir=$1 name pid
  [ -f "$dir/pids" ] || return 0
  # Reverse order: slurmd, slurmctld, then munged (the others need it to the end).
  tac "$dir/pids" | while read -r name pid; do
    if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$dir/"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
      if [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
  done
  rm -f "$dir/pids"
}

if [ "$cmd" = stop ] || [ "$cmd" = status ]; then
  dir=${2:-}
  [ -n "$dir" ] || die "$cmd needs the directory start printed" 2
  [ -f "$dir/slurm.conf" ] || die "$dir is not a directory made by slurm-local.sh start (no slurm.conf)" 2
  if [ "$cmd" = status ]; then
    SLURM_CONF="$dir/slurm.conf" sinfo
    exit $?
  fi
  stop_dir "$dir"
  # Jobs' own processes: proctrack/linuxproc ends them when slurmd ends a job;
  # what slurmstepd left is under this DIR's spool, and is ended the same way.
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "^slurmstepd" &&
       { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$dir/slurm.conf"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  case "$dir" in
    /tmp/*|"${TMPDIR:-/tmp}"/*) rm -rf "$dir" ;;
    *) echo "slurm-local: left $dir in place (not under ${TMPDIR:-/tmp})" >&2 ;;
  esac
  echo "slurm-local: stopped"
  exit 0
fi

# ---- start ------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd runs jobs as their user and needs root to do so)" 3
for b in munged slurmctld slurmd sbatch sinfo scontrol; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
    die "$b not found: apt-get install slurm-wlm munge (scripts/setup.sh does)" 3
done
PATH=$PATH:/usr/sbin

dir=${2:-}
if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/jb-slurm.XXXXXX")
else
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
fi
chmod 0700 "$dir"
mkdir -p "$dir/munge" "$dir/spool" "$dir/state" "$dir/log"
chmod 0700 "$dir/munge"

started=0
cleanup_on_error() {
  if [ "$started" -eq 0 ]; then
    stop_dir "$dir"
    echo "slurm-local: logs kept in $dir/log" >&2
  fi
}
trap cleanup_on_error EXIT

# ---- munge: its own key, socket, pid and seed files --------------------------
key=$dir/munge/munge.key
dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
chmod 0400 "$key"
sock=$dir/munge/munge.socket
munged --key-file="$key" --socket="$sock" --pid-file="$dir/munge/munged.pid" \
  --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log" --force \
  >>"$dir/log/munged.out" 2>&1 || die "munged did not start: $(tail -n 3 "$dir/log/munged.log" "$dir/log/munged.out" 2>/dev/null | tr '\n' ' ')" 3
for _ in $(seq 50); do [ -s "$dir/munge/munged.pid" ] && [ -S "$sock" ] && break; sleep 0.1; done
[ -s "$dir/munge/munged.pid" ] || die "munged wrote no pid file" 3
echo "munged $(cat "$dir/munge/munged.pid")" >>"$dir/pids"

# ---- slurm.conf: the node as slurmd -C sees it, on a free port pair ---------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=0
for _ in $(seq 200); do
  p=$((20000 + (RANDOM + $$) % 10000 * 2))
  if port_free "$p" && port_free "$((p + 1))"; then port=$p; break; fi
done
[ "$port" -ne 0 ] || die "no free port pair found between 20000 and 40000" 3

node=$(hostname -s)
hw=$(slurmd -C 2>/dev/null | head -n 1)
cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
boards=$(sed -n 's/.* Boards=\([0-9]*\).*/\1/p' <<<"$hw")
sockets=$(sed -n 's/.* SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$hw")
cores=$(sed -n 's/.* CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$hw")
tpc=$(sed -n 's/.* ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$hw")
mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
[ -n "$cpus" ] && [ -n "$mem" ] || die "slurmd -C did not describe this node: '$hw'" 3
# A little below what slurmd reports, so a small change in free memory does not drain the node.
mem=$((mem * 95 / 100))
cluster="jblocal$((port / 2 % 10000))"

cat >"$dir/slurm.conf" <<EOF
# One-node cluster made by joulebench scripts/slurm-local.sh; everything under $dir.
ClusterName=$cluster
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups and no systemd here: processes are tracked through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
# No slurmdbd: sacct has nothing to read, and there is no energy plugin.
AccountingStorageType=accounting_storage/none
AcctGatherEnergyType=acct_gather_energy/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
# --cpu-freq needs a cpufreq driver on the node (scaling_available_frequencies);
# this range lets jobs ask for one where the node has it.
CpuFreqGovernors=OnDemand,Performance,UserSpace,PowerSave,Conservative,SchedUtil
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus Boards=${boards:-1} SocketsPerBoard=${sockets:-1} CoresPerSocket=${cores:-$cpus} ThreadsPerCore=${tpc:-1} RealMemory=$mem State=UNKNOWN Feature=local
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=EXCLUSIVE
# A second partition on the same node, so a fleet with two partition targets can be tried here.
PartitionName=local2 Nodes=$node Default=NO MaxTime=INFINITE State=UP OverSubscribe=EXCLUSIVE
EOF
export SLURM_CONF=$dir/slurm.conf

slurmctld -f "$dir/slurm.conf" -i >>"$dir/log/slurmctld.out" 2>&1 ||
  die "slurmctld did not start: $(tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmctld.out" 2>/dev/null | tr '\n' ' ')" 3
for _ in $(seq 50); do [ -s "$dir/slurmctld.pid" ] && break; sleep 0.1; done
[ -s "$dir/slurmctld.pid" ] || die "slurmctld wrote no pid file: $(tail -n 5 "$dir/log/slurmctld.log" 2>/dev/null | tr '\n' ' ')" 3
echo "slurmctld $(cat "$dir/slurmctld.pid")" >>"$dir/pids"

slurmd -f "$dir/slurm.conf" -N "$node" >>"$dir/log/slurmd.out" 2>&1 ||
  die "slurmd did not start: $(tail -n 5 "$dir/log/slurmd.log" "$dir/log/slurmd.out" 2>/dev/null | tr '\n' ' ')" 3
for _ in $(seq 50); do [ -s "$dir/slurmd.pid" ] && break; sleep 0.1; done
[ -s "$dir/slurmd.pid" ] || die "slurmd wrote no pid file: $(tail -n 5 "$dir/log/slurmd.log" 2>/dev/null | tr '\n' ' ')" 3
echo "slurmd $(cat "$dir/slurmd.pid")" >>"$dir/pids"

# Up when sinfo answers and the node is idle.
state=""
for _ in $(seq 150); do
  state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n 1 || true)
  case "$state" in idle*|mix*|alloc*) break ;; esac
  sleep 0.2
done
case "$state" in
  idle*|mix*|alloc*) ;;
  *) die "the node did not become idle (state '${state:-no answer}'): $(tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" 2>/dev/null | tr '\n' ' ')" 3 ;;
esac
started=1
echo "slurm-local: cluster $cluster up in $dir (node $node: $cpus CPUs, ${mem} MB; ports $port, $((port + 1)))" >&2
echo "$dir"
echo "export SLURM_CONF=$dir/slurm.conf"
