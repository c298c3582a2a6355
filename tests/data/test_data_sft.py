"""`wizardmath data sft`: a data set's reference solutions as SFT rows in `solve`'s format."""

from __future__ import annotations

import json

import pytest

from wizardmath.data.cli import DataConfig, data_command


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gsm8k_solutions_become_steps_ending_with_the_answer_line(tmp_path, tiny_chat_model_dir):
    source = write(
        tmp_path / "train.jsonl",
        [
            {
                "question": "Q1?",
                "answer": "She sold 48/2 = <<48/2=24>>24 clips.\nIn all 48+24 = <<48+24=72>>72.\n#### 72",
            }
        ],
    )
    out = tmp_path / "sft.jsonl"
    data_command(
        DataConfig(
            action="sft", dataset="gsm8k", data_path=str(source), output=str(out), template="wizardmath"
        )
    )
    row = json.loads(out.read_text())
    assert (
        row["completion"]
        == " Step 1: She sold 48/2 = 24 clips.\nStep 2: In all 48+24 = 72.\nThe answer is: 72"
    )
    assert row["prompt"].endswith("Let's think step by step.") and row["answer"] == "72"
    data_command(
        DataConfig(
            action="sft",
            dataset="gsm8k",
            data_path=str(source),
            output=str(out),
            model=str(tiny_chat_model_dir),
        )
    )
    row = json.loads(out.read_text())  # auto: the chat model's rows are conversational
    assert row["prompt"][0]["role"] == "user" and row["completion"][0]["content"].startswith("Step 1:")


def test_records_without_a_solution_give_no_rows(tmp_path):
    source = write(tmp_path / "p.jsonl", [{"id": "a", "problem": "1+1?", "answer": "2"}])
    with pytest.raises(ValueError, match="no record has a reference solution"):
        data_command(
            DataConfig(action="sft", dataset="jsonl", data_path=str(source), output=str(tmp_path / "o.jsonl"))
        )
