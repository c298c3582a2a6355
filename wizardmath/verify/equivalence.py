"""Check a response against a gold answer: extract, compare in-process, then sympy in the sandbox.

The comparison runs twice at most. First in-process with ``symbolic=False``: exact rationals via
``numeric.exact_value`` and identical ASTs (``compare.compare_strings`` with ``fast_scalar``) decide
almost every GSM8k/MATH pair in microseconds, and any scalar that needs algebra answers ``None``
("undecided"). Only then is the whole pair sent to a sandboxed worker process
(``sandbox.run_symbolic``) that repeats the comparison with sympy under a hard wall-clock limit.
Every failure (parse error, huge power, timeout) is "not equal" plus a reason; nothing raises to
the caller.
"""

from __future__ import annotations

import re
from dataclasses import replace

from wizardmath.verify.boxed import extract_boxed
from wizardmath.verify.compare import FILLER_WORDS, compare_strings, fast_scalar
from wizardmath.verify.extract import extract_answer, has_answer_marker, strip_answer
from wizardmath.verify.normalize import prepare
from wizardmath.verify.options import DEFAULT_OPTIONS, Verdict, VerifyOptions
from wizardmath.verify.sandbox import run_symbolic

_NEGATION = re.compile(r"\b(?:not|neither|nor|never|no)\b|n't")
_PREDICATE = re.compile(
    r"\b(?:is|are|was|were|be|becomes|remains|falls?|lands?|occurs?|gives|yields)\s+|:\s+"
)
# What follows the stated answer to justify it: "a Saturday since 99 = 14*7 + 1", "Carla with 5 mph".
_JUSTIFICATION = re.compile(r"\s(?:since|because|as|given that|with|for)\s.*$")
_YES_NO_TAIL = re.compile(r"[,;:]\s*\**(yes|no)\**\s*$")
# The clause a sentence concludes with: "Emily read 45 pages and Jack 38, so Emily read more."
_LAST_CLAUSE = re.compile(r"(?i)[,;:]\s*(?:so|thus|therefore|hence|which means)\b[\s,]*|;\s*")
_YES_NO = frozenset(["yes", "no"])
_NO_SOLUTION_GOLDS = frozenset(
    ["no solution", "no solutions", "none", "no real solution", "no real solutions"]
)
_NO_SOLUTION = re.compile(
    r"\bno (?:real |integer |positive |such )?(?:solutions?|roots?|values?)\b|\b(?:set|it) is empty\b"
    r"|\bempty set\b|\bhas no\b.*\bsolutions?\b"
)
_FACTOR_REQUEST = re.compile(
    r"(?i)\b(?:factor(?:ise|ize)?\s+(?:completely|fully|the\s+(?:expression|polynomial|quadratic|following))"
    r"|(?:completely\s+|fully\s+)?factor(?:ise|ize)?\s*[:$\\]|in\s+(?:its\s+)?factored\s+form)"
)
_YES_NO_LEAD = re.compile(
    r"^(?:(?:so|thus|therefore|hence|then|finally)\b[\s,]*)?\**(yes|no)\b\**\s*(?:[,.:;!—–-]|$)"
)
_LEAD_CONNECTIVE = re.compile(r"(?i)^(?:(?:so|thus|therefore|hence|then|finally|overall|clearly)\b[\s,]*)+")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mbox|mathrm)\s*\{([^{}]*)\}")
_ALTERNATIVES = re.compile(r"\b(?:or|either|whether|and|but|versus|vs)\b|[,;/]")
_COMMAND = re.compile(r"\\[a-zA-Z]+")


def _names_something(answer: str) -> bool:
    """Whether extracted math is about a named object (``f``, ``f(-x) = f(x)``) rather than a value
    (``4``, ``\\sqrt{2}``) that a word in the prose must not overrule."""
    return re.search(r"[a-zA-Z]", _COMMAND.sub(" ", answer)) is not None


def _sentences(response: str) -> list[str]:
    tail = response[-600:].strip()
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+|\n", tail) if part.strip()]


