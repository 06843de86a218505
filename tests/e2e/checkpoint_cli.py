#!/usr/bin/env python3
"""tpc check and compile on checkpoint directories written by an independent writer.

    python3 tests/e2e/checkpoint_cli.py --tpc build/bin/tpc --source .

tests/e2e/make_checkpoints.py writes small real-layout checkpoints with the reference `safetensors`
package (and a sparse, header-only Llama-3.1-405B) into a temporary directory. Each case runs the
built tpc on one and checks the exit code and what the messages name; every compiled program is
checked by tests/e2e/check_program_tiles.py (every stored tensor exactly once, slices tiling it
`replicas` times, scales in whole blocks), and its input hashes against Python's hashlib.
Malformed checkpoints are made here by editing the written files.
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

FAILURES = []


def expect(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)
    return cond


class Tpc:
    def __init__(self, exe, source):
        self.exe, self.source = exe, source

    def run(self, *args):
        r = subprocess.run([self.exe, *args], cwd=self.source, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def stdout(self, *args):
        r = subprocess.run([self.exe, *args], cwd=self.source, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout


def sha256(path, limit=None):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read() if limit is None else f.read(limit)).hexdigest()


def header_len(path):
    with open(path, "rb") as f:
        return struct.unpack("<Q", f.read(8))[0]


def compile_ok(tpc, tools, ck, out, *args, entries=None):
    """Compiles ck to out, checks it with check_program_tiles.py; returns the program."""
    code, text = tpc.run("compile", "--model", ck, "-o", out, *args)
    if not expect(code == 0, f"compile {os.path.basename(ck)} {args}: exit {code}\n{text}"):
        return None
    r = subprocess.run([sys.executable, os.path.join(tools, "check_program_tiles.py"), out, ck],
                       capture_output=True, text=True)
    expect(r.returncode == 0, f"check_program_tiles {os.path.basename(ck)} {args}: {r.stdout}{r.stderr}")
    with open(out) as f:
        program = json.load(f)
    expect(program["names"] == "checkpoint", f"{out}: names is {program['names']}")
    if entries is not None:
        stored = [p for p in program["parameters"] if p["file"] and p["source"] == p["name"]]
        expect(len(stored) == entries, f"{out}: {len(stored)} stored entries, want {entries}")
    return program


def by_name(program):
    return {p["name"]: p for p in program["parameters"]}


def rewrite_header(path, edit):
    """Rewrites path's header JSON through edit(header) -> header, keeping the data bytes."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    blob = json.dumps(edit(header)).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + data)


