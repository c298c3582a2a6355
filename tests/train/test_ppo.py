"""PPO trainer: configs and memory plans, rollout helpers, and short runs on the tiny model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from wizardmath import rewards as R
from wizardmath.backends.rollout import Rollout, response_mask
from wizardmath.config import load_config
from wizardmath.train import ppo_plan, ppo_rollout
from wizardmath.train.ppo import PPOConfig, PPOPlanConfig, ppo_command, train_ppo

REPO = Path(__file__).resolve().parents[2]


# --- configs and the memory plan (no weights)


@pytest.mark.parametrize("size", ["7b", "13b", "70b"])
def test_real_configs_load_validate_and_plan(size, capsys):
    config = load_config(PPOPlanConfig, REPO / f"configs/llama2-{size}/ppo.yaml", dry_run=True)
    assert config.reward_funcs == ["irm", "prm", "verifier"] and config.reward_combine == "product"
    assert config.rollout_backend == "vllm" and config.bf16
    # the non-dry-run checks pass too (batch arithmetic, paths present)
    load_config(
        PPOPlanConfig,
        REPO / f"configs/llama2-{size}/ppo.yaml",
        dry_run=False,
        output_dir="x",
        data_path="p.jsonl",
    )
    assert ppo_command(config) == {"dry_run": True}
    plan = capsys.readouterr().out
    assert f"ZeRO stage {config.zero_stage}" in plan and f"{config.num_gpus} GPU(s)" in plan
    total = float(plan.split("total per GPU (before activations)")[1].split("GiB")[0])
    assert 20 < total < 70  # fits an 80 GB GPU with room for activations


def test_llama2_parameter_counts():
    # the published sizes: 6.74B, 13.02B, 68.98B
    for size, expected in (("7b", 6.738e9), ("13b", 13.016e9), ("70b", 68.977e9)):
        params, _ = ppo_plan.count_params(ppo_plan.model_shape(f"meta-llama/Llama-2-{size}-hf"))
        assert params == pytest.approx(expected, rel=1e-3)
    with pytest.raises(ValueError, match="config.json, or a LLaMA-2 name"):
        ppo_plan.model_shape("some/unknown-model")


def test_memory_plan_shards_by_zero_stage(tiny_model_dir):
    def total(**kw):
        plan = ppo_plan.memory_plan(
            PPOPlanConfig(model="llama-2-7b", dry_run=True, num_gpus=8, bf16=True, **kw)
        )
        return float(plan.split("total per GPU (before activations)")[1].split("GiB")[0])

    stages = [total(zero_stage=z) for z in range(4)]
    assert stages == sorted(stages, reverse=True) and stages[0] > 100 > stages[3]
    assert total(zero_stage=3, use_lora=True) < total(zero_stage=3)
    assert "0.00B parameters" in ppo_plan.memory_plan(PPOPlanConfig(model=str(tiny_model_dir), dry_run=True))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"model": ""}, "needs --model"),
        ({"output_dir": ""}, "needs --output"),
        ({"data_path": None}, "needs problems"),
        ({"rollout_backend": "sglang"}, "valid: hf, vllm"),
        ({"kl_estimator": "k7"}, "valid: k1, abs, k2, k3"),
        ({"batch_size": 6, "mini_batch_size": 4}, "multiple of mini_batch_size"),
        ({"advantage_estimator": "grpo"}, "num_samples >= 2"),
        ({"reward_funcs": ["verifier", "nope"]}, "unknown reward 'nope'"),
        ({"step_reward": "prm"}, "unknown step_reward 'prm'; valid: arithmetic"),
    ],
)
def test_bad_config_says_what_to_set(kw, message):
    base = {"model": "m", "output_dir": "o", "data_path": "p.jsonl"}
    with pytest.raises(ValueError, match=message):
        PPOConfig(**{**base, **kw})


# --- rollout helpers


def test_response_mask_ends_after_first_eos():
    eos = 2
    response = torch.tensor([[5, 6, 2, 7, 2], [5, 5, 5, 5, 5], [2, 9, 9, 9, 9]])
    mask, truncated = response_mask(response, eos)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert truncated.tolist() == [False, True, False]


def test_step_rewards_land_on_the_token_that_ends_the_false_claim(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = " Step 1: 20 - 7 = 11.\nStep 2: 11 + 3 = 14.\nThe answer is: 14"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    pad = [tokenizer.pad_token_id or 0] * 3
    response = torch.tensor([ids + pad, ids + pad])
    mask = torch.tensor([[1.0] * len(ids) + [0.0] * 3] * 2)
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    rollout = Rollout(
        response[:, :0], mask[:, :0], response, mask, [decoded] * 2, torch.tensor([False, False])
    )
    dense = ppo_rollout.place_step_rewards(
        tokenizer, rollout, R.arithmetic_step_rewards(rollout.texts[:1]) + [[]]
    )
    assert dense[1].abs().sum() == 0 and dense[0].sum() == -1.0
    where = int(dense[0].nonzero())
    assert tokenizer.decode(ids[: where + 1]).endswith("= 11")  # the last token of the false claim
    assert not tokenizer.decode(ids[:where]).endswith("= 11")


def test_batch_indices_are_a_function_of_seed_and_step():
    first = [ppo_rollout.batch_indices(s, 10, 4, seed=3) for s in range(5)]
    assert first == [ppo_rollout.batch_indices(s, 10, 4, seed=3) for s in range(5)]
    epoch0 = sum(first[:2], []) + first[2][:2]  # 10 problems: steps 0, 1 and half of 2 are one epoch
    assert sorted(epoch0) == list(range(10))
    ranks = [ppo_rollout.batch_indices(0, 10, 2, seed=3, rank=r, world=2) for r in range(2)]
    assert ranks[0] + ranks[1] == ppo_rollout.batch_indices(0, 10, 4, seed=3)


def test_warmup_reaches_full_rate_linearly_from_the_first_step():
    from wizardmath.train.ppo_update import advance_schedule, warmup_scheduler

    config = PPOConfig(model="m", output_dir="o", data_path="p", warmup_steps=4, learning_rate=0.1)
    optimizer = torch.optim.SGD(
        [
            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1},
            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1.0},
        ]
    )
    scheduler = warmup_scheduler(optimizer, config)
    rates = []
    for _ in range(6):  # advanced at the start of each step: step s trains at lr * min(1, (s + 1) / 4)
        advance_schedule(scheduler)
        rates += [group["lr"] for group in optimizer.param_groups]
    assert rates == pytest.approx([rate * f for f in (0.25, 0.5, 0.75, 1.0, 1.0, 1.0) for rate in (0.1, 1.0)])
    resumed = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    replayed = warmup_scheduler(resumed, config)
    advance_schedule(replayed, 2)  # a run resumed after 2 steps replays them, then takes step 2
    advance_schedule(replayed)
    assert resumed.param_groups[0]["lr"] == pytest.approx(0.075)


# --- short runs on the tiny model


@pytest.fixture(scope="module")
def problems(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ppo") / "problems.jsonl"
    rows = [
        {
            "id": f"p{i}",
            "problem": f"Ann has {i} apples and buys {i + 2} more. How many apples does Ann have?",
            "answer": str(2 * i + 2),
        }
        for i in range(12)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def length_reward(completions, **_):
    """Varies across samples, so even the untrained tiny model gets a learning signal."""
    return [min(len(c), 40) / 40 for c in completions]


@pytest.fixture
def tiny_config(tiny_model_dir, problems, tmp_path, monkeypatch):
    monkeypatch.setitem(R.REWARDS, "length", R.RewardSpec(lambda a: length_reward, False, "test"))

    def make(**kw):
        base = dict(
            model=str(tiny_model_dir),
            data_path=str(problems),
            output_dir=str(tmp_path / "out"),
            steps=2,
            batch_size=4,
            num_samples=1,
            mini_batch_size=2,
            ppo_epochs=1,
            max_new_tokens=12,
            learning_rate=1e-3,
            value_learning_rate=1e-3,
            reward_funcs=["length"],
            report_to="none",
            save_steps=0,
            seed=0,
        )
        return PPOConfig(**{**base, **kw})

    return make


def _weights(path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(path).state_dict().items()}


def _metrics(config) -> list[dict]:
    return [json.loads(line) for line in (Path(config.output_dir) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_ppo_steps_change_the_policy_and_give_finite_stats(tiny_config, tiny_model_dir):
    config = tiny_config(
        gradient_accumulation_steps=2, mini_batch_size=4, kl_estimator="k3", adaptive_kl=True
    )
    summary = train_ppo(config)
    assert summary["steps"] == 2
    rows = _metrics(config)
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        for key in (
            "reward/mean",
            "kl/mean",
            "loss/policy",
            "loss/value",
            "policy/entropy",
            "policy/clipfrac",
        ):
            assert math.isfinite(row[key]), key
    assert rows[1]["kl/mean"] > 0  # the first update moved the policy away from the reference
    before, after = _weights(tiny_model_dir), _weights(config.output_dir)
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_resume_gives_the_same_next_step(tiny_config):
    straight = tiny_config(steps=3, save_steps=1)
    straight.output_dir += "-straight"
    train_ppo(straight)
    first = tiny_config(steps=2, save_steps=1)
    train_ppo(first)  # stops after step 2 with checkpoint-2 on disk ("a crash after step 2")
    resumed = tiny_config(steps=3, save_steps=1)
    summary = train_ppo(resumed)
    assert summary["steps"] == 3
    a, b = _metrics(straight)[2], _metrics(resumed)[2]
    assert a["step"] == b["step"] == 3
    for key in ("reward/mean", "kl/mean", "loss/policy", "loss/value", "response/length"):
        assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key
    wa, wb = _weights(straight.output_dir), _weights(resumed.output_dir)
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    kept = sorted(p.name for p in Path(resumed.output_dir).glob("checkpoint-*"))
    assert kept == ["checkpoint-2", "checkpoint-3"]  # save_total_limit 2


def hang_raise_or_score(completions, id, **_):
    """By problem number: 0 mod 3 hangs past the timeout, 1 mod 3 raises, 2 mod 3 scores 1."""
    import time

    number = int((id[0] if isinstance(id, list | tuple) else id)[1:])
    if number % 3 == 0:
        time.sleep(30)
    if number % 3 == 1:
        raise RuntimeError("bad sample")
    return [1.0]


@pytest.mark.slow
def test_training_goes_on_when_a_reward_hangs_or_raises(tiny_config, monkeypatch):
    monkeypatch.setitem(R.REWARDS, "flaky", R.RewardSpec(lambda a: hang_raise_or_score, True, "test"))
    config = tiny_config(steps=1, batch_size=6, reward_funcs=["flaky"], reward_timeout=1.0, max_new_tokens=8)
    numbers = ppo_rollout.batch_indices(0, 12, 6, seed=0)
    assert {n % 3 for n in numbers} == {0, 1, 2}  # the step sees a hang, a raise and a score
    summary = train_ppo(config)
    assert summary["steps"] == 1
    row = _metrics(config)[0]
    failed = sum(n % 3 != 2 for n in numbers)
    assert row["reward/flaky_errors"] == failed  # each hung or raising sample counted once ...
    assert row["reward/mean"] == pytest.approx((6 - failed) / 6)  # ... and scored 0, the others 1
    assert math.isfinite(row["loss/policy"])


def _checkpoint_state(config, step: int) -> dict[str, torch.Tensor]:
    return torch.load(Path(config.output_dir) / f"checkpoint-{step}" / "pytorch_model.bin", weights_only=True)


@pytest.mark.slow
def test_lora_reference_is_the_adapter_free_policy(tiny_config, tiny_model_dir):
    config = tiny_config(steps=1, use_lora=True, lora_r=4)
    train_ppo(config)
    row = _metrics(config)[0]
    assert abs(row["kl/mean"]) < 1e-5  # step 1 samples before any update: policy == adapter-free reference
    assert (Path(config.output_dir) / "config.json").is_file()  # a plain model: LoRA merged on save
    before, after = _weights(tiny_model_dir), _weights(config.output_dir)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all(any(m in k for m in config.lora_target_modules) for k in changed)  # adapted layers


@pytest.mark.slow
def test_separate_critic_is_trained_on_the_value_loss(tiny_config):
    config = tiny_config(steps=1, value_model="separate", save_steps=1)
    train_ppo(config)
    row = _metrics(config)[0]
    assert row["loss/value"] > 0  # a zero-initialised head against returns > 0
    assert math.isfinite(row["value/explained_variance"])
    state = _checkpoint_state(config, 1)
    assert any(k.startswith("critic.") for k in state) and state["v_head.weight"].abs().sum() > 0


@pytest.mark.slow
def test_grpo_computes_no_value_loss(tiny_config):
    config = tiny_config(
        steps=1, advantage_estimator="grpo", num_samples=2, batch_size=2, value_model="separate", save_steps=1
    )
    train_ppo(config)
    row = _metrics(config)[0]
    assert math.isfinite(row["loss/policy"]) and math.isfinite(row["kl/mean"])
    assert not {"loss/value", "value/clipfrac", "value/explained_variance"} & set(row)
    state = _checkpoint_state(config, 1)
    assert not any(k.startswith("critic.") for k in state)  # no critic is built for GRPO
    assert state["v_head.weight"].abs().sum() == 0  # and the value head never learned


def test_keep_groups_drops_groups_that_are_all_right_or_all_wrong():
    class Reward:
        last_terms = {"verifier": [1.0, 0.0, 1.0, 1.0, 0.0, None]}  # groups of 2: mixed, all right, all wrong

    config = PPOConfig(
        model="m",
        output_dir="o",
        data_path="p",
        num_samples=2,
        batch_size=3,
        mini_batch_size=2,
        filter_groups=True,
    )
    scores = torch.tensor([0.9, 0.1, 0.9, 0.9, 0.1, 0.1])
    assert ppo_rollout.keep_groups(config, Reward(), scores, seed=0).tolist() == [0, 1]
    Reward.last_terms = {}  # no verifier term: correct means a score over 0.5
    scores = torch.tensor([0.9, 0.1, 0.9, 0.9])
    assert ppo_rollout.keep_groups(config, Reward(), scores, seed=0).tolist() == [0, 1]


@pytest.mark.slow
def test_filter_groups_learns_nothing_from_groups_without_contrast(tiny_config, tiny_model_dir, monkeypatch):
    def always_right(completions, **_):
        return [1.0] * len(completions)

    monkeypatch.setitem(R.REWARDS, "one", R.RewardSpec(lambda a: always_right, False, "test"))
    config = tiny_config(steps=1, reward_funcs=["one"], num_samples=2, batch_size=2, filter_groups=True)
    train_ppo(config)
    row = _metrics(config)[0]
    assert row["filter/kept"] == 0.0 and "loss/policy" not in row  # every group all right: no update
    before, after = _weights(tiny_model_dir), _weights(config.output_dir)
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_keep_best_returns_the_policy_of_the_best_validation_step(tiny_config, problems, monkeypatch):
    from wizardmath.train import ppo

    curve = [0.5, 0.9, 0.1]  # validation accuracy at steps 0, 1 and 2 (the end), then none
    monkeypatch.setattr(ppo, "evaluate", lambda state: curve.pop(0) if curve else float("nan"))
    config = tiny_config(steps=2, eval_steps=1, keep_best=True, eval_data_path=str(problems))
    summary = train_ppo(config)
    assert summary["best_step"] == 1 and summary["last_step"] == 2 and summary["accuracy"] == 0.9
    assert [list(point) for point in summary["eval_curve"]] == [[0, 0.5], [1, 0.9], [2, 0.1]]
    one_step = tiny_config(steps=1)
    one_step.output_dir += "-one-step"
    train_ppo(one_step)  # the same seed: the same first step
    best, after_one = _weights(config.output_dir), _weights(one_step.output_dir)
    assert all(torch.equal(best[k], after_one[k]) for k in best)


@pytest.mark.slow
def test_step_rewards_reach_the_metrics(tiny_config, monkeypatch):
    one_event_each = lambda texts: [[(1, -1.0)] for _ in texts]  # noqa: E731
    monkeypatch.setitem(R.STEP_REWARDS, "arithmetic", one_event_each)
    config = tiny_config(steps=1, step_reward="arithmetic", step_reward_coef=0.5)
    train_ppo(config)
    assert _metrics(config)[0]["reward/step_arithmetic"] == pytest.approx(-0.5)  # -coef per event, response


def test_tiny_config_loads_on_its_own():
    # the pipeline reads it without overrides first (to see which reward models it needs)
    config = load_config(PPOConfig, REPO / "configs/tiny/ppo.yaml")
    assert config.reward_funcs == ["verifier"] and config.max_minutes is not None and config.max_minutes <= 5
    assert config.batch_size * config.num_samples % config.mini_batch_size == 0
