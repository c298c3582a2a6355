"""Find the final answer in a model response.

Order of preference, the same as the MATH / GSM8k graders this replaces: the last ``\\boxed{}`` or
``\\fbox{}`` (nested braces, also ``\\boxed 5``); the last "The (final) answer is(:) X" (WizardMath's
own format, and Minerva's "Final Answer: The final answer is X. I hope it is correct."); the last
GSM8k ``#### X`` line; the math of the final sentence (``spans``: "The probability is
$\\frac{1}{6}$."); the whole text when it is itself a bare answer; if
``VerifyOptions.number_fallback``, the last number of prose; and last, the words a final sentence
ends on ("The function is odd." -> ``odd``). After a reasoning block (``<think>...</think>``) only
what follows it is searched, unless nothing is found there. Brace matching is a linear scan, never
recursion, so 5,000-deep braces cost microseconds.
"""

from __future__ import annotations

import re

from wizardmath.verify.boxed import BOX_COMMANDS, boxed_at, extract_boxed
from wizardmath.verify.normalize import NUMBER_WORDS, multiple_choice, prepare, unicode_math
from wizardmath.verify.options import DEFAULT_OPTIONS, VerifyOptions
from wizardmath.verify.spans import (
    NUMBER,
    TAIL_CHARS,
    final_span_answer,
    find_spans,
    joined_numbers,
    leading_span,
)

_QUOTE_CHARS = '"“”\\'
_MARKER = re.compile(
    r"(?im)\b(?:final\s+)?(?:answer(?:\s+choice)?|(?:correct|right)\s+(?:option|choice))\**\s*(?:is|was|:)\s*:?"
    r"|^[ \t]*#{0,6}[ \t]*\**(?:final[ \t]+)?answer\**[ \t]*:?\**[ \t]*$"  # a heading line "### Answer"
)
_OPTION_HEAD = re.compile(r"\s*(?:\(?[A-E]\)|[A-E][.):]?|(?:option|choice)\s+\(?[A-E]\)?)", re.I)
_YES_NO_LEAD = re.compile(r"(?i)\s*\**\s*(yes|no)\b\**\s*(?:[,.;:!—–-]|$)")
_GSM8K = re.compile(r"####")
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z(])|\n")
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|mbox|mathrm|mathbf|operatorname|begin|end)\s*\{[^{}]*\}")
_TRAILING_SPACES = ("\\,", "\\;", "\\:", "\\!", "\\ ", "\\quad", "\\qquad")
_MATH_WORDS = frozenset(
    ["or", "and", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "pi"]
)
_MATH_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_COPULA = re.compile(
    r"\b(?:is|are|was|were|equals|becomes|gives|yields|measures|factors?\s+(?:as|into)"
    r"|(?:simplifies|reduces|evaluates|comes|works out)\s+to)\s+"
)
_NUMBER_WORD = re.compile(r"\b[a-z]+(?:-[a-z]+)?\b")
_EQUALS = re.compile(r"(?<=\s)=\s*")
_LABEL = re.compile(r"\s*[A-Za-z][a-z]+\s*=")
# A reply that is one connective and an answer ("so 0.5"): the word is prose, never letters multiplied.
_LEAD_CONNECTIVE = re.compile(r"(?i)^(?:so|thus|hence|therefore|then|finally)\b\s*,?\s*")
_DENIAL = re.compile(r"(?i)\b(?:not|cannot|unable|impossible|no|none|neither|nor|never)\b|n't")
_PROSE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
_THINK_END = "</think>"
_GAP_LABEL = re.compile(r"(?<![a-zA-Z\\])[a-zA-Z](?:_\{?\w{1,3}\}?)?\s*=\s*$")  # "or $x = ", "y_2 = "
_GAP_TEXT = re.compile(r"\\text\{([^{}]*)\}")
_GAP_NOISE = re.compile(r"\\q?quad|\\[\[\]()]|\\[,;:! ]|\$")
# What may stand between boxes of one list: separators, and a few words ending in "and" / "or"
# ("\boxed{1} papers and \boxed{2}", "\text{ for part (a) and }"); a full stop or a number never.
_BOX_GAP = re.compile(r"\s*[,;]?\s*(?:(?:[a-zA-Z()]+\s+){0,4}(?:and|or)\b)?\s*[,;]?\s*")
_GLOSS = re.compile(r"(?<=\S)\s{1,9}\((?:[a-zA-Z]{3,}\s?){1,4}\)$")  # "5 (five)", "12 (dozen)"
_IMPLIES = re.compile(r"\\(?:Rightarrow|Longrightarrow|implies)(?![a-zA-Z])")
_CODE = re.compile(
    r"\blambda\b[^:]{0,20}:|\bimport\s+\w|\bdef\s+\w+\s*\(|\b(?:print|eval|exec)\s*\(|__\w+__|[a-z]\.[a-z]\w*\("
)


