#!/usr/bin/env bash
# Installs what joulebench needs on Debian 12 with apt-get, and nothing when
# everything is already there (idempotent). Used by bench.sh and test.sh.
set -euo pipefail

# ocl-icd-opencl-dev and opencl-c-headers: Debian's oneDNN CMake config requires
# OpenCL (libdnnl-dev only recommends them, and recommends are not installed);
# the build also finds oneDNN without them, by header and library.
# clang and libclang-rt-14-dev: libFuzzer, for the fuzz smoke runs of test.sh.
# slurm-wlm and munge: scripts/slurm-local.sh's one-node cluster, on which the
# fleet test runs scripts/fleet.sh for real.
pkgs=(build-essential cmake pkg-config git
      libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
      libcmocka-dev libcjson-dev libbenchmark-dev libsqlite3-dev
      libbenchmark-tools python3 python3-numpy python3-scipy python3-matplotlib
      chromium clang libclang-rt-14-dev slurm-wlm munge)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Packages with services (munge, slurmd, slurmctld) would start them as they
# install, with the system's own key and no slurm.conf (slurmd's start then
# fails, and with it the install). Nothing here needs those services: the tests
# start their own daemons. So services are not started during the install,
# the way Debian's policy-rc.d allows, unless the machine already says otherwise.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap '$sudo rm -f "$policy"' EXIT
  printf '#!/bin/sh\n# joulebench scripts/setup.sh: no services started while it installs\nexit 101\n' |
    $sudo tee "$policy" >/dev/null
  $sudo chmod 0755 "$policy"
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
