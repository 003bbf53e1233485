#!/usr/bin/env bash
# Tests of scripts/fleet.sh (run by ctest).
#   test_fleet.sh cli   SOURCE_DIR JOULEBENCH   options, bad input, --dry-run's batch
#                                               scripts, the energy check on canned
#                                               sacct/scontrol output; no Slurm needed
#   test_fleet.sh slurm SOURCE_DIR JOULEBENCH   a real one-node cluster
#                                               (scripts/slurm-local.sh): a two-task
#                                               array at 1 and 2 threads, gathered and
#                                               reported; exit 77 (skipped) with the
#                                               reason where Slurm cannot start here
set -uo pipefail
mode=$1 src=$2 jb=$3
fleet="$src/scripts/fleet.sh"
tmp=$(mktemp -d /tmp/jb-fleet-test.XXXXXX)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# exit 2 and exactly one line on stderr containing $1; the rest are fleet.sh's arguments.
expect_usage() {
  local want=$1; shift
  local err rc lines
  err=$(bash "$fleet" "$@" 2>&1 >/dev/null); rc=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || [[ "$err" != *"$want"* ]]; then
    fail "fleet.sh $*: exit $rc, stderr '$err' (want exit 2, one line with '$want')"
  else
    ok "refused: $*"
  fi
}

