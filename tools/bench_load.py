#!/usr/bin/env python3
"""Benchmarks `tpc-run load` over Gloo (CPU ranks on loopback) against memory-copy bandwidth.

    python3 tools/bench_load.py [--tpc build/bin/tpc] [--tpc-run build/bin/tpc-run] [--layers 16]
                                [--tp 2] [--repeat 3]

Builds the same synthetic bf16 Llama-shaped checkpoint of >= 2 GB as tools/bench_shard.py (in a temp
dir on the disk of the current directory), compiles it at --tp (default 2: one rank per core of a
2-core machine), reads it once into page cache, then measures in the same run, each --repeat times
(median shown, range beside it):
  memcpy         numpy.copyto of a 512 MiB buffer into another (both already touched), for the bytes
                 the ranks hold together: the bound on moving them from page cache into rank memory
  local          tpc-run load --source local: every rank reads its own slices (pread), no traffic
  root           tpc-run load --source root: rank 0 reads every rank's slices and sends them over Gloo
  local+gather   --source local --verify gather: then every sharded tensor is all-gathered and
                 compared with the checkpoint (the verification's own seconds, separately)
  python         the reference way per rank: numpy memmap of the file, each rank's slices copied out
                 (np.take + concatenate, as tools/bench_shard.py's script), ranks as processes
GB/s is the ranks' bytes together over the slowest rank's seconds (tpc-run's own `seconds`: reading
and receiving, start-up and rendezvous excluded; wall time beside it). Not a test; everything it
writes is deleted.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_shard import median, write_checkpoint  # noqa: E402  (the same checkpoint)

PYTHON_RANK = r'''
import json, struct, sys, time
import numpy as np
ck, program, rank = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
with open(program) as f:
    p = json.load(f)
with open(ck, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
data = np.memmap(ck, dtype=np.uint8, mode="r", offset=8 + n)
held = 0
for e in p["parameters"]:
    info = header[e["source"]]
    b, end = info["data_offsets"]
    t = data[b:end].view(np.uint16).reshape(info["shape"])
    if e["placement"] != "replicate":
        d = e["shard_dim"]
        t = np.concatenate([np.take(t, np.arange(s["start"], s["start"] + s["length"]), axis=d)
                            for s in e["slices"][rank]], axis=d)
    else:
        t = np.array(t)
    held += t.nbytes
print(json.dumps({"bytes": held, "seconds": time.perf_counter() - start}))
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(args, program, ck, *flags):
    """Starts one `tpc-run load` per rank with torchrun's variables; returns (wall, rank 0's summary)."""
    port, procs = free_port(), []
    start = time.perf_counter()
    for rank in range(args.tp):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                   WORLD_SIZE=str(args.tp), LOCAL_RANK=str(rank))
        procs.append(subprocess.Popen([args.tpc_run, "load", "--program", program, "--weights", ck, "--format", "json",
                                       "--timeout", "120", *flags], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    wall = time.perf_counter() - start
    for p, (out, err) in zip(procs, outs):
        if p.returncode != 0:
            sys.exit(f"tpc-run load {' '.join(flags)} failed ({p.returncode}):\n{err}")
    return wall, json.loads(outs[0][0])


def run_python(args, program, path):
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", PYTHON_RANK, path, program, str(r)], stdout=subprocess.PIPE,
                              text=True) for r in range(args.tp)]
    outs = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    return time.perf_counter() - start, sum(o["bytes"] for o in outs), max(o["seconds"] for o in outs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", default="build/bin/tpc")
    ap.add_argument("--tpc-run", default="build/bin/tpc-run")
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--tp", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tpc-bench-load-", dir=os.getcwd())
    try:
        ck = os.path.join(tmp, "ck")
        path, _ = write_checkpoint(ck, args.layers)
        total = os.path.getsize(path)
        program = os.path.join(tmp, "program.json")
        r = subprocess.run([args.tpc, "compile", "--model", ck, "--tp", str(args.tp), "-o", program],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr)
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # into page cache

        rows = {}  # what -> [(seconds, wall, bytes)]
        src, dst = np.ones(512 << 20, dtype=np.uint8), np.zeros(512 << 20, dtype=np.uint8)
        np.copyto(dst, src)
        held = 0
        for _ in range(args.repeat):
            for what, flags in (("local", ["--source", "local"]), ("root", ["--source", "root"]),
                                ("local+gather", ["--source", "local", "--verify", "gather"])):
                wall, s = run_ranks(args, program, ck, *flags)
                held = s["bytes"]
                label = f"tpc-run load --source {what.split('+')[0]}" + (" --verify gather" if "gather" in what else "")
                rows.setdefault(label, []).append((s["seconds"], wall, held))
                if "gather" in what:
                    verify = max(k["verify_seconds"] for k in s["ranks"])
                    rows.setdefault("  its verification alone", []).append((verify, float("nan"), held))
            wall, py_bytes, py_seconds = run_python(args, program, path)
            rows.setdefault("python: numpy memmap slices per rank", []).append((py_seconds, wall, py_bytes))
            start, left = time.perf_counter(), held
            while left > 0:
                n = min(left, src.size)
                np.copyto(dst[:n], src[:n])
                left -= n
            rows.setdefault("memcpy (numpy.copyto, 512 MiB buffers)", []).append(
                (time.perf_counter() - start, float("nan"), held))
        del src, dst

        memcpy = median([s for s, _, _ in rows["memcpy (numpy.copyto, 512 MiB buffers)"]])
        print(f"checkpoint: {total / 1e9:.2f} GB bf16 Llama-shaped ({args.layers} layers), tp {args.tp} over Gloo "
              f"on 127.0.0.1; ranks hold {held / 1e9:.2f} GB together; {os.cpu_count()} CPUs; median of "
              f"{args.repeat} runs")
        print(f"{'what':42} {'seconds':>8} {'(range)':>13} {'wall':>6} {'GB/s':>6} {'x memcpy':>9}")
        for what, xs in rows.items():
            s = median([x for x, _, _ in xs])
            wall = median([w for _, w, _ in xs])
            lo, hi = min(x for x, _, _ in xs), max(x for x, _, _ in xs)
            n = xs[0][2]
            print(f"{what:42} {s:8.2f} {f'({lo:.2f}-{hi:.2f})':>13} {wall:6.2f} {n / s / 1e9:6.2f} "
                  f"{memcpy / s * n / held:9.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
