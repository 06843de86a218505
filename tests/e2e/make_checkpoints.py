#!/usr/bin/env python3
"""Writes small, real-layout Hugging Face checkpoints for the checkpoint-aware compile tests (issue 12).

    python3 tests/e2e/make_checkpoints.py OUTDIR [NAME ...]

writes OUTDIR/<name>/ (config.json plus model.safetensors, or shards with model.safetensors.index.json)
for every NAME (default: all of them; see CHECKPOINTS below), replacing what was there
(`make_checkpoints.py tests/data/checkpoints tiny-llama` rewrites the committed fixture, byte for byte). Tensors are
written by the reference `safetensors` package (pip install safetensors numpy), not by tpc, under the
names and in the dtypes the real checkpoints on the Hub store. Data is seeded, so every run writes
the same bytes. llama405b_sparse is the exception: Llama-3.1-405B's real shapes in 191 shards whose
headers are written here by hand (as the reference writer lays them out) and whose data is a hole
(os.truncate), so it costs no disk. Exit 2 with a message when safetensors or numpy is missing.
"""
import json
import math
import os
import shutil
import sys

BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F8_E4M3": 1}
TORCH_NAME = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F8_E4M3": "float8_e4m3fn"}
META = {"format": "pt"}


# ---- tensor lists: (stored name, safetensors dtype, shape), in the order the Hub's shards hold them

def llama_layer(prefix, hidden, heads, kv_heads, head_dim, inter, dtype="BF16"):
    return [
        (f"{prefix}.input_layernorm.weight", dtype, [hidden]),
        (f"{prefix}.self_attn.q_proj.weight", dtype, [heads * head_dim, hidden]),
        (f"{prefix}.self_attn.k_proj.weight", dtype, [kv_heads * head_dim, hidden]),
        (f"{prefix}.self_attn.v_proj.weight", dtype, [kv_heads * head_dim, hidden]),
        (f"{prefix}.self_attn.o_proj.weight", dtype, [hidden, heads * head_dim]),
        (f"{prefix}.post_attention_layernorm.weight", dtype, [hidden]),
        (f"{prefix}.mlp.gate_proj.weight", dtype, [inter, hidden]),
        (f"{prefix}.mlp.up_proj.weight", dtype, [inter, hidden]),
        (f"{prefix}.mlp.down_proj.weight", dtype, [hidden, inter]),
    ]


def llama_tensors(c, stored_inter=None):
    h, heads, kv, layers = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["num_hidden_layers"]
    hd = c.get("head_dim") or h // heads
    inter = stored_inter or c["intermediate_size"]
    t = [("model.embed_tokens.weight", "BF16", [c["vocab_size"], h])]
    for n in range(layers):
        t += llama_layer(f"model.layers.{n}", h, heads, kv, hd, inter)
    t.append(("model.norm.weight", "BF16", [h]))
    if not c.get("tie_word_embeddings", False):
        t.append(("lm_head.weight", "BF16", [c["vocab_size"], h]))
    return t


def phi3_tensors(c):
    """qkv_proj and gate_up_proj stored fused, rows [Q | K | V] and [gate | up], as Phi-3 stores them."""
    h, heads, kv, inter = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["intermediate_size"]
    hd = h // heads
    t = [("model.embed_tokens.weight", "BF16", [c["vocab_size"], h])]
    for n in range(c["num_hidden_layers"]):
        p = f"model.layers.{n}"
        t += [(f"{p}.input_layernorm.weight", "BF16", [h]),
              (f"{p}.self_attn.qkv_proj.weight", "BF16", [(heads + 2 * kv) * hd, h]),
              (f"{p}.self_attn.o_proj.weight", "BF16", [h, heads * hd]),
              (f"{p}.post_attention_layernorm.weight", "BF16", [h]),
              (f"{p}.mlp.gate_up_proj.weight", "BF16", [2 * inter, h]),
              (f"{p}.mlp.down_proj.weight", "BF16", [h, inter])]
    t += [("model.norm.weight", "BF16", [h]), ("lm_head.weight", "BF16", [c["vocab_size"], h])]
    return t


