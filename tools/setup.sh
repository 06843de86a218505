#!/usr/bin/env bash
# Installs everything tpc needs to build and test, from Debian packages. Safe to re-run: a no-op when
# every package is already there. Run as root (or with sudo available). tools/setup.sh --fuzz adds
# what tools/fuzz.sh needs.
set -euo pipefail

packages=(cmake ninja-build g++ nlohmann-json3-dev libyaml-cpp-dev libboost-graph-dev doctest-dev libssl-dev python3 python3-jsonschema python3-yaml)
# --fuzz: also clang and its libFuzzer runtime, for tools/fuzz.sh (the test suite does not need them).
if [ "${1:-}" = "--fuzz" ]; then packages+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
