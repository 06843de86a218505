#!/usr/bin/env python3
"""Writes tests/data/verify/<case>/ for `tpc verify`'s reference-forward test: a tiny random-weight
model per family built with Hugging Face transformers (config.json + model.safetensors, as
save_pretrained writes them) and expected.safetensors with the fixed token batch `input_ids`
(int64 [2, 8]), `logits` (float32 [2, 8, vocab]) and `hidden.<i>` (float32 [2, 8, hidden]) for
each entry of output_hidden_states (hidden.0 = embedding output, the last = after the final norm).

Run with: torch 2.15.0 (CPU) and transformers 5.24.0, e.g.
    /work/venv-torch/bin/python tools/make_verify_fixtures.py
A development-time tool, not a CI dependency. The output is byte-identical from run to run; the
script checks that each saved model reloads and reproduces its logits, and prints the total size.
"""
import json
import math
import os
import shutil
import sys
import tempfile

import torch
import transformers
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "verify")
SEED = 1234
BATCH, SEQ = 2, 8

# Shared sizes: 4 query heads (tp 2 and 4), head_dim 8, 2 KV heads (tp 4 needs --kv-replication).
BASE = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=16, vocab_size=32, max_position_embeddings=64,
            bos_token_id=1, eos_token_id=2, pad_token_id=0, initializer_range=0.02)
ROPE = {"rope_type": "default", "rope_theta": 10000.0}

# case -> (config class, model class, overrides, what it exercises)
CASES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM",
              dict(head_dim=8, hidden_act="silu", rms_norm_eps=1e-6, attention_bias=False,
                   mlp_bias=False, tie_word_embeddings=False, rope_parameters=ROPE),
              "GQA (4 q heads, 2 kv), rotary, RMSNorm, SwiGLU, untied lm_head"),
    "llama_odd_vocab": ("LlamaConfig", "LlamaForCausalLM",
                        dict(head_dim=8, hidden_act="silu", rms_norm_eps=1e-6, vocab_size=30,
                             attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
                             rope_parameters=ROPE),
                        "vocab 30 (% 4 = 2): uneven vocab split at tp 4"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM",
              dict(hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=False,
                   use_sliding_window=False, sliding_window=None, max_window_layers=2,
                   layer_types=["full_attention"] * 2, rope_parameters=ROPE),
              "q/k/v bias (no o bias), head_dim = hidden / heads = 4"),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM",
              dict(head_dim=8, num_key_value_heads=4, hidden_act="silu", rms_norm_eps=1e-6,
                   attention_bias=False, tie_word_embeddings=False, use_sliding_window=False,
                   sliding_window=None, max_window_layers=2, layer_types=["full_attention"] * 2,
                   rope_parameters=ROPE),
              "q/k RMSNorm per head, head_dim 8 != hidden / heads, 4 kv heads (tp 4 without replication)"),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM",
               dict(head_dim=8, hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
                    tie_word_embeddings=True, attention_bias=False, query_pre_attn_scalar=12,
                    sliding_window=4, layer_types=["sliding_attention", "full_attention"],
                    attn_logit_softcapping=1.0, final_logit_softcapping=3.0, rope_parameters=ROPE),
               "(1 + w) RMSNorm, sqrt(hidden) embedding scale, 4 norms per layer, attention and "
               "final soft-capping, sliding window 4 < 8 tokens, query_pre_attn_scalar 12"),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM",
               dict(head_dim=8, hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
                    tie_word_embeddings=True, attention_bias=False, query_pre_attn_scalar=12,
                    sliding_window=4, num_hidden_layers=3, sliding_window_pattern=2,
                    layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                    attn_logit_softcapping=None, final_logit_softcapping=None,
                    rope_parameters={
                        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                        "full_attention": {"rope_type": "linear", "rope_theta": 1000000.0,
                                           "factor": 2.0}}),
               "gemma3_text: q/k norm, local/global layers (sliding window 4), two rope thetas "
               "(global one linearly scaled by 2)"),
    "phi3": ("Phi3Config", "Phi3ForCausalLM",
             dict(hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=False,
                  original_max_position_embeddings=64, sliding_window=None,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                   "partial_rotary_factor": 1.0}),
             "fused qkv_proj ([q; k; v] rows) and gate_up_proj ([gate; up] rows), head_dim 4"),
    "starcoder2": ("Starcoder2Config", "Starcoder2ForCausalLM",
                   dict(hidden_act="gelu_pytorch_tanh", norm_epsilon=1e-5, use_bias=True,
                        tie_word_embeddings=False, sliding_window=None, rope_parameters=ROPE,
                        attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0),
                   "LayerNorm with bias, biases on every linear, gelu MLP (c_fc, c_proj)"),
    "gpt_neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM",
                 dict(num_key_value_heads=None, hidden_act="gelu", layer_norm_eps=1e-5,
                      use_parallel_residual=True, attention_bias=True, tie_word_embeddings=False,
                      rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                       "partial_rotary_factor": 0.5}),
                 "parallel residual, fused per-head interleaved query_key_value, partial rotary "
                 "(2 of 4 dims), LayerNorm, MHA (4 kv heads)"),
    "mixtral": ("MixtralConfig", "MixtralForCausalLM",
                dict(head_dim=8, hidden_act="silu", rms_norm_eps=1e-5, intermediate_size=8,
                     num_local_experts=4, num_experts_per_tok=2, router_jitter_noise=0.0,
                     tie_word_embeddings=False, sliding_window=None, rope_parameters=ROPE),
                "router softmax then top-2 of 4 experts (w1, w2, w3), renormalised weights"),
    "qwen3_moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM",
                  dict(head_dim=8, hidden_act="silu", rms_norm_eps=1e-6, moe_intermediate_size=8,
                       num_experts=4, num_experts_per_tok=2, norm_topk_prob=True,
                       decoder_sparse_step=1, mlp_only_layers=[], attention_bias=False,
                       tie_word_embeddings=False, use_sliding_window=False, sliding_window=None,
                       rope_parameters=ROPE),
                  "q/k norm + top-2 of 4 experts with norm_topk_prob, moe_intermediate_size 8"),
}
# gpt_neox has no num_key_value_heads field; the override above only removes BASE's.