def _boxed_list(text: str) -> str | None:
    """The last box, joined with the boxes just before it that only ", " / "and" / "or" separate:
    "$\\boxed{2}$ and $\\boxed{3}$" answers ``2, 3`` (models box each solution of a list)."""
    items: list[str] = []
    end = len(text)
    for _ in range(16):
        start = max(text.rfind(cmd, 0, end) for cmd in BOX_COMMANDS)
        if start < 0:
            break
        cmd = next(c for c in BOX_COMMANDS if text.startswith(c, start))
        content = boxed_at(text, start, cmd)
        if content is None:
            if items:
                break
            end = start
            continue
        close = (
            start + len(cmd) + len(content) + 2 if text[start + len(cmd) :].lstrip().startswith("{") else end
        )
        gap = _GAP_LABEL.sub("", text[close:end])  # "$\\boxed{-1}$ or $x = \\boxed{4}$"
        gap = _GAP_NOISE.sub(" ", _GAP_TEXT.sub(r" \1 ", gap))
        if items and (close > end or len(gap) > 200 or not _BOX_GAP.fullmatch(gap)):  # enclosing, or prose
            break
        items.append(strip_answer(content))
        end = start
    return ", ".join(reversed(items)) if items else None


def _strip_quotes(s: str) -> str:
    """``"5"`` -> ``5`` and ``\\"$12$\\"`` -> ``$12$``: quotes around an answer (index scans, not a
    regex, so a long run of quotes costs linear time)."""
    start, end = 0, len(s)
    while start < end and s[start] in _QUOTE_CHARS and (s[start] != "\\" or s[start + 1 : start + 2] == '"'):
        start += 2 if s[start] == "\\" else 1
    while end > start and s[end - 1] in '"“”':
        end -= 2 if s[end - 2 : end] == '\\"' else 1
    return s[start:end]


def _strip_trailing_space(s: str) -> str:
    """``5\\,\\quad`` -> ``5``: trailing LaTeX spacing and white space (a loop over the tail, so a long
    run of spaces before other text costs linear time)."""
    while True:
        before = s
        s = s.rstrip()
        for space in _TRAILING_SPACES:
            if s.endswith(space) and not s.endswith("\\" + space):
                s = s[: -len(space)]
                break
        if s == before:
            return s


def _is_placeholder(rest: str) -> bool:
    """The echoed placeholder of the prompt 'end with "The answer is: X"': no answer was given. Narrow
    on purpose: the literal capital X, bare or in quotes or with a full stop, with nothing after it."""
    return rest.strip().strip("\"“”'.").strip() == "X" and len(rest) < 200


def strip_answer(answer: str) -> str:
    """Remove what wraps an answer but is not part of it: math delimiters, ``\\displaystyle``,
    surrounding spaces, a trailing period/comma and a leading ``=``."""
    s = _strip_trailing_space(answer.strip())
    for _ in range(3):
        before = s
        for left, right in _MATH_DELIMS:
            if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
                s = s[len(left) : len(s) - len(right)].strip()
        s = s.replace("\\displaystyle", "").strip()
        s = s.strip(" *").rstrip(" ,;:")  # "**Answer:** 5", "**5**": markdown bold, not math
        s = _strip_quotes(s)  # 'The answer is "5".', \"$12$\" (quotes escaped in JSON)
        if s.endswith(".") and not s.endswith("..."):  # a full stop, not the ellipsis of 0.333...
            s = s[:-1].rstrip(" ,;:")
        if s.endswith(")"):  # searched on the tail only: a long run of spaces costs linear time
            s = s[:-80] + (_GLOSS.sub("", s[-80:]) or s[-80:]) if len(s) > 80 else _GLOSS.sub("", s) or s
        if s.startswith("="):
            s = s[1:].strip()
        if s.startswith("$") and s.count("$") == 1:
            s = s[1:].strip()
        elif s.endswith("$") and s.count("$") == 1 and not s.endswith("\\$"):
            s = s[:-1].strip()
        if s == before:
            break
    return s


