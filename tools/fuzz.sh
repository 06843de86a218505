#!/usr/bin/env bash
# Runs one libFuzzer target for N minutes: tools/fuzz.sh plan|config|arch|safetensors [MINUTES] [-- libFuzzer flags]
# Builds the targets with clang (ASan + UBSan + libFuzzer) in build/fuzz, keeps a growing corpus in
# build/fuzz/corpus/TARGET (seeded from the same directories ctest replays), and writes any crash,
# timeout or leak to build/fuzz/artifacts/TARGET/. A reproducer worth keeping goes, minimized
# (-minimize_crash=1), into tests/fuzz/repro/TARGET/, where the fuzz_replay_TARGET ctest runs it.
# Needs clang and libFuzzer from Debian: tools/setup.sh --fuzz installs them; the normal build does not.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: tools/fuzz.sh plan|config|arch|safetensors [MINUTES] [-- libFuzzer flags]}
minutes=${2:-10}
shift $(( $# >= 2 ? 2 : 1 ))
[ "${1:-}" = "--" ] && shift

case "$target" in
  plan) seeds=(plans/hf plans/hf4 plans/nemo plans/rl) ;;
  config) seeds=(tests/data/configs tests/data/unknown_model_type.json) ;;
  arch) seeds=(plans/arch) ;;
  safetensors) seeds=(tests/data/safetensors tests/fuzz/repro/safetensors) ;;
  *) echo "fuzz.sh: unknown target '$target' (plan, config, arch or safetensors)" >&2; exit 2 ;;
esac

mkdir -p build/fuzz
if ! { cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPC_FUZZ=ON \
         -DCMAKE_CXX_COMPILER=clang++ && cmake --build build/fuzz --target "fuzz_$target"; } >build/fuzz/build.log 2>&1; then
  tail -n 30 build/fuzz/build.log >&2
  echo "fuzz.sh: building fuzz_$target with clang failed (whole log: build/fuzz/build.log)" >&2
  exit 2
fi

corpus=build/fuzz/corpus/$target
artifacts=build/fuzz/artifacts/$target
mkdir -p "$corpus" "$artifacts"
# Seeds keep their path in their name (every config is a config.json). Config seeds are cut to two
# layers: the fuzzer then spends its time on variety, not on expanding 126 identical layers.
while IFS= read -r f; do
  dest="$corpus/seed_$(echo "$f" | tr '/' '_')"
  cp "$f" "$dest"
  [ "$target" = config ] && sed -i -E 's/"num_hidden_layers": *[0-9]+/"num_hidden_layers": 2/' "$dest"
done < <(find "${seeds[@]}" "tests/fuzz/repro/$target" -type f 2>/dev/null)

log=build/fuzz/$target.log
echo "fuzz.sh: fuzz_$target for $minutes min; corpus $corpus; log $log"
status=0
"build/fuzz/bin/fuzz_$target" "$corpus" -max_total_time=$((minutes * 60)) -timeout=10 -rss_limit_mb=4096 \
  -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" >"$log" 2>&1 || status=$?

# The last status line carries executions and coverage; the final stats say how many ran per second.
grep -E '^#[0-9]+' "$log" | tail -n 1 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
crashes=$(find "$artifacts" -type f | wc -l)
echo "fuzz.sh: exit $status, $crashes artifact(s) in $artifacts"
[ "$status" -eq 0 ] && [ "$crashes" -eq 0 ]
