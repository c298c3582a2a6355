"""Inline math in prose: find ``$..$``, ``$$..$$``, ``\\(..\\)`` and ``\\[..\\]`` spans and pick the
answer a final sentence states ("The probability is $\\frac{1}{6}$.", "The solutions are $x=1$ and
$x=4$.", "The largest $n$ is 34").

Only the last ``TAIL_CHARS`` characters are scanned and one span is at most ``MAX_SPAN`` characters,
so a response full of unmatched delimiters costs linear time. A lone ``$`` before a number with a
space before the next ``$`` is currency ("costs $5 and $7"), not math (see ``_looks_math``).
"""

from __future__ import annotations

import re

from wizardmath.verify.tokens import NAMED_FUNCTIONS

TAIL_CHARS = 4000
MAX_SPAN = 1500
_OPENERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z][a-z]{2,}")  # "ACB" names a point, "and" is a word
_TEXT_ARG = re.compile(r"\\(?:text|textbf|mbox|mathrm|textnormal|operatorname|begin|end)\s*\{[^{}]*\}")
_MATH_WORDS = NAMED_FUNCTIONS | {"and", "log", "sqrt", "frac", "infty"}
NUMBER = re.compile(r"(?:(?<![\w)\]}])-)?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?:(?<![\w)\]}])-)?\d*\.?\d+(?:/\d+)?")
_COMMAND = re.compile(r"\\[a-zA-Z]+")
_PERCENT_AFTER = re.compile(r"\s?(?:\\?%|percent\b)")
_JOIN_GAP = re.compile(
    r"^\s*(?:,|;)?\s*(?:(?:and|or)\s*(?:(?:maybe|perhaps|possibly|else|alternatively)\s*)?)?$"
)
_ENVS = r"(?:align|aligned|equation|gather|gathered|eqnarray|multline)\*?"
_ENV_BEGIN = re.compile(r"\\begin\{(" + _ENVS + r")\}")
_ENV_ANY = re.compile(r"\\(?:begin|end)\{" + _ENVS + r"\}")
_RELATION = re.compile(r"<=|>=|[=<>]|\\(?:le|ge|leq|geq|lt|gt|ne|neq)(?![a-zA-Z])")
_VARIABLE = re.compile(r"^\\?[a-zA-Z]+(?:_\{?\w+\}?)?$")
_NAME = re.compile(r"^\\?[A-Za-z]+(?:_\{?\w+\}?)?(?:\([a-z]\))?$")
_SENTENCE_GAP = re.compile(r"[.!?]\s|\n\s*\n")
_LATER_SENTENCE = re.compile(r"[.!?](?:\s|$)|\n")
_COPULA_NUMBER = re.compile(
    r"^\s*(?:is|are|was|were|equals?|=|becomes|gives)\s+(?:\\?\$\s*)?"
    r"(-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)(?![\d.,]*\d)"
)


def _looks_math(content: str, next_char: str) -> bool:
    """False for a ``$..$`` pairing that is really currency or prose between two dollar signs:
    "$5 and $7", "$840+$756", "$17/$8.50", "$34800/240=$145" (an expression cannot end on an
    operator, and math does not run straight into a digit after its closing dollar)."""
    stripped = content.strip()
    if not stripped or next_char.isdigit() or "<<" in content or "\n\n" in content:
        return False
    if stripped[-1] in "+-*/=<":
        return False
    if content[0].isspace() and content[-1].isspace() and stripped.isalpha():  # "$x,$ or $y$": " or "
        return False
    if content[0].isdigit() and content != content.rstrip():  # "$5 and $": two prices
        return False
    words = [w for w in _PROSE_WORD.findall(_TEXT_ARG.sub(" ", content)) if w.lower() not in _MATH_WORDS]
    return len(words) < 2


def _lhs(content: str) -> str:
    """The left side of an equation or inequality span ("x" of "x = 4", of "x \\le 3"), else ''."""
    parts = _RELATION.split(content, 1)
    return parts[0].strip() if len(parts) == 2 else ""


