#!/usr/bin/env bash
# GPU validation in one call, for a machine with an NVIDIA GPU (sm_80 or newer)
# and its driver. Extra arguments go to `joulebench run` (e.g. --filter attention).
#   1. set-up (scripts/setup.sh), the GPU (nvidia-smi), and the driver's CUDA
#      version against nvcc's: a driver a major version behind would fail
#      every call, so the script stops before building;
#   2. a Release build with the CUDA backend required, in build-gpu/ (its own:
#      the build/ of test.sh and bench.sh is left as it is);
#   3. every CUDA kernel against the fp64 oracle on every test shape (the
#      kernel tests, once; output kept in build-gpu/gpu-check-kernels.txt);
#      fails if any test fails or a CUDA kernel is skipped as unavailable;
#   4. the gpu suite with NVML energy (--meter nvml), interleaved, into
#      results/gpu-<host>-<date>-<time>.json; fails unless NVML metered it;
#   5. a summary: the NVML board that matches the CUDA device, each row timed,
#      skipped (with why) or failed, and the issue-7 targets as ratios.
# Exit: 0 validated, 1 something failed, 3 no GPU here (nothing was validated).
# docs/gpu-validation.md says what this checks and what the first run must look at.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/gpu-check-lib.sh
build=${JB_GPU_BUILD:-build-gpu}
jobs=$(nproc 2>/dev/null || echo 2)

no_gpu() {
  echo "gpu-check: no GPU here: $*" >&2
  echo "gpu-check: nothing was validated (run this on a machine with an NVIDIA GPU and its driver)" >&2
  exit 3
}

[ "${JB_GPU_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh

echo "== GPU and CUDA versions"
command -v nvidia-smi >/dev/null 2>&1 || no_gpu "nvidia-smi not found (no NVIDIA driver)"
nvidia-smi --query-gpu=index,name,pci.bus_id,driver_version,compute_cap,power.limit,clocks.max.sm,mig.mode.current \
  --format=csv || no_gpu "nvidia-smi cannot query a GPU"
jb_cuda_versions_ok "$(jb_driver_cuda_version)" "$(jb_nvcc_cuda_version)" || exit 1
echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-(unset)}"

echo "== Release build with the CUDA backend in $build/ (JB_WITH_CUDA=ON)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DJB_WITH_CUDA=ON >/dev/null
cmake --build "$build" -j"$jobs"
jb="$build/joulebench"
"$jb" list > "$build/gpu-check-list.txt"
if grep -E '/cuda/' "$build/gpu-check-list.txt" | grep -q unavailable; then
  grep -E '/cuda/' "$build/gpu-check-list.txt" | head -n 3 >&2
  no_gpu "the CUDA kernels report themselves unavailable (above)"
fi
"$jb" env

echo "== Every CUDA kernel against the oracle on every test shape"
kout="$build/gpu-check-kernels.txt"
krc=0
OMP_NUM_THREADS=$jobs "$build/tests/test_kernels" > "$kout" 2>&1 || krc=$?
tail -n 3 "$kout"
if jb_cuda_unavailable_skips "$kout" >&2; then
  echo "gpu-check: CUDA kernels were skipped as unavailable during the tests (above): the device went away?" >&2
  exit 1
fi
if [ "$krc" -ne 0 ]; then
  grep -E '^\[  FAILED  \]|^ERROR' "$kout" >&2 || true
  echo "gpu-check: kernel tests failed (exit $krc); the whole output is in $kout" >&2
  exit 1
fi
echo "unsupported (skipped with a reason) CUDA shapes:"
grep -E '^\[  SKIP    \] [a-z]+/cuda/' "$kout" || echo "  none"

mkdir -p results
out="results/gpu-$(hostname -s)-$(date +%Y%m%d-%H%M%S).json"
echo "== gpu suite with NVML energy -> $out"
rrc=0
"$jb" run --suite gpu --meter nvml --interleave --out "$out" "$@" || rrc=$?
[ -f "$out" ] || { echo "gpu-check: joulebench run wrote no results (exit $rrc)" >&2; exit 1; }

echo "== Summary"
src=0
/usr/bin/python3 scripts/gpu_summary.py "$out" || src=$?
echo "gpu-check: results in $out; kernel test output in $kout"
[ "$rrc" -eq 0 ] && [ "$src" -eq 0 ] || exit 1
