"""A validation split of a problems file for RL: held-out problems that are not a benchmark's test set.

    python -m wizardmath.data.splits PROBLEMS.jsonl OUT_DIR [--size 500] [--seed 0]

writes ``OUT_DIR/train.jsonl`` and ``OUT_DIR/val.jsonl``. Problems are assigned by their lineage (the
seed an evolved problem descends from, through ``parent_id``), so no validation problem has a parent,
sibling or child in training. The assignment is a hash of (seed, root id): the same input gives the
same split on every machine and every re-run.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from wizardmath.jsonl import iter_jsonl, write_jsonl


def lineage_roots(rows: list[dict[str, Any]]) -> list[str]:
    """The root id of each row: follow ``parent_id`` while the parent is in the file (cycles stop)."""
    parent = {str(r.get("id")): r.get("parent_id") for r in rows}
    roots = []
    for row in rows:
        node, seen = str(row.get("id")), set()
        while parent.get(node) not in (None, "") and str(parent[node]) in parent and node not in seen:
            seen.add(node)
            node = str(parent[node])
        roots.append(node)
    return roots


def split_problems(rows: list[dict[str, Any]], size: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, val): whole lineages go to validation, in hash order, until it holds at least ``size`` rows
    (or half the rows, whichever is fewer)."""
    roots = lineage_roots(rows)
    members: dict[str, list[int]] = {}
    for i, root in enumerate(roots):
        members.setdefault(root, []).append(i)
    order = sorted(members, key=lambda r: hashlib.sha256(f"{seed}:{r}".encode()).hexdigest())
    target, val_idx = min(size, len(rows) // 2), set()
    for root in order:
        if len(val_idx) >= target:
            break
        val_idx.update(members[root])
    train = [r for i, r in enumerate(rows) if i not in val_idx]
    val = [r for i, r in enumerate(rows) if i in val_idx]
    return train, val


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wizardmath.data.splits", description=__doc__.split("\n")[0]
    )
    parser.add_argument("problems")
    parser.add_argument("out_dir")
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = [row for _, row in iter_jsonl(args.problems)]
    train, val = split_problems(rows, args.size, args.seed)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "val.jsonl", val)
    print(f"{args.problems}: {len(train)} training and {len(val)} validation problems in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
