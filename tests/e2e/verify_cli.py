#!/usr/bin/env python3
"""tpc verify from the command line, on the transformers fixtures of tests/data/verify/.

    python3 tests/e2e/verify_cli.py --tpc build/bin/tpc --source .

Checks: a good plan verifies at tp 2 (exit 0, the text report's rows, JSON fields); fp64 and
--tokens; two broken plans (naive colwise on phi3's fused qkv, mixtral's experts without their
reduction) exit 1 naming the first module that diverges; real configs verify with --shrink and
random weights, the same seed giving the same result; a model directory without a checkpoint and
a bad flag give exit 2 with a message naming the problem; `tpc help` lists verify. Exit 1 on any
failure.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

FAILURES = []


def expect(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    data = os.path.join(args.source, "tests", "data", "verify")

    def tpc(*a):
        return subprocess.run([args.tpc, "verify", *a], capture_output=True, text=True, timeout=300)

    r = tpc("--model", os.path.join(data, "llama"), "--plan", "hf/llama", "--tp", "2")
    expect(r.returncode == 0, f"llama tp 2: exit {r.returncode}\n{r.stderr}")
    lines = r.stdout.splitlines()
    expect([l.split()[0] for l in lines[1:6]] == ["embedding", "layer", "layer", "final", "logits"],
           f"llama tp 2: report rows {lines}")
    # 2 layers x 2 all-reduces, the vocab-parallel embedding's all-reduce, the logits' all-gather.
    expect(lines[-1].startswith("ok: the sharded forward at tp 2 (6 collectives, fp32) equals the unsharded one"),
           f"llama tp 2: last line {lines[-1:]}")

    # Every module compared, replicated KV heads included (ranks 0-1 and 2-3 hold the same head).
    r = tpc("--model", os.path.join(data, "llama"), "--plan", "hf/llama", "--tp", "4", "--kv-replication")
    expect(r.returncode == 0, f"llama tp 4 with KV replication: exit {r.returncode}\n{r.stdout[-400:]}")

    r = tpc("--model", os.path.join(data, "mixtral"), "--plan", "hf/mixtral", "--tp", "2", "--format", "json",
            "--dtype", "fp64", "--tokens", "5")
    expect(r.returncode == 0, f"mixtral json: exit {r.returncode}\n{r.stderr}")
    if r.returncode == 0:
        j = json.loads(r.stdout)
        expect(j["ok"] is True and j["first_divergence"] is None and j["tp"] == 2 and j["dtype"] == "fp64",
               f"mixtral json: {j}")
        expect(0 <= j["max_rel_error"] < 1e-12, f"mixtral fp64 error {j['max_rel_error']}")
        expect([x["part"] for x in j["layers"]] == ["embedding", "layer 0", "layer 1", "final norm and lm_head"],
               f"mixtral json layers {j['layers']}")

    tmp = tempfile.mkdtemp(prefix="tpc-verify-cli-")
    try:
        only_config = os.path.join(tmp, "config-only")
        os.makedirs(only_config)
        shutil.copy(os.path.join(data, "llama", "config.json"), only_config)
        r = tpc("--model", only_config, "--plan", "hf/llama", "--tp", "2")
        expect(r.returncode == 2 and "holds no safetensors checkpoint" in r.stderr,
               f"config only: exit {r.returncode}, {r.stderr}")

        # Broken plans tpc check rejects still run, and the report names where they go wrong.
        naive = os.path.join(tmp, "naive.yaml")
        with open(naive, "w") as f:
            f.write("model.layers.*.self_attn.qkv_proj: colwise\nmodel.layers.*.self_attn.o_proj: rowwise\n")
        r = tpc("--model", os.path.join(data, "phi3"), "--plan", naive, "--tp", "2")
        expect(r.returncode == 1 and "[fused-naive-split]" in r.stderr
               and "first divergence: 'model.layers.0.self_attn.attention' (attention)" in r.stdout,
               f"naive phi3: exit {r.returncode}, {r.stdout}{r.stderr}")

        unreduced = os.path.join(tmp, "unreduced.yaml")
        with open(unreduced, "w") as f:
            f.write("dialect: hf-v5\nbase_model_tp_plan:\n"
                    "  layers.*.mlp.experts.gate_up_proj: packed_colwise\n"
                    "  layers.*.mlp.experts.down_proj: rowwise\n")  # no moe_tp_experts: nothing reduces
        r = tpc("--model", os.path.join(data, "mixtral"), "--plan", unreduced, "--tp", "2", "--format", "json")
        expect(r.returncode == 1, f"unreduced mixtral: exit {r.returncode}, {r.stderr}")
        if r.returncode == 1:
            j = json.loads(r.stdout)
            expect(j["ok"] is False and j["check_errors"] >= 1
                   and j["first_divergence"]["module"] == "model.layers.0.mlp_residual"
                   and j["first_divergence"]["layer"] == 0 and j["first_divergence"]["rel_error"] > 1e-3,
                   f"unreduced mixtral: {j}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # Real configs without their weights: shrunk, with deterministic random weights.
    configs = os.path.join(args.source, "tests", "data", "configs")
    r = tpc("--model", os.path.join(configs, "Qwen__Qwen3-8B"), "--shrink", "--tp", "4")
    expect(r.returncode == 0 and "config shrunk for tp 4" in r.stderr and r.stdout.splitlines()[-1].startswith("ok:"),
           f"shrunk Qwen3-8B: exit {r.returncode}, {r.stdout[-300:]}{r.stderr[-300:]}")
    runs = [tpc("--model", os.path.join(configs, "mistralai__Mixtral-8x7B-Instruct-v0.1"), "--shrink", "--tp", "2",
                "--seed", "7", "--format", "json") for _ in range(2)]
    expect(all(x.returncode == 0 for x in runs), f"shrunk Mixtral: exits {[x.returncode for x in runs]}")
    if all(x.returncode == 0 for x in runs):
        a, b = (json.loads(x.stdout) for x in runs)
        expect(a["ok"] and a["max_rel_error"] == b["max_rel_error"] and a["max_rel_error"] > 0,
               f"shrunk Mixtral, seed 7, twice: {a['max_rel_error']} vs {b['max_rel_error']}")
    r = tpc("--model", os.path.join(data, "llama", "expected.safetensors"), "--random-weights")
    expect(r.returncode == 2 and "not a JSON object" in r.stderr, f"random weights for a non-config: {r.stderr}")

    r = tpc("--model", os.path.join(data, "llama"), "--dtype", "fp16")
    expect(r.returncode == 2 and "--dtype takes fp32 or fp64, got 'fp16'" in r.stderr, f"bad dtype: {r.stderr}")
    r = subprocess.run([args.tpc, "help"], capture_output=True, text=True)
    expect("  verify " in r.stdout, "tpc help does not list verify")
    r = tpc("--help")
    expect(r.returncode == 0 and r.stdout.startswith("usage: tpc verify --model PATH"), f"verify --help: {r.stdout[:80]}")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