def _after_marker(text: str) -> str | None:
    last = None
    for last in _MARKER.finditer(text):  # noqa: B007 - we want the last match
        pass
    if last is None:
        return None
    rest = text[last.end() :]
    if rest[:1] == "\n":  # "### Answer" on its own line: the answer is the next line
        rest = rest.lstrip()
    if _is_placeholder(rest):
        return None
    lead = _YES_NO_LEAD.match(rest)
    if lead:  # "The answer is no, because 3 + 4 < 8."
        return lead.group(1)
    span = leading_span(rest)
    if span is not None:  # "The answer is $x$, i.e. 3.5": the math, not the gloss
        return strip_answer(span)
    cut = _SENTENCE_END.search(rest)
    if cut:
        rest = rest[: cut.start()]
    rest = strip_answer(rest.rstrip().rstrip("!"))  # "The answer is 5!" is excitement, not 5 factorial
    if _prose_words(rest) >= 2 and multiple_choice(rest, loose=True):  # "option C, which is 24"
        return _OPTION_HEAD.match(rest).group(0).strip()
    if _prose_words(rest) >= 2:  # "Final Answer: The largest $n$ is 34"
        numbers = NUMBER.findall(rest)
        single = numbers[0] if len(numbers) == 1 else None  # "Final Answer: She left 3 hours ago."
        return final_span_answer(rest + ".") or single or _clause(rest) or rest
    return rest or None


def _marker_after_box(text: str) -> str | None:
    """The answer of a marker that follows the last box ("... \\boxed{255} ... = $10,455. The final
    answer is $10,455$."): the box held an intermediate value. Only a stated number counts, so that
    "\\boxed{5}. I hope the final answer is right." keeps the box."""
    last_box = max(text.rfind(cmd) for cmd in BOX_COMMANDS)
    markers = list(_MARKER.finditer(text))
    if not markers or markers[-1].start() < last_box:
        return None
    found = _after_marker(text)
    if found is None or not re.search(r"\d", found) or not looks_bare(found):
        return None  # "... the answer is 12 only if x > 3" qualifies the box, it does not replace it
    return found


def echoes_placeholder(text: str) -> bool:
    """Whether the last answer marker of ``text`` is followed only by the prompt's placeholder ``X``."""
    markers = list(_MARKER.finditer(text[-TAIL_CHARS:]))
    return bool(markers) and _is_placeholder(text[-TAIL_CHARS:][markers[-1].end() :])


def has_answer_marker(text: str) -> bool:
    """Whether ``text`` states its answer explicitly: a box, an answer marker or a GSM8k ``####``."""
    return extract_boxed(text) is not None or "####" in text or _MARKER.search(text[-TAIL_CHARS:]) is not None


def _after_hashes(text: str) -> str | None:
    at = text.rfind("####")
    if at < 0:
        return None
    rest = text[at + 4 :].split("\n", 1)[0]
    rest = strip_answer(rest)
    return rest or None


def looks_bare(text: str) -> bool:
    """True when ``text`` is itself an answer rather than prose: one short line that is a
    multiple-choice letter, a few plain words (``Monday``), or math our grammar parses."""
    if not text or len(text) > 300 or "\n" in text.strip() or re.search(r"(?<!\\)\$", text):
        return False  # a "$" left inside means math set in prose ("so $x = 1$ or $x = 4$")
    from wizardmath.verify.grammar import ParseError, parse
    from wizardmath.verify.normalize import multiple_choice, prepare

    prepared = prepare(text)
    if prepared.choice or multiple_choice(text, loose=True):
        return True
    if prepared.words:  # "Monday", "neither even nor odd"; but "The function is odd" is a sentence
        return len(prepared.words.split()) <= 4 and not _COPULA.search(prepared.words + " ")
    if prepared.text != text and re.fullmatch(r"-?\\?\w+|\(-\\infty, \\infty\)", prepared.text):
        return True  # a number word, "infinity", "all real numbers": normalised to math
    words = [w for w in _WORD.findall(_TEXT_CMD.sub(" ", text)) if w.lower() not in _MATH_WORDS]
    if len(words) >= 2:  # "She has 8 apples": prose, even though "She" could be S*h*e
        return False
    try:
        parse(prepared.text, 30)
    except (ParseError, ValueError, RecursionError):
        return False
    return True


def _prose_words(text: str) -> int:
    """How many words of two or more letters the end of ``text`` has outside LaTeX and math spans."""
    tail, prev, parts = text[-4000:], 0, []
    for start, end, _ in find_spans(tail):
        parts.append(tail[prev:start])
        prev = end
    parts.append(tail[prev:])
    words = _PROSE.findall(_TEXT_CMD.sub(" ", " ".join(parts)))
    return sum(w.lower() not in _MATH_WORDS for w in words)


def _labelled_result(text: str) -> str | None:
    """The result of a one-line formula a single word labels (``Area = \\pi r^2 = 12\\pi``), else None."""
    if "\n" in text.strip() or len(text) > 500 or not _LABEL.match(text):
        return None
    from wizardmath.verify.compare import result_side

    result = result_side(text)
    return result if result is not None and looks_bare(result) else None


