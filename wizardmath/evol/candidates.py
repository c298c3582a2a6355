"""Evolution candidates: what one attempt is, how a round plans them, and the order they are written in.

Split from ``engine`` (which runs the checks and the rounds) because these are the timing-independent parts
of a round: ids, operations and sibling indexes come from seeds alone (``plan_round``), prompts are grouped
for one backend call per ``n`` (``prompt_groups``), and ``InPlanOrder`` turns verdicts arriving in any
order back into plan order, which keeps ``problems.jsonl`` byte-identical across backends and resumes.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wizardmath.data.records import MathProblem
from wizardmath.evol.operations import Operation


@dataclass
class Candidate:
    """One evolution attempt and what the checks found out about it."""

    id: str
    parent: MathProblem
    round: int
    operation: str
    prompt: str
    sample: int  # index among the siblings that share ``prompt``
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    detail: str = ""
    retry: str | None = None  # a backend, judge or solver failure: no verdict, redone by the next run
    answer: str | None = None
    solution: str | None = None

    def reject(self, reason: str, detail: str) -> None:
        if self.reason is None and self.retry is None:
            self.reason, self.detail = reason, detail

    def defer(self, role: str, error: str) -> None:
        if self.reason is None and self.retry is None:
            self.retry = f"{role}: {error}"

    @property
    def open(self) -> bool:
        return self.reason is None and self.retry is None


def plan_round(
    parents: list[MathProblem],
    weights: list[tuple[str, float]],
    round: int,
    fanout: int,
    seed: int,
    ops: dict[str, Operation],
) -> list[Candidate]:
    """Every candidate of a round, in a fixed order, with ids and operations that never depend on timing."""
    names, values = [n for n, _ in weights], [w for _, w in weights]
    siblings: Counter[tuple[str, str]] = Counter()
    out = []
    for parent in parents:
        for k in range(fanout):
            op = random.Random(f"{seed}|{parent.id}|{round}|{k}").choices(names, values)[0]
            sample = siblings[(parent.id, op)]
            siblings[(parent.id, op)] += 1
            out.append(
                Candidate(
                    f"{parent.id}/r{round}-{op}-{k}",
                    parent,
                    round,
                    op,
                    ops[op].render(parent.problem),
                    sample,
                )
            )
    return out


class InPlanOrder:
    """Hands candidates to ``finish`` in chunk (plan) order as their verdicts arrive in any order."""

    def __init__(self, chunk: list[Candidate], finish: Callable[[Candidate], bool], bar=None):
        self.chunk, self.finish, self.bar = chunk, finish, bar
        self.position = {id(cand): i for i, cand in enumerate(chunk)}
        self.ready: set[int] = set()
        self.next = 0
        self.kept = 0

    def done(self, cand: Candidate) -> None:
        self.ready.add(self.position[id(cand)])
        while self.next in self.ready:
            self.ready.discard(self.next)
            self.kept += self.finish(self.chunk[self.next])
            self.next += 1
            if self.bar is not None:
                self.bar.update(1)


def prompt_groups(chunk: list[Candidate]) -> list[list[list[Candidate]]]:
    """Candidates sharing a prompt, grouped; then groups needing the same ``n`` batched together."""
    by_prompt: dict[str, list[Candidate]] = {}
    for cand in chunk:
        by_prompt.setdefault(cand.prompt, []).append(cand)
    by_n: dict[int, list[list[Candidate]]] = defaultdict(list)
    for cands in by_prompt.values():
        by_n[max(c.sample for c in cands) + 1].append(cands)
    return [by_n[n] for n in sorted(by_n)]


def needed_samples(group: list[list[Candidate]]) -> int:
    return max(c.sample for cands in group for c in cands) + 1
