"""What every record-writing stage shares to stay safe: an output lock, a settings manifest,
torn-line repair and the exit codes.

- ``OutputLock``: one writer per output: an ``flock`` on a lock file that holds the owner's pid and
  host; the kernel drops it when the owner dies, so a stale lock is taken over atomically (with a
  warning). A second writer gets one line naming the holder.
- ``check_manifest``: an append-only stage records its settings (and a fingerprint of its input
  files) on first write; a re-run with other settings or data is refused unless ``resume`` (carry
  on anyway) or ``overwrite`` (delete the outputs and start clean).
- ``repair_jsonl`` (in ``wizardmath.jsonl``, beside ``JsonlWriter``, which runs it): lines of a results
  file that are not whole JSON objects (a torn write, anywhere in the file) are moved to ``FILE.torn``
  with a warning, so a re-run redoes them.
- Exit codes: ``EXIT_INCOMPLETE`` when a backend, judge or solver failure left records to retry
  (``retry_pending`` in the stage's result), ``EXIT_LOCKED`` when another writer holds the output,
  ``EXIT_INTERRUPTED`` (130) after Ctrl-C.

The trainers' resume guards are in ``wizardmath.resume``.
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


def settings_diff(old: dict[str, Any], settings: dict[str, Any]) -> tuple[list[str], str]:
    """The keys whose values differ between the recorded ``old`` settings and ``settings``, and one
    ``key: old -> new`` text of them. Inputs that only grew (records appended) count as the same, and
    ``settings`` takes the recorded fingerprint then, so the record keeps the first run's."""
    if "input_files" in old and _same_or_grown(old["input_files"], settings.get("input_files", {})):
        settings["input_files"] = old["input_files"]
    diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
    return diff, "; ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in diff)


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
        diff, changes = settings_diff(old, settings)
        if diff and not resume:
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
