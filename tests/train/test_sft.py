"""SFT: trains on prompt/completion data with loss on the completion, resumes, validates configs."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wizardmath.checkpoints import last_checkpoint
from wizardmath.config import load_config
from wizardmath.data import format_prompt, format_solution
from wizardmath.jsonl import DataError
from wizardmath.train.sft import SFTConfig, load_sft_dataset, train_sft

REPO = Path(__file__).resolve().parents[2]


def make_data(path: Path, n: int = 64) -> Path:
    with path.open("w") as handle:
        for i in range(n):
            a, b = i % 9 + 1, (i * 7) % 9 + 1
            problem = f"Tom has {a} apples. He buys {b} more apples. How many apples does Tom have now?"
            completion = format_solution([f"Tom buys {b} more, so {a} + {b} = {a + b}."], str(a + b))
            handle.write(
                json.dumps({"id": str(i), "prompt": format_prompt(problem), "completion": completion}) + "\n"
            )
    return path


def completion_loss(model, tokenizer_dir: Path, data: Path) -> float:
    """Mean cross-entropy of the completions given their prompts (the loss SFT minimises)."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    losses = []
    with torch.no_grad():
        for line in data.read_text().splitlines()[:16]:
            row = json.loads(line)
            prompt = tokenizer(row["prompt"]).input_ids
            ids = tokenizer(row["prompt"] + row["completion"]).input_ids
            labels = [-100] * len(prompt) + ids[len(prompt) :]
            out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
            losses.append(out.loss.item())
    return sum(losses) / len(losses)


def tiny_config(model: Path, data: Path, out: Path, **overrides) -> SFTConfig:
    values = dict(
        model=str(model), data_path=str(data), output_dir=str(out), report_to="none", disable_tqdm=True
    )
    values.update(overrides)
    return load_config(SFTConfig, REPO / "configs/tiny/sft.yaml", **values)


@pytest.mark.slow
def test_sft_loss_falls_and_model_loads(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    data = make_data(tmp_path / "sft.jsonl")
    out = tmp_path / "sft"
    summary = train_sft(
        tiny_config(
            tiny_model_dir,
            data,
            out,
            num_train_epochs=4,
            per_device_train_batch_size=32,
            logging_steps=1,
            save_strategy="no",
            warmup_steps=1,
        )
    )  # the config warms up over 30 steps; this run has 8
    assert summary["examples"] == 64 and summary["steps"] == 8
    history = json.loads((out / "sft_summary.json").read_text())
    assert (
        history["train_loss"] < 6.0
    )  # the untrained model: 6.4 (vocabulary ~1,000); the mean over 8 steps falls below
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    after = AutoModelForCausalLM.from_pretrained(out)
    loss_before, loss_after = completion_loss(before, out, data), completion_loss(after, out, data)
    assert loss_after < loss_before - 0.5, (loss_before, loss_after)  # measured: 6.42 -> 4.98
    changed = [not torch.equal(p, q) for p, q in zip(before.parameters(), after.parameters(), strict=True)]
    assert all(changed)


def test_completion_only_loss_masks_the_prompt(tiny_model_dir, tmp_path):
    """With our config, TRL labels every prompt token -100: only the solution is learned."""
    from trl import SFTTrainer

    from wizardmath.train.sft import load_model_and_tokenizer

    data = make_data(tmp_path / "sft.jsonl", n=2)
    config = tiny_config(tiny_model_dir, data, tmp_path / "o", save_strategy="no")
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=load_sft_dataset(config), processing_class=tokenizer
    )
    row = trainer.train_dataset[0]
    example = json.loads(data.read_text().splitlines()[0])
    prompt_len = len(tokenizer(example["prompt"]).input_ids)
    labels = row["labels"]
    assert labels[:prompt_len] == [-100] * prompt_len
    assert all(label != -100 for label in labels[prompt_len:])
    assert tokenizer.decode(labels[prompt_len:]).endswith("The answer is: 2</s>")


