#!/usr/bin/env python3
"""The oracle for tpc's verdicts: runs a random-weight twin of a config with real transformers TP
(tp_plan="auto", CPU, gloo, N processes) and compares the logits with the unsharded model.

A development tool, not a CI dependency: its outcomes are committed under tests/data/tp_oracle/ and
tests/passes/tp_oracle_test.cc compares tpc's verdicts with them.

  PYTHONPATH=/work/tf57 python tools/tp_oracle.py --out tests/data/tp_oracle   # transformers 5.7
  python tools/tp_oracle.py --out tests/data/tp_oracle                         # the installed one

tp_plan / distributed_config loading needs accelerate (and psutil) besides torch and transformers;
`pip install --target DIR accelerate psutil --no-deps` and DIR on PYTHONPATH is enough.

A twin keeps every head count and, for every other size, its remainder modulo tp (so a dimension
divides tp in the twin exactly when it does in the real model), with 2 layers and small widths. A plan
override is passed whole (keys from the root, lm_head colwise_gather_output): as tp_plan to 5.7,
as DistributedConfig(tp_plan=...) to 5.24.
Outcome per case: ok (logits within 1e-4 relative), wrong (no exception, logits differ), crash (an
exception on some rank: its first line is kept) or hang (no answer within the timeout).
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import traceback

import torch
import torch.multiprocessing as mp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "tests", "data", "configs")


def small(real, tp, base, even=False):
    """The smallest size >= base with real's remainder modulo tp (and even when asked)."""
    v = base
    while v % tp != real % tp or (even and v % 2):
        v += 1
    return v


def twin(real, tp):
    """A small config with the real one's head counts and remainders modulo tp."""
    c = dict(real)
    heads = c["num_attention_heads"]
    hd = c.get("head_dim") or c["hidden_size"] // heads
    # hidden = heads * head_dim must keep hidden % tp; head_dim stays even (rotary) and keeps hd % tp.
    small_hd = small(hd, tp, 4, even=True)
    while (heads * small_hd) % tp != c["hidden_size"] % tp:
        small_hd += 2
    c["hidden_size"] = heads * small_hd
    if "head_dim" in c:
        c["head_dim"] = small_hd
    for k, base in (("intermediate_size", 64), ("moe_intermediate_size", 16), ("vocab_size", 64)):
        if c.get(k):
            c[k] = small(c[k], tp, base)
    for k in ("num_experts", "num_local_experts"):
        if c.get(k):
            c[k] = small(c[k], tp, 4)
    if c.get("num_experts_per_tok"):
        c["num_experts_per_tok"] = 2
    c["num_hidden_layers"] = 2
    c["max_position_embeddings"] = 64
    for k in ("pad_token_id", "bos_token_id", "eos_token_id"):
        c[k] = None  # the twin's vocabulary is small
    c.pop("quantization_config", None)
    c.pop("rope_scaling", None)
    c["torch_dtype"] = "float32"
    c.pop("dtype", None)
    return c


