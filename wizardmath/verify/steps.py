"""Check the arithmetic a solution claims, step by step, for process-reward labels.

A step is ``correct`` when it makes at least one checkable arithmetic claim and all of them hold,
``wrong`` when one is false, ``unknown`` when there is nothing we can check. Three kinds of claims:

- GSM8k calculator annotations ``<<16-3-4=9>>``;
- equalities inside LaTeX math (``$\\frac{12}{3} = 4$``, ``\\(2^{10} = 1024\\)``); a ``$...$`` whose
  content starts or ends with a space is currency (``$1,200 + $300``), not math;
- plain-text chains ``3 + 4 = 7`` and running chains ``12 * 3 = 36 - 6 = 30`` (each link either
  equals the previous value or starts from it, as people write running totals).

Values are exact rationals (``numeric.exact_value``); no sympy, so this is fast and needs no
sandbox. A shown decimal may be rounded or truncated in its last place (``10/3 = 3.33``). To keep
"wrong" trustworthy, a failing plain-text claim whose left end follows a word such as "of" or
"times", or an operator (it may be a fragment: ``20% of 50 = 10``), or touches a letter on the
right, is ``unknown``. Variables make a claim ``unknown``, never ``wrong``.
"""

from __future__ import annotations

import re
from fractions import Fraction

from wizardmath.verify.grammar import ParseError, parse
from wizardmath.verify.normalize import clean_latex
from wizardmath.verify.numeric import TooBig, exact_value
from wizardmath.verify.options import Claim, StepVerdict

_STEP_MARK = re.compile(r"(?im)^[ \t]*(?:#+\s*)?\**step\s*\d+\s*\**\s*[:.)]")
_ANNOTATION = re.compile(r"<<([^<>=\n]{1,200})=([^<>\n]{1,60})>>")
_LATEX_MATH = re.compile(
    r"\$\$(.{1,2000}?)\$\$|\\\[(.{1,2000}?)\\\]|\\\((.{1,2000}?)\\\)|\$(?=\S)([^$\n]{0,1000}\S)\$", re.S
)
_NUM = r"\(?\$?\d[\d,]*(?:\.\d+)?%?\)?"
_OP = r"\s*(?:[-+*/×÷·^]|\*\*|\bx\b)\s*"
_CHAIN = re.compile(rf"{_NUM}(?:{_OP}{_NUM}){{0,30}}(?:\s*(?:=|≈)\s*{_NUM}(?:{_OP}{_NUM}){{0,30}}){{1,10}}")
_FRAGMENT_WORDS = frozenset(
    "of times plus minus by per over than and multiplied divided add subtract from to into with at".split()
)
_MAX_STEP_CHARS = 20_000


def _spans(solution: str) -> list[tuple[int, int]]:
    marks = [m.start() for m in _STEP_MARK.finditer(solution)]
    if marks:
        bounds = ([0] if solution[: marks[0]].strip() else []) + marks + [len(solution)]
        return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if solution[a:b].strip()]
    spans, start = [], 0
    for line in solution.splitlines(keepends=True):
        if line.strip():
            spans.append((start, start + len(line.rstrip("\r\n"))))
        start += len(line)
    return spans


def split_steps(solution: str) -> list[str]:
    """The steps of a solution: at "Step N:" markers when present, otherwise non-empty lines."""
    return [solution[a:b].strip() for a, b in _spans(solution)]


def _value(text: str) -> Fraction | None:
    """Exact value of an arithmetic expression in plain text or LaTeX, None if not purely numeric."""
    s = clean_latex(text).replace("\\$", "").replace("$", "").replace("\\%", "%")
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)
    s = re.sub(r"(?<=[\d)\s])x(?=[\s\d(])", "*", s)
    if not s.strip() or len(s) > 500 or not re.search(r"\d", s):
        return None
    try:
        return exact_value(parse(s, 30), 4096)
    except (ParseError, TooBig, ValueError, ZeroDivisionError, RecursionError):
        return None


def _close(left: Fraction, right_text: str, right: Fraction, approx: bool) -> bool:
    if left == right:
        return True
    shown = re.search(r"\.(\d+)\s*%?\s*$", right_text.strip().rstrip(")"))
    if shown:
        return abs(left - right) <= Fraction(1, 10 ** len(shown.group(1)))
    return approx and right != 0 and abs(left - right) <= abs(right) / 100


