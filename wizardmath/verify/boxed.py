"""``\\boxed{...}`` and ``\\fbox{...}``: the content of a box, with nested and escaped braces, bounded
scans (a malformed last box falls back to an earlier one, at most eight times)."""

from __future__ import annotations

import re

BOX_COMMANDS = ("\\boxed", "\\fbox")


def _match_brace(text: str, open_at: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_at`` (escaped ``\\{``/``\\}`` skipped), or None."""
    depth = 0
    i, n = open_at, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def boxed_at(text: str, start: int, command: str) -> str | None:
    i = start + len(command)
    if i < len(text) and text[i].isalpha():  # e.g. \fboxsep: another command
        return None
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] == "{":
        end = _match_brace(text, i)
        return None if end is None else text[i + 1 : end]
    match = re.match(r"[^\s$]+", text[i:])  # "\boxed 5" form
    return match.group(0) if match else None


def extract_boxed(text: str) -> str | None:
    """Content of the last well-formed ``\\boxed{...}`` / ``\\fbox{...}`` in ``text``, else None."""
    if not isinstance(text, str):
        return None
    end = len(text)
    for _ in range(8):  # a malformed last box falls back to an earlier one
        starts = [(text.rfind(cmd, 0, end), cmd) for cmd in BOX_COMMANDS]
        start, cmd = max(starts)
        if start < 0:
            return None
        content = boxed_at(text, start, cmd)
        if content is not None:
            return content
        end = start
    return None
