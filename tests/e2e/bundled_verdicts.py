#!/usr/bin/env python3
"""Runs every bundled plan against every matching config in tests/data/configs (the real ones of
tests/data/reference/hf_configs.json, a phi-4-shaped one and a synthetic DeciLM) at tp 1, 2, 4, 8, with and without
--sp, and compares each verdict with tests/data/bundled_verdicts.txt.

A plan of an older transformers release (plans/hf57, plans/hf4) is checked under that release.
A NeMo plan matches a config when the config's architectures[0] is a class the plan is registered for
(or, for a config naming no class, its model_type is one of the plan's); a transformers plan matches
its model_type; nemo/default matches the
configs that --plan auto hands to it. A verdict is `ok` or the sorted error codes joined by '+'.
The pinned file was checked by hand against each config's head, KV-head and dimension counts (its
header says how); `--write` prints a fresh table to compare against when plans change.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

import yaml

TPS = (1, 2, 4, 8)


def configs(source):
    out = []
    for path in sorted(glob.glob(os.path.join(source, "tests", "data", "configs", "*", "config.json"))):
        with open(path) as f:
            c = json.load(f)
        arch = (c.get("architectures") or [""])[0]
        out.append((os.path.basename(os.path.dirname(path)), c.get("model_type", ""), arch))
    return out


def plans(source):
    out = []
    for path in sorted(glob.glob(os.path.join(source, "plans", "*", "*.yaml"))):
        if os.path.basename(os.path.dirname(path)) == "arch":
            continue
        with open(path) as f:
            doc = yaml.safe_load(f)
        out.append(doc)
    return out


def releases(source):
    """Plan folder -> the transformers release it belongs to, for the folders of older releases:
    their plans are checked under that release (plans/transformers_releases.yaml)."""
    with open(os.path.join(source, "plans", "transformers_releases.yaml")) as f:
        rows = yaml.safe_load(f)["releases"]
    return {r["plans"]: r["version"] for r in rows[:-1]}


def verdict(tpc, source, config, plan, tp, sp):
    release = releases(source).get(plan.split("/")[0])
    cmd = [tpc, "check", "--model", os.path.join(source, "tests", "data", "configs", config), "--plan", plan,
           "--tp", str(tp), "--format", "json"] + (["--sp"] if sp else []) + (["--transformers", release] if release else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        return "exit%d" % r.returncode
    codes = sorted({d["code"] for d in json.loads(r.stdout)["diagnostics"] if d["severity"] == "error"})
    return "+".join(codes) if codes else "ok"


def auto_plan(tpc, source, config):
    r = subprocess.run([tpc, "check", "--model", os.path.join(source, "tests", "data", "configs", config), "--tp", "2",
                        "--format", "json"], capture_output=True, text=True)
    for d in json.loads(r.stdout)["diagnostics"]:
        if d["code"] == "plan-chosen":
            return d["message"].split(":")[0].split()[1]
    return ""


def rows(tpc, source):
    cfgs = configs(source)
    out = []
    for p in plans(source):
        name = p["name"]
        archs = p.get("architectures") or []
        types = p.get("model_types") or []
        if name == "nemo/default":
            matching = [c for c in cfgs if auto_plan(tpc, source, c[0]) == name]
        elif name.startswith("hf"):
            matching = [c for c in cfgs if c[1] in types]  # a transformers plan belongs to its model_type
        else:
            matching = [c for c in cfgs if (c[2] in archs if c[2] else c[1] in types)]
        has_sp = "sequence_parallel" in p
        for config, _, _ in matching:
            for sp in ((False, True) if has_sp else (False,)):
                cells = [verdict(tpc, source, config, name, tp, sp) for tp in TPS]
                out.append(f"{name} {config} {'sp' if sp else '-'} " + " ".join(cells))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--write", action="store_true", help="print the table instead of comparing")
    args = ap.parse_args()
    got = rows(args.tpc, args.source)
    if args.write:
        print("\n".join(got))
        return 0
    pinned_path = os.path.join(args.source, "tests", "data", "bundled_verdicts.txt")
    with open(pinned_path) as f:
        pinned = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    pinned = [" ".join(l.split()) for l in pinned]
    failures = 0
    for line in sorted(set(got) ^ set(pinned)):
        where = "tpc says" if line in got else "pinned  "
        print(f"{where}: {line}")
        failures += 1
    print(f"{len(got)} rows x {len(TPS)} tp sizes, {failures} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