def _yes_no_lead(sentences: list[str]) -> str | None:
    """The Yes/No that the final sentence opens with, else the last one that one of the two sentences
    before it opens with ("No. Since 3 + 4 < 8, no such triangle exists.")."""
    tail = _YES_NO_TAIL.search(sentences[-1].replace("*", "").lower().rstrip(".!"))
    if tail is not None:  # "Since 2^10 = 1024 > 1000, yes."
        return tail.group(1)
    for sentence in reversed(sentences[-3:]):
        lead = _YES_NO_LEAD.match(sentence.replace("*", "").lower())
        if lead is not None:
            return lead.group(1)
    return None


def word_in_final_sentence(gold: str, response: str, answer: str | None) -> bool:
    """A word answer (``\\text{even}``, ``\\text{Tuesday}``, ``No``) that the response's final sentence
    states, when extraction found no word: "Therefore $f$ is an even function.", "So the party falls
    on a Tuesday.", "No, it is not possible.", "Evelyn has the greatest average speed."

    The sentence must say the thing *is* the gold (the gold words, at most one more word and filler
    after its last "is" / "falls on" ..., with no negation or alternatives), open with the gold Yes/No
    (or follow a sentence that does), or, for a capitalised name, have it as its subject ("Sarah is
    faster.", "Therefore Kelly scored higher."). A different stated answer is never overruled: a word,
    a box, an answer marker, or a number where the final sentence states its answer; only a number of
    an earlier clause (an intermediate value the last-number fallback found) or math about a name
    (``f``) gives way."""
    words = prepare(gold).words
    sentences = _sentences(response)
    if not words or not sentences:
        return False
    sentence = _LAST_CLAUSE.split(sentences[-1].replace("*", "").rstrip(".!"))[-1].strip()
    lower = sentence.lower()
    copulas = list(_PREDICATE.finditer(lower))
    predicate = _JUSTIFICATION.sub("", lower[copulas[-1].end() :]) if copulas else lower
    if answer is not None:
        extracted = prepare(answer).words
        if extracted != words and (extracted or not _names_something(answer)):
            if extracted or has_answer_marker(response):
                return False
            if re.search(r"\d", predicate) and words not in _YES_NO:
                return False  # "..., so it is 3": the sentence states a number
    if words in _YES_NO:  # "No, it is not possible." / "So, no: 221 is not prime."
        return _yes_no_lead(sentences) == words
    if _NEGATION.search(re.sub(rf"\b{re.escape(words)}\b", " ", lower)):  # but "The function is neither."
        return False
    if not copulas:
        return _names_subject(gold, sentence, words)
    if _ALTERNATIVES.search(predicate):
        return False
    stated = re.search(rf"\b{re.escape(words)}\b", predicate)
    if stated is None:
        return len(copulas) == 1 and _names_subject(gold, sentence, words, predicate)
    rest = (predicate[: stated.start()] + " " + predicate[stated.end() :]).split()
    return len([word for word in rest if word not in FILLER_WORDS]) <= 1


def _names_subject(gold: str, sentence: str, words: str, predicate: str | None = None) -> bool:
    """A capitalised name answer as the subject of the final sentence: "Therefore Kelly scored
    higher.", or with a short predicate that names no one else, "Sarah is faster." (never for
    lower-case words: "Odd functions satisfy ..." names no answer)."""
    plain = strip_answer(_TEXT_WRAPPER.sub(r"\1", gold))
    subject = _LEAD_CONNECTIVE.sub("", sentence)
    if not plain[:1].isupper() or not subject[:1].isupper() or _ALTERNATIVES.search(subject.lower()):
        return False
    if predicate is None:
        return subject.lower().startswith(words + " ")
    said = sentence[len(sentence) - len(predicate) :]
    if re.search(r"\d|\b[A-Z]", said) or len(predicate.split()) > 3:
        return False
    head = subject.lower()[: len(subject) - len(predicate)]
    return _PREDICATE.sub(" ", head).split() == words.split()