def input_ids(vocab):
    """The fixed batch: ids[b][t] = (b * 31 + t * 17 + 3) % vocab."""
    return torch.tensor([[(b * 31 + t * 17 + 3) % vocab for t in range(SEQ)] for b in range(BATCH)],
                        dtype=torch.int64)


def set_weights(model, gemma_norm):
    """Deterministic weights in name order: linear ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases
    U(-0.1, 0.1), norm weights 1 + U(-0.2, 0.2) (U(-0.2, 0.2) for Gemma's (1 + w) norms), embeddings
    N(0, 1) (N(0, 1/hidden) for Gemma, which scales them by sqrt(hidden))."""
    gen = torch.Generator().manual_seed(SEED)
    hidden = model.config.hidden_size
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            u = torch.rand(p.shape, generator=gen, dtype=torch.float32) * 2 - 1
            if "embed" in name or name.endswith("embed_in.weight"):
                v = torch.randn(p.shape, generator=gen, dtype=torch.float32)
                p.copy_(v / math.sqrt(hidden) if gemma_norm else v)
            elif "norm" in name and name.endswith(".weight"):
                p.copy_(0.2 * u if gemma_norm else 1 + 0.2 * u)
            elif p.dim() == 1:
                p.copy_(0.1 * u)
            else:
                p.copy_(u / math.sqrt(p.shape[-1]))


