# Checks of scripts/gpu-check.sh, as functions a test can call on canned input
# (tests/test_gpu_check.sh). Sourced, not run.

# The highest CUDA version the driver supports, from nvidia-smi's banner ("CUDA
# Version: 12.8"); empty when nvidia-smi is missing or says nothing.
jb_driver_cuda_version() {
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1
}

# The CUDA version of nvcc ("release 13.0,"); empty when nvcc is missing.
jb_nvcc_cuda_version() {
  local nvcc
  nvcc=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; }) || return 0
  "$nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\),.*/\1/p' | head -n 1
}

# jb_cuda_versions_ok DRIVER NVCC: 0 when the driver can run what nvcc builds
# (same major version or newer: CUDA's minor-version compatibility covers an
# older minor, with a note), 1 when the driver is a major version behind
# (every kernel would fail with "CUDA driver version is insufficient").
jb_cuda_versions_ok() {
  local drv=$1 cc=$2
  if [ -z "$drv" ] || [ -z "$cc" ]; then
    echo "gpu-check: CUDA versions unknown (driver '${drv:-?}', nvcc '${cc:-?}')"
    return 0
  fi
  local dmaj=${drv%%.*} dmin=${drv#*.} cmaj=${cc%%.*} cmin=${cc#*.}
  if [ "$dmaj" -lt "$cmaj" ]; then
    echo "gpu-check: the driver supports CUDA $drv but nvcc is CUDA $cc: every CUDA call would fail" \
         "('driver version is insufficient'); install a driver for CUDA $cmaj or build with a CUDA $dmaj toolkit"
    return 1
  fi
  if [ "$dmaj" -eq "$cmaj" ] && [ "$dmin" -lt "$cmin" ]; then
    echo "gpu-check: the driver supports CUDA $drv, nvcc is $cc: runs under minor-version compatibility" \
         "(PTX newer than the driver would not load)"
  else
    echo "gpu-check: the driver supports CUDA $drv, nvcc is $cc"
  fi
  return 0
}

# jb_cuda_unavailable_skips FILE: prints the lines of a saved test_kernels
# output where a CUDA kernel was skipped as unavailable; 0 when there is one.
# (A file, not a pipe: grep -q on a pipe kills the writer with SIGPIPE, which
# pipefail turns into a failed test.)
jb_cuda_unavailable_skips() {
  grep -E '^\[  SKIP    \] [a-z]+/cuda/[^ ]+ .*unavailable' "$1"
}
