#!/usr/bin/env python3
"""Writes the bundled transformers plans: plans/hf*/<model_type>.yaml.

Two sources, one per mode:

  python tools/make_hf_plans.py --installed     # the transformers of the running Python
  PYTHONPATH=/work/tf57 python tools/make_hf_plans.py --installed    # e.g. 5.7.0 from pip --target
  python tools/make_hf_plans.py                 # plans/hf4 from tests/data/reference/hf_tp_plans.json

--installed imports transformers, finds its row in plans/transformers_releases.yaml (which names the
plan folder: hf for the newest release, hf57 for 5.7.0) and, for every model_type an architecture
file in plans/arch/ supports, builds the causal-LM class on the meta device from the default config
and writes its `model.tp_plan`: the plan `tp_plan="auto"` shards, after the release's own changes
to the declared plans (the config class's base_model_tp_plan and the class's _tp_plan, both
recorded in the header). Two such changes exist in the releases tpc knows:
  - 5.24 (distributed/mixin.py, DistributedMixin.init_parallel_plans) puts
    `embed_tokens: embedding_rowwise` first in a base model's plan when that plan is non-empty,
    names no embed_tokens and the model's `embed_tokens` is an nn.Embedding (#47503);
  - 5.7 (modeling_utils.py, PreTrainedModel.post_init) sets the instance's _tp_plan to the base
    plan and its children's, so the *ForCausalLM class's own _tp_plan (lm_head) is never applied.
    NeMo AutoModel still reads it (type(model)._tp_plan), so the file keeps it as class_tp_plan.
The folder of an older release holds only the model types whose plan differs from the newest
release's (plans/README.md); run the newest release first.

The JSON mode writes the 4.57.6 plans (dialect hf-v4) to plans/hf4 from the source-read corpus.
The output is committed; re-run from the repository root when the data changes.
"""
import argparse
import glob
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "tests", "data", "reference", "hf_tp_plans.json")
RELEASES = os.path.join(ROOT, "plans", "transformers_releases.yaml")


def arch_files():
    """model_type -> (base prefix tpc roots base_model_tp_plan keys at, names of root modules)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "plans", "arch", "*.yaml"))):
        with open(path) as f:
            doc = yaml.safe_load(f)
        roots = {m["name"] for part in ("pre", "post") for m in doc.get(part) or [] if "{base}" not in m["name"]}
        for t in doc["model_types"]:
            out[t] = ((doc.get("base_prefix_for") or {}).get(t) or doc.get("base_prefix") or "model", roots)
    return out


def yaml_map(name, plan):
    return [f"{name}:"] + [f"  {key}: {style}" for key, style in plan.items()]


def inline(plan):
    return "{" + ", ".join(f"{k}: {v}" for k, v in plan.items()) + "}" if plan else "none"


def write_plan(path, header, meta, sections):
    lines = header + [f"{k}: {v}" for k, v in meta.items() if v is not None]
    for name, plan in sections:
        if plan:
            lines += yaml_map(name, plan)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- --installed ---------------------------------------------------------------------------------

def release_row(version):
    with open(RELEASES) as f:
        rows = yaml.safe_load(f)["releases"]
    for r in rows:
        if r["version"] == version:
            return r, rows[-1]
    sys.stderr.write(f"{RELEASES}: no row for the installed transformers {version}; known: "
                     + ", ".join(r["version"] for r in rows) + "\n")
    sys.exit(2)


def checkpoint_name(model, key, roots):
    """A root key in tpc's (checkpoint) module names: 5.24 renames GPT-NeoX's embed_out to lm_head
    in the module tree (a WeightRenaming r"^embed_out\\." -> "lm_head."), which tpc's arch keeps."""
    if key in roots:
        return key
    from transformers.conversion_mapping import get_model_conversion_mapping
    for t in get_model_conversion_mapping(model):
        if type(t).__name__ != "WeightRenaming":
            continue
        for src, dst in zip(t.source_patterns, t.target_patterns):
            m = re.fullmatch(r"\^([A-Za-z0-9_]+)\\\.", src)
            if m and dst == key + "." and m.group(1) in roots:
                return m.group(1)
    return key


