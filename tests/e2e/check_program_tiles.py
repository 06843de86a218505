#!/usr/bin/env python3
"""Checks a checkpoint-named tpc program (program v2, "names": "checkpoint") against the checkpoint it was
compiled from, independently of tpc: the checkpoint's headers are read by the reference `safetensors`
package (pip install safetensors numpy).

    python3 tests/e2e/check_program_tiles.py PROGRAM.json CHECKPOINT_DIR

Checks that every stored tensor is exactly one entry whose source is its name, in the file that holds
it, with its dtype and shape; that no entry reads a tensor the checkpoint lacks; that the slices of a
sharded entry cover every row of shard_dim exactly `replicas` times; that owned (expert-parallel)
entries have no slices, no repeated owner and every expert at least one owner; and that a block
scale's slices are its weight's divided by the block. Exit 0 with a one-line summary when consistent,
1 with the first problems otherwise, 2 for bad usage or unreadable input.
"""
import json
import math
import os
import re
import sys

SHOW = 12  # problems printed
MAX_TP = 65536  # far above any real tensor-parallel group (a 72-GPU NVL72 rack)
SHARD = re.compile(r"^shard\((\d+)\)$")


class Bad(Exception):
    """Unusable input: exit 2."""


def load_checkpoint(root):
    """{name: (file, dtype, shape)} from the headers, and the problems of the checkpoint itself."""
    try:
        from safetensors import safe_open
    except ImportError as e:
        raise Bad(f"needs the Python package safetensors ({e}): python3 -m pip install safetensors numpy")
    if not os.path.isdir(root):
        raise Bad(f"{root}: not a directory")
    index_path = os.path.join(root, "model.safetensors.index.json")
    problems, weight_map = [], None
    if os.path.exists(index_path):
        try:
            with open(index_path) as f:
                weight_map = json.load(f)["weight_map"]
            files = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise Bad(f"{index_path}: unreadable index ({e})")
    else:
        files = sorted(n for n in os.listdir(root) if n.endswith(".safetensors"))
    if not files:
        raise Bad(f"{root}: no .safetensors files and no model.safetensors.index.json")
    stored = {}
    for name in files:
        try:
            with safe_open(os.path.join(root, name), framework="numpy") as f:
                for key in f.keys():
                    piece = f.get_slice(key)
                    if key in stored:
                        problems.append(f"checkpoint: {key} is stored in both {stored[key][0]} and {name}")
                    stored[key] = (name, piece.get_dtype(), list(piece.get_shape()))
        except Exception as e:  # the reference reader's own validation errors
            raise Bad(f"{os.path.join(root, name)}: the safetensors package cannot read it ({e})")
    if weight_map is not None:
        for key, name in sorted(weight_map.items()):
            if key not in stored:
                problems.append(f"checkpoint: the index maps {key} to {name}, whose header lacks it")
            elif stored[key][0] != name:
                problems.append(f"checkpoint: the index maps {key} to {name}, but {stored[key][0]} holds it")
        for key in sorted(set(stored) - set(weight_map)):
            problems.append(f"checkpoint: {key} in {stored[key][0]} is missing from the index")
    return stored, problems


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def int_list(v):
    return isinstance(v, list) and all(is_int(x) and x >= 0 for x in v)


def coverage_problems(slices, n, replicas):
    """How rows [0, n) are covered by the slices (lists of {start, length}), as problem strings."""
    events = {}
    for rank, ranges in enumerate(slices):
        for s in ranges:
            start, length = s["start"], s["length"]
            if start < 0 or length < 0 or start + length > n:
                return [f"rank {rank} slice [{start}, {start + length}) is outside rows [0, {n})"]
            events[start] = events.get(start, 0) + 1
            events[start + length] = events.get(start + length, 0) - 1
    points = sorted(set(events) | {0, n})
    depth, out = 0, []
    for a, b in zip(points, points[1:]):
        depth += events.get(a, 0)
        if depth != replicas:
            out.append(f"rows [{a}, {b}) are held {depth} times, not {replicas}")
    return out


