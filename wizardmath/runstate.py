"""What every record-writing stage shares to stay safe: an output lock, a settings manifest,
torn-line repair and the exit codes.

- ``OutputLock``: one writer per output: an ``flock`` on a lock file that holds the owner's pid and
  host; the kernel drops it when the owner dies, so a stale lock is taken over atomically (with a
  warning). A second writer gets one line naming the holder.
- ``check_manifest``: an append-only stage records its settings (and a fingerprint of its input
  files) on first write; a re-run with other settings or data is refused unless ``resume`` (carry
  on anyway) or ``overwrite`` (delete the outputs and start clean).
- ``repair_jsonl`` (from ``wizardmath.jsonl``): lines of a results file that are not whole JSON objects
  (a torn write, anywhere in the file) are moved to ``FILE.torn`` with a warning, so a re-run redoes them.
- Exit codes: ``EXIT_INCOMPLETE`` when a backend, judge or solver failure left records to retry
  (``retry_pending`` in the stage's result), ``EXIT_LOCKED`` when another writer holds the output,
  ``EXIT_INTERRUPTED`` (130) after Ctrl-C.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from wizardmath.jsonl import repair_jsonl  # noqa: F401 (defined beside JsonlWriter, which runs it; callers import it here)

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_LOCKED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it
_HELD: dict[
    Path, tuple[int, int]
] = {}  # locks this process holds: (re-entry count, fd); the pipeline nests stages


class OutputLocked(RuntimeError):
    """Another live process writes the same output."""


class OutputLock:
    """``with OutputLock(folder):`` holds ``DIR/.wizardmath.lock``; ``OutputLock(file, folder=False)``
    holds ``FILE.lock`` (stages whose output is one file, e.g. eval results: two may share a folder).

    The lock is an ``flock`` on the open lock file, which the kernel releases when the holder dies: a
    lock file nobody holds is stale by definition, and taking it over is the same atomic ``flock``
    (two starters can never both win). The file's text (pid, host, command) is only for the message."""

    def __init__(self, target: str | os.PathLike, command: str = "", folder: bool = True):
        target = Path(target)
        self.path = target / ".wizardmath.lock" if folder else target.with_name(target.name + ".lock")
        self.path = self.path.resolve()
        self.command = command

    def _holder(self, fd: int | None = None) -> dict[str, Any]:
        try:
            if fd is None:
                return json.loads(self.path.read_text(encoding="utf-8"))
            return json.loads(os.pread(fd, 1 << 16, 0).decode("utf-8"))
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        if self.path in _HELD:
            count, fd = _HELD[self.path]
            _HELD[self.path] = (count + 1, fd)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                os.close(fd)
                if not holder:
                    raise OutputLocked(
                        f"{self.path}: another writer is taking this lock right now; "
                        "try again in a few seconds"
                    ) from None
                raise OutputLocked(
                    f"{self.path.parent} is being written by pid {holder.get('pid')} on {holder.get('host')} "
                    f"({holder.get('command') or 'wizardmath'}, since {holder.get('since')}); "
                    "wait for it to end"
                ) from None
            try:
                same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            if not same_file:  # the holder released (and removed) it between our open and our flock
                os.close(fd)
                continue
            self._claim(fd)
            return
        raise OutputLocked(f"{self.path}: could not take the lock (another writer keeps taking it)")

    def _claim(self, fd: int) -> None:
        holder = self._holder(fd)
        if holder.get("pid") and holder.get("host") != socket.gethostname():
            os.close(fd)  # a lock file from another machine (a shared disk): its flock may not reach us
            raise OutputLocked(
                f"{self.path.parent} is locked by pid {holder.get('pid')} on {holder.get('host')} "
                f"({holder.get('command') or 'wizardmath'}); delete {self.path} if that process is gone"
            )
        if holder.get("pid"):
            logger.warning(
                "%s: taking over a stale lock of pid %s on %s",
                self.path,
                holder.get("pid"),
                holder.get("host"),
            )
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
        _HELD[self.path] = (1, fd)

    def release(self) -> None:
        count, fd = _HELD.get(self.path, (0, -1))
        if count > 1:
            _HELD[self.path] = (count - 1, fd)
            return
        if _HELD.pop(self.path, None) is None:
            return
        self.path.unlink(missing_ok=True)  # while still holding it: a waiter that opened this file retries
        os.close(fd)

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _sha(path: str | os.PathLike, size: int | None = None) -> str:
    digest, left = hashlib.sha256(), size
    with open(path, "rb") as handle:
        while left is None or left > 0:
            block = handle.read(1 << 20 if left is None else min(1 << 20, left))
            if not block:
                break
            digest.update(block)
            left = None if left is None else left - len(block)
    return digest.hexdigest()[:16]


