"""PPO's missing-EOS penalty keeps the verifier's signal: a response cut after stating its answer is
not penalised, one cut before any answer is, a looping response earns no verifier reward, and a batch
cut almost entirely says so."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
import torch

from wizardmath.backends.rollout import Rollout
from wizardmath.rewards import VerifierReward
from wizardmath.train.ppo_rollout import score


def rollout(texts: list[str], truncated: list[bool]) -> Rollout:
    n = len(texts)
    ids = torch.zeros(n, 2, dtype=torch.long)
    return Rollout(ids, torch.ones(n, 2), ids, torch.ones(n, 2), texts, torch.tensor(truncated))


def config(penalty: float | None = 1.0) -> SimpleNamespace:
    return SimpleNamespace(missing_eos_penalty=penalty, step_reward=None, max_new_tokens=128)


def test_penalty_spares_a_cut_response_that_stated_its_answer():
    texts = [
        "2 + 3 = 5\nThe answer is: 5\nNow, to be sure",  # right, then ran on: keeps its 1
        "2 + 3 = 6\nThe answer is: 6\nNow, to be sure",  # wrong, ran on: 0
        "2 + 3 = 5 and then 5 + 0 = 5 and",  # right number, never stated: pays
        "2 + 3 = 5\nThe answer is: 5",  # finished
    ]
    reward = VerifierReward(workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, _ = score(
            config(), reward, None, rollout(texts, [True, True, True, False]), {"answer": ["5"] * 4}, "cpu"
        )
    assert scores.tolist()[0] == 1.0 and scores.tolist()[1] == 0.0 and scores.tolist()[3] == 1.0
    assert scores.tolist()[2] < 0  # the verifier reads 5, but the penalty applies to an unstated answer
    assert len(set(scores.tolist())) > 1  # a batch of cut responses still has a signal


def test_a_loop_earns_no_verifier_reward():
    reward = VerifierReward(workers=1)
    assert reward(["#### 540\n" * 40, "The answer is: 540"], answer=["540", "540"]) == [0.0, 1.0]


def test_a_batch_cut_almost_entirely_warns():
    reward = VerifierReward(workers=1)
    with pytest.warns(UserWarning, match="reached max_new_tokens=128"):
        score(config(None), reward, None, rollout(["a b c"] * 4, [True] * 4), {"answer": ["1"] * 4}, "cpu")
