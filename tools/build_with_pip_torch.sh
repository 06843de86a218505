#!/usr/bin/env bash
# Builds tpc-run's Gloo module (and the NCCL module, when CMake finds CUDA) against the LibTorch of a Python's pip `torch` (2.x) instead of
# Debian's libtorch-dev (1.13), and runs the multi-process load test with it:
#   tools/build_with_pip_torch.sh [PYTHON] [BUILD_DIR]      (defaults: python3, build/torch2)
# The GPU machine has such a Python; here one comes from `python3 -m venv V && V/bin/pip install torch`.
# Two LibTorch installs side by side need care: TorchConfig finds libc10/libtorch with default search
# paths first, so Debian's /usr/lib copies would win; they are named explicitly. Without a GPU,
# TORCH_CUDA_ARCH_LIST stops a CUDA build of torch from probing for one.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
build=${2:-build/torch2}
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
version=$("$python" -c 'import torch; print(torch.__version__)')
echo "build_with_pip_torch: torch $version from $prefix"
TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -Dc10_LIBRARY="$lib/libc10.so" -DTORCH_LIBRARY="$lib/libtorch.so" >/dev/null
# With the CUDA toolkit found, the NCCL module (its TCPStore rendezvous) builds against the same LibTorch.
modules="libtpc_gloo.so"
targets="tpc tpc-run tpc_gloo"
if grep -q '^TPC_WITH_CUDA:BOOL=ON' "$build/CMakeCache.txt"; then
  modules="$modules libtpc_nccl.so"
  targets="$targets tpc_nccl"
fi
cmake --build "$build" --target $targets
for m in $modules; do
  if readelf -d "$build/bin/$m" | grep -q 'libc10.so.1'; then
    echo "build_with_pip_torch: $m links Debian's libc10; the pip LibTorch was not used" >&2
    exit 1
  fi
done
echo "build_with_pip_torch: built $modules against torch $version"
ctest --test-dir "$build" -R load_cli --output-on-failure
