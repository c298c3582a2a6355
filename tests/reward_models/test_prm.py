"""The PRM: layout at step separators, the masked loss, aggregation, training, resume and scoring."""

from __future__ import annotations

import json
import math

import pytest
import torch

from reward_models.prm import (
    IGNORE,
    PRMConfig,
    ProcessRewardModel,
    StepCollator,
    StepFormat,
    aggregate,
    encode_record,
    encode_steps,
    prm_loss,
    train_prm,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_separator_positions_hold_the_separator_token(tokenizer):
    steps = ["Step 1: Tom buys 3 more, so 5 + 3 = 8.", "Step 2: so 8 * 2 = 16.\nThe answer is: 16"]
    ids, positions = encode_steps(tokenizer, "Tom has 5 apples.", steps, StepFormat())
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"][-1]
    assert len(positions) == 2 and positions[-1] == len(ids) - 1
    assert all(ids[p] == newline for p in positions)
    text = tokenizer.decode(ids)
    assert text.endswith(
        "Let's think step by step. Step 1: Tom buys 3 more, so 5 + 3 = 8.\n"
        "Step 2: so 8 * 2 = 16.\nThe answer is: 16\n"
    )


def test_too_long_drops_trailing_steps_and_cuts_the_prompt_from_the_left(tokenizer):
    steps = [f"Step {i}: {i} + {i} = {2 * i}." for i in range(1, 30)]
    ids, positions = encode_steps(tokenizer, "Tom has 5 apples. " * 20, steps, StepFormat(), max_length=120)
    assert len(ids) <= 120 and 0 < len(positions) < len(steps)


def test_record_labels_sit_only_at_separators(tokenizer):
    record = {
        "prompt": "Q",
        "completions": ["a", "b", "c"],
        "labels": [True, None, False],
        "soft_labels": [0.75, None, None],
    }
    row = encode_record(tokenizer, record, StepFormat(), 256, use_soft=True)
    _, positions = encode_steps(tokenizer, "Q", ["a", "b", "c"], StepFormat())
    labelled = {i: v for i, v in enumerate(row["labels"]) if v != IGNORE}
    assert labelled == {positions[0]: 0.75, positions[2]: 0.0}  # null label: no loss at step 2
    hard = encode_record(tokenizer, record, StepFormat(), 256, use_soft=False)
    assert hard["labels"][positions[0]] == 1.0


def test_loss_is_masked_to_step_separators():
    """A hand-made batch: 2 sequences of 5 tokens, labels at 3 separator positions."""
    labels = torch.full((2, 5), IGNORE)
    labels[0, 2], labels[0, 4], labels[1, 3] = 1.0, 0.0, 1.0
    logits = torch.zeros(2, 5, 2)
    logits[0, 2] = torch.tensor([0.0, 2.0])  # confident "correct", label correct
    logits[0, 4] = torch.tensor([1.0, 0.0])  # leans "wrong", label wrong
    logits[1, 3] = torch.tensor([0.0, 0.0])  # undecided
    expected = (
        -math.log(math.exp(2) / (1 + math.exp(2))) - math.log(math.e / (math.e + 1)) - math.log(0.5)
    ) / 3
    assert prm_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    noisy = logits.clone()
    noisy[labels == IGNORE] = torch.randn(int((labels == IGNORE).sum()), 2) * 50  # everything but separators
    assert prm_loss(noisy, labels).item() == pytest.approx(expected, rel=1e-6)
    # gradients reach the labelled positions only
    leaf = logits.clone().requires_grad_(True)
    prm_loss(leaf, labels).backward()
    assert torch.count_nonzero(leaf.grad.abs().sum(-1)) == 3
    assert leaf.grad[labels == IGNORE].abs().sum() == 0


def test_soft_label_loss_is_cross_entropy_against_the_rollout_fraction():
    labels = torch.tensor([[IGNORE, 0.25]])
    logits = torch.tensor([[[5.0, -5.0], [0.0, math.log(3.0)]]])  # P(correct) = 3/4 at the separator
    expected = -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))
    assert prm_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    assert prm_loss(logits, torch.full((1, 2), IGNORE)).item() == 0.0


