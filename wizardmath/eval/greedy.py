"""Batched ``generate`` with a local HF model, and the greedy accuracy the trainers report before and after.

``generate_hf`` is what PPO samples its rollouts with and what ``greedy_accuracy`` (PPO's and GRPO's
held-out figure, the same number ``wizardmath eval`` gives for greedy decoding) decodes with, so both
read one ``Rollout``: prompts left-padded, responses cut after their first EOS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Rollout:
    """One batch of prompts and sampled responses; tensors ``(batch, prompt_len)`` / ``(batch, T)``."""

    query: torch.Tensor
    query_mask: torch.Tensor
    response: torch.Tensor
    mask: torch.Tensor  # 1 up to and including the first EOS
    texts: list[str]
    truncated: torch.Tensor  # (batch,) no EOS within max_new_tokens


def response_mask(response: torch.Tensor, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask of real response tokens (through the first EOS) and whether each row never ended."""
    is_eos = response == eos_id
    before_end = (is_eos.cumsum(-1) - is_eos.long()) == 0
    return before_end.float(), ~is_eos.any(-1)


def decode_rollout(
    tokenizer, query: torch.Tensor, query_mask: torch.Tensor, response: torch.Tensor
) -> Rollout:
    """A ``Rollout`` from generated ids: tokens after the first EOS become padding, texts are decoded."""
    mask, truncated = response_mask(response, tokenizer.eos_token_id)
    response = torch.where(mask.bool(), response, torch.full_like(response, tokenizer.pad_token_id))
    texts = tokenizer.batch_decode(response, skip_special_tokens=True)
    return Rollout(query, query_mask, response, mask, texts, truncated)


@torch.no_grad()
def generate_hf(
    policy,
    tokenizer,
    prompts: list[str],
    max_prompt_length: int,
    max_new_tokens: int,
    seed: int,
    sampling: dict[str, Any] | None = None,
) -> Rollout:
    """Batched ``generate`` (left padding, KV cache) under a per-step seed; ``sampling=None`` is greedy."""
    device = next(policy.parameters()).device
    enc = tokenizer(
        prompts,
        return_tensors="pt",
        padding=True,
        padding_side="left",
        truncation=True,
        max_length=max_prompt_length,
    ).to(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # seeded per step, global RNG state untouched afterwards
        torch.manual_seed(seed)
        out = policy.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            use_cache=True,
            **({"do_sample": True, **sampling} if sampling else {"do_sample": False}),
        )
    response = out[:, enc["input_ids"].shape[1] :]
    return decode_rollout(tokenizer, enc["input_ids"], enc["attention_mask"], response)


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
