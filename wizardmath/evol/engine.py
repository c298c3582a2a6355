"""The Math Evol-Instruct engine: a round's candidates through generation and the eliminator
(``wizardmath.evol.rounds.evolve`` runs the rounds, resumes and writes the stats).

Flow of one round (``EvolveConfig.rounds[r]``):

1. parents: the seeds, or the previous round's accepted problems (``round_parents``);
2. candidates: ``fanout`` per parent, candidate ``k`` gets an operation drawn with its own seeded
   RNG (seed, parent id, round, k) and the id ``<parent_id>/r<round>-<operation>-<k>``;
3. each candidate is generated (one prompt per parent and operation, ``n`` = siblings sharing it),
   cleaned, put through the rules, the contamination and near-duplicate checks, the "equal"
   judge and the solver's agreement check (see ``eliminator``), and written to
   ``problems.jsonl`` or, with its reason, to ``rejected.jsonl``.

One driver (``Engine.arun_chunk``) serves every backend: each check is one ``agenerate`` call over
the chunk (sync backends run ``generate`` in a worker thread, async ones stream results as they
arrive), and candidates are written in plan order, each as soon as it and every candidate planned
before it have a verdict. So the near-duplicate index grows in plan order and which of two
near-duplicates is kept never depends on timing; the cheap first near-duplicate check looks only at
problems accepted before the chunk, as the last check before writing sees the rest. The run holds
one event loop and leaves each backend's resources to the backend (``async with backend``).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from wizardmath.backends.base import Backend, Generation, SamplingParams
from wizardmath.data.records import MathProblem
from wizardmath.data.templates import build_prompt, template_for_backend
from wizardmath.evol import eliminator as E
from wizardmath.evol.candidates import (
    Candidate,
    InPlanOrder,
    needed_samples,
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
from wizardmath.jsonl import JsonlWriter


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
