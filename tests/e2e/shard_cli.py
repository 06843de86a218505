#!/usr/bin/env python3
"""tpc-run shard on checkpoints written by an independent writer, every byte checked.

    python3 tests/e2e/shard_cli.py --tpc build/bin/tpc --tpc-run build/bin/tpc-run --source .

Writes checkpoints with make_checkpoints.py (the reference safetensors package) into a temp dir,
compiles each with tpc, shards it with tpc-run, and compares every byte of every rank file with the
slice of the original that the program's entry names, cut here with numpy from the original file's
bytes. The rank files' names, shapes and dtypes are read with the reference package's safe_open; the
manifest is validated against schemas/manifest.schema.json. Then reruns (skipping), a corrupted rank
file, and bad inputs, each exit 2 naming the file with nothing left in OUT. Exit 1 on any failure.
"""
import argparse
import hashlib
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile

import jsonschema
import numpy as np
from safetensors import safe_open

WIDTH = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
         "F8_E4M3": 1, "F8_E5M2": 1}
FAILURES = []


def expect(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:], n


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def expected_local(entry, rank, originals):
    """Rank `rank`'s bytes of `entry`, cut with numpy from the original file's data, or None."""
    if "owners" in entry and rank not in entry["owners"]:
        return None
    header, data, _ = originals[entry["file"]]
    info = header[entry["source"]]
    b, e = info["data_offsets"]
    raw = np.frombuffer(data[b:e], dtype=np.uint8).reshape(list(info["shape"]) + [WIDTH[info["dtype"]]])
    if entry["placement"] == "replicate":
        return raw.tobytes()
    d = entry["shard_dim"]
    parts = [np.take(raw, np.arange(s["start"], s["start"] + s["length"]), axis=d) for s in entry["slices"][rank]]
    return np.concatenate(parts, axis=d).tobytes()


