#!/usr/bin/env bash
# GPU validation, for a machine with an NVIDIA GPU (sm_80 or newer) and its
# driver: builds with the CUDA backend required (JB_WITH_CUDA=ON), runs every
# test -- on such a machine the CUDA kernels are verified against the fp64
# oracle on every test shape instead of being skipped -- fails if any CUDA
# kernel still reports itself unavailable, then runs the gpu suite into
# results/gpu-<host>-<date>.json. Extra arguments go to `joulebench run`
# (e.g. scripts/gpu-check.sh --filter attention). docs/gpu-validation.md
# says what this checks and what is still unverified.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,compute_cap,power.limit,clocks.max.sm --format=csv || true
else
  echo "gpu-check: nvidia-smi not found; the CUDA kernels will most likely report no device" >&2
fi

echo "== Release build with the CUDA backend (JB_WITH_CUDA=ON)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DJB_WITH_CUDA=ON >/dev/null
cmake --build build -j"$jobs"

build/joulebench env
if build/joulebench list | grep '/cuda/' | grep -q 'unavailable'; then
  build/joulebench list | grep '/cuda/' >&2
  echo "gpu-check: the CUDA kernels are unavailable here (reason above); nothing would be validated" >&2
  exit 1
fi

echo "== Tests (CUDA kernels vs the oracle on every test shape)"
(cd build && ctest --output-on-failure -j"$jobs")
# Unsupported shapes are fine (each says why); a CUDA kernel that skipped as
# unavailable after the check above would mean the device went away.
if build/tests/test_kernels 2>&1 | grep 'SKIP' | grep '/cuda/' | grep -q 'unavailable'; then
  echo "gpu-check: CUDA kernels skipped as unavailable during the tests" >&2
  exit 1
fi

mkdir -p results
out="results/gpu-$(hostname -s)-$(date +%Y%m%d).json"
echo "== gpu suite -> $out"
build/joulebench run --suite gpu --out "$out" "$@"
echo "gpu-check: results in $out"
