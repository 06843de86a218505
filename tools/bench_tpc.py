#!/usr/bin/env python3
"""Times the whole `tpc check` and `tpc compile` processes against the floors they cannot beat.

Usage: tools/bench_tpc.py [--tpc build/bin/tpc] [--runs 30]

Prints one row per (command, model): median and p90 wall time over --runs and the time per layer
above the floor. Floors, measured in the same run: a bare process (`tpc help`), and for compile
also `cp` of a program of the same size (spawn plus writing those bytes). Configs of 250 layers and
more are the Llama-3.1-8B config with num_hidden_layers changed; the 405B config is the real one.
Compile writes program.json (and nothing else) to a temporary directory, as a user's run would.
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
        cases = [("Llama-3.1-8B", os.path.join(CONFIGS, "meta-llama__Llama-3.1-8B"), 32, {}),
                 ("Llama-3.1-405B", os.path.join(CONFIGS, "meta-llama__Llama-3.1-405B"), 126,
                  {"check": 20.0, "compile": 50.0})]
        for layers in (250, 500, 1000, 2000):
            path, _ = synthetic(tmp, layers)
            cases.append((f"llama x{layers} layers", path, layers, {"check": 60.0} if layers == 1000 else {}))
        out = os.path.join(tmp, "program.json")
        copy = os.path.join(tmp, "copy.json")
        write_floor = {}
        for command in ("check", "compile"):
            for name, path, layers, targets in cases:
                cmd = [args.tpc, command, "--model", path, "--plan", PLAN, "--tp", "8"]
                if command == "compile":
                    cmd += ["-o", out]
                med, p90 = time_runs(cmd, args.runs)
                floor = floor_med
                if command == "compile":
                    floor = write_floor[name] = time_runs(["cp", out, copy], args.runs)[0]
                rows.append((command, name, layers, med, p90, floor, (med - floor) / layers * 1000.0,
                             targets.get(command)))

    print(f"# whole process, tp 8, HF llama plan; {args.runs} runs each; machine: "
          f"{os.cpu_count()} cores, {os.uname().machine}")
    print(f"# floor: bare process (`tpc help`) median {floor_med:.2f} ms, p90 {floor_p90:.2f} ms; "
          "compile's floor is `cp` of its program (spawn + write)")
    print(f"{'command':<9}{'model':<24}{'layers':>7}{'median ms':>11}{'p90 ms':>9}{'floor ms':>10}"
          f"{'us/layer*':>11}{'target ms':>11}")
    for command, name, layers, med, p90, floor, per_layer, target in rows:
        t = f"{target:.0f}" if target else "-"
        print(f"{command:<9}{name:<24}{layers:>7}{med:>11.2f}{p90:>9.2f}{floor:>10.2f}{per_layer:>11.1f}{t:>11}")
    print("# * (median - floor) / layers: flat when cost is linear in layers")
    failed = [r for r in rows if r[7] and r[3] > r[7]]
    if failed:
        print("# over target: " + ", ".join(r[0] + " " + r[1] for r in failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
