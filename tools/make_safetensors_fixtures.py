#!/usr/bin/env python3
"""Writes tests/data/safetensors/ with the reference `safetensors` package (0.8; pip install
safetensors numpy): one file with a tensor of most dtypes and __metadata__, and a two-shard
checkpoint with its model.safetensors.index.json (in the layout transformers writes). Tensor bytes
are 0, 1, 2, ... so the files are deterministic and a few hundred bytes each."""
import json
import os
import sys

import numpy as np
from safetensors import TensorSpec, serialize

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "safetensors")
_keep = []  # the buffers TensorSpec points into


def spec(dtype, shape, nbytes):
    data = (np.arange(nbytes) % 251).astype(np.uint8)
    _keep.append(data)
    return TensorSpec(dtype=dtype, shape=shape, data_ptr=data.ctypes.data, data_len=nbytes)


def write(name, tensors, metadata=None):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes(serialize(tensors, metadata=metadata)))


def main():
    os.makedirs(OUT, exist_ok=True)
    write("mixed.safetensors", {
        "model.embed_tokens.weight": spec("bfloat16", (4, 3), 24),
        "model.layers.0.mlp.down_proj.weight": spec("float8_e4m3fn", (3, 5), 15),
        "model.layers.0.mlp.down_proj.weight_scale": spec("float32", (3,), 12),
        "model.layers.0.mlp.up_proj.weight": spec("float8_e5m2", (2, 3), 6),
        "model.layers.0.self_attn.q_proj.weight": spec("float4_e2m1fn_x2", (2, 3), 6),
        "model.layers.0.self_attn.q_proj.scale": spec("float8_e8m0fnu", (2,), 2),
        "model.norm.weight": spec("float16", (3,), 6),
        "step": spec("int64", (), 8),
        "mask": spec("bool", (3,), 3),
        "rope": spec("complex64", (2,), 16),
        "ids": spec("uint16", (0,), 0),
    }, metadata={"format": "pt", "note": "tpc fixture"})
    shards = {
        "model-00001-of-00002.safetensors": {"a.weight": spec("bfloat16", (2, 2), 8),
                                             "b.weight": spec("float32", (2,), 8)},
        "model-00002-of-00002.safetensors": {"c.weight": spec("int8", (4,), 4)},
    }
    weight_map = {}
    for shard, tensors in shards.items():
        write(shard, tensors, metadata={"format": "pt"})
        weight_map.update({name: shard for name in tensors})
    with open(os.path.join(OUT, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 20}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
