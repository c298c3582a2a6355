"""The one finder of the checkpoint a trainer resumes from.

Every trainer (SFT, GRPO, PPO, IRM, PRM) writes ``OUTPUT_DIR/checkpoint-N/`` folders and writes one
state file in each *last* (the Trainer's ``trainer_state.json``; PPO's own ``ppo_state.json``). A run
killed while saving leaves a folder without that file, or with it torn; transformers'
``get_last_checkpoint`` would pick that folder and the resume would fail. ``last_checkpoint`` skips
it and returns the one before.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")
TRAINER_STATE = "trainer_state.json"  # what transformers' Trainer writes last in a checkpoint


def checkpoint_folders(output_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every ``checkpoint-N`` folder in ``output_dir``, newest first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in folder.iterdir()
        if (m := CHECKPOINT_NAME.fullmatch(p.name)) and p.is_dir()
    ]
    return sorted(found, key=lambda item: item[0], reverse=True)


def last_checkpoint(output_dir: str | os.PathLike, state_file: str = TRAINER_STATE) -> str | None:
    """The newest *complete* ``checkpoint-N`` folder in ``output_dir`` (its ``state_file`` holds valid
    JSON), or ``None`` when there is none."""
    for _, path in checkpoint_folders(output_dir):
        try:
            json.loads((path / state_file).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return str(path)
    return None
