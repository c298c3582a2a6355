"""The RL math of PPO as pure functions over tensors (no model, optimizer or distributed state).

Every per-token tensor has shape ``(batch, response_len)``: one row per sampled response, one
column per generated token, with ``mask`` (same shape, 1 for real tokens, 0 for padding after the
end of the response) saying which entries count. Per-sequence tensors have shape ``(batch,)``.

The loop in ``wizardmath.train.ppo`` calls these in order::

    kl = kl_penalty(logprobs, ref_logprobs, "k1")                  # (batch, T)
    rewards = token_rewards(scores, kl, mask, kl_coef)             # score at last token, -beta*kl everywhere
    advantages, returns = gae(rewards, values, mask, gamma, lam)   # (batch, T) each
    advantages = masked_whiten(advantages, mask)
    pg_loss, stats = policy_loss(new_logprobs, logprobs, advantages, mask, clip_range)
    vf_loss, stats = value_loss(new_values, values, returns, mask, clip_range_value)

References: Schulman et al. 2017 (PPO), 2016 (GAE); Ziegler et al. 2019 (per-token KL penalty and the
adaptive KL controller); Schulman 2020, "Approximating KL divergence" (the k1/k2/k3 estimators);
Shao et al. 2024 (GRPO's group-normalised advantages).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


# ----------------------------------------------------------------------------- masked aggregation


def masked_sum(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    return (values * mask).sum() if dim is None else (values * mask).sum(dim)


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean over the entries where ``mask`` is 1 (a fully masked row gives 0, not NaN)."""
    return masked_sum(values, mask, dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: Tensor, mask: Tensor, unbiased: bool = True) -> Tensor:
    """Variance over the masked entries; ``unbiased`` applies Bessel's correction (n / (n - 1))."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    n = mask.sum()
    if unbiased and n > 1:
        var = var * n / (n - 1)
    return var


def masked_whiten(
    values: Tensor,
    mask: Tensor,
    shift_mean: bool = True,
    eps: float = 1e-8,
    all_sum: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """(x - mean) / std over the masked entries; ``shift_mean=False`` keeps the mean (reward scaling).

    Padding entries are returned as 0 so they never leak into a loss. ``all_sum`` adds a tensor up
    over the processes of a distributed run: the mean and variance are then the whole batch's, so
    two processes scale their advantages as one process with their joint batch does.
    """
    if all_sum is None:
        mean, var = masked_mean(values, mask), masked_var(values, mask)
    else:
        mean, var = masked_moments(values, mask, all_sum)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def masked_moments(
    values: Tensor, mask: Tensor, all_sum: Callable[[Tensor], Tensor]
) -> tuple[Tensor, Tensor]:
    """Mean and unbiased variance of the masked entries of every process's ``values`` (two passes, as
    ``masked_mean`` and ``masked_var`` on the joined batch): ``all_sum`` adds a tensor up over them."""
    count_total = all_sum(torch.stack([mask.sum(), masked_sum(values, mask)]).to(values.dtype))
    n = count_total[0]
    mean = count_total[1] / n.clamp(min=1)
    var = all_sum(masked_sum((values - mean) ** 2, mask).reshape(1).to(values.dtype))[0] / n.clamp(min=1)
    if n > 1:
        var = var * n / (n - 1)
    return mean, var


# ----------------------------------------------------------------------------- log-probs and entropy


def logprobs_from_logits(logits: Tensor, labels: Tensor) -> Tensor:
    """log p(label) for each position: logits ``(batch, T, vocab)``, labels ``(batch, T)``
    -> ``(batch, T)``."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return torch.gather(logp, 2, labels.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of each position's token distribution: ``(batch, T, vocab)`` -> ``(batch, T)``."""
    logits = logits.float()
    probs = F.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


# ----------------------------------------------------------------------------- KL to the reference


def _kl_k1(logprob: Tensor, ref_logprob: Tensor) -> Tensor:
    return logprob - ref_logprob  # unbiased, can be negative per token


def _kl_abs(logprob: Tensor, ref_logprob: Tensor) -> Tensor:
    return (logprob - ref_logprob).abs()


def _kl_k2(logprob: Tensor, ref_logprob: Tensor) -> Tensor:
    return 0.5 * (logprob - ref_logprob).square()  # biased, low variance, >= 0


def _kl_k3(logprob: Tensor, ref_logprob: Tensor) -> Tensor:
    log_ratio = (ref_logprob - logprob).clamp(-20, 20)
    return (log_ratio.exp() - log_ratio - 1).clamp(max=10)  # unbiased, >= 0 ("low_var_kl")


KL_ESTIMATORS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "k1": _kl_k1,
    "abs": _kl_abs,
    "k2": _kl_k2,
    "k3": _kl_k3,
}


def kl_penalty(logprob: Tensor, ref_logprob: Tensor, estimator: str = "k1") -> Tensor:
    """Per-token estimate of KL(policy || reference) from the sampled tokens' log-probs, ``(batch, T)``."""
    if estimator not in KL_ESTIMATORS:
        raise ValueError(f"unknown KL estimator '{estimator}'; valid: {', '.join(KL_ESTIMATORS)}")
    return KL_ESTIMATORS[estimator](logprob, ref_logprob)


