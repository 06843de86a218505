#!/usr/bin/env python3
"""Every bundled plan file against schemas/plan.schema.json, read with PyYAML and checked with the
reference jsonschema package (both independent of tpc's own loader). With --tpc, also every torch
plan through `tpc translate-lora`: its output must validate too and follow NeMo AutoModel's
exact-type map (automodel.md §3), which is written out again here."""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import jsonschema
import yaml


def check_arch_files(source):
    """Every architecture file of plans/arch/ against schemas/arch.schema.json."""
    with open(os.path.join(source, "schemas", "arch.schema.json")) as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    files = sorted(glob.glob(os.path.join(source, "plans", "arch", "*.yaml")))
    failures = 0 if len(files) >= 15 else 1
    for path in files:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for err in validator.iter_errors(doc):
            print(f"{os.path.relpath(path, source)}: {'/'.join(map(str, err.path))}: {err.message}")
            failures += 1
    return failures


def check_release_files(source):
    """Every runtime release table, plans/*_releases.yaml, against schemas/releases.schema.json."""
    with open(os.path.join(source, "schemas", "releases.schema.json")) as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    files = sorted(glob.glob(os.path.join(source, "plans", "*_releases.yaml")))
    failures = 0 if files else 1
    for path in files:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for err in validator.iter_errors(doc):
            print(f"{os.path.relpath(path, source)}: {'/'.join(map(str, err.path))}: {err.message}")
            failures += 1
        versions = [tuple(map(int, r["version"].split("."))) for r in doc.get("releases", [])]
        if versions != sorted(set(versions)):
            print(f"{os.path.relpath(path, source)}: releases must be in ascending order, each once")
            failures += 1
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--tpc", help="the tpc binary; checks translate-lora's output as well")
    args = ap.parse_args()
    with open(os.path.join(args.source, "schemas", "plan.schema.json")) as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(glob.glob(os.path.join(args.source, "plans", "*", "*.yaml")))
    files = [f for f in files if os.path.basename(os.path.dirname(f)) != "arch"]
    failures, names = 0, {}
    for path in files:
        with open(path) as f:
            doc = yaml.safe_load(f)
        rel = os.path.relpath(path, args.source)
        for err in validator.iter_errors(doc):
            print(f"{rel}: {'/'.join(map(str, err.path))}: {err.message}")
            failures += 1
        # The name is how --plan and the embedding index find the file: it must follow the path.
        want = os.path.basename(os.path.dirname(path)) + "/"
        if not str(doc.get("name", "")).startswith(want):
            print(f"{rel}: name '{doc.get('name')}' does not start with '{want}'")
            failures += 1
        if doc.get("name") in names:
            print(f"{rel}: name '{doc['name']}' is also used by {names[doc['name']]}")
            failures += 1
        names[doc.get("name")] = rel
    if len(files) < 40:
        print(f"only {len(files)} plan files found under plans/")
        failures += 1
    if args.tpc:
        failures += check_translate_lora(args, validator, files)
    failures += check_arch_files(args.source)
    failures += check_release_files(args.source)
    print(f"{len(files)} plan files, {failures} problems")
    return 1 if failures else 0


# translate_to_lora's CLS_MAP, by exact type; the _rep strings are the same classes with a layout.
LORA = {"colwise": "colwise_lora", "colwise_rep": "colwise_lora", "rowwise": "rowwise_lora",
        "rowwise_rep": "rowwise_lora", "sequence_parallel": "sequence_parallel_lora"}
SUBCLASSES = {"vocab_parallel_embedding", "sequence_parallel_all_gather", "qwen3_qk_norm",
              "rotary_embed_parallel", "gemma4_vocab_parallel_embedding", "gemma4_rowwise"}


def expected_entry(value):
    obj = dict(value) if isinstance(value, dict) else {"style": value}
    style = obj["style"]
    if style == "colwise_rep":
        obj.setdefault("output_layouts", ["replicate"])
    if style == "rowwise_rep":
        obj.setdefault("input_layouts", ["replicate"])
    obj["style"] = LORA.get(style, style)
    return obj if len(obj) > 1 else obj["style"]


def check_translate_lora(args, validator, files):
    failures, translated = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            with open(path) as f:
                base = yaml.safe_load(f)
            if base.get("dialect") != "torch":
                continue
            out = os.path.join(tmp, "lora.yaml")
            run = subprocess.run([args.tpc, "translate-lora", "--plan", base["name"], "--color", "never", "-o", out],
                                 cwd=args.source, capture_output=True, text=True)
            where = f"translate-lora --plan {base['name']}"
            if run.returncode != 0:
                print(f"{where}: exit {run.returncode}\n{run.stderr}")
                failures += 1
                continue
            translated += 1
            with open(out) as f:
                lora = yaml.safe_load(f)
            for err in validator.iter_errors(lora):
                print(f"{where}: {'/'.join(map(str, err.path))}: {err.message}")
                failures += 1
            problems = []
            if lora.get("name") != base["name"] + "_lora":
                problems.append(f"name is {lora.get('name')}")
            for field in ("seed", "dialect", "architectures", "model_types", "sequence_parallel", "requires_model_type"):
                if lora.get(field) != base.get(field):
                    problems.append(f"{field} changed from {base.get(field)!r} to {lora.get(field)!r}")
            unconverted = 0
            for section in ("plan", "sp_plan"):
                want = {k: expected_entry(v) for k, v in (base.get(section) or {}).items()}
                got = lora.get(section) or {}
                if list(got) != list(want):
                    problems.append(f"{section} keys differ: {list(got)} vs {list(want)}")
                for key, value in want.items():
                    if got.get(key) != value:
                        problems.append(f"{section}.{key}: {got.get(key)!r}, expected {value!r}")
                for v in (base.get(section) or {}).values():
                    unconverted += (v["style"] if isinstance(v, dict) else v) in SUBCLASSES
            notes = run.stderr.count("[lora-unconverted]") + run.stderr.count("[lora-unplaced]")
            if notes != unconverted:
                problems.append(f"{notes} lora-unconverted/lora-unplaced diagnostics for {unconverted} subclass entries")
            for p in problems:
                print(f"{where}: {p}")
            failures += len(problems)
    if translated < 20:
        print(f"only {translated} torch plans translated")
        failures += 1
    print(f"{translated} torch plans translated to LoRA")
    return failures


if __name__ == "__main__":
    sys.exit(main())
