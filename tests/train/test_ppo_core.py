"""PPO's tensor math against hand-computed values and naive loops."""

from __future__ import annotations

import math

import pytest
import torch

from wizardmath.train import ppo_core as core


def t(*rows):
    return torch.tensor(rows, dtype=torch.float64)


# --- masked aggregation and whitening


def test_masked_mean_ignores_padding_and_empty_rows():
    x, m = t([1.0, 2.0, 100.0], [5.0, 5.0, 5.0]), t([1, 1, 0], [0, 0, 0])
    assert core.masked_mean(x, m).item() == pytest.approx(1.5)
    assert core.masked_mean(x, m, dim=1).tolist() == pytest.approx([1.5, 0.0])


def test_whiten_by_hand():
    # masked values 1, 2, 3: mean 2, unbiased variance 1, so whitened -1, 0, 1; padding stays 0
    x, m = t([1.0, 2.0, 3.0, 4.0]), t([1, 1, 1, 0])
    assert core.masked_whiten(x, m).tolist()[0] == pytest.approx([-1.0, 0.0, 1.0, 0.0], abs=1e-6)
    # shift_mean=False only rescales: 1 + (-1), 2 + 0, 3 + 1
    assert core.masked_whiten(x, m, shift_mean=False).tolist()[0] == pytest.approx(
        [1.0, 2.0, 3.0, 0.0], abs=1e-6
    )


def test_whiten_matches_torch_on_unmasked_data():
    x = torch.randn(4, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ones = torch.ones_like(x)
    expected = (x - x.mean()) / x.std()
    assert torch.allclose(core.masked_whiten(x, ones), expected, atol=1e-6)


# --- KL penalty


def test_kl_estimators_by_hand():
    logp, ref = t([-1.0]), t([-2.0])
    assert core.kl_penalty(logp, ref, "k1").item() == pytest.approx(1.0)
    assert core.kl_penalty(logp, ref, "abs").item() == pytest.approx(1.0)
    assert core.kl_penalty(logp, ref, "k2").item() == pytest.approx(0.5)
    assert core.kl_penalty(logp, ref, "k3").item() == pytest.approx(math.exp(-1) + 1 - 1)
    with pytest.raises(ValueError, match="valid: k1, abs, k2, k3"):
        core.kl_penalty(logp, ref, "k9")


def test_kl_estimators_are_unbiased_for_kl():
    # Sample from p, average the estimators, compare with the exact KL(p || q) of two categoricals.
    p, q = (
        torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64),
        torch.tensor([0.4, 0.4, 0.2], dtype=torch.float64),
    )
    exact = (p * (p / q).log()).sum().item()
    idx = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    logp, logq = p.log()[idx], q.log()[idx]
    for name in ("k1", "k3"):
        assert core.kl_penalty(logp, logq, name).mean().item() == pytest.approx(exact, abs=3e-3)


def test_token_rewards_put_score_on_last_real_token():
    scores = t(2.0, 1.0)
    kl = t([0.1, 0.2, 0.3], [0.4, 0.4, 0.4])
    mask = t([1, 1, 0], [0, 0, 0])
    rewards = core.token_rewards(scores, kl, mask, kl_coef=0.5)
    assert rewards[0].tolist() == pytest.approx([-0.05, -0.1 + 2.0, 0.0])
    assert rewards[1].tolist() == pytest.approx([0.0, 0.0, 0.0])  # empty response: nowhere to put a score


def test_token_rewards_add_dense_step_rewards_on_real_tokens_only():
    scores, kl = t(1.0), t([0.0, 0.0, 0.0])
    mask = t([1, 1, 0])
    dense = t([-1.0, 0.0, -5.0])  # an event past the end of the response counts for nothing
    rewards = core.token_rewards(scores, kl, mask, kl_coef=0.1, dense=dense)
    assert rewards[0].tolist() == pytest.approx([-1.0, 1.0, 0.0])


def test_adaptive_kl_controller():
    ctl = core.AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    ctl.update(current_kl=12.0, n_steps=100)  # error clipped to +0.2
    assert ctl.value == pytest.approx(0.1 * (1 + 0.2 * 100 / 10_000))
    ctl.update(current_kl=3.0, n_steps=100)  # error -0.5 clipped to -0.2
    assert ctl.value == pytest.approx(0.1 * 1.002 * 0.998)
    fixed = core.FixedKLController(0.05)
    fixed.update(100.0, 10)
    assert fixed.value == 0.05
    again = core.AdaptiveKLController(1.0, 6.0, 10)
    again.load_state_dict(ctl.state_dict())
    assert again.value == ctl.value


# --- advantages


def test_gae_by_hand():
    rewards, values, mask = t([1.0, 2.0, 3.0]), t([0.5, 1.0, 1.5]), t([1, 1, 1])
    adv, ret = core.gae(rewards, values, mask, gamma=0.9, lam=0.8)
    # t=2: 3 - 1.5 = 1.5; t=1: 2 + .9*1.5 - 1 = 2.35, + .72*1.5 = 3.43; t=0: 1 + .9 - .5 = 1.4, + .72*3.43
    assert adv[0].tolist() == pytest.approx([1.4 + 0.72 * 3.43, 3.43, 1.5])
    assert ret[0].tolist() == pytest.approx([1.4 + 0.72 * 3.43 + 0.5, 4.43, 3.0])


