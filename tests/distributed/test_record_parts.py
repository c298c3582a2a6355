"""A launch killed mid-run leaves each rank's records in ``FILE.rank<r>``. The next run of the same
command, launched or plain, merges them first: those records count as done (not redone) and none
is written twice. Here a plain rerun of solve, label-prm and eval finds such parts (records moved out
of a finished output, marked, with a torn last line as a kill leaves it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dist_helpers import REPO, symbolic_world

from wizardmath import cli


def plant_part(path: Path, count: int) -> set[str]:
    """Move the last ``count`` records of ``path`` to ``path.rank1``, each marked; returns their ids."""
    lines = path.read_text().splitlines()
    path.write_text("".join(line + "\n" for line in lines[:-count]))
    moved = [{**json.loads(line), "from_part": True} for line in lines[-count:]]
    part = path.with_name(path.name + ".rank1")
    part.write_text("".join(json.dumps(r) + "\n" for r in moved) + '{"id": "half a rec')
    return {r["id"] for r in moved}


def merged_once(path: Path, planted: set[str], total: int) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == total, f"{path}: {len(ids)} records, {len(set(ids))} ids"
    assert {r["id"] for r in rows if r.get("from_part")} == planted  # merged, not redone
    assert not list(path.parent.glob(path.name + ".rank*"))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    return symbolic_world(tmp_path_factory.mktemp("records"), seeds=4)


def test_solve_merges_a_killed_launchs_parts(world, tmp_path):
    argv = ["solve", "--config", str(REPO / "configs/tiny/solve.yaml"), "--data_path", str(world["problems"]),
            "--output", str(tmp_path), "--no_progress"]  # fmt: skip
    assert cli.main(argv) == 0
    total = len((tmp_path / "sft.jsonl").read_text().splitlines())
    planted = plant_part(tmp_path / "sft.jsonl", 5)
    assert cli.main(argv) == 0
    merged_once(tmp_path / "sft.jsonl", planted, total)
    assert json.loads((tmp_path / "solve_stats.json").read_text())["solved_this_run"] == 0


def test_label_prm_merges_a_killed_launchs_parts(world, tmp_path):
    out = tmp_path / "labels.jsonl"
    argv = ["label-prm", "--labeler", "rule", "--solutions_path", str(world["solutions"]),
            "--output", str(out), "--no_progress"]  # fmt: skip
    assert cli.main(argv) == 0
    total = len(out.read_text().splitlines())
    planted = plant_part(out, 7)
    assert cli.main(argv) == 0
    merged_once(out, planted, total)


@pytest.mark.slow
def test_eval_merges_a_killed_launchs_parts(world, tiny_model_dir, tmp_path):
    argv = ["eval", "--model", str(tiny_model_dir), "--dataset", "jsonl",
            "--data_path", str(world["problems"]),
            "--limit", "12", "--max_new_tokens", "4", "--output", str(tmp_path),
            "--progress", "false"]  # fmt: skip
    assert cli.main(argv) == 0
    planted = plant_part(tmp_path / "problems.jsonl", 4)
    assert cli.main(argv) == 0
    merged_once(tmp_path / "problems.jsonl", planted, 12)
    assert json.loads((tmp_path / "problems.summary.json").read_text())["n"] == 12
