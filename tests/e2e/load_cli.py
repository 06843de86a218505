#!/usr/bin/env python3
"""tpc-run load with 2 and 4 processes on loopback, started here with torchrun's environment.

    python3 tests/e2e/load_cli.py --tpc build/bin/tpc --tpc-run build/bin/tpc-run --source .

Writes checkpoints with make_checkpoints.py (the reference safetensors package), compiles them with
tpc, and starts one `tpc-run load` per rank (MASTER_ADDR=127.0.0.1, a free MASTER_PORT, RANK,
WORLD_SIZE, LOCAL_RANK) for --source local and root with --verify gather and checksum; rank 0's JSON
must give every rank the byte count of its slices, computed here from the program and the headers.
Then: a rank whose copy of the checkpoint differs fails verification (exit 1) naming it; a rank that
never starts or is killed ends rank 0 within --timeout with a message naming it; WORLD_SIZE other than
the program's tp, a missing variable and --device cuda without a GPU exit 2. When tpc-run was built without
LibTorch, checks that it says so (exit 2) and stops. Exit 1 on any failure.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

WIDTH = {"BF16": 2, "F16": 2, "F32": 4, "F8_E4M3": 1}
FAILURES = []


def expect(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def expected_bytes(program_path, ck):
    """Per rank: (tensor count, bytes) of its slices, from the program's slices and the file headers."""
    with open(program_path) as f:
        program = json.load(f)
    tp, headers, out = program["tp"], {}, []
    for rank in range(tp):
        count = total = 0
        for e in program["parameters"]:
            if not e.get("source") or ("owners" in e and rank not in e["owners"]):
                continue
            if e["file"] not in headers:
                headers[e["file"]] = header(os.path.join(ck, e["file"]))
            info = headers[e["file"]][e["source"]]
            shape = list(info["shape"])
            if e["placement"] != "replicate":
                shape[e["shard_dim"]] = sum(s["length"] for s in e["slices"][rank])
            n = WIDTH[info["dtype"]]
            for d in shape:
                n *= d
            count, total = count + 1, total + n
        out.append((count, total))
    return out