def _clause(text: str) -> str | None:
    """What a short final sentence says something *is*: "The function is odd." -> ``odd``."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", text.strip()) if s.strip()]
    if not sentences:
        return None
    last = sentences[-1].strip().rstrip(".!")
    copulas = list(_COPULA.finditer(last)) or list(_EQUALS.finditer(last))  # "So the area = 25π cm²."
    if not copulas or _DENIAL.search(last):  # "I cannot solve this problem.", "... so it cannot be solved."
        return None
    value = strip_answer(last[copulas[-1].end() :])
    short = len(value.split()) <= 5 or (re.search(r"[=\\^]", value) and _prose_words(value) < 2)
    return value if value and short and len(value) <= 80 else None  # "x = -3 or x = 2" is short math


def last_number(text: str) -> str | None:
    """The last number in ``text`` (commas, decimals, ``a/b``, a leading minus), for the fallback,
    as a list with the numbers "," / "and" / "or" join to it ("either 5 or 7")."""
    return joined_numbers(text[-TAIL_CHARS:])


def extract_answer(text: str, options: VerifyOptions | None = None) -> str | None:
    """The final answer in a response (see the module docstring for the order), or None."""
    options = options or DEFAULT_OPTIONS
    if not isinstance(text, str) or not text.strip():
        return None
    text = unicode_math(text[-options.max_response_chars :].replace("\x00", ""))
    think_end = text.rfind(_THINK_END)
    if think_end >= 0:  # the reasoning block is skipped when an answer follows it
        found = _find(text[think_end + len(_THINK_END) :], options)
        if found is not None:
            return found
        text = text[:think_end]
    return _find(text.replace("<think>", " "), options)


def _find(text: str, options: VerifyOptions) -> str | None:
    if not text.strip():
        return None
    boxed = _boxed_list(text)
    if boxed is not None:
        return _marker_after_box(text) or boxed
    if echoes_placeholder(text):
        return None
    for finder in (_after_marker, _after_hashes):
        found = finder(text)
        if found is not None:
            return found
    bare = strip_answer(text)
    lead = _LEAD_CONNECTIVE.match(bare)
    candidate = bare[lead.end() :] if lead else bare
    if looks_bare(candidate):
        return candidate
    span = final_span_answer(text)
    if span is not None:
        return strip_answer(span)
    arrows = list(_IMPLIES.finditer(bare))
    if arrows and looks_bare(bare[arrows[-1].end() :].strip()):  # "... \Rightarrow x = 3"
        return bare[arrows[-1].end() :].strip()
    prose = _prose_words(text)
    labelled = _labelled_result(bare) if prose == 1 else None
    if labelled is not None:  # "Area = πr² = 12π": a formula under a one-word label
        return labelled
    if prose == 0 or _CODE.search(text):  # a formula we cannot read, or code: no sentence to search
        return None
    if prose < 2:  # "lambda: 1", "\int_0^1 x\,dx": not a sentence whose last number is meant
        numbers = list(NUMBER.finditer(text))  # but "That's 3/4." is (not "AZYUK2A")
        if prose != 1 or len(numbers) != 1 or len(text) >= 60:
            return None
        at = numbers[0]
        glued = text[at.start() - 1 : at.start()].isalpha() or text[at.end() : at.end() + 1].isalpha()
        return None if glued else at.group(0)
    if not options.number_fallback:
        return None
    clause = _clause(text)
    if clause is not None and re.search(r"[=^\\<>]", clause):
        prepared = prepare(clause)  # "12\\pi square units": the quantity without its unit
        core = prepared.text if prepared.unit and _prose_words(prepared.text) == 0 else clause
        if _prose_words(core) < 2 and looks_bare(core):
            return clause  # "The line is y = 2x + 1.": the math the last sentence states, not its last digit
    number = last_number(text)
    if number is None:  # prose without digits: "So she has five apples." states 5
        number = _number_word(text)
    return number if number is not None else clause


def _number_word(text: str) -> str | None:
    """The value of the one number word of the final sentence (``five``, ``twenty-one``), else None."""
    sentence = re.split(r"(?<=[.!?])\s+|\n", text.strip()[-400:])[-1].lower()
    words = _NUMBER_WORD.findall(sentence)
    found = [
        NUMBER_WORDS[w]
        for i, w in enumerate(words)
        if w in NUMBER_WORDS and not (w == "one" and i and words[i - 1] in _PRONOUN_ONE)
    ]
    return str(found[0]) if len(found) == 1 else None


# "this one", "the right one": the pronoun, not the number.
_PRONOUN_ONE = frozenset(
    "this that which the each any every no some another other right wrong last first same".split()
)
