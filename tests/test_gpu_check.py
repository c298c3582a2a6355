"""scripts/gpu_check.sh at the tiny size on CPU: every stage runs (the DeepSpeed PPO stages are skipped,
not faked, without CUDA), the report has time and tokens/s per stage, and the exit status says PASS."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_passes_on_cpu(tmp_path):
    done = subprocess.run(["bash", str(REPO / "scripts/gpu_check.sh"), "--out", str(tmp_path), "--device", "cpu"],
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "gpu check: PASS on CPU" in done.stdout
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = {r["stage"]: r for r in report["stages"]}
    assert report["cuda"] is False
    for stage in ("sft", "train-irm", "label-prm", "train-prm", "ppo", "grpo", "eval"):
        assert rows[stage]["status"] == "ok" and rows[stage]["seconds"] > 0 and rows[stage]["tokens_per_s"] > 0, stage
    assert {rows[s]["status"] for s in ("ppo-zero2", "ppo-zero3")} == {"skipped"}
    assert (tmp_path / "sft" / "config.json").is_file() and (tmp_path / "eval" / "heldout.summary.json").is_file()


def test_gpu_check_refuses_cuda_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    done = subprocess.run(["bash", str(REPO / "scripts/gpu_check.sh"), "--out", str(tmp_path), "--device", "cuda"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA device" in done.stderr
