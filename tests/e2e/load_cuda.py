#!/usr/bin/env python3
"""tpc-run load --device cuda under torchrun's environment (ctest label gpu):

    python3 tests/e2e/load_cuda.py --world 1|2 --tpc build/bin/tpc --tpc-run build/bin/tpc-run --source .

Writes the llama checkpoint with make_checkpoints.py, compiles it at tp WORLD, and starts WORLD
`tpc-run load --device cuda` processes (LOCAL_RANK = RANK, one GPU each) for --source local and root,
each with --verify gather and checksum; rank 0's JSON must give every rank the byte count of its slices
(load_cli.expected_bytes, from the program and the headers). Exit 77 (ctest's SKIP_RETURN_CODE) with the
reason when fewer than WORLD GPUs are visible; 1 on any failure.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load_cli  # noqa: E402

SKIP = 77


def visible_gpus():
    try:
        r = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in r.stdout.splitlines() if line.startswith("GPU ")) if r.returncode == 0 else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=int, required=True)
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--tpc-run", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    args.tpc, args.tpc_run = os.path.abspath(args.tpc), os.path.abspath(args.tpc_run)
    gpus = visible_gpus()
    if gpus < args.world:
        print(f"SKIP: {args.world} processes need {args.world} GPUs; nvidia-smi -L lists {gpus}")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="tpc-load-cuda-") as tmp:
        env = load_cli.Env(args, tmp)
        ck = os.path.join(tmp, "ck")
        r = subprocess.run([sys.executable, os.path.join(args.source, "tests", "e2e", "make_checkpoints.py"), ck,
                            "llama_single"], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        model = os.path.join(ck, "llama_single")
        program = env.compile(model, f"llama_tp{args.world}", "--tp", str(args.world))
        want = load_cli.expected_bytes(program, model)
        for source in ["local", "root"]:
            for verify in ["gather", "checksum"]:
                what = f"--device cuda --source {source} --verify {verify}, {args.world} processes"
                results = env.launch(args.world, program, model, "--device", "cuda", "--source", source, "--verify",
                                     verify, "--timeout", "120", "--format", "json")
                for rank, (rc, out, err) in enumerate(results):
                    load_cli.expect(rc == 0, f"{what}: rank {rank} exit {rc}\n{err}")
                if results[0][0] != 0:
                    continue
                summary = json.loads(results[0][1])
                got = [(k["tensors"], k["bytes"]) for k in summary["ranks"]]
                load_cli.expect(summary["ok"] and summary["device"] == "cuda" and got == want, f"{what}: summary {got}, want {want}")
                print(f"{what}: {summary['bytes']} bytes, {summary['gbps']:.2f} GB/s")
    if load_cli.FAILURES:
        print(f"{len(load_cli.FAILURES)} failures", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