def fingerprint(paths: Iterable[str | os.PathLike]) -> dict[str, list]:
    """``{path: [bytes, sha256]}`` of the local input files (data sets named by hub id are left out)."""
    return {str(p): [Path(p).stat().st_size, _sha(p)] for p in paths if p and Path(p).is_file()}


def _same_or_grown(old: dict[str, list], new: dict[str, list]) -> bool:
    """True when every input is the recorded file, or that file with records appended (more arrived)."""
    if set(old) != set(new):
        return False
    for path, (size, sha) in old.items():
        if new[path] != [size, sha] and not (new[path][0] >= size and _sha(path, size) == sha):
            return False
    return True


def check_manifest(
    manifest: str | os.PathLike,
    settings: dict[str, Any],
    outputs: Iterable[str | os.PathLike],
    overwrite: bool = False,
    resume: bool = False,
) -> None:
    """Refuse to append to ``outputs`` written with other ``settings``; record them on first write.

    ``overwrite`` deletes ``outputs`` (and the manifest) first; ``resume`` continues despite a
    difference (the manifest keeps the first run's settings).
    """
    manifest, outputs = Path(manifest), [Path(p) for p in outputs]
    for path in outputs:  # before anything is written or deleted: one line, not a manifest beside it
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder, where a file is needed", str(path))
    settings = json.loads(json.dumps(settings, default=str))  # compare as it will be stored
    if overwrite:
        for path in [*outputs, manifest]:
            path.unlink(missing_ok=True)
            Path(str(path) + ".torn").unlink(missing_ok=True)
    has_output = any(p.exists() and p.stat().st_size for p in outputs)
    if (
        manifest.exists() and has_output
    ):  # with no output yet there is nothing to mix: record the new settings
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
        if "input_files" in old and _same_or_grown(old["input_files"], settings.get("input_files", {})):
            settings["input_files"] = old["input_files"]
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if diff and not resume:
            changes = "; ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in diff)
            raise ValueError(
                f"{manifest.parent} holds output of a run with other data or settings ({changes}); "
                "use another --output, --overwrite to start clean, or --resume to carry on anyway"
            )
        if diff:
            logger.warning("%s: resuming despite changed settings: %s", manifest, ", ".join(diff))
        return
    if has_output:
        logger.warning("%s: output without a settings record (an older run); adopting it", manifest.parent)
    from wizardmath.jsonl import write_json

    write_json(manifest, settings)


def exit_code(result: Any) -> int:
    """The CLI's exit status for a stage's return value."""
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    if isinstance(result, dict) and result.get("retry_pending"):
        return EXIT_INCOMPLETE
    return EXIT_OK


def merge_counts(old: Any, new: Any) -> Any:
    """Numbers add, dicts merge key by key, anything else takes the newer value (stats across runs)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {
            k: merge_counts(old.get(k), new.get(k)) if k in old and k in new else new.get(k, old.get(k))
            for k in {**old, **new}
        }
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(new, bool):
        return old + new
    return new


# --------------------------------------------------------------- models and trainers


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


def is_main_process() -> bool:
    """Rank 0 of a distributed launch (or a plain run).

    The one process that takes locks and writes records."""
    return int(os.environ.get("RANK", "0")) == 0


def trainer_lock(output_dir: str, stage: str) -> Any:
    """The output lock on rank 0; a no-op on the other ranks of a distributed launch."""
    from contextlib import nullcontext

    return OutputLock(output_dir, stage) if is_main_process() else nullcontext()


def run_trainer(config: Any, stage: str, train: Callable[[Any], Any]) -> Any:
    """``train(config)`` as every training command runs it: the model name checked first, then one
    writer per ``config.output_dir`` (``trainer_lock``)."""
    check_model(config.model)
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
        if "input_files" in old and _same_or_grown(old["input_files"], settings.get("input_files", {})):
            settings["input_files"] = old["input_files"]
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if diff:
            changes = "; ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in diff)
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
    settings: dict[str, Any] | None,
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
