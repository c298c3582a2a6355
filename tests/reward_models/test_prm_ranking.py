"""The PRM's optional within-problem ranking loss: the pair loss, batches of whole problems, weight 0."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from reward_models.prm import (
    IGNORE,
    GroupBatchSampler,
    PRMConfig,
    PRMTrainer,
    StepCollator,
    group_key,
    prm_loss,
    ranking_loss,
    solution_outcome,
    train_prm,
)


def step_logits(margins: list[list[float]]) -> torch.Tensor:
    """``(batch, seq, 2)`` logits whose log-odds ``logit[1] - logit[0]`` are ``margins``."""
    margin = torch.tensor(margins, dtype=torch.float)
    return torch.stack([torch.zeros_like(margin), margin], dim=-1)


def labelled(rows: list[list[int]], width: int = 4) -> torch.Tensor:
    """Labels with a (dummy) target at the given positions of each row, ``IGNORE`` elsewhere."""
    labels = torch.full((len(rows), width), IGNORE)
    for row, positions in enumerate(rows):
        labels[row, positions] = 1.0
    return labels


def test_pair_loss_uses_the_min_step_and_only_pairs_within_a_group():
    # record 0 (group 0, right): steps at 1 and 3, log-odds 5 and 2 -> s = 2 (position 0's -50 is no step)
    # record 1 (group 0, wrong): s = -1;  records 2, 3: group 1, both right (no pair there)
    logits = step_logits([[-50, 5, 0, 2], [0, -1, 0, 0], [0, 3, 0, 0], [0, -9, 0, 0]])
    labels = labelled([[1, 3], [1], [1], [1]])
    group, outcome = torch.tensor([0, 0, 1, 1]), torch.tensor([1, 0, 1, 1])
    assert ranking_loss(logits, labels, group, outcome).item() == pytest.approx(math.log1p(math.exp(-3)))
    assert ranking_loss(logits, labels, group, outcome, margin=1.0).item() == pytest.approx(
        math.log1p(math.exp(-2))
    )
    # record 3 made wrong: it pairs with record 2 (its group, s = 3 vs -9), never with record 0
    wrong_elsewhere = torch.tensor([1, 0, 1, 0])
    both = (math.log1p(math.exp(-3)) + math.log1p(math.exp(-12))) / 2
    assert ranking_loss(logits, labels, group, wrong_elsewhere).item() == pytest.approx(both)
    # a wrong sample scored above the right one: more than log 2
    flipped = torch.tensor([0, 1, 1, 1])
    assert ranking_loss(logits, labels, group, flipped).item() == pytest.approx(math.log1p(math.exp(3)))
    # the gradient reaches the min step of each paired record, nothing else
    leaf = logits.clone().requires_grad_(True)
    ranking_loss(leaf, labels, group, outcome).backward()
    touched = leaf.grad.abs().sum(-1).nonzero().tolist()
    assert touched == [[0, 3], [1, 1]]


def test_pair_loss_is_zero_without_a_mixed_pair_in_a_group():
    logits = step_logits([[0, 4, 0, 0], [0, -4, 0, 0], [0, 1, 0, 0]]).requires_grad_(True)
    labels = labelled([[1], [1], [1]])
    across = ranking_loss(logits, labels, torch.tensor([0, 1, 2]), torch.tensor([1, 0, 1]))
    unlabelled = ranking_loss(logits, labels, torch.tensor([0, 0, 0]), torch.tensor([1, -1, 1]))
    for loss in (across, unlabelled):
        assert loss.item() == 0.0 and loss.requires_grad  # the graph stays (DDP needs every parameter)


def test_outcome_and_group_of_a_record():
    assert solution_outcome({"labels": [True, True]}) == 1
    assert solution_outcome({"labels": [True, False, False]}) == 0
    assert solution_outcome({"labels": [True, None]}) == -1
    assert solution_outcome({"labels": [False, None]}) == 0
    assert group_key({"prompt": "Q", "meta": {"parent_id": "p/1"}}) == "p/1"
    assert group_key({"prompt": "Q", "meta": {}}) == group_key({"prompt": "Q"}) == "Q"


def test_group_batch_sampler_keeps_groups_whole_and_covers_each_record_once():
    rng = random.Random(0)
    groups = [g for g in range(30) for _ in range(rng.choice([6, 7, 8]))]
    rng.shuffle(groups)  # a group's records need not be adjacent
    sampler = GroupBatchSampler(groups, batch_size=16, seed=3)
    assert sampler.groups_per_batch == 2
    batches = list(sampler)
    assert len(batches) == len(sampler) == 15
    assert sorted(i for b in batches for i in b) == list(range(len(groups)))
    where = {}
    for number, batch in enumerate(batches):
        for i in batch:
            assert where.setdefault(groups[i], number) == number  # every record of a group in one batch
    assert all(len({groups[i] for i in b}) == 2 for b in batches)
    assert list(GroupBatchSampler(groups, 16, seed=3)) == batches  # seeded
    sampler.set_epoch(1)
    again = list(sampler)
    assert again != batches and len(again) == len(batches)  # another order, same length every epoch
    assert GroupBatchSampler([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], batch_size=2).groups_per_batch == 1


def test_collator_carries_group_and_outcome_only_when_given():
    features = [
        {"input_ids": [5, 6], "labels": [IGNORE, 1.0], "group": 4, "outcome": 1},
        {"input_ids": [7], "labels": [0.0], "group": 4, "outcome": 0},
    ]
    batch = StepCollator(pad_token_id=0)(features)
    assert batch["group"].tolist() == [4, 4] and batch["outcome"].tolist() == [1, 0]
    plain = StepCollator(pad_token_id=0)([{"input_ids": [5], "labels": [1.0]}])
    assert set(plain) == {"input_ids", "attention_mask", "labels"}


def test_config_refuses_a_negative_weight():
    with pytest.raises(ValueError, match="ranking_loss_weight must be >= 0"):
        PRMConfig(model="m", output_dir="x", ranking_loss_weight=-1.0)
    assert PRMConfig(model="m", output_dir="x").ranking_loss_weight == 0.0


@pytest.fixture(scope="module")
def grouped_file(tmp_path_factory):
    """12 problems x 4 samples (meta.parent_id), each sample right or off by one at its first step."""
    rng = random.Random(0)
    lines = []
    for p in range(12):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        prompt = f"Tom has {a} apples. He buys {b} more apples. How many apples does Tom have now?"
        for s in range(4):
            ok = rng.random() < 0.5
            c = a + b if ok else a + b + 1
            record = {
                "id": f"add/{p}/s{s}",
                "prompt": prompt,
                "completions": [f"Step 1: Tom buys {b} more, so {a} + {b} = {c}.", f"The answer is: {c}"],
                "labels": [ok, ok],
                "meta": {"parent_id": f"add/{p}"},
            }
            lines.append(json.dumps(record) + "\n")
    path = tmp_path_factory.mktemp("grouped") / "prm.jsonl"
    path.write_text("".join(lines))
    return path


@pytest.mark.slow
def test_weight_zero_trains_as_before(tiny_model_dir, grouped_file, tmp_path, train_args):
    """Weight 0: no group columns, the Trainer's own dataloader, and the loss is prm_loss alone."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from reward_models.prm import _datasets

    config = PRMConfig(
        model=str(tiny_model_dir), data_path=str(grouped_file), eval_fraction=0.0, **train_args(tmp_path)
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    train_set, _, _ = _datasets(config, tokenizer)
    assert train_set.column_names == ["input_ids", "labels"]
    model = AutoModelForTokenClassification.from_pretrained(tiny_model_dir, num_labels=2)
    trainer = PRMTrainer(
        model=model, args=config, train_dataset=train_set, data_collator=StepCollator(tokenizer.pad_token_id)
    )
    loader = trainer.get_train_dataloader()
    assert not isinstance(loader.batch_sampler, GroupBatchSampler)
    batch = next(iter(loader))
    with torch.no_grad():
        expected = prm_loss(model(input_ids=batch["input_ids"]).logits, batch["labels"])
        assert trainer.compute_loss(model, dict(batch)).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.slow
def test_training_with_the_ranking_loss_logs_it(tiny_model_dir, grouped_file, tmp_path, train_args):
    out = tmp_path / "prm"
    summary = train_prm(
        PRMConfig(
            model=str(tiny_model_dir),
            data_path=str(grouped_file),
            eval_fraction=0.0,
            max_steps=4,
            ranking_loss_weight=1.0,
            ranking_margin=0.5,
            **train_args(out),
        )
    )
    assert summary["global_step"] == 4
    ranks = summary["ranking_loss_history"]
    assert len(ranks) == 4 and all(math.isfinite(r) and r >= 0 for r in ranks) and max(ranks) > 0
    manifest = json.loads((out / "train-prm.run.json").read_text())  # a resume must keep the loss
    assert manifest["ranking_loss_weight"] == 1.0 and manifest["ranking_margin"] == 0.5
