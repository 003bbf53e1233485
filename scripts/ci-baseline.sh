#!/usr/bin/env bash
# The stored-baseline regression gate (for history; the A/B gate is
# scripts/ci-regress.sh --base REF): runs the quick suite, compares it with a
# committed baseline (results/baselines/<name>.json) using `joulebench
# compare`, prints the markdown table (and appends it to $GITHUB_STEP_SUMMARY
# when set), and exits non-zero on a regression. A baseline is another day's
# machine: see docs/ci.md.
#
# usage: scripts/ci-baseline.sh [--update] [NAME]
#   NAME      baseline name; default quick-<cpu model>, e.g. quick-amd-epyc,
#             falling back to "quick" when there is no baseline of that name
#   --update  write this run as the baseline NAME instead of comparing (refresh)
# environment:
#   JB_BUILD        build directory with the joulebench binary (default build; built when missing)
#   JB_REPETITIONS  repetitions per row (default 7: the U test needs 5 or more to reach p < 0.05)
#   JB_THRESHOLD    percent change that counts (default 5)
#   JB_METRIC       time, flop_per_j or both (default time)
#   JB_OUT          where this run's results go (default results/ci-quick-<date>.json)
# exit: 0 no regression (or baseline written), 1 regression, 2 bad input or no baseline
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
name=""
for a in "$@"; do
  case "$a" in
    --update) update=1 ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "ci-baseline: unknown option '$a' (try --help)" >&2; exit 2 ;;
    *) [ -z "$name" ] || { echo "ci-baseline: one baseline name only" >&2; exit 2; }; name="$a" ;;
  esac
done

build="${JB_BUILD:-build}"
jb="$build/joulebench"
if [ ! -x "$jb" ]; then
  echo "ci-baseline: building $jb" >&2
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target joulebench >/dev/null
fi

cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n1)
slug=$(printf '%s' "${cpu:-unknown}" | tr '[:upper:]' '[:lower:]' | sed -e 's/([^)]*)//g' -e 's/[^a-z0-9]\{1,\}/-/g' \
       -e 's/^-//' -e 's/-$//' | cut -c1-48)
if [ -z "$name" ]; then
  name="quick-${slug:-unknown}"
  if [ "$update" = 0 ] && [ ! -f "results/baselines/$name.json" ] && [ -f results/baselines/quick.json ]; then
    name=quick
  fi
fi
case "$name" in */*|.*) echo "ci-baseline: bad baseline name '$name'" >&2; exit 2 ;; esac
baseline="results/baselines/$name.json"
if [ "$update" = 0 ] && [ ! -f "$baseline" ]; then
  echo "ci-baseline: no baseline $baseline for this machine ($cpu); create one with: scripts/ci-baseline.sh --update $name" >&2
  exit 2
fi

out="${JB_OUT:-results/ci-quick-$(date -u +%Y%m%d-%H%M%S).json}"
mkdir -p "$(dirname "$out")"
run_rc=0
"$jb" run --suite quick --out "$out" --repetitions "${JB_REPETITIONS:-7}" --format csv >/dev/null || run_rc=$?
# 1: a row failed verification (still compared: it shows as an error row); anything else: no results.
if [ "$run_rc" != 0 ] && { [ "$run_rc" != 1 ] || [ ! -f "$out" ]; }; then
  echo "ci-baseline: joulebench run failed (exit $run_rc)" >&2
  exit 2
fi

if [ "$update" = 1 ]; then
  mkdir -p results/baselines
  if [ "$run_rc" != 0 ]; then
    echo "ci-baseline: not writing a baseline from a run with failed rows" >&2
    exit 1
  fi
  cp "$out" "$baseline"
  echo "ci-baseline: wrote baseline $baseline from $out; commit it (git add $baseline)"
  exit 0
fi

md=$(mktemp)
trap 'rm -f "$md"' EXIT
rc=0
"$jb" compare "$baseline" "$out" --format markdown --metric "${JB_METRIC:-time}" \
  --threshold "${JB_THRESHOLD:-5}" > "$md" || rc=$?
cat "$md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$md" >> "$GITHUB_STEP_SUMMARY"
fi
if [ "$run_rc" = 1 ] && [ "$rc" = 0 ]; then
  echo "ci-baseline: a row failed verification in this run (an error row above)" >&2
  exit 1
fi
case $rc in
  0) echo "ci-baseline: no regression against $baseline" >&2 ;;
  1) echo "ci-baseline: REGRESSION against $baseline (table above)" >&2 ;;
  *) echo "ci-baseline: compare failed (exit $rc)" >&2 ;;
esac
exit $rc
