#!/usr/bin/env bash
# Runs the joulebench suite across a Slurm fleet: one job array with a task per
# target (a partition, a node feature or a node list, crossed with CPU
# frequencies and thread counts), each task alone on its node, then a job that
# depends on the array and gathers the results into one history database and
# one procurement report. docs/fleet.md is the guide; --help the reference.
set -euo pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
root=$(cd "$(dirname "$self")/.." && pwd)

help() {
  cat <<EOF
usage: scripts/fleet.sh [TARGETS] [--cpu-freq LIST] [--threads LIST] --out DIR
                        [--suite S] [--filter REGEX] [--joulebench PATH] [--run-args 'ARGS']
                        [--model NAME] [--devices N] [--region ISO3] [--price-kwh P]
                        [--machine-prices CSV] [--wait] [--dry-run] [SBATCH OPTIONS]
       scripts/fleet.sh --gather DIR [--job ID] [report options as above]

Submits the joulebench suite as one Slurm job array, a task per target, and a
gathering job that runs after it (--dependency=afterany:ARRAY): that job adds
every results file to DIR/history.sqlite (the only writer) and renders
DIR/report-ARRAY.html with the machines compared (joulebench report
--compare-machines).

Targets (each option given once per target; none: wherever Slurm puts the job):
  -p, --partition P      a partition (P may list several, Slurm picks one: --partition a,b)
  -C, --constraint F     a node feature expression, e.g. 'icelake' or 'amd&ib'
  -w, --nodelist NODES   a node list, e.g. 'node[01-02]'
Crossed with every target (comma-separated lists):
  --cpu-freq LIST        Slurm --cpu-freq values for the run's job step: kHz, low,
                         medium, high, highm1, MIN-MAX[:GOVERNOR] or a governor
                         (needs a cpufreq driver on the nodes and CpuFreqGovernors
                         in slurm.conf: docs/fleet.md), e.g. 1500000,2400000
  --threads LIST         joulebench run --threads values, e.g. 1,8,32

Each task takes its node exclusively (--exclusive), builds nothing, and runs
  srun [--cpu-freq F] JOULEBENCH run --suite S [--filter REGEX] [--threads T] ARGS
    --out DIR/<cluster>-<node>-<arrayjob>_<task>.json
so the binary and DIR must be on a filesystem every node sees.

  --out DIR              results, logs, batch scripts, history and report (created
                         when missing; its parent must exist)
  --joulebench PATH      the binary the nodes run (default: $root/build/joulebench)
  --suite S              suite name or file (default: quick)
  --filter REGEX         joulebench run --filter
  --run-args 'ARGS'      more joulebench run options, e.g. '--repetitions 6 --meter rapl'
  --model NAME           model for the report's projected training energy, time, CO2
  --devices N            devices the projection trains on (default 1)
  --region ISO3          grid carbon intensity of the projection (default world average)
  --price-kwh P          electricity price per kWh: the report adds energy cost
  --machine-prices CSV   price per machine-hour by machine (configs/hardware/machine_prices.csv)
  --job-name NAME        (default joulebench)
  --wait                 block until the gathering job ends; print the report's path
  --dry-run              print the batch scripts and the commands; submit nothing
  --gather DIR           do the gathering step here, now (what the dependent job runs)
  --job ID               with --gather: only the results of array job ID

Every other option goes to sbatch for the array tasks (Slurm's own spelling:
--account A, --qos Q, --time T, --gres=gpu:1, --mem 0, --reservation R, ...);
--account, --qos and --time go to the gathering job too. --array, --output,
--error, --dependency and --parsable are fleet.sh's own and are refused.

Where Slurm accounts energy (an acct_gather_energy plugin and slurmdbd), the
gathering step puts sacct's ConsumedEnergyRaw of each task's job step beside
joulebench's energy for the same run (context.run_energy) and says how far
apart they are; where it does not, it says so.

exit: 0 done (with --wait: the report was written), 1 a Slurm command or the
gathering failed, 2 bad input (one line on stderr)
EOF
}