cli() {
  bash "$fleet" --help | grep -q -- "--cpu-freq LIST" && ok "--help" || fail "--help"
  local o=(--joulebench "$jb" --out "$tmp/out")
  expect_usage "needs --out" --joulebench "$jb"
  expect_usage "--threads wants whole numbers" "${o[@]}" --threads 1,x
  expect_usage "--threads wants whole numbers" "${o[@]}" --threads 0
  expect_usage "is not a Slurm --cpu-freq value" "${o[@]}" --cpu-freq 2.4GHz
  expect_usage "is set by fleet.sh itself" "${o[@]}" --array 0-3
  expect_usage "is set by fleet.sh itself" "${o[@]}" --output=x.out
  expect_usage "is not an executable file" --joulebench "$tmp/nothing" --out "$tmp/out"
  expect_usage "its directory" --joulebench "$jb" --out "$tmp/no/such/dir"
  expect_usage "no configs/suites/nosuch.json" "${o[@]}" --suite nosuch
  expect_usage "--partition needs a value" "${o[@]}" --partition
  expect_usage "--devices wants a whole number" "${o[@]}" --devices -3
  expect_usage "--price-kwh wants a price" "${o[@]}" --price-kwh abc
  expect_usage "--run-args: --out is set by fleet.sh" "${o[@]}" --run-args "--out x.json"
  expect_usage "unexpected argument" "${o[@]}" stray
  touch "$tmp/afile"
  expect_usage "exists and is not a directory" --joulebench "$jb" --out "$tmp/afile"
  expect_usage "--gather $tmp/none is not a directory" --joulebench "$jb" --gather "$tmp/none"

  # --dry-run: two partitions x two frequencies x two thread counts = 8 tasks, each
  # partition set on its held task, the gathering job after the array.
  local dry
  dry=$(bash "$fleet" --joulebench "$jb" --out "$tmp/dry" -p icelake --partition=genoa --cpu-freq low,2400000 \
        --threads 1,4 --suite quick --filter 'matmul' --account proj1 --gres=gpu:1 --time 00:30:00 --exclusive \
        --model gpt2-124m --price-kwh 0.2 --run-args '--repetitions 6' --dry-run) || fail "--dry-run exit $?"
  [ ! -e "$tmp/dry" ] && ok "--dry-run wrote nothing" || fail "--dry-run made $tmp/dry"
  local want=("#SBATCH --array=0-7" "#SBATCH --exclusive" "#SBATCH --partition=icelake,genoa"
              "7) target=partition=genoa\\ cpu-freq=2400000\\ threads=4; freq=2400000; threads=4"
              'step+=(--cpu-freq="$freq")' 'args+=(--threads "$threads")' "args+=(--filter matmul)"
              "args+=( --repetitions 6 )" 'exec srun "${step[@]}"' '--cpus-per-task="${SLURM_CPUS_ON_NODE:-1}"'
              "/\$cluster-\$node-\${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID}.json" "export JB_FLEET_TARGET"
              "sbatch --parsable --hold --account proj1 --gres=gpu:1 --time 00:30:00 --exclusive"
              "scontrol update JobId=ARRAY_0 Partition=icelake" "scontrol update JobId=ARRAY_7 Partition=genoa"
              "--account proj1 --time 00:30:00 --job-name=joulebench-gather --dependency=afterany:ARRAY"
              "--gather $tmp/dry --job \"\$1\"" "--model gpt2-124m --price-kwh 0.2" "scontrol release ARRAY")
  for w in "${want[@]}"; do
    [[ "$dry" == *"$w"* ]] && ok "dry run has: $w" || fail "dry run lacks: $w"
  done
  [[ "$(grep -- "-gather --dependency" <<<"$dry")" == *gres* ]] &&
    fail "--gres went to the gathering job" || ok "--gres only for the array"
  # The array script itself is valid bash.
  sed -n '/---- .*array.sbatch/,/---- .*gather.sbatch/p' <<<"$dry" | sed '1d;$d' >"$tmp/array.sbatch"
  bash -n "$tmp/array.sbatch" && ok "array script parses" || fail "array script does not parse"
  # One target: no scontrol updates, the placement in the script.
  dry=$(bash "$fleet" --joulebench "$jb" --out "$tmp/dry" --constraint 'amd&ib' --threads 2 --dry-run)
  [[ "$dry" == *"#SBATCH --constraint=amd&ib"* && "$dry" != *"scontrol update"* ]] && ok "one target in the script" ||
    fail "one target: $dry"
  dry=$(bash "$fleet" --joulebench "$jb" --out "$tmp/dry" -C icelake -w 'node[01-02]' --dry-run)
  [[ "$dry" == *"Features=icelake"* && "$dry" == *"NodeList=node\[01-02\]"* ]] && ok "constraint and node list per task" ||
    fail "constraint/nodelist updates: $dry"

  # The energy check, on canned Slurm answers.
  mkdir -p "$tmp/e" "$tmp/bin"
  cat >"$tmp/e/r.json" <<EOF
{"context": {"slurm": {"job_id": 12, "array_job_id": 10, "array_task_id": 2, "node": "n7", "target": "partition=cpu"},
 "run_energy": {"cpu": {"joules": 1000, "seconds": 20, "meter": "rapl", "energy": "measured"}}}, "benchmarks": []}
EOF
  cat >"$tmp/bin/scontrol" <<'EOF'
#!/bin/sh
printf 'AccountingStorageType   = accounting_storage/slurmdbd\nAcctGatherEnergyType    = %s\n' "${FAKE_PLUGIN:-acct_gather_energy/rapl}"
EOF
  cat >"$tmp/bin/sacct" <<'EOF'
#!/bin/sh
[ "$2" = "10_2" ] || { echo "sacct: wrong job $2" >&2; exit 1; }
printf '10_2|1300|25\n10_2.batch|1310|25\n10_2.0|%s|21\n' "${FAKE_STEP_J:-1100}"
EOF
  chmod +x "$tmp/bin/scontrol" "$tmp/bin/sacct"
  local e
  e=$(JB_SCONTROL="$tmp/bin/scontrol" JB_SACCT="$tmp/bin/sacct" /usr/bin/python3 "$src/scripts/fleet_energy.py" \
      --tsv "$tmp/e/e.tsv" "$tmp/e/r.json")
  [[ "$e" == *"joulebench 1000.0 J in 20.0 s (measured)"*"step 10_2.0) 1100.0 J in 21 s: +10.0% from joulebench's"* ]] &&
    ok "energy: Slurm's step figure beside joulebench's" || fail "energy comparison: $e"
  grep -q $'10_2\t1000.0\t20.0\tmeasured\t1100.0\t21\t+10.0' "$tmp/e/e.tsv" && ok "energy tsv" ||
    fail "energy tsv: $(cat "$tmp/e/e.tsv")"
  e=$(FAKE_STEP_J=0 JB_SCONTROL="$tmp/bin/scontrol" JB_SACCT="$tmp/bin/sacct" /usr/bin/python3 \
      "$src/scripts/fleet_energy.py" "$tmp/e/r.json")
  [[ "$e" == *"Slurm recorded no energy for 10_2.0"* && "$e" != *" 0.0 J"* ]] && ok "energy: 0 is said as none" ||
    fail "energy 0: $e"
  e=$(FAKE_PLUGIN=acct_gather_energy/none JB_SCONTROL="$tmp/bin/scontrol" JB_SACCT="$tmp/bin/sacct" \
      /usr/bin/python3 "$src/scripts/fleet_energy.py" "$tmp/e/r.json")
  [[ "$e" == *"Slurm has no energy plugin"* ]] && ok "energy: no plugin said" || fail "no plugin: $e"
}

