#!/usr/bin/env bash
# scripts/gpu-check.sh without a GPU: its checks on canned input (the CUDA
# versions of a stub nvidia-smi and nvcc, saved kernel-test output, a results
# file of the gpu suite), and the script itself up to "no GPU here".
# Usage: test_gpu_check.sh SOURCE_DIR. Prints "ok N - ..." per check; exit 1 on any failure.
set -uo pipefail
src=$(cd "${1:?usage: test_gpu_check.sh SOURCE_DIR}" && pwd)
fix="$src/tests/fixtures/gpu"
n=0 failed=0
check() { # check NAME STATUS
  n=$((n + 1))
  if [ "$2" -eq 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=1; fi
}
has() { grep -qF -- "$2" <<<"$1"; }
line() { grep -qE -- "$2" <<<"$1"; }   # a line of $1 matches the extended regex $2

. "$src/scripts/gpu-check-lib.sh"

# -- CUDA versions: the driver's against nvcc's.
out=$(jb_cuda_versions_ok 12.8 13.0); rc=$?
check "a driver a major version behind nvcc is refused" $([ $rc -eq 1 ] && has "$out" "supports CUDA 12.8 but nvcc is CUDA 13.0" && echo 0 || echo 1)
out=$(jb_cuda_versions_ok 13.0 13.1); rc=$?
check "an older minor version passes, with a note" $([ $rc -eq 0 ] && has "$out" "minor-version compatibility" && echo 0 || echo 1)
jb_cuda_versions_ok 13.2 13.0 >/dev/null; check "a newer driver passes" $?
jb_cuda_versions_ok "" 13.0 >/dev/null; check "unknown versions are not fatal" $?

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
cp "$fix/nvidia-smi" "$fix/nvcc" "$tmp/bin/"
v=$(PATH="$tmp/bin:$PATH" FAKE_DRIVER_CUDA=12.8 jb_driver_cuda_version)
check "the driver's CUDA version is read from nvidia-smi's banner" $([ "$v" = 12.8 ] && echo 0 || echo 1)
v=$(PATH="$tmp/bin:$PATH" FAKE_NVCC_CUDA=13.1 jb_nvcc_cuda_version)
check "nvcc's CUDA version is read from nvcc --version" $([ "$v" = 13.1 ] && echo 0 || echo 1)
v=$(PATH=/nonexistent jb_driver_cuda_version)
check "no nvidia-smi: no driver version" $([ -z "$v" ] && echo 0 || echo 1)

# -- A CUDA kernel skipped as unavailable, found in saved output, also under pipefail
#    and with the match first in a long file (where grep -q on a pipe died of SIGPIPE).
(set -e; jb_cuda_unavailable_skips "$fix/kernels-no-device.txt" >/dev/null)
check "unavailable CUDA kernels are found in saved test output" $?
{ cat "$fix/kernels-no-device.txt"; seq 1 200000 | sed 's/^/[       OK ] filler /'; } > "$tmp/long.txt"
(set -euo pipefail; jb_cuda_unavailable_skips "$tmp/long.txt" >/dev/null)
check "... and in a long file under pipefail" $?
jb_cuda_unavailable_skips "$fix/kernels-on-gpu.txt" >/dev/null
check "an unsupported CUDA shape and an unavailable CPU kernel are not taken for it" $([ $? -ne 0 ] && echo 0 || echo 1)

# -- The summary of a results file.
out=$(/usr/bin/python3 "$src/scripts/gpu_summary.py" "$fix/results.json"); rc=$?
check "summary: exit 0 for a run metered by nvml with no failure" $rc
check "summary: names the NVML board of the CUDA device" $(has "$out" "NVML index 2, PCI 0000:3b:00.0, GPU-1234" && echo 0 || echo 1)
check "summary: tiled vs cuBLAS as a ratio" $(line "$out" "tiled vs cuBLAS f32, m=n=k=4096 +0\.62x +\(target >= 0\.5: met\)" && echo 0 || echo 1)
check "summary: flash vs naive as a ratio" $(line "$out" "flash vs naive attention, n=4096, causal=0 +2\.50x +\(target >= 5: not met\)" && echo 0 || echo 1)
check "summary: a target without both rows is not measured" $(line "$out" "causal=1 +not measured" && echo 0 || echo 1)
check "summary: skipped rows say why" $(has "$out" "skipped   " && has "$out" "cuBLASLt has no int8 algorithm" && echo 0 || echo 1)
check "summary: CPU rows are left out" $(has "$out" "matmul/cpu/" && echo 1 || echo 0)
check "summary: counts" $(has "$out" "5 timed, 1 skipped, 0 failed" && echo 0 || echo 1)
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["context"]["meters"]["cuda"]["meter"]="model"; json.dump(d,open(sys.argv[2],"w"))' "$fix/results.json" "$tmp/model.json"
out=$(/usr/bin/python3 "$src/scripts/gpu_summary.py" "$tmp/model.json"); rc=$?
check "summary: exit 1 when NVML did not meter the GPU rows" $([ $rc -eq 1 ] && has "$out" "not metered by nvml" && echo 0 || echo 1)
sed 's/"skipped: cuBLASLt/"verification failed: cuBLASLt/' "$fix/results.json" > "$tmp/failed.json"
/usr/bin/python3 "$src/scripts/gpu_summary.py" "$tmp/failed.json" >/dev/null
check "summary: exit 1 when a row failed" $([ $? -eq 1 ] && echo 0 || echo 1)
/usr/bin/python3 "$src/scripts/gpu_summary.py" "$tmp/nonexistent.json" >/dev/null
check "summary: exit 2 for an unreadable file" $([ $? -eq 2 ] && echo 0 || echo 1)

# -- The script itself, on this machine: it stops at "no GPU here" before building.
mkdir "$tmp/nosmi"
for t in cmake bash nproc sed grep head cat dirname hostname date; do
  p=$(command -v $t) && ln -s "$p" "$tmp/nosmi/$t"
done
out=$(cd "$src" && PATH="$tmp/nosmi" JB_GPU_SKIP_SETUP=1 JB_GPU_BUILD="$tmp/build" bash scripts/gpu-check.sh 2>&1); rc=$?
check "without nvidia-smi: exit 3, 'no GPU here', nothing built" $([ $rc -eq 3 ] && has "$out" "no GPU here: nvidia-smi not found" && [ ! -d "$tmp/build" ] && echo 0 || echo 1)
cp "$fix/nvidia-smi-broken" "$tmp/nosmi/nvidia-smi"
out=$(cd "$src" && PATH="$tmp/nosmi" JB_GPU_SKIP_SETUP=1 JB_GPU_BUILD="$tmp/build" bash scripts/gpu-check.sh 2>&1); rc=$?
check "a driver without a GPU: exit 3, 'no GPU here'" $([ $rc -eq 3 ] && has "$out" "no GPU here: nvidia-smi cannot query a GPU" && echo 0 || echo 1)
cp "$fix/nvidia-smi" "$fix/nvcc" "$tmp/nosmi/"
out=$(cd "$src" && PATH="$tmp/nosmi" FAKE_DRIVER_CUDA=12.4 FAKE_NVCC_CUDA=13.0 JB_GPU_SKIP_SETUP=1 \
      JB_GPU_BUILD="$tmp/build" bash scripts/gpu-check.sh 2>&1); rc=$?
check "a driver too old for nvcc: exit 1 before building" $([ $rc -eq 1 ] && has "$out" "supports CUDA 12.4 but nvcc is CUDA 13.0" && [ ! -d "$tmp/build" ] && echo 0 || echo 1)

echo "1..$n"
exit $failed
