"""The one finder of the checkpoint a trainer resumes from.

Every trainer (SFT, GRPO, PPO, IRM, PRM) writes ``OUTPUT_DIR/checkpoint-N/`` folders and writes one
state file in each *last* (the Trainer's ``trainer_state.json``; PPO's own ``ppo_state.json``). A run
killed while saving leaves a folder without that file, or with it torn; transformers'
``get_last_checkpoint`` would pick that folder and the resume would fail. A disk that filled up, or a
copy cut short, can leave the state file whole and a weights or optimizer file truncated, which fails
the resume on every re-run. ``last_checkpoint`` skips both, with a warning that names the folder and
the file, and returns the newest checkpoint before them; when every checkpoint is damaged it refuses
in one line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import zipfile
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")
TRAINER_STATE = "trainer_state.json"  # what transformers' Trainer writes last in a checkpoint
TORCH_FILES = (".bin", ".pt", ".pth", ".pkl")  # torch.save's zip format (optimizer, RNG and weights)
# What reading a cut-short or garbled file raises (json: ValueError; a header's fields: the others).
UNREADABLE = (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile)
_WARNED: set[tuple[str, str]] = set()  # each skipped checkpoint is reported once per process


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


def _check_safetensors(path: Path) -> None:
    """Raise ``ValueError`` unless the header is whole and the file holds every tensor it lists."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ValueError("no header")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise ValueError("cut short in its header")
        header = json.loads(handle.read(length))
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + length + end > size:
        raise ValueError(f"cut short: {size} of {8 + length + end} bytes")


def _check_torch_file(path: Path) -> None:
    """``torch.save`` writes a zip file whose index is at its end: a truncated file has none."""
    try:
        with zipfile.ZipFile(path) as archive:
            if not archive.namelist():
                raise ValueError("empty")
    except zipfile.BadZipFile:
        raise ValueError("cut short (no zip index at its end)") from None


def damage(folder: str | os.PathLike) -> str | None:
    """What makes a checkpoint folder unloadable (``"model.safetensors: cut short ..."``), or ``None``.

    Structural checks only (headers, the zip index, JSON), so a 7B checkpoint is checked in
    milliseconds: they catch files cut short, not flipped bits inside the tensors."""
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file():
            continue
        try:
            if path.suffix == ".safetensors":
                _check_safetensors(path)
            elif path.suffix in TORCH_FILES:
                _check_torch_file(path)
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except UNREADABLE as err:
            reason = str(err).splitlines()[0] if str(err).strip() else type(err).__name__
            return f"{path.name}: {reason}"
    return None


def _skip(path: Path, why: str) -> None:
    if (str(path), why) not in _WARNED:
        _WARNED.add((str(path), why))
        logger.warning("%s: skipped, %s", path, why)


def last_checkpoint(output_dir: str | os.PathLike, state_file: str = TRAINER_STATE) -> str | None:
    """The newest *complete* ``checkpoint-N`` folder in ``output_dir`` (its ``state_file`` holds valid
    JSON and no weights, optimizer or state file is cut short), or ``None`` when there is none.

    Each folder passed over is named in a warning; if every checkpoint with a state file is damaged,
    ``ValueError`` in one line (resuming none of them would start the run again silently)."""
    damaged = []
    for _, path in checkpoint_folders(output_dir):
        state = path / state_file
        if not state.exists():
            _skip(path, f"incomplete: no {state_file} (killed while saving?)")
            continue
        try:
            json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _skip(path, f"incomplete: {state_file} is torn (killed while saving?)")
            continue
        problem = damage(path)
        if problem is not None:
            damaged.append(f"{path.name} ({problem})")
            _skip(path, f"damaged: {problem}")
            continue
        return str(path)
    if damaged:
        raise ValueError(
            f"{output_dir}: no checkpoint to resume, every one is damaged: {'; '.join(damaged)}; delete "
            "them to start again, or use --overwrite true"
        )
    return None
