"""``evolve``: the seed problems, every round in order (each round's candidates go through the
``Engine``), crash-safe resume and ``stats.json``.

Resume: ids already in either file are skipped and the near-duplicate index is rebuilt from
``problems.jsonl`` in file order; since every choice is seeded per candidate and the symbolic
backend is seeded per (prompt, sample), a run killed at any moment and restarted with the same
command ends with the same ids as an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from wizardmath.backends.base import run_coroutine
from wizardmath.data.records import MathProblem
from wizardmath.evol.candidates import Candidate, plan_round
from wizardmath.evol.config import EvolveConfig
from wizardmath.evol.engine import Engine
from wizardmath.jsonl import OWN_FILE, JsonlWriter, iter_jsonl, write_json
from wizardmath.runstate import OutputLock, check_manifest, merge_counts

logger = logging.getLogger(__name__)


def write_stats(engine: Engine, path: Path) -> dict[str, Any]:
    """Yield per round and operation (resumed runs count what earlier runs wrote), tokens, cost, time."""
    rounds = engine.tally
    table = {
        r: {
            op: {**cell, "yield": round(cell["accepted"] / max(1, cell["accepted"] + cell["rejected"]), 3)}
            for op, cell in ops.items()
        }
        for r, ops in sorted(rounds.items(), key=lambda kv: int(kv[0]))
    }
    tokens = {role: dict(counts) for role, counts in engine.tokens.items()}
    backends = {
        role: b.stats for role, b in engine.backends().items() if isinstance(getattr(b, "stats", None), dict)
    }
    cost = engine.cost_before + sum(float(s.get("cost_usd", 0.0)) for s in backends.values())
    backends = merge_counts(engine.backend_stats_before, backends)  # every run's requests, failures, retries
    stats = {
        "rounds": table,
        "accepted": sum(c["accepted"] for ops in rounds.values() for c in ops.values()),
        "rejected": sum(c["rejected"] for ops in rounds.values() for c in ops.values()),
        "retry_pending": sum(engine.retry.values()),
        "retry_by_role": dict(engine.retry),
        "tokens": tokens,
        "cost_usd": round(cost, 6),
        "backend_stats": backends,
        "wall_seconds": round(engine.wall_before + time.time() - engine.started, 2),
        "schedule": {
            "rounds": engine.config.rounds,
            "round_parents": engine.config.round_parents,
            "fanout": engine.config.fanout,
        },
    }
    write_json(path, stats)
    return stats


def load_seeds(config: EvolveConfig) -> list[MathProblem]:
    """The seed problems (round 0) of every data set in the config."""
    from wizardmath.data.loaders import load_problems
    from wizardmath.evol.symbolic import generate_problems

    seeds: list[MathProblem] = []
    paths = config.data_path or [""] * len(config.dataset)
    for name, path in zip(config.dataset, paths, strict=True):
        if name == "symbolic":
            batch = generate_problems(config.num_seeds, config.seed, config.seed_min_ops, config.seed_max_ops)
        else:
            batch = load_problems(name, path or None, split=config.split, limit=config.num_seeds or None)
        seeds.extend(batch)
    if not seeds:
        raise ValueError(
            f"{', '.join(p for p in paths if p) or ', '.join(config.dataset)}: no seed problems (empty input)"
        )
    for seed in seeds:
        seed.round, seed.operation = 0, "seed"
    return seeds


def evolve(config: EvolveConfig) -> dict[str, Any]:
    """Run (or resume) every round; returns the stats also written to ``DIR/stats.json``.

    Candidates whose evolver, judge or solver call failed are not written (no verdict on an outage):
    they are counted in ``retry_pending`` and redone by the next run with the same command; later
    rounds wait until a round has none left, so a resumed run builds on the same parents."""
    seeds = load_seeds(config)  # bad or empty seeds fail before the output folder is touched
    with OutputLock(config.output, "evolve"):
        return _evolve(config, seeds)


def _evolve(config: EvolveConfig, seeds_loaded: list[MathProblem]) -> dict[str, Any]:
    out = Path(config.output)
    check_manifest(
        out / "evolve.run.json",
        config.manifest(*config.data_path),
        [out / n for n in ("problems.jsonl", "rejected.jsonl", "stats.json")],
        config.overwrite,
        config.resume,
    )
    engine = Engine(config)
    problems_path, rejected_path, stats_path = (
        engine.out / n for n in ("problems.jsonl", "rejected.jsonl", "stats.json")
    )
    previous = _read_previous_stats(stats_path)
    engine.wall_before = previous.get("wall_seconds", 0.0)
    engine.cost_before = previous.get("cost_usd", 0.0)
    for role, counts in previous.get("tokens", {}).items():
        engine.tokens[role].update(counts)
    engine.backend_stats_before = previous.get("backend_stats", {})
    with (
        JsonlWriter(problems_path) as accepted,
        JsonlWriter(rejected_path) as rejected,
    ):  # cuts torn last lines
        done = _read_written(engine, problems_path, rejected_path)
        seeds = _write_seeds(engine, seeds_loaded, done, accepted, rejected)
        run_coroutine(_run_rounds(engine, seeds, done, accepted, rejected, stats_path))
    stats = write_stats(engine, stats_path)
    for backend in engine.backends().values():
        backend.close()
    print(
        f"evolve: {stats['accepted']} accepted, {stats['rejected']} rejected in "
        f"{stats['wall_seconds']:.1f}s: {problems_path} (rejected.jsonl and stats.json beside it)"
    )
    evolved = sum(c["accepted"] for r, ops in engine.tally.items() if int(r) > 0 for c in ops.values())
    if evolved == 0 and stats["retry_pending"] == 0:
        print(
            "evolve: no evolved problem was accepted: train-irm cannot learn from this folder (the IRM needs "
            "accepted and rejected siblings); use a stronger evolver or PPO without the irm reward"
        )
    return stats


async def _run_rounds(
    engine: Engine,
    seeds: list[MathProblem],
    done: set[str],
    accepted: JsonlWriter,
    rejected: JsonlWriter,
    stats_path: Path,
) -> None:
    """Every round not yet done, in one event loop; each backend releases its resources on the way out."""
    async with AsyncExitStack() as stack:
        for backend in engine.backends().values():
            await stack.enter_async_context(backend)
        for number, weights in enumerate(engine.schedule, start=1):
            if engine.retry:
                logger.warning(
                    "evolve: %d candidates of round %d failed on the backend (%s); rounds from %d on "
                    "wait for the next run",
                    sum(engine.retry.values()),
                    number - 1,
                    dict(engine.retry),
                    number,
                )
                break
            parents = seeds if engine.config.round_parents[number - 1] == "seeds" else engine.kept[number - 1]
            plan = plan_round(
                parents, weights, number, engine.config.fanout[number - 1], engine.config.seed, engine.ops
            )
            order = {c.id: i for i, c in enumerate(plan)}
            todo = [c for c in plan if c.id not in done]
            await _run_round(engine, number, todo, len(plan), accepted, rejected, stats_path)
            engine.kept[number].sort(key=lambda r: order.get(r.id, 0))  # plan order, whichever run wrote them


def _read_previous_stats(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _read_written(engine: Engine, problems_path: Path, rejected_path: Path) -> set[str]:
    """Ids a previous run wrote; their records rebuild the counts, the parents and the dedup index."""
    done: set[str] = set()
    for path, kept in ((problems_path, True), (rejected_path, False)):
        if not path.exists():
            continue
        for _, record in iter_jsonl(
            path, max_bytes=OWN_FILE
        ):  # file order == the order an uninterrupted run wrote them in
            done.add(str(record["id"]))
            engine.note(record, kept)
            if kept:
                engine.dedup.add(str(record["id"]), record["problem"])
    return done


def _write_seeds(
    engine: Engine, seeds: list[MathProblem], done: set[str], accepted: JsonlWriter, rejected: JsonlWriter
) -> list[MathProblem]:
    """Seeds go to problems.jsonl as round 0 (decontaminated too); returns the kept seeds in seed order."""
    for seed in seeds:
        if seed.id in done:
            continue
        record = seed.to_dict()
        reason = engine.contamination.check(seed.problem)
        if reason:
            record = {**record, "reason": "contaminated", "detail": reason}
            rejected.write(record)
            engine.note(record, False)
            continue
        engine.dedup.add(seed.id, seed.problem)
        accepted.write(record)
        engine.note(record, True)
    have = {r.id for r in engine.kept[0]}
    return [s for s in seeds if s.id in have]


async def _run_round(
    engine: Engine,
    number: int,
    todo: list[Candidate],
    total: int,
    accepted: JsonlWriter,
    rejected: JsonlWriter,
    stats_path: Path,
) -> None:
    from tqdm.auto import tqdm

    size = engine.config.chunk_size
    bar = tqdm(
        total=total,
        initial=total - len(todo),
        desc=f"round {number}",
        unit="cand",
        disable=not engine.config.progress,
    )
    kept = 0
    for start in range(0, len(todo), size):
        kept += await engine.arun_chunk(todo[start : start + size], accepted, rejected, bar)
        bar.set_postfix(kept=kept)
        write_stats(engine, stats_path)
    bar.close()
