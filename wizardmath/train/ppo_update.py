"""PPO's learning half: log-probs and values of a rollout, advantages, and the clipped updates.

The tensor math is in ``wizardmath.train.ppo_core``; this module runs it over micro-batches of the
model. Under ``advantage_estimator: grpo`` no values are computed and no value loss is taken: the
group-normalised scores are the advantages.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LRScheduler

from wizardmath.backends.rollout import Rollout
from wizardmath.train import ppo_core as core
from wizardmath.train.ppo_config import PPOConfig
from wizardmath.train.ppo_models import ActorCritic


def build_optimizer(model: ActorCritic, config: PPOConfig) -> torch.optim.Optimizer:
    """AdamW, two groups: the policy at ``learning_rate``, value head / critic at ``value_learning_rate``.

    The value head stays in its group when frozen (GRPO learns no values): it gets no gradient, so no
    update, and checkpoints keep one optimizer layout whichever estimator wrote them."""
    value_params = [
        p
        for n, p in model.named_parameters()
        if not n.startswith("policy.") and (p.requires_grad or n.startswith("v_head."))
    ]
    policy_params = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("policy.")]
    groups = [
        {"params": policy_params, "lr": config.learning_rate},
        {"params": value_params, "lr": config.value_learning_rate or config.learning_rate},
    ]
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def warmup_scheduler(optimizer: torch.optim.Optimizer, config: PPOConfig) -> LRScheduler:
    """transformers' linear warm-up to a constant learning rate, over ``warmup_steps`` PPO steps.

    Build it before a checkpoint is loaded (its base rates are the configured ones) and call
    ``advance_schedule`` once at the start of every step, before that step's update: step ``s`` then
    trains at ``lr * min(1, (s + 1) / warmup_steps)``, so the first step learns too.
    """
    from transformers import get_scheduler

    return get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=config.warmup_steps)


def advance_schedule(scheduler: LRScheduler, steps: int = 1) -> None:
    """Move the schedule ``steps`` PPO steps on (a resumed run replays the ones it skips)."""
    with warnings.catch_warnings():  # stepped before the step's optimizer.step() on purpose (see above)
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        for _ in range(steps):
            scheduler.step()


@dataclass
class Experience:
    """A scored rollout ready for the update: ``(batch, prompt_len + T)`` sequences, ``(batch, T)`` the rest.

    ``values`` is None under GRPO (no critic)."""

    sequences: torch.Tensor
    attention_mask: torch.Tensor
    prompt_len: int
    response: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor | None
    advantages: torch.Tensor
    returns: torch.Tensor


@torch.no_grad()
def batched_forward(model: ActorCritic, ref, rollout: Rollout, config: PPOConfig):
    """Log-probs of the sampled tokens under the policy and the reference, and values (None without a
    critic): ``(batch, T)`` each. ``model`` is unwrapped; ``ref`` is None with LoRA (adapters off)."""
    seq = torch.cat([rollout.query, rollout.response], 1)
    attn = torch.cat([rollout.query_mask, rollout.mask], 1).long()
    plen, micro = rollout.query.shape[1], config.micro_batch_size
    logprobs, ref_logprobs, values = [], [], []
    for i in range(0, len(seq), micro):
        s, a, r = seq[i : i + micro], attn[i : i + micro], rollout.response[i : i + micro]
        logits, v = model(s, a, plen, with_values=config.uses_critic)
        logprobs.append(core.logprobs_from_logits(logits / config.temperature, r))
        if v is not None:
            values.append(v.float())
        if ref is None:  # LoRA: the reference is the same network with adapters off
            with model.policy.disable_adapter():
                ref_logits, _ = model(s, a, plen, with_values=False)
        else:
            pos = (a.cumsum(-1) - 1).clamp(min=0)
            ref_out = ref(input_ids=s, attention_mask=a, position_ids=pos, use_cache=False)
            ref_logits = ref_out.logits[:, plen - 1 : -1]
        ref_logprobs.append(core.logprobs_from_logits(ref_logits / config.temperature, r))
    return torch.cat(logprobs), torch.cat(ref_logprobs), (torch.cat(values) if values else None)


def compute_advantages(
    config: PPOConfig, scores, logprobs, ref_logprobs, values, mask, kl_coef: float, dense=None, all_sum=None
):
    """Per-token KL penalty (and step rewards), then GAE (or group-normalised scores) and whitening.

    ``all_sum`` (a sum over the processes of a distributed run) whitens with the whole batch's mean
    and variance. Returns ``(advantages, returns, kl)``, each ``(batch, T)``."""
    kl = core.kl_penalty(logprobs, ref_logprobs, config.kl_estimator)
    rewards = core.token_rewards(scores, kl, mask, kl_coef, dense)
    if config.advantage_estimator == "gae":
        advantages, returns = core.gae(rewards, values, mask, config.gamma, config.lam)
    else:
        shaped = (rewards * mask).sum(-1)  # the score minus the response's KL penalty
        advantages, returns = core.group_advantages(shaped, config.num_samples, mask)
    if config.whiten_advantages:
        advantages = core.masked_whiten(advantages, mask, all_sum=all_sum)
    return advantages, returns, kl


def ppo_update(
    model, optimizer, accelerator, batch: Experience, config: PPOConfig, generator: torch.Generator
) -> dict[str, float]:
    """``ppo_epochs`` passes of shuffled micro-batches (``gradient_accumulation_steps`` to an optimizer
    step); returns the mean of each loss statistic over the micro-batches that hold a response token
    (one of only padding rows, which evens the ranks' micro-batch counts, adds no gradient)."""
    n, micro = len(batch.sequences), config.micro_batch_size
    stats: dict[str, list[float]] = {}
    model.train()
    for _ in range(config.ppo_epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, micro):
            idx = order[start : start + micro].to(batch.sequences.device)
            mask = batch.mask[idx]
            with accelerator.accumulate(model):
                logits, values = model(
                    batch.sequences[idx],
                    batch.attention_mask[idx],
                    batch.prompt_len,
                    with_values=config.uses_critic,
                )
                logprobs = core.logprobs_from_logits(logits / config.temperature, batch.response[idx])
                pg_loss, pg = core.policy_loss(
                    logprobs, batch.logprobs[idx], batch.advantages[idx], mask, config.cliprange
                )
                entropy = core.masked_mean(core.entropy_from_logits(logits), mask)
                step_stats = {"loss/policy": pg_loss}
                if batch.values is None:
                    loss = pg_loss - config.entropy_coef * entropy
                else:
                    vf_loss, vf = core.value_loss(
                        values.float(), batch.values[idx], batch.returns[idx], mask, config.cliprange_value
                    )
                    loss = pg_loss + config.vf_coef * vf_loss - config.entropy_coef * entropy
                    step_stats["loss/value"] = vf_loss
                step_stats.update(
                    {
                        "policy/entropy": entropy,
                        "policy/clipfrac": pg["clipfrac"],
                        "policy/approx_kl": pg["approx_kl"],
                    }
                )
                if batch.values is not None:
                    step_stats["value/clipfrac"] = vf["clipfrac"]
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            if mask.sum() == 0:
                continue
            for key, value in step_stats.items():
                stats.setdefault(key, []).append(float(value.detach()))
    return {k: sum(v) / len(v) for k, v in stats.items()}
