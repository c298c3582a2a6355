"""Ranks of a launched run (``accelerate launch``, ``torchrun``) for the stages that write records.

Under a launch every process runs the same command. ``eval``, ``solve`` and ``label-prm`` shard their
problems (``shard``: rank r of W takes items r, r+W, r+2W, ..., so every item is taken exactly once),
each rank appends its records to its own part, ``FILE.rank<r>`` (``part_path``), and once every rank
is done (``barrier``) rank 0 appends the parts to ``FILE``, skipping ids already there, and removes
them (``merge_parts``). Rank 0 alone takes the output's lock and writes the stage's settings, stats
and summary, and ``share`` hands its result to the other ranks. A part left behind by a killed run is
merged by the next run before it reads which ids are done, so a restarted run continues where the
killed one stopped and no record is written twice. A plain run (no launch) writes ``FILE`` directly.

The rank is read from the launcher's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) rather than
from ``accelerate.PartialState()``: building that state initialises a process group and imports
torch, which a plain run, or a stage that only talks to a server, needs neither of. The process group
is made on the first collective under a launch (``start``), through ``PartialState`` so a trainer in
the same process reuses it, with a long timeout: the ranks of a record stage meet only at its start
and its end, and the fastest may wait for the slowest for longer than torch's default 30 minutes.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from wizardmath.jsonl import JsonlWriter, read_ids

T = TypeVar("T")
logger = logging.getLogger(__name__)

# How long a rank waits at a barrier for the others (the slowest shard of a long server-backed stage).
COLLECTIVE_TIMEOUT = timedelta(hours=12)
PART_SUFFIX = re.compile(r"\.rank(\d+)$")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the launch: ``rank`` of ``world`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks() -> Ranks:
    """From the launcher's environment; a plain run is rank 0 of 1."""
    try:
        return Ranks(
            int(os.environ.get("RANK", "0")),
            int(os.environ.get("WORLD_SIZE", "1")),
            int(os.environ.get("LOCAL_RANK", "0")),
        )
    except ValueError as err:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers ({err})") from None


def is_main_process() -> bool:
    """Rank 0 of a launch, or a plain run: the one process that takes locks and writes shared files."""
    return ranks().main


def main_lock(target: str | os.PathLike, command: str, folder: bool = True) -> AbstractContextManager:
    """The output lock (``runstate.OutputLock``) on rank 0; nothing on the other ranks, which write only
    their own parts and wait for rank 0 at the barriers."""
    from wizardmath.runstate import OutputLock

    return OutputLock(target, command, folder=folder) if is_main_process() else nullcontext()


def shard(items: Sequence[T], rank: int | None = None, world: int | None = None) -> list[T]:
    """Rank ``rank``'s share of ``items``: every ``world``-th item from position ``rank``.

    Strided rather than contiguous: the stages sort problems by length before sharding, so each rank
    gets long and short ones alike and the ranks finish together."""
    here = ranks()
    rank = here.rank if rank is None else rank
    world = here.world if world is None else world
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not one of {world} processes")
    return list(items[rank::world])


def cpu_only() -> bool:
    """No CUDA device. accelerate must then be told it runs on the CPU (``cpu=True``, ``use_cpu``): without
    it, the processes of a launch on a machine without a GPU each run alone, as a world of one."""
    import torch

    return not torch.cuda.is_available()


def start(timeout: timedelta | None = COLLECTIVE_TIMEOUT, cpu: bool = False) -> None:
    """Join the launch's process group (a no-op in a plain run); on a GPU node this also selects the
    process's own device, so a model moved to ``cuda`` lands on GPU ``LOCAL_RANK``. ``timeout``: how
    long a collective waits (None: accelerate's default, for a trainer, whose ranks meet every step);
    ``cpu``: run on the CPU even where there is a GPU (it always does where there is none)."""
    if ranks().world > 1:
        from accelerate import PartialState

        PartialState(cpu=cpu or cpu_only(), **({"timeout": timeout} if timeout else {}))
        if PartialState().num_processes != ranks().world:
            raise RuntimeError(
                f"launched as {ranks().world} processes, but accelerate joined {PartialState().num_processes}"
            )


