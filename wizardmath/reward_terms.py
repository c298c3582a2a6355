"""The built-in reward terms (``verifier``, ``format``, ``arithmetic``, ``irm``, ``prm``, ``random``)
and the ``arithmetic`` step reward, each a plain callable with TRL's reward-function contract
(``wizardmath.rewards`` registers them by name and combines them)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

from wizardmath.data.degenerate import is_repetition_loop


def completion_text(completion: Any) -> str:
    """TRL passes plain strings, or message lists for conversational data: take the last content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def format_reward(completions: list[Any], **_: Any) -> list[float | None]:
    """1.0 when the response ends its reasoning with "The answer is: X" (X non-empty), else 0.0."""
    import re

    pattern = re.compile(r"The answer is:[ \t]*\S")
    return [1.0 if pattern.search(completion_text(c)) else 0.0 for c in completions]


class RandomReward:
    """0 or 1 at random, blind to the response: RL on it must not gain (the control of a PPO result)."""

    def __init__(self, seed: int = 0):
        import random

        self.rng = random.Random(f"random-reward-{seed}")

    def __call__(self, completions: list[Any], **_: Any) -> list[float | None]:
        return [float(self.rng.random() < 0.5) for _ in completions]


class VerifierReward:
    """Correctness against the gold ``answer`` column; sympy runs in killable sandbox workers.

    A repetition loop (``wizardmath.data.degenerate``) scores 0 even when it holds the right number,
    so a policy cannot farm the reward by looping a guess until the length limit."""

    __name__ = "verifier"

    def __init__(self, workers: int = 1, timeout: float = 10.0):
        self.workers, self.timeout = workers, timeout

    def __call__(
        self, completions: list[Any], answer: Sequence[Any] | None = None, **_: Any
    ) -> list[float | None]:
        from wizardmath.verify import verify_batch

        if answer is None:
            return [None] * len(completions)
        known = [i for i, gold in enumerate(answer) if gold not in (None, "")]
        pairs = [(str(answer[i]), completion_text(completions[i])) for i in known]
        verdicts = verify_batch(pairs, workers=self.workers, timeout=self.timeout) if pairs else []
        out: list[float | None] = [None] * len(completions)
        for i, ok in zip(known, verdicts, strict=True):
            out[i] = 1.0 if ok and not is_repetition_loop(completion_text(completions[i])) else 0.0
        return out


def _problems(n: int, problem: Sequence[str] | None, prompts: Sequence[Any] | None) -> list[str]:
    source = problem if problem is not None else prompts
    if source is None:
        raise ValueError("this reward needs a 'problem' (or 'prompts') column")
    return [completion_text(p) for p in source][:n]


def load_reward_model(kind: str, path: str) -> Any:
    """``reward_models``' IRM or PRM class, imported on use (reward models need torch)."""
    module, cls = {
        "irm": ("reward_models.irm", "InstructionRewardModel"),
        "prm": ("reward_models.prm", "ProcessRewardModel"),
    }[kind]
    return getattr(importlib.import_module(module), cls).from_pretrained(path)


class IRMReward:
    """sigmoid(IRM score) of each completion's problem; problems repeat (n samples), so scores are cached."""

    __name__ = "irm"

    def __init__(self, model: Any):
        self.model, self.cache = model, {}

    def __call__(self, completions: list[Any], problem=None, prompts=None, **_: Any) -> list[float | None]:
        texts = _problems(len(completions), problem, prompts)
        new = sorted({t for t in texts if t not in self.cache})
        if new:
            for text, score in zip(new, self.model.score(new), strict=True):
                self.cache[text] = 1 / (1 + math.exp(-float(score)))
        return [self.cache[t] for t in texts]


class PRMReward:
    """The PRM's step scores of the solution, aggregated (``min`` in the paper); no steps -> 0.

    Scoring is ``reward_models``' batched ``ProcessRewardModel.score_solutions`` (steps split,
    scored and aggregated there, as for best-of-K reranking), so a reward and a rerank agree.
    """

    __name__ = "prm"

    def __init__(self, model: Any, aggregate: str = "min"):
        self.model, self.aggregate = model, aggregate

    def __call__(self, completions: list[Any], problem=None, prompts=None, **_: Any) -> list[float | None]:
        texts = _problems(len(completions), problem, prompts)
        solutions = [completion_text(c) for c in completions]
        return [float(s) for s in self.model.score_solutions(texts, solutions, aggregate=self.aggregate)]


def _claims(completion: Any) -> list[Any]:
    from wizardmath.verify import check_steps

    try:
        return [c for step in check_steps(completion_text(completion)) for c in step.claims]
    except Exception:  # noqa: BLE001 (unreadable text makes no claims; a reward must not raise)
        return []


def arithmetic_reward(completions: list[Any], **_: Any) -> list[float | None]:
    """Share of the checkable arithmetic claims that hold; None for a response with none.

    ``check_steps`` does exact rational arithmetic under size limits (no sympy, no eval), so it is
    safe on untrusted text and needs no worker process.
    """
    out: list[float | None] = []
    for completion in completions:
        checked = [c.verdict for c in _claims(completion) if c.verdict in ("correct", "wrong")]
        out.append(checked.count("correct") / len(checked) if checked else None)
    return out


StepEvents = list[tuple[int, float]]  # (character offset into the response, reward there)


def arithmetic_step_rewards(completions: list[Any], **_: Any) -> list[StepEvents]:
    """-1 at the last character of each arithmetic claim the verifier finds false
    (see ``arithmetic_reward``)."""
    return [
        [(c.end, -1.0) for c in _claims(completion) if c.verdict == "wrong"] for completion in completions
    ]
