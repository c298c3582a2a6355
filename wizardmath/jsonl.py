"""Append-only JSONL files: the way data moves between stages and how stages resume.

A stage writes one JSON object per line and flushes each line, so a run killed at any moment (even
SIGKILL) leaves every finished record intact and at most one torn last line. ``JsonlWriter`` moves
torn lines (anywhere in the file) to ``FILE.torn`` on reopen, and ``read_ids`` tells the stage which
ids it can skip.

Errors in input files name the file, the 1-based line number and, where known, the field.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """Bad input data; the message reads ``FILE:LINE: field 'x': what is wrong``."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str, field: str | None = None):
        where = f"{path}:{line}" if line is not None else str(path)
        what = f"field '{field}': {message}" if field else message
        super().__init__(f"{where}: {what}")
        self.path, self.line, self.field = str(path), line, field


DEFAULT_MAX_RECORD_BYTES = 1 << 20
# For files the toolkit wrote itself (results, problems, rejections): no limit. The bound is for user
# inputs; an eval record with K=64 long completions is legitimate, and refusing it would stop every re-run.
OWN_FILE = 0


def max_record_bytes() -> int:
    """The longest input line a stage reads (bytes): ``WIZARDMATH_MAX_RECORD_BYTES``, 1 MiB by default.

    A bound keeps one runaway line (a 5 MB "problem") from reaching a tokenizer or a prompt."""
    value = os.environ.get("WIZARDMATH_MAX_RECORD_BYTES", "")
    try:
        return int(value) if value else DEFAULT_MAX_RECORD_BYTES
    except ValueError:
        raise ValueError(f"WIZARDMATH_MAX_RECORD_BYTES={value!r}: expected a number of bytes") from None


def iter_jsonl(
    path: str | os.PathLike, required: Iterable[str] = (), max_bytes: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each non-blank line; raise ``DataError`` on bad lines
    (invalid JSON, not UTF-8, longer than ``max_bytes``, a required field missing). ``max_bytes``
    defaults to ``max_record_bytes()``; ``OWN_FILE`` (0) reads the toolkit's own outputs unbounded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    required = tuple(required)
    limit = max_record_bytes() if max_bytes is None else max_bytes
    with path.open("rb") as handle:
        number = 0
        while True:
            raw = handle.readline(limit + 2 if limit else -1)
            if not raw:
                break
            number += 1
            if limit and len(raw.rstrip(b"\r\n")) > limit:
                raise DataError(
                    path,
                    number,
                    f"record longer than {limit} bytes (raise WIZARDMATH_MAX_RECORD_BYTES "
                    "to allow longer ones)",
                )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    path,
                    number,
                    f"not UTF-8 text (byte 0x{raw[err.start]:02x} at byte {err.start + 1} of the line)",
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                # err.pos, not err.colno: a line cut short fails at its newline, "line 2 column 1"
                where = (
                    "the end of the line" if err.pos >= len(line.rstrip("\r\n")) else f"column {err.pos + 1}"
                )
                raise DataError(path, number, f"invalid JSON ({err.msg} at {where})") from err
            if not isinstance(record, dict):
                raise DataError(path, number, f"expected a JSON object, got {type(record).__name__}")
            for name in required:
                if name not in record:
                    raise DataError(path, number, "missing", field=name)
            yield number, record


def read_jsonl(
    path: str | os.PathLike, required: Iterable[str] = (), max_bytes: int | None = None
) -> list[dict[str, Any]]:
    return [record for _, record in iter_jsonl(path, required, max_bytes)]


def read_ids(path: str | os.PathLike, key: str = "id") -> set[str]:
    """Ids already written to ``path`` (empty when it does not exist); a torn last line is ignored."""
    path = Path(path)
    if not path.exists():
        return set()
    ids = set()
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # torn last line of a killed run; JsonlWriter moves it aside on reopen
            try:
                record = json.loads(line.decode("utf-8"))
            except ValueError:  # a torn or undecodable line: not done, so it is redone
                continue
            if isinstance(record, dict) and key in record:
                ids.add(str(record[key]))
    return ids


def repair_jsonl(path: str | os.PathLike) -> int:
    """Move every line that is not a whole JSON object to ``FILE.torn``; returns how many moved."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    good: list[bytes] = []
    torn: list[tuple[int, bytes]] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                ok = line.endswith(b"\n") and isinstance(json.loads(line.decode("utf-8")), dict)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
                ok = False
            if ok:
                good.append(line)
            else:
                torn.append((number, line))
    if not torn:
        return 0
    aside = path.with_name(path.name + ".torn")
    with aside.open("ab") as handle:
        for _, line in torn:
            handle.write(line if line.endswith(b"\n") else line + b"\n")
    tmp = path.with_name(path.name + ".repair")
    tmp.write_bytes(b"".join(good))
    os.replace(tmp, path)
    numbers = ", ".join(str(n) for n, _ in torn[:5]) + (" ..." if len(torn) > 5 else "")
    logger.warning(
        "%s: moved %d torn line(s) (line %s) to %s; their records will be redone",
        path,
        len(torn),
        numbers,
        aside,
    )
    return len(torn)


class JsonlWriter:
    """Append records to a JSONL file, one written line each; safe to reopen after a crash.

    A write that fails part-way (the disk filled up) is cut back off the file before the error goes
    on, so the file holds whole lines only and a re-run, with space again, carries on from it."""

    def __init__(self, path: str | os.PathLike, fsync: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl(self.path)  # a torn line anywhere (usually the last) goes to FILE.torn
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._size = os.fstat(self._fd).st_size
        self._fsync = fsync

    def write(self, record: dict[str, Any]) -> None:
        # Unbuffered: each record reaches the file (a SIGKILL leaves at most one torn last line).
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        left = memoryview(line)
        try:
            while left:
                left = left[os.write(self._fd, left) :]
            if self._fsync:
                os.fsync(self._fd)
        except OSError as err:
            os.ftruncate(self._fd, self._size)  # no half line left behind
            raise type(err)(err.errno, err.strerror, str(self.path)) from err
        self._size += len(line)

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.write(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` to a fresh file atomically (temp file + rename); return how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with _removed_on_error(tmp, path), tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    with _removed_on_error(tmp, path):
        os.replace(tmp, path)
    return count


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write a JSON document atomically, so a summary is never half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    with _removed_on_error(tmp, path):
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


@contextlib.contextmanager
def _removed_on_error(tmp: Path, path: Path) -> Iterator[None]:
    """Remove ``tmp`` when writing it (or renaming it to ``path``) fails: a full disk, or ``path`` a
    folder. The old ``path``, if any, stays as it was; the error says which path it was."""
    try:
        yield
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, IsADirectoryError) or path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path)) from None
        raise