def extract(model_type, prefix, roots):
    """(causal-LM class, declared base plan, declared class plan, effective plan split in tpc's form)."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING
    if model_type not in CONFIG_MAPPING:
        return None  # remote code (baichuan, nemotron-nas): transformers has no plan for it
    config_cls = CONFIG_MAPPING[model_type]
    model_cls = MODEL_FOR_CAUSAL_LM_MAPPING[config_cls]
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config_cls())
    base, root = {}, {}
    for key, style in dict(model.tp_plan or {}).items():
        if key.startswith(prefix + "."):
            base[key[len(prefix) + 1:]] = style
        else:
            root[checkpoint_name(model, key, roots)] = style
    declared_class = dict(model_cls._tp_plan or {})
    renamed = {k: checkpoint_name(model, k, roots) for k in declared_class}
    # What the class declares but the release does not apply (5.7's post_init): for NeMo's reading.
    unapplied = {renamed[k]: v for k, v in declared_class.items() if renamed[k] not in root}
    # The declared base plans: the config's and, for a composite (gemma3), its sub-configs' (the
    # text model's plan arrives through the child's _tp_plan).
    declared = {config_cls.__name__: dict(config_cls.base_model_tp_plan or {})}
    for sub in (getattr(config_cls, "sub_configs", None) or {}).values():
        if getattr(sub, "base_model_tp_plan", None):
            declared[sub.__name__] = dict(sub.base_model_tp_plan)
    renames = {k: v for k, v in renamed.items() if k != v}
    return config_cls, model_cls, declared, declared_class, renames, base, root, unapplied


def sections_of(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    return {k: doc.get(k) or {} for k in ("causal_lm_tp_plan", "base_model_tp_plan", "class_tp_plan")}


def installed(args):
    import transformers
    version = transformers.__version__
    row, newest = release_row(version)
    folder = row["plans"]
    where = os.path.dirname(transformers.__file__)
    written, same, skipped = [], [], []
    for model_type, (prefix, roots) in arch_files().items():
        got = extract(model_type, prefix, roots)
        if not got:
            skipped.append(model_type)
            continue
        config_cls, model_cls, declared, declared_class, renames, base, root, unapplied = got
        if not base and not root and not unapplied:
            skipped.append(model_type)
            continue
        sections = [("causal_lm_tp_plan", root), ("base_model_tp_plan", base), ("class_tp_plan", unapplied)]
        file = model_type.replace("-", "_") + ".yaml"
        out = os.path.join(ROOT, "plans", folder, file)
        if folder != newest["plans"]:
            newest_path = os.path.join(ROOT, "plans", newest["plans"], file)
            if os.path.exists(newest_path) and sections_of(newest_path) == dict(sections):
                same.append(model_type)
                if os.path.exists(out):
                    os.remove(out)
                continue
        added = {k: v for k, v in base.items() if not any(k in plan for plan in declared.values())}
        mod = config_cls.__module__.split(".")
        header = [
            f"# Generated by tools/make_hf_plans.py --installed from transformers {version}; do not edit.",
            f"# What transformers {version} shards with tp_plan=\"auto\": {model_cls.__name__}(config).tp_plan",
            f"# (keys under '{prefix}' are base_model_tp_plan here, the others causal_lm_tp_plan). Declared:",
        ] + [f"#   {name}.base_model_tp_plan: {inline(plan)}" for name, plan in declared.items()] + [
            f"#   {model_cls.__name__}._tp_plan: {inline(declared_class)}",
        ]
        if renames:
            header.append("# Named as in the checkpoint and tpc's arch file (transformers renames the module): "
                          + ", ".join(f"{k} -> {v}" for k, v in renames.items()))
        if added:
            header.append(f"# Added by transformers {version} (DistributedMixin.init_parallel_plans): {inline(added)}")
        if unapplied:
            header += [f"# Not applied by transformers {version} (post_init replaces the class's _tp_plan); kept as",
                       "# class_tp_plan, which NeMo AutoModel reads (type(model)._tp_plan) and tpc's checks do not."]
        if folder != newest["plans"]:
            header.append(f"# plans/{folder} keeps only the model types whose plan differs from plans/{newest['plans']}.")
        write_plan(out, header, {
            "name": f"{folder}/{model_type}",
            "seed": f"transformers {version}",
            "origin": f"transformers {version} {'/'.join(mod[1:-1])}/{mod[-1]}.py and {model_cls.__module__.split('.')[-1]}.py",
            "summary": f"the model's own _tp_plan as transformers {version} applies it ({row['dialect']} styles)",
            "dialect": row["dialect"],
            "architectures": f"[{model_cls.__name__}]",
            "model_types": f"[{model_type}]",
        }, sections)
        written.append(f"{folder}/{model_type}")
    print(f"transformers {version} ({where}): wrote " + " ".join(written))
    if same:
        print(f"same plan as plans/{newest['plans']}, no file: " + " ".join(same))
    if skipped:
        print("no plan in this release: " + " ".join(skipped))


# ---- JSON (plans/hf4) ----------------------------------------------------------------------------

def from_json():
    with open(SRC) as f:
        data = json.load(f)
    written = []
    for model_type in arch_files():
        old = (data.get(model_type) or {}).get("v4_57_6")
        if not old:
            continue
        base = old.get("base_model_tp_plan") or {}
        head = old.get("causal_lm_tp_plan") or {}
        if not base and not head:
            continue
        cls = old.get("causal_lm_class") or old.get("config_class") or model_type
        header = [
            "# Generated by tools/make_hf_plans.py from tests/data/reference/hf_tp_plans.json; do not edit.",
            f"# The Hugging Face plan of {cls} in transformers 4.57.6: base_model_tp_plan keys are",
            "# relative to the base model, causal_lm_tp_plan keys start at the root.",
        ]
        meta = {"name": f"hf4/{model_type}", "seed": "transformers 4.57.6",
                "origin": old.get("source") or "transformers", "summary": "the model's own _tp_plan (hf-v4 styles)",
                "dialect": "hf-v4", "architectures": f"[{old['causal_lm_class']}]" if old.get("causal_lm_class") else None,
                "model_types": f"[{model_type}]"}
        write_plan(os.path.join(ROOT, "plans", "hf4", model_type.replace("-", "_") + ".yaml"), header, meta,
                   [("base_model_tp_plan", base), ("causal_lm_tp_plan", head)])
        written.append("hf4/" + model_type)
    print("wrote " + " ".join(written))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--installed", action="store_true",
                    help="extract from the transformers installed in this Python (else: plans/hf4 from the JSON)")
    args = ap.parse_args()
    installed(args) if args.installed else from_json()


if __name__ == "__main__":
    main()