def cases():
    """The pinned cases: name -> (config dict, tp, plan override or None)."""
    def real(name):
        with open(os.path.join(CONFIGS, name, "config.json")) as f:
            return json.load(f)
    llama = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 48, "num_attention_heads": 6,
             "num_key_value_heads": 3, "intermediate_size": 96, "num_hidden_layers": 2, "vocab_size": 250,
             "max_position_embeddings": 64, "tie_word_embeddings": False, "torch_dtype": "float32"}
    llama_plan = {"layers.*.self_attn.q_proj": "colwise", "layers.*.self_attn.k_proj": "colwise",
                  "layers.*.self_attn.v_proj": "colwise", "layers.*.self_attn.o_proj": "rowwise",
                  "layers.*.mlp.gate_proj": "colwise", "layers.*.mlp.up_proj": "colwise",
                  "layers.*.mlp.down_proj": "rowwise"}
    # lm_head replicated, so that only the embedding's vocab split is uneven.
    embed = dict(llama_plan, embed_tokens="embedding_rowwise", lm_head=None)
    qwen = twin(real("Qwen__Qwen3-30B-A3B"), 2)
    qwen["num_local_experts"] = qwen.pop("num_experts")
    phi3 = twin(real("microsoft__Phi-3-mini-4k-instruct"), 3)
    # Grouped-query Phi-3 (phi-4's shape): q, k and v segments of qkv_proj are unequal.
    phi3_gqa = dict(phi3, num_attention_heads=6, num_key_value_heads=3, hidden_size=48)
    return {
        "phi3_mini_tp3": (phi3, 3, None),
        "olmo2_7b_tp3": (twin(real("allenai__OLMo-2-1124-7B"), 3), 3, None),
        "llama_embed_vocab250_tp3": (llama, 3, embed),
        "llama_embed_vocab252_tp3": (dict(llama, vocab_size=252), 3, embed),
        "qwen3_moe_num_local_experts_tp2": (qwen, 2, None),
        # The model's own plan (plans/hf57, plans/hf): 5.7 applies the base plan only, so the embedding
        # and lm_head stay whole; 5.24 adds embed_tokens: embedding_rowwise and gathers lm_head, both
        # over 250 rows (84, 84, 82).
        "llama_auto_vocab250_tp3": (llama, 3, None),
        "llama_auto_tied_vocab250_tp3": (dict(llama, tie_word_embeddings=True), 3, None),
        # lm_head colwise_gather_output over 250 rows, the embedding whole (5.24 merges the override
        # over its own plan, so there the embedding is vocab-parallel too).
        "llama_lm_head_gather_vocab250_tp3": (llama, 3, dict(llama_plan, lm_head="colwise_gather_output")),
        # Errors under every version.
        "head_split_tp3": (dict(llama, num_attention_heads=4, num_key_value_heads=2, hidden_size=32, vocab_size=252),
                           3, None),
        "fused_unequal_segments_tp3": (phi3_gqa, 3, {"layers.*.self_attn.qkv_proj": "colwise",
                                                     "layers.*.self_attn.o_proj": "rowwise"}),
        "mismatched_chunking_tp3": (dict(llama, vocab_size=252), 3,
                                    dict(llama_plan, **{"layers.*.mlp.down_proj": "rowwise_split_input"})),
        "experts_tp3": (twin(real("Qwen__Qwen3-30B-A3B"), 2) | {"num_experts": 8}, 3, "ep"),
    }


def worker(rank, world, port, model_dir, ids, expert_parallel, plan, queue):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    try:
        import transformers
        kwargs = {"tp_plan": plan or "auto", "dtype": torch.float32}
        new_api = tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (5, 21)
        if new_api and plan:  # 5.24: the overrides go into DistributedConfig, keys from the root
            from transformers.distributed import DistributedConfig
            kwargs = {"dtype": torch.float32, "distributed_config": DistributedConfig(tp_plan=plan)}
        if expert_parallel:
            from transformers.distributed import DistributedConfig
            # The expert-parallel plan alone, as 5.7's enable_expert_parallel applied it (its ep plan replaced
            # the tp plan). 5.24 wants ep_size a multiple of tp_size that divides fsdp_size * tp_size
            # (ep_size=3, tp_size=1 stops there, before the experts are split), refuses tp_size > 1 with
            # tp_plan={} ("has no tp_plan"), and with the model's tp plan would split attention too. So
            # the ranks are FSDP ranks: dense weights gathered whole for compute, experts split over
            # ep_size by base_model_ep_plan (grouped_gemm + ep_dispatch_experts, tokens by all-to-all).
            kwargs = {"dtype": torch.float32,
                      "distributed_config": DistributedConfig(ep_size=world, fsdp_size=world, tp_size=1)
                      if new_api else DistributedConfig(enable_expert_parallel=True)}
            if not new_api:
                kwargs["tp_plan"] = "auto"
        model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
        with torch.no_grad():
            out = model(torch.tensor([ids])).logits
        if hasattr(out, "full_tensor"):
            out = out.full_tensor()
        queue.put((rank, "done", out.float().numpy().tolist() if rank == 0 else None))
    except BaseException as e:  # any failure on any rank is the outcome
        msg = (traceback.format_exception_only(type(e), e)[-1].strip().splitlines() or [""])[0]
        queue.put((rank, "crash", msg[:300]))