def check_entry_shape(e, where, tp, out):
    """Structural checks of one entry; returns (dim or None, slices or None) when usable."""
    placement = e.get("placement")
    m = SHARD.match(placement) if isinstance(placement, str) else None
    if placement != "replicate" and not m:
        out.append(f"{where}: placement {placement!r} is neither replicate nor shard(d)")
        return None, None
    shape = e["global_shape"]
    if not int_list(e.get("local_shape")):
        out.append(f"{where}: local_shape {e.get('local_shape')!r} is not a list of sizes")
        return None, None
    replicas = e.get("replicas", 1)
    if not is_int(replicas) or replicas < 1 or replicas > tp:
        out.append(f"{where}: replicas {replicas!r} is not in [1, tp {tp}]")
        return None, None
    owners = e.get("owners")
    if owners is not None:
        if not isinstance(owners, list) or not owners or not all(is_int(r) and 0 <= r < tp for r in owners):
            out.append(f"{where}: owners {owners!r} is not a non-empty list of ranks below tp {tp}")
        elif len(set(owners)) != len(owners):
            out.append(f"{where}: owners {owners} lists a rank twice")
        if "slices" in e:
            out.append(f"{where}: has owners and slices (an owned tensor is whole or nothing)")
    if not m:
        if e.get("shard_dim") is not None:
            out.append(f"{where}: replicated but has shard_dim {e.get('shard_dim')!r}")
        if "slices" in e and owners is None:
            out.append(f"{where}: replicated but has slices")
        if e["local_shape"] != shape:
            out.append(f"{where}: replicated but local_shape {e['local_shape']} != global_shape {shape}")
        return None, None
    dim = int(m.group(1))
    if e.get("shard_dim") != dim:
        out.append(f"{where}: shard_dim {e.get('shard_dim')!r} does not match placement {placement}")
    if dim >= len(shape):
        out.append(f"{where}: {placement} of a {len(shape)}-d tensor")
        return None, None
    slices = e.get("slices")
    if not isinstance(slices, list) or len(slices) != tp or not all(
            isinstance(r, list) and all(isinstance(s, dict) and is_int(s.get("start")) and is_int(s.get("length"))
                                        for s in r) for r in slices):
        out.append(f"{where}: slices must be {tp} lists (one per rank) of {{start, length}}")
        return None, None
    for p in coverage_problems(slices, shape[dim], replicas)[:2]:
        out.append(f"{where}: along dim {dim} of {shape}, {p}")
    local = list(shape)
    local[dim] = sum(s["length"] for s in slices[0])
    if e["local_shape"] != local:
        out.append(f"{where}: local_shape {e['local_shape']} is not rank 0's share {local}")
    return dim, slices


