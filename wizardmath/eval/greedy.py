"""The greedy accuracy the trainers report before and after (PPO's and GRPO's held-out figure, the same
number ``wizardmath eval`` gives for greedy decoding).

It decodes with ``wizardmath.backends.rollout.generate_hf``, the function PPO samples its rollouts
with, so both read one ``Rollout``: prompts left-padded, responses cut after their first EOS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from wizardmath.backends.rollout import generate_hf


@torch.no_grad()
def greedy_accuracy(
    policy,
    tokenizer,
    problems: Sequence[Any],
    template: str = "wizardmath",
    max_new_tokens: int = 256,
    max_prompt_length: int = 1024,
    batch: int = 64,
    gather: Callable[[], AbstractContextManager] = nullcontext,
) -> float:
    """Greedy accuracy on held-out problems (NaN without any); ``gather`` wraps each ``generate``
    (DeepSpeed ZeRO-3 gathers the sharded weights there)."""
    from wizardmath.data import format_prompt
    from wizardmath.verify import verify_batch

    if not problems:
        return float("nan")
    was_training, correct = policy.training, 0
    policy.eval()
    for i in range(0, len(problems), batch):
        chunk = problems[i : i + batch]
        prompts = [format_prompt(p.problem, template, tokenizer) for p in chunk]
        with gather():
            texts = generate_hf(policy, tokenizer, prompts, max_prompt_length, max_new_tokens, seed=0).texts
        pairs = [(p.answer or "", t) for p, t in zip(chunk, texts, strict=True)]
        correct += sum(verify_batch(pairs, workers=1))
    policy.train(was_training)
    return correct / len(problems)