usage_error() { echo "fleet.sh: $*" >&2; exit 2; }
fail() { echo "fleet.sh: $*" >&2; exit 1; }

# ---- Options -----------------------------------------------------------------
targets=()          # "kind value": partition/constraint/nodelist
freqs=()
threads=()
sbatch_extra=()     # options for the array's sbatch
gather_extra=()     # the subset that also applies to the gathering job
out="" jb="" suite="quick" filter="" run_args="" model="" devices="" region="" price_kwh="" prices=""
job_name="joulebench" wait=0 dry=0 gather_dir="" gather_job=""

# sbatch options that take no value: passed on alone.
flag_opts=" --contiguous --exclusive --hold --ignore-pbs --no-kill --no-requeue --overcommit --requeue
 --spread-job --use-min-nodes --oversubscribe --test-only -O -H -k -s -Q --quiet -v --verbose "

need() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; }
split_list() { local IFS=,; read -r -a _list <<<"$1"; }

while [ $# -gt 0 ]; do
  a=$1
  v=""
  # --opt=value is the same as --opt value; an sbatch option spelled so goes on as it is
  # (--exclusive=user takes a value, --exclusive none).
  if [[ "$a" == --*=* ]]; then
    case "${a%%=*}" in
      --partition|--constraint|--nodelist|--cpu-freq|--threads|--out|--joulebench|--suite|--filter|--run-args|\
      --model|--devices|--region|--price-kwh|--machine-prices|--job-name|--gather|--job|--array|--output|--error|\
      --dependency|--account|--qos|--time)
        v=${a#*=}; a=${a%%=*}; set -- "$a" "$v" "${@:2}" ;;
      *) sbatch_extra+=("$a"); shift; continue ;;
    esac
  fi
  case "$a" in
    -h|--help) help; exit 0 ;;
    -p|--partition) need "$@"; targets+=("partition $2"); shift 2 ;;
    -C|--constraint) need "$@"; targets+=("constraint $2"); shift 2 ;;
    -w|--nodelist) need "$@"; targets+=("nodelist $2"); shift 2 ;;
    --cpu-freq) need "$@"; split_list "$2"; freqs+=("${_list[@]}"); shift 2 ;;
    --threads) need "$@"; split_list "$2"; threads+=("${_list[@]}"); shift 2 ;;
    --out) need "$@"; out=$2; shift 2 ;;
    --joulebench) need "$@"; jb=$2; shift 2 ;;
    --suite) need "$@"; suite=$2; shift 2 ;;
    --filter) need "$@"; filter=$2; shift 2 ;;
    --run-args) [ $# -ge 2 ] || usage_error "--run-args needs a value"; run_args=$2; shift 2 ;;
    --model) need "$@"; model=$2; shift 2 ;;
    --devices) need "$@"; devices=$2; shift 2 ;;
    --region) need "$@"; region=$2; shift 2 ;;
    --price-kwh) need "$@"; price_kwh=$2; shift 2 ;;
    --machine-prices) need "$@"; prices=$2; shift 2 ;;
    -J|--job-name) need "$@"; job_name=$2; shift 2 ;;
    --wait) wait=1; shift ;;
    --dry-run) dry=1; shift ;;
    --gather) need "$@"; gather_dir=$2; shift 2 ;;
    --job) need "$@"; gather_job=$2; shift 2 ;;
    -a|--array|-o|--output|-e|--error|-d|--dependency|--parsable|-W)
      usage_error "$a is set by fleet.sh itself (one task per target; --wait waits)" ;;
    -A|--account|-q|--qos|-t|--time)
      need "$@"; sbatch_extra+=("$a" "$2"); gather_extra+=("$a" "$2"); shift 2 ;;
    -*)
      if [[ "$flag_opts" == *" $a "* ]]; then
        sbatch_extra+=("$a"); shift
      else
        need "$@"; sbatch_extra+=("$a" "$2"); shift 2
      fi ;;
    *) usage_error "unexpected argument '$a' (options only; try --help)" ;;
  esac
