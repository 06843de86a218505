#!/usr/bin/env python3
"""tpc verify from the command line, on the transformers fixtures of tests/data/verify/.

    python3 tests/e2e/verify_cli.py --tpc build/bin/tpc --source .

Checks: a good plan verifies at tp 2 (exit 0, the text report's rows, JSON fields); fp64 and
--tokens; five broken plans exit 1 naming the first module that diverges (naive colwise on phi3's
fused qkv, mixtral's experts without their reduction, an SP norm feeding colwise without its
all-gather, a rowwise bias added on every rank, transformers 5.7's embedding offset with vocab 30 over
4 ranks), and tpc check's error for each; real configs verify with --shrink and
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

SP_NORM_WITHOUT_ALL_GATHER = """dialect: torch
plan:
  model.embed_tokens: {style: vocab_parallel_embedding, input_layouts: [replicate], output_layouts: [shard(1)], use_local_output: false}
  model.norm: sequence_parallel
  model.layers.*.input_layernorm: sequence_parallel
  model.layers.*.self_attn.q_proj: colwise
  model.layers.*.self_attn.k_proj: colwise
  model.layers.*.self_attn.v_proj: colwise
  model.layers.*.self_attn.o_proj: {style: rowwise, output_layouts: [shard(1)], use_local_output: false}
  model.layers.*.post_attention_layernorm: sequence_parallel
  model.layers.*.mlp.gate_proj: colwise
  model.layers.*.mlp.up_proj: colwise
  model.layers.*.mlp.down_proj: {style: rowwise, output_layouts: [shard(1)], use_local_output: false}
  lm_head: {style: colwise, input_layouts: [shard(1)], output_layouts: [replicate]}
"""

BIAS_EVERY_RANK = """dialect: hf-v4
base_model_tp_plan:
  layers.*.self_attn.q_proj: colwise
  layers.*.self_attn.k_proj: colwise
  layers.*.self_attn.v_proj: colwise
  layers.*.self_attn.o_proj: rowwise
  layers.*.mlp.c_fc: local_colwise
  layers.*.mlp.c_proj: local_rowwise
  layers.*.mlp: gather
"""

EMBEDDING_ROWWISE = """dialect: hf-v5
base_model_tp_plan:
  embed_tokens: embedding_rowwise
  layers.*.self_attn.q_proj: colwise
  layers.*.self_attn.k_proj: colwise
  layers.*.self_attn.v_proj: colwise
  layers.*.self_attn.o_proj: rowwise
  layers.*.mlp.gate_proj: colwise
  layers.*.mlp.up_proj: colwise
  layers.*.mlp.down_proj: rowwise
causal_lm_tp_plan:
  lm_head: colwise_gather_output
