"""sft, train-irm, train-prm, grpo and ppo launched as two processes (``accelerate launch --config_file
configs/accelerate/cpu_two_process.yaml``: torchrun, gloo on the CPU), each with one of its ranks
SIGKILLed mid-run and the same command launched again, against one process with the same global batch.

One test, as the launches are the expensive part (15-30 s of start-up each): it runs the five stages
once in one plain process, then launches the two-process plan four times, the first three killing
rank 1 in sft, grpo (at training step 3) and ppo (inside the save of checkpoint 4), the last
finishing. Checked, per stage: the figure of docs/distributed.md against one
process within its tolerance, both ranks ending with the same weights, the resume from the last
complete checkpoint, and rank 1 writing nothing in the outputs but its own random-state files.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch
from dist_helpers import REPO, launch, plan, run_here, symbolic_world, tail, written_by

# fmt: off
TRAINER = ["--save_steps", 2, "--logging_steps", 1, "--warmup_steps", 0, "--disable_tqdm", "true",
           "--report_to", "none"]
# fmt: on
# (stage, where, step) of the kill in each launch but the last (dist_driver.py's WM_KILL): the three
# ways a trainer resumes (a Trainer, TRL's GRPOTrainer, PPO's own loop). train-irm and train-prm resume
# through the Trainer path sft takes; WM_ALL_KILLS=1 kills a rank in them too (two launches more).
KILLS = [("sft", "step", 3), ("grpo", "step", 3), ("ppo", "save", 4)]
if os.environ.get("WM_ALL_KILLS"):
    KILLS[1:1] = [("train-irm", "step", 3), ("train-prm", "step", 3)]
FOLDER = {"sft": "sft", "train-irm": "irm", "train-prm": "prm", "grpo": "grpo", "ppo": "ppo"}
# Files a rank other than 0 may write in an output: its own random states (Trainer, accelerate).
OWN_FILES = ("rng_state_1.pth", "random_states_1.pkl")


def commands(out: Path, data: dict[str, Path], model: Path, processes: int) -> list[list]:
    """The five stages at one global batch: the per-process batch shrinks with the processes."""

    def per(global_batch: int) -> int:
        return global_batch // processes

    def config(name: str) -> list:
        return ["--config", REPO / f"configs/tiny/{name}.yaml", "--model", model]

    rl = ["--data_path", data["problems"], "--eval_data_path", data["problems"], "--learning_rate", "1e-3"]
    return [
        ["sft", *config("sft"), "--data_path", data["sft"], "--max_samples", 64, "--max_steps", 4,
         "--per_device_train_batch_size", per(4), "--output", out / "sft", *TRAINER],
        ["train-irm", *config("irm"), "--data_path", data["evolution"], "--max_steps", 4,
         "--per_device_train_batch_size", per(8), "--output_dir", out / "irm", *TRAINER],
        ["train-prm", *config("prm"), "--data_path", data["prm"], "--max_steps", 4,
         "--per_device_train_batch_size", per(8), "--output_dir", out / "prm", *TRAINER],
        ["grpo", *config("grpo"), *rl, "--eval_limit", 4, "--max_steps", 4, "--num_generations", 2,
         "--max_completion_length", 12, "--reward_funcs", "length", "--per_device_train_batch_size", per(4),
         "--output", out / "grpo", *TRAINER],
        # top_k 1: greedy rollouts, the same responses whatever the processes' sampling seeds
        ["ppo", "--model", model, *rl, "--eval_limit", 6, "--eval_steps", 2, "--keep_best", "false",
         "--steps", 6, "--batch_size", per(4), "--mini_batch_size", per(4), "--ppo_epochs", 1, "--top_k", 1,
         "--max_new_tokens", 8, "--reward_funcs", "coin", "--report_to", "none", "--save_steps", 2,
         "--save_total_limit", 3, "--seed", 0, "--use_cpu", "true", "--output", out / "ppo"],
    ]  # fmt: skip


def logged(folder: Path, key: str) -> list[float]:
    """``key`` at each logged step of a Trainer run (its last checkpoint's trainer_state.json)."""
    last = max(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    history = json.loads((last / "trainer_state.json").read_text())["log_history"]
    return [row[key] for row in history if key in row]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def max_change(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def summary(folder: Path, stage: str) -> dict:
    name = {"train-irm": "irm", "train-prm": "prm"}.get(stage, stage)
    return json.loads((folder / f"{name}_summary.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_five_trainers_as_two_processes_match_one_and_resume_after_a_rank_is_killed(
    tiny_model_dir, tmp_path, monkeypatch
):
    data = symbolic_world(tmp_path / "data")
    one, two = tmp_path / "one", tmp_path / "two"
    audit, digests = tmp_path / "audit", tmp_path / "digests"
    audit.mkdir(), digests.mkdir()
    started = time.perf_counter()
    run_here(commands(one, data, tiny_model_dir, 1), monkeypatch)
    seconds_one = time.perf_counter() - started

    torn_checkpoint = None
    for stage, where, step in [*KILLS, (None, None, None)]:
        kill = {"WM_KILL": f"{stage}:{where}:{step}:1"} if stage else {}
        result = launch(
            plan(*commands(two, data, tiny_model_dir, 2)), WM_AUDIT=audit, WM_DIGESTS=digests, **kill
        )
        if stage is None:
            assert result.returncode == 0, tail(result)
            continue
        assert result.returncode != 0, f"{stage}: rank 1 was to be killed\n{tail(result)}"
        assert not (two / FOLDER[stage] / "model.safetensors").exists(), f"{stage} finished despite the kill"
        if stage == "ppo":  # rank 1 died before writing its part of checkpoint-4: never marked complete
            torn_checkpoint = two / "ppo" / "checkpoint-4"
            assert not (torn_checkpoint / "ppo_state.json").exists(), "a checkpoint without rank 1's files"
    seconds_two = time.perf_counter() - started - seconds_one

    # every stage resumed from the checkpoint before the kill and finished
    for stage, folder in FOLDER.items():
        resumed = summary(two / folder, stage).get("resumed_from")
        if stage in {k[0] for k in KILLS} - {"ppo"}:
            assert resumed and resumed.endswith("checkpoint-2"), (stage, resumed)
        a, b = (digests / f"{stage}.rank{r}" for r in (0, 1))
        assert a.read_text() == b.read_text(), f"{stage}: the two ranks ended with different weights"
        foreign = {p for p in written_by(audit, 1, two) if p.name not in OWN_FILES}
        assert not foreign, f"rank 1 wrote shared outputs: {sorted(foreign)[:5]}"

    # sft and train-irm: the same batches and the same loss (transformers averages over all processes'
    # tokens), so one process's figures to float precision
    for stage in ("sft", "train-irm"):
        loss_one, loss_two = logged(one / FOLDER[stage], "loss"), logged(two / FOLDER[stage], "loss")
        assert loss_two == pytest.approx(loss_one, rel=1e-4), stage
        assert max_change(one / FOLDER[stage], two / FOLDER[stage]) < 1e-3, stage  # Adam: noise / sqrt(v)
    # train-prm: the classification head's dropout (0.1) draws other masks on two processes
    assert logged(two / "prm", "loss")[-1] == pytest.approx(logged(one / "prm", "loss")[-1], rel=0.05)
    # grpo: each process samples its own completions, so the reward agrees in distribution only
    reward_one, reward_two = logged(one / "grpo", "reward"), logged(two / "grpo", "reward")
    assert abs(sum(reward_two) / len(reward_two) - sum(reward_one) / len(reward_one)) < 0.15
    # ppo: greedy rollouts, whitening over the whole batch, gradients averaged: the same run
    ppo_one, ppo_two = rows(one / "ppo"), rows(two / "ppo")
    assert [r["step"] for r in ppo_two] == list(range(1, 7)), "a step logged twice or lost on resume"
    for a, b in zip(ppo_one, ppo_two, strict=True):
        for key in ("reward/mean", "kl/mean", "loss/value"):
            assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-5), (b["step"], key)
        assert b.get("eval/accuracy") == a.get("eval/accuracy"), b["step"]  # one figure on both ranks
    assert max_change(one / "ppo", two / "ppo") < 1e-3  # the last step's policy (keep_best is off)
    assert (torn_checkpoint / "ppo_state.json").exists()  # written again, whole, by the resumed run
    print(f"\none process {seconds_one:.0f}s; two processes, {len(KILLS) + 1} launches {seconds_two:.0f}s")
