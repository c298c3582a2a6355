"""The run contract of every trainer (``sft``, ``grpo``, ``ppo``, ``train-irm``, ``train-prm``).

- ``run_trainer``: the model name checked first (``check_model``), then one writer per output folder
  (``trainer_lock``, an ``OutputLock`` on rank 0 only).
- ``start_run``: the one resume path: the checkpoint ``resume`` asks for (``resume_checkpoint``:
  ``auto | never | last | PATH``, the older spellings folded in by ``resume_request``), guarded and
  checked as below, before any weights load.
- ``guard_resume``: a checkpoint is resumed only by a run with the same data and settings
  (``trainer_settings``, ``rl_settings``); a fresh start over an earlier run's checkpoints is refused
  unless ``overwrite``.
- ``check_steps_left`` / ``check_trained``: a run that would train, or trained, 0 steps is an error.
- ``train_resumable``: the end of every Trainer-based command, all of the above in order.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from wizardmath.checkpoints import TRAINER_STATE, last_checkpoint
from wizardmath.distributed import check_world, is_main_process, join_deepspeed_on_cpu, main_lock, ranks
from wizardmath.runstate import fingerprint, settings_diff

logger = logging.getLogger(__name__)


def check_model(name: str, what: str = "--model") -> None:
    """One clear line when ``name`` is not a loadable model: a folder without ``config.json``, a
    config with wrong model fields, or a hub name that cannot be reached."""
    from transformers import AutoConfig

    path = Path(name)
    if path.is_dir() and not (path / "config.json").is_file():
        raise ValueError(
            f"{what} {name}: not a model folder (no config.json); give a folder written by "
            "save_pretrained or `wizardmath init-tiny`, or a hub model name"
        )
    if not path.exists() and (name.startswith((".", "/", "~")) or name.count("/") > 1):
        raise FileNotFoundError(f"{what} {name}: no such model folder")
    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        where = f"{path / 'config.json'}: " if path.is_dir() else ""
        raise ValueError(f"{what} {name}: {where}cannot load the model config ({first})") from None


def trainer_lock(output_dir: str, stage: str) -> Any:
    """The output lock on rank 0; a no-op on the other ranks of a distributed launch."""
    return main_lock(output_dir, stage)


def run_trainer(config: Any, stage: str, train: Callable[[Any], Any]) -> Any:
    """``train(config)`` as every training command runs it: the model name checked first, then one
    writer per ``config.output_dir`` (``trainer_lock``)."""
    check_model(config.model)
    check_world(getattr(config, "world_size", ranks().world))  # TrainingArguments: processes joined
    join_deepspeed_on_cpu()  # ZeRO-3 builds the model across the processes
    with trainer_lock(config.output_dir, stage):
        return train(config)


# How every trainer is told to start clean over an earlier run (each has an ``overwrite`` field).
FRESH_FLAG = "--overwrite true"

TRAINER_SETTINGS = (
    "model",
    "dataset",
    "max_samples",
    "use_lora",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "seed",
    "lr_scheduler_type",
    "max_length",
    "step_format",
)


def trainer_settings(config: Any, *data_paths: str | None) -> dict[str, Any]:
    """What a resumed trainer must share with the run that wrote the checkpoint (more steps or epochs
    may be asked for: that is how a run is extended)."""
    out = {k: getattr(config, k) for k in TRAINER_SETTINGS if hasattr(config, k)}
    return {**out, "input_files": fingerprint([p for p in data_paths if p])}


RL_SETTINGS = (
    "split",
    "limit",
    "eval_data_path",
    "template",
    "reward_funcs",
    "reward_combine",
    "irm_path",
    "prm_path",
)


def rl_settings(config: Any) -> dict[str, Any]:
    """``trainer_settings`` of ``ppo``/``grpo`` plus the held-out set and the reward terms and models: a
    checkpoint trained against other rewards is not the run asked for."""
    extra = {k: getattr(config, k) for k in RL_SETTINGS if hasattr(config, k)}
    return {**trainer_settings(config, config.data_path, config.eval_data_path), **extra}


def checkpoint_step(checkpoint: str | os.PathLike | None) -> int:
    """The step a checkpoint was saved at (a Trainer's ``trainer_state.json`` or ppo's ``ppo_state.json``)."""
    if not checkpoint:
        return 0
    for name, key in (("trainer_state.json", "global_step"), ("ppo_state.json", "step")):
        try:
            return int(json.loads((Path(checkpoint) / name).read_text(encoding="utf-8"))[key])
        except (OSError, ValueError, KeyError):
            continue
    return 0


NEVER = ("never", "no", "false", "none", "fresh")


def resume_request(config: Any) -> str:
    """What ``config`` asks for: ``auto``, ``never``, ``last`` or a checkpoint path.

    The older spellings still count, and win when given: ``resume_from_checkpoint`` (``no`` is never;
    ``last``, ``true``, ``yes`` and ``auto`` demand a checkpoint, as ``last``; anything else is a path),
    ``auto_resume false`` (never), and a boolean ``resume`` (true is auto)."""
    old = getattr(config, "resume_from_checkpoint", None)
    if old is not None:
        old = str(old)
        if old.lower() in NEVER:
            return "never"
        return "last" if old.lower() in ("last", "true", "yes", "auto") else old
    if getattr(config, "auto_resume", None) is False:
        return "never"
    value = str(config.resume)
    key = value.lower()
    if key in ("auto", "true", "yes"):
        return "auto"
    if key in NEVER:
        return "never"
    return "last" if key == "last" else value


def resume_checkpoint(config: Any, state_file: str = TRAINER_STATE) -> str | None:
    """The checkpoint a run of ``config`` resumes from, or None for a fresh start.

    ``auto`` picks the newest complete ``checkpoint-N`` in ``config.output_dir`` (none with
    ``overwrite``, which starts fresh); ``never`` starts fresh (``guard_resume`` refuses that while
    checkpoints of an earlier run exist, unless ``overwrite``); ``last`` demands one; a path must be a
    folder. Resuming by default is what makes a killed trainer safe to start again with the same
    command."""
    mode = resume_request(config)
    if mode == "never" or (mode == "auto" and config.overwrite):
        return None
    last = last_checkpoint(config.output_dir, state_file)  # skips a checkpoint torn by a kill mid-save
    if mode == "auto":
        return last
    if mode == "last":
        if last is None:
            raise ValueError(
                f"resume: last: no checkpoint-* folder in {config.output_dir}; set resume to 'never' to "
                "start fresh"
            )
        return last
    if not Path(mode).is_dir():
        raise ValueError(f"resume: {mode} is not a folder; use auto, never, last or a checkpoint path")
    return mode


def start_run(
    config: Any,
    command: str,
    settings: dict[str, Any],
    outputs: Iterable[str] = (),
    state_file: str = TRAINER_STATE,
) -> str | None:
    """The one resume path of every trainer: the checkpoint ``config.resume`` asks for
    (``resume_checkpoint``), resumed only with the same ``settings`` and refused over an earlier run's
    checkpoints unless ``overwrite`` (``guard_resume``, which deletes them and ``outputs`` then), and a
    Trainer checkpoint with no step left refused (``check_steps_left``). Returns the checkpoint."""
    checkpoint = resume_checkpoint(config, state_file)
    guard_resume(config.output_dir, command, settings, checkpoint, config.overwrite, outputs)
    check_steps_left(command, config.output_dir, checkpoint, getattr(config, "max_steps", -1))
    return checkpoint


def guard_resume(
    output_dir: str,
    stage: str,
    settings: dict[str, Any],
    checkpoint: str | None,
    overwrite: bool = False,
    outputs: Iterable[str] = (),
) -> None:
    """A checkpoint is resumed only by a run with the same data and settings; a fresh start records them.

    A fresh start into a folder that holds checkpoints of an earlier run is refused (they would stay
    and the next default run would resume them) unless ``overwrite``, which deletes them, the settings
    record and ``outputs`` (file names in ``output_dir``, e.g. an append-only metrics file)."""
    import shutil

    folder = Path(output_dir)
    manifest = folder / f"{stage}.run.json"
    settings = json.loads(json.dumps(settings, default=str))
    if overwrite and checkpoint:
        raise ValueError(
            f"{stage}: --overwrite true starts fresh, but a checkpoint to resume was given ({checkpoint})"
        )
    old_checkpoints = sorted(
        (p for p in folder.glob("checkpoint-*") if p.is_dir()), key=lambda p: (len(p.name), p.name)
    )  # checkpoint-9 before checkpoint-10
    if overwrite and is_main_process():
        for path in old_checkpoints:
            shutil.rmtree(path)
        for name in [manifest.name, *outputs]:
            (folder / name).unlink(missing_ok=True)
        if old_checkpoints:
            logger.warning(
                "%s: --overwrite: deleted %d checkpoint(s) of an earlier run",
                output_dir,
                len(old_checkpoints),
            )
    resumable = [p.name for p in old_checkpoints if checkpoint_step(p) > 0]
    if not overwrite and not checkpoint and resumable:
        raise ValueError(
            f"{output_dir} holds checkpoints of an earlier {stage} run ({', '.join(resumable[-3:])}); "
            "a fresh "
            "start would leave them for the next run to resume: use another output folder, or "
            "--overwrite true to delete them and start clean"
        )
    if checkpoint and manifest.exists():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        diff, changes = settings_diff(old, settings)
        if diff:
            raise ValueError(
                f"{output_dir} holds checkpoints of a {stage} run with other data or settings ({changes}); "
                f"resuming would not train on them: use another output folder, or {FRESH_FLAG} to start fresh"
            )
        return
    if checkpoint:
        logger.warning("%s: resuming %s without a record of its settings (an older run)", checkpoint, stage)
    if is_main_process():
        from wizardmath.jsonl import write_json

        write_json(manifest, settings)


def check_trained(stage: str, output_dir: str, start_step: int, end_step: int) -> None:
    """A run that trained no step did not produce a new model: an error, never a summary."""
    if end_step > start_step:
        return
    if start_step:
        raise ValueError(
            f"{stage}: trained 0 steps: {output_dir} holds a finished run (step {start_step}) "
            "and resuming it "
            f"changes nothing; use another output folder, or {FRESH_FLAG} to train again"
        )
    raise ValueError(
        f"{stage}: trained 0 steps (no batch to train on? check the data, max_steps and the batch size)"
    )


def check_steps_left(stage: str, output_dir: str, checkpoint: str | None, max_steps: int = -1) -> None:
    """Refuse to resume a Trainer checkpoint with no step left to train.

    Why: transformers' Trainer, resumed from the checkpoint of a finished run, trains one step past
    the end and saves it over the finished model, so each re-run of the same command would change the
    model. A checkpoint at or past its run's planned steps (its ``trainer_state.json``'s ``max_steps``,
    or ``max_steps`` when the new run sets one) is refused, as a run that trained 0 steps is."""
    if not checkpoint:
        return
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
        done, planned = int(state["global_step"]), int(state.get("max_steps") or 0)
    except (OSError, ValueError, KeyError, TypeError):
        return  # not a Trainer checkpoint we can read: the Trainer decides
    if max_steps > 0:
        planned = max_steps
    if planned > 0 and done >= planned:
        check_trained(stage, output_dir, done, done)


def train_resumable(
    trainer: Any,
    config: Any,
    command: str,
    checkpoint: str | None,
    settings: dict[str, Any] | None = None,
    outputs: Iterable[str] = (),
) -> Any:
    """The end of every Trainer-based command (``sft``, ``grpo``, ``train-irm``, ``train-prm``), after
    the caller picked ``checkpoint``: ``guard_resume`` with ``settings`` and ``outputs`` (``None``: the
    caller guarded already, e.g. before loading weights), refuse a checkpoint with no step left
    (``check_steps_left``), train from it, refuse a run that trained 0 steps (``check_trained``),
    merge LoRA into one plain checkpoint that ``from_pretrained`` loads, and save the model to
    ``config.output_dir``. Returns the Trainer's ``TrainOutput``."""
    if settings is not None:
        guard_resume(config.output_dir, command, settings, checkpoint, config.overwrite, outputs)
    check_steps_left(command, config.output_dir, checkpoint, getattr(config, "max_steps", -1))
    start = checkpoint_step(checkpoint)
    if checkpoint:
        print(f"{command}: resuming from {checkpoint} (step {start})", flush=True)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    check_trained(command, config.output_dir, start, trainer.state.global_step)
    if config.use_lora:
        trainer.model = trainer.model.merge_and_unload()
    trainer.save_model(config.output_dir)
    return result
