"""scripts/gpu_check.sh at the tiny size on CPU: every stage runs (the DeepSpeed PPO stages are skipped,
not faked, without CUDA), the report has time and tokens/s per stage, and the exit status says PASS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The test's own interpreter, whether or not its venv is on PATH (make test runs .venv/bin/pytest directly).
ENV = {**os.environ, "PYTHON": sys.executable}


@pytest.mark.slow
def test_gpu_check_passes_on_cpu(tmp_path):
    done = subprocess.run(
        ["bash", str(REPO / "scripts/gpu_check.sh"), "--out", str(tmp_path), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=280,
        env=ENV,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "gpu check: PASS on CPU" in done.stdout
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = {r["stage"]: r for r in report["stages"]}
    assert report["cuda"] is False
    for stage in ("sft", "train-irm", "label-prm", "train-prm", "ppo", "grpo", "eval"):
        assert (
            rows[stage]["status"] == "ok" and rows[stage]["seconds"] > 0 and rows[stage]["tokens_per_s"] > 0
        ), stage
    assert {rows[s]["status"] for s in ("ppo-zero2", "ppo-zero3")} == {"skipped"}
    assert (tmp_path / "sft" / "config.json").is_file() and (
        tmp_path / "eval" / "heldout.summary.json"
    ).is_file()


def test_gpu_check_refuses_cuda_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    done = subprocess.run(
        ["bash", str(REPO / "scripts/gpu_check.sh"), "--out", str(tmp_path), "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert done.returncode == 2 and "no CUDA device" in done.stderr


@pytest.mark.slow
def test_ppo_runs_under_deepspeed_zero2_launched_as_gpu_check_does(tiny_model_dir, tmp_path):
    """The CUDA stages' launch path (accelerate launch of scripts/gpu_check.py --child) on CPU DeepSpeed:
    it caught a reference model lost to DeepSpeedEngine.eval() returning None and a missing model.config."""
    import sys

    pytest.importorskip("deepspeed")
    sys.path.insert(0, str(REPO / "scripts"))
    import gpu_check

    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "problem": f"What is {i} + 2?", "answer": str(i + 2)}) + "\n"
            for i in range(8)
        )
    )
    check = gpu_check.Check(tmp_path, cuda=False)
    check.launch(
        "ppo-zero2",
        str(REPO / "configs/accelerate/cpu_deepspeed_zero2.yaml"),
        [
            "ppo",
            "--config",
            str(REPO / "configs/gpu_check/ppo.yaml"),
            "--model",
            str(tiny_model_dir),
            "--data_path",
            str(problems),
            "--output",
            str(tmp_path / "ppo"),
            "--reward_funcs",
            "verifier",
            "--steps",
            "1",
            "--batch_size",
            "4",
            "--num_samples",
            "2",
            "--mini_batch_size",
            "8",
            "--gradient_accumulation_steps",
            "1",
            "--max_new_tokens",
            "16",
            "--bf16",
            "false",
        ],
    )
    row = check.rows[-1]
    assert row["status"] == "ok" and row["tokens_per_s"] > 0, row
    assert (tmp_path / "ppo" / "ppo_summary.json").is_file()