def drop_tensor(path, name):
    """Rewrites path without tensor `name`, packing the others' data again."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    kept, blobs, at = {}, [], 0
    for key, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if key == name:
            continue
        b, e = info["data_offsets"]
        blobs.append(data[b:e])
        kept[key] = dict(info, data_offsets=[at, at + e - b])
        at += e - b
    if meta is not None:
        kept["__metadata__"] = meta
    blob = json.dumps(kept).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + b"".join(blobs))


def cases(tpc, tools, ck, tmp):
    llama = os.path.join(ck, "llama_single")
    # A dense checkpoint: every stored tensor once, with its file; the inputs hashed.
    p = compile_ok(tpc, tools, llama, os.path.join(tmp, "llama.json"), "--tp", "2", entries=21)
    if p:
        q = by_name(p)["model.layers.0.self_attn.q_proj.weight"]
        expect(q["file"] == "model.safetensors" and q["dtype"] == "BF16" and q["placement"] == "shard(0)",
               f"q_proj entry: {q}")
        inputs = p["inputs"]
        expect(inputs["config"]["sha256"] == sha256(os.path.join(llama, "config.json")), f"config sha: {inputs}")
        f0 = inputs["checkpoint"]["files"][0]
        shard = os.path.join(llama, "model.safetensors")
        expect(f0["header_sha256"] == sha256(shard, 8 + header_len(shard)), f"header sha: {f0}")
        expect(inputs["checkpoint"]["index"] is None, "a single file has no index")

    sharded = os.path.join(ck, "llama_sharded")
    p = compile_ok(tpc, tools, sharded, os.path.join(tmp, "sharded.json"), "--tp", "4", entries=21)
    if p:
        index = p["inputs"]["checkpoint"]["index"]
        expect(index and index["sha256"] == sha256(os.path.join(sharded, "model.safetensors.index.json")),
               f"index sha: {index}")
        expect({e["file"] for e in p["parameters"] if e["file"]} ==
               {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}, "both shards named")

    # A pruned checkpoint: the stored MLP is narrower than config.json says, in all three formats.
    pruned = os.path.join(ck, "llama_pruned")
    code, text = tpc.run("check", "--model", pruned, "--tp", "2")
    expect(code == 1 and "checkpoint-shape-mismatch" in text and "[96, 64]" in text and "[128, 64]" in text
           and "model.safetensors" in text and "mlp.up_proj.weight" in text, f"pruned check: {code}\n{text}")
    code, text = tpc.stdout("check", "--model", pruned, "--tp", "2", "--format", "json")
    codes = [d["code"] for d in json.loads(text)["diagnostics"]] if code == 1 else []
    expect("checkpoint-shape-mismatch" in codes, f"pruned json: {code} {text[:400]}")
    code, text = tpc.stdout("check", "--model", pruned, "--tp", "2", "--format", "sarif")
    rules = [r["ruleId"] for r in json.loads(text)["runs"][0]["results"]] if code == 1 else []
    expect("checkpoint-shape-mismatch" in rules, f"pruned sarif: {code} {text[:400]}")
    out = os.path.join(tmp, "pruned.json")
    code, text = tpc.run("compile", "--model", pruned, "--tp", "2", "-o", out)
    expect(code == 1 and not os.path.exists(out), f"pruned compile: {code}\n{text}")

    # Mixtral stores one tensor per expert under block_sparse_moe: its own plan (packed colwise
    # experts) at tp 2, and expert parallelism at tp 8 (one expert per rank, KV heads replicated).
    mixtral = os.path.join(ck, "mixtral")
    p = compile_ok(tpc, tools, mixtral, os.path.join(tmp, "mixtral2.json"), "--tp", "2", "--plan", "hf/mixtral",
                   entries=65)
    if p:
        w1 = by_name(p).get("model.layers.1.block_sparse_moe.experts.7.w1.weight")
        expect(w1 and w1["tree"] == "model.layers.1.mlp.experts.gate_up_proj" and w1["expert"] == 7
               and w1["slices"] == [[{"segment": "gate", "start": 0, "length": 16}],
                                    [{"segment": "gate", "start": 16, "length": 16}]], f"mixtral w1 entry: {w1}")
    ep = os.path.join(tmp, "ep.yaml")
    with open(ep, "w") as f:
        f.write("dialect: hf-v5\nbase_model_tp_plan:\n  layers.*.self_attn.q_proj: colwise\n"
                "  layers.*.self_attn.k_proj: colwise\n  layers.*.self_attn.v_proj: colwise\n"
                "  layers.*.self_attn.o_proj: rowwise\n  layers.*.mlp.experts.gate_up_proj: grouped_gemm\n"
                "  layers.*.mlp.experts.down_proj: grouped_gemm\n  layers.*.mlp.experts: moe_tp_experts\n")
    p = compile_ok(tpc, tools, mixtral, os.path.join(tmp, "mixtral8.json"), "--tp", "8", "--plan", ep,
                   "--kv-replication", entries=65)
    if p:
        w2 = by_name(p).get("model.layers.0.block_sparse_moe.experts.5.w2.weight")
        expect(w2 and w2["owners"] == [5] and w2["placement"] == "replicate", f"mixtral EP w2 entry: {w2}")
    p = compile_ok(tpc, tools, os.path.join(ck, "qwen3_moe"), os.path.join(tmp, "qwen3.json"), "--tp", "2", entries=69)
    if p:
        expect("model.layers.0.mlp.experts.3.down_proj.weight" in by_name(p), "qwen3_moe per-expert names")

    # Gemma-3 VLM: the legacy language_model.model. prefix; the vision tower is replicated and named.
    vlm = os.path.join(ck, "gemma3_vlm")
    code, text = tpc.run("check", "--model", vlm, "--tp", "2")
    expect(code == 0 and "checkpoint-extra-tensors" in text and "vision tower" in text, f"gemma3 check: {code}\n{text}")
    p = compile_ok(tpc, tools, vlm, os.path.join(tmp, "gemma3.json"), "--tp", "2", entries=51)
    if p:
        names = by_name(p)
        expect("language_model.model.layers.0.self_attn.q_proj.weight" in names, "gemma3 stored prefix")
        extras = [e for e in p["parameters"] if e["kind"] == "extra"]
        expect(extras and all(e["placement"] == "replicate" for e in extras), "gemma3 extras replicated")

    # DeepSeek-V3-shaped FP8: tp 2 cuts a 128-row block of the 384-wide dense MLP; tp 3 does not.
    fp8 = os.path.join(ck, "deepseek_fp8")
    code, text = tpc.run("check", "--model", fp8, "--tp", "2")
    expect(code == 1 and "fp8-block-split" in text and "mlp.gate_proj.weight" in text and "at row 192" in text
           and "self_attn.o_proj.weight" in text and "at column 64" in text
           and "tp sizes that work: 1, 3" in text, f"fp8 tp 2: {code}\n{text}")
    plan = os.path.join(tmp, "dense_mlp.yaml")
    with open(plan, "w") as f:
        f.write("dialect: hf-v5\nbase_model_tp_plan:\n  layers.*.mlp.gate_proj: colwise\n"
                "  layers.*.mlp.up_proj: colwise\n  layers.*.mlp.down_proj: rowwise\n")
    p = compile_ok(tpc, tools, fp8, os.path.join(tmp, "fp8.json"), "--tp", "3", "--plan", plan, entries=69)
    if p:
        s = by_name(p)["model.layers.0.mlp.gate_proj.weight_scale_inv"]
        expect(s["kind"] == "scale" and s["slices"] == [[{"start": 0, "length": 1}], [{"start": 1, "length": 1}],
                                                        [{"start": 2, "length": 1}]], f"fp8 scale slices: {s}")

    # The real 405B shapes, from headers over sparse files: milliseconds, not 800 GB of reads.
    compile_ok(tpc, tools, os.path.join(ck, "llama405b_sparse"), os.path.join(tmp, "405b.json"), "--tp", "8",
               entries=1137)

    # A checkpoint that lacks a tensor the model needs.
    missing = os.path.join(tmp, "missing")
    shutil.copytree(llama, missing)
    drop_tensor(os.path.join(missing, "model.safetensors"), "model.layers.1.mlp.up_proj.weight")
    code, text = tpc.run("check", "--model", missing, "--tp", "2")
    expect(code == 1 and "checkpoint-missing-tensor" in text and "model.layers.*.mlp.up_proj.weight" in text
           and "(in layer 1)" in text and "[128, 64]" in text,
           f"missing tensor: {code}\n{text}")
    # A header that no longer covers all the data after it: the header is wrong first.
    trailing = os.path.join(tmp, "trailing")
    shutil.copytree(llama, trailing)
    rewrite_header(os.path.join(trailing, "model.safetensors"),
                   lambda h: {k: v for k, v in h.items() if k != "lm_head.weight"})
    code, text = tpc.run("check", "--model", trailing, "--tp", "2")
    expect(code == 2 and "model.safetensors" in text and "bad-safetensors-header" in text, f"trailing data: {code}\n{text}")

    # Unsupported quantization: an error with the checkpoint, a warning from the config alone, and
    # compile refuses it either way.
    awq = os.path.join(tmp, "awq")
    shutil.copytree(llama, awq)
    with open(os.path.join(awq, "config.json")) as f:
        config = json.load(f)
    config["quantization_config"] = {"quant_method": "awq", "bits": 4}
    with open(os.path.join(awq, "config.json"), "w") as f:
        json.dump(config, f)
    code, text = tpc.run("check", "--model", awq, "--tp", "2")
    expect(code == 1 and "unsupported-quantization" in text and "awq" in text, f"awq check: {code}\n{text}")
    code, text = tpc.run("check", "--model", os.path.join(awq, "config.json"), "--tp", "2")
    expect(code == 0 and "unsupported-quantization" in text, f"awq config check: {code}\n{text}")
    code, text = tpc.run("compile", "--model", os.path.join(awq, "config.json"), "--tp", "2", "-o",
                         os.path.join(tmp, "awq.json"))
    expect(code == 1 and "unsupported-quantization" in text, f"awq compile: {code}\n{text}")


def malformed(tpc, ck, tmp):
    """Each header problem: exit 2, and the message names the file and the tensor."""
    src = os.path.join(ck, "llama_single")
    target = "model.layers.0.self_attn.q_proj.weight"

    def variant(name, edit_file):
        d = os.path.join(tmp, "bad_" + name)
        shutil.copytree(src, d)
        edit_file(os.path.join(d, "model.safetensors"))
        code, text = tpc.run("check", "--model", d, "--tp", "2")
        return code, text

    def truncate(path):
        os.truncate(path, os.path.getsize(path) - 10)
    code, text = variant("truncated", truncate)
    expect(code == 2 and "model.safetensors" in text and "bad-safetensors-header" in text, f"truncated: {code}\n{text}")
    # Header problems come in every output format, on stdout for JSON and SARIF.
    for fmt, codes in (("json", lambda j: [d["code"] for d in j["diagnostics"]]),
                       ("sarif", lambda j: [r["ruleId"] for r in j["runs"][0]["results"]])):
        code, out = tpc.stdout("check", "--model", os.path.join(tmp, "bad_truncated"), "--tp", "2", "--format", fmt)
        expect(code == 2 and "bad-safetensors-header" in codes(json.loads(out)), f"truncated {fmt}: {code}\n{out[:300]}")

    def past_end(path):
        with open(path, "r+b") as f:
            f.write(struct.pack("<Q", 1 << 30))
    code, text = variant("past_end", past_end)
    expect(code == 2 and "model.safetensors" in text and "bad-safetensors-header" in text, f"past end: {code}\n{text}")

    def overlap(path):
        def edit(h):
            begin = h[target]["data_offsets"][0]
            h[target]["data_offsets"] = [begin + 2, h[target]["data_offsets"][1] + 2]
            return h
        rewrite_header(path, edit)
    code, text = variant("overlap", overlap)
    expect(code == 2 and "model.safetensors" in text and "bad-safetensors-header" in text, f"overlap: {code}\n{text}")

    def wrong_size(path):
        def edit(h):
            h[target]["shape"] = [h[target]["shape"][0] + 1, h[target]["shape"][1]]
            return h
        rewrite_header(path, edit)
    code, text = variant("size", wrong_size)
    expect(code == 2 and target in text and "model.safetensors" in text, f"dtype x shape: {code}\n{text}")

    # An index naming a shard that is not there.
    d = os.path.join(tmp, "bad_index")
    shutil.copytree(os.path.join(ck, "llama_sharded"), d)
    os.remove(os.path.join(d, "model-00002-of-00002.safetensors"))
    code, text = tpc.run("check", "--model", d, "--tp", "2")
    expect(code == 2 and "model-00002-of-00002.safetensors" in text and "missing-safetensors-shard" in text,
           f"missing shard: {code}\n{text}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    tools = os.path.join(args.source, "tests", "e2e")
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "checkpoints")
        r = subprocess.run([sys.executable, os.path.join(tools, "make_checkpoints.py"), ck], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            return 1
        cases(Tpc(os.path.abspath(args.tpc), args.source), tools, ck, tmp)
        malformed(Tpc(os.path.abspath(args.tpc), args.source), ck, tmp)
    print(f"{len(FAILURES)} failures" if FAILURES else "all checkpoint cases pass")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