def token_rewards(
    scores: Tensor, kl: Tensor, mask: Tensor, kl_coef: float, dense: Tensor | None = None
) -> Tensor:
    """Per-token rewards: ``-kl_coef * kl`` on every token, plus the sequence ``score`` on its last token,
    plus ``dense`` (``(batch, T)`` step rewards already placed on their tokens), if given.

    ``scores`` is ``(batch,)``; a row whose mask is all zero gets no score (there is no token to put it on).
    """
    rewards = -kl_coef * kl * mask
    if dense is not None:
        rewards = rewards + dense.to(rewards.dtype) * mask
    lengths = mask.sum(-1).long()
    last = (lengths - 1).clamp(min=0)
    rows = torch.arange(len(scores), device=scores.device)
    rewards[rows, last] += scores.to(rewards.dtype) * (lengths > 0)
    return rewards


class FixedKLController:
    """A constant KL coefficient."""

    def __init__(self, kl_coef: float):
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        pass

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = state["value"]


class AdaptiveKLController(FixedKLController):
    """Ziegler et al. (2019): move the coefficient so the observed KL tracks ``target``.

    ``value *= 1 + clip(kl / target - 1, -0.2, 0.2) * n_steps / horizon``.
    """

    def __init__(self, kl_coef: float, target: float, horizon: int):
        super().__init__(kl_coef)
        self.target, self.horizon = target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1, -0.2), 0.2)
        self.value *= 1 + error * n_steps / self.horizon


# ----------------------------------------------------------------------------- advantages


def gae(
    rewards: Tensor, values: Tensor, mask: Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[Tensor, Tensor]:
    """Generalised Advantage Estimation over ``(batch, T)`` rewards and values.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``, with
    ``V`` past the end of a response taken as 0 (the episode ends there). Returns
    ``(advantages, returns)`` with ``returns = advantages + values``; both 0 on padding.
    """
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    length = rewards.shape[1]
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    returns = advantages + values
    return advantages * mask, returns * mask


def group_advantages(
    scores: Tensor, group_size: int, mask: Tensor, eps: float = 1e-6
) -> tuple[Tensor, Tensor]:
    """GRPO's critic-free advantage: each score minus its group's mean, over the group's std.

    ``scores`` is ``(batch,)`` ordered so that rows ``[k*group_size, (k+1)*group_size)`` answer the same
    prompt. The sequence advantage is broadcast to every token; returns ``(advantages, returns)``
    (``returns`` is the raw score per token, for logging).
    """
    if scores.numel() % group_size:
        raise ValueError(f"batch of {scores.numel()} is not a multiple of the group size {group_size}")
    grouped = scores.view(-1, group_size)
    std = grouped.std(-1, keepdim=True) if group_size > 1 else torch.ones_like(grouped)
    normed = ((grouped - grouped.mean(-1, keepdim=True)) / (std + eps)).view(-1)
    return normed[:, None] * mask, scores[:, None] * mask


ADVANTAGE_ESTIMATORS = ("gae", "grpo")


# ----------------------------------------------------------------------------- losses


def policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip_range: float = 0.2,
    clip_range_high: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO's clipped surrogate, token-mean over the masked entries.

    ``loss = mean(max(-A * ratio, -A * clip(ratio, 1 - eps_low, 1 + eps_high)))`` with
    ``ratio = exp(logprobs - old_logprobs)``. Stats: ``clipfrac`` (share of tokens where the clipped
    term was taken) and ``approx_kl`` (k3 between old and new policy, for early-stop monitoring).
    """
    high = clip_range if clip_range_high is None else clip_range_high
    log_ratio = logprobs - old_logprobs
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip_range, 1 + high)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = masked_mean(ratio - 1 - log_ratio, mask)
    return loss, {"clipfrac": clipfrac, "approx_kl": approx_kl, "ratio": masked_mean(ratio.detach(), mask)}


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, clip_range_value: float | None = 0.2
) -> tuple[Tensor, dict[str, Tensor]]:
    """Clipped value loss: ``0.5 * mean(max((V - R)^2, (V_clip - R)^2))``, ``V_clip`` within
    ``clip_range_value`` of the rollout's values (``None`` turns clipping off)."""
    unclipped = (values - returns).square()
    if clip_range_value is None:
        return 0.5 * masked_mean(unclipped, mask), {"clipfrac": torch.zeros((), device=values.device)}
    clipped_values = old_values + (values - old_values).clamp(-clip_range_value, clip_range_value)
    clipped = (clipped_values - returns).square()
    loss = 0.5 * masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped > unclipped).float(), mask)
    return loss, {"clipfrac": clipfrac}


def explained_variance(values: Tensor, returns: Tensor, mask: Tensor) -> float:
    """1 - Var(R - V) / Var(R): 1 is a perfect critic, 0 no better than a constant, < 0 worse."""
    var_returns = masked_var(returns, mask).item()
    if var_returns == 0 or math.isnan(var_returns):
        return float("nan")
    return 1 - masked_var(returns - values, mask).item() / var_returns
