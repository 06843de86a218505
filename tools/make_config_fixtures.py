#!/usr/bin/env python3
"""Writes tests/data/configs/<name>/config.json from tests/data/reference/hf_configs.json.

The reference file holds the real config.json values of public checkpoints (with null for fields
its source did not show). Each fixture keeps exactly the non-null values, so the tests run on real
numbers; `extra` fields are merged in and the provenance goes to `_source`.
Run from the repository root; the output is committed, so this only needs re-running when the
reference data changes.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "tests", "data", "reference", "hf_configs.json")
OUT = os.path.join(ROOT, "tests", "data", "configs")


def fixture_name(repo_id):
    return repo_id.split(" ")[0].replace("/", "__")


def main():
    with open(SRC) as f:
        configs = json.load(f)
    for repo_id, entry in configs.items():
        if repo_id == "_meta":
            continue
        fields = {k: v for k, v in entry.items()
                  if v is not None and k not in ("source", "note", "extra")}
        fields.update(entry.get("extra") or {})
        if "(text_config)" in repo_id:
            # The VLM form: the text model's fields live under text_config.
            top = {"model_type": fields.pop("model_type"), "architectures": fields.pop("architectures")}
            fields["model_type"] = fields.get("model_type", top["model_type"] + "_text")
            top["text_config"] = fields
            fields = top
        fields["_source"] = entry.get("source", "")
        path = os.path.join(OUT, fixture_name(repo_id))
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(fields, f, indent=2)
            f.write("\n")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
