"""The Math Evol-Instruct engine: rounds of evolution, the eliminator, and crash-safe resume.

Flow of one round (``EvolveConfig.rounds[r]``):

1. parents: the seeds, or the previous round's accepted problems (``round_parents``);
2. candidates: ``fanout`` per parent, candidate ``k`` gets an operation drawn with its own seeded
   RNG (seed, parent id, round, k) and the id ``<parent_id>/r<round>-<operation>-<k>``;
3. each candidate is generated (one prompt per parent and operation, ``n`` = siblings sharing it),
   cleaned, put through the rules, the contamination and near-duplicate checks, the "equal"
   judge and the solver's agreement check (see ``eliminator``), and written to
   ``problems.jsonl`` or, with its reason, to ``rejected.jsonl``.

Resume: ids already in either file are skipped and the near-duplicate index is rebuilt from
``problems.jsonl`` in file order; since every choice is seeded per candidate and the symbolic
backend is seeded per (prompt, sample), a run killed at any moment and restarted with the same
command ends with the same ids as an uninterrupted one.

One driver (``Engine.arun_chunk``) serves every backend: each check is one ``agenerate`` call over
the chunk (sync backends run ``generate`` in a worker thread, async ones stream results as they
arrive), and candidates are written in plan order, each as soon as it and every candidate planned
before it have a verdict. So the near-duplicate index grows in plan order and which of two
near-duplicates is kept never depends on timing; the cheap first near-duplicate check looks only at
problems accepted before the chunk, as the last check before writing sees the rest. The run holds
one event loop and leaves each backend's resources to the backend (``async with backend``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter, defaultdict
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from wizardmath.backends.base import Backend, Generation, SamplingParams, run_coroutine
from wizardmath.data.records import MathProblem
from wizardmath.data.templates import build_prompt, template_for_backend
from wizardmath.evol import eliminator as E
from wizardmath.evol.candidates import (
    Candidate,
    InPlanOrder,
    needed_samples,
    plan_round,
    prompt_groups,
)
from wizardmath.evol.config import EvolveConfig, build_backend
from wizardmath.evol.dedup import NearDuplicateIndex, contamination_index
from wizardmath.evol.operations import (
    clean_output,
    load_operations,
    parse_equal,
    parse_round,
    render_equal,
)
from wizardmath.jsonl import OWN_FILE, JsonlWriter, iter_jsonl, write_json
from wizardmath.runstate import OutputLock, check_manifest, merge_counts

logger = logging.getLogger(__name__)


class Engine:
    """State of one ``evolve`` run: backends, indexes, writers, counters."""

    def __init__(self, config: EvolveConfig):
        c = config
        self.config = c
        self.ops = load_operations(c.prompt_dir or None)
        self.schedule = [parse_round(spec, self.ops) for spec in c.rounds]
        self.evolver = build_backend(c.backend, c.model, c.base_url, c.backend_args, c.seed)
        self.judge = self._other(c.judge_backend, c.judge_model)
        self.solver = self._other(c.solver_backend, c.solver_model)
        self.solver_template = template_for_backend(c.solver_template, self.solver)
        self.out = Path(c.output)
        self.out.mkdir(parents=True, exist_ok=True)
        self.dedup = NearDuplicateIndex(c.dedup_threshold)
        self.contamination = contamination_index(c.decontaminate, c.decontam_ngram, c.decontam_threshold)
        self.tokens: dict[str, Counter[str]] = defaultdict(Counter)
        self.started = time.time()
        self.wall_before = 0.0
        self.tally: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.kept: dict[int, list[MathProblem]] = defaultdict(list)  # accepted, by round, in write order
        self.cost_before = 0.0
        self.backend_stats_before: dict[str, Any] = {}
        self.retry: Counter[str] = Counter()  # candidates left for the next run, by the role that failed

    def _other(self, name: str, model: str) -> Backend:
        c = self.config
        if not name and not model:
            return self.evolver
        same = not name or name == c.backend
        return build_backend(
            name or c.backend,
            model or c.model,
            c.base_url if same else "",
            c.backend_args if same else [],
            c.seed,
        )

    def note(self, record: dict[str, Any], kept: bool) -> None:
        """Count a written record for stats.json; remember accepted ones as next rounds' parents."""
        cell = self.tally[str(record.get("round") or 0)][record.get("operation") or "seed"]
        cell["accepted" if kept else "rejected"] += 1
        if kept:
            self.kept[record.get("round") or 0].append(MathProblem.from_dict(record))
        else:
            cell[f"reason:{record.get('reason')}"] += 1

    def backends(self) -> dict[str, Backend]:
        """The distinct backends by role (one object may play several roles)."""
        out: dict[str, Backend] = {}
        for role, backend in (("evolver", self.evolver), ("judge", self.judge), ("solver", self.solver)):
            if all(backend is not b for b in out.values()):
                out[role] = backend
        return out

    @property
    def label(self) -> str:
        return f"{self.config.backend}:{self.config.model}" if self.config.model else self.config.backend

    def count(self, role: str, gens: list[Generation]) -> None:
        for g in gens:
            self.tokens[role]["prompt_tokens"] += g.prompt_tokens
            self.tokens[role]["completion_tokens"] += g.completion_tokens
            self.tokens[role]["requests"] += 1
            self.tokens[role]["errors"] += g.error is not None

    # --------------------------------------------------------------- per-candidate checks

    def after_generation(self, cand: Candidate, gen: Generation, known: int) -> None:
        """Rules, contamination and a first near-duplicate check against the ``known`` problems accepted
        before this chunk (cheap, before any further call; the rest are checked just before writing)."""
        cand.meta = {k: v for k, v in gen.meta.items() if k != "cost"}
        if gen.error:
            cand.defer("evolver", gen.error)
            return
        cand.text = clean_output(gen.text)
        verdict = E.rule_reason(cand.text, cand.parent.problem)
        if verdict:
            cand.reject(*verdict)
            return
        contaminated = self.contamination.check(cand.text)
        if contaminated:
            cand.reject("contaminated", contaminated)
            return
        self.check_duplicate(cand, known)

    def check_duplicate(self, cand: Candidate, known: int | None = None) -> None:
        other = self.dedup.find(cand.text, known)
        if other is not None:
            cand.reject("near_duplicate", f"of {other}")

    def judge_prompt(self, cand: Candidate) -> str:
        return render_equal(self.ops, cand.parent.problem, cand.text)

    def after_judge(self, cand: Candidate, gen: Generation) -> None:
        if gen.error:
            cand.defer("judge", gen.error)
            return
        verdict = parse_equal(gen.text)
        cand.meta["judge"] = {True: "equal", False: "not_equal", None: "unclear"}[verdict]
        if verdict:
            cand.reject("no_information_gain", "the judge found it equal to its parent")

    def solve_prompt(self, cand: Candidate) -> Any:
        return build_prompt(cand.text, self.solver_template)

    def after_solve(self, cand: Candidate, gens: list[Generation]) -> None:
        failed = [g.error for g in gens if g.error]
        if failed:  # agreement over fewer samples than asked would be a verdict on the outage
            cand.defer("solver", failed[0])
            return
        replies = [g.text for g in gens]
        vote = E.agreement(replies) if replies else E.Agreement(None, 0.0, [], [])
        vote.share = len(vote.members) / max(1, len(gens))
        cand.meta["agreement"] = round(vote.share, 3)
        cand.meta["solver_answers"] = vote.answers
        if vote.answer is None or vote.share < self.config.agreement_threshold:
            cand.reject("unsolvable", f"solver answers agree {len(vote.members)}/{len(gens)}: {vote.answers}")
            return
        cand.answer, cand.solution = vote.answer, replies[vote.members[0]]

    def finish(self, cand: Candidate, accepted: JsonlWriter, rejected: JsonlWriter) -> bool:
        """The last check (near-duplicates accepted meanwhile) and the one write of this candidate."""
        if cand.retry is not None:
            self.retry[cand.retry.split(":", 1)[0]] += 1
            return False
        if cand.reason is None:
            self.check_duplicate(cand)
        record = {
            "id": cand.id,
            "problem": cand.text,
            "answer": cand.answer,
            "solution": cand.solution,
            "source": "evol",
            "parent_id": cand.parent.id,
            "round": cand.round,
            "operation": cand.operation,
            "backend": self.label,
            "meta": cand.meta,
        }
        record = {k: v for k, v in record.items() if v is not None and v != {}}  # as MathProblem.to_dict
        if cand.reason is None:
            self.dedup.add(cand.id, cand.text)
            accepted.write(record)
            self.note(record, True)
            return True
        record = {**record, "reason": cand.reason, "detail": cand.detail}
        rejected.write(record)
        self.note(record, False)
        return False

    # --------------------------------------------------------------- drivers

    def sampling(self, role: str, n: int = 1) -> SamplingParams:
        c = self.config
        if role == "evolve":
            return SamplingParams(
                temperature=c.temperature, max_new_tokens=c.max_new_tokens, n=n, seed=c.seed
            )
        if role == "judge":
            return SamplingParams(temperature=0.0, max_new_tokens=8, n=1, seed=c.seed)
        return SamplingParams(
            temperature=c.solver_temperature, max_new_tokens=c.solver_max_new_tokens, n=n, seed=c.seed
        )

    async def arun_chunk(
        self, chunk: list[Candidate], accepted: JsonlWriter, rejected: JsonlWriter, bar=None
    ) -> int:
        """Evolve -> judge -> solve a chunk, one ``agenerate`` per check over it; returns how many were kept.

        Candidates are written in plan order, each as soon as it and those planned before it are done."""
        writer = InPlanOrder(chunk, lambda cand: self.finish(cand, accepted, rejected), bar)
        known = len(self.dedup)
        for group in prompt_groups(chunk):  # groups differ in n; one call each

            def on_evolved(index: int, outs: list[Generation], group=group) -> None:
                self.count("evolve", outs[: len(group[index])])
                for cand in group[index]:
                    self.after_generation(cand, outs[cand.sample], known)
                    if not cand.open:
                        writer.done(cand)

            await self.evolver.agenerate(
                [g[0].prompt for g in group], self.sampling("evolve", needed_samples(group)), on_evolved
            )
        live = [c for c in chunk if c.open]
        if live and self.config.equal_judge:

            def on_judged(index: int, outs: list[Generation]) -> None:
                self.count("judge", outs)
                self.after_judge(live[index], outs[0])
                if not live[index].open:
                    writer.done(live[index])

            await self.judge.agenerate(
                [self.judge_prompt(c) for c in live], self.sampling("judge"), on_judged
            )
            live = [c for c in live if c.open]
        if live and self.config.solver_samples:

            def on_solved(index: int, outs: list[Generation]) -> None:
                self.count("solve", outs)
                self.after_solve(live[index], outs)
                writer.done(live[index])

            sampling = self.sampling("solve", self.config.solver_samples)
            await self.solver.agenerate([self.solve_prompt(c) for c in live], sampling, on_solved)
        else:
            for cand in live:
                writer.done(cand)
        return writer.kept


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
            "accepted and rejected siblings); use a stronger evolver or PPO without the irm reward",
            file=sys.stderr,
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
