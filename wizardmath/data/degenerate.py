"""Repetition loops: outputs that earn no credit in evaluation and no verifier reward in RL.

A small model cut at its length limit often repeats itself (``#### 540`` forty times, or one sentence
over and over). Such an output may contain the right number, but it is not an answer a grader would
accept, and a reward that pays for it is farmed by loops. ``is_repetition_loop`` is a cheap, bounded
check (no regex backtracking, at most ``TAIL`` characters examined), written here because no library
check of this kind fits: it looks for (a) one line making up most of the text's lines, or (b) a tail
that is a short unit repeated many times.
"""

from __future__ import annotations

from collections import Counter

TAIL = 600  # characters of the end examined for a periodic tail
MAX_PERIOD = 150  # longest repeated unit, in characters
MIN_REPEATS = 4  # a unit repeated at least this often at the end is a loop
MIN_LINE_REPEATS = 4  # ... and so is one line written at least this often


def is_repetition_loop(text: str) -> bool:
    """Whether ``text`` ends in (or mostly is) a repetition loop."""
    if not isinstance(text, str) or len(text) < 40:
        return False
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= MIN_LINE_REPEATS:
        line, count = Counter(lines).most_common(1)[0]
        if count >= MIN_LINE_REPEATS and count * 2 >= len(lines) and len(line) >= 2:
            return True
    return _periodic_tail(text.rstrip()[-TAIL:])


def _periodic_tail(tail: str) -> bool:
    """The tail is one unit of at most ``MAX_PERIOD`` characters repeated ``MIN_REPEATS`` times or more."""
    for period in range(1, min(MAX_PERIOD, len(tail) // MIN_REPEATS) + 1):
        span = period * MIN_REPEATS
        window = tail[-span:]
        if len(window.strip()) < 20:  # "....." or spaces: too short to call a loop
            continue
        if window == window[:period] * MIN_REPEATS:
            return True
    return False
