"""A generative step checker: a verifier that computes the world's arithmetic better than the policy.

Why it exists. In the tiny world almost every wrong solution goes wrong at an arithmetic slip that the
policy itself believes (``9 + 3 = 10``). A PRM started from the policy inherits those beliefs, and
a classification head does not learn to recompute: on 150,000 isolated ``a op b = c`` drills (half of
them slipped) its loss stayed at 0.69, and teacher slips mixed into the PRM data did not help either
(README). What a verifier needs is a *checking edge*: a larger model, or one trained longer on the
checks themselves (Cobbe et al. 2021; Math-Shepherd). Here it is the second. A causal LM of the same
tiny size is trained generatively (``wizardmath train-checker`` in ``wizardmath.train.checker``: SFT
with a completion-only loss) on every arithmetic fact the world can write, ``prompt "16 + 4 ="`` ->
``completion " 20."``. It learns them to ~98% in about 5 minutes of CPU. A step's score is then the
checker's probability of the results the step claims.

    score(step) = prod over claims "a op b = c" in the step of P_checker(" c." | "a op b =")

A step with no claim scores 1; a solution aggregates its steps (``min`` by default, like the PRM).
The checker reads only the claims, so it cannot see a wrong number copied from the problem; those
are ~10% of first wrong steps in the tiny world. In a real setting the same role is played by a
larger verifier that learned arithmetic in pre-training. No library offers this scorer, hence our
own code: it is a PRM-style ``score_solutions`` over a plain ``AutoModelForCausalLM``.

Model outputs are untrusted: claims are found by one bounded regex (numbers of at most 6 digits, at
most ``MAX_CLAIMS`` per step), never evaluated, and only scored by the model.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from reward_models.common import default_device, ensure_pad_token, split_solution
from reward_models.stepwise import AGGREGATES
from wizardmath.jsonl import write_jsonl

CLAIM = re.compile(r"(?<![\d.])(\d{1,6}) ([-+*/]) (\d{1,6}) = (\d{1,6})(?![\d.]\d)")
MAX_CLAIMS = 16  # per step; a step that claims more is scored on its first 16


def arithmetic_facts(max_value: int = 99) -> Iterator[tuple[int, str, int, int]]:
    """Every ``(a, op, b, c)`` with ``a op b = c`` and all of a, b, c in ``0..max_value`` (exact
    division only): the arithmetic the symbolic world's solutions can contain."""
    for a in range(max_value + 1):
        for b in range(max_value + 1):
            if a + b <= max_value:
                yield a, "+", b, a + b
            if b <= a:
                yield a, "-", b, a - b
            if a * b <= max_value:
                yield a, "*", b, a * b
            if b and a % b == 0:
                yield a, "/", b, a // b


def claim_prompt(a: int | str, op: str, b: int | str) -> str:
    return f"{a} {op} {b} ="


def claim_completion(c: int | str) -> str:
    return f" {c}."


def write_facts(path: str | Path, max_value: int = 99) -> int:
    """The checker's training data, one prompt/completion record per fact, written atomically (a
    crash never leaves half a data set). Returns the count."""
    records = (
        {"prompt": claim_prompt(a, op, b), "completion": claim_completion(c)}
        for a, op, b, c in arithmetic_facts(max_value)
    )
    return write_jsonl(path, records)


def step_claims(step: str) -> list[tuple[str, str, str, str]]:
    """The ``a op b = c`` claims of one step, at most ``MAX_CLAIMS``."""
    return [m.groups() for m in itertools.islice(CLAIM.finditer(step), MAX_CLAIMS)]


# ------------------------------------------------------------------------------------------- scoring


class StepChecker:
    """``score_solutions`` like ``ProcessRewardModel``'s, from a checker LM (see the module docstring)."""

    def __init__(self, model: Any, tokenizer: Any, device: str | None = None, batch_size: int = 256):
        self.device = default_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        ensure_pad_token(tokenizer)
        self.batch_size = batch_size
        self._cache: dict[tuple[str, str, str, str], float] = {}

    @classmethod
    def from_pretrained(cls, path: str, device: str | None = None) -> StepChecker:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        return cls(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path), device)

    def claim_logprobs(self, claims: Sequence[tuple[str, str, str, str]]) -> list[float]:
        """log P(" c." | "a op b =") for each claim (cached: a world repeats its facts)."""
        todo = sorted({c for c in claims if c not in self._cache})
        for begin in range(0, len(todo), self.batch_size):
            chunk = todo[begin : begin + self.batch_size]
            self._cache.update(zip(chunk, self._score(chunk), strict=True))
        return [self._cache[c] for c in claims]

    def _score(self, claims: Sequence[tuple[str, str, str, str]]) -> list[float]:
        import torch

        rows = []
        for a, op, b, c in claims:
            prompt = self.tokenizer(claim_prompt(a, op, b))["input_ids"]
            full = self.tokenizer(claim_prompt(a, op, b) + claim_completion(c))["input_ids"]
            rows.append((full, len(prompt)))
        width = max(len(ids) for ids, _ in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in rows], device=self.device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows], device=self.device)
        with torch.no_grad():
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        return [float(logprobs[i, start - 1 : len(r) - 1].sum()) for i, (r, start) in enumerate(rows)]

    def score_steps(self, problem: str, steps: Sequence[str]) -> list[float]:
        """P(every claim of the step is right) per step, in [0, 1]; ``problem`` is not read."""
        claims = [step_claims(s) for s in steps]
        flat = self.claim_logprobs([c for step in claims for c in step])
        scores, at = [], 0
        for step in claims:
            scores.append(math.exp(sum(flat[at : at + len(step)])))
            at += len(step)
        return scores

    def score_solutions(
        self, problems: Sequence[str], solutions: Sequence[str], aggregate: str = "min"
    ) -> list[float]:
        """One score per (problem, solution), as ``ProcessRewardModel.score_solutions`` gives."""
        if aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate '{aggregate}'; valid: {', '.join(AGGREGATES)}")
        out = []
        for problem, solution in zip(problems, solutions, strict=True):
            steps = split_solution(solution)
            out.append(float(AGGREGATES[aggregate](self.score_steps(problem, steps))) if steps else 0.0)
        return out