def find_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, content)`` of the inline/display math spans in ``text``, in order."""
    spans: list[tuple[int, int, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] not in "[(" and not text.startswith("\\begin{", i):
            i += 2  # an escaped character (\$, \\) opens nothing
            continue
        if ch not in "$\\":
            i += 1
            continue
        opener = next((pair for pair in _OPENERS if text.startswith(pair[0], i)), None)
        env = _ENV_BEGIN.match(text, i) if opener is None else None
        if env is not None:
            opener = (env.group(0), f"\\end{{{env.group(1)}}}")
        if opener is None:
            i += 1
            continue
        left, right = opener
        start = i + len(left)
        end = text.find(right, start, start + MAX_SPAN)
        while right == "$" and end > 0 and text[end - 1] == "\\":  # \$ inside math is a dollar sign
            end = text.find(right, end + 1, start + MAX_SPAN)
        if end < 0 or (right == "$" and not _looks_math(text[start:end], text[end + 1 : end + 2])):
            i = start
            continue
        spans.append((i, end + len(right), text[start:end].strip()))
        i = end + len(right)
    return spans


def _is_block(text: str, start: int, content: str) -> bool:
    """Whether a span is an ``align``-like block of rows (not a matrix, whose rows are its value)."""
    return "\\\\" in content and (text.startswith("\\begin{", start) or _ENV_ANY.search(content) is not None)


def _last_row(content: str) -> str:
    """The last line of an ``align``-like block (``&= 4495``), which is where its result stands."""
    inner = _ENV_ANY.sub(" ", content)
    rows = [row for row in re.split(r"\\\\(?:\[[^\]]*\])?", inner) if row.strip()]
    return " ".join(rows[-1].replace("&", " ").split()) if rows else content


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
    spans = [
        (start, end, _last_row(content) if _is_block(tail, start, content) else content)
        for start, end, content in spans
    ]
    last_start, last_end, content = spans[-1]
    after = tail[last_end:]
    copula = _COPULA_NUMBER.match(after)
    if copula:  # "$n$ is 34"; "$n$ is 34 or 35" hedges, a list
        return joined_numbers(after[copula.start(1) :], first=True)
    cut = _LATER_SENTENCE.search(after)
    if cut and re.search(r"\d", after[cut.end() :]):
        return None
    if content.endswith(".") and not content.endswith("...") and re.search(r"\d", after):
        return None  # the span ended its sentence ("= 2.$$ So it rises by 100%."): a later one has a number
    for start, end, earlier in reversed(spans[:-1]):  # "There are $501$ values of $k$.": not k
        if not _NAME.match(content.rstrip(".,;:")) or _SENTENCE_GAP.search(tail[end:last_start]):
            break
        if not _NAME.match(earlier.rstrip(".,;:")):
            last_start, last_end, content = start, end, earlier
            break
    items = [content]
    spans = [span for span in spans if span[1] <= last_end]
    for start, end, earlier in reversed(spans[:-1]):
        if not _joins(earlier, items[-1], tail[end:last_start]):
            break
        items.append(earlier)
        last_start = start
    return _as_list(reversed(items)) if content else None


def joined_numbers(text: str, first: bool = False) -> str | None:
    """The last number of ``text`` (with ``first``, its first), together with the numbers that only
    ", ", "and" or "or" join to it: "either 5 or 7" is the list ``5, 7``, so a hedge between two
    numbers is never read as its last one."""
    found = [m for m in NUMBER.finditer(text) if not text[: m.start()].endswith(("^", "^{"))]  # not x^{2}
    if not found:
        return None
    run = [found[0]] if first else [found[-1]]
    if first:
        for before, match in zip(found, found[1:], strict=False):
            if not _JOIN_GAP.match(text[before.end() : match.start()].replace("$", "")):
                break
            run.append(match)
    else:
        for match, after in zip(reversed(found[:-1]), reversed(found[1:]), strict=False):
            if not _JOIN_GAP.match(text[match.end() : after.start()].replace("$", "")) or len(run) >= 16:
                break
            run.insert(0, match)
    return _as_list(m.group(0) + ("%" if _PERCENT_AFTER.match(text, m.end()) else "") for m in run)


def _is_constant(content: str) -> bool:
    """Whether a span names no variable (``\\sqrt{51}``, ``36\\pi``).

    Judged on its letters outside commands."""
    return re.search(r"[a-zA-Z]", _COMMAND.sub(" ", _TEXT_ARG.sub(" ", content))) is None


def _joins(earlier: str, later: str, gap: str) -> bool:
    """Whether two spans that only ``gap`` separates state one list of answers.

    "$x = 1$ or $x = 4$", "$2$ and $5$", "$x = 2$, $y = 3$" are lists, and so is a hedge between values
    ("$5$ or $6$"): the comparison then only credits it when every alternative is the gold, so
    restating a value in another form ("$\\frac54$, or $1.25$") still counts and hedging never does.
    A formula followed by its value through "or" ("$\\sqrt{DF^2 - EF^2}$, or $\\sqrt{51}$") restates."""
    ended = earlier.endswith(".") and not earlier.endswith("...")  # "$\\{1, 2\\}.$ $\\textbf{Remarks}$"
    if not _JOIN_GAP.match(gap) or "\n\n" in gap or ended:
        return False
    left, right = _lhs(earlier), _lhs(later)
    if "or" in gap:
        if left != right:
            return False
        return left != "" or _is_constant(earlier) or not _is_constant(later)
    return left == right or bool(_VARIABLE.match(left) and _VARIABLE.match(right))


def _as_list(items) -> str:
    return ", ".join(item.rstrip(",; ") for item in items)


def leading_span(text: str) -> str | None:
    """The math ``text`` starts with ("$x$, i.e. 3.5" -> ``x``), with the spans joined to it as
    ``final_span_answer`` joins them ("$x = 5$ or $x = 6$" -> ``x = 5, x = 6``), else None."""
    stripped = text.lstrip()
    spans = find_spans(stripped[: 4 * MAX_SPAN])
    if not spans or spans[0][0] != 0 or not spans[0][2]:
        return None
    items = [spans[0][2]]
    for (_, end, _), (start, _, later) in zip(spans, spans[1:], strict=False):
        named = _NAME.match(later.rstrip(".,;:")) and not _NAME.match(items[-1].rstrip(".,;:"))
        if not later or named or not _joins(items[-1], later, stripped[end:start]):
            break  # "$12$, $x$ being the width": a name after the value is prose, not a second answer
        items.append(later)
    return _as_list(items)
