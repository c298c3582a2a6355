"""A PPO run's typed state and what persists it: checkpoints, metrics.jsonl and the trackers.

``checkpoint-N/`` holds accelerate's ``save_state`` (weights, optimizer, RNG states), the best
validated policy when it is not this step's (``best_policy.pt``) and, written last as the mark of a
complete checkpoint, ``ppo_state.json`` (step, KL coefficient, wall time so far, the accuracy before
training, the validation curve and best step so far, the last step's metrics). A resumed run takes
exactly the step it would have taken, picks its best step over the whole curve, and ``metrics.jsonl``
loses the rows written after the checkpoint it resumes (they are written again), so a killed and
resumed run leaves the files an uninterrupted one does.

Checkpoint rotation stays here rather than in accelerate's ``ProjectConfiguration(total_limit=...)``:
accelerate deletes the oldest checkpoint *before* writing the new one (with ``save_total_limit: 1`` a
crash while saving would leave none) and names folders ``checkpoints/checkpoint_<save count>``, not
the ``checkpoint-<step>`` every trainer here resumes from and refuses to start fresh over.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from wizardmath.data.records import MathProblem
from wizardmath.train.ppo_config import PPOConfig
from wizardmath.train.ppo_core import FixedKLController
from wizardmath.train.ppo_models import gathered
from wizardmath.train.ppo_select import BestPolicy

STATE_FILE = "ppo_state.json"
BEST_POLICY_FILE = "best_policy.pt"  # the best validated policy, when it is not the checkpoint's own
METRICS_FILE = "metrics.jsonl"


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
    best: BestPolicy = field(default_factory=BestPolicy)  # validation curve and best policy so far
    last_metrics: dict[str, float] = field(default_factory=dict)  # the metrics of step ``step``

    @property
    def policy(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.model).policy


def save_checkpoint(state: PPOState, elapsed: float) -> None:
    """``checkpoint-<step>``; then, the new one whole, the oldest beyond ``save_total_limit`` go."""
    from wizardmath.jsonl import write_json

    config, accelerator, best = state.config, state.accelerator, state.best
    path = Path(config.output_dir) / f"checkpoint-{state.step}"
    if accelerator.is_main_process:  # a damaged checkpoint of this step, passed over on resume, is redone:
        (path / STATE_FILE).unlink(missing_ok=True)  # incomplete until its new state file is written
    accelerator.save_state(str(path), safe_serialization=False)
    # Every rank's files (its random states; its shards under DeepSpeed) before the mark of a complete
    # checkpoint: a rank killed mid-save then leaves a checkpoint that resume passes over.
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        # The best policy of an earlier step is saved beside the weights; this step's is the weights.
        best_elsewhere = best.state is not None and best.step != state.step
        if best_elsewhere:
            torch.save(best.state, path / BEST_POLICY_FILE)
        record = {
            "step": state.step,
            "kl_ctl": state.kl_ctl.state_dict(),
            "elapsed": elapsed,
            "accuracy_before": state.accuracy_before,
            "best": {**best.record(), "weights": BEST_POLICY_FILE if best_elsewhere else None},
            "metrics": state.last_metrics,
        }
        write_json(path / STATE_FILE, record)  # last, and atomic: the mark of a complete checkpoint
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
    state.last_metrics = record.get("metrics", {})
    best = record.get("best")
    if best is not None:  # (a checkpoint of an older version has none: the curve starts again)
        if best["weights"]:
            weights = torch.load(path / best["weights"], map_location="cpu", weights_only=True)
        elif best["step"] == state.step:  # the checkpoint's own weights, whole (gathered under ZeRO-3)
            with gathered(state.accelerator, state.policy):
                weights = {k: v.detach().to("cpu", copy=True) for k, v in state.policy.state_dict().items()}
        else:
            weights = None
        state.best.load_record(best, weights)
    state.accelerator.print(f"resumed from {path} at step {state.step}")


def drop_rows_after(path: Path, step: int) -> int:
    """Keep the rows of ``path`` (metrics.jsonl) up to ``step``: those after it were written by a run
    killed before its next checkpoint, and the resumed run writes them again. Returns how many went."""
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_bytes().splitlines(keepends=True):
        try:
            row = json.loads(line)
            keep = line.endswith(b"\n") and int(row["step"]) <= step
        except (ValueError, KeyError, TypeError):  # a torn last line: not a row
            keep = False
        if keep:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_bytes(b"".join(kept))
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # the old file stays whole; the error says why
            raise
    return dropped


def reduce_metrics(accelerator: Any, metrics: dict[str, float]) -> dict[str, float]:
    """One row of a step's metrics for all processes (``mean_of_rows`` of every process's row); a plain
    run's own metrics. A collective: every process calls it at the same point of the step."""
    if accelerator.num_processes == 1:
        return metrics
    from accelerate.utils import gather_object

    return mean_of_rows(gather_object([metrics]))


def mean_of_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    """Each key's mean over the rows that have a value for it (a NaN is none), and the sum for the
    ``*_errors`` counts (failed reward calls: every process's add up). Rows may differ in keys (an
    error count appears only where a reward failed)."""
    out = {}
    for key in sorted({k for row in rows for k in row}):
        values = [row[key] for row in rows if key in row and row[key] == row[key]]
        if key.endswith("_errors"):
            out[key] = float(sum(values))
        else:
            out[key] = sum(values) / len(values) if values else float("nan")
    return out


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
        self.path = Path(config.output_dir) / METRICS_FILE
        if self.main and drop_rows_after(self.path, state.step):
            accelerator.print(f"{self.path}: rows after step {state.step} dropped (written again on resume)")
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
        """The progress bar; the trackers end with the run (``accelerator.end_training``)."""
        self.bar.close()


def trackers_for(config: PPOConfig) -> list[str]:
    """``Accelerator(log_with=...)`` for ``report_to`` (wandb offline unless WANDB_MODE says otherwise)."""
    return config.setup_reporting()
