"""A fresh trainer start into a folder holding an earlier run's checkpoints is refused (they would stay
and the next default run would resume the old weights) unless --overwrite true deletes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_rl_trainers import ppo_config, problems
from test_writers import sft_data, sft_flags

from wizardmath.cli import main
from wizardmath.train.ppo import train_ppo


def checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("checkpoint-*"))


@pytest.mark.slow
def test_sft_fresh_start_over_old_checkpoints(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "sft"
    assert main(sft_flags(tiny_model_dir, sft_data(tmp_path / "a.jsonl", 1), out)) == 0
    (out / "checkpoint-2").rename(out / "checkpoint-518")  # an earlier, longer run
    capsys.readouterr()
    new_data = sft_data(tmp_path / "b.jsonl", 5)

    assert main(sft_flags(tiny_model_dir, new_data, out, **{"--auto_resume": "false"})) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "holds checkpoints of an earlier sft run (checkpoint-518)" in err and "--overwrite true" in err
    assert checkpoints(out) == ["checkpoint-518"]  # refused: nothing touched

    assert main(sft_flags(tiny_model_dir, new_data, out, **{"--overwrite": "true"})) == 0
    assert checkpoints(out) == ["checkpoint-2"]  # the old run's is gone (save_total_limit 1)
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["resumed_from"] is None and summary["steps"] == 2
    record = json.loads((out / "sft.run.json").read_text())
    assert list(record["input_files"]) == [str(new_data)]


@pytest.mark.slow
def test_ppo_fresh_start_over_old_checkpoints(tiny_model_dir, tmp_path):
    out, data = tmp_path / "ppo", problems(tmp_path / "a.jsonl", 2)
    train_ppo(ppo_config(tiny_model_dir, data, out))
    with pytest.raises(ValueError, match=r"holds checkpoints of an earlier ppo run \(checkpoint-1\)"):
        train_ppo(ppo_config(tiny_model_dir, data, out, resume=False))
    other = problems(tmp_path / "b.jsonl", 5)
    summary = train_ppo(ppo_config(tiny_model_dir, other, out, overwrite=True))
    assert summary["steps"] == 1 and checkpoints(out) == ["checkpoint-1"]
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [
        1
    ]  # not [1, 1]
    assert train_ppo(ppo_config(tiny_model_dir, other, out, steps=2))["steps"] == 2  # the new run resumes
