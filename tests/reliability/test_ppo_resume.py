"""A PPO run SIGKILLed while it writes a checkpoint, then run again with the same command, ends as the
uninterrupted run with the same seed does: the same metrics rows (no step twice), the same validation
curve, the same best step and the same saved policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]

# Runs ``wizardmath ppo`` in its own process. Validation accuracy is a fixed curve by step (the tiny
# untrained model scores 0 everywhere, which would hide a wrong best step); with KILL_AT=N the process
# SIGKILLs itself inside the save of checkpoint-N, after the weights and before ppo_state.json; with
# KILL_AFTER=N, right after checkpoint-N is whole.
DRIVER = textwrap.dedent(
    """
    import os, signal, sys
    from wizardmath import cli
    from wizardmath.train import ppo

    CURVE = {0: 0.2, 1: 0.5, 2: 0.9, 3: 0.1, 4: 0.3, 5: 0.4}
    ppo.evaluate = lambda state: CURVE[state.step]
    kill_at = int(os.environ.get("KILL_AT", "0"))
    kill_after = int(os.environ.get("KILL_AFTER", "0"))
    save = ppo.save_checkpoint

    def save_or_die(state, elapsed):
        if state.step == kill_at:
            state.accelerator.save_state(f"{state.config.output_dir}/checkpoint-{state.step}")
            os.kill(os.getpid(), signal.SIGKILL)
        save(state, elapsed)
        if state.step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    ppo.save_checkpoint = save_or_die
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def problems(path: Path) -> Path:
    rows = [
        {"id": f"p{i}", "problem": f"Ann has {i} apples and buys 2 more. How many?", "answer": str(i + 2)}
        for i in range(6)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_ppo(
    driver: Path, model: Path, data: Path, out: Path, kill_at: int = 0, kill_after: int = 0
) -> subprocess.CompletedProcess:
    flags = {
        "--model": model, "--data_path": data, "--eval_data_path": data, "--output": out, "--steps": 5,
        "--eval_steps": 1, "--keep_best": "true", "--batch_size": 2, "--mini_batch_size": 2,
        "--ppo_epochs": 1, "--max_new_tokens": 4, "--reward_funcs": "format", "--report_to": "none",
        "--save_steps": 1, "--save_total_limit": 2, "--learning_rate": 1e-3, "--seed": 0,
    }  # fmt: skip
    argv = ["ppo", *[str(item) for pair in flags.items() for item in pair]]
    env = {**os.environ, "KILL_AT": str(kill_at), "KILL_AFTER": str(kill_after), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(driver), *argv], env=env, capture_output=True, text=True, timeout=280
    )


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def policy(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "model.safetensors")


@pytest.mark.slow
def test_ppo_killed_while_checkpointing_resumes_to_the_uninterrupted_run(tiny_model_dir, tmp_path):
    driver, data = tmp_path / "driver.py", problems(tmp_path / "problems.jsonl")
    driver.write_text(DRIVER)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = run_ppo(driver, tiny_model_dir, data, straight)
    assert done.returncode == 0, done.stderr[-3000:]

    died = run_ppo(driver, tiny_model_dir, data, killed, kill_at=4)
    assert died.returncode == -9, died.stderr[-3000:]
    assert [r["step"] for r in rows(killed)] == [1, 2, 3, 4]  # step 4's row is beyond checkpoint-3
    assert not (killed / "checkpoint-4" / "ppo_state.json").exists()
    resumed = run_ppo(driver, tiny_model_dir, data, killed)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout + resumed.stderr

    a, b = rows(straight), rows(killed)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5]
    for row_a, row_b in zip(a, b, strict=True):
        for key in row_a:
            if not key.startswith("time/"):
                same = pytest.approx(row_b[key], rel=1e-5, abs=1e-6, nan_ok=True)
                assert row_a[key] == same, (row_a["step"], key)
    summary_a = json.loads((straight / "ppo_summary.json").read_text())
    summary_b = json.loads((killed / "ppo_summary.json").read_text())
    assert summary_a["eval_curve"] == summary_b["eval_curve"] == [
        [0, 0.2], [1, 0.5], [2, 0.9], [3, 0.1], [4, 0.3], [5, 0.4]
    ]  # fmt: skip
    # the best step, 2, came back from checkpoint-3's best_policy.pt
    assert summary_a["best_step"] == summary_b["best_step"] == 2
    assert summary_a["accuracy"] == summary_b["accuracy"] == 0.9
    wa, wb = policy(straight), policy(killed)
    assert wa.keys() == wb.keys()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)

    # Killed after the last step's checkpoint, before the summary: the re-run only finishes the run.
    late = tmp_path / "late"
    assert run_ppo(driver, tiny_model_dir, data, late, kill_after=5).returncode == -9
    assert not (late / "ppo_summary.json").exists()
    finished = run_ppo(driver, tiny_model_dir, data, late)
    assert finished.returncode == 0, finished.stderr[-3000:]
    summary_c = json.loads((late / "ppo_summary.json").read_text())
    for key in ("eval_curve", "best_step", "accuracy", "steps"):
        assert summary_c[key] == summary_a[key], key
    final_a, final_c = (
        {k: v for k, v in s["final"].items() if not k.startswith("time/")} for s in (summary_a, summary_c)
    )
    assert final_c == pytest.approx(final_a, rel=1e-5, abs=1e-6, nan_ok=True)  # from checkpoint-5
    assert [r["step"] for r in rows(late)] == [1, 2, 3, 4, 5]
    wc = policy(late)
    assert all(torch.allclose(wa[k], wc[k], atol=1e-6) for k in wa)
