#!/usr/bin/env python3
"""Every bundled plan file against schemas/plan.schema.json, read with PyYAML and checked with the
reference jsonschema package (both independent of tpc's own loader)."""
import argparse
import glob
import json
import os
import sys

import jsonschema
import yaml


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
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
    print(f"{len(files)} plan files, {failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