def attention(prefix, h, heads, kv, hd, qk_norm=False):
    t = [(f"{prefix}.self_attn.q_proj.weight", "BF16", [heads * hd, h]),
         (f"{prefix}.self_attn.k_proj.weight", "BF16", [kv * hd, h]),
         (f"{prefix}.self_attn.v_proj.weight", "BF16", [kv * hd, h]),
         (f"{prefix}.self_attn.o_proj.weight", "BF16", [h, heads * hd])]
    if qk_norm:
        t += [(f"{prefix}.self_attn.q_norm.weight", "BF16", [hd]), (f"{prefix}.self_attn.k_norm.weight", "BF16", [hd])]
    return t


def mixtral_tensors(c):
    h, inter, experts = c["hidden_size"], c["intermediate_size"], c["num_local_experts"]
    hd = h // c["num_attention_heads"]
    t = [("model.embed_tokens.weight", "BF16", [c["vocab_size"], h])]
    for n in range(c["num_hidden_layers"]):
        p = f"model.layers.{n}"
        t.append((f"{p}.input_layernorm.weight", "BF16", [h]))
        t += attention(p, h, c["num_attention_heads"], c["num_key_value_heads"], hd)
        t.append((f"{p}.post_attention_layernorm.weight", "BF16", [h]))
        t.append((f"{p}.block_sparse_moe.gate.weight", "BF16", [experts, h]))
        for e in range(experts):
            q = f"{p}.block_sparse_moe.experts.{e}"
            t += [(f"{q}.w1.weight", "BF16", [inter, h]), (f"{q}.w2.weight", "BF16", [h, inter]),
                  (f"{q}.w3.weight", "BF16", [inter, h])]
    t += [("model.norm.weight", "BF16", [h]), ("lm_head.weight", "BF16", [c["vocab_size"], h])]
    return t


def qwen3_moe_tensors(c):
    h, moe, experts = c["hidden_size"], c["moe_intermediate_size"], c["num_experts"]
    t = [("model.embed_tokens.weight", "BF16", [c["vocab_size"], h])]
    for n in range(c["num_hidden_layers"]):
        p = f"model.layers.{n}"
        t.append((f"{p}.input_layernorm.weight", "BF16", [h]))
        t += attention(p, h, c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], qk_norm=True)
        t.append((f"{p}.post_attention_layernorm.weight", "BF16", [h]))
        assert (n + 1) % c["decoder_sparse_step"] == 0  # every layer sparse
        t.append((f"{p}.mlp.gate.weight", "BF16", [experts, h]))
        for e in range(experts):
            q = f"{p}.mlp.experts.{e}"
            t += [(f"{q}.gate_proj.weight", "BF16", [moe, h]), (f"{q}.up_proj.weight", "BF16", [moe, h]),
                  (f"{q}.down_proj.weight", "BF16", [h, moe])]
    t += [("model.norm.weight", "BF16", [h]), ("lm_head.weight", "BF16", [c["vocab_size"], h])]
    return t


