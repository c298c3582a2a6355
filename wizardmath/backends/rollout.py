"""Batched ``generate`` with a local HF model into one ``Rollout``: prompts left-padded, responses cut
after their first EOS.

PPO samples its rollouts with ``generate_hf`` (or builds them from vLLM's ids with ``decode_rollout``),
and ``wizardmath.eval.greedy.greedy_accuracy`` decodes with it, so training and evaluation read the
same tensors.
"""

from __future__ import annotations

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
