"""A checkpoint with a file cut short (a full disk, a copy interrupted) is passed over with a warning that
names it, and the run resumes from the newest whole one; when none is whole the run is refused in one
line. A torn state file is named too."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from wizardmath import cli
from wizardmath.checkpoints import damage, last_checkpoint


def truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size * 2 // 3)


def trainer_checkpoint(root: Path, step: int) -> Path:
    """A checkpoint as transformers' Trainer writes one: safetensors weights, torch.save'd optimizer."""
    from safetensors.torch import save_file

    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    save_file({"w": torch.randn(64, 64)}, folder / "model.safetensors")
    torch.save({"state": {0: {"exp_avg": torch.randn(64, 64)}}}, folder / "optimizer.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_cut_short_files_are_passed_over_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    first, second, third = (trainer_checkpoint(tmp_path, step) for step in (1, 2, 3))
    assert damage(third) is None
    truncate(third / "model.safetensors")
    (second / "trainer_state.json").write_text('{"global_st')  # torn
    assert last_checkpoint(tmp_path) == str(first)
    assert "checkpoint-3: skipped, damaged: model.safetensors: cut short" in caplog.text
    assert "checkpoint-2: skipped, incomplete: trainer_state.json is torn" in caplog.text

    truncate(first / "optimizer.pt")
    with pytest.raises(ValueError) as refused:
        last_checkpoint(tmp_path)
    message = str(refused.value)
    assert "\n" not in message and str(tmp_path) in message and "every one is damaged" in message
    assert "checkpoint-1 (optimizer.pt: cut short" in message and "checkpoint-3 (model.safetensors" in message


def ppo_flags(model: Path, data: Path, out: Path, steps: int) -> list[str]:
    flags = {
        "--model": model, "--data_path": data, "--output": out, "--steps": steps, "--batch_size": 2,
        "--mini_batch_size": 2, "--ppo_epochs": 1, "--max_new_tokens": 4, "--reward_funcs": "format",
        "--report_to": "none", "--save_steps": 1, "--save_total_limit": 3, "--seed": 0,
    }  # fmt: skip
    return ["ppo", *[str(item) for pair in flags.items() for item in pair]]


@pytest.mark.slow
def test_ppo_resumes_from_the_newest_whole_checkpoint(tiny_model_dir, tmp_path, capsys, caplog):
    data, out = tmp_path / "problems.jsonl", tmp_path / "ppo"
    data.write_text("".join(json.dumps({"id": f"p{i}", "problem": f"{i} + 2?", "answer": str(i + 2)}) + "\n"
                            for i in range(4)))  # fmt: skip
    assert cli.main(ppo_flags(tiny_model_dir, data, out, 2)) == 0
    truncate(out / "checkpoint-2" / "pytorch_model.bin")

    assert cli.main(ppo_flags(tiny_model_dir, data, out, 3)) == 0  # extends the run by one step
    assert "checkpoint-2: skipped, damaged: pytorch_model.bin: cut short" in caplog.text
    assert "resumed from" in capsys.readouterr().out.replace(str(out), "")
    rows = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3]  # step 2 trained again from checkpoint-1, its old row replaced
    assert json.loads((out / "ppo_summary.json").read_text())["steps"] == 3
    assert damage(out / "checkpoint-2") is None  # written again, whole

    for step in (1, 2, 3):
        truncate(out / f"checkpoint-{step}" / "optimizer.bin")
    assert cli.main(ppo_flags(tiny_model_dir, data, out, 4)) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert f"{out}: no checkpoint to resume, every one is damaged" in err


@pytest.mark.slow
def test_sft_resumes_past_a_cut_short_model_file(tiny_model_dir, tmp_path, capsys, caplog):
    data, out = tmp_path / "sft.jsonl", tmp_path / "sft"
    row = {"prompt": "Ann has 2 apples and buys 3 more. How many?", "completion": " The answer is: 5"}
    data.write_text(json.dumps(row) + "\n")
    flags = ["sft", "--model", str(tiny_model_dir), "--data_path", str(data), "--output", str(out),
             "--save_steps", "1", "--use_cpu", "true", "--disable_tqdm", "true"]  # fmt: skip
    assert cli.main([*flags, "--max_steps", "2"]) == 0
    truncate(out / "checkpoint-2" / "model.safetensors")
    assert cli.main([*flags, "--max_steps", "3"]) == 0
    assert "checkpoint-2: skipped, damaged: model.safetensors: cut short" in caplog.text
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["resumed_from"] == str(out / "checkpoint-1") and summary["steps"] == 3
    assert last_checkpoint(out) == str(out / "checkpoint-3")
