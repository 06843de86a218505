#!/usr/bin/env bash
# Installs everything tpc needs to build and test: Debian packages, then the Python packages the tests
# use as an independent safetensors writer (safetensors and numpy, from PyPI). Safe to re-run: a no-op
# when everything is already there. Run as root (or with sudo available). tools/setup.sh --fuzz adds
# what tools/fuzz.sh needs.
set -euo pipefail

packages=(cmake ninja-build g++ nlohmann-json3-dev libyaml-cpp-dev libboost-graph-dev doctest-dev libssl-dev python3 python3-pip python3-jsonschema python3-yaml
          # tpc-run load: LibTorch's c10d (TCPStore, ProcessGroupGloo) and Gloo's headers; without them
          # the build leaves tpc-run load out (it says so) and everything else still builds.
          libtorch-dev libgloo-dev)
# --fuzz: also clang and its libFuzzer runtime, for tools/fuzz.sh (the test suite does not need them).
if [ "${1:-}" = "--fuzz" ]; then packages+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
else
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian 12 has no safetensors package, so both come from PyPI. A Debian python3 refuses pip installs
# (PEP 668, "externally-managed-environment"); then they go into /usr/local, beside Debian's own.
if python3 -c 'import safetensors, numpy' 2>/dev/null; then
  echo "setup: python packages present"
else
  echo "setup: installing python packages safetensors numpy"
  $sudo python3 -m pip install --quiet safetensors numpy ||
    $sudo python3 -m pip install --quiet --break-system-packages safetensors numpy
  python3 -c 'import safetensors, numpy'
fi