def scale_problems(e, where, weight, out):
    """A block scale must be placed as its weight, its slices the weight's divided by the block."""
    block = e.get("block")
    if not (isinstance(block, list) and len(block) == 2 and all(is_int(b) and b > 0 for b in block)):
        out.append(f"{where}: block {block!r} is not [rows, cols]")
        return
    wshape = weight["global_shape"]
    if len(wshape) == 2:
        want = [math.ceil(wshape[0] / block[0]), math.ceil(wshape[1] / block[1])]
        if e["global_shape"] != want:
            out.append(f"{where}: shape {e['global_shape']} is not {want}, the blocks of {wshape}")
    for key in ("placement", "owners"):
        if e.get(key) != weight.get(key):
            out.append(f"{where}: {key} {e.get(key)!r} differs from its weight's {weight.get(key)!r}")
    if e.get("replicas", 1) != weight.get("replicas", 1) or "slices" not in weight or "slices" not in e:
        return
    dim = weight.get("shard_dim")
    if not is_int(dim) or dim not in (0, 1) or len(wshape) != 2 or len(e["slices"]) != len(weight["slices"]):
        return
    b, n = block[dim], wshape[dim]
    for rank, (ws, ss) in enumerate(zip(weight["slices"], e["slices"])):
        want = []
        for s in ws:
            start, end = s["start"], s["start"] + s["length"]
            if start % b or (end % b and end != n):
                out.append(f"{where}: weight rank {rank} rows [{start}, {end}) split a {b}-row block")
                return
            want.append((start // b, math.ceil(end / b) - start // b))
        got = [(s["start"], s["length"]) for s in ss]
        if got != want:
            out.append(f"{where}: rank {rank} slices {got} are not the weight's divided by {b}: {want}")
            return


def check(program, stored):
    out = []
    if not isinstance(program, dict):
        return ["the program is not a JSON object"], 0
    if program.get("names") != "checkpoint":
        out.append(f"top level: names is {program.get('names')!r}, not \"checkpoint\" (a config-only program)")
    tp = program.get("tp")
    if not is_int(tp) or not 1 <= tp <= MAX_TP:
        return out + [f"top level: tp {tp!r} is not an integer in [1, {MAX_TP}]"], 0
    entries = program.get("parameters")
    if not isinstance(entries, list):
        return out + ["top level: parameters is not a list"], 0
    by_name, seen_source, experts = {}, {}, {}
    for i, e in enumerate(entries):
        where = f"parameters[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            out.append(f"{where}: not an object with a string name")
            continue
        where = f"{where} {e['name']}"
        if e["name"] in by_name:
            out.append(f"{where}: name repeats parameters[{by_name[e['name']][0]}]")
        by_name.setdefault(e["name"], (i, e))
        kind = e.get("kind")
        if kind not in ("param", "scale", "extra", "lora"):
            out.append(f"{where}: kind {kind!r} is not param, scale, extra or lora")
            continue
        if not int_list(e.get("global_shape")):
            out.append(f"{where}: global_shape {e.get('global_shape')!r} is not a list of sizes")
            continue
        src = e.get("source")
        if kind == "lora":
            if src is not None:
                out.append(f"{where}: a LoRA adapter with source {src!r}")
        elif not isinstance(src, str) or src not in stored:
            out.append(f"{where}: source {src!r} is not a tensor of the checkpoint")
        else:
            file, dtype, shape = stored[src]
            if src == e["name"]:
                if src in seen_source:
                    out.append(f"{where}: stored tensor {src} has a second entry (first: parameters[{seen_source[src]}])")
                seen_source.setdefault(src, i)
            if e.get("file") != file:
                out.append(f"{where}: file {e.get('file')!r}, but {file} holds {src}")
            if e.get("dtype") != dtype:
                out.append(f"{where}: dtype {e.get('dtype')!r}, but {src} is stored as {dtype}")
            if e["global_shape"] != shape:
                out.append(f"{where}: global_shape {e['global_shape']}, but {src} is stored as {shape}")
        check_entry_shape(e, where, tp, out)
        if kind == "extra" and ("slices" in e or e.get("owners") is not None):
            out.append(f"{where}: an extra tensor must be replicated on every rank")
        expert = e.get("expert")
        if is_int(expert) and expert >= 0:
            if not isinstance(e.get("tree"), str) or not e["tree"]:
                out.append(f"{where}: expert {expert} without a tree parameter")
            else:
                owners = e.get("owners")
                if owners is None:
                    owner_set = frozenset(range(tp))
                else:  # malformed owners were reported above
                    owner_set = frozenset(r for r in owners if is_int(r)) if isinstance(owners, list) else frozenset()
                experts.setdefault(e["tree"], {}).setdefault(expert, []).append((where, owner_set))
    for name in sorted(set(stored) - set(seen_source)):
        out.append(f"checkpoint: {name} ({stored[name][0]}) has no entry")
    for tree, per_expert in sorted(experts.items()):
        missing = [x for x in range(min(max(per_expert) + 1, len(per_expert) + SHOW)) if x not in per_expert]
        if missing:
            out.append(f"tree {tree}: no entry for experts {missing[:SHOW]} (of 0..{max(per_expert)})")
        for expert, pieces in sorted(per_expert.items()):
            if not any(owners for _, owners in pieces):
                out.append(f"tree {tree}: expert {expert} has no owner")
            if len({owners for _, owners in pieces}) > 1:
                out.append(f"tree {tree}: the pieces of expert {expert} have different owners ({pieces[0][0]} ...)")
    for name, (i, e) in by_name.items():
        if e.get("kind") != "scale":
            continue
        where = f"parameters[{i}] {name}"
        target = by_name.get(e.get("scales")) if isinstance(e.get("scales"), str) else None
        if target is None or not int_list(target[1].get("global_shape")):
            out.append(f"{where}: scales {e.get('scales')!r}, which is no usable entry")
            continue
        try:
            scale_problems(e, where, target[1], out)
        except (TypeError, KeyError, AttributeError, IndexError) as ex:
            out.append(f"{where}: malformed scale or weight entry ({ex!r})")
    return out, len(entries)


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} PROGRAM.json CHECKPOINT_DIR", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            program = json.load(f)
    except (OSError, ValueError) as e:
        print(f"check_program_tiles: {argv[1]}: cannot read the program ({e})", file=sys.stderr)
        return 2
    try:
        stored, problems = load_checkpoint(argv[2])
    except Bad as e:
        print(f"check_program_tiles: {e}", file=sys.stderr)
        return 2
    try:
        found, count = check(program, stored)
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as e:  # a shape no check above foresaw
        found, count = [f"the program is malformed ({e!r})"], 0
    problems += found
    if problems:
        print(f"{argv[1]}: {len(problems)} problem{'s' if len(problems) != 1 else ''} against {argv[2]} ({len(stored)} stored tensors)")
        for p in problems[:SHOW]:
            print(f"  {p}")
        if len(problems) > SHOW:
            print(f"  ... and {len(problems) - SHOW} more")
        return 1
    files = len({f for f, _, _ in stored.values()})
    print(f"{argv[1]}: consistent: {count} entries cover the {len(stored)} stored tensors of {files} "
          f"file{'s' if files != 1 else ''} in {argv[2]} at tp {program['tp']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
