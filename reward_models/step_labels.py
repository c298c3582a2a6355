"""The step labellers behind ``wizardmath label-prm`` (``reward_models.labelers``, the command).

Split from ``labelers.py`` so the labelling rules (rule, Monte-Carlo, judge), the record types they
fill and the agreement filter read on their own, apart from the command's config, readers and writer.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardmath.backends import Backend, SamplingParams
from wizardmath.data import chat_messages, format_prompt

PROMPTS = Path(__file__).parent / "prompts"  # judge rubrics: data, not code

Labels = list[bool | None]


@dataclass
class Solution:
    """One solution to label: its problem, gold answer and steps (as ``split_steps`` cuts them)."""

    id: str
    problem: str
    answer: str | None
    steps: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.steps)


@dataclass
class StepLabels:
    labels: Labels
    soft: list[float | None] | None = None
    backend_error: str | None = (
        None  # a failed rollout or judge call: no labels, the record is redone next run
    )


def prefix_closed(labels: Labels) -> Labels:
    """Once a step is wrong, every later step is wrong: the solution has left the correct path."""
    out: Labels = []
    wrong = False
    for label in labels:
        wrong = wrong or label is False
        out.append(False if wrong else label)
    return out


class Labeler(ABC):
    """Labels the steps of many solutions at once (batching is the labeller's business)."""

    name = "labeler"

    @abstractmethod
    def label(self, solutions: Sequence[Solution]) -> list[StepLabels]: ...


# ------------------------------------------------------------------------------------------- rule


def rule_labels(verdicts: Sequence[str], final_correct: bool | None) -> Labels:
    """Labels from per-step arithmetic verdicts (correct/wrong/unknown) and the final answer
    (``None`` when there is no gold answer)."""
    n = len(verdicts)
    first_wrong = next((i for i, v in enumerate(verdicts) if v == "wrong"), None)
    if first_wrong is not None:
        return [i < first_wrong for i in range(n)]
    if final_correct is None:
        return [None] * n
    if final_correct:
        return [True] * n
    return [None] * (n - 1) + [False]  # wrong answer, error not located


class RuleLabeler(Labeler):
    name = "rule"

    def label(self, solutions: Sequence[Solution]) -> list[StepLabels]:
        from wizardmath.verify import check_steps, verify

        out = []
        for s in solutions:
            verdicts = [v.verdict for v in check_steps(s.text)]
            if len(verdicts) != len(s.steps):  # the verifier cut the text differently: trust the answer only
                verdicts = ["unknown"] * len(s.steps)
            final = verify(s.answer, s.text) if s.answer is not None else None
            out.append(StepLabels(rule_labels(verdicts, final)))
        return out


# ------------------------------------------------------------------------------------- Monte Carlo


def prompt_text(backend: Backend, problem: str, template: str) -> str:
    """The prompt as text, so a step prefix can be appended: chat goes through the backend's tokenizer."""
    if template != "chat":
        return format_prompt(problem, template)
    if hasattr(backend, "render"):  # transformers backend
        return backend.render(chat_messages(problem))
    if hasattr(backend, "llm"):  # vLLM
        return format_prompt(problem, "chat", backend.llm.get_tokenizer())
    raise ValueError(
        "mc labels with template 'chat' continue a rendered chat prompt: use the transformers or vllm backend"
    )


class MonteCarloLabeler(Labeler):
    """Math-Shepherd's completion labelling: roll the policy out from every step prefix."""

    name = "mc"

    def __init__(
        self,
        backend: Backend,
        rollouts: int = 8,
        temperature: float = 0.8,
        max_new_tokens: int = 256,
        hard: str = "any",
        template: str = "wizardmath",
        completion_prefix: str = " ",
        seed: int = 0,
        chunk: int = 256,
        progress: bool = True,
    ):
        if hard not in ("any", "majority"):
            raise ValueError(f"mc hard label rule must be 'any' or 'majority', got {hard!r}")
        self.backend, self.rollouts, self.hard = backend, rollouts, hard
        self.sampling = SamplingParams(
            temperature=temperature, max_new_tokens=max_new_tokens, n=rollouts, seed=seed
        )
        self.template, self.prefix, self.chunk, self.progress = template, completion_prefix, chunk, progress

    def _prefix(self, s: Solution, upto: int) -> str:
        return self.prefix + "\n".join(s.steps[: upto + 1]) + "\n"

    def label(self, solutions: Sequence[Solution]) -> list[StepLabels]:
        from tqdm.auto import tqdm

        from wizardmath.verify import verify

        jobs = [
            (si, i) for si, s in enumerate(solutions) for i in range(len(s.steps) - 1) if s.answer is not None
        ]
        soft: list[list[float | None]] = [[None] * len(s.steps) for s in solutions]
        errors: dict[int, str] = {}
        bar = tqdm(total=len(jobs), desc="mc rollouts", unit="prefix", disable=not self.progress)
        for begin in range(0, len(jobs), self.chunk):
            batch = jobs[begin : begin + self.chunk]
            prompts = [
                prompt_text(self.backend, solutions[si].problem, self.template)
                + self._prefix(solutions[si], i)
                for si, i in batch
            ]
            results = self.backend.generate(prompts, self.sampling)
            for (si, i), gens in zip(batch, results, strict=True):
                s = solutions[si]
                failed = next((g.error for g in gens if g.error is not None), None)
                if failed is not None:
                    errors.setdefault(si, failed)
                hits = [verify(s.answer, self._prefix(s, i) + g.text) for g in gens if g.error is None]
                soft[si][i] = sum(hits) / len(hits) if hits else None
            bar.update(len(batch))
        bar.close()
        out = []
        for si, (s, values) in enumerate(zip(solutions, soft, strict=True)):
            if s.answer is not None and s.steps:  # the last step holds the answer line: no rollout needed
                values[-1] = 1.0 if verify(s.answer, s.text) else 0.0
            hard = [None if v is None else (v > 0 if self.hard == "any" else v >= 0.5) for v in values]
            out.append(StepLabels(prefix_closed(hard), values, errors.get(si)))
        return out


# ------------------------------------------------------------------------------------------ judge

_JUDGE_LINE = re.compile(r"(?im)^\W*step\s*(\d+)\W*?(correct|right|good|wrong|incorrect|bad|[+-](?=\s*$))")


def parse_judge(text: str, num_steps: int) -> Labels:
    """Per-step verdicts from a judge's reply; steps it did not rate get ``None``."""
    labels: Labels = [None] * num_steps
    for number, word in _JUDGE_LINE.findall(text):
        k = int(number) - 1
        if 0 <= k < num_steps and labels[k] is None:
            labels[k] = word.lower() in ("correct", "right", "good", "+")
    return labels


class JudgeLabeler(Labeler):
    name = "judge"

    def __init__(self, backend: Backend, max_new_tokens: int = 512, prompt_file: str | None = None):
        self.backend = backend
        self.template = (
            Path(prompt_file).read_text() if prompt_file else (PROMPTS / "prm_judge.txt").read_text()
        )
        self.sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)

    def label(self, solutions: Sequence[Solution]) -> list[StepLabels]:
        prompts = [
            [
                {
                    "role": "user",
                    "content": self.template.format(
                        problem=s.problem, solution=s.text, num_steps=len(s.steps)
                    ),
                }
            ]
            for s in solutions
        ]
        out = []
        for s, gens in zip(solutions, self.backend.generate(prompts, self.sampling), strict=True):
            if not gens or gens[0].error is not None:
                out.append(
                    StepLabels([None] * len(s.steps), backend_error=gens[0].error if gens else "no reply")
                )
                continue
            out.append(StepLabels(prefix_closed(parse_judge(gens[0].text, len(s.steps)))))
        return out


# ---------------------------------------------------------------------------------------- agreement


def agreement(a: Sequence[StepLabels], b: Sequence[StepLabels]) -> tuple[int, int]:
    """(steps where both labellers agree, steps where both gave a label)."""
    agree = total = 0
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x.labels, y.labels, strict=True):
            if u is not None and v is not None:
                total += 1
                agree += u == v
    return agree, total


def agreeing_prefix(a: StepLabels, b: StepLabels) -> int:
    """How many leading steps both labellers label, and label the same."""
    n = 0
    for u, v in zip(a.labels, b.labels, strict=True):
        if u is None or v is None or u != v:
            break
        n += 1
    return n
