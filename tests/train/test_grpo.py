"""GRPO through TRL with wizardmath's reward terms: config checks and a short run on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath import rewards as R
from wizardmath.config import load_config
from wizardmath.train.grpo import GRPOConfig, load_prompts, train_grpo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def problems(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grpo") / "problems.jsonl"
    rows = [
        {
            "id": f"p{i}",
            "problem": f"Ann has {i} apples and buys 2 more. How many apples does Ann have?",
            "answer": str(i + 2),
        }
        for i in range(8)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def base(tmp_path, problems, **kw):
    return dict(
        model="m",
        data_path=str(problems),
        output_dir=str(tmp_path / "out"),
        report_to="none",
        use_cpu=True,
        **kw,
    )


def test_tiny_config_loads(tmp_path, problems):
    config = load_config(
        GRPOConfig,
        REPO / "configs/tiny/grpo.yaml",
        model="m",
        data_path=str(problems),
        output_dir=str(tmp_path),
    )
    assert config.beta > 0  # KL to the reference is on, so it is measured and bounded
    assert "verifier" in config.reward_funcs


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"model": ""}, "needs --model"),
        ({"output_dir": ""}, "needs --output"),
        (
            {"reward_funcs": ["verifier", "format"], "reward_weights": [1.0, 0.1]},
            "only apply with reward_combine",
        ),
        ({"reward_combine": "max"}, "valid: product, weighted_sum, verifier_gated"),
    ],
)
def test_bad_config_says_what_to_set(tmp_path, problems, kw, message):
    with pytest.raises(ValueError, match=message):
        GRPOConfig(**{**base(tmp_path, problems), **kw})


def test_prompts_carry_the_columns_rewards_need(tmp_path, problems):
    data = load_prompts(GRPOConfig(**base(tmp_path, problems)))
    row = data[3]
    assert row["answer"] == "5" and row["id"] == "p3"
    assert row["prompt"].endswith("Let's think step by step.") and row["problem"] in row["prompt"]


def length_reward(completions, **_):
    return [min(len(c), 30) / 30 for c in completions]


@pytest.mark.slow
def test_grpo_trains_with_our_reward_terms(tmp_path, problems, tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM

    monkeypatch.setitem(R.REWARDS, "length", R.RewardSpec(lambda a: length_reward, False, "test"))
    config = GRPOConfig(
        **{
            **base(tmp_path, problems),
            "model": str(tiny_model_dir),
            "eval_data_path": str(problems),
            "eval_limit": 4,
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "num_generations": 2,
            "max_completion_length": 12,
            "learning_rate": 1e-3,
            "logging_steps": 1,
            "save_strategy": "no",
            "gradient_checkpointing": False,
            "reward_funcs": ["length", "verifier"],
            "reward_combine": "weighted_sum",
            "reward_weights": [1.0, 1.0],
        }
    )
    summary = train_grpo(config)
    assert summary["steps"] == 2 and summary["n"] == 4
    # weighted_sum: each term reached TRL as its own reward function, logged under its name
    assert {"rewards/length/mean", "rewards/verifier/mean", "kl"} <= set(summary["final"])
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    after = AutoModelForCausalLM.from_pretrained(config.output_dir).state_dict()
    assert any(not (before[k] == after[k]).all() for k in before)
    assert json.loads((Path(config.output_dir) / "grpo_summary.json").read_text())["steps"] == 2
