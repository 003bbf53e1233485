#!/usr/bin/env bash
# Sets up, builds and runs every test with ctest: once in Release, then again
# with AddressSanitizer and UndefinedBehaviorSanitizer, then a short run of each
# libFuzzer target (clang). Exit status: the first stage that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJB_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Label "script": tests that drive shell scripts running joulebench many times
# (scripts/ci-regress.sh, and the fleet test on a real one-node Slurm cluster).
# They ran in the Release stage; under the sanitizers they would only repeat code
# the other tests already cover, at 3x the time.
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE script)

echo "== libFuzzer smoke runs (${JB_FUZZ_SECONDS:-5} s per parser; docs/fuzzing.md runs them longer)"
if command -v clang >/dev/null && command -v clang++ >/dev/null; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DJB_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DJB_WITH_CUDA=OFF -DJB_WITH_ONEDNN=OFF -DJB_WITH_OPENMP=OFF -DJB_FUZZ_SECONDS="${JB_FUZZ_SECONDS:-5}" >/dev/null
  cmake --build build-fuzz -j"$jobs"
  (cd build-fuzz && ctest --output-on-failure -j"$jobs")
else
  echo "clang not found: fuzz targets not built (scripts/setup.sh installs clang)"
fi
