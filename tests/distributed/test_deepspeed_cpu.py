"""DeepSpeed ZeRO-3 on two CPU processes (DeepSpeed's CPU accelerator, gloo): sft through the Trainer and
ppo through its own loop, against one plain process with the same global batch.

ZeRO-3 shards the parameters themselves, so this is where a multi-process run breaks first: the model
built inside ``deepspeed.zero.Init`` (its config must count both processes), the final policy
gathered onto rank 0 only, and ``keep_best`` copying and restoring whole weights rather than the
empty shards a rank holds. The untrained tiny model validates at 0% at every step, so the best step
is step 0 and the saved policy must be the starting model exactly. ZeRO-2 on CPU is
``tests/train/test_sft.py::test_accelerate_launch_zero2_tiny_sft`` (one process) and docs/distributed.md.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from pathlib import Path

import pytest
from dist_helpers import REPO, launch, plan, run_here, symbolic_world, tail, written_by
from test_launch_trainers import logged, max_change, rows

ZERO3 = REPO / "configs/accelerate/cpu_deepspeed_zero3.yaml"
# What rank 1 may write: its own shards and states (DeepSpeed names them by rank), nothing shared.
OWN = re.compile(r"(zero_pp_rank_1_|rng_state_1\.pth$|random_states_1\.pkl$)")


def commands(out: Path, data: dict[str, Path], model: Path, processes: int, deepspeed: bool) -> list[list]:
    per = 4 // processes
    zero3 = ["--deepspeed", REPO / "configs/deepspeed/zero3.json"] if deepspeed else []
    return [
        ["sft", "--config", REPO / "configs/tiny/sft.yaml", "--model", model, "--data_path", data["sft"],
         "--max_samples", 64, "--max_steps", 4, "--per_device_train_batch_size", per, "--save_steps", 2,
         "--logging_steps", 1, "--warmup_steps", 0, "--disable_tqdm", "true", "--output", out / "sft",
         *zero3],
        ["ppo", "--model", model, "--data_path", data["problems"], "--eval_data_path", data["problems"],
         "--eval_limit", 6, "--eval_steps", 2, "--keep_best", "true", "--steps", 4, "--batch_size", per,
         "--mini_batch_size", per, "--ppo_epochs", 1, "--top_k", 1, "--max_new_tokens", 8,
         "--learning_rate", "1e-3", "--reward_funcs", "coin", "--report_to", "none", "--save_steps", 2,
         "--seed", 0, "--use_cpu", "true", "--output", out / "ppo"],
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first DeepSpeed run on a machine builds its shared-memory op (minutes)
@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None,
    reason="DeepSpeed is not installed (pip install -e '.[deepspeed]')",
)
def test_zero3_on_two_cpu_processes_trains_sft_and_ppo_as_one_process(tiny_model_dir, tmp_path, monkeypatch):
    data = symbolic_world(tmp_path / "data", seeds=4)
    one, two, audit = tmp_path / "one", tmp_path / "two", tmp_path / "audit"
    audit.mkdir()
    run_here(commands(one, data, tiny_model_dir, 1, deepspeed=False), monkeypatch)
    started = time.perf_counter()
    result = launch(
        plan(*commands(two, data, tiny_model_dir, 2, deepspeed=True)), config=ZERO3, WM_AUDIT=audit
    )
    assert result.returncode == 0, tail(result)
    seconds = time.perf_counter() - started

    assert (two / "sft/checkpoint-4/global_step4").is_dir(), "not a DeepSpeed checkpoint: ZeRO-3 was not used"
    assert (two / "ppo/checkpoint-4/pytorch_model").is_dir(), (
        "not a DeepSpeed checkpoint: ZeRO-3 was not used"
    )
    assert logged(two / "sft", "loss") == pytest.approx(logged(one / "sft", "loss"), rel=1e-4)
    assert max_change(one / "sft", two / "sft") < 1e-3  # the saved model: the shards gathered whole
    for a, b in zip(rows(one / "ppo"), rows(two / "ppo"), strict=True):
        for key in ("kl/mean", "loss/value", "reward/mean"):
            assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-5), (b["step"], key)
    assert json.loads((two / "ppo/ppo_summary.json").read_text())["best_step"] == 0
    assert max_change(tiny_model_dir, two / "ppo") == 0.0  # step 0's policy, restored whole
    foreign = {p for p in written_by(audit, 1, two) if not OWN.search(p.name)}
    assert not foreign, f"rank 1 wrote shared outputs: {sorted(foreign)[:5]}"
    print(f"\nZeRO-3, two processes: sft 4 steps + ppo 4 steps in one launch, {seconds:.0f}s")
