#!/usr/bin/env python3
"""tpc verify --processes: the sharded forward's ranks as processes over Gloo on loopback.

    python3 tests/e2e/verify_processes.py --tpc build/bin/tpc --source .

Checks, on the transformers fixtures of tests/data/verify/ at tp 2: a good plan passes with
--processes (exit 0, "ranks": "processes") with the in-process run's max relative error within
1e-6; a broken plan (naive colwise on phi3's fused qkv) exits 1 naming the same first divergent
module as the in-process run; a plan that breaks a shape (an SP norm without its all-gather) stops
the ranks, and exits 1 with the in-process run's first divergence and the rank that stopped first
(by time, not number: at 1 token rank 1 stops, rank 0 then fails waiting on it); a rank killed while the others wait on it ends the run with exit 2
naming it, within seconds, and leaves no rank behind, nor does killing tpc verify itself; under torchrun's variables each process is
one rank and rank 0 reports (a WORLD_SIZE other than tp is exit 2). Exit 1 on any failure.
"""
import argparse
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from verify_cli import SP_NORM_WITHOUT_ALL_GATHER

FAILURES = []


def expect(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    """{pid: environ} of the live processes whose parent is `pid`."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            if int(stat[stat.rindex(")") + 2:].split()[1]) != pid:
                continue
            with open(f"/proc/{name}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            out[int(name)] = {k.decode(): v.decode() for k, v in env.items()}
        except (OSError, ValueError, IndexError):
            pass  # gone meanwhile
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tpc", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    data = os.path.join(args.source, "tests", "data", "verify")
    llama = ["--model", os.path.join(data, "llama"), "--plan", "hf/llama", "--tp", "2"]

    def tpc(*a, env=None):
        start = time.monotonic()
        r = subprocess.run([args.tpc, "verify", *a], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, **(env or {})))
        print(f"tpc verify {' '.join(a[4:])}: exit {r.returncode} in {time.monotonic() - start:.1f} s")
        return r

    # A good plan: the same report from threads and from processes.
    threads = tpc(*llama, "--format", "json")
    procs = tpc(*llama, "--format", "json", "--processes", "--timeout", "60")
    expect(threads.returncode == 0 and procs.returncode == 0,
           f"llama: exits {threads.returncode} (threads), {procs.returncode} (processes)\n{procs.stderr}")
    if threads.returncode == 0 and procs.returncode == 0:
        t, p = json.loads(threads.stdout), json.loads(procs.stdout)
        expect(t["ranks"] == "threads" and p["ranks"] == "processes", f"llama: ranks {t['ranks']}, {p['ranks']}")
        expect(p["ok"] is True and p["first_divergence"] is None and p["tp"] == 2 and p["collectives"] == 6,  # embedding, 2 x (o_proj, down_proj), lm_head
               f"llama with processes: {p}")
        expect(abs(p["max_rel_error"] - t["max_rel_error"]) <= 1e-6 and 0 < p["max_rel_error"] < 1e-4,
               f"llama: max error {p['max_rel_error']} (processes) vs {t['max_rel_error']} (threads)")
        expect([x["part"] for x in p["layers"]] == [x["part"] for x in t["layers"]], f"llama layers {p['layers']}")

    # A broken plan: the same first divergence.
    with tempfile.TemporaryDirectory(prefix="tpc-verify-processes-") as tmp:
        naive = os.path.join(tmp, "naive.yaml")
        with open(naive, "w") as f:
            f.write("model.layers.*.self_attn.qkv_proj: colwise\nmodel.layers.*.self_attn.o_proj: rowwise\n")
        phi3 = ["--model", os.path.join(data, "phi3"), "--plan", naive, "--tp", "2"]
        runs = [tpc(*phi3), tpc(*phi3, "--processes", "--timeout", "60")]
        first = [[l for l in r.stdout.splitlines() if l.startswith("first divergence: ")] for r in runs]
        expect([r.returncode for r in runs] == [1, 1] and len(first[0]) == 1 and first[0] == first[1] and
               "'model.layers.0.self_attn.attention' (attention)" in first[0][0],
               f"naive phi3: exits {[r.returncode for r in runs]}, {first}\n{runs[1].stderr[-600:]}")
        expect(runs[1].stdout.splitlines()[-1:] and
               "at tp 2 (" in runs[1].stdout.splitlines()[-1] and ", 2 processes) differs" in runs[1].stdout,
               f"naive phi3 with processes: last line {runs[1].stdout.splitlines()[-1:]}")

    # A plan that breaks a shape (NeMo's SP norms without an all-gather, as in verify_cli.py): the ranks
    # stop, and --processes gives the in-process verdict rather than exit 2. At 16 tokens every rank
    # stops at the attention on its own. At 1 token rank 1 holds no token and stops there, while rank 0
    # computes on into o_proj's reduce-scatter, which fails once rank 1's process is gone: rank 1
    # stopped first (the cause, in "stopped"), though rank 0 comes first by number.
    with tempfile.TemporaryDirectory(prefix="tpc-verify-processes-") as tmp:
        sp = os.path.join(tmp, "sp_no_gather.yaml")
        with open(sp, "w") as f:
            f.write(SP_NORM_WITHOUT_ALL_GATHER)
        plan = ["--model", os.path.join(data, "llama"), "--plan", sp, "--tp", "2", "--format", "json"]
        for tokens, first_module, why, stopped in [
                ("16", "model.layers.0.self_attn.q_proj",
                 "its output has shape [2, 8, 32] where the unsharded one has [2, 16, 32]",
                 "'model.layers.0.self_attn.attention': "),
                ("1", "model.layers.0.self_attn.q_proj",
                 "its ranks' outputs have shapes [2, 1, 16], [2, 0, 16]: they do not join into one tensor",
                 "rank 1, 'model.layers.0.self_attn.attention': ")]:
            runs = [tpc(*plan, "--tokens", tokens), tpc(*plan, "--tokens", tokens, "--processes", "--timeout", "60")]
            what = f"sp norm without all-gather, {tokens} tokens"
            expect([r.returncode for r in runs] == [1, 1],
                   f"{what}: exits {[r.returncode for r in runs]}\n{runs[1].stderr[-600:]}")
            if [r.returncode for r in runs] != [1, 1]:
                continue
            t, p = json.loads(runs[0].stdout), json.loads(runs[1].stdout)
            expect(t["ranks"] == "threads" and p["ranks"] == "processes", f"{what}: ranks {t['ranks']}, {p['ranks']}")
            expect(p["first_divergence"] == t["first_divergence"] and p["first_divergence"]["module"] == first_module
                   and p["first_divergence"]["why"] == why,
                   f"{what}: first divergence {p['first_divergence']} (processes), {t['first_divergence']} (threads)")
            expect(stopped in t.get("stopped", "") and stopped in p.get("stopped", ""),
                   f"{what}: stopped {p.get('stopped')!r} (processes), {t.get('stopped')!r} (threads)")
            expect(p["ok"] is False and p["logits_rel_error"] is None and
                   [x["max_rel_error"] is None for x in p["layers"]] == [x["max_rel_error"] is None for x in t["layers"]]
                   and abs(p["layers"][0]["max_rel_error"] - t["layers"][0]["max_rel_error"]) <= 1e-6,
                   f"{what}: layers {p['layers']} (processes), {t['layers']} (threads)")
        text = tpc(*plan[:-2], "--processes", "--timeout", "60")
        expect(text.returncode == 1 and "first divergence: 'model.layers.0.self_attn.q_proj' (linear layer): its output "
               "has shape [2, 8, 32]" in text.stdout and "then the sharded forward stopped: rank " in text.stdout and
               ", 2 processes) differs" in text.stdout, f"sp norm without all-gather, text: exit {text.returncode}\n"
               f"{text.stdout}{text.stderr[-600:]}")

    def start_paused(tmp):
        """tpc verify --processes whose ranks pause 5 s after the rendezvous (a test-only variable) and
        say so in their logs, in the scratch directory under our TMPDIR; (parent, {rank: pid}) once
        both have."""
        parent = subprocess.Popen([args.tpc, "verify", *llama, "--processes", "--timeout", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, TMPDIR=tmp, TPC_VERIFY_TEST_PAUSE_AFTER_CONNECT_MS="5000"))
        start, ranks, paused = time.monotonic(), {}, 0
        while time.monotonic() - start < 30 and paused < 2 and parent.poll() is None:
            ranks = {int(e.get("RANK", -1)): pid for pid, e in children(parent.pid).items()} or ranks
            logs = glob.glob(os.path.join(tmp, "tpc-verify-*", "rank*.log"))
            paused = sum("connected; pausing" in open(log).read() for log in logs)
            time.sleep(0.05)
        expect(sorted(ranks) == [0, 1] and paused == 2, f"rank processes of tpc verify --processes: {ranks}, {paused}")
        return parent, ranks

    # Rank 1 killed while rank 0 waits on it: exit 2 naming rank 1, long before --timeout, rank 0 gone
    # too, and the scratch directory.
    with tempfile.TemporaryDirectory(prefix="tpc-verify-processes-") as tmp:
        start = time.monotonic()
        parent, ranks = start_paused(tmp)
        if 1 in ranks:
            os.kill(ranks[1], signal.SIGKILL)
        try:
            out, err = parent.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            parent.kill()
            out, err = parent.communicate()
            err += "(hung: killed by the test)"
        took = time.monotonic() - start
        expect(parent.returncode == 2 and took < 20 and "tpc verify: error: the sharded forward stopped: rank 1 "
               f"(pid {ranks.get(1)}) was killed by signal 9" in err, f"rank 1 killed: exit {parent.returncode} "
               f"after {took:.1f} s\n{err}")
        expect(not any(alive(pid) for pid in ranks.values()), f"rank processes left running: {ranks}")
        expect(os.listdir(tmp) == [], f"scratch left behind: {os.listdir(tmp)}")
        print(f"rank 1 killed: exit {parent.returncode} after {took:.1f} s: {(err.strip().splitlines() or [''])[-1]}")

    # tpc verify itself killed: its ranks end with it rather than wait out --timeout on each other.
    with tempfile.TemporaryDirectory(prefix="tpc-verify-processes-") as tmp:
        parent, ranks = start_paused(tmp)
        parent.kill()
        parent.communicate()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(alive(pid) for pid in ranks.values()):
            time.sleep(0.05)
        expect(ranks and not any(alive(pid) for pid in ranks.values()),
               f"tpc verify killed: its ranks {ranks} still run")

    # Under torchrun's variables: this process is one rank, rank 0 reports.
    port = free_port()
    procs = [subprocess.Popen([args.tpc, "verify", *llama, "--format", "json", "--processes", "--timeout", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(r),
                                       WORLD_SIZE="2", LOCAL_RANK=str(r))) for r in range(2)]
    results = []
    for p in procs:
        try:
            results.append(p.communicate(timeout=60) + (p.returncode,))
        except subprocess.TimeoutExpired:
            p.kill()
            results.append(p.communicate() + (-1,))
    expect([rc for _, _, rc in results] == [0, 0] and results[1][0] == "",
           f"under torchrun: {[(rc, out[-200:], err[-400:]) for out, err, rc in results]}")
    if results[0][2] == 0 and threads.returncode == 0:
        j = json.loads(results[0][0])
        expect(j["ok"] is True and j["ranks"] == "processes" and
               abs(j["max_rel_error"] - json.loads(threads.stdout)["max_rel_error"]) <= 1e-6,
               f"under torchrun: {j}")
    r = tpc(*llama, "--processes", env={"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "RANK": "0",
                                       "WORLD_SIZE": "3", "LOCAL_RANK": "0"})
    expect(r.returncode == 2 and "WORLD_SIZE is 3, but the program's tp is 2" in r.stderr,
           f"WORLD_SIZE 3 at tp 2: exit {r.returncode}\n{r.stderr}")
    if FAILURES:
        print(f"{len(FAILURES)} failures", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