def run_case(name, config, tp, plan, timeout):
    import transformers
    torch.manual_seed(0)
    cfg = dict(config)
    ep = plan == "ep"
    # A plan override is the whole plan from the root (5.7 replaces the model's plan with it; 5.24
    # merges it over the model's, every key of which it names).
    full_plan = None
    if plan and not ep:
        full_plan = {"model." + k: v for k, v in plan.items() if k != "lm_head"}
        if plan.get("lm_head", "colwise_gather_output"):  # None: lm_head stays replicated
            full_plan["lm_head"] = plan.get("lm_head", "colwise_gather_output")
    with tempfile.TemporaryDirectory() as d:
        conf = transformers.AutoConfig.for_model(**{k: v for k, v in cfg.items() if k != "architectures"})
        conf.architectures = cfg.get("architectures")
        model = transformers.AutoModelForCausalLM.from_config(conf, dtype=torch.float32)
        model.save_pretrained(d)
        vocab = conf.vocab_size
        ids = [(i * 37) % vocab for i in range(vocab)][:64] + list(range(vocab - 16, vocab))
        with torch.no_grad():
            ref = model(torch.tensor([ids])).logits.float()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=worker, args=(r, tp, port, d, ids, ep, full_plan, queue)) for r in range(tp)]
        for p in procs:
            p.start()
        results = {}
        try:
            for _ in range(tp):
                rank, kind, payload = queue.get(timeout=timeout)
                results[rank] = (kind, payload)
                if kind == "crash":
                    break
        except Exception:
            pass
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
        crashes = sorted((r, m) for r, (k, m) in results.items() if k == "crash")
        if crashes:
            return {"outcome": "crash", "rank": crashes[0][0], "message": crashes[0][1]}
        if 0 not in results:
            return {"outcome": "hang"}
        got = torch.tensor(results[0][1])
        if got.shape != ref.shape:
            return {"outcome": "wrong", "message": "logits shape %s, expected %s" % (list(got.shape), list(ref.shape))}
        err = ((got - ref).abs().max() / ref.abs().max()).item()
        return {"outcome": "ok" if err < 1e-4 else "wrong", "max_rel_error": float("%.3g" % err)}


def ep_note(tp):
    """How 5.21+ was asked for expert parallelism (see worker), kept with the outcome."""
    return ("run with DistributedConfig(ep_size=%d, fsdp_size=%d, tp_size=1); DistributedConfig(ep_size=%d, "
            "tp_size=1) stops earlier with ValueError: `ep_size` must divide `fsdp_size * tp_size`." % (tp, tp, tp))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="directory for <case>.json outcomes")
    ap.add_argument("--case", action="append", help="run only these cases")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    import transformers
    version = transformers.__version__
    os.makedirs(args.out, exist_ok=True)
    for name, (config, tp, plan) in cases().items():
        if args.case and name not in args.case:
            continue
        result = run_case(name, config, tp, plan, args.timeout)
        if plan == "ep" and tuple(int(x) for x in version.split(".")[:2]) >= (5, 21):
            result["note"] = ep_note(tp)
        path = os.path.join(args.out, name + ".json")
        data = {}
        if os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
        data.setdefault("case", name)
        data["tp"] = tp
        data["config"] = config
        data["plan"] = plan
        data.setdefault("outcomes", {})[version] = result
        with open(path, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        print(name, version, result, flush=True)


if __name__ == "__main__":
    sys.exit(main())
