#!/usr/bin/env python3
"""Benchmarks `tpc-run load --device cuda` against the pinned host-to-device bandwidth of the same GPU.

    python3 tools/bench_load_cuda.py [--tpc build/bin/tpc] [--tpc-run build/bin/tpc-run] [--layers 16]
                                     [--world 1] [--repeat 3]

Builds bench_shard.py's synthetic bf16 Llama-shaped checkpoint (>= 2 GB at 16 layers) in a temp dir
under the current directory, compiles it at tp WORLD, reads it once into the page cache, then measures
in the same run, each --repeat times (median shown):
  pinned H2D  torch: one copy of 1 GiB from a pinned (page-locked) host tensor to GPU 0, synchronized
              (what cudaMemcpyAsync from cudaHostAlloc memory reaches on this machine)
  tpc-run     WORLD `tpc-run load --device cuda --format json` processes under torchrun's environment
              (LOCAL_RANK = RANK): the slowest rank's bytes / seconds (read + stage + copy, synchronized)
and prints a table with GB/s and tpc-run's fraction of pinned H2D (target >= 80 %). Needs a GPU and a
Python with CUDA torch; without either it says so and exits 2. Everything it writes is deleted.
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_shard  # noqa: E402  (the checkpoint generator)


def fail(message):
    print(f"bench_load_cuda: {message}", file=sys.stderr)
    sys.exit(2)


def pinned_h2d_gbps(repeat):
    try:
        import torch
    except ImportError:
        fail("the pinned H2D probe needs torch with CUDA in this Python; none is installed")
    if not torch.cuda.is_available():
        fail("torch sees no CUDA device (torch.cuda.is_available() is False); this benchmark needs a GPU")
    n = 1 << 30
    host = torch.empty(n, dtype=torch.uint8, pin_memory=True)
    dev = torch.empty(n, dtype=torch.uint8, device="cuda:0")
    dev.copy_(host, non_blocking=True)  # warm-up
    torch.cuda.synchronize()
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        dev.copy_(host, non_blocking=True)
        torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - start) / 1e9)
    return sorted(rates)[len(rates) // 2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_gbps(run_exe, program, ck, world):
    port = free_port()
    procs = []
    for r in range(world):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(r), WORLD_SIZE=str(world),
                   LOCAL_RANK=str(r))
        procs.append(subprocess.Popen([run_exe, "load", "--program", program, "--weights", ck, "--device", "cuda",
                                       "--format", "json", "--timeout", "300"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate() for p in procs]
    for r, (p, (_, err)) in enumerate(zip(procs, outs)):
        if p.returncode != 0:
            fail(f"tpc-run load --device cuda, rank {r}: exit {p.returncode}\n{err}")
    summary = json.loads(outs[0][0])
    slowest = min(k["gbps"] for k in summary["ranks"])
    return summary["bytes"], summary["gbps"], slowest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", default="build/bin/tpc")
    ap.add_argument("--tpc-run", default="build/bin/tpc-run")
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--world", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("nvidia-smi") or subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode != 0:
        fail("no GPU: nvidia-smi -L fails or is missing; run this on a machine with one")
    run_exe = os.path.abspath(args.tpc_run)
    if not os.path.exists(os.path.join(os.path.dirname(run_exe), "libtpc_nccl.so")):
        fail(f"{run_exe} was built without CUDA (no libtpc_nccl.so beside it); configure with TPC_WITH_CUDA=ON")
    h2d = pinned_h2d_gbps(args.repeat)
    with tempfile.TemporaryDirectory(prefix="tpc-bench-cuda-", dir=".") as tmp:
        ck = os.path.join(tmp, "ck")
        path, data_bytes = bench_shard.write_checkpoint(ck, args.layers)
        program = os.path.join(tmp, "program.json")
        r = subprocess.run([args.tpc, "compile", "--model", ck, "--tp", str(args.world), "-o", program],
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"tpc compile: {r.stderr}")
        with open(path, "rb") as f:  # into the page cache
            while f.read(64 << 20):
                pass
        runs = [load_gbps(run_exe, program, ck, args.world) for _ in range(args.repeat)]
    total, gbps, per_rank = sorted(runs, key=lambda x: x[1])[len(runs) // 2]
    print(f"checkpoint: {data_bytes / 1e9:.2f} GB of bf16 ({args.layers} layers), {args.world} process(es)")
    print(f"{'measure':<34}{'GB/s':>8}{'of H2D':>9}")
    print(f"{'pinned H2D (1 GiB, GPU 0)':<34}{h2d:>8.2f}{'100 %':>9}")
    print(f"{'tpc-run load --device cuda, rank':<34}{per_rank:>8.2f}{per_rank / h2d * 100:>7.0f} %")
    print(f"{'tpc-run load, all ranks':<34}{gbps:>8.2f}")
    print(f"bytes loaded: {total}; target: a rank at >= 80 % of pinned H2D")
    return 0


if __name__ == "__main__":
    sys.exit(main())
