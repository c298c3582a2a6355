"""wizardmath.distributed: ranks from the launcher's environment, shards, per-rank parts and their merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath import distributed as dist
from wizardmath.runstate import OutputLock


@pytest.fixture
def rank(monkeypatch):
    """Pretend to be ``rank`` of ``world`` processes, as a launcher's environment says."""

    def set_rank(rank: int, world: int = 2) -> None:
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", str(world))
        monkeypatch.setenv("LOCAL_RANK", str(rank))

    return set_rank


def write(path: Path, rows: list[dict], torn: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + torn)
    return path


def ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_a_plain_run_is_rank_0_of_1(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert dist.ranks() == dist.Ranks(0, 1, 0) and dist.is_main_process()
    assert (
        dist.gather({"a": 1}) == [{"a": 1}] and dist.share(5) == 5 and dist.sum_counts({"a": 2}) == {"a": 2}
    )
    dist.barrier()  # no process group in a plain run: nothing to wait for
    assert dist.part_path("out/x.jsonl") == Path("out/x.jsonl")


def test_bad_rank_variables_name_them(monkeypatch):
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(ValueError, match="RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers"):
        dist.ranks()


@pytest.mark.parametrize("world", [1, 2, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 7, 64])
def test_shards_take_every_item_once(n, world):
    items = list(range(n))
    shards = [dist.shard(items, r, world) for r in range(world)]
    assert sorted(sum(shards, [])) == items  # nothing lost, nothing twice
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced
    with pytest.raises(ValueError, match="rank 3 is not one of 3 processes"):
        dist.shard(items, 3, 3)


def test_parts_are_named_by_rank_and_found_for_any_world(tmp_path, rank):
    rank(1)
    assert dist.part_path(tmp_path / "r.jsonl") == tmp_path / "r.jsonl.rank1"
    for name in ("r.jsonl.rank0", "r.jsonl.rank12", "r.jsonl.rank2", "r.jsonl.rankx", "r.jsonl.rank1.torn"):
        (tmp_path / name).write_text("")
    assert [p.name for p in dist.parts_of(tmp_path / "r.jsonl")] == [
        "r.jsonl.rank0",
        "r.jsonl.rank2",
        "r.jsonl.rank12",
    ]


def test_merge_appends_new_ids_once_drops_a_torn_line_and_removes_the_parts(tmp_path):
    out = write(tmp_path / "r.jsonl", [{"id": "a"}, {"id": "b"}])
    write(tmp_path / "r.jsonl.rank0", [{"id": "b"}, {"id": "c"}])
    write(tmp_path / "r.jsonl.rank1", [{"id": "d"}], torn='{"id": "e", "tex')  # killed mid-write
    assert dist.merge_parts(out) == 2
    assert ids(out) == ["a", "b", "c", "d"]  # "e" was never whole: it is redone
    assert not dist.parts_of(out)
    assert dist.merge_parts(out) == 0  # nothing left to merge: a repeat changes nothing


def test_merge_keys_on_another_field(tmp_path):
    out = write(tmp_path / "r.jsonl", [{"id": "a", "k": 1}])
    write(tmp_path / "r.jsonl.rank1", [{"id": "a", "k": 2}, {"id": "b", "k": 1}])
    assert dist.merge_parts(out, key="k") == 1
    assert [json.loads(x)["k"] for x in out.read_text().splitlines()] == [1, 2]


def test_only_rank_0_takes_the_output_lock(tmp_path, rank):
    rank(1)
    with dist.main_lock(tmp_path, "solve"):
        assert not (tmp_path / ".wizardmath.lock").exists()
    rank(0)
    with dist.main_lock(tmp_path, "solve") as lock:
        assert isinstance(lock, OutputLock) and (tmp_path / ".wizardmath.lock").exists()


def test_a_launch_whose_processes_do_not_meet_is_refused(rank):
    rank(1)
    with pytest.raises(
        ValueError, match="launched as 2 processes, but the trainer runs as 1.*--use_cpu true"
    ):
        dist.check_world(1)
    dist.check_world(2)