@pytest.mark.slow
def test_interrupted_sft_resumes_from_last_checkpoint(tiny_model_dir, tmp_path):
    """SIGKILL the run once a checkpoint exists; the same command then resumes from it and finishes."""
    import signal
    import time

    data = make_data(tmp_path / "sft.jsonl", n=16)
    out = tmp_path / "sft"
    args = [
        sys.executable, "-m", "wizardmath.cli", "sft", "--config", str(REPO / "configs/tiny/sft.yaml"),
        "--model", str(tiny_model_dir), "--data_path", str(data), "--output", str(out),
        "--max_steps", "30", "--save_steps", "2", "--save_total_limit", "2", "--disable_tqdm", "true",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while last_checkpoint(out) is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = last_checkpoint(out)
    assert killed_at is not None and not (out / "sft_summary.json").exists()
    finished = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["resumed_from"] is not None and summary["steps"] == 30


@pytest.mark.slow
def test_lora_trains_and_saves_a_merged_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    data = make_data(tmp_path / "sft.jsonl", n=16)
    out = tmp_path / "lora"
    train_sft(
        tiny_config(tiny_model_dir, data, out, use_lora=True, lora_r=4, max_steps=2, save_strategy="no")
    )
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_bad_rows_name_file_line_and_field(tiny_model_dir, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": "p"}\n')
    with pytest.raises(DataError, match=rf"{data}:2: field 'completion': missing"):
        load_sft_dataset(tiny_config(tiny_model_dir, data, tmp_path / "o"))
    data.write_text('{"prompt": "p", "completion": ""}\n')
    with pytest.raises(DataError, match=r":1: field 'completion': expected a non-empty string"):
        load_sft_dataset(tiny_config(tiny_model_dir, data, tmp_path / "o"))


@pytest.mark.parametrize("size", ["llama2-7b", "llama2-13b", "llama2-70b", "mistral-7b"])
def test_real_run_configs_load_and_validate(size, tmp_path):
    """The real configs parse into SFTConfig; bf16 is switched off only because this machine has no GPU."""
    path = REPO / "configs" / size / "sft.yaml"
    text = path.read_text()
    assert "accelerate launch" in text and "Expect" in text  # says how to launch and what to expect
    import yaml

    raw = yaml.safe_load(text)
    if raw.get("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        pytest.skip(
            "the ZeRO-3 config needs the deepspeed package to validate: pip install -e '.[deepspeed]'"
        )
    config = load_config(SFTConfig, path, data_path="x.jsonl", output_dir=str(tmp_path), bf16=False)
    assert config.model.startswith(("meta-llama/", "mistralai/"))
    assert 1e-6 <= config.learning_rate <= 5e-5 and config.gradient_checkpointing
    if size == "llama2-70b":
        assert json.loads((REPO / config.deepspeed).read_text())["zero_optimization"]["stage"] == 3


def test_deepspeed_configs_are_zero2_and_zero3():
    stages = {name: json.loads((REPO / "configs/deepspeed" / name).read_text())["zero_optimization"]["stage"]
              for name in ("zero2.json", "zero3.json", "zero3_offload.json")}  # fmt: skip
    assert stages == {"zero2.json": 2, "zero3.json": 3, "zero3_offload.json": 3}


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None,
    reason="DeepSpeed is not installed (pip install -e '.[deepspeed]')",
)
def test_accelerate_launch_zero2_tiny_sft(tiny_model_dir, tmp_path):
    """`accelerate launch` with the ZeRO-2 config runs the tiny SFT on CPU (gloo backend)."""
    if shutil.which("accelerate") is None and not (Path(sys.executable).parent / "accelerate").exists():
        pytest.skip("accelerate CLI not on PATH")
    data = make_data(tmp_path / "sft.jsonl", n=16)
    out = tmp_path / "ds"
    launcher = str(Path(sys.executable).parent / "accelerate")
    args = [
        launcher, "launch", "--config_file", str(REPO / "configs/accelerate/cpu_deepspeed_zero2.yaml"),
        "-m", "wizardmath.cli", "sft", "--config", str(REPO / "configs/tiny/sft.yaml"),
        "--model", str(tiny_model_dir), "--data_path", str(data), "--output", str(out),
        "--max_steps", "2", "--save_strategy", "no",
        "--deepspeed", str(REPO / "configs/deepspeed/zero2.json"),
    ]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "sft_summary.json").exists()
