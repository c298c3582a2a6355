"""DAPO-style group filtering, the best-validation policy keeper, and the random-reward control."""

from __future__ import annotations

import pytest
import torch

from wizardmath.backends.rollout import Rollout
from wizardmath.rewards import REWARDS, RandomReward
from wizardmath.train.ppo import PPOConfig
from wizardmath.train.ppo_rollout import select_rows
from wizardmath.train.ppo_select import BestPolicy, edge_groups


def test_edge_groups_keeps_mixed_groups_drops_all_wrong_and_samples_easy():
    correct = torch.tensor([1, 0, 1, 1, 0, 0, 1, 1, 0, 1])  # groups of 2: mixed, easy, wrong, easy, mixed
    kept = edge_groups(correct, 2, keep_easy=0.0, generator=torch.Generator().manual_seed(0))
    assert kept.tolist() == [0, 1, 8, 9]
    everything = edge_groups(correct, 2, keep_easy=1.0, generator=torch.Generator().manual_seed(0))
    assert everything.tolist() == [0, 1, 2, 3, 6, 7, 8, 9]
    many = torch.ones(2000)
    share = len(edge_groups(many, 4, 0.25, torch.Generator().manual_seed(1))) / 2000
    assert 0.18 < share < 0.32
    with pytest.raises(ValueError, match="multiple of the group size"):
        edge_groups(correct, 3, 0.0, torch.Generator())


def test_select_rows_keeps_rollout_rows_aligned():
    rollout = Rollout(
        torch.arange(8).view(4, 2),
        torch.ones(4, 2),
        torch.arange(12).view(4, 3),
        torch.ones(4, 3),
        ["a", "b", "c", "d"],
        torch.tensor([False, True, False, True]),
    )
    part = select_rows(rollout, torch.tensor([1, 3]))
    assert (
        part.texts == ["b", "d"]
        and part.query[:, 0].tolist() == [2, 6]
        and part.response[:, 0].tolist() == [3, 9]
    )
    assert part.truncated.tolist() == [True, True]


def test_best_policy_keeps_the_best_validation_step_and_restores_it():
    policy = torch.nn.Linear(2, 1)
    best = BestPolicy()
    assert best.offer(0, 0.5, policy)
    first = policy.weight.detach().clone()
    with torch.no_grad():
        policy.weight += 1.0
    assert not best.offer(4, 0.4, policy) and not best.offer(8, float("nan"), policy)
    best.restore(policy)
    assert torch.equal(policy.weight, first) and best.step == 0
    assert best.curve[:2] == [(0, 0.5), (4, 0.4)]


def test_random_reward_is_a_seeded_fair_coin_blind_to_the_text():
    coin = RandomReward(seed=3)(["x"] * 1000)
    assert set(coin) == {0.0, 1.0} and 400 < sum(coin) < 600
    assert RandomReward(seed=3)(["y"] * 1000) == coin  # the text does not matter, the seed does
    assert "random" in REWARDS


def test_filter_groups_needs_groups():
    with pytest.raises(ValueError, match="filter_groups"):
        PPOConfig(model="m", data_path="d", output_dir="o", filter_groups=True, num_samples=1)
