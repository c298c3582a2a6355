"""Check stage commands without running them: configs load, flags parse, PPO prints its memory plan.

    python scripts/dry_run.py --command [@ACCELERATE_CONFIG] STAGE ARGS...   # one command
    python scripts/dry_run.py FILE                                          # one recorded command a line

The stage scripts call this with ``DRY_RUN=1`` (see scripts/_lib.sh). A failing command prints its
stage and error; the exit status is the number of commands that failed (0: all good).
"""

from __future__ import annotations

import importlib
import shlex
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def check_accelerate_config(path: str) -> None:
    import yaml

    config = yaml.safe_load(Path(path).read_text())
    deepspeed_file = (config.get("deepspeed_config") or {}).get("deepspeed_config_file")
    if deepspeed_file and not Path(deepspeed_file).is_file():
        raise FileNotFoundError(f"{path}: deepspeed_config_file {deepspeed_file} not found")


def tiny_model_config(folder: str) -> str:
    """A folder holding the config.json init-tiny would write (shape only, no weights)."""
    import dataclasses
    import json

    from wizardmath.tiny import TinyConfig

    shape = {
        k: v
        for k, v in dataclasses.asdict(TinyConfig()).items()
        if k.endswith(("_size", "_layers", "_heads"))
    }
    (Path(folder) / "config.json").write_text(json.dumps({**shape, "tie_word_embeddings": False}))
    return folder


def recipe_base_model(config_path: str | None) -> str | None:
    """The base model of the recipe a config belongs to (``model`` in its sibling sft.yaml)."""
    if not config_path:
        return None
    from wizardmath.config import read_yaml

    sft = Path(config_path).parent / "sft.yaml"
    return read_yaml(sft).get("model") if sft.is_file() else None


def check_command(argv: list[str]) -> str:
    """Parse one command's config and flags; returns a one-line summary (raises on a bad config or flag)."""
    from wizardmath.cli import COMMANDS
    from wizardmath.config import parse_config

    accel = None
    if argv and argv[0].startswith("@"):
        accel, argv = argv[0][1:], argv[1:]
        check_accelerate_config(accel)
    stage, rest = argv[0], argv[1:]
    if stage not in COMMANDS:
        raise ValueError(f"unknown stage '{stage}'")
    command = COMMANDS[stage]
    cls = getattr(importlib.import_module(command.module), command.config)
    if stage == "ppo":
        rest = [*rest, "--dry_run", "true"]
    cpu_note = ""
    if _is_trainer_config(cls) and not _has_cuda():
        rest, cpu_note = (
            [*rest, "--use_cpu", "true"],
            "  (no GPU here: checked with use_cpu)",
        )  # bf16 needs one
    config = parse_config(cls, rest, prog=f"wizardmath {stage}")
    config_path = next((rest[i + 1] for i, a in enumerate(rest[:-1]) if a == "--config"), None)
    where = f"{stage} --config {config_path or '(none)'}"
    if stage == "ppo":
        from wizardmath.train.ppo_plan import memory_plan, shape_from_name

        if not (Path(config.model) / "config.json").is_file() and shape_from_name(config.model) is None:
            config.model = recipe_base_model(config_path) or config.model  # same shape as the SFT model
        with tempfile.TemporaryDirectory() as tmp:
            if config.model == "tiny-model":  # not built yet: plan from init-tiny's default shape
                config.model = tiny_model_config(tmp)
            print(memory_plan(config))
    return f"ok  {where}" + (f"  (accelerate: {accel})" if accel else "") + cpu_note


def _is_trainer_config(cls: type) -> bool:
    from transformers import TrainingArguments

    return issubclass(cls, TrainingArguments)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main(args: list[str]) -> int:
    if args[:1] == ["--command"]:
        commands = [args[1:]]
    elif len(args) == 1:
        commands = [shlex.split(line) for line in Path(args[0]).read_text().splitlines() if line.strip()]
    else:
        print(__doc__)
        return 2
    failed = 0
    for argv in commands:
        try:
            print(check_command(argv))
        except Exception as err:  # report every bad command, not only the first
            failed += 1
            print(f"FAIL {shlex.join(argv)}\n     {type(err).__name__}: {err}")
    print(f"dry run: {len(commands) - failed}/{len(commands)} stage commands check out")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