"""


def write(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


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

        # NeMo's default SP plan: plain SequenceParallel norms hand a Shard(1) DTensor to colwise q/k/v,
        # whose declared input equals the desired one, so nothing all-gathers it (Automodel #652). The
        # projection sees half the sequence; then the rank stops at the rotary embedding.
        sp = write(tmp, "sp_no_gather.yaml", SP_NORM_WITHOUT_ALL_GATHER)
        r = tpc("--model", os.path.join(data, "llama"), "--plan", sp, "--tp", "2", "--format", "json")
        expect(r.returncode == 1 and "[layout-mismatch]" in r.stderr and "(Automodel #652)" in r.stderr,
               f"sp norm without all-gather: exit {r.returncode}, {r.stderr[-600:]}")
        if r.returncode == 1:
            j = json.loads(r.stdout)
            first = j["first_divergence"]
            expect(j["ok"] is False and first["module"] == "model.layers.0.self_attn.q_proj"
                   and first["why"] == "its output has shape [2, 8, 32] where the unsharded one has [2, 16, 32]"
                   and j["stopped"].startswith("rank ") and "'model.layers.0.self_attn.attention'" in j["stopped"]
                   and j["logits_rel_error"] is None and j["layers"][2]["max_rel_error"] is None,
                   f"sp norm without all-gather: {j}")
        # At 1 token the sequence split leaves rank 1 none: q_proj's pieces [2, 1, 16] and [2, 0, 16]
        # are no column shards of one tensor, a divergence to report, not an internal error.
        r = tpc("--model", os.path.join(data, "llama"), "--plan", sp, "--tp", "2", "--tokens", "1")
        expect(r.returncode == 1 and "first divergence: 'model.layers.0.self_attn.q_proj' (linear layer): its ranks' "
               "outputs have shapes [2, 1, 16], [2, 0, 16]: they do not join into one tensor\n" in r.stdout
               and "then the sharded forward stopped: rank 1, 'model.layers.0.self_attn.attention': " in r.stdout,
               f"sp norm without all-gather, 1 token: exit {r.returncode}, {r.stdout}{r.stderr[-300:]}")

        # --arch-dir: a family only the given templates know (llama's file renamed 'mylama') compiles
        # and runs its reference from the same templates.
        arch = os.path.join(tmp, "arch")
        mine = os.path.join(tmp, "mylama")
        os.makedirs(arch)
        os.makedirs(mine)
        with open(os.path.join(args.source, "plans", "arch", "llama.yaml")) as f:
            text = f.read()
        text = text.replace("family: llama", "family: mylama", 1)
        text = text.replace("model_types: [llama, mistral, granite, smollm3]", "model_types: [mylama]", 1)
        text = text.replace("  model_types: [llama, mistral]", "  model_types: [mylama]", 1)
        with open(os.path.join(arch, "mylama.yaml"), "w") as f:
            f.write(text)
        shutil.copy(os.path.join(data, "llama", "model.safetensors"), mine)
        with open(os.path.join(data, "llama", "config.json")) as f:
            config = json.load(f)
        config.update(model_type="mylama", architectures=["MylamaForCausalLM"])
        with open(os.path.join(mine, "config.json"), "w") as f:
            json.dump(config, f)
        heads = write(tmp, "heads.yaml", "".join(f"model.layers.*.self_attn.{p}_proj: {s}\n" for p, s in
                                                  [("q", "colwise"), ("k", "colwise"), ("v", "colwise"), ("o", "rowwise")]))
        r = tpc("--model", mine, "--arch-dir", arch, "--plan", heads, "--tp", "2")
        expect(r.returncode == 0 and r.stdout.splitlines()[-1].startswith("ok:"),
               f"--arch-dir family: exit {r.returncode}, {r.stdout[-300:]}{r.stderr[-300:]}")

        # 2 heads over 4 ranks: each rank gets no head (num_heads 2 // 4 = 0); the rank stops at the
        # attention with a message, never a division by zero.
        two_heads = os.path.join(tmp, "two-heads")
        os.makedirs(two_heads)
        with open(os.path.join(data, "llama", "config.json")) as f:
            config = json.load(f)
        config.update(num_attention_heads=2, num_key_value_heads=2)
        with open(os.path.join(two_heads, "config.json"), "w") as f:
            json.dump(config, f)
        r = tpc("--model", two_heads, "--random-weights", "--plan", "hf/llama", "--tp", "4")
        expect(r.returncode == 1 and "[heads-not-divisible]" in r.stderr
               and "first divergence: 'model.layers.0.self_attn.attention' (attention): rank " in r.stdout
               and "cannot split a width of 4 into 0 heads" in r.stdout,
               f"2 heads over 4 ranks: exit {r.returncode}, {r.stdout}{r.stderr[-300:]}")

        # transformers 4's local_rowwise inside a gather block adds c_proj's bias on each rank, and the
        # gather's all-reduce sums it twice; giving the bias its own `local` entry divides it by tp.
        bias = write(tmp, "bias_every_rank.yaml", BIAS_EVERY_RANK)
        r = tpc("--model", os.path.join(data, "starcoder2"), "--plan", bias, "--tp", "2")
        expect(r.returncode == 1 and "[bias-added-per-rank]" in r.stderr
               and "first divergence: 'model.layers.0.mlp.c_proj' (linear layer)" in r.stdout,
               f"bias on every rank: exit {r.returncode}, {r.stdout}{r.stderr[-400:]}")
        divided = write(tmp, "bias_divided.yaml", BIAS_EVERY_RANK + "  layers.*.mlp.c_proj.bias: local\n")
        r = tpc("--model", os.path.join(data, "starcoder2"), "--plan", divided, "--tp", "2")
        expect(r.returncode == 0 and "error" not in r.stderr, f"bias divided by tp: exit {r.returncode}, {r.stdout}{r.stderr}")

        # embedding_rowwise with vocab 30 over 4 ranks (8, 8, 8, 6): transformers 5.7 offsets rank 3 by
        # 3 x 6 = 18 instead of 24, so tokens 24-29 get zeros; 5.24 offsets it right.
        embed = write(tmp, "embed_rowwise.yaml", EMBEDDING_ROWWISE)
        odd = os.path.join(data, "llama_odd_vocab")
        r = tpc("--model", odd, "--plan", embed, "--tp", "4", "--kv-replication", "--transformers", "5.7")
        expect(r.returncode == 1 and "[embedding-vocab-offset]" in r.stderr
               and "first divergence: 'model.embed_tokens' (embedding)" in r.stdout,
               f"embedding offset under 5.7: exit {r.returncode}, {r.stdout}{r.stderr[-400:]}")
        r = tpc("--model", odd, "--plan", embed, "--tp", "4", "--kv-replication", "--transformers", "5.24")
        expect(r.returncode == 0 and r.stdout.splitlines()[-1].startswith("ok:"),
               f"embedding offset under 5.24: exit {r.returncode}, {r.stdout}{r.stderr[-400:]}")
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
