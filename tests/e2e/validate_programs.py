#!/usr/bin/env python3
"""Every program tpc emits validates against schemas/program.schema.json, and its slices tile.

Validates the program fixtures of tests/data/programs (compiled and hand-written ones), then
compiles the pinned examples (405B, SP, LoRA, kv replication, phi3, mixtral) and then every real
config of tests/data/configs with the real Hugging Face plan of its model type at tp 1, 2, 4 and 8,
with --sp at tp 4 and with --sp --lora at tp 2.
Each program is validated with the reference `jsonschema` package (an independent client: Debian's
python3-jsonschema), and every sharded parameter is checked to split its tensor exactly: the ranks'
row ranges cover [0, n) once (or `replicas` times), and local_shape is the share of the first owner (rank 0 without owners).
A compile that reports errors (exit 1) must leave no output file behind.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import jsonschema

PINNED = [
    ("meta-llama__Llama-3.1-405B", "plans/hf/llama.yaml", ["--tp", "8"]),
    ("meta-llama__Llama-3.1-405B", "plans/hf/llama.yaml", ["--tp", "8", "--sp"]),
    ("meta-llama__Llama-3.1-8B", "plans/hf/llama.yaml", ["--tp", "2", "--lora", "--lora-rank", "16"]),
    ("meta-llama__Llama-3.1-8B", "plans/hf/llama.yaml", ["--tp", "4", "--sp", "--lora"]),
    ("meta-llama__Llama-3.1-8B", "plans/hf/llama.yaml", ["--tp", "16", "--kv-replication"]),
    ("microsoft__Phi-3-mini-4k-instruct", "plans/hf/phi3.yaml", ["--tp", "4"]),
    ("mistralai__Mixtral-8x7B-Instruct-v0.1", "plans/hf/mixtral.yaml", ["--tp", "8"]),
    ("mistralai__Mixtral-8x7B-Instruct-v0.1", "plans/hf/mixtral.yaml", ["--tp", "8", "--sp"]),
]


def tiling_errors(program):
    errors = []
    for p in program["parameters"]:
        if p["placement"] == "replicate":
            if p["local_shape"] != p["global_shape"]:
                errors.append(f"{p['name']}: replicated but local_shape {p['local_shape']}")
            continue
        dim = p["shard_dim"]
        n = p["global_shape"][dim]
        slices = p["slices"]
        if len(slices) != program["tp"]:
            errors.append(f"{p['name']}: {len(slices)} ranks of slices for tp {program['tp']}")
            continue
        # Sweep the range ends: coverage must be `want` everywhere on [0, n) and nothing outside.
        events = {}
        for rank in slices:
            for s in rank:
                if s["length"]:
                    events[s["start"]] = events.get(s["start"], 0) + 1
                    events[s["start"] + s["length"]] = events.get(s["start"] + s["length"], 0) - 1
        want = p.get("replicas", 1)
        depth, pos, ok = 0, 0, True
        for x in sorted(events):
            if x > pos and depth != (want if pos < n else 0):
                ok = False
            depth, pos = depth + events[x], x
        if pos != n or depth != 0:
            ok = False
        if not ok:
            errors.append(f"{p['name']}: slices do not cover [0, {n}) exactly {want} time(s)")
        holder = p["owners"][0] if p.get("owners") else 0
        if p["local_shape"][dim] != sum(s["length"] for s in slices[holder]):
            errors.append(f"{p['name']}: local_shape disagrees with rank {holder}'s slices")
        for r in range(len(slices)):
            if "owners" in p and r not in p["owners"] and any(s["length"] for s in slices[r]):
                errors.append(f"{p['name']}: rank {r} is not in owners but has slices")
    return errors


def validate_fixtures(src, validator):
    """The programs the reader's tests read back: schema and tiling. Returns the number that fail."""
    folder = os.path.join(src, "tests/data/programs")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    failed = 0
    for name in names:
        with open(os.path.join(folder, name)) as f:
            program = json.load(f)
        problems = [f"schema: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(program)][:5]
        problems += tiling_errors(program)[:5]
        if problems:
            failed += 1
            print(f"FAIL fixture {name}")
            for p in problems:
                print(f"  {p}")
    print(f"{len(names) - failed} of {len(names)} program fixtures valid")
    return failed


def hf_plan(entry):
    plan = {}
    if isinstance(entry.get("base_model_tp_plan"), dict):
        plan["base_model_tp_plan"] = entry["base_model_tp_plan"]
    if isinstance(entry.get("causal_lm_tp_plan"), dict):
        plan["tp_plan"] = entry["causal_lm_tp_plan"]
    return plan


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    src = args.source
    with open(os.path.join(src, "schemas/program.schema.json")) as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    with open(os.path.join(src, "tests/data/reference/hf_tp_plans.json")) as f:
        corpus = json.load(f)

    fixtures = validate_fixtures(src, validator)
    if fixtures:
        return 1
    cases = [(cfg, os.path.join(src, plan), flags, True) for cfg, plan, flags in PINNED]
    with tempfile.TemporaryDirectory(prefix="tpc-programs-") as tmp:
        return run_cases(args, src, validator, corpus, cases, tmp)


def run_cases(args, src, validator, corpus, cases, tmp):
    configs = sorted(os.listdir(os.path.join(src, "tests/data/configs")))
    for cfg in configs:
        with open(os.path.join(src, "tests/data/configs", cfg, "config.json")) as f:
            model_type = json.load(f).get("model_type", "")
        entry = corpus.get("gemma3_text" if model_type == "gemma3" else model_type)
        if not isinstance(entry, dict):
            continue
        plan_path = os.path.join(tmp, cfg + ".plan.json")
        with open(plan_path, "w") as f:
            json.dump(hf_plan(entry), f)
        for tp in (1, 2, 4, 8):
            cases.append((cfg, plan_path, ["--tp", str(tp)], False))
        cases.append((cfg, plan_path, ["--tp", "4", "--sp"], False))
        cases.append((cfg, plan_path, ["--tp", "2", "--sp", "--lora"], False))

    passed = failed = compiled = 0
    for i, (cfg, plan, flags, must_compile) in enumerate(cases):
        out = os.path.join(tmp, f"program-{i}.json")
        cmd = [args.tpc, "compile", "--model", os.path.join(src, "tests/data/configs", cfg), "--plan", plan,
               "-o", out, "--no-color"] + flags
        run = subprocess.run(cmd, capture_output=True, text=True)
        label = f"{cfg} {' '.join(flags)}"
        problems = []
        if run.returncode == 0:
            compiled += 1
            with open(out) as f:
                program = json.load(f)
            problems += [f"schema: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(program)][:5]
            problems += tiling_errors(program)[:5]
        elif run.returncode == 1 and not must_compile:
            if os.path.exists(out):
                problems.append("exit 1 but an output file was written")
            if "[no-redistribution]" in run.stderr:
                problems.append("the check passed a plan the lowering cannot redistribute: " + run.stderr[-400:])
        else:
            problems.append(f"exit {run.returncode}: {run.stderr.strip()[-800:]}")
        if problems:
            failed += 1
            print(f"FAIL {label}")
            for p in problems:
                print(f"  {p}")
        else:
            passed += 1
    print(f"{compiled} programs compiled and validated out of {len(cases)} runs")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