class Env:
    def __init__(self, args, tmp):
        self.tpc, self.run_exe, self.tmp = args.tpc, args.tpc_run, tmp

    def compile(self, ck, name, *args):
        out = os.path.join(self.tmp, name + ".json")
        r = subprocess.run([self.tpc, "compile", "--model", ck, "-o", out, *args], capture_output=True, text=True,
                           timeout=120)
        expect(r.returncode == 0, f"compile {name}: {r.returncode}\n{r.stderr}")
        return out

    def start(self, rank, world, port, program, ck, *args, env=None):
        e = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                 LOCAL_RANK=str(rank))
        e.update(env or {})
        return subprocess.Popen([self.run_exe, "load", "--program", program, "--weights", ck, *args], env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def launch(self, world, program, ck, *args, weights=None):
        """Every rank at once; [(returncode, stdout, stderr)] by rank."""
        port = free_port()
        procs = [self.start(r, world, port, program, (weights or {}).get(r, ck), *args) for r in range(world)]
        results = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                err += "\n(killed by the test after 180 s)"
            results.append((p.returncode, out, err))
        return results


def good_cases(env, ck):
    plans = os.path.join(env.tmp, "ep.yaml")
    with open(plans, "w") as f:
        f.write("dialect: hf-v5\nbase_model_tp_plan:\n  layers.*.self_attn.q_proj: colwise\n"
                "  layers.*.self_attn.k_proj: colwise\n  layers.*.self_attn.v_proj: colwise\n"
                "  layers.*.self_attn.o_proj: rowwise\n  layers.*.mlp.experts.gate_up_proj: grouped_gemm\n"
                "  layers.*.mlp.experts.down_proj: grouped_gemm\n  layers.*.mlp.experts: moe_tp_experts\n")
    cases = [  # (name, checkpoint, tp, compile flags, source, verify)
        ("llama_tp2", "llama_single", 2, [], "local", "gather"),
        ("llama_tp2", "llama_single", 2, [], "root", "checksum"),
        ("llama_tp4", "llama_single", 4, [], "root", "gather"),
        ("llama_tp4", "llama_single", 4, [], "local", "checksum"),
        ("llama_sharded_tp2", "llama_sharded", 2, [], "root", "gather"),
        ("llama_sharded_tp4", "llama_sharded", 4, [], "local", "gather"),
        ("mixtral_tp2", "mixtral", 2, ["--plan", "hf/mixtral"], "local", "gather"),
        ("mixtral_tp2", "mixtral", 2, ["--plan", "hf/mixtral"], "root", "checksum"),
        ("mixtral_ep4", "mixtral", 4, ["--plan", plans, "--kv-replication"], "root", "gather"),
    ]
    programs = {}
    for name, model, tp, flags, source, verify in cases:
        model_dir = os.path.join(ck, model)
        if name not in programs:
            programs[name] = (env.compile(model_dir, name, "--tp", str(tp), *flags), model_dir)
        program = programs[name][0]
        what = f"{name} --source {source} --verify {verify}"
        start = time.monotonic()
        results = env.launch(tp, program, model_dir, "--source", source, "--verify", verify, "--timeout", "60",
                             "--format", "json")
        for rank, (rc, out, err) in enumerate(results):
            expect(rc == 0, f"{what}: rank {rank} exit {rc}\n{err}")
            expect(rank == 0 or out == "", f"{what}: rank {rank} printed {out!r}")
        if results[0][0] != 0:
            continue
        summary = json.loads(results[0][1])
        want = expected_bytes(program, model_dir)
        got = [(k["tensors"], k["bytes"]) for k in summary["ranks"]]
        expect(summary["ok"] and summary["world_size"] == tp and summary["source"] == source
               and summary["verify"] == verify and got == want, f"{what}: summary {got}, want {want}")
        print(f"{what}: {tp} ranks, {sum(b for _, b in want)} bytes in {time.monotonic() - start:.1f} s")
    return programs


def bad_cases(env, ck, programs):
    program, model_dir = programs["llama_tp2"]
    # Rank 1 reads a copy with the same header and one flipped byte at the end (in model.norm.weight,
    # which every rank holds whole).
    bad = os.path.join(env.tmp, "bad")
    shutil.copytree(model_dir, bad)
    path = os.path.join(bad, "model.safetensors")
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) - 1)
        last = f.read(1)
        f.seek(os.path.getsize(path) - 1)
        f.write(bytes([last[0] ^ 0xFF]))
    for verify, text in [("gather", "rank 1's 'model.norm.weight' differs from the checkpoint"),
                         ("checksum", "rank 1's bytes have SHA-256")]:
        results = env.launch(2, program, model_dir, "--verify", verify, "--timeout", "60", weights={1: bad})
        for rank, (rc, _, err) in enumerate(results):
            expect(rc == 1 and f"--verify {verify}: " in err and text in err and "[load-verify-failed]" in err,
                   f"bad bytes, --verify {verify}: rank {rank} exit {rc}\n{err}")
    # With tpc-run shard's manifest, checksum compares with the rank files' recorded SHA-256.
    shards = os.path.join(env.tmp, "shards")
    r = subprocess.run([env.run_exe, "shard", "--program", program, "--weights", model_dir, "--out", shards],
                       capture_output=True, text=True, timeout=120)
    expect(r.returncode == 0, f"shard for the manifest: {r.returncode}\n{r.stderr}")
    manifest = os.path.join(shards, "manifest.json")
    results = env.launch(2, program, model_dir, "--verify", "checksum", "--manifest", manifest, "--timeout", "60")
    expect([rc for rc, _, _ in results] == [0, 0] and "--verify checksum: every byte matches" in results[0][1],
           f"checksum against the manifest: {[(rc, err) for rc, _, err in results]}")
    results = env.launch(2, program, model_dir, "--verify", "checksum", "--manifest", manifest, "--timeout", "60",
                         weights={1: bad})
    expect([rc for rc, _, _ in results] == [1, 1] and f"'{manifest}' records" in results[0][2],
           f"bad bytes against the manifest: {[(rc, err) for rc, _, err in results]}")

    # A FIFO as the manifest is refused, not waited on (rank 0 would block in open, the others time out).
    fifo = os.path.join(env.tmp, "fifo.json")
    os.mkfifo(fifo)
    results = env.launch(2, program, model_dir, "--verify", "checksum", "--manifest", fifo, "--timeout", "30")
    expect([rc for rc, _, _ in results] == [2, 2] and
           f"cannot check against '{fifo}': it is not a regular file [load-bad-manifest]" in results[1][2],
           f"FIFO manifest: {[(rc, err) for rc, _, err in results]}")

    # WORLD_SIZE other than tp, a missing or malformed variable, --device cuda: exit 2 at once.
    port = free_port()
    for env_over, text in [({"WORLD_SIZE": "3", "RANK": "0"}, "the world size is 3, but"),
                           ({"MASTER_PORT": ""}, "MASTER_PORT is not set"),
                           ({"RANK": "two"}, "RANK must be an integer from 0 to 1, got 'two'")]:
        p = env.start(0, 2, port, program, model_dir, "--timeout", "5", env=env_over)
        out, err = p.communicate(timeout=60)
        expect(p.returncode == 2 and text in err, f"env {env_over}: exit {p.returncode}\n{err}")
    # --device cuda without a GPU: a CUDA build names the rank and CUDA's reason, before any rendezvous
    # (so rank 0 alone of 2 ends at once); a build without CUDA says so. With a GPU, load_cuda.py tests it.
    cuda_build = os.path.exists(os.path.join(os.path.dirname(env.run_exe), "libtpc_nccl.so"))
    if not (cuda_build and shutil.which("nvidia-smi") and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0):
        p = env.start(0, 2, port, program, model_dir, "--device", "cuda", "--timeout", "60")
        out, err = p.communicate(timeout=60)
        text = ("tpc-run: error: rank 0 failed: no CUDA device is visible (cudaGetDeviceCount: " if cuda_build
                else "built without CUDA/NCCL support")
        expect(p.returncode == 2 and text in err and (not cuda_build or "[load-rank-failed]" in err),
               f"--device cuda without a GPU: {p.returncode}\n{err}")

    # Rank 1 never starts, then rank 1 is killed: rank 0 ends within the timeout, naming rank 1.
    for kill in [False, True]:
        port = free_port()
        start = time.monotonic()
        r0 = env.start(0, 2, port, program, model_dir, "--source", "root", "--timeout", "10")
        # The killed rank pauses 5 s after the rendezvous (a test-only variable), so that it dies
        # while rank 0 waits on it however fast the load would be; if the kill comes before it
        # arrives, rank 0 names it all the same.
        r1 = env.start(1, 2, port, program, model_dir, "--source", "root", "--timeout", "10",
                       env={"TPC_RUN_TEST_PAUSE_AFTER_CONNECT_MS": "5000"}) if kill else None
        if r1:
            time.sleep(2.0)
            r1.send_signal(signal.SIGKILL)
            r1.communicate()
        try:
            out, err = r0.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            r0.kill()
            out, err = r0.communicate()
            err += "(hung: killed by the test)"
        took = time.monotonic() - start
        what = "killed" if kill else "never started"
        expect(r0.returncode == 2 and took < 10 + 15 and "rank 1 " in err and "[load-comm-failed]" in err,
               f"rank 1 {what}: rank 0 exit {r0.returncode} after {took:.1f} s\n{err}")
        print(f"rank 1 {what}: rank 0 ended after {took:.1f} s: {(err.strip().splitlines() or [''])[-1]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--tpc-run", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    args.tpc, args.tpc_run = os.path.abspath(args.tpc), os.path.abspath(args.tpc_run)
    with tempfile.TemporaryDirectory(prefix="tpc-load-") as tmp:
        env = Env(args, tmp)
        r = env.start(0, 1, free_port(), "p.json", tmp)
        _, err = r.communicate(timeout=60)
        if "built without LibTorch" in err:
            expect(r.returncode == 2, f"without LibTorch: exit {r.returncode}")
            print("tpc-run was built without LibTorch: it says so; nothing else to test")
            return 1 if FAILURES else 0
        # LibTorch lives in the Gloo module, opened by load alone: tpc-run itself never links it.
        r = subprocess.run(["ldd", args.tpc_run], capture_output=True, text=True)
        expect(r.returncode != 0 or "libtorch" not in r.stdout, f"tpc-run links LibTorch:\n{r.stdout}")
        ck = os.path.join(tmp, "ck")
        r = subprocess.run([sys.executable, os.path.join(args.source, "tests", "e2e", "make_checkpoints.py"), ck,
                            "llama_single", "llama_sharded", "mixtral"], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        programs = good_cases(env, ck)
        bad_cases(env, ck, programs)
    if FAILURES:
        print(f"{len(FAILURES)} failures", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