done

# ---- Checks, before anything is written or submitted -------------------------
for t in "${threads[@]}"; do
  [[ "$t" =~ ^[1-9][0-9]{0,3}$ ]] || usage_error "--threads wants whole numbers from 1 to 9999 (got '$t')"
done
freq_word='([0-9]+|low|medium|high|highm1)'
gov='([Cc]onservative|[Oo]n[Dd]emand|[Pp]erformance|[Pp]ower[Ss]ave|[Uu]ser[Ss]pace|[Ss]ched[Uu]til)'
for f in "${freqs[@]}"; do
  [[ "$f" =~ ^$freq_word(-$freq_word)?(:$gov)?$ || "$f" =~ ^$gov$ ]] ||
    usage_error "--cpu-freq '$f' is not a Slurm --cpu-freq value (kHz, low, medium, high, highm1, MIN-MAX[:GOVERNOR] or a governor)"
done
[ -z "$devices" ] || [[ "$devices" =~ ^[1-9][0-9]{0,8}$ ]] || usage_error "--devices wants a whole number >= 1 (got '$devices')"
[ -z "$price_kwh" ] || [[ "$price_kwh" =~ ^[0-9]+(\.[0-9]*)?$|^\.[0-9]+$ ]] ||
  usage_error "--price-kwh wants a price >= 0 (got '$price_kwh')"
