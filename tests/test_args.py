"""The shared argument groups and the one checkpoint finder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pytest
import torch

from wizardmath import args as A
from wizardmath.checkpoints import last_checkpoint
from wizardmath.config import ConfigError, load_config, parse_config


@dataclass
class Stage(A.ModelArguments, A.BackendArguments, A.JudgeArguments, A.ReportArguments):
    seed: int = 7
    limit: int | None = field(default=None)

    def __post_init__(self) -> None:
        A.check_limit(self.limit)
        super().__post_init__()


@pytest.mark.parametrize("gpu_bf16", [True, False])
def test_bf16_follows_the_hardware_unless_use_cpu(monkeypatch, gpu_bf16):
    monkeypatch.setattr(A, "bf16_supported", lambda: gpu_bf16)
    assert Stage().bf16 is gpu_bf16
    assert Stage().load_dtype() == (torch.bfloat16 if gpu_bf16 else torch.float32)
    on_cpu = Stage(use_cpu=True)
    assert on_cpu.bf16 is False and on_cpu.load_dtype() == torch.float32
    assert Stage(bf16=True, use_cpu=True).bf16 is True  # asked for explicitly: kept
    assert Stage(torch_dtype="float16").load_dtype() == torch.float16


def test_unknown_dtype_and_bad_limit_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="torch_dtype 'half'"):
        Stage(torch_dtype="half")
    with pytest.raises(ValueError, match="limit must be >= 1"):
        Stage(limit=0)
    path = tmp_path / "stage.yaml"
    path.write_text("lora_rank: 8\n")
    with pytest.raises(ConfigError, match=f"{path}: key 'lora_rank': unknown"):
        load_config(Stage, path)
    path.write_text("use_lora: 'yes'\n")
    with pytest.raises(ConfigError, match=f"{path}: key 'use_lora': expected bool"):
        load_config(Stage, path)


def test_groups_parse_from_yaml_and_flags_as_one_flat_config(tmp_path):
    path = tmp_path / "stage.yaml"
    path.write_text("use_lora: true\nlora_r: 4\nbackend: openai\nreport_to: [wandb]\n")
    config = parse_config(
        Stage, ["--config", str(path), "--lora_r", "8", "--judge_model", "j", "--use_cpu", "true"]
    )
    assert (config.use_lora, config.lora_r, config.backend, config.report_to, config.judge_model) == (
        True,
        8,
        "openai",
        ["wandb"],
        "j",
    )
    assert config.bf16 is False  # resolved in __post_init__ on the parsed values


def test_to_peft_config_only_with_use_lora():
    assert Stage().to_peft_config() is None
    lora = Stage(
        use_lora=True, lora_r=4, lora_alpha=8, lora_dropout=0.0, lora_target_modules=["q_proj"]
    ).to_peft_config("SEQ_CLS")
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, set(lora.target_modules), lora.task_type) == (
        4,
        8,
        0.0,
        {"q_proj"},
        "SEQ_CLS",
    )


def test_build_backend_kwargs_and_judge_fallbacks(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "wizardmath.backends.get_backend", lambda name, **kw: calls.append((name, kw)) or name
    )
    stage = Stage(backend="openai", model="m", base_url="http://x/v1", backend_args=["concurrency=8"])
    stage.build_backend(batch_size=4)
    assert calls[-1] == (
        "openai",
        {"concurrency": 8, "model": "m", "base_url": "http://x/v1", "batch_size": 4},
    )
    stage.build_judge()  # same backend: the stage's model, server and extra args
    assert calls[-1] == ("openai", {"concurrency": 8, "model": "m", "base_url": "http://x/v1"})
    Stage(
        backend="symbolic", judge_backend="openai", judge_model="j"
    ).build_judge()  # another backend: its own settings only
    assert calls[-1] == ("openai", {"model": "j"})
    Stage(backend="symbolic", backend_args=["concurrency=4"]).build_backend()
    assert calls[-1] == ("symbolic", {"concurrency": 4, "seed": 7})
    with pytest.raises(ValueError, match="key=value"):
        Stage(backend_args=["oops"]).build_backend()
    A.JudgeArguments(
        judge_backend="fake", judge_base_url="http://j/v1"
    ).build_judge()  # a stage with a judge only
    assert calls[-1] == ("fake", {"base_url": "http://j/v1"})
    with pytest.raises(ValueError, match="--judge_backend"):
        A.JudgeArguments().build_judge()


def test_wandb_is_offline_unless_told(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    assert A.ReportArguments().setup_reporting() == [] and "WANDB_MODE" not in os.environ
    assert A.ReportArguments(report_to=["wandb"]).setup_reporting() == ["wandb"]
    assert os.environ["WANDB_MODE"] == "offline" and os.environ["WANDB_PROJECT"] == "wizardmath"
    monkeypatch.setenv("WANDB_MODE", "online")
    A.ReportArguments(report_to="wandb").setup_reporting()
    assert os.environ["WANDB_MODE"] == "online"


def test_default_output_is_under_runs():
    assert A.default_output("eval") == "runs/eval"


def _checkpoint(root, step, state=None, name="trainer_state.json"):
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if state is not None:
        (folder / name).write_text(state)
    return str(folder)


def test_last_checkpoint_skips_torn_and_unfinished_folders(tmp_path):
    assert last_checkpoint(tmp_path / "missing") is None
    assert last_checkpoint(tmp_path) is None
    _checkpoint(tmp_path, 2, json.dumps({"global_step": 2}))
    good = _checkpoint(tmp_path, 10, json.dumps({"global_step": 10}))  # 10 > 9: by number, not by name
    _checkpoint(tmp_path, 9, json.dumps({}))
    _checkpoint(tmp_path, 11, '{"global_st')  # torn write
    _checkpoint(tmp_path, 12)  # killed before the state file
    (tmp_path / "checkpoint-13-tmp").mkdir()
    assert last_checkpoint(tmp_path) == good
    # PPO's state file is its own; the Trainer's is ignored then
    ppo = _checkpoint(tmp_path, 3, json.dumps({"step": 3}), name="ppo_state.json")
    assert last_checkpoint(tmp_path, "ppo_state.json") == ppo