def _leading_number(text: str) -> Fraction | None:
    m = re.match(r"\s*\(?\$?(-?\d[\d,]*(?:\.\d+)?)", text)
    return Fraction(m.group(1).replace(",", "")) if m else None


def _judge_chain(parts: list[str], approx: bool = False) -> tuple[str, str]:
    """``correct``/``wrong``/``unknown`` for ``parts[0] = parts[1] = ...`` (running chains allowed)."""
    values = [_value(p) for p in parts]
    if any(v is None for v in values) or len(values) < 2:
        return "unknown", "not purely numeric"
    for i in range(len(values) - 1):
        left, right = values[i], values[i + 1]
        if _close(left, parts[i + 1], right, approx):
            continue
        start = _leading_number(parts[i + 1])
        if start is not None and start == left and re.search(r"\d\s*[-+*/×÷·^x]", parts[i + 1]):
            continue  # running total: "= 36 - 6 = 30"
        return "wrong", f"{parts[i].strip()} is {_show(left)}, not {parts[i + 1].strip()}"
    return "correct", ""


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value} (~{float(value):.6g})"


def _annotation_claims(text: str, offset: int) -> list[Claim]:
    claims = []
    for m in _ANNOTATION.finditer(text):
        verdict, reason = _judge_chain([m.group(1), m.group(2)])
        claims.append(Claim(m.group(0), offset + m.start(), offset + m.end(), verdict, reason))
    return claims


def _latex_claims(text: str, offset: int) -> list[Claim]:
    claims = []
    for m in _LATEX_MATH.finditer(text):
        body = next(g for g in m.groups() if g is not None)
        if "=" not in body or any(c in body for c in "<>") or "\\le" in body or "\\ge" in body:
            continue
        for eq in re.split(r"\\\\|,\s*(?=[^\d])|\\quad|\\text\{[^{}]*\}", body):
            parts = [p for p in re.split(r"=|\\approx", eq)]
            if len(parts) < 2 or not all(p.strip() for p in parts):
                continue
            verdict, reason = _judge_chain(parts, approx="\\approx" in eq)
            if verdict != "unknown":
                claims.append(Claim(eq.strip(), offset + m.start(), offset + m.end(), verdict, reason))
    return claims


def _is_fragment(text: str, start: int, end: int) -> bool:
    before = text[:start].rstrip()
    after = text[end:]
    if before and before[-1] in "+-*/×÷^(=·":
        return True
    word = re.search(r"([A-Za-z]+)$", before)
    if word and (
        word.group(1).lower() in _FRAGMENT_WORDS or len(before) == word.end() and start == len(before)
    ):
        return True
    return bool(re.match(r"[A-Za-z0-9^/(_]", after))


def _plain_claims(text: str, offset: int) -> list[Claim]:
    claims = []
    for m in _CHAIN.finditer(text):
        parts = re.split(r"=|≈", m.group(0))
        verdict, reason = _judge_chain(parts, approx="≈" in m.group(0))
        if verdict == "wrong" and _is_fragment(text, m.start(), m.end()):
            verdict, reason = "unknown", "may be part of a longer expression"
        if verdict == "unknown":
            continue
        claims.append(Claim(m.group(0).strip(), offset + m.start(), offset + m.end(), verdict, reason))
    return claims


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def check_step(text: str, offset: int = 0) -> tuple[str, tuple[Claim, ...]]:
    """The verdict and claims of one step's text (``offset`` shifts the claim spans)."""
    if len(text) > _MAX_STEP_CHARS:
        return "unknown", ()
    claims = _annotation_claims(text, offset)
    rest = _blank(text, _ANNOTATION)
    claims += _latex_claims(rest, offset)
    claims += _plain_claims(_blank(rest, _LATEX_MATH), offset)
    claims.sort(key=lambda c: c.start)
    if any(c.verdict == "wrong" for c in claims):
        return "wrong", tuple(claims)
    if any(c.verdict == "correct" for c in claims):
        return "correct", tuple(claims)
    return "unknown", tuple(claims)


def check_steps(solution: str) -> list[StepVerdict]:
    """A ``StepVerdict`` per step of ``solution`` (see ``split_steps``), in order."""
    if not isinstance(solution, str):
        return []
    out = []
    for index, (a, b) in enumerate(_spans(solution)):
        verdict, claims = check_step(solution[a:b], a)
        out.append(StepVerdict(index, solution[a:b].strip(), a, b, verdict, claims))
    return out