def gemma3_vlm_tensors(c):
    tc, vc = c["text_config"], c["vision_config"]
    h, inter = tc["hidden_size"], tc["intermediate_size"]
    base = "language_model.model"
    t = [(f"{base}.embed_tokens.weight", "BF16", [tc["vocab_size"], h])]
    for n in range(tc["num_hidden_layers"]):
        p = f"{base}.layers.{n}"
        t.append((f"{p}.input_layernorm.weight", "BF16", [h]))
        t += attention(p, h, tc["num_attention_heads"], tc["num_key_value_heads"], tc["head_dim"], qk_norm=True)
        t += [(f"{p}.post_attention_layernorm.weight", "BF16", [h]),
              (f"{p}.pre_feedforward_layernorm.weight", "BF16", [h]),
              (f"{p}.mlp.gate_proj.weight", "BF16", [inter, h]), (f"{p}.mlp.up_proj.weight", "BF16", [inter, h]),
              (f"{p}.mlp.down_proj.weight", "BF16", [h, inter]),
              (f"{p}.post_feedforward_layernorm.weight", "BF16", [h])]
    t.append((f"{base}.norm.weight", "BF16", [h]))  # tied: no lm_head stored
    vh, vi, patch = vc["hidden_size"], vc["intermediate_size"], vc["patch_size"]
    v = "vision_tower.vision_model"
    t += [(f"{v}.embeddings.patch_embedding.weight", "BF16", [vh, vc.get("num_channels", 3), patch, patch]),
          (f"{v}.embeddings.patch_embedding.bias", "BF16", [vh]),
          (f"{v}.embeddings.position_embedding.weight", "BF16", [(vc["image_size"] // patch) ** 2, vh])]
    for n in range(vc["num_hidden_layers"]):
        p = f"{v}.encoder.layers.{n}"
        for norm in ("layer_norm1", "layer_norm2"):
            t += [(f"{p}.{norm}.weight", "BF16", [vh]), (f"{p}.{norm}.bias", "BF16", [vh])]
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t += [(f"{p}.self_attn.{proj}.weight", "BF16", [vh, vh]), (f"{p}.self_attn.{proj}.bias", "BF16", [vh])]
        t += [(f"{p}.mlp.fc1.weight", "BF16", [vi, vh]), (f"{p}.mlp.fc1.bias", "BF16", [vi]),
              (f"{p}.mlp.fc2.weight", "BF16", [vh, vi]), (f"{p}.mlp.fc2.bias", "BF16", [vh])]
    t += [(f"{v}.post_layernorm.weight", "BF16", [vh]), (f"{v}.post_layernorm.bias", "BF16", [vh]),
          ("multi_modal_projector.mm_input_projection_weight", "BF16", [vh, h]),
          ("multi_modal_projector.mm_soft_emb_norm.weight", "BF16", [vh])]
    return t


def fp8(name, shape, block):
    """An FP8 weight and its block scale, as DeepSeek-V3 stores them."""
    scale = [math.ceil(shape[0] / block[0]), math.ceil(shape[1] / block[1])]
    return [(f"{name}.weight", "F8_E4M3", shape), (f"{name}.weight_scale_inv", "F32", scale)]


def deepseek_tensors(c):
    h, heads, block = c["hidden_size"], c["num_attention_heads"], c["quantization_config"]["weight_block_size"]
    nope, rope, vd = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    ql, kvl = c["q_lora_rank"], c["kv_lora_rank"]
    t = [("model.embed_tokens.weight", "BF16", [c["vocab_size"], h])]
    for n in range(c["num_hidden_layers"]):
        p = f"model.layers.{n}"
        t.append((f"{p}.input_layernorm.weight", "BF16", [h]))
        t += fp8(f"{p}.self_attn.q_a_proj", [ql, h], block)
        t.append((f"{p}.self_attn.q_a_layernorm.weight", "BF16", [ql]))
        t += fp8(f"{p}.self_attn.q_b_proj", [heads * (nope + rope), ql], block)
        t += fp8(f"{p}.self_attn.kv_a_proj_with_mqa", [kvl + rope, h], block)
        t.append((f"{p}.self_attn.kv_a_layernorm.weight", "BF16", [kvl]))
        t += fp8(f"{p}.self_attn.kv_b_proj", [heads * (nope + vd), kvl], block)
        t += fp8(f"{p}.self_attn.o_proj", [h, heads * vd], block)
        t.append((f"{p}.post_attention_layernorm.weight", "BF16", [h]))
        if n < c["first_k_dense_replace"]:
            i = c["intermediate_size"]
            t += fp8(f"{p}.mlp.gate_proj", [i, h], block) + fp8(f"{p}.mlp.up_proj", [i, h], block)
            t += fp8(f"{p}.mlp.down_proj", [h, i], block)
            continue
        e_count, moe = c["n_routed_experts"], c["moe_intermediate_size"]
        t += [(f"{p}.mlp.gate.weight", "BF16", [e_count, h]), (f"{p}.mlp.gate.e_score_correction_bias", "F32", [e_count])]
        for e in range(e_count):
            q = f"{p}.mlp.experts.{e}"
            t += fp8(f"{q}.gate_proj", [moe, h], block) + fp8(f"{q}.up_proj", [moe, h], block)
            t += fp8(f"{q}.down_proj", [h, moe], block)
        s = moe * c["n_shared_experts"]
        q = f"{p}.mlp.shared_experts"
        t += fp8(f"{q}.gate_proj", [s, h], block) + fp8(f"{q}.up_proj", [s, h], block) + fp8(f"{q}.down_proj", [h, s], block)
    t += [("model.norm.weight", "BF16", [h]), ("lm_head.weight", "BF16", [c["vocab_size"], h])]
    return t


# ---- configs: tiny sizes, the field names of the real config.json of each model type

LLAMA = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1,
    "eos_token_id": 2, "head_dim": 8, "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02,
    "intermediate_size": 128, "max_position_embeddings": 2048, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 8, "num_hidden_layers": 2, "num_key_value_heads": 4, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.45.0", "use_cache": True, "vocab_size": 256,
}

# Phi-3-mini-4k-instruct's config.json fields, tiny sizes; 4 kv heads of 8 (as Phi-3-medium and
# Phi-4-mini group them), so that the Q, K and V segments of qkv_proj differ in size.
PHI3 = {
    "architectures": ["Phi3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1,
    "embd_pdrop": 0.0, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02,
    "intermediate_size": 96, "max_position_embeddings": 4096, "model_type": "phi3", "num_attention_heads": 8,
    "num_hidden_layers": 2, "num_key_value_heads": 4, "original_max_position_embeddings": 4096, "pad_token_id": 2,
    "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0, "sliding_window": 2047,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.40.2", "use_cache": True,
    "vocab_size": 320,
}

# A vocabulary that no tp above 1 divides: the last rank of a vocab-sharded embedding gets fewer rows.
LLAMA_ODD_VOCAB = dict(LLAMA, vocab_size=250)

MIXTRAL = {
    "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 32,
    "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 8, "num_experts_per_tok": 2,
    "num_hidden_layers": 2, "num_key_value_heads": 4, "num_local_experts": 8, "output_router_logits": False,
    "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.36.0.dev0",
    "use_cache": True, "vocab_size": 256,
}

QWEN3_MOE = {
    "architectures": ["Qwen3MoeForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "decoder_sparse_step": 1, "eos_token_id": 151645, "head_dim": 16, "hidden_act": "silu",
    "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 40960,
    "max_window_layers": 2, "mlp_only_layers": [], "model_type": "qwen3_moe", "moe_intermediate_size": 32,
    "norm_topk_prob": True, "num_attention_heads": 8, "num_experts": 8, "num_experts_per_tok": 2,
    "num_hidden_layers": 2, "num_key_value_heads": 4, "output_router_logits": False, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 256,
}

GEMMA3_VLM = {  # Gemma3ForConditionalGeneration as google/gemma-3-4b-it writes it; tied embeddings (the default)
    "architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 250, "eoi_token_index": 251,
    "eos_token_id": [1, 106], "image_token_index": 252, "initializer_range": 0.02, "mm_tokens_per_image": 4,
    "model_type": "gemma3",
    "text_config": {
        "attn_logit_softcapping": None, "final_logit_softcapping": None, "head_dim": 16,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 64, "intermediate_size": 128,
        "max_position_embeddings": 131072, "model_type": "gemma3_text", "num_attention_heads": 8,
        "num_hidden_layers": 2, "num_key_value_heads": 4, "query_pre_attn_scalar": 16, "rms_norm_eps": 1e-06,
        "rope_local_base_freq": 10000.0, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "rope_theta": 1000000.0, "sliding_window": 1024, "sliding_window_pattern": 6, "vocab_size": 256,
    },
    "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
    "vision_config": {
        "hidden_size": 32, "image_size": 16, "intermediate_size": 64, "model_type": "siglip_vision_model",
        "num_attention_heads": 4, "num_hidden_layers": 1, "patch_size": 4,
        "vision_use_head": False,
    },
}

DEEPSEEK_FP8 = {
    "architectures": ["DeepseekV3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1, "first_k_dense_replace": 1, "hidden_act": "silu",
    "hidden_size": 256, "initializer_range": 0.02, "intermediate_size": 384, "kv_lora_rank": 128,
    "max_position_embeddings": 4096, "model_type": "deepseek_v3", "moe_intermediate_size": 128, "moe_layer_freq": 1,
    "n_group": 2, "n_routed_experts": 4, "n_shared_experts": 1, "norm_topk_prob": True, "num_attention_heads": 4,
    "num_experts_per_tok": 2, "num_hidden_layers": 2, "num_key_value_heads": 4, "num_nextn_predict_layers": 0,
    "q_lora_rank": 128, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]},
    "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 10000, "routed_scaling_factor": 2.5,
    "scoring_func": "sigmoid", "tie_word_embeddings": False, "topk_group": 1, "topk_method": "noaux_tc",
    "torch_dtype": "bfloat16", "transformers_version": "4.46.3", "use_cache": True, "v_head_dim": 32,
    "vocab_size": 512,
}

LLAMA_405B = {  # meta-llama/Llama-3.1-405B config.json
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 16384,
    "initializer_range": 0.02, "intermediate_size": 53248, "max_position_embeddings": 131072, "mlp_bias": False,
    "model_type": "llama", "num_attention_heads": 128, "num_hidden_layers": 126, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.42.3", "use_cache": True, "vocab_size": 128256,
}


# ---- writing

def numel(shape):
    return math.prod(shape)


def data_for(np, rng, dtype, shape):
    """Deterministic bytes for one tensor, valid for its dtype (no NaN in F8_E4M3)."""
    n = numel(shape)
    if dtype == "F8_E4M3":
        b = rng.integers(0, 256, n, dtype=np.uint8)
        b[(b & 0x7F) == 0x7F] -= 1  # 0x7F / 0xFF are NaN in e4m3fn
        return b
    if dtype == "F32":
        return (rng.random(n, dtype=np.float32) * 0.01 + 0.001).view(np.uint8)
    x = rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)
    if dtype == "BF16":
        return (x.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)  # truncated float32
    return x.astype(np.float16).view(np.uint8)


def split_in_order(tensors, count):
    """`count` consecutive groups of roughly equal bytes; a tensor goes to the shard its first byte falls in."""
    total = sum(numel(s) * BYTES[d] for _, d, s in tensors)
    groups, offset = [[] for _ in range(count)], 0
    for t in tensors:
        groups[min(count - 1, offset * count // total)].append(t)
        offset += numel(t[2]) * BYTES[t[1]]
    assert all(groups), "a shard would be empty"
    return groups


def write_index(out, tensors, groups, names):
    weight_map = {t[0]: names[i] for i, g in enumerate(groups) for t in g}
    total = sum(numel(s) * BYTES[d] for _, d, s in tensors)
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")


def shard_names(count):
    if count == 1:
        return ["model.safetensors"]
    return [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]


def write_checkpoint(out, config, tensors, shards, seed):
    import numpy as np
    from safetensors import TensorSpec, serialize_file
    rng = np.random.default_rng(seed)
    groups = split_in_order(tensors, shards)
    names = shard_names(shards)
    for name, group in zip(names, groups):
        keep, specs = [], {}
        for tname, dtype, shape in group:
            data = data_for(np, rng, dtype, shape)
            keep.append(data)
            specs[tname] = TensorSpec(dtype=TORCH_NAME[dtype], shape=shape, data_ptr=data.ctypes.data,
                                      data_len=data.nbytes)
        serialize_file(specs, os.path.join(out, name), metadata=META)
    if shards > 1:
        write_index(out, tensors, groups, names)


def header_bytes(group):
    """A safetensors header as the reference writer lays it out: the tensors by name (all one dtype here),
    offsets contiguous from 0, the JSON padded with spaces to a multiple of 8."""
    header, offset = {"__metadata__": META}, 0
    for name, dtype, shape in sorted(group):
        size = numel(shape) * BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, offset


def write_sparse(out, tensors, shards):
    groups = split_in_order(tensors, shards)
    names = shard_names(shards)
    for name, group in zip(names, groups):
        head, data = header_bytes(group)
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(head)
        os.truncate(path, len(head) + data)  # the data is a hole: no blocks on disk
    write_index(out, tensors, groups, names)


def pruned_llama():
    return llama_tensors(LLAMA, stored_inter=96)


CHECKPOINTS = {  # name: (config, tensors, shard count, seed); seed None: a sparse header-only checkpoint
    "llama_single": (LLAMA, lambda: llama_tensors(LLAMA), 1, 1),
    # The README's bundled example, committed as tests/data/checkpoints/tiny-llama (see its README).
    "tiny-llama": (LLAMA, lambda: llama_tensors(LLAMA), 1, 1),
    "llama_sharded": (LLAMA, lambda: llama_tensors(LLAMA), 2, 1),
    "llama_pruned": (LLAMA, pruned_llama, 1, 2),
    "phi3": (PHI3, lambda: phi3_tensors(PHI3), 1, 7),
    "llama_odd_vocab": (LLAMA_ODD_VOCAB, lambda: llama_tensors(LLAMA_ODD_VOCAB), 1, 8),
    "mixtral": (MIXTRAL, lambda: mixtral_tensors(MIXTRAL), 2, 3),
    "qwen3_moe": (QWEN3_MOE, lambda: qwen3_moe_tensors(QWEN3_MOE), 1, 4),
    "gemma3_vlm": (GEMMA3_VLM, lambda: gemma3_vlm_tensors(GEMMA3_VLM), 1, 5),
    "deepseek_fp8": (DEEPSEEK_FP8, lambda: deepseek_tensors(DEEPSEEK_FP8), 2, 6),
    "llama405b_sparse": (LLAMA_405B, lambda: llama_tensors(LLAMA_405B), 191, None),
}


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        print(f"usage: {argv[0]} OUTDIR [NAME ...]\n  names: {' '.join(CHECKPOINTS)}", file=sys.stderr)
        return 2
    unknown = [n for n in argv[2:] if n not in CHECKPOINTS]
    if unknown:
        print(f"make_checkpoints: unknown checkpoint {', '.join(unknown)}; known: {' '.join(CHECKPOINTS)}",
              file=sys.stderr)
        return 2
    try:
        import numpy  # noqa: F401
        import safetensors  # noqa: F401
        from safetensors import TensorSpec, serialize_file  # noqa: F401
    except ImportError as e:
        print(f"make_checkpoints: needs numpy and the Python package safetensors with TensorSpec (0.8 or newer) ({e}); "
              "install them with: python3 -m pip install safetensors numpy", file=sys.stderr)
        return 2
    for name in argv[2:] or CHECKPOINTS:
        config, tensors, shards, seed = CHECKPOINTS[name]
        out = os.path.join(argv[1], name)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        if seed is None:
            write_sparse(out, tensors(), shards)
        else:
            write_checkpoint(out, config, tensors(), shards, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
