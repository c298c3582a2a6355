"""The RL validation split keeps each seed's lineage on one side and is the same on every run."""

from __future__ import annotations

from wizardmath.data.splits import lineage_roots, split_problems


def family(root: str, n: int) -> list[dict]:
    rows = [{"id": root, "problem": f"{root}?"}]
    rows += [
        {"id": f"{root}.{i}", "parent_id": root if i == 0 else f"{root}.{i - 1}", "problem": "p"}
        for i in range(n)
    ]
    return rows


def test_lineage_roots_follow_parent_chains():
    rows = family("a", 3) + [{"id": "orphan", "parent_id": "missing"}]
    assert lineage_roots(rows) == ["a", "a", "a", "a", "orphan"]


def test_split_keeps_lineages_whole_and_is_deterministic():
    rows = [r for k in range(40) for r in family(f"s{k}", 4)]
    train, val = split_problems(rows, size=50, seed=0)
    assert 50 <= len(val) < 60 and len(train) + len(val) == len(rows)
    val_roots, train_roots = set(lineage_roots(val)), set(lineage_roots(train))
    assert not val_roots & train_roots
    assert split_problems(rows, size=50, seed=0) == (train, val)
    assert split_problems(rows, size=50, seed=1)[1] != val
