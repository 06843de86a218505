#!/usr/bin/env python3
"""Runs the README's first command past its setup and build: compile, shard, read back.

    python3 tests/e2e/readme_first_command.py --tpc build/bin/tpc --tpc-run build/bin/tpc-run --source .

Takes the first ```sh block of README.md, drops the steps before `tpc compile` (tools/setup.sh,
cmake), runs the rest from the source dir with build/bin/ pointing at the given binaries and
/tmp/p.json, /tmp/shards moved into a temp dir, and checks rank 0's names and shapes, written down
here from the bundled config (hidden 64, 8 heads of 8, 4 KV heads, intermediate 128, vocab 256, tp 2).
Exit 1 on any failure.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

WANT = {  # rank 0 of tp 2 under the default plan (nemo/llama): name -> local shape
    "model.embed_tokens.weight": [128, 64], "lm_head.weight": [128, 64], "model.norm.weight": [64],
    "model.layers.0.self_attn.q_proj.weight": [32, 64], "model.layers.0.self_attn.k_proj.weight": [16, 64],
    "model.layers.0.self_attn.v_proj.weight": [16, 64], "model.layers.0.self_attn.o_proj.weight": [64, 32],
    "model.layers.1.mlp.gate_proj.weight": [64, 64], "model.layers.1.mlp.down_proj.weight": [64, 64],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--tpc-run", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.source, "README.md")) as f:
        m = re.search(r"^```sh\n(.*?)\n```", f.read(), re.S | re.M)
    if not m:
        print("README.md has no ```sh block", file=sys.stderr)
        return 1
    steps = m.group(1).split(" && ")
    first = next((i for i, s in enumerate(steps) if s.startswith("build/bin/tpc compile")), None)
    if first is None or "ctest" in m.group(1):
        print(f"README's first command does not compile a program (or runs ctest): {m.group(1)}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="tpc-readme-") as tmp:
        cmd = " && ".join(steps[first:])
        # Only the README's own text is checked: the build dir may itself lie under /tmp.
        if "/tmp/" in cmd.replace("/tmp/p.json", "").replace("/tmp/shards", ""):
            print(f"the command writes outside the test's temp dir: {cmd}", file=sys.stderr)
            return 1
        cmd = cmd.replace("build/bin/tpc-run ", os.path.abspath(args.tpc_run) + " ")
        cmd = cmd.replace("build/bin/tpc ", os.path.abspath(args.tpc) + " ")
        cmd = cmd.replace("/tmp/p.json", os.path.join(tmp, "p.json")).replace("/tmp/shards", os.path.join(tmp, "shards"))
        r = subprocess.run(["bash", "-c", cmd], cwd=args.source, capture_output=True, text=True, timeout=120)
    got = {}
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"(\S+) \[([0-9, ]*)\]", line)
        if m:
            got[m.group(1)] = [int(x) for x in m.group(2).split(",") if x.strip()]
    wrong = {k: (got.get(k), v) for k, v in WANT.items() if got.get(k) != v}
    if r.returncode != 0 or wrong or len(got) != 21:
        print(f"exit {r.returncode}; {len(got)} tensors (want 21); wrong (got, want): {wrong}\n{r.stdout}{r.stderr}",
              file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
