"""Config faults a user trips on are refused with the config, in one line, exit 2, before any model
loads; every command runs with flags alone, with its dataclass defaults; and the stages share flags."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math

import pytest

from wizardmath.cli import COMMANDS, main
from wizardmath.config import ConfigError, build_parser, field_default, load_config, read_yaml
from wizardmath.runstate import EXIT_USAGE


def one_line(err: str) -> str:
    err = err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


# --- YAML as users write it


def test_a_repeated_yaml_key_is_refused_naming_it(tmp_path, capsys):
    config = tmp_path / "sft.yaml"
    config.write_text("learning_rate: 1.0e-3\nseed: 1\nlearning_rate: 5.0e-3\n")
    with pytest.raises(
        ConfigError, match=rf"{config}:3: key 'learning_rate' appears twice \(first on line 1\)"
    ):
        read_yaml(config)
    assert main(["sft", "--config", str(config)]) == EXIT_USAGE
    assert "key 'learning_rate' appears twice" in one_line(capsys.readouterr().err)


def test_exponent_floats_are_numbers(tmp_path):
    from wizardmath.train.ppo import PPOConfig

    config = tmp_path / "ppo.yaml"
    config.write_text("learning_rate: 1e-3\nvalue_learning_rate: 5E-4\nkl_coef: 2.5e-2\n")
    loaded = load_config(PPOConfig, config, model="m", output_dir=str(tmp_path), data_path="p.jsonl")
    assert (loaded.learning_rate, loaded.value_learning_rate, loaded.kl_coef) == (1e-3, 5e-4, 0.025)
    from wizardmath.args import parse_backend_args

    assert parse_backend_args(["error_rate=1e-2", "name=1e3x"]) == {"error_rate": 0.01, "name": "1e3x"}


# --- values no run can use: refused with the config, exit 2


@pytest.mark.parametrize(
    ("command", "flag", "value", "message"),
    [
        (
            "sft",
            "--per_device_train_batch_size",
            "0",
            "per_device_train_batch_size must be at least 1, got 0",
        ),
        ("sft", "--learning_rate", "nan", "learning_rate is NaN"),
        ("ppo", "--batch_size", "0", "batch_size must be at least 1, got 0"),
        ("ppo", "--learning_rate", "inf", "learning_rate must be a finite number >= 0, got inf"),
        ("ppo", "--kl_coef", "nan", "kl_coef is NaN"),
        ("label-prm", "--batch_size", "0", "batch_size must be at least 1, got 0"),
    ],
)
def test_impossible_values_fail_with_the_config(command, flag, value, message, tmp_path, capsys):
    base = {
        "sft": ["--model", str(tmp_path / "no-model"), "--data_path", "x.jsonl", "--output", str(tmp_path)],
        "ppo": ["--model", str(tmp_path / "no-model"), "--data_path", "x.jsonl", "--output", str(tmp_path)],
        "label-prm": ["--labeler", "rule", "--solutions_path", "s.jsonl", "--output", str(tmp_path / "o")],
    }[command]
    assert main([command, *base, flag, value]) == EXIT_USAGE  # the model folder is never opened
    assert message in one_line(capsys.readouterr().err)


# --- flags alone


SAME_FOR_TRANSFORMERS = {("include_num_input_tokens_seen", "'no'", "False")}  # TrainingArguments: one meaning


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_flags_alone_give_the_dataclass_defaults(name):
    """What ``--help`` documents is what a run without ``--config`` gets (HfArgumentParser dropped the
    default of ``str | list[str]`` fields: ``report_to`` was ``[None]``)."""
    cls = getattr(importlib.import_module(COMMANDS[name].module), COMMANDS[name].config)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    parsed = vars(build_parser(cls).parse_known_args([])[0])
    for key, f in fields.items():
        want, got = field_default(f), parsed.get(key)
        if want in ("", None) and got in ("", None) or (key, repr(want), repr(got)) in SAME_FOR_TRANSFORMERS:
            continue
        got = got.value if hasattr(got, "value") and not isinstance(want, type(got)) else got
        assert got == want or (isinstance(want, float) and math.isnan(want) and math.isnan(got)), key


@pytest.mark.slow
def test_sft_runs_with_flags_alone(tiny_model_dir, tmp_path):
    data = tmp_path / "sft.jsonl"
    row = {"prompt": "Ann has 2 apples and buys 3 more. How many?", "completion": " The answer is: 5"}
    data.write_text(json.dumps(row) + "\n" * 1)
    out = tmp_path / "sft"
    flags = ["--model", str(tiny_model_dir), "--data_path", str(data), "--output", str(out)]
    assert main(["sft", *flags, "--max_steps", "1", "--use_cpu", "true", "--disable_tqdm", "true"]) == 0
    assert json.loads((out / "sft_summary.json").read_text())["steps"] == 1


def test_label_prm_takes_no_progress_as_the_other_stages(tmp_path):
    from reward_models.labelers import LabelConfig

    for name in ("evolve", "solve", "eval", "label-prm"):
        cls = getattr(importlib.import_module(COMMANDS[name].module), COMMANDS[name].config)
        assert "progress" in {f.name for f in dataclasses.fields(cls)}, name
    flags = ["--labeler", "rule", "--solutions_path", "s.jsonl", "--output", str(tmp_path / "o.jsonl")]
    config = build_parser(LabelConfig).parse_args_into_dataclasses([*flags, "--no_progress"])[0]
    assert config.progress is False
