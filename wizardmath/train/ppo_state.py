"""A PPO run's typed state and what persists it: checkpoints, metrics.jsonl and the trackers.

``checkpoint-N/`` holds accelerate's ``save_state`` (weights, optimizer, RNG states) and, written last
as the mark of a complete checkpoint, ``ppo_state.json`` (step, KL coefficient, wall time so far and
the accuracy before training), so a resumed run takes exactly the step it would have taken.

Checkpoint rotation stays here rather than in accelerate's ``ProjectConfiguration(total_limit=...)``:
accelerate deletes the oldest checkpoint *before* writing the new one (with ``save_total_limit: 1`` a
crash while saving would leave none) and names folders ``checkpoints/checkpoint_<save count>``, not
the ``checkpoint-<step>`` every trainer here resumes from and refuses to start fresh over.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from wizardmath.data.records import MathProblem
from wizardmath.train.ppo_config import PPOConfig
from wizardmath.train.ppo_core import FixedKLController

STATE_FILE = "ppo_state.json"


@dataclass
class PPOState:
    """Everything a PPO step reads and changes; ``step`` PPO steps are done."""

    config: PPOConfig
    accelerator: Any
    model: torch.nn.Module  # the prepared ActorCritic
    ref: torch.nn.Module | None  # the frozen reference (None with LoRA: the policy with adapters off)
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    kl_ctl: FixedKLController
    reward: Any  # wizardmath.rewards' combined reward
    train: list[MathProblem]
    held_out: list[MathProblem]
    vllm: Any | None = None  # a VLLMRollout with rollout_backend: vllm
    step: int = 0
    elapsed: float = 0.0  # wall seconds of earlier processes of this run (from the checkpoint)
    accuracy_before: float = float("nan")

    @property
    def policy(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.model).policy


def last_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """Newest complete ``checkpoint-N`` (its ``ppo_state.json``, written last, is whole)."""
    from wizardmath.checkpoints import last_checkpoint as newest_complete

    found = newest_complete(output_dir, STATE_FILE)
    return Path(found) if found else None


def save_checkpoint(state: PPOState, elapsed: float) -> None:
    """``checkpoint-<step>``; then, the new one whole, the oldest beyond ``save_total_limit`` go."""
    config, accelerator = state.config, state.accelerator
    path = Path(config.output_dir) / f"checkpoint-{state.step}"
    accelerator.save_state(str(path), safe_serialization=False)
    if accelerator.is_main_process:
        record = {
            "step": state.step,
            "kl_ctl": state.kl_ctl.state_dict(),
            "elapsed": elapsed,
            "accuracy_before": state.accuracy_before,
        }
        (path / STATE_FILE).write_text(json.dumps(record))
        kept = sorted(Path(config.output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        for old in kept[: -config.save_total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def load_checkpoint(state: PPOState, path: Path) -> None:
    """Restore the accelerate state and ``ppo_state.json`` of ``path`` into ``state``."""
    state.accelerator.load_state(str(path))
    record = json.loads((path / STATE_FILE).read_text())
    state.step, state.elapsed = record["step"], record["elapsed"]
    state.accuracy_before = record.get("accuracy_before", float("nan"))
    state.kl_ctl.load_state_dict(record["kl_ctl"])
    state.accelerator.print(f"resumed from {path} at step {state.step}")


def tracker_config(config: PPOConfig) -> dict[str, Any]:
    """The trainer's settings for the tracker (a plan config's dry-run keys left out)."""
    return {f.name: getattr(config, f.name) for f in fields(PPOConfig)}


class MetricsLog:
    """metrics.jsonl (append-only, survives resume; the pipeline report reads it), accelerate's trackers
    (``Accelerator(log_with=...)``; wandb offline by default) and the progress bar."""

    def __init__(self, state: PPOState):
        from tqdm.auto import tqdm

        config, accelerator = state.config, state.accelerator
        self.accelerator, self.main = accelerator, accelerator.is_main_process
        self.path = Path(config.output_dir) / "metrics.jsonl"
        self.bar = tqdm(
            total=config.steps, initial=state.step, desc="ppo", disable=not self.main, dynamic_ncols=True
        )
        if accelerator.log_with:
            wandb = {"name": Path(config.output_dir).name, "dir": config.output_dir, "resume": "allow"}
            try:
                accelerator.init_trackers(
                    config.wandb_project, config=tracker_config(config), init_kwargs={"wandb": wandb}
                )
            except Exception as err:  # noqa: BLE001 (logging must not stop training)
                accelerator.print(f"trackers disabled: {err}")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.accelerator.log(metrics, step=step)  # trackers log on the main process only
        if not self.main:
            return
        from wizardmath.jsonl import JsonlWriter

        with JsonlWriter(self.path) as out:
            out.write({"step": step, **metrics})
        self.bar.update(1)
        acc = metrics.get("reward/verifier", float("nan"))
        self.bar.set_postfix(
            reward=f"{metrics['reward/mean']:.3f}", kl=f"{metrics['kl/mean']:.3f}", acc=f"{acc:.2f}"
        )

    def close(self) -> None:
        self.bar.close()
        self.accelerator.end_training()


def trackers_for(config: PPOConfig) -> list[str]:
    """``Accelerator(log_with=...)`` for ``report_to`` (wandb offline unless WANDB_MODE says otherwise)."""
    return config.setup_reporting()
