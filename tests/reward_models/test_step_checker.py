"""The step checker: the world's facts, claim finding (bounded, untrusted text), training and scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reward_models.step_checker import MAX_CLAIMS, StepChecker, arithmetic_facts, step_claims, write_facts
from wizardmath.config import load_config
from wizardmath.train.checker import CheckerConfig, train_checker

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tiny" / "checker.yaml"
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def test_facts_are_exactly_the_world_arithmetic_within_range():
    facts = set(arithmetic_facts(9))
    for a, op, b, c in facts:
        assert min(a, b, c) >= 0 and max(a, b, c) <= 9
        assert (c * b == a and b != 0) if op == "/" else OPS[op](a, b) == c
    assert (9, "-", 9, 0) in facts and (3, "*", 3, 9) in facts and (8, "/", 4, 2) in facts
    assert (9, "+", 1, 10) not in facts  # result out of range
    assert not any(op == "/" and b == 0 for _, op, b, _ in facts)
    assert not any(op == "/" and a % b for a, op, b, _ in facts)  # exact division only
    brute = sum(1 for a in range(10) for b in range(10) if a + b <= 9)
    assert sum(op == "+" for _, op, _, _ in facts) == brute


def test_write_facts_writes_prompt_completion_records_whole(tmp_path):
    path = tmp_path / "sub" / "facts.jsonl"
    count = write_facts(path, max_value=5)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert count == len(rows) == len(list(arithmetic_facts(5)))
    assert {"prompt": "2 + 3 =", "completion": " 5."} in rows
    assert not list(tmp_path.glob("**/*.partial"))


@pytest.mark.parametrize(
    ("step", "claims"),
    [
        (
            "Step 1: He buys 4 bags, so 4 * 2 = 8, then 20 + 8 = 28.",
            [("4", "*", "2", "8"), ("20", "+", "8", "28")],
        ),
        ("Step 2: He gives 3 away, so 11 - 3 = 8.", [("11", "-", "3", "8")]),
        ("The answer is: 8", []),
        ("so 1.5 + 2 = 3.5 and 2 + 2 = 4.5", []),  # decimals are not the world's claims: not read
        ("so 1234567 + 1 = 1234568.", []),  # numbers past 6 digits are not read at all
        ("so 12+3=15.", []),  # only the world's spacing
    ],
)
def test_step_claims(step, claims):
    assert step_claims(step) == claims


def test_step_claims_are_bounded_on_hostile_text():
    step = "so " + ", ".join("1 + 1 = 2" for _ in range(10_000))
    assert len(step_claims(step)) == MAX_CLAIMS


def test_config_defaults_data_path_to_the_output_folder(tmp_path):
    config = load_config(CheckerConfig, None, model="m", output_dir=str(tmp_path / "ck"), max_value=5)
    assert config.data_path == str(tmp_path / "ck" / "facts.jsonl")
    with pytest.raises(ValueError, match="needs --output"):
        load_config(CheckerConfig, None, model="m")
    with pytest.raises(ValueError, match="max_value"):
        load_config(CheckerConfig, None, model="m", output_dir=str(tmp_path), max_value=0)


@pytest.fixture(scope="module")
def trained_checker(tiny_model_dir, tmp_path_factory) -> str:
    """A checker memorises the 71 facts of numbers 0..5 in a few hundred CPU steps."""
    folder = tmp_path_factory.mktemp("checker") / "checker"
    config = load_config(
        CheckerConfig, CONFIG, model=str(tiny_model_dir), output_dir=str(folder),
        max_value=5, num_train_epochs=60, per_device_train_batch_size=16, learning_rate=5e-3,
        warmup_steps=10, disable_tqdm=True, report_to="none",
    )  # fmt: skip
    summary = train_checker(config)
    assert summary["examples"] == len(list(arithmetic_facts(5)))
    return str(folder)


def test_trained_checker_prefers_true_claims_and_ranks_solutions(trained_checker):
    checker = StepChecker.from_pretrained(trained_checker, device="cpu")
    facts = [(str(a), op, str(b), str(c)) for a, op, b, c in arithmetic_facts(5)]
    slips = [(a, op, b, str((int(c) + 1) % 6)) for a, op, b, c in facts]
    right, wrong = checker.claim_logprobs(facts), checker.claim_logprobs(slips)
    assert sum(r > w for r, w in zip(right, wrong, strict=True)) / len(facts) >= 0.9

    good = "Step 1: She buys 2 more, so 3 + 2 = 5.\nStep 2: She gives 1 away, so 5 - 1 = 4.\nThe answer is: 4"
    slip = "Step 1: She buys 2 more, so 3 + 2 = 4.\nStep 2: She gives 1 away, so 4 - 1 = 3.\nThe answer is: 3"
    scores = checker.score_solutions(["p", "p"], [good, slip])
    assert 0.0 <= scores[1] < scores[0] <= 1.0
    steps = checker.score_steps("p", ["so 3 + 2 = 4.", "no claim here"])
    assert steps[1] == 1.0 and steps[0] < 0.5
    assert checker.score_solutions(["p"], [""]) == [0.0]
    with pytest.raises(ValueError, match="aggregate"):
        checker.score_solutions(["p"], [good], aggregate="median")


def test_eval_reranks_with_the_checker(trained_checker, tmp_path):
    from wizardmath.eval import EvalConfig, evaluate

    data = tmp_path / "test.jsonl"
    data.write_text(
        json.dumps({"id": "q", "problem": "Ann has 3 pens. She buys 2 more.", "answer": "5"}) + "\n"
    )
    completions = tmp_path / "samples.jsonl"
    texts = [" Step 1: so 3 + 2 = 4.\nThe answer is: 4", " Step 1: so 3 + 2 = 5.\nThe answer is: 5"]
    completions.write_text(json.dumps({"id": "q", "completions": texts}) + "\n")
    summary = evaluate(
        EvalConfig(
            dataset="jsonl",
            data_path=str(data),
            completions=str(completions),
            output=str(tmp_path / "out"),
            num_samples=2,
            rerank="checker",
            prm=trained_checker,
            progress=False,
        )  # fmt: skip
    )
    assert summary["rerank@2"] == 1.0
    with pytest.raises(ValueError, match="needs --prm"):
        EvalConfig(dataset="jsonl", data_path=str(data), rerank="checker")
