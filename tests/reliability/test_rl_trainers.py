"""ppo and grpo follow the trainer rules: a re-run into an old folder with other data (or rewards) is
refused before any weights load, the same finished run again is "trained 0 steps" (never a summary),
and a second writer of the folder is refused."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

import pytest

from wizardmath.runstate import OutputLocked
from wizardmath.train.grpo import GRPOConfig, train_grpo
from wizardmath.train.ppo import PPOConfig, train_ppo


def problems(path: Path, offset: int) -> Path:
    rows = [
        {
            "id": f"p{i}",
            "problem": f"Ann has {i} apples and buys {offset} more. How many apples does Ann have?",
            "answer": str(i + offset),
        }
        for i in range(4)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def held_by_another(out: Path) -> int:
    """The folder's lock, held (flock) through a second open file as another process would hold it."""
    fd = os.open(out / ".wizardmath.lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"pid": 1, "host": socket.gethostname(), "command": "ppo"}).encode())
    return fd


def ppo_config(model: Path, data: Path, out: Path, **kw) -> PPOConfig:
    base = dict(
        model=str(model),
        data_path=str(data),
        output_dir=str(out),
        steps=1,
        batch_size=2,
        num_samples=1,
        mini_batch_size=2,
        ppo_epochs=1,
        max_new_tokens=4,
        reward_funcs=["format"],
        report_to="none",
        save_steps=1,
        seed=0,
    )
    return PPOConfig(**{**base, **kw})


@pytest.mark.slow
def test_ppo_rerun_into_an_old_folder(tiny_model_dir, tmp_path):
    out, data = tmp_path / "ppo", problems(tmp_path / "a.jsonl", 2)
    assert train_ppo(ppo_config(tiny_model_dir, data, out))["steps"] == 1
    summary = (out / "ppo_summary.json").read_bytes()
    weights = (out / "model.safetensors").read_bytes()

    with pytest.raises(
        ValueError, match=r"holds checkpoints of a ppo run with other data or settings \(input_files"
    ):
        train_ppo(ppo_config(tiny_model_dir, problems(tmp_path / "b.jsonl", 5), out))
    with pytest.raises(ValueError, match="reward_funcs"):
        train_ppo(ppo_config(tiny_model_dir, data, out, reward_funcs=["verifier"]))
    with pytest.raises(ValueError, match=r"trained 0 steps: .* holds a finished run \(step 1\)"):
        train_ppo(ppo_config(tiny_model_dir, data, out))
    assert (out / "ppo_summary.json").read_bytes() == summary and (
        out / "model.safetensors"
    ).read_bytes() == weights
    fd = held_by_another(out)
    with pytest.raises(OutputLocked, match="is being written by pid 1 "):
        train_ppo(ppo_config(tiny_model_dir, data, out, steps=2))
    os.close(fd)  # its holder ended: the lock is free although the file stays
    assert train_ppo(ppo_config(tiny_model_dir, data, out, steps=2))["steps"] == 2  # extending the same run


def grpo_config(model: Path, data: Path, out: Path, **kw) -> GRPOConfig:
    base = dict(
        model=str(model),
        data_path=str(data),
        output_dir=str(out),
        report_to="none",
        use_cpu=True,
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=4,
        save_strategy="steps",
        save_steps=1,
        reward_funcs=["format"],
        gradient_checkpointing=False,
        disable_tqdm=True,
    )
    return GRPOConfig(**{**base, **kw})


@pytest.mark.slow
def test_grpo_rerun_into_an_old_folder(tiny_model_dir, tmp_path):
    out, data = tmp_path / "grpo", problems(tmp_path / "a.jsonl", 2)
    assert train_grpo(grpo_config(tiny_model_dir, data, out))["steps"] == 1
    summary = (out / "grpo_summary.json").read_bytes()

    with pytest.raises(
        ValueError, match=r"holds checkpoints of a grpo run with other data or settings \(input_files"
    ):
        train_grpo(grpo_config(tiny_model_dir, problems(tmp_path / "b.jsonl", 5), out))
    with pytest.raises(ValueError, match=r"trained 0 steps: .* holds a finished run \(step 1\)"):
        train_grpo(grpo_config(tiny_model_dir, data, out))
    assert (out / "grpo_summary.json").read_bytes() == summary
    fd = held_by_another(out)
    with pytest.raises(OutputLocked, match="is being written by pid 1 "):
        train_grpo(grpo_config(tiny_model_dir, data, out))
    os.close(fd)