def build(case):
    cfg_name, model_name, overrides, _ = CASES[case]
    kwargs = dict(BASE)
    kwargs.update(overrides)
    if kwargs.get("num_key_value_heads") is None:
        kwargs.pop("num_key_value_heads")
    cfg = getattr(transformers, cfg_name)(**kwargs)
    cfg._attn_implementation = "eager"
    torch.manual_seed(SEED)
    model = getattr(transformers, model_name)(cfg).eval()
    set_weights(model, gemma_norm=cfg.model_type.startswith("gemma"))
    return model


def forward(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True, use_cache=False)
    return out.logits.float().contiguous(), [h.float().contiguous() for h in out.hidden_states]


def write_case(case):
    model = build(case)
    d = os.path.join(OUT, case)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model.save_pretrained(d, safe_serialization=True)
    ids = input_ids(model.config.vocab_size)
    logits, hidden = forward(model, ids)
    tensors = {"input_ids": ids, "logits": logits}
    tensors.update({f"hidden.{i}": h for i, h in enumerate(hidden)})
    save_file(tensors, os.path.join(d, "expected.safetensors"))

    # The saved checkpoint must reproduce the logits it was saved with.
    again = transformers.AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager").eval()
    logits2, _ = forward(again, ids)
    if not torch.equal(logits, logits2):
        sys.exit(f"{case}: reloaded model gives different logits")
    cfg = json.load(open(os.path.join(d, "config.json")))
    return cfg, logits, hidden


def readme(rows):
    lines = ["# Fixtures for `tpc verify`'s reference forward", "",
             "Written by `tools/make_verify_fixtures.py` (transformers 5.24.0, torch 2.15.0, CPU, fp32,",
             "eager attention, seed 1234). Each directory holds `config.json` and `model.safetensors`",
             "(save_pretrained) and `expected.safetensors`: `input_ids` int64 [2, 8] with",
             "ids[b][t] = (31 b + 17 t + 3) % vocab, `logits` float32 [2, 8, vocab], and `hidden.<i>` float32",
             "[2, 8, hidden] for transformers' output_hidden_states (hidden.0 = embedding output after any",
             "scaling, hidden.<layers> = after the final norm).", "",
             "| case | model_type | layers | hidden | heads / kv / head_dim | intermediate | vocab | exercises |",
             "|---|---|---|---|---|---|---|---|"]
    lines += rows
    lines += ["", "Every case has 4 query heads and widths divisible by 4 (tp 2 and 4); kv heads 2 need",
              "`--kv-replication` at tp 4. `tpc check --plan hf/<model_type>` passes every case at tp 2 and 4",
              "except gemma2 and gemma3: their tied embeddings meet the HF plan's colwise lm_head",
              "(tied-placement-mismatch), so verify them under their NeMo plans.", "",
              "Model types with an architecture file (plans/arch) but no fixture: baichuan, deepseek_v3,",
              "falcon_h1, gemma, gemma3 (the multimodal wrapper), gpt_oss, granite, mistral, nemotron-nas,",
              "olmo2, phi, qwen2_moe, smollm3.", "",
              "Rerun the script after changing it; its output is byte-identical from run to run."]
    return "\n".join(lines) + "\n"


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = []
    for case, (_, _, _, what) in CASES.items():
        cfg, logits, hidden = write_case(case)
        heads = cfg["num_attention_heads"]
        kv = cfg.get("num_key_value_heads") or heads
        hd = cfg.get("head_dim") or cfg["hidden_size"] // heads
        inter = cfg.get("moe_intermediate_size") or cfg["intermediate_size"]
        if "moe" in case or case == "mixtral":
            inter = f"{inter} x 4 experts, top 2"
        rows.append(f"| {case} | {cfg['model_type']} | {cfg['num_hidden_layers']} | {cfg['hidden_size']} "
                    f"| {heads} / {kv} / {hd} | {inter} | {cfg['vocab_size']} | {what} |")
        print(f"{case}: logits |max| {logits.abs().max():.3f}, {len(hidden)} hidden states")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(readme(rows))
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, n)) for n in files)
    print(f"total {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