[ -z "$region" ] || [[ "$region" =~ ^[A-Za-z]{3}$ ]] || usage_error "--region wants an ISO 3166 alpha-3 code (got '$region')"
[[ "$job_name" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || usage_error "--job-name wants letters, digits, . _ - (got '$job_name')"
[ -z "$prices" ] || [ -f "$prices" ] || usage_error "--machine-prices $prices is not a file"
[ -z "$prices" ] || prices=$(cd "$(dirname "$prices")" && pwd)/$(basename "$prices")
[ -z "$gather_job" ] || [[ "$gather_job" =~ ^[0-9]+$ ]] || usage_error "--job wants a Slurm job id (got '$gather_job')"

jb=${jb:-$root/build/joulebench}
[ -f "$jb" ] && [ -x "$jb" ] || usage_error "--joulebench $jb is not an executable file (build it, or give the installed one)"
jb=$(cd "$(dirname "$jb")" && pwd)/$(basename "$jb")

# The report's options, for the gathering step.
report_opts=()
[ -n "$model" ] && report_opts+=(--model "$model")
[ -n "$devices" ] && report_opts+=(--devices "$devices")
[ -n "$region" ] && report_opts+=(--region "$region")
[ -n "$price_kwh" ] && report_opts+=(--price-kwh "$price_kwh")
[ -n "$prices" ] && report_opts+=(--machine-prices "$prices")

# ---- The gathering step ------------------------------------------------------
# Adds the results to the history (one writer: this step), compares energy with
# Slurm's accounting, renders the report. Its status line goes to
# DIR/gather-<job>.status for --wait.
if [ -n "$gather_dir" ]; then
  [ -d "$gather_dir" ] || usage_error "--gather $gather_dir is not a directory"
  cd "$gather_dir"
  tag=${gather_job:-all}
  status_file="gather-$tag.status"
  shopt -s nullglob
  if [ -n "$gather_job" ]; then files=(*-"${gather_job}"_*.json); else files=(*.json); fi
  shopt -u nullglob
  report="report-$tag.html"
  rc=0
  if [ -n "$gather_job" ] && [ -f "tasks-$gather_job.txt" ]; then
    # Each task's file, or why it is missing.
    while read -r task label; do
      [[ "$task" =~ ^[0-9]+$ ]] || continue
      compgen -G "*-${gather_job}_${task}.json" >/dev/null ||
        { echo "fleet: task $task ($label) wrote no results: see logs/${gather_job}_${task}.out"; rc=1; }
    done <"tasks-$gather_job.txt"
  fi
  if [ ${#files[@]} -eq 0 ]; then
    echo "fleet: no results files in $gather_dir${gather_job:+ for job $gather_job}"
    echo "1 no results" >"$status_file"
    exit 1
  fi
  echo "fleet: gathering ${#files[@]} results file(s): ${files[*]}"
  "$jb" history --db history.sqlite add "${files[@]}" || rc=1
  /usr/bin/python3 "$root/scripts/fleet_energy.py" --tsv "energy-$tag.tsv" "${files[@]}" || rc=1
  if "$jb" report "${files[@]}" --out "$report" --compare-machines "${report_opts[@]}"; then
    echo "$rc $(pwd)/$report" >"$status_file"
    echo "fleet: report $(pwd)/$report"
  else
    echo "1 report failed" >"$status_file"
    rc=1
  fi
  exit "$rc"
fi

# ---- The array ---------------------------------------------------------------
[ -n "$out" ] || usage_error "needs --out DIR (a directory every node can write)"
parent=$(dirname "$out")
[ -d "$parent" ] || usage_error "--out $out: its directory $parent does not exist"
[ ! -e "$out" ] || [ -d "$out" ] || usage_error "--out $out exists and is not a directory"
out=$(cd "$parent" && pwd)/$(basename "$out")
read -r -a run_argv <<<"$run_args"
for a in "${run_argv[@]}"; do
  case "$a" in
    --out|--suite|--filter|--threads|--format) usage_error "--run-args: $a is set by fleet.sh (use its own option)" ;;
  esac
done
if [[ "$suite" != */* && "$suite" != *.json ]]; then
  [ -f "$root/configs/suites/$suite.json" ] || usage_error "--suite $suite: no configs/suites/$suite.json"
else
  [ -f "$suite" ] || usage_error "--suite $suite is not a file"
  suite=$(cd "$(dirname "$suite")" && pwd)/$(basename "$suite")
fi

[ ${#targets[@]} -gt 0 ] || targets=("default -")
[ ${#freqs[@]} -gt 0 ] || freqs=("")
[ ${#threads[@]} -gt 0 ] || threads=("")

# One task per target x frequency x thread count.
task_kind=() task_value=() task_freq=() task_threads=() task_label=()
for t in "${targets[@]}"; do
  for f in "${freqs[@]}"; do
    for n in "${threads[@]}"; do
      kind=${t%% *}
      value=${t#* }
      label="$kind=$value"
      [ "$kind" = default ] && label="default"
      [ -n "$f" ] && label+=" cpu-freq=$f"
      [ -n "$n" ] && label+=" threads=$n"
      task_kind+=("$kind") task_value+=("$value") task_freq+=("$f") task_threads+=("$n") task_label+=("$label")
    done
  done
done
ntasks=${#task_label[@]}
[ "$ntasks" -le 1000 ] || usage_error "$ntasks tasks (targets x --cpu-freq x --threads): at most 1000"

# Where every task goes: the same for all of them goes into the script; a
# placement that differs per task is set on the held tasks with scontrol.
same_place=1
for ((i = 1; i < ntasks; i++)); do
  [ "${task_kind[i]} ${task_value[i]}" = "${task_kind[0]} ${task_value[0]}" ] || same_place=0
done
# When every target is a partition, the array is submitted to all of them.
all_partitions=""
for ((i = 0; i < ntasks; i++)); do
  [ "${task_kind[i]}" = partition ] || { all_partitions=""; break; }
  [[ ",$all_partitions," == *",${task_value[i]},"* ]] || all_partitions+="${all_partitions:+,}${task_value[i]}"
done
place_opt() { # kind value -> the sbatch option
  case "$1" in
    partition) printf '%s\n' "--partition=$2" ;;
    constraint) printf '%s\n' "--constraint=$2" ;;
    nodelist) printf '%s\n' "--nodelist=$2" ;;
  esac
}
scontrol_field() { # kind value -> the scontrol update field
  case "$1" in
    partition) printf '%s\n' "Partition=$2" ;;
    constraint) printf '%s\n' "Features=$2" ;;
    nodelist) printf '%s\n' "NodeList=$2" ;;
  esac
}

q() { printf '%q' "$1"; }
stamp=$(date +%Y%m%d-%H%M%S)-$$
work="$out/.fleet/$stamp"
if [ "$dry" -eq 0 ]; then
  mkdir -p "$out" 2>/dev/null || usage_error "--out $out cannot be created"
  [ -w "$out" ] || usage_error "--out $out is not writable"
  mkdir -p "$out/logs" "$work" 2>/dev/null || usage_error "--out $out: cannot make logs/ and .fleet/ in it"
fi

array_script() {
  echo "#!/bin/bash"
  echo "# joulebench fleet: one task per target, made by scripts/fleet.sh on $(hostname -s) $(date -Iseconds)"
  echo "#SBATCH --job-name=$job_name"
  echo "#SBATCH --array=0-$((ntasks - 1))"
  echo "#SBATCH --nodes=1"
  echo "#SBATCH --ntasks=1"
  echo "#SBATCH --exclusive"
  echo "#SBATCH --output=$out/logs/%A_%a.out"
  if [ "$same_place" -eq 1 ] && [ "${task_kind[0]}" != default ]; then
    echo "#SBATCH $(place_opt "${task_kind[0]}" "${task_value[0]}")"
  elif [ -n "$all_partitions" ]; then
    # Valid for every task until each is set to its own (scontrol update, while held).
    echo "#SBATCH --partition=$all_partitions"
  fi
  echo "set -euo pipefail"
  echo "case \"\$SLURM_ARRAY_TASK_ID\" in"
  for ((i = 0; i < ntasks; i++)); do
    echo "  $i) target=$(q "${task_label[i]}"); freq=$(q "${task_freq[i]}"); threads=$(q "${task_threads[i]}") ;;"
  done
  echo "  *) echo \"no task \$SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;"
  echo "esac"
  echo "cluster=\${SLURM_CLUSTER_NAME:-slurm}"
  echo "node=\${SLURMD_NODENAME:-\$(hostname -s)}"
  echo "out=$(q "$out")/\$cluster-\$node-\${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID}.json"
  echo "export JB_FLEET_TARGET=\$target"
  echo "args=(run --suite $(q "$suite") --out \"\$out\")"
  [ -n "$filter" ] && echo "args+=(--filter $(q "$filter"))"
  echo "[ -z \"\$threads\" ] || args+=(--threads \"\$threads\")"
  if [ ${#run_argv[@]} -gt 0 ]; then
    printf 'args+=('; printf ' %q' "${run_argv[@]}"; echo ' )'
  fi
  # The step gets every CPU of the node; --cpu-freq is applied by slurmd to the step.
  echo "step=(--ntasks=1 --nodes=1 --cpus-per-task=\"\${SLURM_CPUS_ON_NODE:-1}\" --cpu-bind=none)"
  echo "[ -z \"\$freq\" ] || step+=(--cpu-freq=\"\$freq\")"
  echo "echo \"joulebench fleet task \$SLURM_ARRAY_TASK_ID (\$target) on \$node: \$out\""
  echo "cd $(q "$root")"
  echo "exec srun \"\${step[@]}\" $(q "$jb") \"\${args[@]}\""
}

gather_script() {
  echo "#!/bin/bash"
  echo "# joulebench fleet: gathers array job \$1's results (history, energy check, report)"
  echo "#SBATCH --job-name=$job_name-gather"
  echo "#SBATCH --nodes=1"
  echo "#SBATCH --ntasks=1"
  echo "#SBATCH --output=$out/logs/gather-%j.out"
  echo "cd $(q "$root")"
  printf 'exec bash %q --gather %q --job "$1" --joulebench %q' "$self" "$out" "$jb"
  for o in "${report_opts[@]}"; do printf ' %q' "$o"; done
  echo
}

# The pass-through options go on the sbatch command line (quoted as given).
array_cmd=(sbatch --parsable --hold "${sbatch_extra[@]}" "$work/array.sbatch")
gather_cmd_prefix=(sbatch --parsable "${gather_extra[@]}" --job-name="$job_name-gather")

if [ "$dry" -eq 1 ]; then
  echo "# $ntasks task(s): ${task_label[*]}"
  echo "# ---- $work/array.sbatch"
  array_script
  echo "# ---- $work/gather.sbatch"
  gather_script
  echo "# ---- commands"
  printf '%q ' "${array_cmd[@]}"; echo "   # -> ARRAY"
  if [ "$same_place" -eq 0 ]; then
    for ((i = 0; i < ntasks; i++)); do
      [ "${task_kind[i]}" = default ] && continue
      echo "scontrol update JobId=ARRAY_$i $(q "$(scontrol_field "${task_kind[i]}" "${task_value[i]}")")"
    done
  fi
  printf '%q ' "${gather_cmd_prefix[@]}"; echo "--dependency=afterany:ARRAY $work/gather.sbatch ARRAY   # -> GATHER"
  echo "scontrol release ARRAY"
  exit 0
fi

for b in sbatch scontrol squeue; do
  command -v "$b" >/dev/null || fail "$b not found: this is not a Slurm submit host (scripts/slurm-local.sh start makes one here)"
done
array_script >"$work/array.sbatch"
gather_script >"$work/gather.sbatch"

sb_err=$(mktemp)
trap 'rm -f "$sb_err"' EXIT
array=$("${array_cmd[@]}" 2>"$sb_err") || fail "sbatch refused the array: $(tr '\n' ' ' <"$sb_err")"
array=${array%%;*}
cancel_and_fail() { scancel "$array" 2>/dev/null || true; fail "$@"; }
for ((i = 0; i < ntasks; i++)); do echo "$i ${task_label[i]}"; done >"$out/tasks-$array.txt"
if [ "$same_place" -eq 0 ]; then
  for ((i = 0; i < ntasks; i++)); do
    [ "${task_kind[i]}" = default ] && continue
    scontrol update "JobId=${array}_$i" "$(scontrol_field "${task_kind[i]}" "${task_value[i]}")" 2>"$sb_err" ||
      cancel_and_fail "task $i (${task_label[i]}): scontrol refused it: $(tr '\n' ' ' <"$sb_err")"
  done
fi
gather=$("${gather_cmd_prefix[@]}" --dependency="afterany:$array" "$work/gather.sbatch" "$array" 2>"$sb_err") ||
  cancel_and_fail "sbatch refused the gathering job: $(tr '\n' ' ' <"$sb_err")"
gather=${gather%%;*}
scontrol release "$array" 2>"$sb_err" || { scancel "$gather" 2>/dev/null || true; cancel_and_fail "scontrol release $array: $(tr '\n' ' ' <"$sb_err")"; }
echo "fleet: array job $array ($ntasks task(s): ${task_label[*]}), gathering job $gather"
echo "fleet: results and logs in $out; report will be $out/report-$array.html"

[ "$wait" -eq 1 ] || exit 0
# Wait for the gathering job to leave the queue, then read its status line.
while squeue -h -j "$gather" -o '%T' 2>/dev/null | grep -q .; do sleep 2; done
status="$out/gather-$array.status"
for _ in $(seq 10); do [ -f "$status" ] && break; sleep 1; done
[ -f "$status" ] || fail "the gathering job $gather ended without a status (see $out/logs/gather-$gather.out)"
read -r grc what <"$status"
grep -E '^energy:' "$out/logs/gather-$gather.out" 2>/dev/null || true
case "$what" in
  /*) echo "fleet: report: $what"; exit "$grc" ;;
  *) fail "gathering failed: $what (see $out/logs/gather-$gather.out)" ;;
esac
