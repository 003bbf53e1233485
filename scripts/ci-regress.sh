#!/usr/bin/env bash
# A/B regression check that does not depend on another day's machine:
# builds REF's joulebench in a temporary worktree, runs it and this tree's
# joulebench alternately on the quick suite (ABBA order: A B, B A, A B, ...),
# and compares them with `joulebench compare --paired` (per row, the median
# ratio over the pairs with its 95% interval and the Wilcoxon signed-rank
# test).
#
#   scripts/ci-regress.sh --base REF [--pairs N] [--suite NAME] [--filter REGEX]
#                         [--threshold PCT] [--alpha A] [--repetitions R]
#                         [--keep DIR] [--base-exe EXE --exe EXE]
#   scripts/ci-regress.sh [--update] [NAME]   the stored-baseline mode
#                                             (scripts/ci-baseline.sh)
#
# exit: 0 no regression, 1 a row slower by more than the threshold and
# significantly so (the rows are named), 2 bad input or a failed build/run.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

  --base REF       the commit (or branch, tag) to compare against (required)
  --pairs N        A/B pairs of runs (default 6: the fewest that give an interval
                   and can reach p < 0.05)
  --suite NAME     suite both binaries run, each its own copy (default quick)
  --filter REGEX   only the rows whose names match
  --threshold PCT  slowdown that matters, in percent (default 5)
  --alpha A        significance level (default 0.05)
  --repetitions R  rounds per run (default 3; each run gives one median per row)
  --keep DIR       keep the results files in DIR (default: a temporary folder)
  --base-exe EXE, --exe EXE
                   use these joulebench binaries instead of building REF and this
                   tree (both or neither)
EOF
}

# Without --base (or --base-exe) the stored-baseline mode: scripts/ci-baseline.sh.
case " $* " in
    *" --base "*|*" --base-exe "*|*" -h "*|*" --help "*) ;;
    *) exec bash scripts/ci-baseline.sh "$@" ;;
esac

die() { # a usage error: one line, exit 2
    echo "ci-regress: $*" >&2
    exit 2
}

base= pairs=6 suite=quick filter= threshold=5 alpha=0.05 reps=3 keep= base_exe= cur_exe=
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --base|--pairs|--suite|--filter|--threshold|--alpha|--repetitions|--keep|--base-exe|--exe)
            [ $# -ge 2 ] || die "$1 needs a value"
            case "$1" in
                --base) base=$2 ;; --pairs) pairs=$2 ;; --suite) suite=$2 ;; --filter) filter=$2 ;;
                --threshold) threshold=$2 ;; --alpha) alpha=$2 ;; --repetitions) reps=$2 ;;
                --keep) keep=$2 ;; --base-exe) base_exe=$2 ;; --exe) cur_exe=$2 ;;
            esac
            shift 2 ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
done
[[ "$pairs" =~ ^[0-9]+$ ]] && [ "$pairs" -ge 2 ] && [ "$pairs" -le 100 ] || die "--pairs must be a whole number in [2, 100]"
[[ "$reps" =~ ^[0-9]+$ ]] && [ "$reps" -ge 1 ] && [ "$reps" -le 100 ] || die "--repetitions must be a whole number in [1, 100]"
if [ -n "$base_exe$cur_exe" ]; then
    [ -n "$base_exe" ] && [ -n "$cur_exe" ] || die "--base-exe and --exe go together"
    for x in "$base_exe" "$cur_exe"; do [ -x "$x" ] || die "$x is not an executable"; done
else
    [ -n "$base" ] || die "--base REF is required (try --help)"
    git rev-parse --verify --quiet "$base^{commit}" >/dev/null || die "--base '$base' is not a commit of this repository"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/jb-ci-regress.XXXXXX")
cleanup() {
    if [ -d "$work/base-src" ]; then git worktree remove --force "$work/base-src" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
out=${keep:-$work/results}
mkdir -p "$out" || die "cannot create $out"

jobs=$(nproc 2>/dev/null || echo 2)
if [ -z "$cur_exe" ]; then
    bash scripts/setup.sh
    echo "ci-regress: building this tree" >&2
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$jobs" --target joulebench >/dev/null || { echo "ci-regress: this tree does not build" >&2; exit 2; }
    cur_exe=$PWD/build/joulebench
    commit=$(git rev-parse --short "$base^{commit}")
    echo "ci-regress: building $base ($commit) in a temporary worktree" >&2
    git worktree add --detach "$work/base-src" "$base" >/dev/null 2>&1 || { echo "ci-regress: cannot check out $base" >&2; exit 2; }
    cmake -S "$work/base-src" -B "$work/base-build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null &&
        cmake --build "$work/base-build" -j"$jobs" --target joulebench >/dev/null ||
        { echo "ci-regress: $base does not build" >&2; exit 2; }
    base_exe=$work/base-build/joulebench
fi

# One run of one binary: a results file, the console table thrown away.
run_one() { # exe label k
    local args=(run --suite "$suite" --repetitions "$reps" --out "$out/$2-$3.json" --format json)
    [ -n "$filter" ] && args+=(--filter "$filter")
    if ! "$1" "${args[@]}" >/dev/null 2>"$out/$2-$3.log"; then
        # exit 1 is "a row failed": the file is still written and the row is compared as an error row
        [ -s "$out/$2-$3.json" ] || { echo "ci-regress: $2 run $3 failed:" >&2; tail -3 "$out/$2-$3.log" >&2; exit 2; }
    fi
}

files=()
for k in $(seq 1 "$pairs"); do
    echo "ci-regress: pair $k of $pairs" >&2
    if [ $((k % 2)) -eq 1 ]; then
        run_one "$base_exe" base "$k"; run_one "$cur_exe" current "$k"
    else
        run_one "$cur_exe" current "$k"; run_one "$base_exe" base "$k"
    fi
    files+=("$out/base-$k.json" "$out/current-$k.json")
done

cmp=(compare --paired --threshold "$threshold" --alpha "$alpha")
[ -n "$filter" ] && cmp+=(--filter "$filter")
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    "$cur_exe" "${cmp[@]}" --format markdown "${files[@]}" >>"$GITHUB_STEP_SUMMARY" 2>/dev/null || true
fi
set +e
"$cur_exe" "${cmp[@]}" "${files[@]}"
rc=$?
set -e
[ -n "$keep" ] && echo "ci-regress: results kept in $keep" >&2
exit "$rc"