def states_no_solution(gold: str, response: str) -> bool:
    """A gold that is the empty set or "no solution", and a final sentence that says there is none
    ("There is no real solution.", "The solution set is empty."), with no number in it and no marker
    stating another answer."""
    prepared = prepare(gold)
    if prepared.text != "\\{\\}" and prepared.words not in _NO_SOLUTION_GOLDS:
        return False
    sentences = _sentences(response)
    if not sentences or has_answer_marker(response):
        return False
    last = sentences[-1].lower().split(",")[-1]  # "Since x^2 = -4 has no real root, there is none"
    return _NO_SOLUTION.search(last) is not None and not re.search(r"\d", last)


def _gold_answer(gold: str, options: VerifyOptions) -> str:
    if "\\boxed" in gold or "\\fbox" in gold:
        return strip_answer(extract_boxed(gold) or gold)
    if "####" in gold:
        return extract_answer(gold, options) or gold
    return strip_answer(gold)


def fast_check(
    gold: str, response: str, options: VerifyOptions, extract: bool = True
) -> tuple[Verdict | None, str, str | None]:
    """The in-process part of ``check``: (verdict or None when sympy is needed, gold answer, answer)."""
    if not isinstance(gold, str) or not isinstance(response, str):
        return Verdict(False, None, "gold and response must be strings"), "", None
    try:
        answer = extract_answer(response, options) if extract else strip_answer(response)
    except (RecursionError, ValueError) as err:
        return Verdict(False, None, f"extraction failed: {err}"), "", None
    gold_answer = _gold_answer(gold, options)
    if answer is None:
        if extract and word_in_final_sentence(gold_answer, response, None):
            return Verdict(True, None, "word answer in the final sentence"), gold_answer, None
        if extract and states_no_solution(gold_answer, response):
            return Verdict(True, None, "no solution, as the gold"), gold_answer, None
        return Verdict(False, None, "no answer found"), "", None
    verdict, reason = compare_strings(
        gold_answer, answer, options, fast_scalar(options.max_power_bits, options.rel_tol)
    )
    if verdict is False and extract and word_in_final_sentence(gold_answer, response, answer):
        return Verdict(True, answer, "word answer in the final sentence"), gold_answer, answer
    if verdict is False and extract and states_no_solution(gold_answer, response):
        return Verdict(True, answer, "no solution, as the gold"), gold_answer, answer
    if verdict is None:
        if not options.symbolic:
            return Verdict(False, answer, "undecided without sympy (symbolic disabled)"), gold_answer, answer
        return None, gold_answer, answer
    return Verdict(verdict, answer, reason), gold_answer, answer


def asks_to_factor(problem: str) -> bool:
    """Whether a problem asks for a factored answer ("Factor $x^2-1$.", "... in factored form")."""
    return _FACTOR_REQUEST.search(problem[:4000]) is not None


def check(
    gold: str,
    response: str,
    options: VerifyOptions | None = None,
    extract: bool = True,
    problem: str | None = None,
) -> Verdict:
    """Extract the final answer from ``response`` and compare it with ``gold``, with a reason.
    ``problem`` (optional) is read for what the answer's form must be: "Factor ..." requires a
    factored answer when the gold is factored (``VerifyOptions.factored``)."""
    options = options or DEFAULT_OPTIONS
    if isinstance(problem, str) and not options.factored and asks_to_factor(problem):
        options = replace(options, factored=True)
    try:
        verdict, gold_answer, answer = fast_check(gold, response, options, extract)
    except Exception as err:  # a bug must not crash a trainer; the reason makes it visible
        return Verdict(False, None, f"internal error: {type(err).__name__}: {str(err)[:200]}")
    if verdict is not None:
        return verdict
    equal, reason = run_symbolic(gold_answer, answer or "", options)
    return Verdict(equal, answer, reason)


def is_equivalent(gold: str, answer: str, options: VerifyOptions | None = None) -> bool:
    """Whether an already-extracted ``answer`` equals ``gold`` (no extraction on ``answer``)."""
    return check(gold, answer, options, extract=False).equal


def verify(
    gold: str, response: str, options: VerifyOptions | None = None, problem: str | None = None
) -> bool:
    """Extract the final answer of ``response`` and compare it with ``gold`` (gold first)."""
    return check(gold, response, options, problem=problem).equal
