"""The must-show resume check: ``wizardmath eval`` on the tiny model, SIGKILLed half way and run
again, ends with 64 lines, no duplicates, and the summary of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wizardmath.eval import EvalConfig, evaluate

DROP = ("wall_time_s", "problems_per_s", "files")


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
def test_sigkill_half_way_then_resume_matches_a_clean_run(
    tiny_model_dir: Path, gsm8k_test: Path, tmp_path: Path
) -> None:
    args = {
        "model": str(tiny_model_dir),
        "dataset": "gsm8k",
        "data_path": str(gsm8k_test),
        "limit": 64,
        "max_new_tokens": 4,
        "batch_size": 8,
        "chunk_size": 8,
        "verify_workers": 0,
    }
    clean = evaluate(EvalConfig(**args, output=str(tmp_path / "clean"), progress=False))

    out = tmp_path / "killed"
    argv = [sys.executable, "-m", "wizardmath.cli", "eval", "--output", str(out), "--progress", "false"]
    for key, value in args.items():
        argv += [f"--{key}", str(value)]
    results = out / "gsm8k.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as the in-process run (tests/eval/conftest.py)
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env
    )
    deadline = time.monotonic() + 120
    while count_lines(results) < 24 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = count_lines(results)
    assert 24 <= written < 64, f"the run was not stopped half way ({written} lines; rc {proc.returncode})"

    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ids = [json.loads(line)["id"] for line in results.read_text().splitlines()]
    assert len(ids) == 64 and len(set(ids)) == 64
    resumed = json.loads((out / "gsm8k.summary.json").read_text())
    assert {k: v for k, v in resumed.items() if k not in DROP} == {
        k: v for k, v in clean.items() if k not in DROP
    }
    assert resumed["n"] == 64 and resumed["settings"]["limit"] == 64