CUT_AFTER_POPULATE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
static int done;
int madvise(void* addr, size_t length, int advice) {
  int (*real)(void*, size_t, int) = (int (*)(void*, size_t, int))dlsym(RTLD_NEXT, "madvise");
  int rc = real(addr, length, advice);
  const char* path = getenv("TPC_TEST_CUT");
  if (advice == MADV_POPULATE_READ && path && !__atomic_exchange_n(&done, 1, __ATOMIC_SEQ_CST)) truncate(path, 0);
  return rc;
}
"""


class Env:
    def __init__(self, args, tmp):
        self.tpc, self.run_exe, self.source, self.tmp = args.tpc, args.tpc_run, args.source, tmp
        with open(os.path.join(args.source, "schemas", "manifest.schema.json")) as f:
            self.manifest_schema = jsonschema.Draft202012Validator(json.load(f))

    def compile(self, ck, name, *args):
        out = os.path.join(self.tmp, name + ".json")
        r = subprocess.run([self.tpc, "compile", "--model", ck, "-o", out, *args], capture_output=True, text=True,
                           timeout=120)
        expect(r.returncode == 0, f"compile {name}: {r.returncode}\n{r.stderr}")
        return out

    def shard(self, program, ck, out, *args, limit=None, env=None):
        def preexec():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        return subprocess.run([self.run_exe, "shard", "--program", program, "--weights", ck, "--out", out, *args],
                              capture_output=True, text=True, timeout=120, preexec_fn=preexec,
                              env=None if env is None else dict(os.environ, **env))


def check_output(env, name, program_path, ck, out, ranks):
    """Every rank file of `out` against the original bytes, and the manifest."""
    with open(program_path) as f:
        program = json.load(f)
    originals = {}
    for e in program["parameters"]:
        if e.get("source") and e["file"] not in originals:
            originals[e["file"]] = read_safetensors(os.path.join(ck, e["file"]))
    entries = [e for e in program["parameters"] if e.get("source")]
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    errors = sorted(env.manifest_schema.iter_errors(manifest), key=str)
    expect(not errors, f"{name}: manifest against its schema: {[e.message for e in errors[:3]]}")
    expect(manifest["program_sha256"] == sha256(program_path) and manifest["tp"] == program["tp"],
           f"{name}: manifest program hash / tp")
    expect([t["name"] for t in manifest["tensors"]] == [e["name"] for e in entries], f"{name}: manifest tensors")
    by_rank = {r["rank"]: r for r in manifest["ranks"]}
    checked = 0
    for rank in ranks:
        path = os.path.join(out, f"rank{rank}.safetensors")
        m = by_rank.get(rank)
        expect(m and m["sha256"] == sha256(path) and m["bytes"] == os.path.getsize(path), f"{name}: manifest rank {rank}")
        header, data, n = read_safetensors(path)
        expect(n % 8 == 0, f"{name} rank {rank}: header of {n} bytes is not padded to 8")
        expect(header.get("__metadata__", {}).get("tpc_program_sha256") == sha256(program_path),
               f"{name} rank {rank}: metadata")
        held = [e for e in entries if expected_local(e, rank, originals) is not None]
        with safe_open(path, framework="numpy") as f:
            keys = list(f.keys())
            expect(sorted(keys) == sorted(e["name"] for e in held), f"{name} rank {rank}: tensor names")
            for e in held:
                if e["name"] not in keys:
                    continue
                sl = f.get_slice(e["name"])
                want_shape = list(e["global_shape"])
                if e["placement"] != "replicate":
                    want_shape[e["shard_dim"]] = sum(s["length"] for s in e["slices"][rank])
                expect(list(sl.get_shape()) == want_shape and sl.get_dtype() == e["dtype"],
                       f"{name} rank {rank} {e['name']}: {sl.get_shape()} {sl.get_dtype()}, want {want_shape} {e['dtype']}")
        for e in held:
            b, end = header[e["name"]]["data_offsets"]
            want = expected_local(e, rank, originals)
            expect(data[b:end] == want, f"{name} rank {rank} {e['name']}: bytes differ")
            checked += end - b
        expect(len(data) == sum(header[e["name"]]["data_offsets"][1] - header[e["name"]]["data_offsets"][0]
                                for e in held), f"{name} rank {rank}: data section has extra bytes")
        mt = {t["name"]: t for t in manifest["tensors"]}
        for e in entries:
            shape = mt[e["name"]]["local_shapes"][rank]
            if "owners" in e and rank not in e["owners"]:
                expect(shape is None, f"{name} rank {rank} {e['name']}: manifest local shape should be null")
            else:
                expect(shape == header[e["name"]]["shape"], f"{name} rank {rank} {e['name']}: manifest local shape")
    return checked


def good_cases(env, ck):
    plans = os.path.join(env.tmp, "plans")
    os.makedirs(plans)
    dense = os.path.join(plans, "dense_mlp.yaml")
    with open(dense, "w") as f:
        f.write("dialect: hf-v5\nbase_model_tp_plan:\n  layers.*.mlp.gate_proj: colwise\n"
                "  layers.*.mlp.up_proj: colwise\n  layers.*.mlp.down_proj: rowwise\n")
    ep = os.path.join(plans, "ep.yaml")
    with open(ep, "w") as f:
        f.write("dialect: hf-v5\nbase_model_tp_plan:\n  layers.*.self_attn.q_proj: colwise\n"
                "  layers.*.self_attn.k_proj: colwise\n  layers.*.self_attn.v_proj: colwise\n"
                "  layers.*.self_attn.o_proj: rowwise\n  layers.*.mlp.experts.gate_up_proj: grouped_gemm\n"
                "  layers.*.mlp.experts.down_proj: grouped_gemm\n  layers.*.mlp.experts: moe_tp_experts\n")
    phi3_packed = os.path.join(plans, "phi3_packed.yaml")
    with open(phi3_packed, "w") as f:  # the Hugging Face phi3 plan with the fused MLP packed
        f.write("dialect: hf-v5\nbase_model_tp_plan:\n  layers.*.self_attn.qkv_proj: colwise_gather_output\n"
                "  layers.*.self_attn.o_proj: rowwise_split_input\n  layers.*.mlp.gate_up_proj: packed_colwise\n"
                "  layers.*.mlp.down_proj: rowwise\ncausal_lm_tp_plan:\n  lm_head: colwise_gather_output\n")
    cases = [
        ("llama_tp2", "llama_single", 2, []),
        ("llama_odd_vocab_tp4", "llama_odd_vocab", 4, []),
        ("phi3_tp2", "phi3", 2, []),
        ("phi3_packed_tp4", "phi3", 4, ["--plan", phi3_packed]),
        ("llama_tp4", "llama_single", 4, []),
        ("llama_tp8_kvrep", "llama_single", 8, ["--kv-replication"]),
        ("llama_sharded_tp2", "llama_sharded", 2, []),
        ("mixtral_tp2", "mixtral", 2, ["--plan", "hf/mixtral"]),
        ("mixtral_ep8", "mixtral", 8, ["--plan", ep, "--kv-replication"]),
        ("gemma3_vlm_tp2", "gemma3_vlm", 2, []),
        ("deepseek_fp8_tp3", "deepseek_fp8", 3, ["--plan", dense]),
    ]
    programs = {}
    for name, model, tp, extra in cases:
        model_dir = os.path.join(ck, model)
        program = env.compile(model_dir, name, "--tp", str(tp), *extra)
        out = os.path.join(env.tmp, "out_" + name)
        r = env.shard(program, model_dir, out, "--jobs", "2")
        expect(r.returncode == 0 and r.stdout.startswith(f"wrote {tp} rank files, skipped 0"),
               f"{name}: tpc-run shard: {r.returncode}\n{r.stdout}{r.stderr}")
        if r.returncode == 0:
            checked = check_output(env, name, program, model_dir, out, range(tp))
            expect(checked > 0, f"{name}: no bytes checked")
            print(f"{name}: {checked} bytes checked in {tp} rank files")
        programs[name] = (program, model_dir, out)
    fixed_layouts(env, programs)
    return programs


def rows_of(out, rank, name):
    """Tensor `name` of rank file `rank` as rows of raw bytes (a uint8 array, one row per dim-0 index)."""
    header, data, _ = read_safetensors(os.path.join(out, f"rank{rank}.safetensors"))
    b, e = header[name]["data_offsets"]
    return np.frombuffer(data[b:e], dtype=np.uint8).reshape(header[name]["shape"][0], -1)


def fixed_layouts(env, programs):
    """Layouts written down here from the configs, not taken from the program: the last rank of an
    uneven vocab and the two halves of a packed gate_up_proj."""
    _, ck, out = programs["llama_odd_vocab_tp4"]
    header, data, _ = read_safetensors(os.path.join(ck, "model.safetensors"))
    b, e = header["model.embed_tokens.weight"]["data_offsets"]
    embed = np.frombuffer(data[b:e], dtype=np.uint8).reshape(250, -1)  # vocab 250 at tp 4: 63, 63, 63, 61 rows
    for rank, (lo, hi) in enumerate([(0, 63), (63, 126), (126, 189), (189, 250)]):
        for name in ("model.embed_tokens.weight", "lm_head.weight"):
            got = rows_of(out, rank, name)
            if name == "model.embed_tokens.weight":
                expect(got.shape[0] == hi - lo and np.array_equal(got, embed[lo:hi]),
                       f"odd vocab rank {rank} {name}: {got.shape[0]} rows, want rows [{lo}, {hi})")
            else:
                expect(got.shape[0] == hi - lo, f"odd vocab rank {rank} {name}: {got.shape[0]} rows, want {hi - lo}")
    _, ck, out = programs["phi3_packed_tp4"]
    header, data, _ = read_safetensors(os.path.join(ck, "model.safetensors"))
    name = "model.layers.1.mlp.gate_up_proj.weight"
    b, e = header[name]["data_offsets"]
    fused = np.frombuffer(data[b:e], dtype=np.uint8).reshape(192, -1)  # [gate 96 | up 96] rows
    for rank in range(4):  # 24 rows of each half per rank
        want = np.concatenate([fused[24 * rank:24 * rank + 24], fused[96 + 24 * rank:96 + 24 * rank + 24]])
        expect(np.array_equal(rows_of(out, rank, name), want), f"phi3 packed rank {rank}: gate_up_proj rows")


def rerun_cases(env, programs):
    program, ck, out = programs["llama_tp4"]
    before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
    r = env.shard(program, ck, out, "--format", "json")
    summary = json.loads(r.stdout) if r.returncode == 0 else {}
    expect(r.returncode == 0 and [k["skipped"] for k in summary["ranks"]] == [True] * 4
           and summary["bytes_written"] == 0, f"rerun: {r.returncode}\n{r.stdout}{r.stderr}")
    for n in before:
        if n.endswith(".safetensors"):
            expect(os.stat(os.path.join(out, n)).st_mtime_ns == before[n], f"rerun rewrote {n}")
    # A corrupted rank file is written again; the others are kept.
    victim = os.path.join(out, "rank1.safetensors")
    with open(victim, "r+b") as f:
        f.seek(os.path.getsize(victim) - 3)
        f.write(b"\xff\xfe\xfd")
    r = env.shard(program, ck, out, "--format", "json")
    summary = json.loads(r.stdout) if r.returncode == 0 else {}
    expect(r.returncode == 0 and [k["skipped"] for k in summary["ranks"]] == [True, False, True, True],
           f"corrupted rerun: {r.returncode}\n{r.stdout}{r.stderr}")
    check_output(env, "llama_tp4 rewritten", program, ck, out, range(4))
    # --ranks writes a subset; the manifest keeps the ranks of an earlier run of the same program.
    r = env.shard(program, ck, out, "--ranks", "2-3", "--format", "json")
    summary = json.loads(r.stdout) if r.returncode == 0 else {}
    expect(r.returncode == 0 and [k["rank"] for k in summary["ranks"]] == [2, 3], f"--ranks 2-3: {r.stdout}{r.stderr}")
    check_output(env, "llama_tp4 after --ranks", program, ck, out, range(4))


def bad_cases(env, ck, programs):
    program, model_dir, _ = programs["llama_tp2"]

    def fails(what, r, out, names):
        text = r.stdout + r.stderr
        expect(r.returncode == 2 and names in text, f"{what}: want exit 2 naming {names}: {r.returncode}\n{text}")
        left = os.listdir(out) if os.path.isdir(out) else []
        expect(not [n for n in left if n.endswith(".safetensors") or n.startswith(".tpc-")],
               f"{what}: left {left} in OUT")

    # A program of format version 1.
    with open(program) as f:
        p = json.load(f)
    old = os.path.join(env.tmp, "v1.json")
    with open(old, "w") as f:
        json.dump(dict(p, version=1), f)
    out = os.path.join(env.tmp, "bad_v1")
    fails("version 1", env.shard(old, model_dir, out), out, "v1.json")

    # A checkpoint whose header differs from the one the program was compiled from (a changed shape).
    changed = os.path.join(env.tmp, "changed")
    shutil.copytree(model_dir, changed)
    path = os.path.join(changed, "model.safetensors")
    header, data, _ = read_safetensors(path)
    header["model.layers.0.mlp.down_proj.weight"]["shape"] = header["model.layers.0.mlp.down_proj.weight"]["shape"][::-1]
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + data)
    out = os.path.join(env.tmp, "bad_changed")
    r = env.shard(program, changed, out)
    fails("changed header", r, out, path)
    expect("the checkpoint's headers differ from those the program was compiled from" in r.stderr, r.stderr)

    # A truncated source file.
    truncated = os.path.join(env.tmp, "truncated")
    shutil.copytree(model_dir, truncated)
    path = os.path.join(truncated, "model.safetensors")
    os.truncate(path, os.path.getsize(path) - 100)
    out = os.path.join(env.tmp, "bad_truncated")
    fails("truncated source", env.shard(program, truncated, out), out, path)

    # The source cut to 0 bytes right after tpc-run mapped and populated its first window: an
    # LD_PRELOAD madvise() that truncates it once MADV_POPULATE_READ has returned.
    if shutil.which("cc") is None:
        print("no C compiler: the source-cut-during-the-run case is skipped")
    else:
        cut = os.path.join(env.tmp, "cut")
        shutil.copytree(model_dir, cut)
        path = os.path.join(cut, "model.safetensors")
        preload = os.path.join(env.tmp, "cut_after_populate.so")
        c_file = preload[:-3] + ".c"
        with open(c_file, "w") as f:
            f.write(CUT_AFTER_POPULATE)
        r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", preload, c_file, "-ldl"], capture_output=True, text=True)
        expect(r.returncode == 0, f"cc: {r.stderr}")
        out = os.path.join(env.tmp, "bad_cut")
        # An ASan build (the dev preset) wants its runtime first in the library list; ours comes
        # first here, which is harmless for this madvise() wrapper.
        asan = os.environ.get("ASAN_OPTIONS", "")
        asan = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        r = env.shard(program, cut, out, env={"LD_PRELOAD": preload, "TPC_TEST_CUT": path, "ASAN_OPTIONS": asan})
        fails("source cut short during the run", r, out, path)
        expect(os.path.getsize(path) == 0, "the preload did not cut the source")
        expect("while being read (was it truncated or rewritten during the run?)" in r.stderr, r.stderr)

    # OUT under a regular file.
    blocker = os.path.join(env.tmp, "a_file")
    with open(blocker, "w") as f:
        f.write("x")
    out = os.path.join(blocker, "sub")
    fails("OUT not writable", env.shard(program, model_dir, out), out, out)

    # The disk fills (RLIMIT_FSIZE): over an earlier run's files, which stay as they were.
    out = os.path.join(env.tmp, "bad_full")
    r = env.shard(programs["llama_tp4"][0], model_dir, out)
    expect(r.returncode == 0, f"disk full setup: {r.stderr}")
    kept = {n: sha256(os.path.join(out, n)) for n in os.listdir(out)}
    r = env.shard(program, model_dir, out, limit=20000)
    expect(r.returncode == 2 and "File too large" in r.stderr and "rank" in r.stderr,
           f"disk full: {r.returncode}\n{r.stderr}")
    expect({n: sha256(os.path.join(out, n)) for n in os.listdir(out)} == kept, "disk full changed OUT")
    fresh = os.path.join(env.tmp, "bad_full_fresh")
    fails("disk full", env.shard(program, model_dir, fresh, limit=20000), fresh, "rank")

    # --ranks outside the program's tp.
    out = os.path.join(env.tmp, "bad_ranks")
    r = env.shard(program, model_dir, out, "--ranks", "1-2")
    fails("--ranks outside tp", r, out, program)
    expect("tp 2" in r.stderr, r.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--tpc-run", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    args.tpc, args.tpc_run = os.path.abspath(args.tpc), os.path.abspath(args.tpc_run)
    with tempfile.TemporaryDirectory(prefix="tpc-shard-") as tmp:
        ck = os.path.join(tmp, "ck")
        r = subprocess.run([sys.executable, os.path.join(args.source, "tests", "e2e", "make_checkpoints.py"), ck,
                            "llama_single", "llama_sharded", "llama_odd_vocab", "phi3", "mixtral", "gemma3_vlm", "deepseek_fp8"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        env = Env(args, tmp)
        programs = good_cases(env, ck)
        rerun_cases(env, programs)
        bad_cases(env, ck, programs)
    if FAILURES:
        print(f"{len(FAILURES)} failures", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
