"""Inline math in prose: find ``$..$``, ``$$..$$``, ``\\(..\\)`` and ``\\[..\\]`` spans and pick the
answer a final sentence states ("The probability is $\\frac{1}{6}$.", "The solutions are $x=1$ and
$x=4$.", "The largest $n$ is 34").

Only the last ``TAIL_CHARS`` characters are scanned and one span is at most ``MAX_SPAN`` characters,
so a response full of unmatched delimiters costs linear time. A lone ``$`` before a number with a
space before the next ``$`` is currency ("costs $5 and $7"), not math.
"""

from __future__ import annotations

import re

TAIL_CHARS = 4000
MAX_SPAN = 1500
_OPENERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_TEXT_ARG = re.compile(r"\\(?:text|textbf|mbox|mathrm|textnormal|operatorname|begin|end)\s*\{[^{}]*\}")
_MATH_WORDS = frozenset(["and", "sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "sqrt", "frac", "max", "min",
                         "gcd", "lcm", "det", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "infty"])
_JOIN_GAP = re.compile(r"^\s*(?:,|;)?\s*(?:(?:and|or)\s*)?$")
_LATER_SENTENCE = re.compile(r"[.!?](?:\s|$)|\n")
_COPULA_NUMBER = re.compile(
    r"^\s*(?:is|are|was|were|equals?|=|becomes|gives)\s+(?:\\?\$\s*)?"
    r"(-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)(?![\d.,]*\d)"
)


def _looks_math(content: str) -> bool:
    """False for a ``$..$`` pairing that is really currency or prose between two dollar signs."""
    if not content.strip():
        return False
    if content[0].isdigit() and content != content.rstrip():  # "$5 and $": two prices
        return False
    words = [w for w in _PROSE_WORD.findall(_TEXT_ARG.sub(" ", content)) if w.lower() not in _MATH_WORDS]
    return len(words) < 2


def find_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, content)`` of the inline/display math spans in ``text``, in order."""
    spans: list[tuple[int, int, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] not in "[(":
            i += 2  # an escaped character (\$, \\) opens nothing
            continue
        if ch not in "$\\":
            i += 1
            continue
        opener = next((pair for pair in _OPENERS if text.startswith(pair[0], i)), None)
        if opener is None:
            i += 1
            continue
        left, right = opener
        start = i + len(left)
        end = text.find(right, start, start + MAX_SPAN)
        while right == "$" and end > 0 and text[end - 1] == "\\":  # \$ inside math is a dollar sign
            end = text.find(right, end + 1, start + MAX_SPAN)
        if end < 0 or (right == "$" and not _looks_math(text[start:end])):
            i = start
            continue
        spans.append((i, end + len(right), text[start:end].strip()))
        i = end + len(right)
    return spans


def final_span_answer(text: str) -> str | None:
    """The math a response's final sentence states, or None when the last math is not final.

    The last span wins, together with spans just before it that only ", ", "and" or "or" separate
    (a list of solutions). When a number follows it through a copula ("$n$ is 34") that number is
    the answer; when a later sentence still has a number, the last span was an intermediate step.
    """
    tail = text[-TAIL_CHARS:]
    spans = find_spans(tail)
    if not spans:
        return None
    last_start, last_end, content = spans[-1]
    after = tail[last_end:]
    copula = _COPULA_NUMBER.match(after)
    if copula:
        return copula.group(1)
    cut = _LATER_SENTENCE.search(after)
    if cut and re.search(r"\d", after[cut.end() :]):
        return None
    items = [content]
    for start, end, earlier in reversed(spans[:-1]):
        if not _JOIN_GAP.match(tail[end:last_start]):
            break
        items.append(earlier)
        last_start = start
    return ", ".join(reversed(items)) if content else None


def leading_span(text: str) -> str | None:
    """The content of a math span that ``text`` starts with ("$x$, i.e. 3.5" -> ``x``), else None."""
    stripped = text.lstrip()
    spans = find_spans(stripped[: MAX_SPAN + 4])
    if spans and spans[0][0] == 0:
        return spans[0][2] or None
    return None
