"""Configs: defaults < YAML < command line; unknown keys and wrong types name the file and the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wizardmath.config import ConfigError, load_config, parse_config


@dataclass
class ToyConfig:
    model: str = field(default="tiny", metadata={"help": "model"})
    learning_rate: float = field(default=1e-3, metadata={"help": "lr"})
    steps: int = field(default=10, metadata={"help": "steps"})
    use_lora: bool = field(default=False, metadata={"help": "lora"})
    data_path: str | None = field(default=None, metadata={"help": "data"})
    tags: list[str] = field(default_factory=list, metadata={"help": "tags"})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stage.yaml"
    path.write_text(text)
    return path


def test_precedence_default_yaml_cli(tmp_path):
    path = write(tmp_path, "learning_rate: 5.0e-4\nsteps: 3\n")
    config = parse_config(ToyConfig, ["--config", str(path), "--steps", "7"])
    assert config.learning_rate == 5e-4  # YAML beats the default
    assert config.steps == 7  # the command line beats YAML
    assert config.model == "tiny"  # untouched default


def test_dash_and_underscore_flags_are_the_same(tmp_path):
    assert parse_config(ToyConfig, ["--data-path", "a.jsonl"]).data_path == "a.jsonl"
    assert parse_config(ToyConfig, ["--data_path", "b.jsonl"]).data_path == "b.jsonl"


def test_unknown_yaml_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "learning_rat: 1.0\n")
    with pytest.raises(ConfigError) as err:
        parse_config(ToyConfig, ["--config", str(path)])
    assert str(path) in str(err.value) and "'learning_rat'" in str(err.value)
    assert "learning_rate" in str(err.value)  # the suggestion


@pytest.mark.parametrize(
    "text, key",
    [
        ("steps: many\n", "steps"),
        ("learning_rate: fast\n", "learning_rate"),
        ("use_lora: 3\n", "use_lora"),
        ("tags: x\n", "tags"),
    ],
)
def test_wrong_yaml_type_names_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"{path}: key '{key}': expected"):
        load_config(ToyConfig, path)


def test_int_is_a_valid_float_and_yaml_lists(tmp_path):
    config = load_config(ToyConfig, write(tmp_path, "learning_rate: 1\ntags: [a, b]\n"))
    assert config.learning_rate == 1 and config.tags == ["a", "b"]


def test_unknown_flag_is_an_error():
    with pytest.raises(ConfigError, match="command line"):
        parse_config(ToyConfig, ["--no_such_flag", "1"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(ToyConfig, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(ToyConfig, write(tmp_path, "steps: [1,\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(ToyConfig, write(tmp_path, "- 1\n- 2\n"))


def test_load_config_overrides_are_checked():
    assert load_config(ToyConfig, steps=4).steps == 4
    with pytest.raises(ConfigError, match="overrides: key 'stepz'"):
        load_config(ToyConfig, stepz=4)


def test_trainer_config_output_alias_and_yaml(tmp_path, monkeypatch):
    from wizardmath.train.sft import SFTConfig

    monkeypatch.setattr("wizardmath.args.bf16_supported", lambda: True)  # as on a bf16 GPU, on any machine
    path = write(tmp_path, "learning_rate: 2.0e-5\nnum_train_epochs: 3\nuse_cpu: true\n")
    argv = [
        "--config",
        str(path),
        "--model",
        "m",
        "--data-path",
        "x.jsonl",
        "--output",
        str(tmp_path / "out"),
    ]
    config = parse_config(SFTConfig, argv)
    assert config.output_dir == str(tmp_path / "out")
    assert config.learning_rate == 2e-5 and config.num_train_epochs == 3
    assert (
        config.bf16 is False
    )  # use_cpu: bf16 resolves off, even on a bf16 GPU (tests/test_args.py: without it)


def test_trainer_config_validation_says_what_to_set(tmp_path):
    from wizardmath.train.sft import SFTConfig

    with pytest.raises(ConfigError, match="sft needs --model"):
        parse_config(SFTConfig, ["--output", str(tmp_path), "--data_path", "x.jsonl"])
    with pytest.raises(ConfigError, match="--data_path"):
        parse_config(SFTConfig, ["--output", str(tmp_path), "--model", "m"])


@dataclass
class SwitchConfig:
    shuffle: bool = field(default=True, metadata={"help": "Shuffle the records."})


def test_a_no_flag_says_what_it_does(capsys):
    assert parse_config(SwitchConfig, ["--no_shuffle"]).shuffle is False
    with pytest.raises(SystemExit):
        parse_config(SwitchConfig, ["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--no-shuffle Same as --shuffle false." in shown
    assert shown.count("Shuffle the records.") == 1


def test_a_bad_flag_value_is_not_blamed_on_the_yaml_file(tmp_path):
    from wizardmath.evol import SolveConfig

    path = write(tmp_path, "template: raw\n")
    with pytest.raises(ConfigError, match=rf"^{path} \+ command line: template must be one of"):
        parse_config(SolveConfig, ["--config", str(path), "--template", "alpaca", "--data_path", "x"])
    path.write_text("template: alpaca\n")
    with pytest.raises(ConfigError, match=rf"^{path}: template must be one of"):
        parse_config(SolveConfig, ["--config", str(path)])


def test_trainer_configs_load_without_the_checkpointing_deprecation_warning(tmp_path):
    import warnings

    from wizardmath.train.sft import SFTConfig

    shipped = Path(__file__).resolve().parents[1] / "configs/tiny/sft.yaml"  # sets gradient_checkpointing
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        loaded = load_config(SFTConfig, shipped, model="m", data_path="x.jsonl", output_dir=str(tmp_path))
        flags = [
            "--config",
            str(shipped),
            "--model",
            "m",
            "--data_path",
            "x.jsonl",
            "--output",
            str(tmp_path),
        ]
        parsed = parse_config(SFTConfig, flags)
    assert loaded.gradient_checkpointing is False and parsed.gradient_checkpointing is False