slurm() {
  [ "$(id -u)" -eq 0 ] || { echo "skipped: the local Slurm cluster needs root"; exit 77; }
  local b
  for b in munged slurmctld slurmd sbatch; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
      { echo "skipped: $b missing (apt-get install slurm-wlm munge; scripts/setup.sh does)"; exit 77; }
  done
  local started dir
  started=$(bash "$src/scripts/slurm-local.sh" start "$tmp/slurm" 2>"$tmp/start.err")
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$tmp/start.err"
    [ "$rc" -eq 3 ] && { echo "skipped: Slurm cannot start here: $(tail -n 1 "$tmp/start.err")"; exit 77; }
    fail "slurm-local.sh start exit $rc"
    return
  fi
  dir=$(head -n 1 <<<"$started")
  trap 'bash "$src/scripts/slurm-local.sh" stop "$dir" >/dev/null; rm -rf "$tmp"' EXIT
  export SLURM_CONF="$dir/slurm.conf"
  sinfo -h -o '%P %a %T' | grep -q "up idle" && ok "sinfo answers: $(sinfo -h -o '%P %T %N' | head -n 1)" ||
    fail "sinfo: $(sinfo 2>&1)"
  local node out
  node=$(hostname -s)
  out="$tmp/fleet"
  local filter='^(matmul/cpu/blocked/f32/m:128|attention/cpu/flash/f32/b:1/h:4/n:256/d:64/causal:1)'
  local t0=$SECONDS
  timeout 150 bash "$src/scripts/fleet.sh" --joulebench "$jb" --partition local --threads 1,2 --out "$out" \
    --suite quick --filter "$filter" --run-args '--repetitions 6 --min-time 0.01' --model gpt2-124m --devices 8 \
    --time 00:05:00 --wait >"$tmp/fleet.log" 2>&1
  rc=$?
  cat "$tmp/fleet.log"
  echo "fleet run: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" -eq 0 ] || { fail "fleet.sh --wait exit $rc"; for f in "$out"/logs/*; do echo "== $f"; cat "$f"; done; return; }
  local array
  array=$(sed -n 's/^fleet: array job \([0-9]*\).*/\1/p' "$tmp/fleet.log")
  [ -n "$array" ] || { fail "no array job id in the output"; return; }
  local cluster
  cluster=$(sed -n 's/^ClusterName=//p' "$SLURM_CONF")
  for task in 0 1; do
    local f="$out/$cluster-$node-${array}_$task.json"
    [ -f "$f" ] || { fail "no results file $f"; continue; }
    /usr/bin/python3 - "$f" "$array" "$task" "$node" "$cluster" <<'EOF' && ok "task $task: slurm context" || fail "task $task: slurm context"
import json, sys
path, array, task, node, cluster = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = json.load(open(path))["context"]
s = ctx.get("slurm")
want = {"array_job_id": array, "array_task_id": task, "partition": "local", "node": node, "cluster": cluster,
        "target": "partition=local threads=%d" % (task + 1)}
bad = [(k, s.get(k), v) for k, v in want.items() if s.get(k) != v]
for k in ("job_id", "cpus_on_node", "version", "step_id"):
    if k not in s:
        bad.append((k, None, "present"))
if s.get("version") in (None, "unknown"):
    bad.append(("version", s.get("version"), "a version"))
if ctx.get("threads") != task + 1:
    bad.append(("threads", ctx.get("threads"), task + 1))
if "cpu" not in ctx.get("run_energy", {}):
    bad.append(("run_energy", None, "cpu"))
print("  slurm context:", json.dumps(s))
for b in bad:
    print("  %s is %r, want %r" % b)
sys.exit(1 if bad else 0)
EOF
  done
  # The gathering step: one history with both runs, the energy check, the report.
  /usr/bin/python3 -c "
import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute('select count(*) from runs').fetchone()[0]
sys.exit(0 if n == 2 else 1)" "$out/history.sqlite" && ok "history has both runs" ||
    fail "history: $("$jb" history --db "$out/history.sqlite" show 2>&1 | head -n 5)"
  grep -q "Slurm has no energy plugin" "$tmp/fleet.log" && ok "energy: no plugin said" || fail "energy line missing"
  [ -f "$out/energy-$array.tsv" ] && ok "energy table" || fail "no energy-$array.tsv"
  local report="$out/report-$array.html"
  grep -q "^fleet: report: $report" "$tmp/fleet.log" && ok "--wait printed the report" || fail "--wait did not print $report"
  [ -f "$report" ] || { fail "no report"; return; }
  for w in "Machines compared" "threads=1" "threads=2" "energy: estimated" "Training GPT-2 124M on 8 devices" \
           "Time against energy" "rank by GFLOP/J"; do
    grep -q "$w" "$report" && ok "report has: $w" || fail "report lacks: $w"
  done
  # The machines section alone (so a screenshot shows it), with its own charts: 2 ops + the projection.
  /usr/bin/python3 - "$report" "$tmp/machines.html" <<'EOF'
import sys
page = open(sys.argv[1]).read()
head, rest = page.split("<body>", 1)
i = rest.index("<h2 id='machines'>")
open(sys.argv[2], "w").write(head + "<body>" + rest[i:])
EOF
  local n_charts
  n_charts=$(grep -o 'data:image/png;base64' "$tmp/machines.html" | wc -l)
  [ "$n_charts" -ge 3 ] && ok "machines section: $n_charts charts" || fail "machines section: $n_charts charts"
  local chromium=""
  for c in chromium chromium-browser google-chrome; do command -v "$c" >/dev/null && { chromium=$(command -v "$c"); break; }; done
  if [ -z "$chromium" ]; then
    echo "note: no chromium: the page was not rendered (scripts/setup.sh installs it)"
  else
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chrome" \
      --screenshot="$tmp/shot.png" --window-size=1200,2400 "file://$tmp/machines.html" >/dev/null 2>&1
    if [ -f "$tmp/shot.png" ]; then
      /usr/bin/python3 "$src/tests/check_report.py" "$tmp/machines.html" "$tmp/shot.png" 3 &&
        ok "machines section rendered in chromium" || fail "the rendered machines section failed its checks"
      [ -n "${JB_KEEP_SCREENSHOT:-}" ] && cp "$tmp/shot.png" "$JB_KEEP_SCREENSHOT"
    else
      echo "note: $chromium took no screenshot here"
    fi
  fi
  # stop ends exactly its daemons.
  local pids
  pids=$(awk '{print $2}' "$dir/pids")
  bash "$src/scripts/slurm-local.sh" stop "$dir" >/dev/null
  trap 'rm -rf "$tmp"' EXIT
  local alive=0
  for p in $pids; do [ -d "/proc/$p" ] && alive=1; done
  [ "$alive" -eq 0 ] && [ ! -d "$dir" ] && ok "stop ended the daemons and removed $dir" || fail "stop left daemons or $dir"
}

trap 'rm -rf "$tmp"' EXIT
case "$mode" in
  cli) cli ;;
  slurm) slurm ;;
  *) echo "usage: test_fleet.sh cli|slurm SOURCE_DIR JOULEBENCH"; exit 2 ;;
esac
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
