"""SFT of a chat model on the conversational rows `solve` writes: trained as they are, mixed or
malformed rows named by file, line and field, a model without a chat template refused, and a short
warm-up that no longer spends the first step at learning rate 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.config import load_config
from wizardmath.data import chat_messages
from wizardmath.jsonl import DataError
from wizardmath.train.sft import SFTConfig, load_sft_dataset, train_sft

REPO = Path(__file__).resolve().parents[2]


def chat_rows(n: int = 8) -> list[dict]:
    rows = []
    for i in range(n):
        problem = f"Tom has {i + 2} apples and buys 3 more. How many apples does he have?"
        answer = f"Step 1: {i + 2} + 3 = {i + 5}\nThe answer is: {i + 5}"
        rows.append(
            {
                "id": str(i),
                "problem": problem,
                "prompt": chat_messages(problem),
                "completion": [{"role": "assistant", "content": answer}],
                "answer": str(i + 5),
            }
        )
    return rows


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config(model: Path, data: Path, out: Path, **overrides) -> SFTConfig:
    values = dict(
        model=str(model),
        data_path=str(data),
        output_dir=str(out),
        report_to="none",
        disable_tqdm=True,
        max_steps=3,
        per_device_train_batch_size=2,
        save_steps=3,
        logging_steps=1,
    )
    values.update(overrides)
    return load_config(SFTConfig, REPO / "configs/tiny/sft.yaml", **values)


@pytest.mark.slow
def test_conversational_rows_train_a_chat_model(tiny_chat_model_dir, tmp_path):
    data = write(tmp_path / "sft.jsonl", chat_rows())
    summary = train_sft(config(tiny_chat_model_dir, data, tmp_path / "out"))
    assert summary["steps"] == 3 and summary["examples"] == 8
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_conversational_rows_need_a_chat_template(tiny_model_dir, tmp_path):
    data = write(tmp_path / "sft.jsonl", chat_rows(2))
    with pytest.raises(DataError, match="need a model with a chat template"):
        train_sft(config(tiny_model_dir, data, tmp_path / "out"))


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"prompt": "text", "completion": [{"role": "assistant", "content": "x"}]}, "prompt is text"),
        ({"completion": [{"role": "assistant"}]}, "list of {role, content} messages"),
        ({"prompt": []}, "non-empty string or a list"),
    ],
)
def test_a_bad_row_is_named_by_file_line_and_field(tmp_path, broken, message):
    rows = chat_rows(3)
    rows[1].update(broken)
    data = write(tmp_path / "sft.jsonl", rows)
    cfg = SFTConfig(model="m", data_path=str(data), output_dir=str(tmp_path / "o"), report_to="none")
    with pytest.raises(DataError, match=message) as info:
        load_sft_dataset(cfg)
    assert "sft.jsonl" in str(info.value) and ":2" in str(info.value)


def test_one_file_holds_one_kind_of_row(tmp_path):
    rows = chat_rows(2) + [{"id": "t", "prompt": "Q", "completion": " A"}]
    data = write(tmp_path / "sft.jsonl", rows)
    cfg = SFTConfig(model="m", data_path=str(data), output_dir=str(tmp_path / "o"), report_to="none")
    with pytest.raises(DataError, match="a text row in a file of messages rows"):
        load_sft_dataset(cfg)


def test_message_rows_keep_only_role_and_content(tmp_path):
    rows = chat_rows(2)
    rows[0]["prompt"][0]["name"] = "extra"  # keys a template does not expect are dropped
    data = write(tmp_path / "sft.jsonl", rows)
    cfg = SFTConfig(model="m", data_path=str(data), output_dir=str(tmp_path / "o"), report_to="none")
    dataset = load_sft_dataset(cfg)
    assert dataset[0]["prompt"] == [{"role": "user", "content": rows[0]["prompt"][0]["content"]}]


@pytest.mark.parametrize(
    "ratio, steps, expected", [(0.03, 20, 0), (0.1, 20, 2), (0.03, 1000, 30), (5, 20, 5)]
)
def test_warmup_ratio_rounds_down(tmp_path, ratio, steps, expected):
    cfg = SFTConfig(
        model="m", data_path="x.jsonl", output_dir=str(tmp_path), report_to="none", warmup_steps=ratio
    )
    assert cfg.get_warmup_steps(steps) == expected


@pytest.mark.slow
def test_first_step_trains_with_a_small_warmup_ratio(tiny_chat_model_dir, tmp_path):
    data = write(tmp_path / "sft.jsonl", chat_rows())
    out = tmp_path / "out"
    train_sft(config(tiny_chat_model_dir, data, out, warmup_steps=0.03))
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    first = next(row for row in state["log_history"] if "learning_rate" in row)
    assert first["learning_rate"] > 0
