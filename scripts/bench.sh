#!/usr/bin/env bash
# Sets up, builds and runs the main job: the default suite (every op and
# variant on representative shapes), printing the table and writing a results
# file under results/. Extra arguments go to `joulebench run`
# (e.g. scripts/bench.sh --suite quick --filter attention).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
build/joulebench list
exec build/joulebench run --suite default "$@"