def test_collator_pads_right_with_ignored_labels():
    batch = StepCollator(pad_token_id=3)(
        [{"input_ids": [5, 6, 7], "labels": [IGNORE, IGNORE, 1.0]}, {"input_ids": [8], "labels": [0.0]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 3, 3]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"][1].tolist() == [0.0, IGNORE, IGNORE]


@pytest.mark.parametrize(
    "how, expected", [("min", 0.2), ("prod", 0.9 * 0.2 * 0.5), ("last", 0.5), ("mean", 1.6 / 3)]
)
def test_aggregate(how, expected):
    assert aggregate([0.9, 0.2, 0.5], how) == pytest.approx(expected)


def test_aggregate_edge_cases_and_defaults():
    assert aggregate([]) == 0.0
    assert aggregate([0.3, 0.7]) == 0.3  # the documented default is min
    with pytest.raises(ValueError, match="valid: min, prod, last, mean"):
        aggregate([0.5], "max")


def test_config_validation():
    with pytest.raises(ValueError, match="template"):
        PRMConfig(model="m", template="alpaca", output_dir="x")
    with pytest.raises(ValueError, match="auto, stepwise, prm800k, math-shepherd"):
        PRMConfig(model="m", data_format="csv", output_dir="x")
    with pytest.raises(ValueError, match="train-prm needs --model"):
        PRMConfig(output_dir="x")
    with pytest.raises(ValueError, match="limit must be >= 1"):
        PRMConfig(model="m", output_dir="x", limit=0)
    assert PRMConfig(model="m", output_dir="x").step_separator == "\n"


@pytest.mark.slow
def test_trained_prm_saves_loads_and_scores(trained_prm):
    summary = json.loads((trained_prm / "prm_summary.json").read_text())
    assert summary["global_step"] == 4 and "step_auc" in summary
    prm = ProcessRewardModel.from_pretrained(str(trained_prm), device="cpu")
    assert prm.fmt == StepFormat()  # the layout travels in the model config
    problem = "Tom has 5 apples. He buys 3 more apples. How many apples does Tom have now?"
    steps = ["Step 1: Tom buys 3 more, so 5 + 3 = 8.", "The answer is: 8"]
    scores = prm.score_steps(problem, steps)
    # each score is P(correct) of the head at that step's separator token, computed here by hand
    ids, positions = encode_steps(prm.tokenizer, problem, steps, prm.fmt, prm.max_length)
    with torch.no_grad():
        logits = prm.model(input_ids=torch.tensor([ids])).logits[0]
    expected = [torch.softmax(logits[p].float(), dim=-1)[1].item() for p in positions]
    assert len(scores) == 2 and scores == pytest.approx(expected, abs=1e-5)
    assert scores[0] != pytest.approx(
        scores[1], abs=1e-6
    )  # read at two different tokens, not one broadcast value
    whole = prm.score_solution(problem, " " + "\n".join(steps))
    # split_steps keeps the answer line with the step it follows: one step, scored as that text
    assert whole == pytest.approx(prm.score_steps(problem, ["\n".join(steps)])[0], abs=1e-5)
    batch = prm.score_batch([(problem, steps), (problem + " Really?", steps[:1])], batch_size=2)
    assert batch[0] == pytest.approx(scores, abs=1e-5)  # padding does not change scores
    assert prm.score_steps(problem, []) == []


@pytest.mark.slow
def test_training_lowers_the_loss_and_changes_the_model(tiny_model_dir, stepwise_file, tmp_path, train_args):
    from transformers import AutoModelForTokenClassification

    out = tmp_path / "prm"
    # One batch of 8 records, seen 20 times: its loss must fall (mixed batches are too noisy to compare).
    one_batch = tmp_path / "one_batch.jsonl"
    one_batch.write_text("".join(stepwise_file.read_text().splitlines(keepends=True)[:8]))
    summary = train_prm(
        PRMConfig(
            model=str(tiny_model_dir),
            data_path=str(one_batch),
            eval_fraction=0.0,
            max_steps=20,
            **train_args(out),
        )
    )
    history = summary["loss_history"]
    assert summary["global_step"] == 20 and len(history) == 20
    assert max(history[-3:]) < 0.5 * history[0]
    model = AutoModelForTokenClassification.from_pretrained(out)
    base = AutoModelForTokenClassification.from_pretrained(tiny_model_dir, num_labels=2)
    assert not torch.equal(model.model.embed_tokens.weight, base.model.embed_tokens.weight)


@pytest.mark.slow
def test_accumulation_gives_the_whole_batch_loss(tiny_model_dir, stepwise_file, tmp_path, train_args):
    """The Trainer counts the labelled steps of all accumulated micro-batches (and processes) and then
    neither averages over the micro-batches nor undoes the processes' gradient mean: the PRM loss is a
    sum over that count. As a mean per micro-batch it came out (and pushed) gradient_accumulation_steps
    times too large."""
    one_batch = tmp_path / "one_batch.jsonl"
    one_batch.write_text("".join(stepwise_file.read_text().splitlines(keepends=True)[:8]))

    def first_loss(name: str, **kw) -> float:
        args = {**train_args(tmp_path / name), **kw}
        summary = train_prm(PRMConfig(model=str(tiny_model_dir), data_path=str(one_batch), eval_fraction=0.0,
                                      max_steps=1, **args))  # fmt: skip
        return summary["loss_history"][0]

    whole = first_loss("whole", per_device_train_batch_size=8)
    accumulated = first_loss("accumulated", per_device_train_batch_size=4, gradient_accumulation_steps=2)
    assert accumulated == pytest.approx(whole, rel=0.05)  # the head's dropout draws other masks


@pytest.mark.slow
def test_resume_from_checkpoint_matches_an_uninterrupted_run(
    tiny_model_dir, stepwise_file, tmp_path, train_args
):
    import shutil

    from transformers import AutoModelForTokenClassification

    out = tmp_path / "prm"

    def run(**extra):
        args = train_args(out, save_strategy="steps", save_steps=2, **extra)
        return train_prm(
            PRMConfig(
                model=str(tiny_model_dir),
                data_path=str(stepwise_file),
                eval_fraction=0.0,
                max_steps=4,
                **args,
            )
        )

    straight = run()
    assert straight["resumed_from"] is None
    expected = AutoModelForTokenClassification.from_pretrained(out).state_dict()
    # a crash after step 2's checkpoint: step 4 and the final model never reached the disk
    shutil.rmtree(out / "checkpoint-4")
    (out / "model.safetensors").unlink()
    resumed = run()  # the same command again
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["global_step"] == 4
    got = AutoModelForTokenClassification.from_pretrained(out).state_dict()
    assert all(torch.allclose(expected[k], got[k], atol=1e-6) for k in expected)
    with pytest.raises(
        ValueError, match=r"holds checkpoints of an earlier train-prm run \(checkpoint-2, checkpoint-4\)"
    ):
        run(resume_from_checkpoint="no")  # the old checkpoints would stay for the next default run to resume
    fresh = run(resume_from_checkpoint="no", overwrite=True)
    assert fresh["resumed_from"] is None and fresh["global_step"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["prm", "irm"])
def test_lora_reward_models_save_plain_merged_checkpoints(
    kind, tiny_model_dir, stepwise_file, evolve_dir, tmp_path, train_args
):
    """use_lora trains adapters (the embeddings stay as they were) and saves one merged model."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from reward_models.irm import IRMConfig, train_irm

    out = tmp_path / kind
    lora = {
        "use_lora": True,
        "lora_r": 4,
        "lora_target_modules": ["q_proj", "v_proj"],
        "max_steps": 2,
        **train_args(out),
    }
    if kind == "prm":
        train_prm(
            PRMConfig(model=str(tiny_model_dir), data_path=str(stepwise_file), eval_fraction=0.0, **lora)
        )
        auto = AutoModelForTokenClassification
    else:
        train_irm(
            IRMConfig(
                model=str(tiny_model_dir), data_path=str(evolve_dir), gradient_checkpointing=False, **lora
            )
        )
        auto = AutoModelForSequenceClassification
    saved, base = auto.from_pretrained(out).state_dict(), auto.from_pretrained(tiny_model_dir).state_dict()
    assert not any("lora" in k for k in saved)
    assert torch.equal(saved["model.embed_tokens.weight"], base["model.embed_tokens.weight"])
    query = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(saved[query], base[query])  # the adapters were merged in
