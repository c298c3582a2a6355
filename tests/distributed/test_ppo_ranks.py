"""What PPO must agree on across processes, with ranks simulated by threads (collectives meet at a
barrier): prompt shards, whole-batch whitening, even micro-batch counts, one metrics row, one
validation figure and one stop decision. The launched run is in test_launch_trainers.py."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import pytest
import torch

from wizardmath.train import ppo, ppo_core, ppo_rollout, ppo_state
from wizardmath.train.ppo_config import PPOConfig


class Ranks:
    """``world`` ranks as threads; each gets an accelerator stand-in whose collectives meet the others'."""

    def __init__(self, world: int = 2):
        self.world, self.barrier, self.slots = world, threading.Barrier(world), [None] * world

    def _meet(self, rank: int, tensor: torch.Tensor) -> list[torch.Tensor]:
        self.slots[rank] = tensor
        self.barrier.wait()
        seen = list(self.slots)
        self.barrier.wait()
        return seen

    def accelerator(self, rank: int) -> SimpleNamespace:
        return SimpleNamespace(
            num_processes=self.world,
            process_index=rank,
            is_main_process=rank == 0,
            device="cpu",
            state=SimpleNamespace(deepspeed_plugin=None),
            reduce=lambda t, how: torch.stack(self._meet(rank, t)).sum(0),
            gather=lambda t: torch.cat(self._meet(rank, t)),
        )

    def run(self, work) -> list:
        """``work(rank, accelerator)`` on every rank at once; the results in rank order."""
        out = [None] * self.world
        errors = []

        def target(rank: int) -> None:
            try:
                out[rank] = work(rank, self.accelerator(rank))
            except Exception as err:  # noqa: BLE001 (raised again in the test's thread)
                errors.append(err)
                self.barrier.abort()

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.world)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        if errors:
            raise errors[0]
        return out


def test_each_step_shards_the_prompts_over_the_ranks_without_loss_or_repeat():
    n, batch, world = 23, 3, 2  # an epoch is 23 prompts; each step takes 3 per rank
    taken = []
    for step in range(7):  # 7 x 3 x 2 = 42 prompts: the first epoch whole, then the second begins
        per_rank = [
            ppo_rollout.batch_indices(step, n, batch, seed=5, rank=r, world=world) for r in range(world)
        ]
        assert sum(per_rank, []) == ppo_rollout.batch_indices(step, n, batch * world, 5)  # = one process
        taken += sum(per_rank, [])
    assert sorted(taken[:n]) == list(range(n)) and len(set(taken[n:])) == len(taken[n:])


def test_whitening_over_ranks_is_the_whitening_of_the_joined_batch():
    torch.manual_seed(0)
    values, mask = torch.randn(6, 5), (torch.rand(6, 5) > 0.3).float()
    joined = ppo_core.masked_whiten(values, mask)
    halves = Ranks(2).run(
        lambda r, acc: ppo_core.masked_whiten(values[3 * r : 3 * r + 3], mask[3 * r : 3 * r + 3],
                                              all_sum=lambda t: acc.reduce(t, "sum"))
    )  # fmt: skip
    assert torch.allclose(torch.cat(halves), joined, atol=1e-6)
    alone = ppo_core.masked_whiten(values[:3], mask[:3])  # what each rank did before: its own statistics
    assert not torch.allclose(alone, joined[:3], atol=1e-3)


def test_ranks_keeping_different_groups_pad_to_the_same_rows_with_masked_copies():
    rows, live = ppo_rollout.pad_rows(torch.tensor([4, 5]), target=6, group_size=2)
    assert rows.tolist() == [4, 5, 0, 1, 0, 1] and live.tolist() == [True, True] + [False] * 4
    rows, live = ppo_rollout.pad_rows(torch.tensor([], dtype=torch.long), target=2, group_size=2)
    assert rows.tolist() == [0, 1] and not live.any()  # a rank that kept nothing still runs the micro-batch
    with pytest.raises(ValueError, match="cannot pad 3 rows to 4 in groups of 2"):
        ppo_rollout.pad_rows(torch.tensor([0, 1, 2]), target=4, group_size=2)


