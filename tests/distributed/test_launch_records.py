"""solve, label-prm and eval launched as two processes write the records one process writes: each
record once, none lost, also when one rank is SIGKILLed mid-run and the same command is launched again.

One test (the launches are the expensive part): the three stages in one plain process, then a
two-process launch whose rank 1 is killed after it appended 30 records to its part of solve's
outputs, then the same launch again, which merges the parts the killed one left, solves what is
left, then labels and evaluates. The records (sorted by id) must equal the plain run's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from dist_helpers import REPO, launch, plan, run_here, symbolic_world, tail, written_by

# Fields that differ between two runs of the same work: none of the records' own.
RESULTS = {
    "solve": ["sft.jsonl", "sft_rejected.jsonl"],
    "labels": ["labels.jsonl"],
    "eval": ["problems.jsonl"],
}


def commands(out: Path, data: dict[str, Path], model: Path) -> list[list]:
    return [
        ["solve", "--config", REPO / "configs/tiny/solve.yaml", "--data_path", data["problems"],
         "--output", out / "solve", "--no_progress"],
        ["label-prm", "--labeler", "rule", "--solutions_path", data["solutions"],
         "--output", out / "labels" / "labels.jsonl", "--no_progress"],
        ["eval", "--model", model, "--dataset", "jsonl", "--data_path", data["problems"], "--limit", 24,
         "--max_new_tokens", 8, "--batch_size", 4, "--output", out / "eval", "--progress", "false"],
    ]  # fmt: skip


def records(path: Path) -> list[dict]:
    out = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [r["id"] for r in out]
    assert len(ids) == len(set(ids)), f"{path}: a record written twice"
    return sorted(out, key=lambda r: r["id"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_record_stages_as_two_processes_write_each_record_once_also_after_a_kill(
    tiny_model_dir, tmp_path, monkeypatch
):
    data = symbolic_world(tmp_path / "data")
    one, two, audit = tmp_path / "one", tmp_path / "two", tmp_path / "audit"
    audit.mkdir()
    started = time.perf_counter()
    run_here(commands(one, data, tiny_model_dir), monkeypatch)
    seconds_one = time.perf_counter() - started

    argv = plan(*commands(two, data, tiny_model_dir))
    killed = launch(argv, WM_AUDIT=audit, WM_KILL="solve:write:30:1")
    assert killed.returncode != 0, tail(killed)
    left = sorted(p.name for p in (two / "solve").glob("*.rank*"))
    assert "sft.jsonl.rank1" in left, f"no part of rank 1 left by the kill: {left}"
    assert not (two / "solve" / "solve_stats.json").exists(), "solve finished despite the kill"
    finished = launch(argv, WM_AUDIT=audit)
    assert finished.returncode == 0, tail(finished)
    seconds_two = time.perf_counter() - started - seconds_one

    for folder, names in RESULTS.items():
        for name in names:
            assert records(two / folder / name) == records(one / folder / name), f"{folder}/{name}"
        assert not list((two / folder).glob("*.rank*")), f"{folder}: parts left after the merge"
    stats_one, stats_two = (json.loads((r / "solve" / "solve_stats.json").read_text()) for r in (one, two))
    assert stats_two["problems_with_rows"] == stats_one["problems_with_rows"]
    summary_one, summary_two = (
        json.loads((r / "eval" / "problems.summary.json").read_text()) for r in (one, two)
    )
    assert (summary_two["n"], summary_two["accuracy"]) == (summary_one["n"], summary_one["accuracy"])
    own = {p for p in written_by(audit, 1, two) if not p.name.endswith(".rank1")}
    assert not own, f"rank 1 wrote shared outputs: {sorted(own)[:5]}"
    print(f"\none process {seconds_one:.0f}s; two processes, two launches {seconds_two:.0f}s")
