#!/usr/bin/env python3
"""Benchmarks `tpc-run shard` against memory-copy bandwidth and the reference Python way.

    python3 tools/bench_shard.py [--tpc build/bin/tpc] [--tpc-run build/bin/tpc-run] [--layers 16] [--jobs N]
                                 [--repeat 3] [--compare OTHER_TPC_RUN]

Builds a synthetic bf16 Llama-shaped checkpoint of >= 2 GB in a temp dir on the disk of the current
directory (header written here by hand as the reference writer lays it out, data from one 64 MiB
os.urandom block repeated), compiles it at tp 8 with tpc, then, from page cache (the file is read
once first), measures in the same run, each `--repeat` times (median shown, range beside it), always
for the checkpoint's byte count. Each writer starts from the same state: a `sync`, then a file of
that size written and deleted just before, so its page-cache pages come from memory the guest just
freed (on a VM that hands freed memory back to its host, fresh pages cost a host fault each and
swing results by 10x):
  memcpy      numpy.copyto of a 512 MiB buffer into another (both already touched)
  page cache  dd if=/dev/zero of=FILE bs=64M conv=notrunc, no fsync: writing the same bytes into
              new page-cache pages, the bound on any tool that writes files
  tpc-run     tpc-run shard --jobs N --format json: its copy phase (copy_seconds: every rank file
              written and hashed), wall minus its commit, the commit (commit_seconds: fsync of
              every file, renames), and peak RSS (/usr/bin/time -v)
  --compare   another tpc-run build (an older one), run the same way beside tpc-run in each repeat
              (first in every other one), so that both see the same load; its rows say "compared"
  python      the reference way: per rank, a slice of every tensor, then safetensors.numpy.save_file
              (no fsync). torch is not installed here, so the bf16 tensors are sliced as raw uint16
              numpy views of a memmap of the file, not through safe_open(framework="pt")
and prints a table with GB/s and the fraction of memcpy. Not a test; everything it writes is deleted.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import make_checkpoints  # noqa: E402  (the Llama config and tensor list of the tests)

PYTHON_WAY = r'''
import json, struct, sys
import numpy as np
from safetensors.numpy import save_file
ck, program, out = sys.argv[1:4]
with open(program) as f:
    p = json.load(f)
with open(ck, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
data = np.memmap(ck, dtype=np.uint8, mode="r", offset=8 + n)
def tensor(name):
    info = header[name]
    b, e = info["data_offsets"]
    return data[b:e].view(np.uint16).reshape(info["shape"])
for r in range(p["tp"]):
    local = {}
    for e in p["parameters"]:
        t = tensor(e["source"])
        if e["placement"] != "replicate":
            d = e["shard_dim"]
            t = np.concatenate([np.take(t, np.arange(s["start"], s["start"] + s["length"]), axis=d)
                                for s in e["slices"][r]], axis=d)
        local[e["name"]] = np.ascontiguousarray(t)
    save_file(local, f"{out}/rank{r}.safetensors", metadata={"format": "pt"})
'''


def write_checkpoint(d, layers):
    config = dict(make_checkpoints.LLAMA, hidden_size=2048, num_attention_heads=16, num_key_value_heads=8,
                  head_dim=128, intermediate_size=8192, num_hidden_layers=layers, vocab_size=32000)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    header, at = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape in make_checkpoints.llama_tensors(config):
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + size]}
        at += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    block = os.urandom(64 << 20)
    path = os.path.join(d, "model.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        left = at
        while left:
            f.write(block[:min(left, len(block))])
            left -= min(left, len(block))
    return path, at


def timed(cmd, **kw):
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, r


def median(xs):
    return sorted(xs)[len(xs) // 2]


def peak_rss_mib(stderr):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return int(m.group(1)) / 1024 if m else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", default="build/bin/tpc")
    ap.add_argument("--tpc-run", default="build/bin/tpc-run")
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", help="another tpc-run binary, measured the same way in each repeat")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tpc-bench-", dir=os.getcwd())
    try:
        ck = os.path.join(tmp, "ck")
        path, data_bytes = write_checkpoint(ck, args.layers)
        total = os.path.getsize(path)
        program = os.path.join(tmp, "program.json")
        r = subprocess.run([args.tpc, "compile", "--model", ck, "--tp", "8", "-o", program], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr)
        with open(program) as f:
            largest = max(int(np.prod(e["global_shape"])) * 2 for e in json.load(f)["parameters"])
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # into page cache

        runs = {}  # what -> [(seconds, peak RSS MiB)]

        def add(what, seconds, rss=float("nan")):
            runs.setdefault(what, []).append((seconds, rss))

        src, dst = np.ones(512 << 20, dtype=np.uint8), np.zeros(512 << 20, dtype=np.uint8)
        np.copyto(dst, src)
        sink = os.path.join(tmp, "zeros")
        out = os.path.join(tmp, "out")
        jobs = f"--jobs {args.jobs}"
        blocks = total // (64 << 20)  # whole 64 MiB blocks, the rest in one more dd
        zeros = ["sh", "-c", f"dd if=/dev/zero of={sink} bs=64M count={blocks} conv=notrunc status=none && "
                 f"dd if=/dev/zero of={sink} bs={total - blocks * (64 << 20)} count=1 seek={blocks * (64 << 20)} "
                 f"oflag=seek_bytes conv=notrunc status=none"]

        def prime():
            subprocess.run(["sync"], check=True)
            subprocess.run(zeros, check=True)
            os.remove(sink)
        written = py_bytes = 0
        for i in range(args.repeat):
            start, left = time.perf_counter(), total
            while left > 0:
                n = min(left, src.size)
                np.copyto(dst[:n], src[:n])
                left -= n
            add("memcpy (numpy.copyto, 512 MiB buffers)", time.perf_counter() - start)

            prime()
            dd, _ = timed(zeros)
            add("page cache: dd if=/dev/zero, no fsync", dd)
            os.remove(sink)

            builds = [("tpc-run", args.tpc_run)] + ([("compared", args.compare)] if args.compare else [])
            for label, exe in builds[::-1] if i % 2 else builds:  # each goes first in every other repeat
                prime()
                wall, r = timed(["/usr/bin/time", "-v", exe, "shard", "--program", program, "--weights", ck,
                                 "--out", out, "--jobs", str(args.jobs), "--format", "json"])
                if r.returncode != 0:
                    sys.exit(r.stderr)
                summary = json.loads(r.stdout)
                written = summary["bytes_written"]
                # A tpc-run from before copy_seconds: its last rank's copy end, and no commit time.
                copy = summary.get("copy_seconds", max(k["seconds"] for k in summary["ranks"]))
                commit = summary.get("commit_seconds", float("nan"))
                add(f"{label} shard {jobs}: copy + hash", copy)
                add(f"{label} shard {jobs}: wall without commit", wall - commit, peak_rss_mib(r.stderr))
                add(f"{label} shard {jobs}: commit (fsync, rename)", commit)
                add(f"{label} shard {jobs}: wall", wall, peak_rss_mib(r.stderr))
                shutil.rmtree(out)

            prime()
            os.makedirs(out)
            py, r = timed(["/usr/bin/time", "-v", sys.executable, "-c", PYTHON_WAY, path, program, out])
            if r.returncode != 0:
                sys.exit(r.stderr)
            add("python: numpy slices + safetensors save_file", py, peak_rss_mib(r.stderr))
            py_bytes = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
            shutil.rmtree(out)
        del src, dst

        memcpy = median([s for s, _ in runs["memcpy (numpy.copyto, 512 MiB buffers)"]])
        print(f"checkpoint: {total / 1e9:.2f} GB bf16 Llama-shaped ({args.layers} layers), tp 8; rank files: "
              f"{written / 1e9:.2f} GB (tpc-run), {py_bytes / 1e9:.2f} GB (python); largest tensor "
              f"{largest / 2**20:.0f} MiB; {os.cpu_count()} CPUs; median of {args.repeat} runs")
        print(f"{'what':46} {'seconds':>8} {'(range)':>13} {'GB/s':>6} {'x memcpy':>9} {'peak RSS MiB':>13}")
        for what, xs in runs.items():
            s = median([x for x, _ in xs])
            rss = max(r for _, r in xs) if not all(r != r for _, r in xs) else float("nan")
            lo, hi = min(x for x, _ in xs), max(x for x, _ in xs)
            print(f"{what:46} {s:8.2f} {f'({lo:.2f}-{hi:.2f})':>13} {total / s / 1e9:6.2f} {memcpy / s:9.2f} {rss:13.0f}")
        walls = [x for x, _ in runs[f"tpc-run shard {jobs}: wall"]]
        pys = [x for x, _ in runs["python: numpy slices + safetensors save_file"]]
        print(f"python / tpc-run wall: {median(pys) / median(walls):.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
