"""One process of a launched test run: ``wizardmath`` commands as ``accelerate launch -m wizardmath.cli``
runs them, with test hooks. Launched as a script (``accelerate launch ... dist_driver.py CMD ARGS
[--then CMD ARGS ...]``), it runs each command in turn in the same processes (one start-up for many
stages) and skips a command whose ``--output``/``--output_dir`` already holds its summary, so the same
plan run again resumes the stage that was killed and goes on. Hooks, from the environment:

- reward terms ``length`` (longer responses score higher, up to 40 characters) and ``coin`` (a hash of
  the text): both vary by response, so the untrained tiny model has something to learn and the ranks
  of a launch keep different numbers of groups under ``filter_groups``;
- ``WM_KILL=stage:where:n:rank``: SIGKILL rank ``rank`` of ``stage`` at the end of training step ``n``
  (``where`` = ``step``), inside the save of checkpoint ``n`` before that rank writes its files
  (``save``, ppo only), or right after it appended its ``n``-th record to its part of an output
  (``write``: eval, solve, label-prm);
- ``WM_DIGESTS=DIR``: ``DIR/<stage>.rank<r>``, the sha256 of the weights this rank ends with;
- ``WM_AUDIT=DIR``: ``DIR/writes.rank<r>``, every file this rank opened for writing, renamed, removed
  or saved a tensor file to (the audit hook plus ``torch.save`` and safetensors' ``save_file``).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import zlib
from pathlib import Path

RANK = int(os.environ.get("RANK", "0"))
SUMMARIES = {
    "sft": "sft_summary.json",
    "train-irm": "irm_summary.json",
    "train-prm": "prm_summary.json",
    "grpo": "grpo_summary.json",
    "ppo": "ppo_summary.json",
}


def audit_writes(folder: Path) -> None:
    """Log every write this process makes, wherever it goes (the test reads what landed in outputs)."""
    log = (folder / f"writes.rank{RANK}").open("a", buffering=1)

    def note(path: object) -> None:
        if isinstance(path, (str, os.PathLike)):
            log.write(os.path.abspath(os.fspath(path)) + "\n")

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and args[0] is not None:
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & 0o103)
            if writes:
                note(args[0])
        elif event in ("os.rename", "os.replace") and len(args) > 1:
            note(args[1])
        elif event in ("os.remove", "shutil.rmtree") and args:
            note(args[0])

    sys.addaudithook(hook)
    import safetensors.torch
    import torch

    save, save_file = torch.save, safetensors.torch.save_file

    def torch_save(obj, f, *a, **k):
        note(f)
        return save(obj, f, *a, **k)

    def safetensors_save(tensors, filename, *a, **k):
        note(filename)
        return save_file(tensors, filename, *a, **k)

    torch.save, safetensors.torch.save_file = torch_save, safetensors_save


def digest(model, stage: str) -> None:
    """The sha256 of ``model``'s weights on this rank, for the test to compare across ranks."""
    folder = os.environ.get("WM_DIGESTS")
    if not folder:
        return
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().numpy().tobytes())
    Path(folder, f"{stage}.rank{RANK}").write_text(h.hexdigest())


KILL: tuple[str, int] | None = None  # (where, step) of the kill planned for the command that runs now


def kill_plan(stage: str) -> tuple[str, int] | None:
    """``(where, step)`` when ``WM_KILL`` names ``stage`` and this rank."""
    spec = os.environ.get("WM_KILL")
    if not spec:
        return None
    name, where, step, rank = spec.split(":")
    return (where, int(step)) if name == stage and int(rank) == RANK else None


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_hooks() -> None:
    """Kills and digests around the trainers (once; ``KILL`` says what to do for the current command)."""
    from transformers import Trainer, TrainerCallback

    from wizardmath import jsonl, resume
    from wizardmath.train import ppo

    class KillAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if ("step", state.global_step) == KILL:
                die()

    trainer_init, train = Trainer.__init__, resume.train_resumable
    step, save, finish = ppo.ppo_step, ppo.save_checkpoint, ppo.finish

    def init(self, *a, **k):
        trainer_init(self, *a, **k)
        self.add_callback(KillAt())

    def train_resumable(trainer, config, command, *a, **k):
        result = train(trainer, config, command, *a, **k)
        digest(trainer.accelerator.unwrap_model(trainer.model), command)
        return result

    def ppo_step(state):
        if ("step", state.step) == KILL:
            die()
        return step(state)

    def save_checkpoint(state, elapsed):
        if ("save", state.step) == KILL:
            die()
        return save(state, elapsed)

    def ppo_finish(state, start):
        summary = finish(state, start)
        digest(state.policy, "ppo")
        return summary

    append, written = jsonl.JsonlWriter.write, [0]

    def write(self, record):
        append(self, record)
        if KILL and KILL[0] == "write" and self.path.name.endswith(f".rank{RANK}"):
            written[0] += 1
            if written[0] == KILL[1]:
                die()

    jsonl.JsonlWriter.write = write
    Trainer.__init__, resume.train_resumable = init, train_resumable
    ppo.ppo_step, ppo.save_checkpoint, ppo.finish = ppo_step, save_checkpoint, ppo_finish


def length(completions: list[str], **_) -> list[float]:
    return [min(len(c), 40) / 40 for c in completions]


def coin(completions: list[str], **_) -> list[float]:
    return [float(zlib.crc32(c.encode()) % 2) for c in completions]


REWARD_TERMS = {"length": length, "coin": coin}


def register_rewards() -> None:
    from wizardmath import rewards

    for name, func in REWARD_TERMS.items():
        rewards.register_reward(name, func, False)


def done(argv: list[str]) -> bool:
    """The command's summary is there: a finished stage of an earlier launch of the same plan."""
    for flag in ("--output", "--output_dir"):
        if flag in argv and argv[0] in SUMMARIES:
            return Path(argv[argv.index(flag) + 1], SUMMARIES[argv[0]]).exists()
    return False


def main(argv: list[str]) -> int:
    if os.environ.get("WM_AUDIT"):
        audit_writes(Path(os.environ["WM_AUDIT"]))
    from wizardmath import cli

    register_rewards()
    install_hooks()
    global KILL
    commands, current = [], []
    for item in argv:
        if item == "--then":
            commands.append(current)
            current = []
        else:
            current.append(item)
    commands.append(current)
    for command in commands:
        if done(command):
            continue
        KILL = kill_plan(command[0])
        code = cli.main(command)
        print(json.dumps({"rank": RANK, "command": command[0], "exit": code}), flush=True)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