def join_deepspeed_on_cpu() -> None:
    """Under a launch on CPU with DeepSpeed, start DeepSpeed's communication layer on the process group
    before any model is built.

    accelerate told it runs on the CPU (``use_cpu``, which a CPU launch needs, see ``cpu_only``) creates
    torch's process group itself and skips ``deepspeed.init_distributed``. ZeRO-3 builds the model
    inside ``deepspeed.zero.Init``, whose config then counts a world of one process and refuses the
    batch ("train_batch_size is not equal to micro_batch_per_gpu * gradient_acc_step * world_size
    4 != 2 * 1 * 1"). On GPUs accelerate starts it, and this does nothing."""
    if (
        ranks().world == 1
        or not cpu_only()
        or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() != "true"
    ):
        return
    import deepspeed

    if not deepspeed.comm.is_initialized():
        deepspeed.init_distributed(dist_backend="gloo")


def check_world(seen: int, what: str = "the trainer") -> None:
    """Refuse a launch whose processes do not see each other: each would train alone on all the data
    and write the same output folder. Happens on a machine without a GPU when ``use_cpu`` is unset."""
    launched = ranks().world
    if launched > 1 and seen != launched:
        raise ValueError(
            f"launched as {launched} processes, but {what} runs as {seen}: each would work alone and write "
            "the same outputs; on a machine without a GPU set --use_cpu true (accelerate joins CPU processes "
            "only when told it runs on the CPU)"
        )


def barrier() -> None:
    """Wait until every rank gets here (a no-op in a plain run)."""
    if ranks().world > 1:
        from accelerate import PartialState

        start()
        PartialState().wait_for_everyone()


def gather(value: Any) -> list[Any]:
    """``value`` of every rank, in rank order (``[value]`` in a plain run); any picklable object."""
    if ranks().world == 1:
        return [value]
    import torch.distributed as dist

    start()
    out: list[Any] = [None] * ranks().world
    dist.all_gather_object(out, value)
    return out


def share(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (what rank 0 computed alone: a summary, the stats)."""
    if ranks().world == 1:
        return value
    import torch.distributed as dist

    start()
    box = [value if is_main_process() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_counts(counts: dict[str, Any]) -> dict[str, Any]:
    """Every rank's numeric ``counts`` added up by key (the ranks' counts of one stage run)."""
    total: dict[str, Any] = {}
    for part in gather(counts):
        for key, value in part.items():
            total[key] = total.get(key, 0) + value
    return total


def part_path(path: str | os.PathLike) -> Path:
    """Where this rank appends records meant for ``path``: ``path.rank<r>`` under a launch, else ``path``."""
    here = ranks()
    path = Path(path)
    return path if here.world == 1 else path.with_name(f"{path.name}.rank{here.rank}")


def parts_of(path: str | os.PathLike) -> list[Path]:
    """The parts of ``path`` on disk (any world size: a run killed with more ranks left them), by rank."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    found = []
    for candidate in path.parent.glob(f"{path.name}.rank*"):
        match = PART_SUFFIX.search(candidate.name)
        if match and candidate.name == f"{path.name}.rank{match.group(1)}" and candidate.is_file():
            found.append((int(match.group(1)), candidate))
    return [p for _, p in sorted(found)]


def _whole_records(path: Path) -> Iterable[dict[str, Any]]:
    """The records of a part; a torn line (its rank was killed mid-write) is left out, so it is redone."""
    torn = 0
    with path.open("rb") as handle:
        for line in handle:
            try:
                record = json.loads(line.decode("utf-8")) if line.endswith(b"\n") else None
            except ValueError:
                record = None
            if isinstance(record, dict):
                yield record
            elif line.strip():
                torn += 1
    if torn:
        logger.warning("%s: %d torn line(s) left out; their records are redone", path, torn)


def merge_parts(path: str | os.PathLike, key: str = "id") -> int:
    """Append the records of every part of ``path`` whose ``key`` is not in ``path`` yet, then remove the
    parts; returns how many records were added. Rank 0 only, while the other ranks wait.

    Safe to repeat: a merge killed half-way leaves the parts, and the next merge skips what it added."""
    parts = parts_of(path)
    if not parts:
        return 0
    seen = read_ids(path, key)
    added = 0
    with JsonlWriter(path) as out:
        for part in parts:
            for record in _whole_records(part):
                if key in record and str(record[key]) not in seen:
                    out.write(record)
                    seen.add(str(record[key]))
                    added += 1
    for part in parts:
        part.unlink()
    return added


def merge_all(paths: Iterable[str | os.PathLike], key: str = "id") -> None:
    """``merge_parts`` of each of ``paths`` on rank 0, every rank waiting until it is done.

    Called at a sharded stage's start (parts a killed run left, before anyone reads what is done) and
    at its end (this run's parts)."""
    if is_main_process():
        for path in paths:
            merge_parts(path, key)
    barrier()