def test_padding_rows_add_nothing_to_the_update():
    from wizardmath.backends.rollout import Rollout

    query, response = torch.zeros(4, 2, dtype=torch.long), torch.ones(4, 3, dtype=torch.long)
    texts, cut = ["a", "b", "c", "d"], torch.zeros(4, dtype=torch.bool)
    rollout = Rollout(query, torch.ones(4, 2), response, torch.ones(4, 3), texts, cut)
    rows, live = ppo_rollout.pad_rows(torch.tensor([2, 3]), target=4, group_size=2)
    padded = ppo_rollout.select_rows(rollout, rows, live)
    assert padded.mask.tolist() == [[1] * 3, [1] * 3, [0] * 3, [0] * 3]
    logprobs = torch.randn(2, 3, requires_grad=True)
    loss, _ = ppo_core.policy_loss(logprobs, logprobs.detach() - 0.1, torch.randn(2, 3), padded.mask[2:], 0.2)
    loss.backward()
    assert float(loss.detach()) == 0.0 and not logprobs.grad.any()  # padding only: no loss, no gradient


def test_metrics_are_the_mean_over_ranks_and_error_counts_add_up():
    rows = [
        {"reward/mean": 1.0, "kl/mean": float("nan"), "reward/prm_errors": 2.0},
        {"reward/mean": 0.0, "kl/mean": 0.5},
    ]
    assert ppo_state.mean_of_rows(rows) == {"kl/mean": 0.5, "reward/mean": 0.5, "reward/prm_errors": 2.0}
    assert math.isnan(ppo_state.mean_of_rows([{"a": float("nan")}, {"a": float("nan")}])["a"])


def test_stopping_for_time_is_decided_by_all_ranks_together():
    out_of_time = Ranks(2).run(lambda r, acc: ppo.on_any_rank(acc, r == 1))  # only rank 1's clock ran out
    assert out_of_time == [True, True]


def test_validation_accuracy_is_one_figure_from_every_ranks_share(monkeypatch):
    held_out = [SimpleNamespace(id=f"q{i}") for i in range(5)]
    right = {"q0", "q3", "q4"}
    seen: list[list[str]] = []

    def accuracy(policy, tokenizer, problems, *args, **kwargs):
        seen.append(sorted(p.id for p in problems))
        return sum(p.id in right for p in problems) / len(problems) if problems else float("nan")

    monkeypatch.setattr("wizardmath.eval.greedy.greedy_accuracy", accuracy)
    config = SimpleNamespace(template="wizardmath", max_new_tokens=4, max_prompt_length=8,
                             ds3_gather_for_generation=True)  # fmt: skip

    def validate(rank, acc):
        state = SimpleNamespace(
            config=config, policy=None, tokenizer=None, accelerator=acc, held_out=held_out
        )
        return ppo.evaluate(state)

    assert Ranks(2).run(validate) == [0.6, 0.6]  # 3 of 5 on both ranks: one best step
    assert sorted(seen) == [["q0", "q2", "q4"], ["q1", "q3"]]  # each problem decoded once


def test_grpo_advantages_freeze_the_value_head_but_keep_the_optimizer_layout(tiny_model_dir, tmp_path):
    from wizardmath.train.ppo_models import build_models
    from wizardmath.train.ppo_update import build_optimizer

    def layout(estimator: str) -> list[int]:
        config = PPOConfig(model=str(tiny_model_dir), data_path="p.jsonl", output_dir=str(tmp_path),
                           advantage_estimator=estimator, num_samples=2, mini_batch_size=2)  # fmt: skip
        _, model, _ = build_models(config)
        if estimator == "grpo":  # no value loss: under DDP a trainable head would be a parameter unused
            assert not any(p.requires_grad for p in model.v_head.parameters())
        return [len(g["params"]) for g in build_optimizer(model, config).param_groups]

    assert layout("grpo") == layout("gae")  # a checkpoint's optimizer state loads under either