def test_gae_stops_at_padding_and_gives_monte_carlo_returns():
    # gamma = lam = 1: returns are plain reward-to-go over the real tokens; padding values never leak
    rewards, values, mask = t([1.0, 2.0, 99.0]), t([0.5, 1.0, 77.0]), t([1, 1, 0])
    adv, ret = core.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    assert ret[0].tolist() == pytest.approx([3.0, 2.0, 0.0])
    assert adv[0].tolist() == pytest.approx([2.5, 1.0, 0.0])


def test_gae_matches_naive_double_loop():
    gen = torch.Generator().manual_seed(1)
    rewards, values = torch.randn(3, 6, generator=gen), torch.randn(3, 6, generator=gen)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], dtype=torch.float32)
    gamma, lam = 0.97, 0.9
    adv, _ = core.gae(rewards, values, mask, gamma, lam)
    for b in range(3):
        n = int(mask[b].sum())
        v = [*values[b, :n].tolist(), 0.0]
        deltas = [rewards[b, i].item() + gamma * v[i + 1] - v[i] for i in range(n)]
        for i in range(n):
            expected = sum((gamma * lam) ** k * deltas[i + k] for k in range(n - i))
            assert adv[b, i].item() == pytest.approx(expected, abs=1e-5)
        assert adv[b, n:].abs().sum().item() == 0


def test_group_advantages():
    scores, mask = t(1.0, 0.0, 1.0, 1.0), torch.ones(4, 2, dtype=torch.float64)
    adv, _ = core.group_advantages(scores, group_size=2, mask=mask)
    assert adv[:, 0].tolist() == pytest.approx([math.sqrt(0.5), -math.sqrt(0.5), 0.0, 0.0], abs=1e-5)
    with pytest.raises(ValueError, match="multiple of the group size"):
        core.group_advantages(scores, group_size=3, mask=mask)


# --- losses on a hand-made batch


def test_policy_loss_by_hand():
    old = t([0.0, 0.0, 0.0])
    new = torch.log(t([1.5, 0.5, 1.0]))  # ratios 1.5, 0.5, 1.0
    adv, mask = t([1.0, 1.0, -1.0]), t([1, 1, 1])
    loss, stats = core.policy_loss(new, old, adv, mask, clip_range=0.2)
    # token 0: max(-1.5, -1.2) = -1.2 (clipped); token 1: max(-0.5, -0.8) = -0.5; token 2: 1.0
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 1.0) / 3)
    assert stats["clipfrac"].item() == pytest.approx(1 / 3)
    # padding does not count, an asymmetric upper clip changes token 0 only
    loss2, _ = core.policy_loss(new, old, adv, t([1, 1, 0]), clip_range=0.2, clip_range_high=0.3)
    assert loss2.item() == pytest.approx((-1.3 - 0.5) / 2)


def test_policy_loss_gradient_is_zero_when_clipped():
    new = torch.log(t([1.5, 0.9])).requires_grad_()
    loss, _ = core.policy_loss(new, t([0.0, 0.0]), t([1.0, 1.0]), t([1, 1]), clip_range=0.2)
    loss.backward()
    assert new.grad[0, 0].item() == 0.0  # ratio 1.5 > 1.2 with A > 0: no push further
    assert new.grad[0, 1].item() == pytest.approx(-0.9 / 2)  # d(-A * ratio)/dlogp = -ratio, token-mean


def test_value_loss_by_hand():
    values, old, returns, mask = t([1.5, 0.0]), t([1.0, 1.0]), t([2.0, 0.0]), t([1, 1])
    loss, stats = core.value_loss(values, old, returns, mask, clip_range_value=0.2)
    # token 0: max(0.25, (1.2 - 2)^2 = 0.64); token 1: max(0, (0.8 - 0)^2 = 0.64)
    assert loss.item() == pytest.approx(0.5 * 0.64)
    assert stats["clipfrac"].item() == 1.0
    unclipped, _ = core.value_loss(values, old, returns, mask, clip_range_value=None)
    assert unclipped.item() == pytest.approx(0.5 * (0.25 + 0.0) / 2)


def test_entropy_and_logprobs():
    logits = torch.zeros(1, 2, 8)
    assert core.entropy_from_logits(logits).tolist()[0] == pytest.approx([math.log(8)] * 2)
    logits[0, 0, 3] = 100.0
    lp = core.logprobs_from_logits(logits, torch.tensor([[3, 5]]))
    assert lp[0, 0].item() == pytest.approx(0.0, abs=1e-6)
    assert lp[0, 1].item() == pytest.approx(-math.log(8))


def test_explained_variance():
    r, m = t([1.0, 2.0, 3.0]), t([1, 1, 1])
    assert core.explained_variance(r, r, m) == pytest.approx(1.0)
    assert core.explained_variance(torch.full_like(r, 2.0), r, m) == pytest.approx(0.0)
