#!/usr/bin/env python3
"""Times the whole `tpc check` process (spawn, load, check, render) against process-spawn cost.

Usage: tools/bench_check.py [--tpc build/bin/tpc] [--runs 30]

Prints one row per model: median and p90 wall time over --runs, the same for a bare process
(`tpc help`, the floor any check pays), and the time per layer. Configs of 1000 layers and more are
the Llama-3.1-8B config with num_hidden_layers changed; the 405B config is the real one.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "tests", "data", "configs")
PLAN = os.path.join(ROOT, "plans", "hf", "llama.yaml")


def time_runs(cmd, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - t0) * 1000.0)
        if proc.returncode not in (0, 1):
            sys.exit(f"bench: {' '.join(cmd)} exited with {proc.returncode}")
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def synthetic(tmp, layers):
    with open(os.path.join(CONFIGS, "meta-llama__Llama-3.1-8B", "config.json")) as f:
        cfg = json.load(f)
    cfg["num_hidden_layers"] = layers
    path = os.path.join(tmp, f"llama-{layers}")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    return path, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", default=os.path.join(ROOT, "build", "bin", "tpc"))
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    if not os.path.exists(args.tpc):
        sys.exit(f"bench: {args.tpc} not found; build first")

    floor_med, floor_p90 = time_runs([args.tpc, "help"], args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        cases = [("Llama-3.1-8B", os.path.join(CONFIGS, "meta-llama__Llama-3.1-8B"), 32, None),
                 ("Llama-3.1-405B", os.path.join(CONFIGS, "meta-llama__Llama-3.1-405B"), 126, 20.0)]
        for layers in (250, 500, 1000, 2000):
            path, _ = synthetic(tmp, layers)
            cases.append((f"llama x{layers} layers", path, layers, 60.0 if layers == 1000 else None))
        for name, path, layers, target in cases:
            med, p90 = time_runs([args.tpc, "check", "--model", path, "--plan", PLAN, "--tp", "8"], args.runs)
            rows.append((name, layers, med, p90, (med - floor_med) / layers * 1000.0, target))

    print(f"# tpc check, whole process, tp 8, HF llama plan; {args.runs} runs each; machine: "
          f"{os.cpu_count()} cores, {os.uname().machine}")
    print(f"# floor: bare process (`tpc help`) median {floor_med:.2f} ms, p90 {floor_p90:.2f} ms")
    print(f"{'model':<24}{'layers':>7}{'median ms':>11}{'p90 ms':>9}{'us/layer*':>11}{'target ms':>11}")
    for name, layers, med, p90, per_layer, target in rows:
        t = f"{target:.0f}" if target else "-"
        print(f"{name:<24}{layers:>7}{med:>11.2f}{p90:>9.2f}{per_layer:>11.1f}{t:>11}")
    print("# * (median - floor) / layers: flat when cost is linear in layers")
    failed = [r for r in rows if r[5] and r[2] > r[5]]
    if failed:
        print("# over target: " + ", ".join(r[0] for r in failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
